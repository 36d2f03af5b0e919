"""The validation gate: extract a source once, validate every table's batch, load only what passed.

Row-level failures are quarantined and the other rows load; a batch-level failure in any table blocks the whole
batch, so the warehouse keeps the previous data untouched.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import dlt
import pyarrow as pa
from dlt.sources import DltResource, DltSource

from modelatlas.errors import ModelAtlasError, SourceError
from modelatlas.pipelines.loading import LoadSummary, root_cause, run_source
from modelatlas.pipelines.quality import store
from modelatlas.pipelines.quality.suite import Suite
from modelatlas.pipelines.quality.validation import Baseline, GateSettings, Rows, Verdict, validate_batch
from modelatlas.warehouse.connection import ConnectionInfo


class BatchBlockedError(ModelAtlasError):
    """A batch failed a batch-level guard: nothing of it was loaded."""


@dataclass
class ExtractedTable:
    """The items one resource yielded, as rows (dicts) or as one Arrow table, with the resource's hints."""

    name: str
    resource: DltResource
    rows: Rows

    def __len__(self) -> int:
        return self.rows.num_rows if isinstance(self.rows, pa.Table) else len(self.rows)


@dataclass
class GateResult:
    """What the gate decided and loaded for one source's batch."""

    batch_id: str
    verdicts: dict[str, Verdict] = field(default_factory=dict)
    quarantined: dict[str, int] = field(default_factory=dict)
    loaded: dict[str, int] = field(default_factory=dict)
    # The first quarantined rows of each table: (key, row, failed expectations), for the check's metadata.
    samples: dict[str, list[tuple[str | None, Mapping[str, Any], list[str]]]] = field(default_factory=dict)
    summary: LoadSummary | None = None

    @property
    def blocked(self) -> bool:
        """True when a batch-level guard failed."""
        return any(verdict.blocked for verdict in self.verdicts.values())

    def block_message(self, source: str) -> str:
        """One readable line: which guard blocked which table, and that nothing was loaded."""
        reasons = [
            f"{entity}: {reason}" for entity, v in self.verdicts.items() if v.blocked for reason in v.block_reasons
        ]
        return (
            f"{source}: batch {self.batch_id} blocked by the quality gate, nothing loaded, previous data kept "
            f"({'; '.join(reasons)})"
        )


def _flatten(items: list[Any]) -> Rows:
    tables = [item for item in items if isinstance(item, pa.Table | pa.RecordBatch)]
    if tables and len(tables) == len(items):
        converted = [pa.Table.from_batches([t]) if isinstance(t, pa.RecordBatch) else t for t in tables]
        return pa.concat_tables(converted, promote_options="default")
    rows: list[Mapping[str, Any]] = []
    for item in items:
        if isinstance(item, pa.Table | pa.RecordBatch):
            rows.extend(item.to_pylist())
        elif isinstance(item, list):
            rows.extend(item)
        else:
            rows.append(item)
    return rows


def extract(source: DltSource) -> dict[str, ExtractedTable]:
    """Run every selected resource of `source` once (the API is called once) and keep what each yielded."""
    collected: dict[str, list[Any]] = {name: [] for name in source.selected_resources}
    resources = dict(source.selected_resources)

    def recorder(name: str) -> Any:
        def keep(item: Any) -> Any:
            collected[name].append(item)
            return item

        return keep

    for name, resource in resources.items():
        resource.add_map(recorder(name))
    try:
        for _ in source:
            pass
    except Exception as exc:
        cause = root_cause(exc)
        if isinstance(cause, SourceError):
            raise type(cause)(str(cause)) from None
        raise
    return {name: ExtractedTable(name, resources[name], _flatten(items)) for name, items in collected.items()}


def batch_id_of(tables: Mapping[str, ExtractedTable], now: datetime | None = None) -> str:
    """The batch's id: the `batch_id` its rows carry, else the time of validation."""
    for table in tables.values():
        rows = table.rows
        if isinstance(rows, pa.Table):
            if "batch_id" in rows.column_names and rows.num_rows:
                return str(rows.column("batch_id")[0].as_py())
        elif rows and rows[0].get("batch_id"):
            return str(rows[0]["batch_id"])
    return (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%S.%fZ")


def passing_rows(rows: Rows, mask: Sequence[bool]) -> Rows:
    """The rows whose flag is True, in the batch's own shape."""
    if isinstance(rows, pa.Table):
        return rows.filter(pa.array(list(mask), type=pa.bool_()))
    return [row for row, keep in zip(rows, mask, strict=True) if keep]


def _row_at(rows: Rows, position: int) -> Mapping[str, Any]:
    if isinstance(rows, pa.Table):
        row: Mapping[str, Any] = rows.slice(position, 1).to_pylist()[0]
        return row
    return rows[position]


def quarantine_rows(
    table: ExtractedTable, verdict: Verdict, everything_with: list[str] | None = None
) -> list[tuple[str | None, Mapping[str, Any], list[str]]]:
    """(key, payload, failed expectations) of every row that failed a row-level expectation.

    With `everything_with` (the reasons a batch was blocked), every row of the table, those reasons first.
    """
    failures = verdict.row_failures()
    if everything_with is not None:
        failures = {position: [*everything_with, *failures.get(position, [])] for position in range(len(table))}
    entries = []
    for position, failed in sorted(failures.items()):
        row = _row_at(table.rows, position)
        key = "/".join(str(row.get(name)) for name in verdict.suite.key) if verdict.suite.key else None
        entries.append((key, row, failed))
    return entries


def gated_resource(table: ExtractedTable, rows: Rows) -> DltResource:
    """A resource yielding `rows` with the original resource's table name, columns and write disposition."""
    schema = table.resource.compute_table_schema()
    resource = dlt.resource(_items(rows), name=table.name)
    resource.apply_hints(
        table_name=schema["name"],
        columns=schema["columns"],
        write_disposition=table.resource.write_disposition,
        file_format=schema.get("file_format"),
    )
    return resource


def _items(rows: Rows) -> Iterator[Any]:
    if isinstance(rows, pa.Table):
        if rows.num_rows:
            yield rows
    elif rows:
        yield list(rows)


def gated_load(
    pipeline: dlt.Pipeline,
    source: DltSource,
    suites: Mapping[str, Suite],
    *,
    info: ConnectionInfo,
    settings: GateSettings | None = None,
    run_id: str | None = None,
) -> GateResult:
    """Extract `source` once, validate each table with its suite, record the results, and load what passed.

    Tables without a suite load unvalidated. A blocked batch loads nothing; the result says why.
    """
    settings = settings or GateSettings()
    tables = extract(source)
    batch = batch_id_of(tables)
    result = GateResult(batch_id=batch)
    quarantined: dict[str, list[tuple[str | None, Mapping[str, Any], list[str]]]] = {}
    for name, table in tables.items():
        suite = suites.get(name)
        if suite is None:
            continue
        base = store.baseline(info, pipeline.dataset_name, suite) if suite.guard_shrink or suite.jump_columns else None
        result.verdicts[name] = validate_batch(suite, table.rows, base or Baseline(), settings)
    reasons = [f"batch blocked: {entity}: {r}" for entity, v in result.verdicts.items() for r in v.block_reasons]
    for name, verdict in result.verdicts.items():
        # A blocked batch is kept aside whole, each row with the reason, so nothing extracted is lost.
        quarantined[name] = quarantine_rows(tables[name], verdict, everything_with=reasons if reasons else None)
        result.quarantined[name] = len(quarantined[name])
        result.samples[name] = quarantined[name][: settings.sample_rows]
    store.record(info, list(result.verdicts.values()), quarantined, batch_id=batch, run_id=run_id)
    if result.blocked:
        return result
    resources = []
    for name, table in tables.items():
        verdict_of = result.verdicts.get(name)
        rows = passing_rows(table.rows, verdict_of.passing_mask()) if verdict_of else table.rows
        result.loaded[name] = rows.num_rows if isinstance(rows, pa.Table) else len(rows)
        resources.append(gated_resource(table, rows))
    gated = dlt.source(name=source.name, max_table_nesting=source.max_table_nesting)(lambda: resources)()
    result.summary = run_source(pipeline, gated)
    return result
