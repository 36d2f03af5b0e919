"""One dlt load per batch: the rows that passed the gate, with the table hints their source declares."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import dlt
import pyarrow as pa
from dlt.common.pipeline import LoadInfo
from dlt.common.runtime.telemetry import stop_telemetry
from dlt.sources import DltResource, DltSource

from modelatlas.errors import SourceError, WarehouseError
from modelatlas.pipelines.spec import Rows, SourceSpec, TableSpec
from modelatlas.redaction import redact

log = logging.getLogger(__name__)

LOAD_FILE_ROWS = 100_000
# dlt's settings for ModelAtlas's pipelines: no calls home, no progress bars. They go to dlt's in-memory config,
# under any value the environment sets (dlt reads the environment first), never into the environment itself.
DLT_SETTINGS: dict[str, Any] = {
    "runtime.dlthub_telemetry": False,
    "runtime.log_level": "WARNING",
    "normalize.data_writer.disable_compression": True,
    # Merge staging tables are emptied after each load instead of keeping a second copy of every row.
    "load.truncate_staging_dataset": True,
    # Arrow tables get dlt's load id and row id columns too, so they fit tables that dict loads created.
    "normalize.parquet_normalizer.add_dlt_load_id": True,
    "normalize.parquet_normalizer.add_dlt_id": True,
    # Big tables are written as several load files, which dlt's load workers COPY into PostgreSQL in parallel.
    "data_writer.file_max_items": LOAD_FILE_ROWS,
    # Ctrl-C (SIGINT) or SIGTERM interrupts the whole cycle. dlt would catch it in normalize and load, fail only that
    # step and let the run go on; the next run completes the half-finished load package instead (load_batch).
    "runtime.intercept_signals": False,
}
# Arrow tables carry JSON as text under a `json` column hint; dlt warns that the hints differ on every load, while
# PostgreSQL parsing the text into jsonb is exactly what is meant.
_EXPECTED_DLT_WARNINGS = ("when merging arrow schema with dlt schema, several column hints were different",)


class _ExpectedWarnings(logging.Filter):
    """Drops dlt's warnings about differences ModelAtlas makes on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(expected in message for expected in _EXPECTED_DLT_WARNINGS)


_EXPECTED_WARNINGS_FILTER = _ExpectedWarnings()


@dataclass(frozen=True)
class LoadSummary:
    """What one load wrote: rows per table, the load id and how long it took."""

    load_id: str | None
    row_counts: dict[str, int] = field(default_factory=dict)
    elapsed_s: float = 0.0


def configure_dlt() -> None:
    """Give dlt ModelAtlas's settings (the environment's values, when set, still win)."""
    for key, value in DLT_SETTINGS.items():
        dlt.config[key] = value
    # dlt resolves its runtime settings (telemetry among them) once, when its configuration is first touched: here,
    # before the values above were set. Resolved again, they take effect, and the anonymous tracker started with the
    # defaults is stopped.
    stop_telemetry()
    dlt.current.run_context().initialize_runtime()


def make_pipeline(name: str, dataset_name: str, warehouse_url: str, pipelines_dir: Path) -> dlt.Pipeline:
    """A dlt pipeline writing `dataset_name` (one `raw_*` schema) into the warehouse."""
    configure_dlt()
    dlt_logger = logging.getLogger("dlt")
    if _EXPECTED_WARNINGS_FILTER not in dlt_logger.filters:
        dlt_logger.addFilter(_EXPECTED_WARNINGS_FILTER)
    pipelines_dir.mkdir(parents=True, exist_ok=True)
    return dlt.pipeline(
        pipeline_name=name,
        destination=dlt.destinations.postgres(credentials=warehouse_url),
        dataset_name=dataset_name,
        pipelines_dir=str(pipelines_dir),
    )


def row_count(rows: Rows | None) -> int:
    """How many rows a table's batch holds."""
    if rows is None:
        return 0
    return rows.num_rows if isinstance(rows, pa.Table) else len(rows)


def table_items(rows: Rows | None) -> Iterator[Any]:
    """The items of one table's rows as dlt is given them: the list of dicts, or an Arrow table's slices."""
    if isinstance(rows, pa.Table):
        # Slices of one load file each: dlt writes every item it is given into one file, whatever its size.
        for offset in range(0, rows.num_rows, LOAD_FILE_ROWS):
            yield rows.slice(offset, LOAD_FILE_ROWS)
    elif rows:
        yield list(rows)


def _table_hints(table: TableSpec) -> dict[str, Any]:
    hints: dict[str, Any] = {"columns": table.column_hints()}
    if table.primary_key:
        hints["primary_key"] = list(table.primary_key)
    if table.file_format is not None:
        hints["file_format"] = table.file_format
    return hints


def table_resource(table: TableSpec, rows: Rows | None, disposition: Any) -> DltResource:
    """One declared table as a dlt resource over `rows`."""
    resource: DltResource = dlt.resource(
        table_items(rows), name=table.name, write_disposition=disposition, **_table_hints(table)
    )
    return resource


STATE_RESOURCE = "source_state"


def _keep_state(state: Mapping[str, Any]) -> Iterator[Any]:
    # dlt commits the source state a resource sets while it extracts, in the same load as the rows.
    dlt.current.source_state().update(state)
    yield from ()


def saved_state(pipeline: dlt.Pipeline, source_name: str) -> dict[str, Any]:
    """The state the source's loads kept in `pipeline` (restored from the warehouse when the local copy is new)."""
    sources = pipeline.state.get("sources", {})
    if source_name not in sources:
        pipeline.sync_destination()
        sources = pipeline.state.get("sources", {})
    return dict(sources.get(source_name, {}))


def raw_source(name: str, resources: list[DltResource], state: Mapping[str, Any] | None = None) -> DltSource:
    """The resources as one dlt source named after the ModelAtlas source (its dlt schema's name); `state`, when
    given, is saved as the source's dlt state with the load."""

    def tables() -> list[DltResource]:
        if state is None:
            return resources
        return [*resources, dlt.resource(_keep_state(state), name=STATE_RESOURCE)]

    return dlt.source(name=name, max_table_nesting=0)(tables)()


def sibling_pipeline(pipeline: dlt.Pipeline, dataset_name: str) -> dlt.Pipeline:
    """`pipeline` itself for its own dataset; else a pipeline of the same source into `dataset_name` (its own state)."""
    if dataset_name == pipeline.dataset_name:
        return pipeline
    return dlt.pipeline(
        pipeline_name=f"{pipeline.pipeline_name}__{dataset_name}",
        destination=pipeline.destination,
        dataset_name=dataset_name,
        pipelines_dir=pipeline.pipelines_dir,
    )


def load_batch(
    pipeline: dlt.Pipeline,
    spec: SourceSpec,
    rows: Mapping[str, Rows],
    observed_at: datetime | None = None,
    empty: AbstractSet[str] = frozenset(),
    tables: Sequence[TableSpec] | None = None,
    state: Mapping[str, Any] | None = None,
) -> LoadSummary:
    """Load the rows of the declared tables (`tables`, else all) in one dlt run, after completing any load an earlier
    run left unfinished; `state` is kept as the source's dlt state with the rows.

    A merge of unique rows into a table that is `empty` is an append: there is nothing to merge with, and the merge's
    staging copy and insert took half of a big first load.
    """
    started = time.monotonic()
    try:
        if pipeline.has_pending_data:
            # Given data while packages are pending, dlt loads only the pending ones and drops the new data.
            log.info("%s: completing a load an earlier run left unfinished", pipeline.pipeline_name)
            pipeline.run()
        resources = []
        for table in spec.tables if tables is None else tables:
            disposition = table.write_disposition(observed_at)
            if table.unique_rows and table.disposition == "merge" and table.name in empty:
                disposition = "append"
            resources.append(table_resource(table, rows.get(table.name), disposition))
        info: LoadInfo = pipeline.run(raw_source(spec.name, resources, state))
    except Exception as exc:
        cause = root_cause(exc)
        if isinstance(cause, SourceError):
            raise type(cause)(str(cause)) from None
        raise WarehouseError(redact(f"loading {spec.name} into the warehouse failed: {cause}")) from None
    info.raise_on_failed_jobs()
    trace = pipeline.last_trace
    counts: dict[str, int] = {}
    if trace is not None and trace.last_normalize_info is not None:
        counts = {
            table: count
            for table, count in trace.last_normalize_info.row_counts.items()
            if not table.startswith("_dlt")
        }
    return LoadSummary(
        load_id=info.loads_ids[-1] if info.loads_ids else None,
        row_counts=counts,
        elapsed_s=time.monotonic() - started,
    )


def create_tables(pipeline: dlt.Pipeline, spec: SourceSpec, tables: Sequence[TableSpec] | None = None) -> None:
    """Create the declared tables of `spec` (`tables`, else all), empty, with their columns, without fetching anything.

    dbt's staging models read these tables even for a source that is skipped or has never loaded. Nothing merges
    into an empty table, so each is created by an append of dlt's empty-table marker.
    """
    markers = [
        dlt.resource(
            iter([dlt.mark.materialize_table_schema()]),
            name=table.name,
            write_disposition="append",
            **{name: hint for name, hint in _table_hints(table).items() if name != "file_format"},
        )
        for table in (spec.tables if tables is None else tables)
    ]
    try:
        pipeline.run(raw_source(spec.name, markers))
    except Exception as exc:
        raise WarehouseError(redact(f"creating the {spec.name} tables failed: {root_cause(exc)}")) from None


def root_cause(exc: BaseException) -> BaseException:
    """The SourceError an exception chain carries (dlt wraps a source's errors), else the chain's innermost."""
    seen: set[int] = set()
    while id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, SourceError):
            return exc
        nested = exc.__cause__ or exc.__context__
        if nested is None:
            break
        exc = nested
    return exc
