"""One Dagster asset per provider catalog: skipped without its key, failed with a clear reason, changes reported."""

import hashlib
import json
import os
import time
from collections.abc import Iterator, Mapping
from typing import Any

import dagster as dg

from modelatlas.assets.outcomes import OUTCOME_METADATA_KEY, source_failure, with_quarantine
from modelatlas.assets.quality import gate_check_specs, gate_outcome
from modelatlas.errors import SourceError
from modelatlas.pipelines.catalog import FetchStats, ProviderSpec, catalog_changes, provider_settings
from modelatlas.pipelines.loading import ensure_tables
from modelatlas.pipelines.providers import PROVIDERS
from modelatlas.pipelines.quality.registry import suites_for
from modelatlas.resources import QualityGateResource, WarehouseResource

PREVIEW_LIMIT = 20


def previous_hashes(warehouse: WarehouseResource, spec: ProviderSpec) -> dict[str, str]:
    """{id: content_hash} of the models the provider's latest loaded batch listed (empty before the first load)."""
    table = f"{spec.dataset_name}.models"
    rows = warehouse.query_if_exists(
        table,
        f"select id, content_hash from {table} where batch_id = (select max(batch_id) from {table})",
    )
    return {str(row[0]): str(row[1]) for row in rows}


def catalog_data_version(content_hashes: Mapping[str, str], region: str) -> dg.DataVersion:
    """The version of a catalog's content: the same models with the same content give the same version, so the
    dbt models reading it are not rebuilt for an unchanged fetch."""
    content = json.dumps([region, sorted(content_hashes.items())])
    return dg.DataVersion(hashlib.sha256(content.encode()).hexdigest()[:32])


def _id_list(ids: list[str]) -> str:
    shown = ", ".join(ids[:PREVIEW_LIMIT])
    return shown + (f" and {len(ids) - PREVIEW_LIMIT} more" if len(ids) > PREVIEW_LIMIT else "")


def build_catalog_asset(spec: ProviderSpec) -> dg.AssetsDefinition:
    """The multi-asset that loads one provider's catalog tables."""
    keys = {table: dg.AssetKey([spec.dataset_name, table]) for table in spec.tables}
    suites = suites_for(spec.name)

    @dg.multi_asset(
        name=f"{spec.name}_catalog",
        specs=[
            dg.AssetSpec(
                key=key,
                group_name=spec.name,
                kinds={"dlt", "postgres"},
                description=f"{spec.description} (table {spec.dataset_name}.{table})",
                metadata={"dagster/table_name": f"{spec.dataset_name}.{table}"},
                skippable=True,
            )
            for table, key in keys.items()
        ],
        check_specs=gate_check_specs(keys, suites),
        # Subsettable so that a skipped provider (no key) may end without a gate result: nothing was validated.
        can_subset=True,
        description=spec.description,
    )
    def catalog(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, quality: QualityGateResource
    ) -> Iterator[Any]:
        settings = provider_settings(spec)
        stats = FetchStats()
        options = spec.options(os.environ) if spec.options is not None else {}
        source = spec.source(
            api_key=settings.api_key, base_url=settings.base_url, region=settings.region, stats=stats, **options
        )
        pipeline = warehouse.dlt_pipeline(spec.name, spec.dataset_name)
        # Only before the first load: creating tables is a dlt run of its own, not to be repeated every cycle.
        if not all(warehouse.table_exists(f"{spec.dataset_name}.{table}") for table in spec.tables):
            ensure_tables(pipeline, source)
        if settings.skip_reason is not None:
            outcome = f"{spec.name}: {settings.skip_reason}"
            context.log.info(outcome)
            for key in keys.values():
                yield dg.AssetObservation(asset_key=key, metadata={OUTCOME_METADATA_KEY: outcome, "skipped": True})
            return
        started = time.monotonic()
        previous = previous_hashes(warehouse, spec)
        try:
            gate = quality.load(pipeline, source, suites, warehouse.connection(), run_id=context.run.run_id)
        except SourceError as exc:
            raise source_failure(spec.name, exc, pages_fetched=stats.pages) from None
        selected = context.selected_asset_keys
        yield from gate_outcome(spec.name, gate, keys, selected)
        row_counts = gate.summary.row_counts if gate.summary is not None else {}
        changes = catalog_changes(previous, stats.content_hashes)
        outcome = with_quarantine(
            f"{spec.name}: {len(stats.ids)} models ({len(changes.added)} added, {len(changes.removed)} removed, "
            f"{len(changes.changed)} changed) from {settings.base_url} [{settings.region}]",
            gate.quarantined,
        )
        for table, key in keys.items():
            metadata: dict[str, Any] = {
                "dagster/row_count": row_counts.get(table, 0),
                "rows_quarantined": gate.quarantined.get(table, 0),
                "pages_fetched": stats.pages,
                "requests": stats.requests,
                "elapsed_s": round(time.monotonic() - started, 2),
                "region": settings.region,
            }
            if table == "models":
                metadata |= {
                    "models_fetched": len(stats.ids),
                    "models_added": len(changes.added),
                    "models_removed": len(changes.removed),
                    "models_changed": len(changes.changed),
                    "added": _id_list(changes.added),
                    "removed": _id_list(changes.removed),
                    OUTCOME_METADATA_KEY: outcome,
                }
            # The catalog and the prices read from it are versioned by its content, observations over time
            # (model_stats) by the counters observed: a fetch that saw the same gives the same version.
            if table in ("models", "price_points"):
                version: dg.DataVersion | None = catalog_data_version(stats.content_hashes, settings.region)
            else:
                version = catalog_data_version(stats.observations, settings.region) if stats.observations else None
            if key in selected:
                yield dg.MaterializeResult(asset_key=key, metadata=metadata, data_version=version)

    return catalog


def build_catalog_assets() -> list[dg.AssetsDefinition]:
    """One catalog asset per provider in `PROVIDERS`."""
    return [build_catalog_asset(spec) for spec in PROVIDERS]
