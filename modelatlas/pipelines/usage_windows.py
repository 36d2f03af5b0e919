"""What the usage API sources share: the backfill setting, the window each run reads, and the key of a bucket row.

Usage APIs report time buckets that the providers restate for a while (late requests, reconciled batches). Each run
reads from two buckets before the newest bucket the last run saw, and every row is keyed by what identifies its
bucket (endpoint, start, group values), never by its counts: a restated bucket replaces its row instead of adding one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pyarrow as pa

from modelatlas.errors import ConfigurationError
from modelatlas.pipelines.quality.suite import Suite
from modelatlas.pipelines.spec import DataType, Setting, TableSpec

BACKFILL_VARIABLE = "MODELATLAS_USAGE_BACKFILL_DAYS"
DEFAULT_BACKFILL_DAYS = 30
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
# Buckets read again on every run: the providers restate their most recent ones.
REREAD_BUCKETS = 2
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ARROW_TYPES: dict[DataType, pa.DataType] = {
    "text": pa.string(),
    "bigint": pa.int64(),
    "double": pa.float64(),
    "bool": pa.bool_(),
    "timestamp": pa.timestamp("us", tz="UTC"),
    "date": pa.date32(),
    "json": pa.string(),
    "decimal": pa.decimal128(38, 18),
}


def parse_backfill_days(raw: str, variable: str) -> int:
    """The days of usage a first run reads: a whole number of at least 1."""
    text = raw.strip()
    days = int(text) if text.isascii() and text.isdigit() else 0
    if days < 1:
        raise ConfigurationError(f"{variable} must be a whole number of days of at least 1, got {raw!r}")
    return days


BACKFILL_SETTING = Setting(
    "BACKFILL_DAYS",
    str(DEFAULT_BACKFILL_DAYS),
    "the days of usage the first run reads; later runs continue from the newest bucket loaded",
    option="backfill_days",
    parse=parse_backfill_days,
    variable=BACKFILL_VARIABLE,
)


def as_utc(at: datetime) -> datetime:
    """`at` as an aware UTC datetime (a naive one is taken to be UTC)."""
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def bucket_floor(at: datetime, bucket: timedelta) -> datetime:
    """The start of the bucket of width `bucket` holding `at`: buckets are aligned to the Unix epoch, in UTC."""
    elapsed = as_utc(at) - _EPOCH
    return _EPOCH + (elapsed // bucket) * bucket


def parse_cursor(cursor: str | None) -> datetime | None:
    """The time a saved cursor names (an ISO date or datetime, naive as UTC); None when there is none or it is no
    time (the run then backfills, which a merge on the bucket key makes harmless)."""
    if not cursor:
        return None
    try:
        return as_utc(datetime.fromisoformat(cursor))
    except ValueError:
        return None


def window_start(cursor: str | None, now: datetime, bucket: timedelta, backfill_days: int) -> datetime:
    """Where a run starts reading: two buckets before the saved cursor, or `backfill_days` before `now` without one.

    Truncated to the bucket width, in UTC, and never after the bucket holding `now` (a cursor from a clock ahead).
    """
    saved = parse_cursor(cursor)
    start = saved - REREAD_BUCKETS * bucket if saved is not None else as_utc(now) - timedelta(days=backfill_days)
    return min(bucket_floor(start, bucket), bucket_floor(now, bucket))


def cursor_text(start: datetime, bucket: timedelta) -> str:
    """A bucket start as the state keeps it: an ISO date for day buckets, an ISO UTC datetime otherwise."""
    at = as_utc(start)
    if bucket % DAY == timedelta(0) and at == bucket_floor(at, DAY):
        return at.date().isoformat()
    return at.isoformat()


def newest_cursor(starts: Iterable[datetime | None], kept: str | None, bucket: timedelta) -> str | None:
    """The cursor to save: the newest bucket start read, never older than the cursor `kept` from the last run."""
    candidates = [as_utc(start) for start in starts if start is not None]
    saved = parse_cursor(kept)
    if saved is not None:
        candidates.append(saved)
    return cursor_text(max(candidates), bucket) if candidates else None


def unix_seconds(at: datetime) -> int:
    """`at` as whole Unix seconds (rounded down)."""
    return int((as_utc(at) - _EPOCH) // timedelta(seconds=1))


def _key_part(value: Any) -> Any:
    if isinstance(value, datetime):
        return as_utc(value).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def bucket_key(*parts: Any) -> str:
    """A stable hex digest of what identifies a bucket row; None, "" , False and "false" are all different parts."""
    encoded = json.dumps(list(parts), default=_key_part, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(encoded.encode()).hexdigest()


def empty_rows(columns: Mapping[str, DataType]) -> pa.Table:
    """A table's batch without rows that still has its declared columns (the gate blocks a batch missing one)."""
    return pa.table({name: pa.array([], type=_ARROW_TYPES[data_type]) for name, data_type in columns.items()})


def rows_or_empty(rows: list[dict[str, Any]], columns: Mapping[str, DataType]) -> list[dict[str, Any]] | pa.Table:
    """`rows`, or the declared columns without rows when there are none."""
    return rows if rows else empty_rows(columns)


def bucket_table(
    source: str,
    name: str,
    description: str,
    columns: Mapping[str, DataType],
    content: tuple[str, ...],
    not_null: tuple[str, ...],
    preview: tuple[str, ...],
    ranges: Mapping[str, tuple[float, float]] | None = None,
    known_values: Mapping[str, frozenset[str]] | None = None,
) -> TableSpec:
    """A table of a usage API's buckets: merged on `bucket_key` (a restated bucket replaces its row), versioned by
    the key and its `content` columns, validated on its key, `not_null`, `ranges` and `known_values`."""
    return TableSpec(
        name=name,
        description=description,
        columns=columns,
        version_columns=("bucket_key", *content),
        primary_key=("bucket_key",),
        disposition="merge",
        not_null=not_null,
        suite=Suite(
            source=source,
            entity=name,
            key=("bucket_key",),
            not_null=not_null,
            ranges=dict(ranges or {}),
            known_values=dict(known_values or {}),
        ),
        preview=preview,
    )
