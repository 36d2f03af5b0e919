"""The `price_points` table every price source writes, as a dlt resource with scd2 history.

Why dlt's scd2 merge rather than dbt snapshots: the load that observed a price list records its history, so every
load is kept even when a dbt build is skipped or fails, an unchanged load writes nothing, and a batch blocked before
the merge closes no interval.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Any

import dlt
from dlt.common.schema.typing import TScd2StrategyDict
from dlt.sources import DltResource

from modelatlas.pipelines.loading import column_hints
from modelatlas.pipelines.prices.model import PRICE_SCALE, PricePoint

TABLE_NAME = "price_points"
COLUMN_TYPES = {
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


def write_disposition(observed_at: datetime | None = None) -> TScd2StrategyDict:
    """dlt's scd2 merge versioned by `price_hash`; `observed_at` sets the validity boundary (a simulated clock)."""
    disposition: TScd2StrategyDict = {
        "disposition": "merge",
        "strategy": "scd2",
        "row_version_column_name": "price_hash",
    }
    if observed_at is not None:
        disposition["boundary_timestamp"] = observed_at
    return disposition


def price_points_resource(
    rows: Iterable[PricePoint] | Callable[[], Iterable[PricePoint]], observed_at: datetime | None = None
) -> DltResource:
    """`price_points`: the source's complete current price list; points absent from it get their interval closed."""

    @dlt.resource(
        name=TABLE_NAME,
        write_disposition=write_disposition(observed_at),
        columns=column_hints(COLUMN_TYPES, decimal_scale=PRICE_SCALE),
    )
    def price_points() -> Iterator[dict[str, Any]]:
        for point in rows() if callable(rows) else rows:
            yield point.row()

    return price_points
