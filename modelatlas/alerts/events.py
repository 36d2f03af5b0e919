"""Events, read from the marts: each detector selects the rows that make an event and words them.

Nothing here decides what a mart already decided (a price change, an outage, a budget's status): a detector only
selects, names (an id derived from the row's content, so the outbox records each event once) and formats.

Two kinds of detector:
- a row detector: each mart row is one event (`price.changed` is a row of `fct_price_changes`); rows whose event is
  in the outbox already are left out by the query itself;
- a condition detector: a mart flag (`sources_disagree`, a provider's status) raises an event when it turns on, and
  re-arms when it turns off; the flag's last state is kept in `ops.alert_conditions`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from functools import partial
from typing import Any

import psycopg

from modelatlas.alerts.model import Event, Severity

# Why an event is recorded without deliveries.
BASELINE = "baseline"  # the first load of a source, the first evaluation of a condition
BEFORE_SINCE = "before_since"  # older than MODELATLAS_ALERTS_SINCE
SUPERSEDED = "superseded"  # a higher budget threshold or a worse status reached in the same evaluation


@dataclass(frozen=True)
class DetectionSettings:
    """What the detectors need to know besides the marts."""

    now: datetime
    budget_thresholds: tuple[float, ...] = (50, 80, 100)
    retiring_days: tuple[int, ...] = (30, 7, 1)
    retiring_used_only: bool = True
    retiring_used_days: int = 30
    dashboard_url: str | None = None
    dagster_url: str | None = None
    # Source assets Dagster evaluates as stale, with the time their state was recorded (condition `source.stale`).
    stale_assets: Mapping[str, datetime] | None = None


@dataclass(frozen=True)
class Detected:
    """An event and, when it must not be delivered, why."""

    event: Event
    suppressed_reason: str | None = None
    # Still true now (an open outage): delivered even when it began before MODELATLAS_ALERTS_SINCE.
    ongoing: bool = False


@dataclass(frozen=True)
class Condition:
    """A flag's current state for one key, and the event it raises when it turns on."""

    key: str
    scope: str
    active: bool
    # Builds the event; the id depends on when the condition turned on, so it is made only then.
    build: Callable[[datetime], Event] = field(compare=False)
    # Conditions of one group are levels of one subject, listed from the mildest: of those turning on together, the
    # last listed is delivered and the others are superseded.
    group: str | None = None


def event_id(kind: str, *parts: object) -> str:
    """A stable id from an event's kind and content."""
    return hashlib.md5("|".join([kind, *(str(part) for part in parts)]).encode()).hexdigest()


def sql_event_id(kind: str, *columns: str) -> str:
    """The SQL expression of `event_id` over `columns` (text; timestamps are read in UTC)."""
    joined = " || '|' || ".join(f"coalesce(({column})::text, '')" for column in columns)
    return f"md5('{kind}' || '|' || {joined})"


def _money(value: Decimal | float | None, unit: str | None = None) -> str:
    if value is None:
        return "n/a"
    amount = Decimal(str(value))
    text = f"${amount:,.2f}" if abs(amount) >= 1 or amount == 0 else f"${amount.normalize():f}"
    return f"{text} / {'Mtok' if unit == 'mtok' else unit}" if unit else text


def _percent(value: Decimal | float | None) -> str:
    return "n/a" if value is None else f"{Decimal(str(value)):+.1f}%"


def _day(value: date | datetime | None) -> str:
    return "n/a" if value is None else value.strftime("%Y-%m-%d")


def _time(value: datetime | None) -> str:
    return "n/a" if value is None else value.strftime("%Y-%m-%d %H:%M UTC")


def _link(settings: DetectionSettings) -> str | None:
    """The dashboard, else the Dagster UI, when configured."""
    return settings.dashboard_url or settings.dagster_url


def dagster_link(settings: DetectionSettings, path: str) -> str | None:
    """A page of the Dagster UI, when its URL is configured; else the dashboard."""
    if settings.dagster_url:
        return settings.dagster_url.rstrip("/") + path
    return _link(settings)


def _rows(conn: psycopg.Connection[Any], query: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    cursor = conn.execute(query, params)
    names = [column.name for column in cursor.description or []]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def tables_present(conn: psycopg.Connection[Any], *tables: str) -> bool:
    """Whether every table exists (a mart not built yet raises no event)."""
    row = conn.execute("select bool_and(to_regclass(t) is not null) from unnest(%s::text[]) t", [list(tables)])
    found = row.fetchone()
    return bool(found and found[0])


def _not_recorded(id_expression: str) -> str:
    return f"not exists (select 1 from ops.alert_outbox o where o.event_id = {id_expression})"


# ---- catalog ---------------------------------------------------------------------------------------------------


MODEL_ADDED_ID = sql_event_id("model.added", "provider", "provider_model_id", "first_seen_at")
MODELS_ADDED = f"""
with models as (
    select *, min(first_seen_at) over (partition by provider) as provider_first_load from marts.dim_models
)
select {MODEL_ADDED_ID} as event_id, provider, provider_model_id, canonical_model_id, display_name, context_window,
    max_output_tokens, first_seen_at, first_seen_at <= provider_first_load as baseline
from models
where {_not_recorded(MODEL_ADDED_ID)}
"""


def model_added(row: Mapping[str, Any], settings: DetectionSettings) -> Detected:
    """A model a provider's catalog lists for the first time (its first load is the baseline)."""
    event = Event(
        event_id=row["event_id"],
        kind="model.added",
        severity="info",
        occurred_at=row["first_seen_at"],
        title=f"New model at {row['provider']}: {row['provider_model_id']}",
        summary=f"{row['provider']} lists {row['display_name'] or row['provider_model_id']} in its catalog.",
        facts=(
            ("Provider", row["provider"]),
            ("Model", row["provider_model_id"]),
            ("Canonical id", row["canonical_model_id"] or "n/a"),
            ("Context window", f"{row['context_window']:,}" if row["context_window"] else "n/a"),
            ("First seen", _time(row["first_seen_at"])),
        ),
        data=_data(row, "provider", "provider_model_id", "canonical_model_id", "context_window", "first_seen_at"),
        link=_link(settings),
    )
    return Detected(event, BASELINE if row["baseline"] else None)


MODEL_REMOVED_ID = sql_event_id("model.removed", "provider", "provider_model_id", "last_seen_at")
MODELS_REMOVED = f"""
select {MODEL_REMOVED_ID} as event_id, provider, provider_model_id, canonical_model_id, display_name, last_seen_at,
    replacement_model_id
from marts.dim_models
where not is_available and {_not_recorded(MODEL_REMOVED_ID)}
"""


def model_removed(row: Mapping[str, Any], settings: DetectionSettings) -> Detected:
    """A model that left its provider's catalog."""
    event = Event(
        event_id=row["event_id"],
        kind="model.removed",
        severity="warning",
        occurred_at=row["last_seen_at"],
        title=f"Model removed at {row['provider']}: {row['provider_model_id']}",
        summary=f"{row['provider']}'s catalog no longer lists {row['provider_model_id']}.",
        facts=(
            ("Provider", row["provider"]),
            ("Model", row["provider_model_id"]),
            ("Last seen", _time(row["last_seen_at"])),
            ("Replacement", row["replacement_model_id"] or "n/a"),
        ),
        data=_data(row, "provider", "provider_model_id", "canonical_model_id", "last_seen_at", "replacement_model_id"),
        link=_link(settings),
    )
    return Detected(event)


DEPRECATION_ID = sql_event_id("model.deprecation_announced", "provider", "provider_model_id", "deprecation_date")
DEPRECATIONS = f"""
select {DEPRECATION_ID} as event_id, provider, provider_model_id, canonical_model_id, deprecation_date,
    replacement_model_id
from marts.dim_models
where is_available and deprecation_date is not null and {_not_recorded(DEPRECATION_ID)}
"""


def deprecation_announced(row: Mapping[str, Any], settings: DetectionSettings) -> Detected:
    """A retirement date that appeared for a listed model (the first evaluation of a provider is its baseline)."""
    event = Event(
        event_id=row["event_id"],
        kind="model.deprecation_announced",
        severity="warning",
        occurred_at=settings.now,
        title=f"{row['provider']} retires {row['provider_model_id']} on {_day(row['deprecation_date'])}",
        summary=(
            f"{row['provider_model_id']} at {row['provider']} has a retirement date: {_day(row['deprecation_date'])}."
            + (f" Replacement: {row['replacement_model_id']}." if row["replacement_model_id"] else "")
        ),
        facts=(
            ("Provider", row["provider"]),
            ("Model", row["provider_model_id"]),
            ("Retirement date", _day(row["deprecation_date"])),
            ("Replacement", row["replacement_model_id"] or "n/a"),
        ),
        data=_data(
            row, "provider", "provider_model_id", "canonical_model_id", "deprecation_date", "replacement_model_id"
        ),
        link=_link(settings),
    )
    return Detected(event)


RETIRING_ID = sql_event_id("model.retiring", "provider", "provider_model_id", "deprecation_date", "days_threshold")


def retiring_query(used_only: bool) -> str:
    """Listed models whose retirement is at most one of the thresholds away, with the nearest threshold."""
    used = (
        """and canonical_model_id in (
            select canonical_model_id from marts.mart_usage_daily where day >= %(today)s - %(used_days)s
        )"""
        if used_only
        else ""
    )
    return f"""
with due as (
    select *, deprecation_date - %(today)s as days_left,
        (select min(t) from unnest(%(thresholds)s::int[]) t where t >= deprecation_date - %(today)s)
            as days_threshold
    from marts.dim_models
    where is_available and deprecation_date >= %(today)s {used}
)
select {RETIRING_ID} as event_id, provider, provider_model_id, canonical_model_id, deprecation_date, days_left,
    days_threshold, replacement_model_id
from due
where days_threshold is not null and {_not_recorded(RETIRING_ID)}
"""


def model_retiring(row: Mapping[str, Any], settings: DetectionSettings) -> Detected:
    """A model the organisation uses that retires within 30, 7 or 1 days."""
    days = row["days_left"]
    event = Event(
        event_id=row["event_id"],
        kind="model.retiring",
        severity="critical" if days <= 7 else "warning",
        occurred_at=settings.now,
        title=f"{row['provider_model_id']} at {row['provider']} retires in {days} day{'s' if days != 1 else ''}",
        summary=(
            f"{row['provider']} retires {row['provider_model_id']} on {_day(row['deprecation_date'])}."
            + (f" Replacement: {row['replacement_model_id']}." if row["replacement_model_id"] else "")
        ),
        facts=(
            ("Provider", row["provider"]),
            ("Model", row["provider_model_id"]),
            ("Retirement date", _day(row["deprecation_date"])),
            ("Days left", str(days)),
            ("Replacement", row["replacement_model_id"] or "n/a"),
        ),
        data=_data(
            row,
            "provider",
            "provider_model_id",
            "canonical_model_id",
            "deprecation_date",
            "days_left",
            "days_threshold",
            "replacement_model_id",
        ),
        link=_link(settings),
    )
    return Detected(event)


# ---- prices ----------------------------------------------------------------------------------------------------


PRICE_CHANGES = f"""
with source_first_load as (
    select source, min(first_seen_at) as first_load from marts.fct_price_history group by source
)
select c.*, c.detected_at <= f.first_load as baseline
from marts.fct_price_changes c left join source_first_load f using (source)
where {_not_recorded("c.price_change_id")}
"""


def price_changed(row: Mapping[str, Any], settings: DetectionSettings) -> Detected:
    """A change of one price series (the changes a source's first load dates in the past are its baseline)."""
    percent = row["price_change_pct"]
    direction = "up" if row["change_direction"] == "increase" else "down"
    tier = "" if row["service_tier"] == "standard" else f" {row['service_tier']}"
    condition = "" if row["condition"] == "base" else f" ({row['condition']})"
    size = f" {abs(percent):.1f}%" if percent is not None else ""
    event = Event(
        event_id=row["price_change_id"],
        kind="price.changed",
        severity="warning" if row["change_direction"] == "increase" else "info",
        occurred_at=row["detected_at"],
        title=(
            f"{row['provider']} {row['provider_model_id']}{tier} {row['component']} price {direction}{size}"
            f" ({row['source']})"
        ),
        summary=(
            f"{row['source']} prices {row['component']}{condition} of {row['provider_model_id']} at {row['provider']}"
            f" at {_money(row['new_price_usd'], row['unit'])}, was {_money(row['old_price_usd'], row['unit'])}"
            f", from {_time(row['changed_at'])}."
        ),
        facts=(
            ("Model", row["provider_model_id"]),
            ("Provider", row["provider"]),
            ("Component", row["component"]),
            ("Tier", row["service_tier"]),
            ("Old price", _money(row["old_price_usd"], row["unit"])),
            ("New price", _money(row["new_price_usd"], row["unit"])),
            ("Change", _percent(percent)),
            ("Source", row["source"]),
            ("Effective", _time(row["changed_at"])),
        ),
        data={
            **_data(
                row,
                "source",
                "provider",
                "provider_model_id",
                "canonical_model_id",
                "component",
                "service_tier",
                "condition",
                "region",
                "unit",
                "old_price_usd",
                "new_price_usd",
                "change_direction",
                "changed_at",
            ),
            "percent": percent,
        },
        link=_link(settings),
    )
    return Detected(event, BASELINE if row["baseline"] else None)


CONSENSUS = """
select canonical_model_id, provider, component, unit, genai_prices_price_usd, litellm_price_usd,
    openrouter_price_usd, consensus_price_usd, price_spread, sources_disagree, suspected_unit_error
from marts.mart_price_consensus
"""


def consensus_conditions(rows: Sequence[Mapping[str, Any]], kind: str, settings: DetectionSettings) -> list[Condition]:
    """`price.sources_disagree` or `price.suspected_unit_error`: one condition per priced model, provider and
    component, on while the consensus mart's flag is."""
    flag = "sources_disagree" if kind == "price.sources_disagree" else "suspected_unit_error"
    conditions = []
    for row in rows:
        key = "|".join(str(row[column]) for column in ("canonical_model_id", "provider", "component", "unit"))

        def build(since: datetime, row: Mapping[str, Any] = row, key: str = key) -> Event:
            prices = (
                ("genai-prices", row["genai_prices_price_usd"]),
                ("litellm", row["litellm_price_usd"]),
                ("openrouter", row["openrouter_price_usd"]),
            )
            what = "disagree" if flag == "sources_disagree" else "look like a unit error"
            return Event(
                event_id=event_id(kind, key, since.isoformat()),
                kind=kind,
                severity="warning",
                occurred_at=since,
                title=f"Price sources {what}: {row['canonical_model_id']} {row['component']} at {row['provider']}",
                summary=(
                    f"The sources' {row['component']} prices of {row['canonical_model_id']} at {row['provider']} "
                    + ("are more than the threshold apart." if flag == "sources_disagree" else "are ~1,000x apart.")
                ),
                facts=(
                    *((source, _money(price, row["unit"])) for source, price in prices if price is not None),
                    ("Consensus", _money(row["consensus_price_usd"], row["unit"])),
                    ("Spread", "n/a" if row["price_spread"] is None else f"{row['price_spread'] * 100:.1f}%"),
                ),
                data=_data(
                    row,
                    "canonical_model_id",
                    "provider",
                    "component",
                    "unit",
                    "genai_prices_price_usd",
                    "litellm_price_usd",
                    "openrouter_price_usd",
                    "consensus_price_usd",
                    "price_spread",
                ),
                link=_link(settings),
            )

        conditions.append(Condition(key=key, scope="*", active=bool(row[flag]), build=build))
    return conditions


# ---- status ----------------------------------------------------------------------------------------------------


OUTAGES_STARTED_ID = sql_event_id("outage.started", "outage_id")
OUTAGES_RESOLVED_ID = sql_event_id("outage.resolved", "outage_id")
OUTAGES = f"""
select {OUTAGES_STARTED_ID} as event_id, 'outage.started' as kind, started_at as occurred_at, *
from marts.fct_outages where {_not_recorded(OUTAGES_STARTED_ID)}
union all
select {OUTAGES_RESOLVED_ID}, 'outage.resolved', ended_at, *
from marts.fct_outages where ended_at is not null and {_not_recorded(OUTAGES_RESOLVED_ID)}
"""


def outage(row: Mapping[str, Any], settings: DetectionSettings) -> Detected:
    """An outage episode that started or ended (probe, official page, or OpenRouter's endpoints)."""
    started = row["kind"] == "outage.started"
    where = row["provider"] + (f" ({row['region']})" if row["region"] else "")
    if row["model_id"]:
        where += f", {row['model_id']} via {row['upstream_provider']}"
    severity: Severity = "critical" if row["severity"] == "major_outage" else "warning"
    event = Event(
        event_id=row["event_id"],
        kind=row["kind"],
        severity=severity if started else "info",
        occurred_at=row["occurred_at"],
        title=f"{'Outage' if started else 'Outage resolved'}: {where}",
        summary=(
            f"{row['source']} reports a {row['severity'].replace('_', ' ')} of {where} "
            f"since {_time(row['started_at'])}."
            if started
            else f"The {row['severity'].replace('_', ' ')} of {where} ended at {_time(row['ended_at'])} "
            f"after {row['duration_minutes']} minutes."
        ),
        facts=(
            ("Provider", row["provider"]),
            ("Source", row["source"]),
            ("Severity", row["severity"]),
            ("Started", _time(row["started_at"])),
            *(
                (("Ended", _time(row["ended_at"])), ("Duration", f"{row['duration_minutes']} min"))
                if not started
                else ()
            ),
            *((("First error", row["first_error_class"]),) if row["first_error_class"] else ()),
        ),
        data=_data(
            row,
            "outage_id",
            "source",
            "provider",
            "region",
            "model_id",
            "canonical_model_id",
            "upstream_provider",
            "severity",
            "started_at",
            "ended_at",
            "duration_minutes",
            "first_error_class",
        ),
        link=_link(settings),
    )
    return Detected(event, ongoing=started and row["ended_at"] is None)


STATUS_CURRENT = """
select provider, effective_status, status_description, open_incident_titles, components_not_operational,
    status_observed_at, status_disagrees, latest_probe_ok, consecutive_failed_probes, probes_failing_since
from marts.mart_status_current
"""
WORSE_THAN_OPERATIONAL = ("maintenance", "degraded", "partial_outage", "major_outage")


def status_conditions(rows: Sequence[Mapping[str, Any]], kind: str, settings: DetectionSettings) -> list[Condition]:
    """`status.disagrees` (the page and the probes disagree), one per provider, or `status.degraded`: per provider,
    one level per status worse than operational, each on while the status is at least that bad, so a provider that
    turns worse alerts again and one that recovers part way says nothing. A level's key and scope are the provider
    for the mildest, as when one condition stood for them all."""
    conditions = []
    for row in rows:
        provider = str(row["provider"])
        if kind != "status.degraded":
            build = partial(status_event, kind, row, provider, settings=settings)
            conditions.append(Condition(provider, provider, bool(row["status_disagrees"]), build))
            continue
        for level, status in enumerate(WORSE_THAN_OPERATIONAL):
            key = provider if level == 0 else f"{provider}|{status}"
            active = row["effective_status"] in WORSE_THAN_OPERATIONAL[level:]
            build = partial(status_event, kind, row, key, settings=settings)
            conditions.append(Condition(key, key, active, build, group=provider))
    return conditions


def status_event(kind: str, row: Mapping[str, Any], key: str, since: datetime, settings: DetectionSettings) -> Event:
    """A `status.degraded` or `status.disagrees` event of a provider's current status."""
    degraded = kind == "status.degraded"
    status = str(row["effective_status"])
    severity: Severity = "critical" if status == "major_outage" else "info" if status == "maintenance" else "warning"
    return Event(
        event_id=event_id(kind, key, since.isoformat()),
        kind=kind,
        severity=severity if degraded else "warning",
        occurred_at=since,
        title=(
            f"{row['provider']} status: {status.replace('_', ' ')}"
            if degraded
            else f"{row['provider']}: status page and probes disagree"
        ),
        summary=(
            f"{row['provider']}'s status page says {row['status_description'] or status}."
            if degraded
            else f"{row['provider']}'s page says {status.replace('_', ' ')} while "
            f"{row['consecutive_failed_probes']} probes in a row failed."
        ),
        facts=(
            ("Provider", row["provider"]),
            ("Official status", status),
            *((("Open incidents", row["open_incident_titles"]),) if row["open_incident_titles"] else ()),
            *((("Components", row["components_not_operational"]),) if row["components_not_operational"] else ()),
            ("Failed probes in a row", str(row["consecutive_failed_probes"] or 0)),
        ),
        data=_data(
            row,
            "provider",
            "effective_status",
            "status_description",
            "open_incident_titles",
            "components_not_operational",
            "status_disagrees",
            "consecutive_failed_probes",
            "probes_failing_since",
        ),
        link=_link(settings),
    )


# ---- budgets ---------------------------------------------------------------------------------------------------


BUDGET_THRESHOLD_ID = sql_event_id("budget.threshold", "b.subject", "b.month", "t", "b.budget_usd")
FORECAST_ID = sql_event_id("budget.forecast_exceeds", "subject", "month", "budget_usd")
LIMIT_ID = sql_event_id("limit.exceeded", "subject", "month", "budget_usd", "request_limit")
# Each subject's latest month: the current one (or the as-of month the budgets were computed for).
LATEST_MONTHS = """latest as (
    select * from marts.mart_budget_status b
    where month = (select max(month) from marts.mart_budget_status m where m.scope = b.scope and m.subject = b.subject)
)"""
BUDGETS = f"""
with {LATEST_MONTHS}
select {BUDGET_THRESHOLD_ID} as event_id, 'budget.threshold' as kind, t as threshold_percent, b.*
from latest b cross join unnest(%(thresholds)s::numeric[]) t
where b.scope = 'team' and b.budget_usd > 0 and b.budget_used_share * 100 >= t
    and {_not_recorded(BUDGET_THRESHOLD_ID)}
union all
select {FORECAST_ID}, 'budget.forecast_exceeds', null, b.*
from latest b
where b.scope = 'team' and b.forecast_exceeds and b.status <> 'exceeded' and {_not_recorded(FORECAST_ID)}
union all
select {LIMIT_ID}, 'limit.exceeded', null, b.*
from latest b
where b.scope = 'api_key' and b.status = 'exceeded' and {_not_recorded(LIMIT_ID)}
"""


def budget(row: Mapping[str, Any], settings: DetectionSettings) -> Detected:
    """A team's spend crossing a threshold of its budget, a forecast crossing it, or a key over its limit."""
    kind = row["kind"]
    month = row["month"].strftime("%Y-%m")
    used = row["budget_used_share"]
    used_text = "n/a" if used is None else f"{Decimal(str(used)) * 100:.1f}%"
    if kind == "budget.threshold":
        threshold = row["threshold_percent"]
        severity: Severity = "critical" if threshold >= 100 else "warning" if threshold >= 80 else "info"
        title = f"Team {row['team']} at {threshold.normalize():f}% of its {month} budget"
        summary = (
            f"Team {row['team']} spent {_money(row['spend_to_date_usd'])} of its {_money(row['budget_usd'])} "
            f"budget for {month} ({used_text}) through {_day(row['through_day'])}."
        )
    elif kind == "budget.forecast_exceeds":
        severity = "warning"
        title = f"Team {row['team']} is forecast to exceed its {month} budget"
        summary = (
            f"Team {row['team']}'s {row['forecast_method']} forecast for {month} is {_money(row['forecast_usd'])}, "
            f"over its {_money(row['budget_usd'])} budget ({_money(row['spend_to_date_usd'])} spent so far)."
        )
    else:
        severity = "critical"
        title = f"API key {row['subject']} is over its {month} limit"
        summary = (
            f"API key {row['subject']} (team {row['team']}) used {_money(row['spend_to_date_usd'])} and "
            f"{row['requests_to_date'] or 0:,} requests in {month}; its limit is "
            + (f"{_money(row['budget_usd'])}" if row["budget_usd"] is not None else "")
            + (f" / {row['request_limit']:,} requests" if row["request_limit"] is not None else "")
            + "."
        )
    event = Event(
        event_id=row["event_id"],
        kind=kind,
        severity=severity,
        occurred_at=settings.now,
        title=title,
        summary=summary,
        facts=(
            ("Team", str(row["team"])),
            *((("API key", str(row["subject"])),) if row["scope"] == "api_key" else ()),
            ("Month", month),
            ("Budget", _money(row["budget_usd"])),
            ("Spent", _money(row["spend_to_date_usd"])),
            ("Used", used_text),
            ("Forecast", _money(row["forecast_usd"])),
        ),
        data={
            **_data(
                row,
                "scope",
                "subject",
                "team",
                "month",
                "budget_usd",
                "request_limit",
                "spend_to_date_usd",
                "requests_to_date",
                "budget_used_share",
                "forecast_usd",
                "forecast_method",
                "status",
            ),
            **({"threshold_percent": row["threshold_percent"]} if kind == "budget.threshold" else {}),
        },
        link=_link(settings),
    )
    return Detected(event)


def keep_highest_thresholds(detected: Sequence[Detected]) -> list[Detected]:
    """Of the thresholds one team crossed in one evaluation, deliver the highest: the lower ones are superseded."""
    highest: dict[tuple[Any, Any], Decimal] = {}
    for item in detected:
        if item.event.kind == "budget.threshold" and item.suppressed_reason is None:
            subject = (item.event.data["subject"], item.event.data["month"])
            highest[subject] = max(highest.get(subject, Decimal(0)), Decimal(item.event.data["threshold_percent"]))
    kept = []
    for item in detected:
        data = item.event.data
        if (
            item.event.kind == "budget.threshold"
            and item.suppressed_reason is None
            and Decimal(data["threshold_percent"]) < highest[(data["subject"], data["month"])]
        ):
            item = replace(item, suppressed_reason=SUPERSEDED)
        kept.append(item)
    return kept


# ---- quality and sources ---------------------------------------------------------------------------------------


BLOCKED_ID = sql_event_id("quality.batch_blocked", "source", "entity", "batch_id")
BLOCKED_BATCHES = f"""
select {BLOCKED_ID} as event_id, source, entity, batch_id, min(validated_at) as validated_at,
    string_agg(distinct description, '; ') as reasons, max(run_id) as run_id
from dq.validation_results
where level = 'batch' and not success
group by source, entity, batch_id
having {_not_recorded(BLOCKED_ID)}
"""


def batch_blocked(row: Mapping[str, Any], settings: DetectionSettings) -> Detected:
    """A batch the quality gate blocked: nothing of it loaded, the source keeps its last good data."""
    event = Event(
        event_id=row["event_id"],
        kind="quality.batch_blocked",
        severity="warning",
        occurred_at=row["validated_at"],
        title=f"Quality gate blocked a batch of {row['source']} ({row['entity']})",
        summary=f"Nothing of the batch loaded; {row['source']} keeps its last good data. Why: {row['reasons']}.",
        facts=(
            ("Source", row["source"]),
            ("Table", row["entity"]),
            ("Batch", row["batch_id"]),
            ("Reasons", row["reasons"]),
        ),
        data={
            **_data(row, "source", "entity", "batch_id", "reasons", "run_id", "validated_at"),
            "provider": row["source"],
        },
        link=dagster_link(settings, f"/runs/{row['run_id']}") if row["run_id"] else dagster_link(settings, ""),
    )
    return Detected(event)


def source_of_asset(asset: str) -> str:
    """The source of a source asset's key: `raw_openai/models` is openai's; a time series (`ts/...`) its table."""
    dataset, _, table = asset.partition("/")
    return dataset.removeprefix("raw_") if dataset.startswith("raw_") else table


def stale_conditions(settings: DetectionSettings) -> list[Condition]:
    """`source.stale`: one condition per source asset, on while Dagster evaluates its freshness as failed."""
    stale = settings.stale_assets or {}
    conditions = []
    for asset, since in stale.items():

        def build(turned_on: datetime, asset: str = asset, since: datetime = since) -> Event:
            return Event(
                event_id=event_id("source.stale", asset, turned_on.isoformat()),
                kind="source.stale",
                severity="warning",
                occurred_at=turned_on,
                title=f"Stale source: {asset}",
                summary=f"{asset} has missed its freshness window since {_time(since)}; its marts show older data.",
                facts=(("Asset", asset), ("Stale since", _time(since))),
                data={"asset": asset, "provider": source_of_asset(asset), "stale_since": since},
                link=dagster_link(settings, f"/assets/{asset}"),
            )

        conditions.append(Condition(key=asset, scope="*", active=True, build=build))
    return conditions


def run_failed(
    run_id: str, job_name: str, steps: Sequence[str], source: str | None, at: datetime, settings: DetectionSettings
) -> Event:
    """A Dagster run that failed, with the steps that failed."""
    failed = ", ".join(steps) or "no step"
    return Event(
        event_id=event_id("run.failed", run_id),
        kind="run.failed",
        severity="warning",
        occurred_at=at,
        title=f"Run of {job_name} failed",
        summary=f"Run {run_id} of {job_name} failed in {failed}."
        + (f" The models reading {source} keep their last good build until it loads again." if source else ""),
        facts=(
            ("Job", job_name),
            ("Run", run_id),
            ("Failed steps", failed),
            *((("Source", source),) if source else ()),
        ),
        data={"run_id": run_id, "job_name": job_name, "failed_steps": list(steps), "provider": source},
        link=dagster_link(settings, f"/runs/{run_id}"),
    )


def _data(row: Mapping[str, Any], *columns: str) -> dict[str, Any]:
    return {column: row[column] for column in columns if row.get(column) is not None}


# ---- the detectors, in the order the evaluation runs them ------------------------------------------------------


@dataclass(frozen=True)
class RowDetector:
    """A query over some marts whose each row is one event."""

    kinds: tuple[str, ...]
    tables: tuple[str, ...]
    query: Callable[[DetectionSettings], str]
    to_event: Callable[[Mapping[str, Any], DetectionSettings], Detected]
    # The detector's events are baseline on the first evaluation that sees a scope (a provider): see `scope_of`.
    scope_baseline: bool = False


ROW_DETECTORS = (
    RowDetector(("model.added",), ("marts.dim_models",), lambda _: MODELS_ADDED, model_added),
    RowDetector(("model.removed",), ("marts.dim_models",), lambda _: MODELS_REMOVED, model_removed),
    RowDetector(
        ("model.deprecation_announced",),
        ("marts.dim_models",),
        lambda _: DEPRECATIONS,
        deprecation_announced,
        scope_baseline=True,
    ),
    RowDetector(
        ("model.retiring",),
        ("marts.dim_models", "marts.mart_usage_daily"),
        lambda settings: retiring_query(settings.retiring_used_only),
        model_retiring,
    ),
    RowDetector(
        ("price.changed",),
        ("marts.fct_price_changes", "marts.fct_price_history"),
        lambda _: PRICE_CHANGES,
        price_changed,
    ),
    RowDetector(("outage.started", "outage.resolved"), ("marts.fct_outages",), lambda _: OUTAGES, outage),
    RowDetector(
        ("budget.threshold", "budget.forecast_exceeds", "limit.exceeded"),
        ("marts.mart_budget_status",),
        lambda _: BUDGETS,
        budget,
    ),
    RowDetector(("quality.batch_blocked",), ("dq.validation_results",), lambda _: BLOCKED_BATCHES, batch_blocked),
)


def query_parameters(settings: DetectionSettings) -> dict[str, Any]:
    """The named parameters the detectors' queries use."""
    return {
        "today": settings.now.date(),
        "thresholds": list(settings.budget_thresholds),
        "used_days": settings.retiring_used_days,
    }


def retiring_parameters(settings: DetectionSettings) -> dict[str, Any]:
    """The retirement thresholds are their own parameter: the budget thresholds share the name in BUDGETS."""
    return {**query_parameters(settings), "thresholds": list(settings.retiring_days)}


def detect_rows(conn: psycopg.Connection[Any], detector: RowDetector, settings: DetectionSettings) -> list[Detected]:
    """The events of one row detector not in the outbox yet (none while its marts are not built)."""
    if not tables_present(conn, *detector.tables):
        return []
    params = retiring_parameters(settings) if detector.kinds == ("model.retiring",) else query_parameters(settings)
    return [detector.to_event(row, settings) for row in _rows(conn, detector.query(settings), params)]


def consensus_rows(conn: psycopg.Connection[Any]) -> list[dict[str, Any]]:
    """The consensus mart, when built."""
    return _rows(conn, CONSENSUS) if tables_present(conn, "marts.mart_price_consensus") else []


def status_rows(conn: psycopg.Connection[Any]) -> list[dict[str, Any]]:
    """The current-status mart, when built."""
    return _rows(conn, STATUS_CURRENT) if tables_present(conn, "marts.mart_status_current") else []
