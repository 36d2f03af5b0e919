"""The time-series DDL: TimescaleDB's documented calls with the right arguments, and the native partitions' tables."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace
from typing import Any, cast

import pytest
from psycopg import sql

from modelatlas.errors import ConfigurationError
from modelatlas.pipelines.spec import DataType, TableSpec
from modelatlas.warehouse import timescale, timeseries
from modelatlas.warehouse.timeseries import (
    DEFAULT_RETENTION_DAYS,
    TimescaleState,
    due_months,
    format_bytes,
    format_status,
    months_between,
    parent_table_ddl,
    partition_ddl,
    partition_name,
    retention_days,
)

COLUMNS: dict[str, DataType] = {
    "observed_at": "timestamp",
    "provider": "text",
    "region": "text",
    "http_status": "bigint",
    "ok": "bool",
    "total_ms": "double",
    "ttfb_ms": "double",
    "dns_connect_ms": "double",
    "price": "decimal",
    "pricing": "json",
    "day": "date",
}
PROBES = TableSpec(
    name="probe_results",
    description="probes",
    columns=COLUMNS,
    version_columns=("observed_at",),
    disposition="append",
    not_null=("observed_at", "provider", "region", "ok"),
    decimal_scale=9,
    dataset="ts",
    time_column="observed_at",
)
STATUS = TableSpec(
    name="status_observations",
    description="status",
    columns={"observed_at": "timestamp", "page": "text", "provider": "text", "status": "text"},
    version_columns=("observed_at",),
    disposition="append",
    not_null=("observed_at", "page", "provider", "status"),
    dataset="ts",
    time_column="observed_at",
)


def text(statement: sql.Composable) -> str:
    return statement.as_string(None)


def test_hypertable_is_partitioned_on_the_time_column_a_chunk_per_week() -> None:
    assert text(timescale.create_hypertable(PROBES, "ts")) == (
        "SELECT create_hypertable('\"ts\".\"probe_results\"', by_range('observed_at', INTERVAL '7 days'), "
        "if_not_exists => TRUE)"
    )


def test_a_plain_table_is_converted_with_its_rows() -> None:
    assert text(timescale.create_hypertable(PROBES, "ts", migrate_data=True)).endswith(
        "if_not_exists => TRUE, migrate_data => TRUE)"
    )


def test_compression_is_segmented_by_provider_and_ordered_by_time() -> None:
    statement = text(timescale.compression_settings(PROBES, "ts", timescale.key_columns(PROBES)))

    assert statement == (
        'ALTER TABLE "ts"."probe_results" SET (timescaledb.compress, timescaledb.compress_segmentby = \'provider\', '
        "timescaledb.compress_orderby = 'observed_at DESC')"
    )


def test_compression_policy_compresses_after_seven_days() -> None:
    assert text(timescale.compression_policy(PROBES, "ts")) == (
        "SELECT add_compression_policy('\"ts\".\"probe_results\"', compress_after => INTERVAL '7 days', "
        "if_not_exists => TRUE)"
    )


def test_retention_policy_takes_its_interval_from_the_setting() -> None:
    days = retention_days({"MODELATLAS_TS_RETENTION_DAYS": "90"})

    assert text(timescale.retention_policy(PROBES, "ts", days)) == (
        "SELECT add_retention_policy('\"ts\".\"probe_results\"', drop_after => INTERVAL '90 days', "
        "if_not_exists => TRUE)"
    )
    assert text(timescale.remove_retention_policy(PROBES, "ts")) == (
        'SELECT remove_retention_policy(\'"ts"."probe_results"\', if_exists => TRUE)'
    )


def test_continuous_aggregates_roll_up_availability_and_latency_percentiles() -> None:
    hourly = text(timescale.continuous_aggregate(PROBES, "ts", timescale.HOURLY))
    daily = text(timescale.continuous_aggregate(PROBES, "ts", timescale.DAILY))

    assert hourly.startswith(
        'CREATE MATERIALIZED VIEW "ts"."probe_results_hourly" WITH (timescaledb.continuous, '
        "timescaledb.materialized_only = false) AS SELECT provider, region, "
        'time_bucket(INTERVAL \'1 hour\', "observed_at") AS "hour_start", count(*) AS probes, '
        "count(*) FILTER (WHERE ok) AS probes_ok, "
        "round(100.0 * count(*) FILTER (WHERE ok) / count(*), 2)::numeric(5, 2) AS availability_pct, "
    )
    for column, fraction, name in (
        ("total_ms", 0.5, "total_ms_p50"),
        ("total_ms", 0.95, "total_ms_p95"),
        ("total_ms", 0.99, "total_ms_p99"),
        ("ttfb_ms", 0.5, "ttfb_ms_p50"),
        ("dns_connect_ms", 0.5, "dns_connect_ms_p50"),
    ):
        assert f'percentile_cont({fraction}) WITHIN GROUP (ORDER BY "{column}") FILTER (WHERE ok) AS "{name}"' in hourly
    assert hourly.endswith(
        'max("observed_at") AS last_observed_at FROM "ts"."probe_results" '
        "GROUP BY provider, region, time_bucket(INTERVAL '1 hour', \"observed_at\") WITH NO DATA"
    )
    assert daily.startswith('CREATE MATERIALIZED VIEW "ts"."probe_results_daily" WITH (timescaledb.continuous')
    assert 'time_bucket(INTERVAL \'1 day\', "observed_at") AS "day_start"' in daily
    assert daily.endswith("GROUP BY provider, region, time_bucket(INTERVAL '1 day', \"observed_at\") WITH NO DATA")


def test_refresh_policies_use_the_documented_named_arguments() -> None:
    assert text(timescale.continuous_aggregate_policy(PROBES, "ts", timescale.HOURLY, 400)) == (
        "SELECT add_continuous_aggregate_policy('\"ts\".\"probe_results_hourly\"', start_offset => INTERVAL '3 days', "
        "end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '30 minutes', if_not_exists => TRUE)"
    )
    assert text(timescale.continuous_aggregate_policy(PROBES, "ts", timescale.DAILY, 400)) == (
        "SELECT add_continuous_aggregate_policy('\"ts\".\"probe_results_daily\"', start_offset => INTERVAL '40 days', "
        "end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '1 hour', if_not_exists => TRUE)"
    )


def test_refresh_window_stays_within_a_short_retention() -> None:
    statement = text(timescale.continuous_aggregate_policy(PROBES, "ts", timescale.DAILY, 10))

    assert "start_offset => INTERVAL '9 days'" in statement


def test_manual_refresh_and_apache_retention_calls() -> None:
    moment = datetime(2026, 3, 1, tzinfo=UTC)

    assert text(timescale.refresh_continuous_aggregate(PROBES, "ts", timescale.DAILY, None, moment)) == (
        'CALL refresh_continuous_aggregate(\'"ts"."probe_results_daily"\', NULL::timestamptz, '
        "'2026-03-01 00:00:00+00:00'::timestamptz)"
    )
    assert text(timescale.drop_chunks(PROBES, "ts", moment)) == (
        "SELECT drop_chunks('\"ts\".\"probe_results\"', older_than => '2026-03-01 00:00:00+00:00'::timestamptz)"
    )


def test_setup_runs_each_step_once() -> None:
    fresh = [
        text(statement)
        for statement in timescale.setup_statements(PROBES, "ts", segment_by=["provider"], retention_days=400)
    ]
    configured = [
        text(statement)
        for statement in timescale.setup_statements(
            PROBES,
            "ts",
            segment_by=["provider"],
            retention_days=400,
            compression_enabled=True,
            existing_views=["probe_results_hourly", "probe_results_daily"],
        )
    ]

    assert [statement.split("(")[0] for statement in fresh] == [
        'ALTER TABLE "ts"."probe_results" SET ',
        "SELECT add_compression_policy",
        "SELECT add_retention_policy",
        'CREATE MATERIALIZED VIEW "ts"."probe_results_hourly" WITH ',
        "SELECT add_continuous_aggregate_policy",
        'CREATE MATERIALIZED VIEW "ts"."probe_results_daily" WITH ',
        "SELECT add_continuous_aggregate_policy",
    ]
    assert configured == [fresh[1], fresh[2], fresh[4], fresh[6]]


def test_tables_without_probe_columns_get_no_rollups() -> None:
    statements = [
        text(statement)
        for statement in timescale.setup_statements(
            STATUS, "ts", segment_by=timescale.key_columns(STATUS), retention_days=400
        )
    ]

    assert "timescaledb.compress_segmentby = 'page'" in statements[0]
    assert not any("MATERIALIZED VIEW" in statement for statement in statements)


def test_migration_copies_into_a_new_hypertable_and_swaps_the_names() -> None:
    statements = [text(statement) for statement in timescale.migration_statements(PROBES, "ts")]

    assert statements == [
        "BEGIN",
        'LOCK TABLE "ts"."probe_results" IN EXCLUSIVE MODE',
        'CREATE TABLE "ts"."probe_results_hypertable" (LIKE "ts"."probe_results" INCLUDING DEFAULTS '
        "INCLUDING CONSTRAINTS EXCLUDING INDEXES)",
        "SELECT create_hypertable('\"ts\".\"probe_results_hypertable\"', by_range('observed_at', INTERVAL '7 days'), "
        "if_not_exists => TRUE)",
        'INSERT INTO "ts"."probe_results_hypertable" SELECT * FROM "ts"."probe_results"',
        'ALTER TABLE "ts"."probe_results" RENAME TO "probe_results_partitioned"',
        'ALTER INDEX IF EXISTS "ts"."probe_results_observed_at_brin" RENAME TO '
        '"probe_results_partitioned_observed_at_brin"',
        'ALTER INDEX IF EXISTS "ts"."probe_results_provider_observed_at_idx" RENAME TO '
        '"probe_results_partitioned_provider_observed_at_idx"',
        'ALTER TABLE "ts"."probe_results_hypertable" RENAME TO "probe_results"',
        "COMMIT",
    ]


def test_key_columns_prefer_explicit_then_primary_key_then_first_required_text() -> None:
    keyed = TableSpec(
        name="keyed",
        description="",
        columns=COLUMNS,
        version_columns=(),
        primary_key=("region", "observed_at"),
        time_column="observed_at",
    )

    assert timescale.key_columns(PROBES, ["region", "provider"]) == ("region", "provider")
    assert timescale.key_columns(keyed) == ("region",)
    assert timescale.key_columns(PROBES) == ("provider",)


def test_long_index_names_fit_postgres_identifiers() -> None:
    name = timescale.index_name("t" * 60, "provider_observed_at_idx")

    assert len(name) == 63
    assert name == timescale.index_name("t" * 60, "provider_observed_at_idx")


def test_parent_table_uses_dlt_postgres_types_and_partitions_by_month() -> None:
    statements = [text(statement) for statement in parent_table_ddl(PROBES, "ts")]

    assert statements == [
        'CREATE TABLE IF NOT EXISTS "ts"."probe_results" ("observed_at" timestamp with time zone NOT NULL, '
        '"provider" varchar NOT NULL, "region" varchar NOT NULL, "http_status" bigint, "ok" boolean NOT NULL, '
        '"total_ms" double precision, "ttfb_ms" double precision, "dns_connect_ms" double precision, '
        '"price" numeric(38, 9), "pricing" jsonb, "day" date, '
        '"_dlt_load_id" varchar NOT NULL, "_dlt_id" varchar NOT NULL) PARTITION BY RANGE ("observed_at")',
        'CREATE INDEX IF NOT EXISTS "probe_results_observed_at_brin" ON "ts"."probe_results" USING brin '
        '("observed_at")',
        'CREATE INDEX IF NOT EXISTS "probe_results_provider_observed_at_idx" ON "ts"."probe_results" '
        '("provider", "observed_at" DESC)',
    ]


def test_hypertable_parent_is_a_plain_table_without_brin() -> None:
    statements = [
        text(statement)
        for statement in parent_table_ddl(PROBES, "ts", backend="timescaledb", index_columns=["provider", "region"])
    ]

    assert not statements[0].endswith('PARTITION BY RANGE ("observed_at")')
    assert statements[1:] == [
        'CREATE INDEX IF NOT EXISTS "probe_results_provider_region_observed_at_idx" ON "ts"."probe_results" '
        '("provider", "region", "observed_at" DESC)'
    ]


def test_a_table_without_time_column_is_refused() -> None:
    plain = TableSpec(name="models", description="", columns={"id": "text"}, version_columns=())

    with pytest.raises(ValueError, match="models is not a time series"):
        parent_table_ddl(plain, "ts")


def test_partition_covers_one_utc_month() -> None:
    assert text(partition_ddl(PROBES, "ts", date(2025, 12, 1))) == (
        'CREATE TABLE IF NOT EXISTS "ts"."probe_results_p202512" PARTITION OF "ts"."probe_results" FOR VALUES FROM '
        "('2025-12-01 00:00:00+00:00'::timestamptz) TO ('2026-01-01 00:00:00+00:00'::timestamptz)"
    )
    assert partition_name("probe_results", date(2026, 3, 1)) == "probe_results_p202603"


def test_months_between_spans_utc_months_inclusively() -> None:
    first = datetime(2025, 11, 30, 23, 30, tzinfo=UTC)
    # 2026-02-01 00:30 in UTC+01:00 is still January in UTC.
    last = datetime(2026, 2, 1, 0, 30, tzinfo=UTC) + timedelta(hours=-1)

    assert months_between(first, last) == [date(2025, 11, 1), date(2025, 12, 1), date(2026, 1, 1)]
    assert months_between(last, first) == []
    assert months_between(date(2026, 3, 9), date(2026, 3, 9)) == [date(2026, 3, 1)]


def test_due_months_are_now_next_and_the_batch_months() -> None:
    now = datetime(2026, 12, 31, 23, 59, tzinfo=UTC)

    assert due_months(now, [date(2026, 7, 4)]) == [date(2026, 7, 1), date(2026, 12, 1), date(2027, 1, 1)]


@pytest.mark.parametrize(
    ("raw", "expected"), [(None, DEFAULT_RETENTION_DAYS), ("", DEFAULT_RETENTION_DAYS), (" 30 ", 30), ("7", 7)]
)
def test_retention_days_reads_the_setting(raw: str | None, expected: int) -> None:
    env = {} if raw is None else {"MODELATLAS_TS_RETENTION_DAYS": raw}

    assert retention_days(env) == expected


@pytest.mark.parametrize(
    ("raw", "message"),
    [("a year", "is not a whole number of days"), ("2.5", "is not a whole number of days"), ("3", "less than 7")],
)
def test_retention_days_rejects_bad_values(raw: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message) as caught:
        retention_days({"MODELATLAS_TS_RETENTION_DAYS": raw})

    assert "MODELATLAS_TS_RETENTION_DAYS" in str(caught.value)


def test_timescale_state_says_why_it_is_not_used() -> None:
    missing = TimescaleState(version=None, available=False, preloaded=False, license=None)
    unloaded = TimescaleState(version="2.17.2", available=True, preloaded=False, license=None)
    apache = TimescaleState(version="2.17.2", available=True, preloaded=True, license="apache")

    assert (missing.usable, missing.reason()) == (False, "the server has no timescaledb extension")
    assert (unloaded.usable, unloaded.reason()) == (
        False,
        "timescaledb is not in the server's shared_preload_libraries",
    )
    assert (apache.usable, apache.community) == (True, False)


def test_status_lines_describe_hypertables() -> None:
    report = {
        "schema": "ts",
        "backend": "timescaledb",
        "timescaledb": {"version": "2.17.2", "available": True, "preloaded": True, "license": "timescale"},
        "tables": {
            "ts.probe_results": {
                "storage": "hypertable",
                "chunks": 12,
                "compressed_chunks": 10,
                "oldest": "2026-01-01",
                "newest": "2026-03-26",
                "rows_estimate": 1_200_000,
                "total_bytes": 3 * 1024**2,
                "jobs": [{"job": "policy_compression", "every": "12:00:00", "config": '{"compress_after": "7 days"}'}],
                "bytes_before_compression": 40 * 1024**2,
                "bytes_after_compression": 2 * 1024**2,
            }
        },
        "continuous_aggregates": [{"view": "ts.probe_results_hourly", "table": "ts.probe_results"}],
    }

    assert format_status(report, 400) == [
        "time series (ts): TimescaleDB 2.17.2 hypertables for new tables",
        "  retention: 400 days (MODELATLAS_TS_RETENTION_DAYS)",
        "  ts.probe_results: hypertable, 12 chunks (10 compressed), 2026-01-01 to 2026-03-26, ~1,200,000 rows, 3.0 MB",
        "    compression: 40.0 MB -> 2.0 MB",
        '    job policy_compression every 12:00:00: {"compress_after": "7 days"}',
        "  continuous aggregate ts.probe_results_hourly over ts.probe_results",
    ]


def test_format_bytes() -> None:
    assert [format_bytes(size) for size in (512, 1536, 5 * 1024**3)] == ["512 B", "1.5 kB", "5.0 GB"]


class RecordingCursor:
    def __init__(self, rows: Sequence[tuple[Any, ...]]) -> None:
        self.rows = list(rows)

    def fetchone(self) -> tuple[Any, ...] | None:
        return self.rows[0] if self.rows else None

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self.rows

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        return iter(self.rows)


class RecordingConnection:
    """Answers the catalog queries from `answers` (by a fragment of the query) and records every statement."""

    def __init__(self, answers: dict[str, list[tuple[Any, ...]]]) -> None:
        self.answers = answers
        self.statements: list[str] = []
        self.info = SimpleNamespace(dbname="modelatlas", user="modelatlas")

    def execute(self, query: str | sql.Composable, params: Sequence[Any] | None = None) -> RecordingCursor:
        rendered = query if isinstance(query, str) else query.as_string(None)
        self.statements.append(rendered)
        return RecordingCursor(next((rows for key, rows in self.answers.items() if key in rendered), []))

    def ddl(self) -> list[str]:
        """The beginnings of the statements that change something (the catalog reads are the lower-case ones)."""
        return [
            statement.split(" (")[0].split("(")[0]
            for statement in self.statements
            if not statement.startswith("select ")
        ]


COMMUNITY = TimescaleState(version="2.17.2", available=True, preloaded=True, license="timescale")


@pytest.fixture
def community(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(timeseries, "timescale_state", lambda _conn: COMMUNITY)


@pytest.mark.usefixtures("community")
def test_a_fresh_hypertable_gets_compression_retention_and_rollups() -> None:
    conn = RecordingConnection({"compression_enabled from": [(False,)]})

    timeseries.configure_hypertable(cast(Any, conn), PROBES, "ts", 400)

    assert conn.ddl() == [
        'CREATE INDEX IF NOT EXISTS "probe_results_provider_observed_at_idx" ON "ts"."probe_results"',
        'ALTER TABLE "ts"."probe_results" SET',
        "SELECT add_compression_policy",
        "SELECT add_retention_policy",
        'CREATE MATERIALIZED VIEW "ts"."probe_results_hourly" WITH',
        "SELECT add_continuous_aggregate_policy",
        'CREATE MATERIALIZED VIEW "ts"."probe_results_daily" WITH',
        "SELECT add_continuous_aggregate_policy",
    ]


@pytest.mark.usefixtures("community")
def test_a_configured_hypertable_only_reasserts_its_policies() -> None:
    conn = RecordingConnection(
        {
            "compression_enabled from": [(True,)],
            "from timescaledb_information.continuous_aggregates": [
                ("probe_results_daily", "probe_results", False),
                ("probe_results_hourly", "probe_results", False),
            ],
            "policy_retention": [(True,)],
        }
    )

    timeseries.configure_hypertable(cast(Any, conn), PROBES, "ts", 400)

    assert conn.ddl() == [
        'CREATE INDEX IF NOT EXISTS "probe_results_provider_observed_at_idx" ON "ts"."probe_results"',
        "SELECT add_compression_policy",
        "SELECT add_retention_policy",
        "SELECT add_continuous_aggregate_policy",
        "SELECT add_continuous_aggregate_policy",
    ]


@pytest.mark.usefixtures("community")
def test_a_changed_retention_replaces_the_policy() -> None:
    conn = RecordingConnection({"compression_enabled from": [(True,)], "policy_retention": [(False,)]})

    timeseries.configure_hypertable(cast(Any, conn), STATUS, "ts", 90)

    assert "SELECT remove_retention_policy" in conn.ddl()
    removed = conn.ddl().index("SELECT remove_retention_policy")
    assert conn.ddl()[removed + 2] == "SELECT add_retention_policy"
    assert "drop_after => INTERVAL '90 days'" in conn.statements[-1]


def test_an_apache_build_gets_hypertables_only(monkeypatch: pytest.MonkeyPatch) -> None:
    apache = TimescaleState(version="2.17.2", available=True, preloaded=True, license="apache")
    monkeypatch.setattr(timeseries, "timescale_state", lambda _conn: apache)
    conn = RecordingConnection({})

    timeseries.configure_hypertable(cast(Any, conn), PROBES, "ts", 400)

    assert conn.ddl() == ['CREATE INDEX IF NOT EXISTS "probe_results_provider_observed_at_idx" ON "ts"."probe_results"']


@pytest.mark.usefixtures("community")
def test_a_new_hypertable_is_created_before_its_index_and_setup() -> None:
    conn = RecordingConnection({"compression_enabled from": [(False,)]})

    timeseries._ensure_hypertable(cast(Any, conn), STATUS, "ts", None, 400)

    assert conn.ddl()[:4] == [
        'CREATE TABLE IF NOT EXISTS "ts"."status_observations"',
        "SELECT create_hypertable",
        'CREATE INDEX IF NOT EXISTS "status_observations_page_observed_at_idx" ON "ts"."status_observations"',
        'ALTER TABLE "ts"."status_observations" SET',
    ]
    assert "PARTITION BY" not in conn.statements[0]


@pytest.mark.usefixtures("community")
def test_a_plain_table_is_migrated_into_a_hypertable() -> None:
    conn = RecordingConnection({"compression_enabled from": [(False,)]})

    timeseries._ensure_hypertable(cast(Any, conn), STATUS, "ts", "table", 400)

    assert conn.statements[0].endswith("migrate_data => TRUE)")
