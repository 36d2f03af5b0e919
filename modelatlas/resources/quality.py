"""The data quality gate as a Dagster resource: thresholds from `MODELATLAS_QUALITY_*` when a run starts."""

from __future__ import annotations

import os

import dagster as dg

from modelatlas.pipelines.quality.validation import GX_ENVIRONMENT
from modelatlas.settings import GateSettings, gate_settings


class QualityGateResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """Validates every extracted batch before it is merged into raw; unset fields come from the environment."""

    max_shrink: float | None = None
    max_price_jump_share: float | None = None

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        """Great Expectations sends no usage statistics (it reads this when first imported)."""
        os.environ.update(GX_ENVIRONMENT)

    def settings(self) -> GateSettings:
        """The environment's thresholds with this resource's explicit fields on top."""
        base = gate_settings()
        return GateSettings(
            max_shrink=base.max_shrink if self.max_shrink is None else self.max_shrink,
            max_price_jump_share=(
                base.max_price_jump_share if self.max_price_jump_share is None else self.max_price_jump_share
            ),
            jump_factor=base.jump_factor,
            sample_rows=base.sample_rows,
        )
