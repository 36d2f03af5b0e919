"""The quality suite of `raw_gemini.models`."""

from __future__ import annotations

from modelatlas.pipelines.quality import catalog_suite
from modelatlas.pipelines.quality.suite import CONTEXT_WINDOW_RANGE, OUTPUT_LIMIT_RANGE

SUITES = (
    catalog_suite(
        "gemini",
        ranges={"input_token_limit": CONTEXT_WINDOW_RANGE, "output_token_limit": OUTPUT_LIMIT_RANGE},
        staging_columns=(
            "id",
            "display_name",
            "description",
            "input_token_limit",
            "output_token_limit",
            "supported_generation_methods",
            "thinking",
            "region",
            "batch_id",
            "_fetched_at",
        ),
    ),
)
