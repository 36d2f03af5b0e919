"""The status page's queries, and the pure shaping of its charts: every provider's status now, open and recent
incidents, the daily uptime of each provider, latency percentiles and outage episodes."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from psycopg import sql

from modelatlas.dashboard.marts import Query, query, table

STATUS_CURRENT = "mart_status_current"
INCIDENTS = "fct_incidents"
UPTIME_DAILY = "mart_provider_uptime_daily"
ENDPOINT_HEALTH = "mart_model_endpoint_health_daily"
OUTAGES = "fct_outages"
MARTS = (STATUS_CURRENT, INCIDENTS, UPTIME_DAILY, ENDPOINT_HEALTH, OUTAGES)

# Worst first: the order of the status_rank dbt macro, reversed.
STATUS_ORDER = ("major_outage", "partial_outage", "degraded", "maintenance", "operational", "unknown")
STATUS_COLOURS = {
    "major_outage": "#d62728",
    "partial_outage": "#ff7f0e",
    "degraded": "#e5c100",
    "maintenance": "#1f77b4",
    "operational": "#2ca02c",
    "unknown": "#9e9e9e",
}
# What a cell of the uptime heatmap shows: (column of `uptime_daily`, title, colour scale reversed).
UPTIME_METRICS: dict[str, tuple[str, str, bool]] = {
    "availability": ("availability_pct", "Probe availability (%)", False),
    "outage_minutes": ("outage_minutes", "Official outage minutes", True),
    "incident_minutes": ("incident_minutes", "Incident minutes", True),
}
LATENCY_PERCENTILES = {"p50": "latency_p50_ms", "p95": "latency_p95_ms", "p99": "latency_p99_ms"}
WINDOWS_DAYS = (7, 30, 90, 365)
INCIDENT_ROWS = 100
OUTAGE_ROWS = 2000


def _status_rank(column: str) -> sql.Composable:
    cases = sql.SQL(" ").join(
        sql.SQL("when {} then {}").format(sql.Literal(status), sql.Literal(rank))
        for rank, status in enumerate(STATUS_ORDER)
    )
    return sql.SQL("case {} {} else {} end").format(sql.Identifier(column), cases, sql.Literal(len(STATUS_ORDER)))


@query
def current_status() -> Query:
    """Every provider's status now, the worst first."""
    statement = sql.SQL(
        "select provider, effective_status, status_description, open_incident_count, worst_open_incident_impact, "
        "open_incident_titles, components_not_operational, maintenances_in_progress, latest_probe_ok, "
        "latest_probe_http_status, latest_probe_total_ms, latest_probe_region, latest_probe_at, "
        "consecutive_failed_probes, openrouter_endpoints_watched, openrouter_endpoints_up_pct, status_disagrees, "
        "status_observed_at from {} order by {}, provider"
    ).format(table(STATUS_CURRENT), _status_rank("effective_status"))
    return statement, []


@query
def open_incidents() -> Query:
    """The incidents not resolved, the newest first."""
    statement = sql.SQL(
        "select created_at, provider, title, impact, status, components, update_count, last_update_at, shortlink "
        "from {} where is_open order by created_at desc nulls last, provider, incident_id"
    ).format(table(INCIDENTS))
    return statement, []


@query
def recent_incidents(days: int) -> Query:
    """The incidents opened in the last `days`, the newest first."""
    statement = sql.SQL(
        "select created_at, provider, title, impact, status, resolved_at, time_to_resolve_minutes, components, "
        "shortlink from {} where created_at >= now() - make_interval(days => %s::integer) "
        "order by created_at desc, provider, incident_id"
    ).format(table(INCIDENTS))
    return statement, [days]


@query
def uptime_daily(days: int) -> Query:
    """Per provider and day of the last `days`: probe availability over every region, and the official minutes in
    outage and in incidents (the mart repeats those on each region row: taken once)."""
    statement = sql.SQL(
        "select provider, day, sum(probes) as probes, "
        "round(100.0 * sum(probes_ok) / nullif(sum(probes), 0), 2) as availability_pct, "
        "max(minutes_partial_outage + minutes_major_outage) as outage_minutes, "
        "max(incident_minutes) as incident_minutes, max(incidents) as incidents "
        "from {} where day > (now() at time zone 'UTC')::date - %s::integer "
        "group by provider, day order by provider, day"
    ).format(table(UPTIME_DAILY))
    return statement, [days]


@query
def probe_latency(days: int) -> Query:
    """The probes' daily latency percentiles per provider and region, over the last `days`."""
    statement = sql.SQL(
        "select provider, region, day, latency_p50_ms, latency_p95_ms, latency_p99_ms, probes_ok "
        "from {} where probes_ok > 0 and day > (now() at time zone 'UTC')::date - %s::integer "
        "order by provider, region, day"
    ).format(table(UPTIME_DAILY))
    return statement, [days]


@query
def endpoint_latency() -> Query:
    """OpenRouter's latency and uptime of each watched model per upstream provider, on the latest day it holds."""
    statement = sql.SQL(
        "select day, canonical_model_id, provider_name, latency_p50_ms_median, latency_p99_ms_median, "
        "throughput_p50_median, uptime_last_5m_median, samples, samples_down "
        "from {health} where day = (select max(day) from {health}) "
        "order by canonical_model_id, provider_name"
    ).format(health=table(ENDPOINT_HEALTH))
    return statement, []


@query
def outages(days: int) -> Query:
    """The outage episodes that started in the last `days` or still last, the latest first (an open one ends now)."""
    statement = sql.SQL(
        "select outage_id, source, provider, region, canonical_model_id, upstream_provider, endpoint_key, "
        "started_at, coalesce(ended_at, greatest(now(), started_at)) as shown_until, is_open, duration_minutes, "
        "severity, first_error_class, linked_incident_ids "
        "from {} where is_open or started_at >= now() - make_interval(days => %s::integer) "
        "order by started_at desc, outage_id"
    ).format(table(OUTAGES))
    return statement, [days]


@dataclass(frozen=True)
class Grid:
    """A provider x day matrix of one value (None where nothing was measured)."""

    providers: list[str]
    days: list[date]
    values: list[list[float | None]]


def day_range(first: date, last: date) -> list[date]:
    """Every day from `first` to `last`, both included."""
    return [first + timedelta(days=offset) for offset in range((last - first).days + 1)]


def uptime_grid(rows: Iterable[Sequence[Any]], first: date, last: date) -> Grid:
    """(provider, day, value) rows as a matrix over every day of the window: providers sorted, gaps None."""
    cells: dict[tuple[str, date], float | None] = {}
    for provider, day, value in rows:
        if first <= day <= last:
            cells[(str(provider), day)] = None if value is None else float(value)
    providers = sorted({provider for provider, _ in cells})
    days = day_range(first, last)
    return Grid(providers, days, [[cells.get((provider, day)) for day in days] for provider in providers])


def outage_label(source: str, provider: str, region: str | None, model: str | None) -> str:
    """The timeline's row of an outage episode: the provider, and where it was seen from."""
    if source == "probe":
        return f"{provider} (probes{f', {region}' if region else ''})"
    if source == "openrouter":
        return f"{provider} (OpenRouter{f': {model}' if model else ''})"
    return f"{provider} (status page)"


def status_words(status: str | None) -> str:
    """A status as words (`partial_outage` -> `partial outage`)."""
    return (status or "unknown").replace("_", " ")


def as_of(now: datetime, days: int) -> date:
    """The first day of a window of `days` ending today (UTC)."""
    return (now - timedelta(days=days - 1)).date()
