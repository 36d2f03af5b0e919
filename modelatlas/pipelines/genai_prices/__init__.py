"""pydantic's genai-prices registry: providers, models with their match rules, every price, and normalised prices.

The published JSON is read first (`MODELATLAS_GENAI_PRICES_URL`, a short timeout); when it cannot be reached or is
malformed, the data shipped in the installed `genai-prices` package loads instead, and `loads` says why.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from modelatlas.pipelines.catalog import batch_id
from modelatlas.pipelines.genai_prices.expectations import SUITES
from modelatlas.pipelines.genai_prices.normalize import model_row, price_rows, provider_row
from modelatlas.pipelines.genai_prices.registry import (
    DEFAULT_TIMEOUT_S,
    PUBLISHED_URL,
    RegistrySnapshot,
    load_snapshot,
)
from modelatlas.pipelines.prices.genai import genai_price_points
from modelatlas.pipelines.prices.model import MappingStats
from modelatlas.pipelines.prices.table import price_points_table
from modelatlas.pipelines.spec import FETCH_COLUMNS, Batch, DataType, Request, Setting, Simulated, SourceSpec, TableSpec
from modelatlas.settings import parse_seconds

__all__ = ["SPEC", "RegistrySnapshot", "load_snapshot", "registry_tables"]

BATCH_COLUMNS: dict[str, DataType] = {
    "batch_id": "text",
    "source_origin": "text",
    "source_version": "text",
    "fetched_at": "timestamp",
}
PROVIDER_JSON_COLUMNS = ("pricing_urls", "model_match", "provider_match", "fallback_model_providers")
PROVIDER_COLUMNS: dict[str, DataType] = {
    "provider_id": "text",
    "name": "text",
    "api_pattern": "text",
    "description": "text",
    **dict.fromkeys(PROVIDER_JSON_COLUMNS, "json"),
    "price_comments": "text",
    "model_count": "bigint",
    **BATCH_COLUMNS,
}
MODEL_COLUMNS: dict[str, DataType] = {
    "provider_id": "text",
    "model_id": "text",
    "name": "text",
    "description": "text",
    "context_window": "bigint",
    "deprecated": "bool",
    "price_comments": "text",
    "match_rule": "json",
    "has_dated_prices": "bool",
    "variant_count": "bigint",
    **BATCH_COLUMNS,
}
PRICE_COLUMNS: dict[str, DataType] = {
    "provider_id": "text",
    "model_id": "text",
    "component": "text",
    "condition": "text",
    "price_key": "text",
    "unit": "text",
    "unit_family": "text",
    "units_per_price": "bigint",
    "price_usd": "decimal",
    "price_usd_per_mtok": "decimal",
    "effective_from": "date",
    "effective_until": "date",
    "window_start_utc": "text",
    "window_end_utc": "text",
    "variant": "text",
    "above_input_tokens": "bigint",
    **BATCH_COLUMNS,
}
LOAD_COLUMNS: dict[str, DataType] = {
    **BATCH_COLUMNS,
    "source_url": "text",
    "fallback_reason": "text",
    "provider_count": "bigint",
    "model_count": "bigint",
}


def _content(columns: dict[str, DataType]) -> tuple[str, ...]:
    """The columns that hold what the registry says, not when or from where it was read."""
    return tuple(name for name in columns if name not in FETCH_COLUMNS and name not in BATCH_COLUMNS)


def parse_url(raw: str, _variable: str) -> str | None:
    """The published registry's address; empty: load only the packaged data."""
    return raw.strip() or None


def parse_timeout(raw: str, variable: str) -> float:
    """Seconds to wait for the published registry."""
    return parse_seconds(raw, DEFAULT_TIMEOUT_S, variable)


def registry_tables(snapshot: RegistrySnapshot, stats: MappingStats | None = None) -> dict[str, list[dict[str, Any]]]:
    """The registry's five tables, each row with the read's batch columns."""
    from genai_prices.data_units import unit_data

    batch = {
        "batch_id": batch_id(snapshot.fetched_at),
        "source_origin": snapshot.origin,
        "source_version": snapshot.version,
        "fetched_at": snapshot.fetched_at,
    }
    providers = []
    for provider in snapshot.providers:
        row = provider_row(provider)
        for name in PROVIDER_JSON_COLUMNS:
            row[name] = None if row[name] is None else json.loads(row[name])
        providers.append({**row, **batch})
    models: list[dict[str, Any]] = []
    prices: list[dict[str, Any]] = []
    for provider in snapshot.providers:
        for model in provider["models"]:
            row = model_row(str(provider["id"]), model)
            row["match_rule"] = None if row["match_rule"] is None else json.loads(row["match_rule"])
            models.append({**row, **batch})
            prices.extend({**price, **batch} for price in price_rows(str(provider["id"]), model, unit_data))
    mapping = stats if stats is not None else MappingStats()
    points = [point.row() for point in genai_price_points(prices, mapping)]
    mapping.log_summary("genai-prices")
    loads = [
        {
            **batch,
            "source_url": snapshot.url,
            "fallback_reason": snapshot.fallback_reason,
            "provider_count": len(snapshot.providers),
            "model_count": len(models),
        }
    ]
    return {"providers": providers, "models": models, "prices": prices, "loads": loads, "price_points": points}


def registry_batch(request: Request) -> Batch:
    """One read of the registry: the published JSON when it answers in time, otherwise the packaged data."""
    snapshot = load_snapshot(request.options.get("url"), request.options.get("timeout", DEFAULT_TIMEOUT_S))
    snapshot = dataclasses.replace(snapshot, fetched_at=request.fetched_at)
    notes: tuple[str, ...] = ()
    if snapshot.fallback_reason:
        notes = (f"published JSON not used: {snapshot.fallback_reason.removeprefix('genai-prices: ')}",)
    return Batch(
        tables=dict(registry_tables(snapshot)),
        origin=f"{snapshot.origin} data, {snapshot.version}",
        notes=notes,
        metadata={"source_origin": snapshot.origin, "source_version": snapshot.version},
    )


def _table(name: str, description: str, columns: dict[str, DataType], key: tuple[str, ...]) -> TableSpec:
    # Prices per million tokens: 12 decimals are exact.
    return TableSpec(
        name=name,
        description=description,
        columns=columns,
        version_columns=_content(columns),
        primary_key=key,
        decimal_scale=12,
        suite=SUITES[name],
    )


SPEC = SourceSpec(
    name="genai_prices",
    display_name="genai-prices",
    kind="price registry",
    description="pydantic's genai-prices registry: the published JSON when reachable, else the package's data.",
    tables=(
        _table(
            "providers",
            "Providers in pydantic's genai-prices registry, with their match rules and pricing pages.",
            PROVIDER_COLUMNS,
            ("provider_id",),
        ),
        _table(
            "models",
            "Models of each registry provider: names, context windows, match rules kept as data.",
            MODEL_COLUMNS,
            ("provider_id", "model_id"),
        ),
        TableSpec(
            name="prices",
            description="Every price component of every model: unit, tiers, dated or time-of-day conditions.",
            columns=PRICE_COLUMNS,
            version_columns=_content(PRICE_COLUMNS),
            primary_key=("provider_id", "model_id", "component", "condition"),
            decimal_scale=12,
            suite=SUITES["prices"],
            preview=("provider_id", "model_id", "component", "condition", "price_usd", "unit"),
        ),
        TableSpec(
            name="loads",
            description="One row per registry read: published JSON or packaged data, its version and what it held.",
            columns=LOAD_COLUMNS,
            version_columns=("source_origin", "source_version"),
            primary_key=("batch_id",),
            suite=SUITES["loads"],
        ),
        price_points_table(
            "genai_prices",
            "Every registry price normalised (component, service tier, condition, USD per unit), scd2 history.",
        ),
    ),
    extract=registry_batch,
    settings=(
        Setting(
            "URL",
            PUBLISHED_URL,
            "the published registry JSON; empty: load only the installed package's data",
            option="url",
            parse=parse_url,
        ),
        Setting(
            "TIMEOUT",
            str(int(DEFAULT_TIMEOUT_S)),
            "seconds to wait for the published registry JSON",
            option="timeout",
            parse=parse_timeout,
        ),
    ),
    simulator=Simulated("modelatlas.simulator.genai_prices:RegistryHandler", path="/data.json", setting="URL"),
    endpoint_doc="the published `data.json`, else the installed package's data",
)
