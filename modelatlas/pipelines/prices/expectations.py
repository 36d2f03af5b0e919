"""The quality suite of every source's `price_points` table: identities, vocabulary, prices and cache rules."""

from __future__ import annotations

import pandas as pd

from modelatlas.pipelines.prices.model import COMPONENTS, NATURAL_KEY, SERVICE_TIERS, UNITS
from modelatlas.pipelines.quality.suite import CONTEXT_WINDOW_RANGE, MAX_USD_PER_MTOK, RowCheck, Suite

# The price points of one price list: a cache read is compared with the input price of the same list.
_PRICE_LIST = ("source_provider", "source_model_key", "service_tier", "condition", "region", "effective_from")


def cache_read_not_above_input(frame: pd.DataFrame) -> pd.Series:
    """False for a `cache_read` price above the `input` price of the same price list."""
    group = list(_PRICE_LIST)
    keys = frame[group].astype(object).fillna("").map(str)
    inputs = keys[frame["component"] == "input"].assign(input_price=frame["price_usd"]).drop_duplicates(group)
    merged = keys.merge(inputs, on=group, how="left")
    prices = pd.to_numeric(frame["price_usd"], errors="coerce").to_numpy()
    input_prices = pd.to_numeric(merged["input_price"], errors="coerce").to_numpy()
    above = (frame["component"].to_numpy() == "cache_read") & (prices > input_prices)
    return pd.Series(~above, index=frame.index)


def price_points_suite(source: str) -> Suite:
    """The suite of `raw_<source>.price_points` (dlt source name), whose current rows are its open scd2 versions."""
    return Suite(
        source=source,
        entity="price_points",
        key=NATURAL_KEY,
        not_null=(*(c for c in NATURAL_KEY if c != "effective_from"), "provider_model_id", "unit", "price_usd"),
        prices={"price_usd": MAX_USD_PER_MTOK},
        ranges={"above_input_tokens": CONTEXT_WINDOW_RANGE},
        known_values={
            "component": frozenset(COMPONENTS),
            "service_tier": frozenset(SERVICE_TIERS),
            "unit": frozenset(UNITS),
        },
        row_checks=(
            RowCheck(
                name="cache_read_not_above_input",
                description="a cache_read price is not above the input price of the same price list",
                columns=(*_PRICE_LIST, "component", "price_usd"),
                passes=cache_read_not_above_input,
            ),
        ),
        guard_shrink=True,
        jump_columns=("price_usd",),
    )
