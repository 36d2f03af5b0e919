"""The `ops` schema's alert tables: the outbox of events, one delivery per (event, channel), channel state.

Exactly-once rests on two keys: an event's id is derived from its content (recording it again does nothing), and a
delivery is claimed by moving its next attempt past a lease before it is sent, under `for update skip locked`, so two
ticks, processes or machines never send the same delivery at once.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql

from modelatlas.alerts.model import Event, Severity
from modelatlas.alerts.render import json_default

OPS_SCHEMA = "ops"
# Held for the whole evaluation: two ticks evaluating at once would otherwise both see a condition turn on.
EVALUATION_LOCK = 7_314_502_001
# Statuses of a delivery.
PENDING = "pending"
SENDING = "sending"
DELIVERED = "delivered"
FAILED = "failed"
CHANNEL_DISABLED = "channel_disabled"
OPEN_STATUSES = (PENDING, SENDING)
OPS_TABLES = ("alert_outbox", "alert_deliveries", "alert_channels", "alert_conditions", "alert_state")

DDL = (
    "create schema if not exists ops",
    """create table if not exists ops.alert_outbox (
        event_id text primary key,
        kind text not null,
        severity text not null,
        occurred_at timestamptz not null,
        recorded_at timestamptz not null default now(),
        title text not null,
        summary text not null,
        facts jsonb not null,
        data jsonb not null,
        link text,
        suppressed_reason text,
        sequence bigint generated always as identity unique
    )""",
    """create table if not exists ops.alert_deliveries (
        event_id text not null references ops.alert_outbox (event_id),
        channel text not null,
        status text not null,
        severity text not null,
        digest text,
        digest_due_at timestamptz,
        attempts integer not null default 0,
        next_attempt_at timestamptz not null,
        last_error text,
        response_code integer,
        message_id text,
        created_at timestamptz not null default now(),
        updated_at timestamptz not null default now(),
        delivered_at timestamptz,
        primary key (event_id, channel)
    )""",
    "create index if not exists alert_deliveries_due on ops.alert_deliveries (next_attempt_at) "
    "where status in ('pending', 'sending')",
    "create index if not exists alert_outbox_recorded on ops.alert_outbox (recorded_at)",
    """create table if not exists ops.alert_channels (
        channel text primary key,
        kind text not null,
        disabled_at timestamptz,
        disabled_reason text,
        response_code integer
    )""",
    """create table if not exists ops.alert_conditions (
        kind text not null,
        condition_key text not null,
        active boolean not null,
        changed_at timestamptz not null,
        event_id text,
        primary key (kind, condition_key)
    )""",
    """create table if not exists ops.alert_state (
        name text primary key,
        value text not null
    )""",
)


def ensure_alert_tables(conn: psycopg.Connection[Any]) -> None:
    """Create the ops schema and the alert tables when they do not exist yet."""
    for statement in DDL:
        conn.execute(statement)


def to_json(value: Any) -> str:
    """JSON of an event's content: decimals as strings (exact), times in ISO 8601."""
    return json.dumps(value, default=json_default, sort_keys=True)


def alerts_enabled_at(conn: psycopg.Connection[Any], now: datetime) -> datetime:
    """When alerts were first evaluated in this warehouse (recorded by the first evaluation)."""
    conn.execute(
        "insert into ops.alert_state (name, value) values ('enabled_at', %s) on conflict do nothing",
        [now.isoformat()],
    )
    row = conn.execute("select value from ops.alert_state where name = 'enabled_at'").fetchone()
    assert row is not None
    return datetime.fromisoformat(row[0])


def known_event_ids(conn: psycopg.Connection[Any], event_ids: Iterable[str]) -> set[str]:
    """The ids among `event_ids` already in the outbox."""
    ids = list(set(event_ids))
    if not ids:
        return set()
    rows = conn.execute("select event_id from ops.alert_outbox where event_id = any(%s)", [ids]).fetchall()
    return {row[0] for row in rows}


def record_event(conn: psycopg.Connection[Any], event: Event, suppressed_reason: str | None = None) -> bool:
    """Add `event` to the outbox; False when it was there already."""
    cursor = conn.execute(
        """insert into ops.alert_outbox
            (event_id, kind, severity, occurred_at, title, summary, facts, data, link, suppressed_reason)
        values (%s, %s, %s, %s, %s, %s, %s::jsonb, %s::jsonb, %s, %s)
        on conflict (event_id) do nothing""",
        [
            event.event_id,
            event.kind,
            event.severity,
            event.occurred_at,
            event.title,
            event.summary,
            to_json([{"label": label, "value": value} for label, value in event.facts]),
            to_json(dict(event.data)),
            event.link,
            suppressed_reason,
        ],
    )
    return cursor.rowcount == 1


@dataclass(frozen=True)
class PlannedDelivery:
    """A delivery to add: to which channel, at which severity, when first due."""

    channel: str
    severity: Severity
    due_at: datetime
    digest: str | None = None
    digest_due_at: datetime | None = None
    status: str = PENDING


def add_deliveries(conn: psycopg.Connection[Any], event_id: str, deliveries: Sequence[PlannedDelivery]) -> None:
    """One delivery per channel of `event_id`; a delivery that exists already is left as it is."""
    for delivery in deliveries:
        conn.execute(
            """insert into ops.alert_deliveries
                (event_id, channel, status, severity, digest, digest_due_at, next_attempt_at)
            values (%s, %s, %s, %s, %s, %s, %s)
            on conflict (event_id, channel) do nothing""",
            [
                event_id,
                delivery.channel,
                delivery.status,
                delivery.severity,
                delivery.digest,
                delivery.digest_due_at,
                delivery.due_at,
            ],
        )


def disabled_channels(conn: psycopg.Connection[Any]) -> dict[str, str]:
    """Channels disabled by their receiver, with the reason."""
    rows = conn.execute("select channel, disabled_reason from ops.alert_channels where disabled_at is not null")
    return {row[0]: row[1] or "disabled" for row in rows.fetchall()}


def disable_channel(
    conn: psycopg.Connection[Any], channel: str, kind: str, reason: str, response_code: int | None, now: datetime
) -> bool:
    """Mark `channel` disabled and close its open deliveries; False when it was disabled already."""
    cursor = conn.execute(
        """insert into ops.alert_channels as c (channel, kind, disabled_at, disabled_reason, response_code)
        values (%s, %s, %s, %s, %s)
        on conflict (channel) do update set disabled_at = excluded.disabled_at,
            disabled_reason = excluded.disabled_reason, response_code = excluded.response_code
        where c.disabled_at is null""",
        [channel, kind, now, reason, response_code],
    )
    conn.execute(
        """update ops.alert_deliveries set status = %s, last_error = %s, updated_at = %s
        where channel = %s and status = any(%s)""",
        [CHANNEL_DISABLED, reason, now, channel, list(OPEN_STATUSES)],
    )
    return cursor.rowcount == 1


def enable_channel(conn: psycopg.Connection[Any], channel: str) -> bool:
    """Enable a channel its receiver disabled (after the receiver was fixed); False when it was not disabled."""
    cursor = conn.execute(
        "update ops.alert_channels set disabled_at = null, disabled_reason = null, response_code = null "
        "where channel = %s and disabled_at is not null",
        [channel],
    )
    return cursor.rowcount == 1


@dataclass(frozen=True)
class ClaimedDelivery:
    """A delivery this process holds until its lease ends."""

    event: Event
    channel: str
    severity: Severity
    attempts: int
    digest: str | None
    digest_due_at: datetime | None


def _event_from_row(row: Sequence[Any]) -> Event:
    event_id, kind, severity, occurred_at, title, summary, facts, data, link = row
    return Event(
        event_id=event_id,
        kind=kind,
        severity=severity,
        occurred_at=occurred_at,
        title=title,
        summary=summary,
        facts=tuple((fact["label"], fact["value"]) for fact in facts),
        data=data,
        link=link,
    )


EVENT_COLUMNS = "o.event_id, o.kind, o.severity, o.occurred_at, o.title, o.summary, o.facts, o.data, o.link"


def claim_due(
    conn: psycopg.Connection[Any],
    channels: Sequence[str],
    due_by: datetime,
    now: datetime,
    lease: timedelta,
    limit: int,
) -> list[ClaimedDelivery]:
    """Claim up to `limit` deliveries due by `due_by` on `channels` (commit right after: the lease is the claim)."""
    rows = conn.execute(
        f"""with due as (
            select event_id, channel from ops.alert_deliveries
            where status = any(%s) and next_attempt_at <= %s and channel = any(%s)
            order by next_attempt_at, event_id
            limit %s
            for update skip locked
        )
        update ops.alert_deliveries d
        set status = %s, attempts = d.attempts + 1, next_attempt_at = %s, updated_at = %s
        from due, ops.alert_outbox o
        where d.event_id = due.event_id and d.channel = due.channel and o.event_id = d.event_id
        returning {EVENT_COLUMNS}, d.channel, d.severity, d.attempts, d.digest, d.digest_due_at""",
        [list(OPEN_STATUSES), due_by, list(channels), limit, SENDING, now + lease, now],
    ).fetchall()
    return [
        ClaimedDelivery(
            event=_event_from_row(row[:9]),
            channel=row[9],
            severity=row[10],
            attempts=row[11],
            digest=row[12],
            digest_due_at=row[13],
        )
        for row in rows
    ]


def mark_delivered(
    conn: psycopg.Connection[Any],
    channel: str,
    event_ids: Sequence[str],
    message_id: str,
    response_code: int | None,
    now: datetime,
    note: str | None = None,
) -> None:
    """The receiver took the message holding `event_ids` (`note`: what it said besides, such as refused addresses)."""
    conn.execute(
        """update ops.alert_deliveries
        set status = %s, delivered_at = %s, updated_at = %s, response_code = %s, message_id = %s, last_error = %s
        where channel = %s and event_id = any(%s) and status = %s""",
        [DELIVERED, now, now, response_code, message_id, note, channel, list(event_ids), SENDING],
    )


def mark_attempt_failed(
    conn: psycopg.Connection[Any],
    channel: str,
    event_ids: Sequence[str],
    error: str,
    response_code: int | None,
    retry_at: datetime | None,
    now: datetime,
) -> None:
    """The attempt failed: due again at `retry_at`, or failed for good when it is None."""
    conn.execute(
        """update ops.alert_deliveries
        set status = %s, next_attempt_at = coalesce(%s, next_attempt_at), last_error = %s, response_code = %s,
            updated_at = %s
        where channel = %s and event_id = any(%s) and status = %s""",
        [PENDING if retry_at else FAILED, retry_at, error, response_code, now, channel, list(event_ids), SENDING],
    )


def next_due_at(conn: psycopg.Connection[Any], channels: Sequence[str]) -> datetime | None:
    """When the next open delivery on `channels` is due."""
    row = conn.execute(
        "select min(next_attempt_at) from ops.alert_deliveries where status = any(%s) and channel = any(%s)",
        [list(OPEN_STATUSES), list(channels)],
    ).fetchone()
    return row[0] if row else None


def retrying_count(conn: psycopg.Connection[Any], channels: Sequence[str]) -> int:
    """Open deliveries on `channels` that failed at least once and wait for their next attempt."""
    row = conn.execute(
        "select count(*) from ops.alert_deliveries where status = any(%s) and attempts > 0 and channel = any(%s)",
        [list(OPEN_STATUSES), list(channels)],
    ).fetchone()
    return int(row[0]) if row else 0


def condition_states(conn: psycopg.Connection[Any], kind: str) -> dict[str, bool]:
    """{condition key: active} of one condition kind, as last evaluated."""
    rows = conn.execute("select condition_key, active from ops.alert_conditions where kind = %s", [kind])
    return {row[0]: row[1] for row in rows.fetchall()}


def set_condition(
    conn: psycopg.Connection[Any], kind: str, key: str, active: bool, now: datetime, event_id: str | None
) -> None:
    """Record that condition `key` of `kind` turned on or off at `now`."""
    conn.execute(
        """insert into ops.alert_conditions (kind, condition_key, active, changed_at, event_id)
        values (%s, %s, %s, %s, %s)
        on conflict (kind, condition_key) do update
        set active = excluded.active, changed_at = excluded.changed_at,
            event_id = coalesce(excluded.event_id, ops.alert_conditions.event_id)""",
        [kind, key, active, now, event_id],
    )


def baselined_scopes(conn: psycopg.Connection[Any], kind: str) -> set[str]:
    """Scopes (providers, or `*`) of `kind` already evaluated once: the first evaluation of a scope is its baseline."""
    rows = conn.execute(
        "select substr(name, length(%s) + 1) from ops.alert_state where starts_with(name, %s)",
        [f"baseline:{kind}:", f"baseline:{kind}:"],
    ).fetchall()
    return {row[0] for row in rows}


def mark_scopes_baselined(conn: psycopg.Connection[Any], kind: str, scopes: Iterable[str], now: datetime) -> None:
    """Record the first evaluation of each scope of `kind`."""
    for scope in scopes:
        conn.execute(
            "insert into ops.alert_state (name, value) values (%s, %s) on conflict do nothing",
            [f"baseline:{kind}:{scope}", now.isoformat()],
        )


def recent_events(conn: psycopg.Connection[Any], limit: int, kind_pattern: str | None = None) -> list[tuple[Any, ...]]:
    """The latest events with their delivery state per channel, newest first (for `modelatlas alerts list`)."""
    return conn.execute(
        """select o.recorded_at, o.kind, o.severity, o.title, o.suppressed_reason,
            coalesce(string_agg(d.channel || ': ' || d.status
                || case when d.attempts > 1 then ' (' || d.attempts || ' attempts)' else '' end
                || coalesce(', ' || d.last_error, ''), '; ' order by d.channel), '') as deliveries
        from ops.alert_outbox o left join ops.alert_deliveries d using (event_id)
        where %s::text is null or o.kind like %s
        group by o.event_id, o.recorded_at, o.kind, o.severity, o.title, o.suppressed_reason, o.sequence
        order by o.sequence desc
        limit %s""",
        [kind_pattern, kind_pattern, limit],
    ).fetchall()


def ensure_lock(conn: psycopg.Connection[Any]) -> None:
    """Take the evaluation lock for the rest of this transaction."""
    conn.execute(sql.SQL("select pg_advisory_xact_lock({})").format(sql.Literal(EVALUATION_LOCK)))
