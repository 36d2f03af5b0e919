"""The genai-prices registry as four raw assets, loaded together by one dlt run."""

import os
from collections.abc import Iterator
from itertools import islice
from typing import Any

import dagster as dg

from modelatlas.assets.outcomes import OUTCOME_METADATA_KEY
from modelatlas.assets.quality import gate_check_specs, gate_outcome
from modelatlas.pipelines.genai_prices import DATASET_NAME, genai_prices_source, load_snapshot
from modelatlas.pipelines.genai_prices.registry import DEFAULT_TIMEOUT_S, PUBLISHED_URL
from modelatlas.pipelines.quality.registry import suites_for
from modelatlas.resources import QualityGateResource, WarehouseResource
from modelatlas.settings import parse_seconds

GROUP = "genai_prices"
TABLE_DESCRIPTIONS = {
    "providers": "Providers in pydantic's genai-prices registry, with their match rules and pricing pages.",
    "models": "Models of each registry provider: names, context windows, match rules kept as data.",
    "prices": "Every price component of every model, with its unit, tiers and dated or time-of-day conditions.",
    "loads": "One row per registry read: published JSON or packaged data, its version and what it held.",
    "price_points": "Every registry price normalised (component, service tier, condition, USD per unit), scd2 history.",
}
ASSET_KEYS = {table: dg.AssetKey([DATASET_NAME, table]) for table in TABLE_DESCRIPTIONS}
SUITES = suites_for("genai_prices")


def registry_url() -> str | None:
    """The published registry address: `MODELATLAS_GENAI_PRICES_URL`, empty to use only the packaged data."""
    return os.environ.get("MODELATLAS_GENAI_PRICES_URL", PUBLISHED_URL).strip() or None


def price_preview(rows: list[dict[str, Any]]) -> str:
    """A short markdown table of sample prices for the asset page."""
    lines = ["| provider | model | component | condition | USD | unit |", "|---|---|---|---|---|---|"]
    for row in rows:
        lines.append(
            f"| {row['provider_id']} | {row['model_id']} | {row['component']} | {row['condition']} "
            f"| {row['price_usd']} | {row['unit']} |"
        )
    return "\n".join(lines)


@dg.multi_asset(
    name="genai_prices_registry",
    specs=[
        dg.AssetSpec(
            key=key,
            group_name=GROUP,
            kinds={"dlt", "postgres"},
            description=TABLE_DESCRIPTIONS[table],
            metadata={"dagster/table_name": f"{DATASET_NAME}.{table}"},
        )
        for table, key in ASSET_KEYS.items()
    ],
    check_specs=gate_check_specs(ASSET_KEYS, SUITES),
    description="Loads pydantic's genai-prices registry: the published JSON when reachable, else the package's data.",
)
def genai_prices_registry(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, quality: QualityGateResource
) -> Iterator[Any]:
    """Read the registry once and merge it into `raw_genai_prices`."""
    timeout = parse_seconds(os.environ.get("MODELATLAS_GENAI_PRICES_TIMEOUT"), DEFAULT_TIMEOUT_S)
    snapshot = load_snapshot(registry_url(), timeout)
    if snapshot.fallback_reason:
        context.log.info(f"genai-prices: using the packaged data ({snapshot.fallback_reason})")
    pipeline = warehouse.dlt_pipeline("genai_prices", DATASET_NAME)
    gate = quality.load(
        pipeline, genai_prices_source(snapshot=snapshot), SUITES, warehouse.connection(), context.run.run_id
    )
    yield from gate_outcome("genai-prices", gate, ASSET_KEYS)
    assert gate.summary is not None
    summary = gate.summary
    sample = list(islice(genai_prices_source(snapshot=snapshot).resources["prices"], 5))
    common: dict[str, Any] = {
        "source_origin": snapshot.origin,
        "source_version": snapshot.version,
        "fallback_reason": snapshot.fallback_reason or "",
        "dlt_load_id": summary.load_id or "",
        "elapsed_s": round(summary.elapsed_s, 2),
    }
    outcome = f"genai-prices: {snapshot.origin} data, {snapshot.version}"
    if snapshot.fallback_reason:
        outcome += f" (published JSON not used: {snapshot.fallback_reason.removeprefix('genai-prices: ')})"
    for table, key in ASSET_KEYS.items():
        metadata = {
            **common,
            "dagster/row_count": summary.row_counts.get(table, 0),
            "rows_quarantined": gate.quarantined.get(table, 0),
        }
        if table == "loads":
            metadata[OUTCOME_METADATA_KEY] = outcome
        if table == "prices":
            metadata["preview"] = dg.MetadataValue.md(price_preview(sample))
        # Every table is versioned by the registry's own version (package version or content hash): a read of
        # the same registry rebuilds nothing downstream (its `loads` row says when it was read).
        version = dg.DataVersion(snapshot.version)
        yield dg.MaterializeResult(asset_key=key, metadata=metadata, data_version=version)
