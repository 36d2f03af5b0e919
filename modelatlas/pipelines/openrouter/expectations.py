"""The quality suite of `raw_openrouter.models`: limits, modalities and unit prices."""

from __future__ import annotations

from modelatlas.pipelines.openrouter import PRICE_COLUMNS
from modelatlas.pipelines.quality import catalog_suite
from modelatlas.pipelines.quality.suite import (
    CONTEXT_WINDOW_RANGE,
    KNOWN_MODALITIES,
    MAX_USD_PER_TOKEN,
    MAX_USD_PER_UNIT,
    OUTPUT_LIMIT_RANGE,
)

# Per-token columns are USD per token; the others (request, image, web search) are USD per unit.
PRICE_CEILINGS = {
    column: MAX_USD_PER_TOKEN if column.endswith("_per_token") else MAX_USD_PER_UNIT for column in PRICE_COLUMNS
}

SUITES = (
    catalog_suite(
        "openrouter",
        not_in_future=("created_at",),
        prices=PRICE_CEILINGS,
        cache_not_above_input=(("price_input_cache_read_usd_per_token", "price_prompt_usd_per_token"),),
        ranges={
            "context_length": CONTEXT_WINDOW_RANGE,
            "top_provider_context_length": CONTEXT_WINDOW_RANGE,
            "max_completion_tokens": OUTPUT_LIMIT_RANGE,
        },
        known_values={"input_modalities": KNOWN_MODALITIES, "output_modalities": KNOWN_MODALITIES},
        jump_columns=tuple(PRICE_COLUMNS),
        staging_columns=(
            "id",
            "hugging_face_id",
            "name",
            "description",
            "created_at",
            "context_length",
            "input_modalities",
            "output_modalities",
            "max_completion_tokens",
            "supported_parameters",
            "expiration_date",
            "region",
            "batch_id",
            "_fetched_at",
        ),
    ),
)
