"""The validation gate on plain batches: every table's rows against its suite and its declared columns.

Row-level failures are quarantined and the other rows pass; a batch-level failure in any table blocks the whole
batch, so the warehouse keeps the previous data untouched. Nothing here touches dlt or the warehouse.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any

import pyarrow as pa

from modelatlas.pipelines.loading import row_count
from modelatlas.pipelines.quality.validation import Baseline, Verdict, validate_batch
from modelatlas.pipelines.spec import Batch, Rows, SourceSpec
from modelatlas.settings import GateSettings

# (the row's key as text, the row, the expectations it failed)
QuarantinedRow = tuple[str | None, Mapping[str, Any], list[str]]


@dataclass
class GateResult:
    """What the gate decided for one batch: each table's verdict, the rows that may load, the rows kept aside."""

    batch_id: str
    verdicts: dict[str, Verdict] = field(default_factory=dict)
    passing: dict[str, Rows] = field(default_factory=dict)
    quarantined: dict[str, list[QuarantinedRow]] = field(default_factory=dict)

    @property
    def blocked(self) -> bool:
        """True when a batch-level guard failed: nothing of the batch may load."""
        return any(verdict.blocked for verdict in self.verdicts.values())

    def quarantined_counts(self) -> dict[str, int]:
        """Rows kept aside per table."""
        return {table: len(rows) for table, rows in self.quarantined.items()}

    def block_message(self, source: str) -> str:
        """One readable line: which guard blocked which table, and that nothing was loaded."""
        reasons = [
            f"{table}: {reason}" for table, v in self.verdicts.items() if v.blocked for reason in v.block_reasons
        ]
        return (
            f"{source}: batch {self.batch_id} blocked by the quality gate, nothing loaded, previous data kept "
            f"({'; '.join(reasons)})"
        )


def batch_id_of(tables: Mapping[str, Rows], now: datetime | None = None) -> str:
    """The batch's id: the `batch_id` its rows carry, else the time of validation."""
    for rows in tables.values():
        if isinstance(rows, pa.Table):
            if "batch_id" in rows.column_names and rows.num_rows:
                return str(rows.column("batch_id")[0].as_py())
        elif rows and rows[0].get("batch_id"):
            return str(rows[0]["batch_id"])
    return (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%S.%fZ")


# A table with at most this many failing rows passes as slices of itself between them, else as a filtered copy.
MAX_SLICED_FAILURES = 100


def passing_runs(mask: Sequence[bool]) -> list[tuple[int, int]]:
    """(offset, length) of each run of rows whose flag is True, in order."""
    bounds = [-1, *(position for position, keep in enumerate(mask) if not keep), len(mask)]
    return [(before + 1, after - before - 1) for before, after in pairwise(bounds) if after - before > 1]


def passing_rows(rows: Rows, mask: Sequence[bool]) -> Rows:
    """The rows whose flag is True, in the batch's own shape.

    A table with few failing rows gives slices of itself: filtering copied a month of requests (340 MiB of Arrow
    buffers, still held by the batch) to leave out its five malformed lines.
    """
    if not isinstance(rows, pa.Table):
        return [row for row, keep in zip(rows, mask, strict=True) if keep]
    if len(mask) != rows.num_rows:
        raise ValueError(f"{len(mask)} flags for {rows.num_rows} rows")
    if mask.count(False) > MAX_SLICED_FAILURES:
        return rows.filter(pa.array(list(mask), type=pa.bool_()))
    runs = passing_runs(mask)
    return pa.concat_tables([rows.slice(offset, length) for offset, length in runs]) if runs else rows.slice(0, 0)


def _row_at(rows: Rows, position: int) -> Mapping[str, Any]:
    if isinstance(rows, pa.Table):
        row: Mapping[str, Any] = rows.slice(position, 1).to_pylist()[0]
        return row
    return rows[position]


def quarantine_rows(rows: Rows, verdict: Verdict, everything_with: list[str] | None = None) -> list[QuarantinedRow]:
    """(key, row, failed expectations) of every row that failed a row-level expectation.

    With `everything_with` (the reasons a batch was blocked), every row of the table, those reasons first.
    """
    failures = verdict.row_failures()
    if everything_with is not None:
        failures = {position: [*everything_with, *failures.get(position, [])] for position in range(row_count(rows))}
    entries = []
    for position, failed in sorted(failures.items()):
        row = _row_at(rows, position)
        parts = [row.get(name) for name in verdict.suite.key]
        key = None if all(part is None for part in parts) else "/".join(str(part) for part in parts)
        entries.append((key, row, failed))
    return entries


def gate_batch(
    spec: SourceSpec,
    batch: Batch,
    baselines: Mapping[str, Baseline],
    settings: GateSettings,
    now: datetime | None = None,
) -> GateResult:
    """Validate each table of `batch` that has a suite; the result holds the rows that may load (none if blocked).

    Tables without a suite pass unvalidated. A blocked batch is kept aside whole, each row with the reasons, so
    nothing extracted is lost.
    """
    result = GateResult(batch_id=batch_id_of(batch.tables, now))
    for table in spec.tables:
        rows = batch.tables.get(table.name, [])
        if table.suite is not None:
            result.verdicts[table.name] = validate_batch(
                table.suite, rows, baselines.get(table.name), settings, now, declared=tuple(table.columns)
            )
    reasons = [f"batch blocked: {table}: {r}" for table, v in result.verdicts.items() for r in v.block_reasons]
    for name, verdict in result.verdicts.items():
        result.quarantined[name] = quarantine_rows(batch.tables.get(name, []), verdict, everything_with=reasons or None)
    if result.blocked:
        return result
    for table in spec.tables:
        rows = batch.tables.get(table.name, [])
        judged = result.verdicts.get(table.name)
        result.passing[table.name] = passing_rows(rows, judged.passing_mask()) if judged is not None else rows
    return result
