"""Run a dlt source into the warehouse and report what it loaded."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dlt
from dlt.common.pipeline import LoadInfo
from dlt.destinations.exceptions import DatabaseUndefinedRelation
from dlt.extract import materialize_schema_item
from dlt.sources import DltSource

from modelatlas.errors import SourceError, WarehouseError
from modelatlas.redaction import redact

log = logging.getLogger(__name__)

# dlt reads these from the environment; ModelAtlas makes no calls home and shows no progress bars.
_DLT_DEFAULTS = {
    "RUNTIME__DLTHUB_TELEMETRY": "false",
    "RUNTIME__LOG_LEVEL": "WARNING",
    "NORMALIZE__DATA_WRITER__DISABLE_COMPRESSION": "true",
    # Merge staging tables are emptied after each load instead of keeping a second copy of every row.
    "LOAD__TRUNCATE_STAGING_DATASET": "true",
    # Arrow tables get dlt's load id and row id columns too, so they fit tables that dict loads created.
    "NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_LOAD_ID": "true",
    "NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_ID": "true",
    # Big tables are written as several load files, which dlt's load workers COPY into PostgreSQL in parallel.
    "DATA_WRITER__FILE_MAX_ITEMS": "100000",
    # Ctrl-C (SIGINT) or SIGTERM interrupts the whole cycle. dlt would catch it in normalize and load, fail only that
    # step and let the run go on; the next run completes the half-finished load package instead (run_source).
    "RUNTIME__INTERCEPT_SIGNALS": "false",
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
    """What one `pipeline.run` wrote: rows per table, the load id and how long it took."""

    load_id: str | None
    row_counts: dict[str, int] = field(default_factory=dict)
    elapsed_s: float = 0.0


def column_hints(types: Mapping[str, str], decimal_scale: int) -> dict[str, Any]:
    """dlt column hints for `{name: data_type}`, a fresh dict per column: dlt fills each in place."""
    hints: dict[str, Any] = {}
    for name, data_type in types.items():
        hints[name] = {"name": name, "data_type": data_type}
        if data_type == "decimal":
            hints[name].update(precision=38, scale=decimal_scale)
    return hints


def make_pipeline(name: str, dataset_name: str, warehouse_url: str, pipelines_dir: Path) -> dlt.Pipeline:
    """A dlt pipeline writing `dataset_name` (one `raw_*` schema) into the warehouse."""
    for key, value in _DLT_DEFAULTS.items():
        os.environ.setdefault(key, value)
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


def is_empty_table(pipeline: dlt.Pipeline, table: str) -> bool:
    """True when `table` of the pipeline's dataset has no row or does not exist yet."""
    with pipeline.sql_client() as client:
        try:
            rows = client.execute_sql(f"select 1 from {client.make_qualified_table_name(table)} limit 1")
        except DatabaseUndefinedRelation:
            return True
    return not rows


def append_where_nothing_to_merge(pipeline: dlt.Pipeline, source: DltSource) -> list[str]:
    """Load deduplicated delete-insert merges into empty tables as appends; return those tables.

    There is nothing to merge with, and the merge's staging copy and insert took half of a big first load
    (a whole Hugging Face catalog). Only resources that declare their rows unique (`deduplicated`) qualify.
    """
    appended = []
    for resource in source.selected_resources.values():
        disposition = resource.write_disposition
        if not (
            isinstance(disposition, dict)
            and disposition.get("disposition") == "merge"
            and disposition.get("strategy") == "delete-insert"
            and disposition.get("deduplicated")
            and isinstance(resource.table_name, str)
        ):
            continue
        if is_empty_table(pipeline, resource.table_name):
            resource.apply_hints(write_disposition="append")
            appended.append(resource.table_name)
    return appended


def run_source(pipeline: dlt.Pipeline, source: DltSource) -> LoadSummary:
    """Extract, normalize and load `source`, after completing any load an earlier run left half-finished."""
    started = time.monotonic()
    try:
        if pipeline.has_pending_data:
            # Given data while packages are pending, dlt loads only the pending ones and drops the new data.
            log.info("%s: completing a load an earlier run left unfinished", pipeline.pipeline_name)
            pipeline.run()
        append_where_nothing_to_merge(pipeline, source)
        info: LoadInfo = pipeline.run(source)
    except Exception as exc:
        cause = root_cause(exc)
        if isinstance(cause, SourceError):
            raise type(cause)(str(cause)) from None
        raise WarehouseError(redact(f"loading {source.name} into the warehouse failed: {cause}")) from None
    info.raise_on_failed_jobs()
    trace = pipeline.last_trace
    counts: dict[str, int] = {}
    if trace is not None and trace.last_normalize_info is not None:
        counts = {
            table: rows for table, rows in trace.last_normalize_info.row_counts.items() if not table.startswith("_dlt")
        }
    return LoadSummary(
        load_id=info.loads_ids[-1] if info.loads_ids else None,
        row_counts=counts,
        elapsed_s=time.monotonic() - started,
    )


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


def ensure_tables(pipeline: dlt.Pipeline, source: DltSource) -> None:
    """Create the source's tables, empty, when they do not exist yet, without fetching anything.

    dbt's staging models read these tables even for a provider that is skipped or down, so they must exist.
    """
    resources = []
    for name, resource in source.selected_resources.items():
        empty = dlt.resource([materialize_schema_item()], name=name)
        columns = resource.compute_table_schema()["columns"]
        declared = resource.columns if isinstance(resource.columns, dict) else {}
        for column_name, hint in declared.items():
            # dlt drops the declared type of an scd2 row-version column; an empty load needs it to create the column.
            if column_name in columns and "data_type" not in columns[column_name] and "data_type" in hint:
                columns[column_name]["data_type"] = hint["data_type"]
        disposition = resource.write_disposition
        if isinstance(disposition, dict) and disposition.get("strategy") == "scd2":
            # Given the scd2 dict again, dlt would drop that type once more; the first real load sets the strategy.
            disposition = "append"
        # The computed columns carry the primary key flags, so the merge table is created the same way.
        empty.apply_hints(columns=columns, write_disposition=disposition)
        resources.append(empty)
    try:
        pipeline.run(dlt.source(name=source.name, max_table_nesting=0)(lambda: resources)())
    except Exception as exc:
        raise WarehouseError(redact(f"creating the {source.name} tables failed: {root_cause(exc)}")) from None
