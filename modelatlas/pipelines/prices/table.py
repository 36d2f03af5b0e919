"""The `price_points` table every price source writes: normalised prices with scd2 history.

Why dlt's scd2 merge rather than dbt snapshots: the load that observed a price list records its history, so every
load is kept even when a dbt build is skipped or fails, an unchanged load writes nothing, and a batch blocked before
the merge closes no interval.
"""

from __future__ import annotations

from modelatlas.pipelines.prices.expectations import price_points_suite
from modelatlas.pipelines.prices.model import NATURAL_KEY, PRICE_SCALE
from modelatlas.pipelines.spec import DataType, TableSpec

TABLE_NAME = "price_points"
COLUMN_TYPES: dict[str, DataType] = {
    "source": "text",
    "source_provider": "text",
    "source_model_key": "text",
    "provider_model_id": "text",
    "component": "text",
    "service_tier": "text",
    "condition": "text",
    "above_input_tokens": "bigint",
    "window_start_utc": "text",
    "window_end_utc": "text",
    "region": "text",
    "unit": "text",
    "price_usd": "decimal",
    "original_value": "text",
    "original_unit": "text",
    "effective_from": "date",
    "effective_until": "date",
    "price_hash": "text",
}


def price_points_table(source: str, description: str) -> TableSpec:
    """`raw_<source>.price_points`: each load brings the source's complete price list; a point absent from it has
    its interval closed."""
    return TableSpec(
        name=TABLE_NAME,
        description=description,
        columns=COLUMN_TYPES,
        version_columns=("price_hash",),
        disposition="scd2",
        row_version="price_hash",
        decimal_scale=PRICE_SCALE,
        tracked_by=(NATURAL_KEY, "price_hash"),
        suite=price_points_suite(source),
        preview=("source_provider", "provider_model_id", "component", "condition", "price_usd", "unit"),
    )
