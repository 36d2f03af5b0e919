"""dlt source for pydantic's genai-prices registry: providers, models with their match rules, and every price."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import dlt
from dlt.sources import DltResource

from modelatlas.pipelines.genai_prices.normalize import model_row, price_rows, provider_row
from modelatlas.pipelines.genai_prices.registry import (
    DEFAULT_TIMEOUT_S,
    PUBLISHED_URL,
    RegistrySnapshot,
    load_snapshot,
)
from modelatlas.pipelines.loading import column_hints
from modelatlas.pipelines.prices.genai import genai_price_points
from modelatlas.pipelines.prices.model import MappingStats, PricePoint
from modelatlas.pipelines.prices.resource import price_points_resource

__all__ = ["DATASET_NAME", "RegistrySnapshot", "genai_prices_source", "load_snapshot"]

log = logging.getLogger(__name__)

DATASET_NAME = "raw_genai_prices"


def _columns(**types: str) -> dict[str, Any]:
    """Column hints; prices here are per million tokens, for which 12 decimals are exact."""
    return column_hints(types, decimal_scale=12)


_BATCH_COLUMNS = {"batch_id": "text", "source_origin": "text", "source_version": "text", "fetched_at": "timestamp"}


def _load_columns(snapshot: RegistrySnapshot) -> dict[str, Any]:
    return {
        "batch_id": snapshot.fetched_at.strftime("%Y%m%dT%H%M%S.%fZ"),
        "source_origin": snapshot.origin,
        "source_version": snapshot.version,
        "fetched_at": snapshot.fetched_at,
    }


def _parse_json(value: str | None) -> Any:
    return None if value is None else json.loads(value)


@dlt.source(name="genai_prices", max_table_nesting=0)
def genai_prices_source(
    snapshot: RegistrySnapshot | None = None,
    url: str | None = PUBLISHED_URL,
    timeout: float = DEFAULT_TIMEOUT_S,
    observed_at: datetime | None = None,
    price_stats: MappingStats | None = None,
) -> list[DltResource]:
    """The registry as five tables; reads `snapshot`, or fetches one (published JSON, else the package).

    `price_points` is the normalised scd2 history; `observed_at` (default: the load's time) bounds its intervals.
    """
    registry = snapshot if snapshot is not None else load_snapshot(url, timeout)
    batch = _load_columns(registry)
    provider_json_columns = ("pricing_urls", "model_match", "provider_match", "fallback_model_providers")

    @dlt.resource(
        name="providers",
        primary_key="provider_id",
        write_disposition="merge",
        columns=_columns(**dict.fromkeys(provider_json_columns, "json"), **_BATCH_COLUMNS),
    )
    def providers() -> Iterator[dict[str, Any]]:
        for provider in registry.providers:
            row = provider_row(provider)
            for name in provider_json_columns:
                row[name] = _parse_json(row[name])
            yield {**row, **batch}

    @dlt.resource(
        name="models",
        primary_key=("provider_id", "model_id"),
        write_disposition="merge",
        columns=_columns(match_rule="json", context_window="bigint", **_BATCH_COLUMNS),
    )
    def models() -> Iterator[dict[str, Any]]:
        for provider in registry.providers:
            for model in provider["models"]:
                row = model_row(str(provider["id"]), model)
                row["match_rule"] = _parse_json(row["match_rule"])
                yield {**row, **batch}

    @dlt.resource(
        name="prices",
        primary_key=("provider_id", "model_id", "component", "condition"),
        write_disposition="merge",
        columns=_columns(
            price_usd="decimal",
            price_usd_per_mtok="decimal",
            effective_from="date",
            effective_until="date",
            window_start_utc="text",
            window_end_utc="text",
            variant="text",
            above_input_tokens="bigint",
            **_BATCH_COLUMNS,
        ),
    )
    def prices() -> Iterator[dict[str, Any]]:
        from genai_prices.data_units import unit_data

        for provider in registry.providers:
            for model in provider["models"]:
                for row in price_rows(str(provider["id"]), model, unit_data):
                    yield {**row, **batch}

    @dlt.resource(
        name="loads",
        primary_key="batch_id",
        write_disposition="merge",
        columns=_columns(source_url="text", fallback_reason="text", **_BATCH_COLUMNS),
    )
    def loads() -> Iterator[dict[str, Any]]:
        yield {
            **batch,
            "source_url": registry.url,
            "fallback_reason": registry.fallback_reason,
            "provider_count": len(registry.providers),
            "model_count": sum(len(p["models"]) for p in registry.providers),
        }

    stats = price_stats if price_stats is not None else MappingStats()

    def points() -> Iterator[PricePoint]:
        from genai_prices.data_units import unit_data

        rows = (
            row
            for provider in registry.providers
            for model in provider["models"]
            for row in price_rows(str(provider["id"]), model, unit_data)
        )
        yield from genai_price_points(rows, stats)
        stats.log_summary("genai-prices")

    return [providers, models, prices, loads, price_points_resource(points, observed_at)]
