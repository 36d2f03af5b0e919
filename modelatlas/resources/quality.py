"""The data quality gate as a Dagster resource: thresholds from `MODELATLAS_QUALITY_*` when a run starts."""

from __future__ import annotations

import os
from collections.abc import Mapping

import dagster as dg
import dlt
from dlt.sources import DltSource

from modelatlas.pipelines.quality.gate import GateResult, gated_load
from modelatlas.pipelines.quality.suite import Suite
from modelatlas.pipelines.quality.validation import GateSettings, gate_settings
from modelatlas.warehouse import ConnectionInfo


class QualityGateResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """Validates every extracted batch before it is merged into raw; unset fields come from the environment."""

    max_shrink: float | None = None
    max_price_jump_share: float | None = None

    def settings(self) -> GateSettings:
        """The environment's thresholds with this resource's explicit fields on top."""
        base = gate_settings(os.environ)
        return GateSettings(
            max_shrink=base.max_shrink if self.max_shrink is None else self.max_shrink,
            max_price_jump_share=(
                base.max_price_jump_share if self.max_price_jump_share is None else self.max_price_jump_share
            ),
            jump_factor=base.jump_factor,
            sample_rows=base.sample_rows,
        )

    def load(
        self,
        pipeline: dlt.Pipeline,
        source: DltSource,
        suites: Mapping[str, Suite],
        info: ConnectionInfo,
        run_id: str | None = None,
    ) -> GateResult:
        """Extract `source` once, validate it, record the results in `dq`, and load the rows that passed."""
        return gated_load(pipeline, source, suites, info=info, settings=self.settings(), run_id=run_id)
