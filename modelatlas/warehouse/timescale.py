"""Every TimescaleDB statement ModelAtlas runs, built from Timescale's documented SQL API and nothing else.

TimescaleDB 2.13 is the first release that supports PostgreSQL 16 (the oldest server ModelAtlas supports), so the
generalized `create_hypertable(..., by_range(...))` interface of 2.13 is always there. Compression uses the
`timescaledb.compress` settings and `add_compression_policy`: they work on every 2.x release, while the columnstore
names that replace them (`timescaledb.enable_columnstore`, `add_columnstore_policy`) exist only from 2.18, and the
docs state the compression API stays supported ("you do not need to migrate to the hypercore APIs").
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from psycopg import sql

from modelatlas.pipelines.spec import TableSpec

EXTENSION = "timescaledb"
# A week per chunk: a year of one-minute probes of 20 targets is about 200k rows per chunk, and compression after
# 7 days then takes whole chunks.
CHUNK_INTERVAL = timedelta(days=7)
COMPRESS_AFTER = timedelta(days=7)
# timescaledb.license of a build without the Community features (compression, continuous aggregates, policies).
APACHE_LICENSE = "apache"
# Columns a table needs for the availability and latency rollups (ts.probe_results has them).
ROLLUP_COLUMNS = frozenset({"provider", "region", "ok", "total_ms", "ttfb_ms", "dns_connect_ms"})
PERCENTILES = (0.5, 0.95, 0.99)


@dataclass(frozen=True)
class Rollup:
    """One continuous aggregate over a probe table: its bucket and its refresh policy."""

    suffix: str
    bucket: timedelta
    # The bucket's start: `hour_start` as in dbt's int_probe_results_hourly; `day_start` (a timestamptz: a continuous
    # aggregate keeps time_bucket's type) where int_probe_results_daily has the date `day`.
    bucket_column: str
    # How far back each refresh looks, at most: always less than the retention, or a refresh would wipe the
    # aggregates of raw data the retention policy already dropped.
    start_offset: timedelta
    end_offset: timedelta
    schedule_interval: timedelta

    def view(self, table: TableSpec) -> str:
        """The view's name."""
        return f"{table.name}_{self.suffix}"

    def refresh_start(self, retention_days: int) -> timedelta:
        """The refresh window's start offset under a retention of `retention_days`."""
        return min(self.start_offset, timedelta(days=retention_days - 1))


HOURLY = Rollup(
    "hourly", timedelta(hours=1), "hour_start", timedelta(days=3), timedelta(hours=1), timedelta(minutes=30)
)
DAILY = Rollup("daily", timedelta(days=1), "day_start", timedelta(days=40), timedelta(hours=1), timedelta(hours=1))
ROLLUPS = (HOURLY, DAILY)


def interval(span: timedelta) -> sql.Composed:
    """`INTERVAL '<n> <unit>'` for a span of whole days, hours, minutes or seconds."""
    seconds = int(span.total_seconds())
    for unit, size in (("day", 86_400), ("hour", 3_600), ("minute", 60), ("second", 1)):
        if seconds % size == 0:
            count = seconds // size
            return sql.SQL("INTERVAL {}").format(sql.Literal(f"{count} {unit}{'' if count == 1 else 's'}"))
    raise ValueError(f"{span} is not a whole number of seconds")


def relation(schema: str, name: str) -> sql.Literal:
    """A REGCLASS argument: the schema-qualified, quoted name as a text literal."""
    return sql.Literal(sql.Identifier(schema, name).as_string(None))


def create_extension() -> sql.Composed:
    """Create the extension in the warehouse database (it must be in shared_preload_libraries already)."""
    # https://www.tigerdata.com/docs/self-hosted/latest/install (CREATE EXTENSION IF NOT EXISTS timescaledb)
    return sql.SQL("CREATE EXTENSION IF NOT EXISTS {}").format(sql.Identifier(EXTENSION))


def create_hypertable(table: TableSpec, schema: str, *, migrate_data: bool = False) -> sql.Composed:
    """Turn the plain table into a hypertable partitioned on its time column, a chunk per CHUNK_INTERVAL."""
    assert table.time_column is not None
    # https://www.tigerdata.com/docs/api/latest/hypertable/create_hypertable (generalized API, since 2.13):
    # create_hypertable(relation, dimension => by_range(column, partition_interval), if_not_exists, migrate_data)
    statement = sql.SQL(
        "SELECT create_hypertable({relation}, by_range({column}, {chunk}), if_not_exists => TRUE"
    ).format(
        relation=relation(schema, table.name),
        column=sql.Literal(table.time_column),
        chunk=interval(CHUNK_INTERVAL),
    )
    if migrate_data:
        statement = sql.Composed([statement, sql.SQL(", migrate_data => TRUE")])
    return sql.Composed([statement, sql.SQL(")")])


def compression_settings(table: TableSpec, schema: str, segment_by: Sequence[str]) -> sql.Composed:
    """Enable compression, segmented by the key columns and ordered by time, newest first."""
    assert table.time_column is not None
    # https://www.tigerdata.com/docs/api/latest/compression/alter_table_compression
    # ALTER TABLE <table> SET (timescaledb.compress, timescaledb.compress_orderby = '...',
    #                          timescaledb.compress_segmentby = '...')
    return sql.SQL(
        "ALTER TABLE {table} SET (timescaledb.compress, timescaledb.compress_segmentby = {segment_by}, "
        "timescaledb.compress_orderby = {order_by})"
    ).format(
        table=sql.Identifier(schema, table.name),
        segment_by=sql.Literal(", ".join(segment_by)),
        order_by=sql.Literal(f"{table.time_column} DESC"),
    )


def compression_policy(table: TableSpec, schema: str) -> sql.Composed:
    """Compress chunks once they are older than COMPRESS_AFTER."""
    # https://www.tigerdata.com/docs/api/latest/compression/add_compression_policy
    # add_compression_policy(hypertable, compress_after => INTERVAL, if_not_exists => BOOLEAN)
    return sql.SQL(
        "SELECT add_compression_policy({relation}, compress_after => {after}, if_not_exists => TRUE)"
    ).format(relation=relation(schema, table.name), after=interval(COMPRESS_AFTER))


def retention_policy(table: TableSpec, schema: str, retention_days: int) -> sql.Composed:
    """Drop chunks whose data is older than the retention (MODELATLAS_TS_RETENTION_DAYS)."""
    # https://www.tigerdata.com/docs/api/latest/data-retention/add_retention_policy
    # add_retention_policy(relation, drop_after => INTERVAL, if_not_exists => BOOLEAN)
    return sql.SQL("SELECT add_retention_policy({relation}, drop_after => {after}, if_not_exists => TRUE)").format(
        relation=relation(schema, table.name), after=interval(timedelta(days=retention_days))
    )


def remove_retention_policy(table: TableSpec, schema: str) -> sql.Composed:
    """Remove the retention policy (before adding one with another retention: only one may exist)."""
    # https://www.tigerdata.com/docs/api/latest/data-retention/remove_retention_policy
    return sql.SQL("SELECT remove_retention_policy({relation}, if_exists => TRUE)").format(
        relation=relation(schema, table.name)
    )


def drop_chunks(table: TableSpec, schema: str, older_than: datetime) -> sql.Composed:
    """Drop the chunks whose whole range is older than `older_than` (the Apache-licensed retention)."""
    # https://www.tigerdata.com/docs/api/latest/hypertable/drop_chunks (drop_chunks(relation, older_than => ...))
    return sql.SQL("SELECT drop_chunks({relation}, older_than => {older_than})").format(
        relation=relation(schema, table.name), older_than=sql.Literal(older_than)
    )


def has_rollups(table: TableSpec) -> bool:
    """True for a probe-shaped table: the availability and latency rollups apply to it."""
    return table.time_column is not None and ROLLUP_COLUMNS.issubset(table.columns)


def rollup_query(table: TableSpec, schema: str, rollup: Rollup) -> sql.Composed:
    """The rollup's SELECT per provider, region and bucket: probes, successes, availability, and the percentiles of
    the successful probes' timings (a failure's timing measures the failure), as the plain-PostgreSQL rollups."""
    assert table.time_column is not None
    # https://www.tigerdata.com/docs/api/latest/hyperfunctions/time_bucket: time_bucket(bucket_width, ts); on a
    # timestamptz the buckets start at midnight UTC.
    bucket = sql.SQL("time_bucket({width}, {column})").format(
        width=interval(rollup.bucket), column=sql.Identifier(table.time_column)
    )
    timings = [("total_ms", fraction) for fraction in PERCENTILES] + [("ttfb_ms", 0.5), ("dns_connect_ms", 0.5)]
    percentiles = sql.SQL(", ").join(
        sql.SQL("percentile_cont({fraction}) WITHIN GROUP (ORDER BY {column}) FILTER (WHERE ok) AS {name}").format(
            fraction=sql.Literal(fraction),
            column=sql.Identifier(column),
            name=sql.Identifier(f"{column}_p{round(fraction * 100)}"),
        )
        for column, fraction in timings
    )
    # Ordered-set aggregates (percentile_cont) and FILTER are supported in continuous aggregates since 2.7:
    # https://docs.timescale.com/use-timescale/latest/continuous-aggregates/about-continuous-aggregates/
    return sql.SQL(
        "SELECT provider, region, {bucket} AS {bucket_column}, count(*) AS probes, "
        "count(*) FILTER (WHERE ok) AS probes_ok, "
        "round(100.0 * count(*) FILTER (WHERE ok) / count(*), 2)::numeric(5, 2) AS availability_pct, "
        "{percentiles}, max({time}) AS last_observed_at FROM {table} GROUP BY provider, region, {bucket}"
    ).format(
        bucket=bucket,
        bucket_column=sql.Identifier(rollup.bucket_column),
        percentiles=percentiles,
        time=sql.Identifier(table.time_column),
        table=sql.Identifier(schema, table.name),
    )


def continuous_aggregate(table: TableSpec, schema: str, rollup: Rollup) -> sql.Composed:
    """The rollup as a continuous aggregate, materialized by its refresh policy."""
    # https://www.tigerdata.com/docs/api/latest/continuous-aggregates/create_materialized_view
    # CREATE MATERIALIZED VIEW <view> WITH (timescaledb.continuous [, timescaledb.<option> = <value>]) AS
    #   SELECT ... GROUP BY time_bucket(<const>, <time column>), ... [WITH NO DATA]
    # materialized_only = false: queries add the buckets not materialized yet (real-time aggregation), so the
    # current hour and day are there too. WITH NO DATA: the refresh policy materializes, not the DDL (which may then
    # run inside a transaction).
    return sql.SQL(
        "CREATE MATERIALIZED VIEW {view} WITH (timescaledb.continuous, timescaledb.materialized_only = false) "
        "AS {query} WITH NO DATA"
    ).format(view=sql.Identifier(schema, rollup.view(table)), query=rollup_query(table, schema, rollup))


def continuous_aggregate_policy(table: TableSpec, schema: str, rollup: Rollup, retention_days: int) -> sql.Composed:
    """Refresh the rollup's recent buckets on its schedule."""
    # https://www.tigerdata.com/docs/api/latest/continuous-aggregates/add_continuous_aggregate_policy
    # add_continuous_aggregate_policy(continuous_aggregate, start_offset, end_offset, schedule_interval, if_not_exists)
    return sql.SQL(
        "SELECT add_continuous_aggregate_policy({view}, start_offset => {start}, end_offset => {end}, "
        "schedule_interval => {schedule}, if_not_exists => TRUE)"
    ).format(
        view=relation(schema, rollup.view(table)),
        start=interval(rollup.refresh_start(retention_days)),
        end=interval(rollup.end_offset),
        schedule=interval(rollup.schedule_interval),
    )


def refresh_continuous_aggregate(
    table: TableSpec, schema: str, rollup: Rollup, start: datetime | None, end: datetime | None
) -> sql.Composed:
    """Materialize a window by hand (after a backfill older than the policy's refresh window)."""
    # https://www.tigerdata.com/docs/api/latest/continuous-aggregates/refresh_continuous_aggregate
    # CALL refresh_continuous_aggregate(continuous_aggregate, window_start, window_end); NULL: open-ended.
    return sql.SQL("CALL refresh_continuous_aggregate({view}, {start}, {end})").format(
        view=relation(schema, rollup.view(table)),
        start=sql.Literal(start) if start is not None else sql.SQL("NULL::timestamptz"),
        end=sql.Literal(end) if end is not None else sql.SQL("NULL::timestamptz"),
    )


def setup_statements(
    table: TableSpec,
    schema: str,
    *,
    segment_by: Sequence[str],
    retention_days: int,
    compression_enabled: bool = False,
    existing_views: Sequence[str] = (),
) -> list[sql.Composed]:
    """The Community-licensed setup of one hypertable: compression, its policy, retention and the rollups.

    Every statement can run again: compression settings only while compression is off (they cannot change under
    compressed chunks), views only when missing, policies with `if_not_exists`.
    """
    statements = [] if compression_enabled else [compression_settings(table, schema, segment_by)]
    statements += [compression_policy(table, schema), retention_policy(table, schema, retention_days)]
    if has_rollups(table):
        for rollup in ROLLUPS:
            if rollup.view(table) not in existing_views:
                statements.append(continuous_aggregate(table, schema, rollup))
            statements.append(continuous_aggregate_policy(table, schema, rollup, retention_days))
    return statements


def migration_statements(table: TableSpec, schema: str) -> list[sql.Composed]:
    """Move a natively partitioned table into a hypertable: new table, copy, swap (run by hand, in a quiet period).

    A partitioned table cannot become a hypertable in place; Timescale documents this copy for a table in the same
    database. The old table is kept as `<name>_partitioned` until its owner drops it; the next maintenance adds
    compression, retention and the rollups to the new hypertable.
    """
    assert table.time_column is not None
    new = f"{table.name}_hypertable"
    old = f"{table.name}_partitioned"
    statements = [
        sql.Composed([sql.SQL("BEGIN")]),
        # Writers wait; readers go on reading the old table until the swap.
        sql.SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(sql.Identifier(schema, table.name)),
        # https://www.tigerdata.com/docs/self-hosted/latest/migration/same-db
        # CREATE TABLE new_table (LIKE old_table INCLUDING DEFAULTS INCLUDING CONSTRAINTS EXCLUDING INDEXES)
        sql.SQL("CREATE TABLE {new} (LIKE {old} INCLUDING DEFAULTS INCLUDING CONSTRAINTS EXCLUDING INDEXES)").format(
            new=sql.Identifier(schema, new), old=sql.Identifier(schema, table.name)
        ),
        create_hypertable(replace(table, name=new), schema),
        sql.SQL("INSERT INTO {new} SELECT * FROM {old}").format(
            new=sql.Identifier(schema, new), old=sql.Identifier(schema, table.name)
        ),
        sql.SQL("ALTER TABLE {} RENAME TO {}").format(sql.Identifier(schema, table.name), sql.Identifier(old)),
    ]
    # The old table's indexes keep their names; renamed, the hypertable's own get them on the next maintenance.
    for index in (brin_index_name(table), key_index_name(table, key_columns(table))):
        statements.append(
            sql.SQL("ALTER INDEX IF EXISTS {} RENAME TO {}").format(
                sql.Identifier(schema, index), sql.Identifier(index_name(old, index[len(table.name) + 1 :]))
            )
        )
    statements += [
        sql.SQL("ALTER TABLE {} RENAME TO {}").format(sql.Identifier(schema, new), sql.Identifier(table.name)),
        sql.Composed([sql.SQL("COMMIT")]),
    ]
    return statements


def key_columns(table: TableSpec, explicit: Sequence[str] | None = None) -> tuple[str, ...]:
    """The columns a series is keyed by (provider...): `explicit`, else the primary key, else its first text column."""
    if explicit:
        return tuple(explicit)
    keys = tuple(column for column in table.primary_key if column != table.time_column)
    if keys:
        return keys
    texts = [name for name, data_type in table.columns.items() if data_type == "text" and name != table.time_column]
    required = [name for name in texts if name in table.not_null]
    return tuple((required or texts)[:1])


def index_name(table_name: str, suffix: str) -> str:
    """`<table>_<suffix>`, kept within PostgreSQL's 63-byte identifiers."""
    name = f"{table_name}_{suffix}"
    if len(name) <= 63:
        return name
    return f"{name[:54]}_{hashlib.blake2b(name.encode(), digest_size=4).hexdigest()}"


def brin_index_name(table: TableSpec) -> str:
    """The BRIN index on the time column (native partitions)."""
    assert table.time_column is not None
    return index_name(table.name, f"{table.time_column}_brin")


def key_index_name(table: TableSpec, keys: Sequence[str]) -> str:
    """The btree index on (keys..., time DESC): the latest rows per provider."""
    assert table.time_column is not None
    return index_name(table.name, "_".join([*keys, table.time_column]) + "_idx")


# Status queries, each on a documented informational view or function.
# https://www.tigerdata.com/docs/api/latest/informational-views/hypertables
HYPERTABLES_QUERY = (
    "select hypertable_name, num_chunks, compression_enabled from timescaledb_information.hypertables "
    "where hypertable_schema = %s"
)
# https://www.tigerdata.com/docs/api/latest/informational-views/chunks
CHUNKS_QUERY = (
    "select count(*), count(*) filter (where is_compressed), min(range_start), max(range_end) "
    "from timescaledb_information.chunks where hypertable_schema = %s and hypertable_name = %s"
)
# https://www.tigerdata.com/docs/api/latest/compression/hypertable_compression_stats
COMPRESSION_STATS_QUERY = (
    "select sum(before_compression_total_bytes), sum(after_compression_total_bytes) "
    "from hypertable_compression_stats(%s::regclass)"
)
# https://www.tigerdata.com/docs/api/latest/hypertable/hypertable_size and
# https://www.tigerdata.com/docs/api/latest/hyperfunctions/approximate_row_count
SIZE_QUERY = "select hypertable_size(%s::regclass), approximate_row_count(%s::regclass)"
# https://www.tigerdata.com/docs/api/latest/informational-views/jobs
JOBS_QUERY = (
    "select proc_name, schedule_interval::text, config::text from timescaledb_information.jobs "
    "where hypertable_schema = %s and hypertable_name = %s order by job_id"
)
# https://www.tigerdata.com/docs/api/latest/informational-views/continuous_aggregates
CONTINUOUS_AGGREGATES_QUERY = (
    "select view_name, hypertable_name, materialized_only from timescaledb_information.continuous_aggregates "
    "where view_schema = %s order by view_name"
)
# The retention policy's drop_after, to replace a policy whose retention the setting changed.
RETENTION_JOB_QUERY = (
    "select (config ->> 'drop_after')::interval = make_interval(days => %s) from timescaledb_information.jobs "
    "where proc_name = 'policy_retention' and hypertable_schema = %s and hypertable_name = %s"
)
