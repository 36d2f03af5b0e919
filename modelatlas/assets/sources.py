"""One asset factory for every source: a multi-asset per source, one asset per raw table, the gate as checks.

What differs between sources is data in their specs; this file knows none of them by name.
"""

import json
from collections.abc import Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from typing import Any

import dagster as dg

from modelatlas.errors import SourceError, SourceUnreachableError
from modelatlas.pipelines.engine import SourceLoad, ensure_tables, load_source, preview_markdown, request_for
from modelatlas.pipelines.quality.gate import GateResult, QuarantinedRow
from modelatlas.pipelines.quality.validation import Verdict
from modelatlas.pipelines.spec import SourceSpec, TableSpec
from modelatlas.resources import QualityGateResource, WarehouseResource
from modelatlas.settings import source_config

# Metadata under this key is the source's line in the run summary (and shown on the asset page).
REPORT_METADATA_KEY = "modelatlas/report"
GATE_CHECK = "quality_gate"
_VALUE_LIMIT = 160


def asset_key(spec: SourceSpec, table: TableSpec) -> dg.AssetKey:
    """The asset of one table a source writes: `[raw_<source>, <table>]`, or `[ts, <table>]` for a time series."""
    return dg.AssetKey([spec.table_dataset(table), table.name])


def source_pool(spec: SourceSpec) -> str:
    """The concurrency pool of a source's loads: one load of a source at a time, whoever starts it."""
    return f"source_{spec.name}"


def gate_check_specs(spec: SourceSpec) -> list[dg.AssetCheckSpec]:
    """A blocking check per table that has a suite: a blocked batch stops the dbt models downstream of it."""
    return [
        dg.AssetCheckSpec(
            name=GATE_CHECK,
            asset=asset_key(spec, table),
            blocking=True,
            description=(
                f"Great Expectations suite {table.suite.name}, run on each extracted batch before it is merged: "
                "failing rows go to dq.quarantine and the rest loads; a shrunken or empty batch, a mass 10x price "
                "move or a lost column blocks the batch."
            ),
        )
        for table in spec.tables
        if table.suite is not None
    ]


def failing_rows_markdown(verdict: Verdict, rows: Sequence[QuarantinedRow]) -> str:
    """A markdown table of the first quarantined rows: key, failed expectations, the values the suite reads."""
    lines = ["| row | failed expectations | values |", "|---|---|---|"]
    columns = sorted(verdict.suite.columns())
    for key, row, failed in rows:
        values = json.dumps({c: row.get(c) for c in columns if row.get(c) is not None}, default=str)
        if len(values) > _VALUE_LIMIT:
            values = values[: _VALUE_LIMIT - 1] + "…"
        cells = [str(key), "; ".join(failed), values]
        lines.append("| " + " | ".join(cell.replace("|", "\\|").replace("\n", " ") for cell in cells) + " |")
    return "\n".join(lines)


def gate_check_results(
    spec: SourceSpec, gate: GateResult, sample_rows: int, loaded: Mapping[str, int]
) -> Iterator[dg.AssetCheckResult]:
    """One result per gated table: failed (ERROR) when the batch was blocked, passed otherwise.

    A batch that loaded with some rows quarantined passed the gate: the result says how many were kept aside.
    """
    quarantined = gate.quarantined_counts()
    for table, verdict in gate.verdicts.items():
        metadata: dict[str, Any] = {
            "batch_id": gate.batch_id,
            "rows_in_batch": verdict.row_count,
            "rows_quarantined": quarantined.get(table, 0),
            "rows_loaded": loaded.get(table, 0),
            "expectations_evaluated": len(verdict.results),
            "expectations_failed": len(verdict.failed),
            "failed_expectations": dg.MetadataValue.md(
                "\n".join(f"- **{r.level}** {r.description} (unexpected: {r.unexpected_count})" for r in verdict.failed)
                or "none"
            ),
            "blocked": gate.blocked,
        }
        if gate.blocked:
            metadata["block_reasons"] = "; ".join(verdict.block_reasons) or "another table of this batch was blocked"
        if sample := gate.quarantined.get(table, [])[:sample_rows]:
            metadata["quarantined_rows_sample"] = dg.MetadataValue.md(failing_rows_markdown(verdict, sample))
        if gate.blocked:
            description = "blocked: " + ("; ".join(verdict.block_reasons) or "another table of this batch was blocked")
        elif quarantined.get(table):
            description = f"loaded; {quarantined[table]} rows quarantined (see dq.quarantine)"
        else:
            description = None
        yield dg.AssetCheckResult(
            asset_key=asset_key(spec, spec.table(table)),
            check_name=GATE_CHECK,
            passed=not gate.blocked,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata=metadata,
            description=description,
        )


def source_failure(spec: SourceSpec, error: SourceError, **metadata: Any) -> dg.Failure:
    """The asset's failure when its source could not be read: `unreachable` (which `modelatlas run` tolerates
    unless --strict) or `failed`, with the source's redacted error as its report."""
    kind = "unreachable" if isinstance(error, SourceUnreachableError) else "failed"
    return dg.Failure(
        description=str(error), metadata={REPORT_METADATA_KEY: f"{spec.name}: {kind}: {error}", **metadata}
    )


def blocked_failure(spec: SourceSpec, gate: GateResult) -> dg.Failure:
    """The asset's failure for a blocked batch: the reason in the run summary, the counts as metadata."""
    message = gate.block_message(spec.name)
    return dg.Failure(
        description=message,
        metadata={
            REPORT_METADATA_KEY: message,
            "batch_id": gate.batch_id,
            "rows_in_batch": sum(verdict.row_count for verdict in gate.verdicts.values()),
        },
    )


def materializations(loaded: SourceLoad, selected: AbstractSet[dg.AssetKey]) -> Iterator[dg.MaterializeResult[Any]]:
    """One materialization per selected table, versioned by its loaded content."""
    report = loaded.report()
    for table in loaded.spec.tables:
        key = asset_key(loaded.spec, table)
        if key not in selected:
            continue
        metadata: dict[str, Any] = {
            "dagster/row_count": loaded.loaded_rows(table.name),
            **loaded.table_metadata(table),
            REPORT_METADATA_KEY: report,
        }
        rows = loaded.gate.passing.get(table.name)
        if table.preview and rows is not None:
            metadata["preview"] = dg.MetadataValue.md(preview_markdown(table, rows))
        yield dg.MaterializeResult(
            asset_key=key, metadata=metadata, data_version=dg.DataVersion(loaded.versions[table.name])
        )


def source_assets(spec: SourceSpec, freshness: dg.FreshnessPolicy | None = None) -> dg.AssetsDefinition:
    """The multi-asset that loads one source: skipped without its key, failed with a clear reason, changes reported."""

    @dg.multi_asset(
        name=spec.dataset,
        specs=[
            dg.AssetSpec(
                key=asset_key(spec, table),
                group_name=spec.asset_group,
                kinds={"dlt", "postgres"},
                description=table.description,
                metadata={"dagster/table_name": f"{spec.table_dataset(table)}.{table.name}"},
                freshness_policy=freshness,
                skippable=True,
            )
            for table in spec.tables
        ],
        check_specs=gate_check_specs(spec),
        # Subsettable so that a skipped source (no key) may end without a gate result: nothing was validated.
        can_subset=True,
        description=spec.description,
        pool=source_pool(spec),
    )
    def load(context: dg.AssetExecutionContext, warehouse: WarehouseResource, quality: QualityGateResource) -> Any:
        config = source_config(spec)
        info = warehouse.connection()
        pipeline = warehouse.dlt_pipeline(spec.name, spec.dataset)
        # dbt's staging models read every raw table, loaded or not: the tables exist from the first run on.
        ensure_tables(pipeline, info, spec)
        if config.skip_reason is not None:
            report = f"{spec.name}: {config.skip_reason}"
            context.log.info(report)
            for table in spec.tables:
                yield dg.AssetObservation(
                    asset_key=asset_key(spec, table), metadata={REPORT_METADATA_KEY: report, "skipped": True}
                )
            return
        request = request_for(spec, config)
        try:
            loaded = load_source(request, pipeline, info, quality.settings(), run_id=context.run.run_id)
        except SourceError as exc:
            raise source_failure(
                spec, exc, pages_fetched=request.stats.pages, requests=request.stats.requests
            ) from None
        selected = context.selected_asset_keys
        counts = {table.name: loaded.loaded_rows(table.name) for table in spec.tables}
        for check in gate_check_results(spec, loaded.gate, quality.settings().sample_rows, counts):
            if check.asset_key in selected:
                yield check
        if loaded.blocked:
            raise blocked_failure(spec, loaded.gate)
        yield from materializations(loaded, selected)

    return load
