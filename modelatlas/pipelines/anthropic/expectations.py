"""The quality suite of `raw_anthropic.models`."""

from __future__ import annotations

from modelatlas.pipelines.quality import catalog_suite
from modelatlas.pipelines.quality.suite import CONTEXT_WINDOW_RANGE, OUTPUT_LIMIT_RANGE

SUITES = (
    catalog_suite(
        "anthropic",
        not_in_future=("created_at",),
        ranges={"max_input_tokens": CONTEXT_WINDOW_RANGE, "max_tokens": OUTPUT_LIMIT_RANGE},
        staging_columns=(
            "id",
            "display_name",
            "created_at",
            "max_input_tokens",
            "max_tokens",
            "supports_batch",
            "supports_image_input",
            "supports_pdf_input",
            "supports_structured_outputs",
            "supports_thinking",
            "payload",
            "region",
            "batch_id",
            "_fetched_at",
        ),
    ),
)
