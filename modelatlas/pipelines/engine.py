"""The source engine: fetch one source, gate its batch, load what passed, and say what changed. No Dagster here.

Every source runs through `load_source`: its spec's fetch gives a plain batch (rows per table), the quality gate
validates it against the current rows of each table, the verdicts go to `dq`, and one dlt load writes the rows that
passed with the tables' declared hints. Each table's data version is the hash of its loaded content, so a fetch that
saw the same data gives the same version and nothing downstream rebuilds.
"""

from __future__ import annotations

import dataclasses
import gc
import hashlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import dlt
import pyarrow as pa
import pyarrow.compute as pc
from dlt.common.json import json as fast_json

from modelatlas.errors import ConfigurationError
from modelatlas.pipelines.catalog import catalog_batch
from modelatlas.pipelines.current import Changes, changes, current_rows, empty_tables
from modelatlas.pipelines.http import RetryPolicy
from modelatlas.pipelines.loading import (
    LoadSummary,
    create_tables,
    load_batch,
    make_pipeline,
    row_count,
    saved_state,
    sibling_pipeline,
)
from modelatlas.pipelines.quality import store
from modelatlas.pipelines.quality.gate import GateResult, gate_batch
from modelatlas.pipelines.registry import sources
from modelatlas.pipelines.spec import Batch, FetchStats, Request, Rows, SourceSpec, TableSpec
from modelatlas.settings import GateSettings, SourceConfig, source_config
from modelatlas.warehouse.connection import ConnectionInfo
from modelatlas.warehouse.service import connect
from modelatlas.warehouse.timeseries import ensure_time_series_table, months_between

PREVIEW_ROWS = 5
# A null in a version column, as text: no value of a real column reads this.
NULL_TEXT = "\x00null"
LISTED_KEYS = 20
# A batch of at least this many rows is freed by a full garbage collection after its load (0.2 s once the gate's
# libraries are imported).
COLLECT_AFTER_ROWS = 100_000


def request_for(
    spec: SourceSpec,
    config: SourceConfig,
    *,
    fetched_at: datetime | None = None,
    policy: RetryPolicy | None = None,
    page_size: int | None = None,
) -> Request:
    """The request of one fetch of `spec` as `config` sets it."""
    return Request(
        spec=spec,
        fetched_at=fetched_at or datetime.now(UTC),
        api_key=config.api_key,
        base_url=config.base_url,
        region=config.region,
        options=config.options,
        policy=policy,
        page_size=page_size,
    )


def fetch(request: Request) -> Batch:
    """The batch of one fetch: the spec's own fetch, or the catalog fetch for a plain catalog."""
    extract = request.spec.extract or catalog_batch
    return extract(request)


def _column_values(rows: Rows, columns: tuple[str, ...]) -> list[list[Any]]:
    if isinstance(rows, pa.Table):
        present = [c for c in columns if c in rows.column_names]
        table = rows.select(present)
        return [[row[c] for c in present] for row in table.to_pylist()]
    return [[row.get(c) for c in columns] for row in rows]


def _column_buffers(column: pa.ChunkedArray) -> list[bytes | pa.Buffer]:
    """A column's values as buffers to hash in turn: its text's offsets and data when Arrow casts it to text (a month
    of probe results took 2.5 s as Python lists), else its values as JSON. Timestamps are written as their count of
    units since the epoch: as dates and times, a month of probe results took 0.9 s. Arrow's buffers are hashed as
    they are: copied into bytes, a month of requests' keys took four copies at once."""
    if pa.types.is_timestamp(column.type):
        column = pc.cast(column, pa.int64())
    try:
        text = pc.fill_null(pc.cast(column, pa.large_string()), NULL_TEXT).combine_chunks()
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
        return [bytes(fast_json.dumpb(column.to_pylist()))]
    offsets, data = text.buffers()[1:3]
    return [] if offsets is None else [buffer for buffer in (offsets, data) if buffer is not None]


def data_version(table: TableSpec, rows: Rows) -> str:
    """The version of a table's loaded content: a hash of its version columns over every row, in any row order."""
    if isinstance(rows, pa.Table) and rows.num_rows:
        present = [c for c in table.version_columns if c in rows.column_names]
        selected = rows.select(present)
        order = pc.sort_indices(selected, sort_keys=[(c, "ascending") for c in present])
        digest = hashlib.sha256()
        for column in selected.take(order).combine_chunks().columns:
            for buffer in _column_buffers(column):
                digest.update(buffer)
        return digest.hexdigest()[:32]
    encoded = sorted(fast_json.dumpb(values) for values in _column_values(rows, table.version_columns))
    return hashlib.sha256(b"\n".join(encoded)).hexdigest()[:32]


def tracked_contents(table: TableSpec, rows: Rows) -> dict[tuple[Any, ...], str]:
    """{tracked key: content} of a table's rows, to compare with the current rows."""
    if table.tracked_by is None:
        return {}
    key, content = table.tracked_by
    return {tuple(values[:-1]): str(values[-1]) for values in _column_values(rows, (*key, content))}


def preview_markdown(table: TableSpec, rows: Rows) -> str:
    """A markdown table of the first rows' preview columns, for the asset page."""
    columns = table.preview
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    sample = rows.slice(0, PREVIEW_ROWS) if isinstance(rows, pa.Table) else list(rows)[:PREVIEW_ROWS]
    for values in _column_values(sample, columns):
        lines.append("| " + " | ".join("" if v is None else str(v).replace("|", "\\|") for v in values) + " |")
    return "\n".join(lines)


@dataclass
class SourceLoad:
    """What one load of a source did: its batch, the gate's decision, the load, versions and changes."""

    spec: SourceSpec
    batch: Batch
    gate: GateResult
    stats: FetchStats
    summary: LoadSummary | None = None
    versions: dict[str, str] = field(default_factory=dict)
    changes: dict[str, Changes] = field(default_factory=dict)
    elapsed_s: float = 0.0

    @property
    def blocked(self) -> bool:
        """True when the gate blocked the batch: nothing was loaded."""
        return self.gate.blocked

    def loaded_rows(self, table: str) -> int:
        """Rows of `table` this load wrote."""
        return row_count(self.gate.passing.get(table))

    def report(self) -> str:
        """The source's line in the run summary: rows and changes per tracked table, origin, quarantine, notes."""
        if self.blocked:
            return self.gate.block_message(self.spec.name)
        parts = []
        for table in self.spec.tables:
            change = self.changes.get(table.name)
            if change is not None:
                parts.append(
                    f"{self.loaded_rows(table.name):,} {table.name} ({len(change.added)} added, "
                    f"{len(change.removed)} removed, {len(change.changed)} changed)"
                )
        if not parts:
            parts = [f"{self.loaded_rows(table.name):,} {table.name}" for table in self.spec.tables]
        line = f"{self.spec.name}: {', '.join(parts)} from {self.batch.origin}"
        if quarantined := sum(self.gate.quarantined_counts().values()):
            line += f"; {quarantined} rows quarantined (see dq.quarantine)"
        return line + "".join(f"; {note}" for note in self.batch.notes)

    def table_metadata(self, table: TableSpec) -> dict[str, Any]:
        """The figures of one table for its asset page."""
        metadata: dict[str, Any] = {
            "rows_loaded": self.loaded_rows(table.name),
            "rows_quarantined": self.gate.quarantined_counts().get(table.name, 0),
            "pages_fetched": self.stats.pages,
            "requests": self.stats.requests,
            "elapsed_s": round(self.elapsed_s, 2),
            "origin": self.batch.origin,
            **self.batch.metadata,
        }
        change = self.changes.get(table.name)
        if change is not None:
            metadata |= {
                "rows_added": len(change.added),
                "rows_removed": len(change.removed),
                "rows_changed": len(change.changed),
                "added": listed(change.added),
                "removed": listed(change.removed),
                "changed": listed(change.changed),
            }
        return metadata


def listed(keys: list[str]) -> str:
    """The first keys of a list, and how many more."""
    shown = ", ".join(keys[:LISTED_KEYS])
    return shown + (f" and {len(keys) - LISTED_KEYS} more" if len(keys) > LISTED_KEYS else "")


def tables_by_dataset(spec: SourceSpec, own_dataset: str) -> dict[str, list[TableSpec]]:
    """The source's tables grouped by the schema they live in (`own_dataset` for those of the source's own)."""
    grouped: dict[str, list[TableSpec]] = {}
    for table in spec.tables:
        grouped.setdefault(table.dataset or own_dataset, []).append(table)
    return grouped


def missing_tables(info: ConnectionInfo, tables: Sequence[TableSpec], dataset: str) -> list[str]:
    """The names among `tables` that do not exist in `dataset` yet."""
    with connect(info) as conn:
        conn.read_only = True
        existing = {
            row[0]
            for row in conn.execute(
                "select table_name from information_schema.tables where table_schema = %s", [dataset]
            )
        }
    return [table.name for table in tables if table.name not in existing]


def prepare_time_series(
    info: ConnectionInfo, tables: Sequence[TableSpec], dataset: str, now: datetime, months: Sequence[date] = ()
) -> None:
    """Create the time-series tables among `tables` (partitioned, or hypertables) and the partitions due by `now`."""
    for table in tables:
        if table.time_column is not None:
            ensure_time_series_table(info, table, dataset, now=now, months=months)


def ensure_tables(pipeline: dlt.Pipeline, info: ConnectionInfo, spec: SourceSpec) -> bool:
    """Create the source's tables, empty, in every schema it writes, unless they all exist; True when it did."""
    created = False
    for dataset, tables in tables_by_dataset(spec, pipeline.dataset_name).items():
        missing = missing_tables(info, tables, dataset)
        if not missing:
            continue
        absent = [table for table in tables if table.name in missing]
        prepare_time_series(info, absent, dataset, datetime.now(UTC))
        create_tables(sibling_pipeline(pipeline, dataset), spec, absent)
        created = True
    return created


def ensure_every_source_table(info: ConnectionInfo, pipelines_dir: Path) -> None:
    """Every source's tables, empty where missing: dbt's staging models read every raw table, loaded or not."""
    for spec in sources():
        ensure_tables(make_pipeline(spec.name, spec.dataset, info.url(), pipelines_dir), info, spec)


def batch_months(table: TableSpec, rows: Rows) -> list[date]:
    """The months a time-series batch's rows fall in (their partitions must exist before it loads)."""
    if table.time_column is None or row_count(rows) == 0:
        return []
    if isinstance(rows, pa.Table):
        column = rows.column(table.time_column)
        first, last = pc.min(column).as_py(), pc.max(column).as_py()
    else:
        times = [row[table.time_column] for row in rows if row.get(table.time_column) is not None]
        if not times:
            return []
        first, last = min(times), max(times)
    return months_between(first, last)


def load_tables(
    pipeline: dlt.Pipeline,
    info: ConnectionInfo,
    spec: SourceSpec,
    rows: Mapping[str, Rows],
    fetched_at: datetime,
    state: Mapping[str, Any] | None = None,
) -> LoadSummary:
    """Load the rows of every table, one dlt run per schema the source writes; time-series partitions made first.

    `state` is kept in the dlt state of the source's own schema, with its rows."""
    started = time.monotonic()
    summaries = []
    for dataset, tables in tables_by_dataset(spec, pipeline.dataset_name).items():
        appendable = [table.name for table in tables if table.unique_rows and table.disposition == "merge"]
        empty = empty_tables(info, dataset, appendable) if appendable else set()
        months = sorted({month for table in tables for month in batch_months(table, rows.get(table.name, []))})
        prepare_time_series(info, tables, dataset, fetched_at, months)
        target = sibling_pipeline(pipeline, dataset)
        kept = state if dataset == pipeline.dataset_name else None
        summaries.append(load_batch(target, spec, rows, fetched_at, empty, tables, kept))
    return LoadSummary(
        load_id=next((summary.load_id for summary in summaries if summary.load_id), None),
        row_counts={table: count for summary in summaries for table, count in summary.row_counts.items()},
        elapsed_s=time.monotonic() - started,
    )


def load_source(
    request: Request,
    pipeline: dlt.Pipeline,
    info: ConnectionInfo,
    settings: GateSettings | None = None,
    run_id: str | None = None,
) -> SourceLoad:
    """Fetch `request.spec`, gate the batch, record the verdicts, load what passed; SourceError when unreadable."""
    spec = request.spec
    started = time.monotonic()
    # Arrow's allocator keeps what earlier loads freed for reuse: it goes back to the system before this one reads.
    pa.default_memory_pool().release_unused()
    if spec.keeps_state and not request.state:
        request = dataclasses.replace(request, state=saved_state(pipeline, spec.name))
    batch = fetch(request)
    current = {table.name: current_rows(info, table.dataset or pipeline.dataset_name, table) for table in spec.tables}
    gate = gate_batch(
        spec, batch, {name: rows.baseline() for name, rows in current.items()}, settings or GateSettings()
    )
    store.record(info, list(gate.verdicts.values()), gate.quarantined, batch_id=gate.batch_id, run_id=run_id)
    result = SourceLoad(spec=spec, batch=batch, gate=gate, stats=request.stats)
    if not gate.blocked:
        result.summary = load_tables(pipeline, info, spec, gate.passing, request.fetched_at, batch.state)
        for table in spec.tables:
            rows = gate.passing.get(table.name, [])
            result.versions[table.name] = data_version(table, rows)
            if table.tracked_by is not None:
                result.changes[table.name] = changes(current[table.name].contents, tracked_contents(table, rows))
    if sum(row_count(rows) for rows in batch.tables.values()) >= COLLECT_AFTER_ROWS:
        # dlt's configuration lookups leave reference cycles (exceptions holding their frames) that reach the frames
        # of this load and its caller, and with them the batch: only Python's next full collection frees them, which
        # came after several months of requests had piled up in one process.
        gc.collect()
    result.elapsed_s = time.monotonic() - started
    return result


def load_standalone(
    spec: SourceSpec,
    info: ConnectionInfo,
    pipelines_dir: Path,
    *,
    env: Mapping[str, str] | None = None,
    dataset: str | None = None,
    policy: RetryPolicy | None = None,
    page_size: int | None = None,
    fetched_at: datetime | None = None,
    settings: GateSettings | None = None,
) -> SourceLoad:
    """Load one source without Dagster: its tables created when missing, then one fetch, gate and load.

    `env` replaces the environment the source's settings are read from; `dataset` loads into another schema than
    the source's own (each dataset keeps its own dlt state). A source its settings skip is a ConfigurationError.
    """
    config = source_config(spec, env)
    if config.skip_reason is not None:
        raise ConfigurationError(f"{spec.name}: {config.skip_reason}")
    target = dataset or spec.dataset
    name = spec.name if target == spec.dataset else f"{spec.name}__{target}"
    pipeline = make_pipeline(name, target, info.url(), pipelines_dir)
    ensure_tables(pipeline, info, spec)
    request = request_for(spec, config, fetched_at=fetched_at, policy=policy, page_size=page_size)
    return load_source(request, pipeline, info, settings)
