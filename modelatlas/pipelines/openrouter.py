"""OpenRouter's multi-provider catalog: every page of `GET /api/v1/models` (offset), its prices as exact decimals
and as normalised price points."""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from modelatlas.pipelines.catalog import catalog_rows, fetch_catalog_items, models_table
from modelatlas.pipelines.coerce import as_bool, as_date, as_integer, as_mapping, as_strings, as_text, as_timestamp
from modelatlas.pipelines.paginate import Offset, PageSize
from modelatlas.pipelines.prices.model import MappingStats, unique_points
from modelatlas.pipelines.prices.openrouter import openrouter_price_points
from modelatlas.pipelines.prices.table import price_points_table
from modelatlas.pipelines.quality.suite import (
    CONTEXT_WINDOW_RANGE,
    KNOWN_MODALITIES,
    MAX_USD_PER_TOKEN,
    MAX_USD_PER_UNIT,
    OUTPUT_LIMIT_RANGE,
    catalog_suite,
)
from modelatlas.pipelines.spec import Batch, Catalog, Credential, DataType, Endpoint, Request, Simulated, SourceSpec

# The largest price numeric(38, 18) holds; a larger string stays in `pricing` only, instead of failing the load.
_PRICE_LIMIT = Decimal(10) ** 20
# A plain non-negative decimal, exponent allowed: what OpenRouter sends and its price points accept.
_PRICE_TEXT = re.compile(r"\s*(\d+(\.\d*)?|\.\d+)([eE][-+]?\d{1,3})?\s*", re.ASCII)

# Typed price column -> key of OpenRouter's `pricing` object (USD per token, or per unit for the `_usd` ones).
PRICE_COLUMNS: dict[str, str] = {
    "price_prompt_usd_per_token": "prompt",
    "price_completion_usd_per_token": "completion",
    "price_request_usd": "request",
    "price_image_usd": "image",
    "price_input_cache_read_usd_per_token": "input_cache_read",
    "price_input_cache_write_usd_per_token": "input_cache_write",
    "price_internal_reasoning_usd_per_token": "internal_reasoning",
    "price_web_search_usd": "web_search",
}

COLUMN_TYPES: dict[str, DataType] = {
    "canonical_slug": "text",
    "hugging_face_id": "text",
    "name": "text",
    "description": "text",
    "created_at": "timestamp",
    "context_length": "bigint",
    "input_modalities": "json",
    "output_modalities": "json",
    "tokenizer": "text",
    "top_provider_context_length": "bigint",
    "max_completion_tokens": "bigint",
    "is_moderated": "bool",
    "supported_parameters": "json",
    "expiration_date": "date",
    "knowledge_cutoff": "text",
    "pricing": "json",
    **dict.fromkeys(PRICE_COLUMNS, "decimal"),
}
# Per-token columns are USD per token; the others (request, image, web search) are USD per unit.
PRICE_CEILINGS = {
    column: MAX_USD_PER_TOKEN if column.endswith("_per_token") else MAX_USD_PER_UNIT for column in PRICE_COLUMNS
}


def parse_price(value: object) -> Decimal | None:
    """An OpenRouter price as an exact decimal; None when absent, not a number, or negative ("-1" means "varies")."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    text = value if isinstance(value, str) else str(value)
    if _PRICE_TEXT.fullmatch(text) is None:
        return None
    price = Decimal(text.strip())
    return price if price < _PRICE_LIMIT else None


def model_columns(item: Mapping[str, Any]) -> dict[str, Any]:
    """The typed columns ModelAtlas reads from one OpenRouter model object."""
    architecture = as_mapping(item.get("architecture")) or {}
    top_provider = as_mapping(item.get("top_provider")) or {}
    pricing = as_mapping(item.get("pricing"))
    prices = pricing or {}
    return {
        "canonical_slug": as_text(item.get("canonical_slug")),
        "hugging_face_id": as_text(item.get("hugging_face_id")),
        "name": as_text(item.get("name")),
        "description": as_text(item.get("description")),
        "created_at": as_timestamp(item.get("created")),
        "context_length": as_integer(item.get("context_length")),
        "input_modalities": as_strings(architecture.get("input_modalities")),
        "output_modalities": as_strings(architecture.get("output_modalities")),
        "tokenizer": as_text(architecture.get("tokenizer")),
        "top_provider_context_length": as_integer(top_provider.get("context_length")),
        "max_completion_tokens": as_integer(top_provider.get("max_completion_tokens")),
        "is_moderated": as_bool(top_provider.get("is_moderated")),
        "supported_parameters": as_strings(item.get("supported_parameters")),
        "expiration_date": as_date(item.get("expiration_date")),
        "knowledge_cutoff": as_text(item.get("knowledge_cutoff")),
        # The strings exactly as given: "-1" and any new price key survive here even when no typed column holds them.
        "pricing": pricing,
        **{column: parse_price(prices.get(key)) for column, key in PRICE_COLUMNS.items()},
    }


CATALOG = Catalog(
    # Without `output_modalities`, OpenRouter lists text-output models only (no embedding or image-only models).
    endpoint=Endpoint(
        "models", Offset(PageSize("limit", default=500, maximum=1000)), params={"output_modalities": "all"}
    ),
    identify=lambda item: as_text(item.get("id")),
    columns=model_columns,
    column_types=COLUMN_TYPES,
)


def openrouter_batch(request: Request) -> Batch:
    """The catalog as `models` and its prices as `price_points`, both from one fetch of every page."""
    items = fetch_catalog_items(request, CATALOG)
    mapping = MappingStats()
    points = list(
        unique_points(
            (point for item in items if isinstance(item, Mapping) for point in openrouter_price_points(item, mapping)),
            mapping,
        )
    )
    mapping.log_summary("OpenRouter")
    return Batch(
        tables={
            "models": catalog_rows(items, CATALOG, fetched_at=request.fetched_at, region=request.region),
            "price_points": [point.row() for point in points],
        },
        origin=f"{request.base_url} [{request.region}]",
        metadata={"unknown_price_keys": mapping.unknown_count},
    )


SPEC = SourceSpec(
    name="openrouter",
    display_name="OpenRouter",
    kind="catalog",
    description="OpenRouter's multi-provider catalog (GET /models, every page): unit prices, limits, modalities.",
    tables=(
        models_table(
            CATALOG,
            "One row per model OpenRouter has listed; merged on `id`, never deleted.",
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
            ),
        ),
        price_points_table(
            "openrouter", "Every OpenRouter price normalised (component, unit, USD per unit), with scd2 history."
        ),
    ),
    credential=Credential("OPENROUTER_API_KEY", required=False),
    base_url="https://openrouter.ai/api/v1",
    catalog=CATALOG,
    extract=openrouter_batch,
    simulator=Simulated("modelatlas.simulator.openrouter:OpenRouterHandler", path="/api/v1"),
    endpoint_doc="`GET /models`, pages by `offset` / `limit`",
)
