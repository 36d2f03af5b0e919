"""Status marts through a real `dbt build`: a simulated day of probes, status-page polls, one incident and OpenRouter
endpoint polls, written to the raw and time-series tables of a database of its own in two loads (the second
continuing runs, intervals and episodes the first left open), then asserted row by row; a full refresh must give
the same rows as the incremental builds.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from modelatlas.warehouse import ConnectionInfo, read_only_query
from modelatlas.warehouse.service import connect, ensure_database
from tests.dbt_cli import run_dbt

DATABASE = "modelatlas_status_marts_test"
# Yesterday (UTC): within the 30 days mart_model_comparison's availability input reads.
DAY = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)
SPLIT = DAY + timedelta(hours=10, minutes=15)
MINUTES_PER_DAY = 1440
ANTHROPIC_DOWN = range(600, 630)  # 10:00 to 10:29: 30 failed probes
OPENAI_FAILING_FROM = 1437  # the last 3 probes of the day fail
INCIDENT_CREATED = DAY + timedelta(hours=10, minutes=1)
INCIDENT_UPDATED = DAY + timedelta(hours=10, minutes=10)
INCIDENT_RESOLVED = DAY + timedelta(hours=10, minutes=38)
COMPONENT_DEGRADED = DAY + timedelta(hours=10, minutes=2)
COMPONENT_RECOVERED = DAY + timedelta(hours=10, minutes=40)
BEDROCK_DOWN = (DAY + timedelta(hours=12), DAY + timedelta(hours=12, minutes=15))
WATCHED_MODEL = "anthropic/claude-sonnet-4.5"
# The status marts, the hourly rollup and mart_model_comparison's availability input, with everything upstream.
SELECTED = (
    "mart_status_current",
    "fct_incidents",
    "fct_outages",
    "mart_provider_uptime_daily",
    "mart_model_endpoint_health_daily",
    "int_probe_results_hourly",
    "int_offering_availability_30d",
)
# Every incremental model of the lineage: a full refresh must give the rows the two incremental builds gave.
INCREMENTAL_MODELS = (
    "intermediate.int_status_component_intervals",
    "intermediate.int_probe_result_runs",
    "intermediate.int_openrouter_endpoint_runs",
    "intermediate.int_probe_results_hourly",
    "intermediate.int_probe_results_daily",
    "intermediate.int_openrouter_endpoint_stats_daily",
    "marts.fct_outages",
    "marts.mart_provider_uptime_daily",
    "marts.mart_status_current",
)

TABLES = {
    "ts.status_observations": (
        "observed_at timestamptz not null, page text not null, provider text not null, platform text not null, "
        "component_id text, component_name text, component_group text, status text not null, source_status text, "
        "status_known boolean, description text"
    ),
    "raw_status.incidents": (
        "page text not null, provider text not null, platform text, incident_id text not null, kind text, "
        "title text, status text, impact text, source_impact text, created_at timestamptz, updated_at timestamptz, "
        "resolved_at timestamptz, scheduled_for timestamptz, scheduled_until timestamptz, shortlink text, "
        "components jsonb, observed_at timestamptz not null, primary key (page, incident_id)"
    ),
    "raw_status.incident_updates": (
        "page text not null, incident_id text not null, update_id text not null, status text, body text, "
        "created_at timestamptz, display_at timestamptz, observed_at timestamptz not null, "
        "primary key (page, incident_id, update_id)"
    ),
    "ts.probe_results": (
        "observed_at timestamptz not null, provider text not null, region text not null, target text, "
        "http_status bigint, ok boolean not null, error_class text, dns_connect_ms double precision, "
        "ttfb_ms double precision, total_ms double precision, error text"
    ),
    "ts.openrouter_endpoint_stats": (
        "observed_at timestamptz not null, model_id text, provider_name text not null, endpoint_name text, tag text, "
        "quantization text, status bigint, uptime_last_5m double precision, uptime_last_30m double precision, "
        "uptime_last_1d double precision, latency_p50_ms double precision, latency_p75_ms double precision, "
        "latency_p90_ms double precision, latency_p99_ms double precision, throughput_p50 double precision, "
        "throughput_p75 double precision, throughput_p90 double precision, throughput_p99 double precision, "
        "context_length bigint, max_completion_tokens bigint, max_prompt_tokens bigint, "
        "price_prompt_usd_per_token numeric(38, 9), price_completion_usd_per_token numeric(38, 9), pricing jsonb, "
        "supported_parameters jsonb"
    ),
}

Row = dict[str, Any]


def at(minute: int) -> datetime:
    """The simulated day's time `minute` minutes after midnight."""
    return DAY + timedelta(minutes=minute)


def probe_rows() -> list[Row]:
    """A probe a minute for a day: anthropic fails from 10:00 to 10:29, openai's last 3 probes fail."""
    rows = []
    for minute in range(MINUTES_PER_DAY):
        for provider, ok in (
            ("anthropic", minute not in ANTHROPIC_DOWN),
            ("openai", minute < OPENAI_FAILING_FROM),
        ):
            rows.append({
                "observed_at": at(minute), "provider": provider, "region": "global",
                "target": f"https://{provider}.test/v1/models", "http_status": 200 if ok else 503, "ok": ok,
                "error_class": None if ok else "server_error", "dns_connect_ms": 5.0, "ttfb_ms": 80.0,
                "total_ms": 100.0 + minute % 50, "error": None if ok else "503 Service Unavailable",
            })  # fmt: skip
    return rows


def observation_rows() -> list[Row]:
    """Both pages polled every 2 minutes; anthropic's API component (and indicator) degraded from 10:02 to 10:40."""
    rows = []
    for minute in range(0, MINUTES_PER_DAY, 2):
        degraded = COMPONENT_DEGRADED <= at(minute) < COMPONENT_RECOVERED
        for page, component_id, component_name in (("anthropic", "api", "Claude API"), ("openai", "chat", "ChatGPT")):
            status = "degraded" if degraded and page == "anthropic" else "operational"
            common = {"observed_at": at(minute), "page": page, "provider": page, "platform": "statuspage",
                      "status": status, "status_known": True, "component_group": None}  # fmt: skip
            rows.append({
                **common, "component_id": None, "component_name": None,
                "source_status": "minor" if status == "degraded" else "none",
                "description": "Minor Service Outage" if status == "degraded" else "All Systems Operational",
            })  # fmt: skip
            rows.append({
                **common, "component_id": component_id, "component_name": component_name, "description": None,
                "source_status": "degraded_performance" if status == "degraded" else "operational",
            })  # fmt: skip
    return rows


def endpoint_rows() -> list[Row]:
    """The watched model's Anthropic and Amazon Bedrock endpoints every 5 minutes; Bedrock down from 12:00 to 12:15."""
    rows = []
    for minute in range(0, MINUTES_PER_DAY, 5):
        for provider_name, tag in (("Anthropic", "anthropic"), ("Amazon Bedrock", "amazon-bedrock")):
            down = provider_name == "Amazon Bedrock" and BEDROCK_DOWN[0] <= at(minute) < BEDROCK_DOWN[1]
            rows.append({
                "observed_at": at(minute), "model_id": WATCHED_MODEL, "provider_name": provider_name,
                "endpoint_name": f"{provider_name} | {WATCHED_MODEL}", "tag": tag, "status": 0,
                "uptime_last_5m": 40.0 if down else 100.0, "uptime_last_30m": 99.0, "uptime_last_1d": 99.5,
                "latency_p50_ms": 800.0, "latency_p99_ms": 2000.0, "throughput_p50": 60.0,
            })  # fmt: skip
    return rows


def incident(resolved: bool) -> Row:
    """Anthropic's incident as a poll sees it: open (identified) before 10:15, resolved after."""
    return {
        "page": "anthropic", "provider": "anthropic", "platform": "statuspage", "incident_id": "inc-1",
        "kind": "incident", "title": "Elevated errors on Claude API",
        "status": "resolved" if resolved else "identified",
        "impact": "partial_outage", "source_impact": "major", "created_at": INCIDENT_CREATED,
        "updated_at": INCIDENT_RESOLVED if resolved else INCIDENT_UPDATED,
        "resolved_at": INCIDENT_RESOLVED if resolved else None, "shortlink": "https://stspg.io/inc-1",
        "components": json.dumps(["Claude API"]), "observed_at": COMPONENT_RECOVERED if resolved else SPLIT,
    }  # fmt: skip


MAINTENANCE: Row = {
    "page": "openai", "provider": "openai", "platform": "statuspage", "incident_id": "mnt-1", "kind": "maintenance",
    "title": "Database upgrade", "status": "scheduled", "impact": "maintenance", "source_impact": "maintenance",
    "created_at": DAY, "scheduled_for": DAY + timedelta(days=3), "scheduled_until": DAY + timedelta(days=3, hours=1),
    "observed_at": DAY,
}  # fmt: skip


def update(update_id: str, status: str, created_at: datetime) -> Row:
    """One update of anthropic's incident."""
    return {"page": "anthropic", "incident_id": "inc-1", "update_id": update_id, "status": status,
            "body": f"We are {status}.", "created_at": created_at, "display_at": created_at,
            "observed_at": created_at}  # fmt: skip


def _insert(info: ConnectionInfo, table: str, rows: Sequence[Row], upsert_on: Sequence[str] = ()) -> None:
    columns = sorted({name for row in rows for name in row})
    names = ", ".join([*columns, "_dlt_load_id", "_dlt_id"])
    placeholders = ", ".join(["%s"] * (len(columns) + 2))
    conflict = ""
    if upsert_on:
        updates = ", ".join(f"{name} = excluded.{name}" for name in columns if name not in upsert_on)
        conflict = f" on conflict ({', '.join(upsert_on)}) do update set {updates}"
    values = [[row.get(name) for name in columns] + ["load", uuid.uuid4().hex] for row in rows]
    with connect(info) as conn, conn.cursor() as cursor:
        cursor.executemany(f"insert into {table} ({names}) values ({placeholders}){conflict}", values)


def _load(info: ConnectionInfo, before: datetime | None, since: datetime | None) -> None:
    """The series' rows observed in [since, before), and the incident and its updates as a poll then saw them."""

    def window(rows: list[Row]) -> list[Row]:
        earliest = since or datetime.min.replace(tzinfo=UTC)
        return [
            row for row in rows if row["observed_at"] >= earliest and (before is None or row["observed_at"] < before)
        ]

    _insert(info, "ts.probe_results", window(probe_rows()))
    _insert(info, "ts.status_observations", window(observation_rows()))
    _insert(info, "ts.openrouter_endpoint_stats", window(endpoint_rows()))
    resolved = before is None
    _insert(info, "raw_status.incidents", [incident(resolved), MAINTENANCE], upsert_on=("page", "incident_id"))
    updates = [update("u1", "investigating", INCIDENT_CREATED), update("u2", "identified", INCIDENT_UPDATED)]
    if resolved:
        updates.append(update("u3", "resolved", INCIDENT_RESOLVED))
    _insert(info, "raw_status.incident_updates", updates, upsert_on=("page", "incident_id", "update_id"))


def _create_tables(info: ConnectionInfo) -> None:
    with connect(info) as conn:
        for schema in ("ts", "raw_status"):
            conn.execute(f"create schema if not exists {schema}")
        for table, columns in TABLES.items():
            conn.execute(f"drop table if exists {table}")
            conn.execute(f"create table {table} ({columns}, _dlt_load_id varchar not null, _dlt_id varchar not null)")


def _build(info: ConnectionInfo, target: Path, *extra: str) -> None:
    selection = [f"+{name}" for name in SELECTED]
    result = run_dbt(info, target, "build", "--select", *selection, *extra)
    assert result.returncode == 0, result.stdout[-6000:]


@pytest.fixture(scope="module")
def dbt_target(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("dbt")


@pytest.fixture(scope="module")
def built(connection: ConnectionInfo, dbt_target: Path) -> Iterator[ConnectionInfo]:
    """The day loaded up to 10:15 and built, then the rest loaded and built again (incrementally)."""
    ensure_database(connection, DATABASE)
    info = connection.with_database(DATABASE)
    _create_tables(info)
    with connect(info) as conn:
        for schema in ("staging", "intermediate", "marts"):
            conn.execute(f"drop schema if exists {schema} cascade")
    _load(info, before=SPLIT, since=None)
    _build(info, dbt_target)
    _load(info, before=None, since=SPLIT)
    _build(info, dbt_target)
    yield info


def _rows(info: ConnectionInfo, query: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    _, rows = read_only_query(info, query, list(params))
    return [tuple(row) for row in rows]


def test_a_30_minute_probe_failure_is_97_92_percent_of_the_day_and_one_30_minute_episode(built: ConnectionInfo) -> None:
    uptime = _rows(
        built,
        "select provider, region, probes, probes_ok, availability_pct from marts.mart_provider_uptime_daily "
        "where day = %s order by provider",
        [DAY.date()],
    )
    assert uptime == [
        ("anthropic", "global", 1440, 1410, Decimal("97.92")),
        ("openai", "global", 1440, 1437, Decimal("99.79")),
    ]
    episodes = _rows(
        built,
        "select region, started_at, ended_at, duration_minutes, severity, failed_observations, first_error_class, "
        "linked_incident_ids from marts.fct_outages where source = 'probe' and provider = 'anthropic'",
    )
    assert episodes == [
        ("global", at(600), at(630), Decimal("30.00"), "major_outage", 30, "server_error", ["inc-1"]),
    ]


def test_the_day_splits_into_minutes_of_official_status_and_incident_time(built: ConnectionInfo) -> None:
    minutes = _rows(
        built,
        "select provider, minutes_operational, minutes_degraded, minutes_partial_outage, minutes_major_outage, "
        "minutes_maintenance, incidents, incident_minutes from marts.mart_provider_uptime_daily where day = %s "
        "order by provider",
        [DAY.date()],
    )
    # Polled from 00:00 to 23:58: anthropic's incident (10:01-10:38, major impact) is worse than its degraded
    # component (10:02-10:40); the scheduled maintenance has not begun.
    assert minutes == [
        ("anthropic", Decimal("1399.00"), Decimal("2.00"), Decimal("37.00"), Decimal("0.00"), Decimal("0.00"), 1,
         Decimal("37.00")),
        ("openai", Decimal("1438.00"), Decimal("0.00"), Decimal("0.00"), Decimal("0.00"), Decimal("0.00"), 0,
         Decimal("0.00")),
    ]  # fmt: skip


def test_an_incident_across_three_polls_is_one_row_with_its_three_updates(built: ConnectionInfo) -> None:
    rows = _rows(
        built,
        "select provider, incident_id, title, impact, status, is_open, created_at, resolved_at, "
        "time_to_resolve_minutes, components, update_count, shortlink from marts.fct_incidents",
    )
    assert rows == [
        ("anthropic", "inc-1", "Elevated errors on Claude API", "partial_outage", "resolved", False, INCIDENT_CREATED,
         INCIDENT_RESOLVED, Decimal("37.00"), ["Claude API"], 3, "https://stspg.io/inc-1"),
    ]  # fmt: skip


def test_component_history_shows_the_degradation_and_the_recovery(built: ConnectionInfo) -> None:
    intervals = _rows(
        built,
        "select component_key, status, source_status, valid_from, valid_to, is_current "
        "from intermediate.int_status_component_intervals where page = 'anthropic' order by component_key, valid_from",
    )
    last_poll = at(MINUTES_PER_DAY - 2)
    assert intervals == [
        ("", "operational", "none", DAY, COMPONENT_DEGRADED, False),
        ("", "degraded", "minor", COMPONENT_DEGRADED, COMPONENT_RECOVERED, False),
        ("", "operational", "none", COMPONENT_RECOVERED, None, True),
        ("api", "operational", "operational", DAY, COMPONENT_DEGRADED, False),
        ("api", "degraded", "degraded_performance", COMPONENT_DEGRADED, COMPONENT_RECOVERED, False),
        ("api", "operational", "operational", COMPONENT_RECOVERED, None, True),
    ]
    assert _rows(
        built,
        "select max(last_observed_at) from intermediate.int_status_component_intervals where page = 'anthropic'",
    ) == [(last_poll,)]


def test_official_and_openrouter_outages_are_episodes_with_their_incidents(built: ConnectionInfo) -> None:
    rows = _rows(
        built,
        "select source, provider, model_id, canonical_model_id, upstream_provider, started_at, ended_at, "
        "duration_minutes, severity, linked_incident_ids from marts.fct_outages where source <> 'probe' order by 1",
    )
    assert rows == [
        ("official", "anthropic", None, None, None, INCIDENT_CREATED, INCIDENT_RESOLVED, Decimal("37.00"),
         "partial_outage", ["inc-1"]),
        ("openrouter", "aws_bedrock", WATCHED_MODEL, "claude-sonnet-4-5", "Amazon Bedrock", BEDROCK_DOWN[0],
         BEDROCK_DOWN[1], Decimal("15.00"), "major_outage", []),
    ]  # fmt: skip
    # openai's last 3 probes failed: an episode still open, as long as the probes seen so far.
    assert _rows(
        built,
        "select started_at, ended_at, is_open, duration_minutes, severity from marts.fct_outages "
        "where source = 'probe' and provider = 'openai'",
    ) == [(at(OPENAI_FAILING_FROM), None, True, Decimal("2.00"), "major_outage")]


def test_current_status_flags_a_page_that_says_operational_while_probes_fail(built: ConnectionInfo) -> None:
    rows = _rows(
        built,
        "select provider, effective_status, status_description, open_incident_count, components_not_operational, "
        "latest_probe_ok, latest_probe_http_status, latest_probe_at, consecutive_failed_probes, "
        "openrouter_endpoints_watched, openrouter_endpoints_up, openrouter_endpoints_up_pct, status_disagrees "
        "from marts.mart_status_current order by provider",
    )
    last_probe = at(MINUTES_PER_DAY - 1)
    assert rows == [
        ("anthropic", "operational", "All Systems Operational", 0, None, True, 200, last_probe, 0, 2, 2,
         Decimal("100.00"), False),
        ("openai", "operational", "All Systems Operational", 0, None, False, 503, last_probe, 3, None, None, None,
         True),
    ]  # fmt: skip


def test_endpoint_health_and_availability_over_30_days(built: ConnectionInfo) -> None:
    health = _rows(
        built,
        "select canonical_model_id, provider_name, provider, samples, samples_down, uptime_last_5m_median, "
        "uptime_last_5m_min, latency_p50_ms_median, latency_p99_ms_median, throughput_p50_median "
        "from marts.mart_model_endpoint_health_daily where day = %s order by provider_name",
        [DAY.date()],
    )
    assert health == [
        ("claude-sonnet-4-5", "Amazon Bedrock", "aws_bedrock", 288, 3, 100.0, 40.0, 800.0, 2000.0, 60.0),
        ("claude-sonnet-4-5", "Anthropic", "anthropic", 288, 0, 100.0, 100.0, 800.0, 2000.0, 60.0),
    ]
    availability = _rows(
        built,
        "select canonical_model_id, provider, basis, availability_30d_pct "
        "from intermediate.int_offering_availability_30d order by basis, provider",
    )
    # Bedrock: 285 samples at 100% and 3 at 40%.
    assert availability == [
        ("claude-sonnet-4-5", "anthropic", "openrouter", Decimal("100.00")),
        ("claude-sonnet-4-5", "aws_bedrock", "openrouter", Decimal("99.38")),
        (None, "anthropic", "probe", Decimal("97.92")),
        (None, "openai", "probe", Decimal("99.79")),
    ]


def test_a_full_refresh_gives_the_rows_the_incremental_builds_gave(built: ConnectionInfo, dbt_target: Path) -> None:
    def snapshot() -> dict[str, list[tuple[Any, ...]]]:
        return {table: sorted(_rows(built, f"select * from {table}"), key=repr) for table in INCREMENTAL_MODELS}

    incremental = snapshot()
    assert all(incremental.values())
    _build(built, dbt_target, "--full-refresh")
    assert snapshot() == incremental
