"""LiteLLM's price file as three raw assets: models, normalised price points (scd2) and loads."""

import os
import time
from collections.abc import Iterator
from typing import Any

import dagster as dg

from modelatlas.assets.outcomes import OUTCOME_METADATA_KEY, source_failure, with_quarantine
from modelatlas.assets.quality import gate_check_specs, gate_outcome
from modelatlas.errors import SourceError
from modelatlas.pipelines.litellm import (
    DATASET_NAME,
    DEFAULT_TIMEOUT_S,
    DEFAULT_URL,
    URL_ENV,
    LiteLLMStats,
    fetch_document,
    litellm_source,
    litellm_tables_source,
)
from modelatlas.pipelines.loading import ensure_tables
from modelatlas.pipelines.prices.model import NATURAL_KEY, price_changes
from modelatlas.pipelines.quality.registry import suites_for
from modelatlas.resources import QualityGateResource, WarehouseResource
from modelatlas.settings import parse_seconds

GROUP = "litellm"
TIMEOUT_ENV = "MODELATLAS_LITELLM_TIMEOUT"
DEFAULT_CRON = "*/10 * * * *"
TABLE_DESCRIPTIONS = {
    "models": "Every model in LiteLLM's price file: provider, mode, token limits, supports_* flags, deprecation.",
    "price_points": "Every LiteLLM price normalised (component, service tier, tier, USD per unit), with scd2 history.",
    "loads": "One row per read of LiteLLM's price file: when, from where, its content hash and what it held.",
}
ASSET_KEYS = {table: dg.AssetKey([DATASET_NAME, table]) for table in TABLE_DESCRIPTIONS}
SUITES = suites_for("litellm")


def litellm_url() -> str | None:
    """The price file's address: `MODELATLAS_LITELLM_URL`, the BerriAI/litellm file when unset, None when empty."""
    raw = os.environ.get(URL_ENV)
    if raw is None:
        return DEFAULT_URL
    return raw.strip() or None


def current_price_hashes(warehouse: WarehouseResource) -> dict[tuple[Any, ...], str]:
    """{natural key: price_hash} of the price points open in the warehouse (empty before the first load)."""
    table = f"{DATASET_NAME}.price_points"
    rows = warehouse.query_if_exists(
        table, f"select {', '.join(NATURAL_KEY)}, price_hash from {table} where _dlt_valid_to is null"
    )
    return {tuple(row[:-1]): str(row[-1]) for row in rows}


@dg.multi_asset(
    name="litellm_prices",
    specs=[
        dg.AssetSpec(
            key=key,
            group_name=GROUP,
            kinds={"dlt", "postgres"},
            description=TABLE_DESCRIPTIONS[table],
            metadata={"dagster/table_name": f"{DATASET_NAME}.{table}"},
            skippable=True,
        )
        for table, key in ASSET_KEYS.items()
    ],
    check_specs=gate_check_specs(ASSET_KEYS, SUITES),
    # Subsettable so that a skipped read (no URL) may end without a gate result: nothing was validated.
    can_subset=True,
    description="Loads LiteLLM's model_prices_and_context_window.json: models, normalised prices with history, loads.",
)
def litellm_prices(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, quality: QualityGateResource
) -> Iterator[Any]:
    """Read the price file once and merge it into `raw_litellm`; unreachable is reported, not fatal to others."""
    pipeline = warehouse.dlt_pipeline("litellm", DATASET_NAME)
    # dbt's staging models read these tables even while the file is unreachable, so they exist from the start.
    if not all(warehouse.table_exists(f"{DATASET_NAME}.{table}") for table in ASSET_KEYS):
        ensure_tables(pipeline, litellm_tables_source())
    url = litellm_url()
    if url is None:
        outcome = f"litellm: skipped: {URL_ENV} is empty"
        context.log.info(outcome)
        for key in ASSET_KEYS.values():
            yield dg.AssetObservation(asset_key=key, metadata={OUTCOME_METADATA_KEY: outcome, "skipped": True})
        return
    timeout = parse_seconds(os.environ.get(TIMEOUT_ENV), DEFAULT_TIMEOUT_S, TIMEOUT_ENV)
    started = time.monotonic()
    stats = LiteLLMStats()
    previous = current_price_hashes(warehouse)
    try:
        document = fetch_document(url, timeout, stats=stats)
        gate = quality.load(
            pipeline, litellm_source(document=document, stats=stats), SUITES, warehouse.connection(), context.run.run_id
        )
    except SourceError as exc:
        raise source_failure("litellm", exc, requests=stats.requests) from None
    yield from gate_outcome("litellm", gate, ASSET_KEYS, context.selected_asset_keys)
    row_counts = gate.summary.row_counts if gate.summary is not None else {}
    changes = price_changes(previous, stats.price_hashes)
    unknown = stats.mapping.unknown_count
    outcome = with_quarantine(
        f"litellm: {stats.models} models, {stats.price_points} price points ({changes.added} added, "
        f"{changes.changed} changed, {changes.removed} removed; {unknown} prices with unknown keys) from {url}",
        gate.quarantined,
    )
    for table, key in ASSET_KEYS.items():
        metadata: dict[str, Any] = {
            "dagster/row_count": row_counts.get(table, 0),
            "rows_quarantined": gate.quarantined.get(table, 0),
            "requests": stats.requests,
            "source_version": document.version,
            "elapsed_s": round(time.monotonic() - started, 2),
        }
        if table == "price_points":
            metadata |= {
                "price_points": stats.price_points,
                "price_points_added": changes.added,
                "price_points_changed": changes.changed,
                "price_points_removed": changes.removed,
                "unknown_price_keys": unknown,
                "unknown_keys": ", ".join(sorted(stats.mapping.unknown_keys)) or "none",
            }
        if table == "loads":
            metadata[OUTCOME_METADATA_KEY] = outcome
        # Every table is versioned by the price file's own version: an unchanged file rebuilds nothing
        # downstream (its `loads` row says when it was read).
        version = dg.DataVersion(document.version)
        yield dg.MaterializeResult(asset_key=key, metadata=metadata, data_version=version)
