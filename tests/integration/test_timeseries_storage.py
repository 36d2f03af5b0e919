"""Time-series storage on the embedded PostgreSQL: monthly partitions made ahead, dropped past retention, loaded
through dlt; and the TimescaleDB statements bound to stand-ins with Timescale's documented signatures."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from modelatlas.pipelines.loading import make_pipeline, raw_source, table_resource
from modelatlas.pipelines.spec import DataType, TableSpec
from modelatlas.warehouse import ConnectionInfo, timescale, timeseries
from modelatlas.warehouse.service import connect
from modelatlas.warehouse.timeseries import (
    TimescaleState,
    drop_expired_partitions,
    ensure_time_series_table,
    maintain,
    months_between,
    partition_name,
    status,
    status_lines,
)

pytestmark = pytest.mark.integration

NOW = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)
PROBE_COLUMNS: dict[str, DataType] = {
    "observed_at": "timestamp",
    "provider": "text",
    "region": "text",
    "target": "text",
    "http_status": "bigint",
    "ok": "bool",
    "error_class": "text",
    "dns_connect_ms": "double",
    "ttfb_ms": "double",
    "total_ms": "double",
    "error": "text",
}


def probe_table(name: str, extra: dict[str, DataType] | None = None) -> TableSpec:
    """A table shaped like ts.probe_results."""
    return TableSpec(
        name=name,
        description="probes, for the storage tests",
        columns=PROBE_COLUMNS | (extra or {}),
        version_columns=("observed_at", "provider", "region"),
        disposition="append",
        not_null=("observed_at", "provider", "region", "ok"),
        dataset="ts",
        time_column="observed_at",
    )


@pytest.fixture
def make_table(connection: ConnectionInfo) -> Iterator[Callable[..., TableSpec]]:
    """Test tables in schema ts, dropped afterwards (the session warehouse is shared with other test files)."""
    made: list[str] = []

    def make(name: str, extra: dict[str, DataType] | None = None) -> TableSpec:
        made.append(name)
        return probe_table(name, extra)

    yield make
    with connect(connection, autocommit=True) as conn:
        for name in made:
            for table in (name, f"{name}_unpartitioned", f"{name}_partitioned"):
                conn.execute(sql.SQL("DROP TABLE IF EXISTS {} CASCADE").format(sql.Identifier("ts", table)))


def partition_names(info: ConnectionInfo, table: TableSpec) -> list[str]:
    with connect(info) as conn:
        return [part.name for part in timeseries.partitions(conn, "ts", table.name)]


def probe_row(observed_at: datetime, provider: str = "openai", ok: bool = True) -> dict[str, Any]:
    return {
        "observed_at": observed_at,
        "provider": provider,
        "region": "eu",
        "target": "https://api.example/v1/models",
        "http_status": 200 if ok else 503,
        "ok": ok,
        "error_class": None if ok else "server_error",
        "dns_connect_ms": 12.5,
        "ttfb_ms": 80.0,
        "total_ms": 95.0,
        "error": None,
    }


def copy_rows(info: ConnectionInfo, table: TableSpec, rows: Sequence[dict[str, Any]]) -> None:
    """COPY rows into the parent table, as dlt's csv loader does."""
    columns = [*PROBE_COLUMNS, "_dlt_load_id", "_dlt_id"]
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier("ts", table.name), sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    with connect(info) as conn, conn.cursor() as cursor, cursor.copy(statement) as copy:
        for number, row in enumerate(rows):
            copy.write_row([*(row[column] for column in PROBE_COLUMNS), "load-1", f"row-{number}"])


def rows_by_partition(info: ConnectionInfo, table: TableSpec) -> dict[str, int]:
    with connect(info) as conn:
        query = sql.SQL("select tableoid::regclass::text, count(*) from {} group by 1").format(
            sql.Identifier("ts", table.name)
        )
        return {name.removeprefix("ts."): count for name, count in conn.execute(query)}


def test_partitions_exist_for_the_current_and_next_month(
    connection: ConnectionInfo, make_table: Callable[..., TableSpec]
) -> None:
    table = make_table("storage_months")

    backend = ensure_time_series_table(connection, table, now=NOW)

    assert backend == "partitions"
    with connect(connection) as conn:
        parts = timeseries.partitions(conn, "ts", table.name)
        indexes = {row[0] for row in conn.execute("select indexdef from pg_indexes where tablename = %s", [table.name])}
    assert [(part.name, part.lower, part.upper) for part in parts] == [
        ("storage_months_p202603", datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC)),
        ("storage_months_p202604", datetime(2026, 4, 1, tzinfo=UTC), datetime(2026, 5, 1, tzinfo=UTC)),
    ]
    assert any("USING brin (observed_at)" in index for index in indexes)
    assert any("(provider, observed_at DESC)" in index for index in indexes)


def test_maintenance_is_idempotent(connection: ConnectionInfo, make_table: Callable[..., TableSpec]) -> None:
    table = make_table("storage_idempotent")

    first = maintain(connection, [table], now=NOW, retention_days=400)
    second = maintain(connection, [table], now=NOW, retention_days=400)
    ensure_time_series_table(connection, table, now=NOW)

    assert first.backend == "partitions"
    assert first.tables == {"ts.storage_idempotent": "partitions"}
    assert first.created == ["storage_idempotent_p202603", "storage_idempotent_p202604"]
    assert (second.created, second.dropped) == ([], [])
    assert partition_names(connection, table) == first.created


def test_next_month_partition_appears_when_the_month_turns(
    connection: ConnectionInfo, make_table: Callable[..., TableSpec]
) -> None:
    table = make_table("storage_rollover")
    maintain(connection, [table], now=NOW, retention_days=400)

    report = maintain(connection, [table], now=datetime(2026, 4, 1, 0, 0, 30, tzinfo=UTC), retention_days=400)

    assert report.created == ["storage_rollover_p202605"]


def test_rows_of_a_month_without_partition_load_after_it_is_prepared(
    connection: ConnectionInfo, make_table: Callable[..., TableSpec]
) -> None:
    table = make_table("storage_backfill")
    ensure_time_series_table(connection, table, now=NOW)
    old = probe_row(datetime(2025, 11, 20, 8, 30, tzinfo=UTC))

    with pytest.raises(psycopg.errors.CheckViolation, match="no partition"):
        copy_rows(connection, table, [old])
    ensure_time_series_table(connection, table, now=NOW, months=months_between(old["observed_at"], old["observed_at"]))
    copy_rows(connection, table, [old])

    assert rows_by_partition(connection, table) == {"storage_backfill_p202511": 1}


def test_copy_and_insert_into_the_parent_route_to_the_month_partitions(
    connection: ConnectionInfo, make_table: Callable[..., TableSpec]
) -> None:
    table = make_table("storage_routing")
    ensure_time_series_table(connection, table, now=NOW)

    copy_rows(connection, table, [probe_row(NOW), probe_row(datetime(2026, 3, 31, 23, 59, 59, tzinfo=UTC))])
    with connect(connection) as conn:
        conn.execute(
            "insert into ts.storage_routing (observed_at, provider, region, ok, _dlt_load_id, _dlt_id) "
            "values ('2026-04-01T00:00:00Z', 'anthropic', 'eu', false, 'load-2', 'row-a')"
        )

    assert rows_by_partition(connection, table) == {"storage_routing_p202603": 2, "storage_routing_p202604": 1}


def test_drop_expired_drops_only_partitions_past_retention(
    connection: ConnectionInfo, make_table: Callable[..., TableSpec]
) -> None:
    table = make_table("storage_retention")
    months = months_between(datetime(2024, 12, 1, tzinfo=UTC), NOW)
    ensure_time_series_table(connection, table, now=NOW, months=months)
    copy_rows(connection, table, [probe_row(datetime(month.year, month.month, 15, tzinfo=UTC)) for month in months])

    # 400 days before 2026-04-05 00:00 is 2025-03-01 00:00: February 2025's partition ends exactly there.
    dropped = drop_expired_partitions(connection, table, now=datetime(2026, 4, 5, tzinfo=UTC), retention_days=400)

    assert dropped == [
        partition_name(table.name, date(2024, 12, 1)),
        *(f"storage_retention_p2025{m:02d}" for m in (1, 2)),
    ]
    remaining = partition_names(connection, table)
    assert remaining[0] == "storage_retention_p202503"
    assert remaining[-1] == "storage_retention_p202604"
    assert sum(rows_by_partition(connection, table).values()) == len(months) - 3


def test_drop_expired_never_drops_the_current_or_next_month_or_rows_within_retention(
    connection: ConnectionInfo, make_table: Callable[..., TableSpec]
) -> None:
    table = make_table("storage_short_retention")
    now = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)
    ensure_time_series_table(connection, table, now=now, months=months_between(datetime(2026, 1, 1, tzinfo=UTC), now))
    within = now - timedelta(days=7) + timedelta(seconds=1)
    copy_rows(connection, table, [probe_row(datetime(2026, 1, 20, tzinfo=UTC)), probe_row(within), probe_row(now)])

    dropped = drop_expired_partitions(connection, table, now=now, retention_days=7)
    again = drop_expired_partitions(connection, table, now=now, retention_days=7)

    assert dropped == ["storage_short_retention_p202601"]
    assert again == []
    assert partition_names(connection, table) == [
        "storage_short_retention_p202602",
        "storage_short_retention_p202603",
        "storage_short_retention_p202604",
    ]
    assert rows_by_partition(connection, table) == {
        "storage_short_retention_p202602": 1,
        "storage_short_retention_p202603": 1,
    }


def test_two_processes_preparing_one_table_at_once_both_succeed(
    connection: ConnectionInfo, make_table: Callable[..., TableSpec]
) -> None:
    table = make_table("storage_concurrent")
    results: list[str] = []
    errors: list[BaseException] = []
    start = threading.Barrier(3)

    def prepare() -> None:
        start.wait()
        try:
            results.append(ensure_time_series_table(connection, table, now=NOW, months=[date(2026, 1, 1)]))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=prepare) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert results == ["partitions"] * 3
    assert partition_names(connection, table) == [
        "storage_concurrent_p202601",
        "storage_concurrent_p202603",
        "storage_concurrent_p202604",
    ]


def test_dlt_appends_into_the_prepared_partitioned_table(
    connection: ConnectionInfo, make_table: Callable[..., TableSpec], tmp_path: Path
) -> None:
    table = make_table(
        "probe_results_storage_test", {"price_usd": "decimal", "pricing": "json", "day": "date", "tokens": "bigint"}
    )
    ensure_time_series_table(connection, table, now=NOW, months=[date(2026, 2, 1)])
    with connect(connection) as conn:
        declared = conn.execute(
            "select column_name, data_type from information_schema.columns "
            "where table_schema = 'ts' and table_name = %s order by ordinal_position",
            [table.name],
        ).fetchall()
    rows = [
        probe_row(datetime(2026, 2, 28, 23, 59, tzinfo=UTC))
        | {"price_usd": Decimal("0.000003"), "pricing": {"prompt": "0.000003"}, "day": date(2026, 2, 28), "tokens": 5},
        probe_row(NOW, "anthropic", ok=False)
        | {"price_usd": None, "pricing": None, "day": date(2026, 3, 15), "tokens": None},
    ]
    pipeline = make_pipeline("probe_storage_test", "ts", connection.url(), tmp_path / "pipelines")

    for _ in range(2):
        pipeline.run(raw_source("probe_storage_test", [table_resource(table, rows, "append")])).raise_on_failed_jobs()

    with connect(connection) as conn:
        kind = conn.execute(
            "select c.relkind from pg_class c join pg_namespace n on n.oid = c.relnamespace "
            "where n.nspname = 'ts' and c.relname = %s",
            [table.name],
        ).fetchone()
        after = conn.execute(
            "select column_name, data_type from information_schema.columns "
            "where table_schema = 'ts' and table_name = %s order by ordinal_position",
            [table.name],
        ).fetchall()
        loaded = conn.execute(
            "select provider, price_usd, pricing ->> 'prompt' from ts.probe_results_storage_test "
            "where _dlt_load_id is not null order by observed_at, _dlt_load_id"
        ).fetchall()
    assert kind == ("p",)
    assert after == declared
    assert rows_by_partition(connection, table) == {
        "probe_results_storage_test_p202602": 2,
        "probe_results_storage_test_p202603": 2,
    }
    assert loaded[:2] == [("openai", Decimal("0.000003"), "0.000003")] * 2


def test_a_plain_table_becomes_partitioned_with_its_rows(
    connection: ConnectionInfo, make_table: Callable[..., TableSpec]
) -> None:
    table = make_table("storage_plain")
    with connect(connection) as conn:
        conn.execute("create schema if not exists ts")
        conn.execute(timeseries.parent_table_ddl(table, "ts", backend="timescaledb")[0])
        conn.execute("alter table ts.storage_plain add column extra varchar")
    copy_rows(connection, table, [probe_row(datetime(2025, 12, 24, tzinfo=UTC)), probe_row(NOW)])

    ensure_time_series_table(connection, table, now=NOW)

    with connect(connection) as conn:
        assert timeseries.storage_of(conn, "ts", table.name) == "partitioned"
        columns = [row[0] for row in conn.execute("select * from ts.storage_plain limit 0").description or []]
    assert columns[-1] == "extra"
    assert rows_by_partition(connection, table) == {"storage_plain_p202512": 1, "storage_plain_p202603": 1}


def test_status_reports_the_partitions(connection: ConnectionInfo, make_table: Callable[..., TableSpec]) -> None:
    table = make_table("storage_status")
    ensure_time_series_table(connection, table, now=NOW, months=[date(2026, 1, 1)])
    copy_rows(connection, table, [probe_row(NOW)] * 3)
    with connect(connection, autocommit=True) as conn:
        conn.execute("analyze ts.storage_status")

    report = status(connection)
    lines = status_lines(connection)

    assert report["backend"] == "partitions"
    assert report["timescaledb"]["reason"] == "the server has no timescaledb extension"
    entry = report["tables"]["ts.storage_status"]
    assert entry | {"total_bytes": 0} == {
        "storage": "partitioned",
        "partitions": 3,
        "oldest": "2026-01-01",
        "newest": "2026-04-01",
        "rows_estimate": 3,
        "total_bytes": 0,
    }
    assert entry["total_bytes"] > 0
    assert lines[0] == "time series (ts): native monthly partitions (the server has no timescaledb extension)"
    assert any(
        line.startswith("  ts.storage_status: 3 monthly partitions, 2026-01 to 2026-04, ~3 rows") for line in lines
    )


def test_an_existing_partitioned_table_keeps_its_partitions_when_timescaledb_arrives(
    connection: ConnectionInfo,
    make_table: Callable[..., TableSpec],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    table = make_table("storage_legacy")
    ensure_time_series_table(connection, table, now=NOW)
    arrived = TimescaleState(version=None, available=True, preloaded=True, license=None)
    monkeypatch.setattr(timeseries, "timescale_state", lambda _conn: arrived)

    with caplog.at_level(logging.INFO, logger="modelatlas.warehouse.timeseries"):
        with connect(connection) as conn:
            backend = timeseries.detect_backend(conn, table=table.name, schema="ts")
        again = ensure_time_series_table(connection, table, now=datetime(2026, 4, 2, tzinfo=UTC))
    lines = status_lines(connection, [table])

    assert (backend, again) == ("partitions", "partitions")
    assert partition_name(table.name, date(2026, 5, 1)) in partition_names(connection, table)
    notes = [
        record.getMessage() for record in caplog.records if "keeps its native monthly partitions" in record.message
    ]
    assert len(notes) == 1
    assert "ts.storage_legacy" in notes[0]
    assert "  ts.storage_legacy keeps native partitions; to move it to a hypertable, in a quiet period run:" in lines
    assert '    ALTER TABLE "ts"."storage_legacy_hypertable" RENAME TO "storage_legacy";' in lines


# Stand-ins with the signatures of Timescale's API reference (named arguments and their types), so PostgreSQL itself
# checks that every generated statement parses and binds its arguments by their documented names.
TIMESCALE_STAND_INS = """
create function by_range(column_name name, partition_interval anyelement default null::interval,
    partition_func regproc default null) returns text language sql as 'select $1::text';
create function create_hypertable(relation regclass, dimension text, create_default_indexes boolean default true,
    if_not_exists boolean default false, migrate_data boolean default false) returns table(hypertable_id int,
    created boolean) language sql as 'select 1, true';
create function add_compression_policy(hypertable regclass, compress_after interval default null,
    if_not_exists boolean default false, schedule_interval interval default null,
    initial_start timestamptz default null, timezone text default null,
    compress_created_before interval default null) returns integer language sql as 'select 1';
create function add_retention_policy(relation regclass, drop_after interval default null,
    if_not_exists boolean default false, schedule_interval interval default null,
    initial_start timestamptz default null, timezone text default null,
    drop_created_before interval default null) returns integer language sql as 'select 1';
create function remove_retention_policy(relation regclass, if_exists boolean default false) returns void
    language sql as '';
create function add_continuous_aggregate_policy(continuous_aggregate regclass, start_offset interval,
    end_offset interval, schedule_interval interval, if_not_exists boolean default false,
    initial_start timestamptz default null, timezone text default null) returns integer language sql as 'select 1';
create procedure refresh_continuous_aggregate(continuous_aggregate regclass, window_start timestamptz,
    window_end timestamptz) language sql as '';
create function drop_chunks(relation regclass, older_than timestamptz default null,
    newer_than timestamptz default null, verbose boolean default false) returns setof text
    language sql as 'select null::text where false';
create function time_bucket(bucket_width interval, ts timestamptz) returns timestamptz
    language sql immutable as 'select date_bin($1, $2, timestamptz ''2000-01-03 00:00:00+00'')';
"""


@pytest.fixture
def stand_ins(connection: ConnectionInfo) -> Iterator[psycopg.Connection[Any]]:
    """A connection whose search path finds the stand-ins first; everything is rolled back at the end."""
    with connect(connection) as conn:
        conn.execute("create schema timescale_stand_ins")
        conn.execute("set local search_path = timescale_stand_ins, public")
        conn.execute(TIMESCALE_STAND_INS)
        yield conn
        conn.rollback()


def test_timescale_statements_bind_to_the_documented_signatures(stand_ins: psycopg.Connection[Any]) -> None:
    table = probe_table("storage_timescale")
    stand_ins.execute("create schema if not exists ts")
    stand_ins.execute(timeseries.parent_table_ddl(table, "ts", backend="timescaledb")[0])
    for rollup in timescale.ROLLUPS:
        stand_ins.execute(
            sql.SQL("create view {} as {}").format(
                sql.Identifier("ts", rollup.view(table)), timescale.rollup_query(table, "ts", rollup)
            )
        )
    statements = [
        timescale.create_hypertable(table, "ts"),
        timescale.create_hypertable(table, "ts", migrate_data=True),
        *[
            statement
            for statement in timescale.setup_statements(
                table, "ts", segment_by=["provider"], retention_days=400, compression_enabled=True, existing_views=[]
            )
            if not statement.as_string(None).startswith("CREATE MATERIALIZED VIEW")
        ],
        timescale.remove_retention_policy(table, "ts"),
        timescale.drop_chunks(table, "ts", NOW),
        timescale.refresh_continuous_aggregate(table, "ts", timescale.DAILY, None, NOW),
    ]

    for statement in statements:
        stand_ins.execute(statement)


def test_rollup_query_counts_probes_and_latency_percentiles(stand_ins: psycopg.Connection[Any]) -> None:
    table = probe_table("storage_rollup")
    stand_ins.execute("create schema if not exists ts")
    stand_ins.execute(timeseries.parent_table_ddl(table, "ts", backend="timescaledb")[0])
    hour = datetime(2026, 3, 15, 10, tzinfo=UTC)
    with stand_ins.cursor() as cursor:
        cursor.executemany(
            "insert into ts.storage_rollup (observed_at, provider, region, ok, total_ms, _dlt_load_id, _dlt_id) "
            "values (%s, 'openai', 'eu', %s, %s, 'l', 'r')",
            [(hour + timedelta(minutes=minute), minute % 4 != 0, float(minute)) for minute in range(60)],
        )

    rows = stand_ins.execute(timescale.rollup_query(table, "ts", timescale.HOURLY)).fetchall()

    # The percentiles are over the 45 successful probes only; no probe measured ttfb or dns+connect.
    assert rows == [
        (
            "openai",
            "eu",
            hour,
            60,
            45,
            Decimal("75.00"),
            30.0,
            pytest.approx(56.6),
            pytest.approx(58.56),
            None,
            None,
            hour + timedelta(minutes=59),
        )
    ]


def test_migration_statements_move_the_partitioned_table_into_a_new_table(
    connection: ConnectionInfo, make_table: Callable[..., TableSpec], stand_ins: psycopg.Connection[Any]
) -> None:
    table = make_table("storage_migrate")
    ensure_time_series_table(connection, table, now=NOW)
    copy_rows(connection, table, [probe_row(NOW), probe_row(NOW + timedelta(days=20))])
    statements = timescale.migration_statements(table, "ts")
    rendered = [statement.as_string(None) for statement in statements]
    assert (rendered[0], rendered[-1]) == ("BEGIN", "COMMIT")

    for statement in statements[1:-1]:
        stand_ins.execute(statement)

    assert timeseries.storage_of(stand_ins, "ts", "storage_migrate") == "table"
    assert timeseries.storage_of(stand_ins, "ts", "storage_migrate_partitioned") == "partitioned"
    count = stand_ins.execute("select count(*) from ts.storage_migrate").fetchone()
    assert count == (2,)
    indexes = {row[0] for row in stand_ins.execute("select indexname from pg_indexes where schemaname = 'ts'")}
    assert {"storage_migrate_partitioned_observed_at_brin", "storage_migrate_partitioned_provider_observed_at_idx"} <= (
        indexes
    )
    assert not any(
        re.fullmatch(r"storage_migrate_(observed_at_brin|provider_observed_at_idx)", name) for name in indexes
    )
