"""One alerts pass: evaluate the marts into the outbox, then deliver what is due. The daemon's `alerts` sensor,
`modelatlas run` and `modelatlas alerts deliver` all call `run_alerts`.
"""

from __future__ import annotations

import logging
import random
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from modelatlas.alerts import events as ev
from modelatlas.alerts import store
from modelatlas.alerts.channels import DiscordChannel, SlackChannel, WebhookChannel, email_channel_from_url
from modelatlas.alerts.model import Channel, DeliveryResult, Event
from modelatlas.alerts.routing import (
    AlertConfig,
    ChannelConfig,
    Routing,
    digest_due_at,
    load_alert_config,
    quiet_until,
    route,
)
from modelatlas.alerts.settings import AlertSettings, alert_settings
from modelatlas.redaction import redact
from modelatlas.warehouse import ConnectionInfo
from modelatlas.warehouse.service import connect

log = logging.getLogger(__name__)
# A claimed delivery is another process's again after this long (a process that died mid-send).
LEASE = timedelta(minutes=5)
CLAIM_BATCH = 500
# Messages sent at once; one receiver's slowness then holds up only part of a pass.
SEND_THREADS = 8


def utc_now() -> datetime:
    """Now, in UTC."""
    return datetime.now(UTC)


@dataclass
class AlertsReport:
    """What one pass did."""

    recorded: int = 0
    suppressed: int = 0
    delivered: int = 0
    # Deliveries left waiting for a retry when the pass ended.
    retrying: int = 0
    failed: int = 0
    disabled_channels: list[str] = field(default_factory=list)
    # Detectors whose query failed this pass (their events are found by the next one).
    errors: list[str] = field(default_factory=list)
    last_sequence: int | None = None

    def describe(self) -> str:
        """One line for the sensor's tick and the CLI."""
        text = (
            f"{self.recorded} new events ({self.suppressed} suppressed), {self.delivered} delivered, "
            f"{self.retrying} to retry, {self.failed} failed"
        )
        if self.disabled_channels:
            text += f"; channels disabled by their receiver: {', '.join(self.disabled_channels)}"
        if self.errors:
            text += f"; {len(self.errors)} detectors failed: {'; '.join(self.errors)}"
        return text


# ---- evaluation ------------------------------------------------------------------------------------------------


def detection_settings(
    settings: AlertSettings, now: datetime, stale_assets: Mapping[str, datetime] | None
) -> ev.DetectionSettings:
    """The detectors' settings from the alert settings."""
    return ev.DetectionSettings(
        now=now,
        budget_thresholds=settings.alerts_budget_thresholds,
        retiring_days=settings.alerts_retiring_days,
        retiring_used_only=settings.alerts_retiring_used_only,
        retiring_used_days=settings.alerts_retiring_used_days,
        dashboard_url=settings.dashboard_url,
        dagster_url=settings.dagster_url,
        stale_assets=stale_assets,
    )


def suppression(detected: ev.Detected, since: datetime) -> str | None:
    """Why an event is recorded without deliveries, or None to deliver it."""
    if detected.suppressed_reason:
        return detected.suppressed_reason
    return ev.BEFORE_SINCE if detected.event.occurred_at < since and not detected.ongoing else None


def routings(event: Event, config: AlertConfig, price_min_percent: float) -> list[Routing]:
    """Where an event goes: its routes; a disabled channel's error event goes to every other channel, routed or not."""
    if event.kind == "channel.disabled":
        return [Routing(name, "critical") for name in config.channels if name != event.data.get("channel")]
    return route(event, config, price_min_percent)


def plan_deliveries(
    event: Event, config: AlertConfig, price_min_percent: float, disabled: Mapping[str, str], now: datetime
) -> list[store.PlannedDelivery]:
    """A delivery per channel the routing rules send `event` to: due now, at its digest's end, or after quiet hours."""
    planned = []
    for routing in routings(event, config, price_min_percent):
        if routing.channel not in config.channels:
            continue
        digest_due = digest_due_at(now, routing.digest) if routing.digest else None
        # A digest falling due in quiet hours waits for their end too.
        quiet = quiet_until(digest_due or now, config.quiet_hours, routing.severity)
        due = max(moment for moment in (now, digest_due, quiet) if moment is not None)
        planned.append(
            store.PlannedDelivery(
                channel=routing.channel,
                severity=routing.severity,
                due_at=due,
                digest=routing.digest,
                digest_due_at=digest_due,
                status=store.CHANNEL_DISABLED if routing.channel in disabled else store.PENDING,
            )
        )
    return planned


def evaluate_conditions(
    conn: psycopg.Connection[Any],
    kind: str,
    conditions: Sequence[ev.Condition],
    scopes_evaluated: Iterable[str],
    now: datetime,
) -> list[ev.Detected]:
    """Events of the conditions that turned on since the last evaluation; those that turned off re-arm. Of the levels
    of one group turning on together, the last listed is delivered and the others are recorded as superseded."""
    states = store.condition_states(conn, kind)
    baselined = store.baselined_scopes(conn, kind)
    turning_on = [condition for condition in conditions if condition.active and not states.get(condition.key, False)]
    worst = {condition.group: condition.key for condition in turning_on if condition.group is not None}
    detected = []
    for condition in turning_on:
        event = condition.build(now)
        store.set_condition(conn, kind, condition.key, True, now, event.event_id)
        if condition.scope not in baselined:
            reason: str | None = ev.BASELINE
        elif condition.group is not None and worst[condition.group] != condition.key:
            reason = ev.SUPERSEDED
        else:
            reason = None
        detected.append(ev.Detected(event, reason))
    # Off now, or gone with its row: either re-arms.
    active = {condition.key for condition in conditions if condition.active}
    for key, was_active in states.items():
        if was_active and key not in active:
            store.set_condition(conn, kind, key, False, now, None)
    store.mark_scopes_baselined(conn, kind, scopes_evaluated, now)
    return detected


def detect(
    conn: psycopg.Connection[Any], detection: ev.DetectionSettings, errors: list[str] | None = None
) -> list[ev.Detected]:
    """Every new event the marts show, each with its suppression reason when it is a baseline. Each detector runs
    in a savepoint of its own: one that fails (a mart being rebuilt, say) is reported in `errors` and the others
    still run; its events are found by the next evaluation."""
    now = detection.now
    errors = errors if errors is not None else []
    detected: list[ev.Detected] = []

    def attempt(kinds: Sequence[str], find: Callable[[], list[ev.Detected]]) -> None:
        try:
            with conn.transaction():
                detected.extend(find())
        except psycopg.Error as exc:
            errors.append(f"{', '.join(kinds)}: {redact(str(exc)).strip().splitlines()[0]}")

    for detector in ev.ROW_DETECTORS:

        def rows(detector: ev.RowDetector = detector) -> list[ev.Detected]:
            found = ev.detect_rows(conn, detector, detection)
            return scope_baselines(conn, detector.kinds[0], found, now) if detector.scope_baseline else found

        attempt(detector.kinds, rows)
    detected[:] = ev.keep_highest_thresholds(detected)
    for kind in ("price.sources_disagree", "price.suspected_unit_error"):

        def consensus(kind: str = kind) -> list[ev.Detected]:
            rows = ev.consensus_rows(conn)
            conditions = ev.consensus_conditions(rows, kind, detection)
            return evaluate_conditions(conn, kind, conditions, {"*"} if rows else set(), now)

        attempt((kind,), consensus)
    for kind in ("status.degraded", "status.disagrees"):

        def status(kind: str = kind) -> list[ev.Detected]:
            conditions = ev.status_conditions(ev.status_rows(conn), kind, detection)
            return evaluate_conditions(conn, kind, conditions, {c.scope for c in conditions}, now)

        attempt((kind,), status)
    if detection.stale_assets is not None:
        conditions = ev.stale_conditions(detection)
        attempt(("source.stale",), lambda: evaluate_conditions(conn, "source.stale", conditions, {"*"}, now))
    return detected


def scope_baselines(
    conn: psycopg.Connection[Any], kind: str, found: Sequence[ev.Detected], now: datetime
) -> list[ev.Detected]:
    """Events of a provider this kind has never evaluated are its baseline."""
    if not ev.tables_present(conn, "marts.dim_models"):
        return list(found)
    baselined = store.baselined_scopes(conn, kind)
    providers = {str(row[0]) for row in conn.execute("select distinct provider from marts.dim_models").fetchall()}
    store.mark_scopes_baselined(conn, kind, providers, now)
    return [
        item
        if str(item.event.data.get("provider")) in baselined
        else ev.Detected(item.event, item.suppressed_reason or ev.BASELINE)
        for item in found
    ]


def record(
    conn: psycopg.Connection[Any],
    detected: Iterable[ev.Detected],
    config: AlertConfig,
    settings: AlertSettings,
    since: datetime,
    now: datetime,
    report: AlertsReport,
) -> None:
    """Add the events to the outbox and plan their deliveries."""
    disabled = store.disabled_channels(conn)
    for item in detected:
        reason = suppression(item, since)
        if not store.record_event(conn, item.event, reason):
            continue
        report.recorded += 1
        if reason:
            report.suppressed += 1
            continue
        store.add_deliveries(
            conn,
            item.event.event_id,
            plan_deliveries(item.event, config, settings.alerts_price_min_percent, disabled, now),
        )


def evaluate(
    conn: psycopg.Connection[Any],
    config: AlertConfig,
    settings: AlertSettings,
    now: datetime,
    stale_assets: Mapping[str, datetime] | None = None,
    report: AlertsReport | None = None,
) -> AlertsReport:
    """Record every new event of the marts in the outbox, with its deliveries, in one transaction."""
    report = report or AlertsReport()
    with conn.transaction():
        store.ensure_lock(conn)
        conn.execute("set local time zone 'UTC'")
        enabled_at = store.alerts_enabled_at(conn, now)
        since = settings.alerts_since or enabled_at
        detected = detect(conn, detection_settings(settings, now, stale_assets), report.errors)
        record(conn, detected, config, settings, since, now, report)
        row = conn.execute("select max(sequence) from ops.alert_outbox").fetchone()
        report.last_sequence = row[0] if row else None
    return report


def record_events(
    conn: psycopg.Connection[Any], events: Iterable[Event], config: AlertConfig, settings: AlertSettings, now: datetime
) -> AlertsReport:
    """Record events raised outside the marts (a failed run, a test message) with their deliveries."""
    report = AlertsReport()
    with conn.transaction():
        store.ensure_lock(conn)
        record(
            conn,
            (ev.Detected(event) for event in events),
            config,
            settings,
            datetime.min.replace(tzinfo=UTC),
            now,
            report,
        )
    return report


# ---- delivery --------------------------------------------------------------------------------------------------


def build_channel(config: ChannelConfig, settings: AlertSettings) -> Channel:
    """The channel a configuration describes."""
    timeout = settings.alerts_timeout_s
    if config.kind == "slack":
        assert config.url is not None
        return SlackChannel(config.name, config.url.get_secret_value(), timeout_s=timeout)
    if config.kind == "discord":
        assert config.url is not None
        return DiscordChannel(config.name, config.url.get_secret_value(), timeout_s=timeout)
    if config.kind == "webhook":
        assert config.url is not None and config.secret is not None
        return WebhookChannel(
            config.name, config.url.get_secret_value(), config.secret.get_secret_value(), timeout_s=timeout
        )
    assert config.smtp_url is not None
    return email_channel_from_url(
        config.name, config.smtp_url.get_secret_value(), config.email_to, config.email_from, timeout_s=timeout
    )


def retry_delay_s(
    attempts: int, retry_after_s: float | None, base_s: float, max_s: float, rng: Callable[[], float] = random.random
) -> float:
    """Seconds before the next attempt: the receiver's Retry-After when it gave one, else exponential backoff with
    jitter (between half and all of base x 2^(attempts-1)), never over `max_s`."""
    if retry_after_s is not None:
        return min(max(retry_after_s, 0.0), max_s)
    ceiling = min(base_s * 2.0 ** max(attempts - 1, 0), max_s)
    return ceiling * (0.5 + 0.5 * rng())


@dataclass(frozen=True)
class Message:
    """What goes to one channel in one send: one event, or a digest's events."""

    channel: str
    message_id: str
    deliveries: tuple[store.ClaimedDelivery, ...]
    digest: bool

    @property
    def attempts(self) -> int:
        """The attempt this send is (the most any of its deliveries had)."""
        return max(delivery.attempts for delivery in self.deliveries)


def messages(claimed: Sequence[store.ClaimedDelivery]) -> list[Message]:
    """Claimed deliveries as messages: a digest's deliveries of one channel and period become one message."""
    digests: dict[tuple[str, datetime], list[store.ClaimedDelivery]] = defaultdict(list)
    single = []
    for delivery in claimed:
        if delivery.digest and delivery.digest_due_at is not None:
            digests[(delivery.channel, delivery.digest_due_at)].append(delivery)
        else:
            single.append(Message(delivery.channel, delivery.event.event_id, (delivery,), digest=False))
    # The id names the events it holds: stable across retries of the same digest, distinct for a part of one
    # period's events sent apart (held back by quiet hours, or beyond one claim).
    grouped = [
        Message(
            channel,
            ev.event_id("digest", channel, due.isoformat(), *sorted(d.event.event_id for d in items)),
            tuple(items),
            digest=True,
        )
        for (channel, due), items in digests.items()
    ]
    return single + grouped


def _send(channel: Channel, message: Message) -> DeliveryResult:
    # A route may set the severity an event has on this channel.
    events = [replace(d.event, severity=d.severity) for d in message.deliveries]
    try:
        return channel.send(message.message_id, events, digest=message.digest)
    except Exception as exc:  # a channel bug must not lose the delivery: it is retried like a failed send
        return DeliveryResult(ok=False, error=redact(f"{type(exc).__name__}: {exc}")[:500])


def apply_result(
    conn: psycopg.Connection[Any],
    message: Message,
    result: DeliveryResult,
    channel: Channel,
    settings: AlertSettings,
    now: datetime,
    report: AlertsReport,
) -> Event | None:
    """Record a send's outcome; return the `channel.disabled` event when the receiver said the endpoint is gone."""
    event_ids = [delivery.event.event_id for delivery in message.deliveries]
    if result.ok:
        note = redact(result.error)[:500] if result.error else None
        store.mark_delivered(conn, message.channel, event_ids, message.message_id, result.status_code, now, note)
        report.delivered += len(event_ids)
        return None
    error = redact(result.error or f"HTTP {result.status_code}")[:500]
    if result.gone:
        reason = f"the receiver answered {result.status_code or ''} ({error}): channel disabled".replace("  ", " ")
        store.mark_attempt_failed(conn, message.channel, event_ids, error, result.status_code, None, now)
        report.failed += len(event_ids)
        if store.disable_channel(conn, message.channel, channel.kind, reason, result.status_code, now):
            report.disabled_channels.append(message.channel)
            return channel_disabled_event(message.channel, channel.kind, reason, now)
        return None
    if message.attempts >= settings.alerts_max_attempts:
        store.mark_attempt_failed(conn, message.channel, event_ids, error, result.status_code, None, now)
        report.failed += len(event_ids)
        return None
    delay = retry_delay_s(
        message.attempts, result.retry_after_s, settings.alerts_retry_base_s, settings.alerts_retry_max_s
    )
    store.mark_attempt_failed(
        conn, message.channel, event_ids, error, result.status_code, now + timedelta(seconds=delay), now
    )
    return None


def channel_disabled_event(channel: str, kind: str, reason: str, now: datetime) -> Event:
    """The error event sent to the other channels when a receiver disables one."""
    return Event(
        event_id=ev.event_id("channel.disabled", channel, now.isoformat()),
        kind="channel.disabled",
        severity="critical",
        occurred_at=now,
        title=f"Alert channel {channel} disabled",
        summary=f"The {kind} receiver of channel {channel} said it is gone; {reason}. Fix it, then run "
        f"`modelatlas alerts enable {channel}`.",
        facts=(("Channel", channel), ("Type", kind), ("Reason", reason)),
        data={"channel": channel, "channel_kind": kind, "reason": reason},
    )


def deliver(
    info: ConnectionInfo,
    config: AlertConfig,
    settings: AlertSettings,
    budget_s: float,
    channels: Mapping[str, Channel] | None = None,
    report: AlertsReport | None = None,
    clock: Callable[[], datetime] = utc_now,
) -> AlertsReport:
    """Send every delivery that is due; keep going while the next retry falls within `budget_s` seconds."""
    report = report or AlertsReport()
    channels = (
        dict(channels) if channels is not None else {n: build_channel(c, settings) for n, c in config.channels.items()}
    )
    if not channels:
        return report
    deadline = time.monotonic() + budget_s
    started = clock()
    with connect(info, autocommit=True) as conn, ThreadPoolExecutor(SEND_THREADS) as pool:
        while True:
            # Everything due when the pass started is sent; a retry falling due later only within the budget.
            cutoff = clock() if time.monotonic() < deadline else started
            claimed = store.claim_due(conn, list(channels), cutoff, clock(), LEASE, CLAIM_BATCH)
            if not claimed:
                wait = _wait_for_next(conn, list(channels), clock(), deadline)
                if wait is None:
                    report.retrying = store.retrying_count(conn, list(channels))
                    return report
                time.sleep(wait)
                continue
            batch = messages(claimed)
            results = list(pool.map(lambda m: _send(channels[m.channel], m), batch))
            disabled_events = []
            with conn.transaction():
                for message, result in zip(batch, results, strict=True):
                    event = apply_result(conn, message, result, channels[message.channel], settings, clock(), report)
                    if event is not None:
                        disabled_events.append(event)
            if disabled_events:
                record_events(conn, disabled_events, config, settings, clock())


def _wait_for_next(
    conn: psycopg.Connection[Any], channels: Sequence[str], now: datetime, deadline: float
) -> float | None:
    """Seconds to sleep until the next delivery is due, or None when it is not due before the deadline."""
    next_due = store.next_due_at(conn, channels)
    if next_due is None:
        return None
    wait = max((next_due - now).total_seconds(), 0.0) + 0.01
    return wait if time.monotonic() + wait < deadline else None


def run_alerts(
    info: ConnectionInfo,
    settings: AlertSettings | None = None,
    config: AlertConfig | None = None,
    stale_assets: Mapping[str, datetime] | None = None,
    budget_s: float = 20.0,
    channels: Mapping[str, Channel] | None = None,
) -> AlertsReport | None:
    """Evaluate, then deliver; None when no channel is configured (alerts are off and nothing is recorded)."""
    settings = settings or alert_settings()
    config = config or load_alert_config(settings)
    if not config.channels:
        return None
    with connect(info) as conn:
        store.ensure_alert_tables(conn)
        conn.commit()
        report = evaluate(conn, config, settings, utc_now(), stale_assets)
    return deliver(info, config, settings, budget_s, channels, report)


# A failed run: its id, its job, its failed steps and the source it loads (None for a dbt run).
FailedRun = tuple[str, str, Sequence[str], str | None]


def record_run_failures(
    info: ConnectionInfo,
    runs: Sequence[FailedRun],
    settings: AlertSettings | None = None,
    config: AlertConfig | None = None,
) -> AlertsReport | None:
    """Record a `run.failed` event per failed run (the next pass delivers them); None when alerts are off."""
    settings = settings or alert_settings()
    config = config or load_alert_config(settings)
    if not config.channels:
        return None
    now = utc_now()
    detection = detection_settings(settings, now, None)
    events = [ev.run_failed(run_id, job, steps, source, now, detection) for run_id, job, steps, source in runs]
    with connect(info) as conn:
        store.ensure_alert_tables(conn)
        conn.commit()
        return record_events(conn, events, config, settings, now)
