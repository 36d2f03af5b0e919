"""`modelatlas alerts ...`: deliver once, send a test message, enable a channel, list recent events."""

from __future__ import annotations

from modelatlas.alerts import store
from modelatlas.alerts.events import event_id
from modelatlas.alerts.model import Event
from modelatlas.alerts.routing import load_alert_config
from modelatlas.alerts.service import build_channel, run_alerts, utc_now
from modelatlas.alerts.settings import alert_settings
from modelatlas.errors import ConfigurationError
from modelatlas.warehouse import ConnectionInfo
from modelatlas.warehouse.service import connect

NO_CHANNEL = (
    "no alert channel is configured: set MODELATLAS_SLACK_WEBHOOK_URL, MODELATLAS_DISCORD_WEBHOOK_URL, "
    "MODELATLAS_WEBHOOK_URL with MODELATLAS_WEBHOOK_SECRET, MODELATLAS_SMTP_URL with MODELATLAS_ALERT_EMAIL_TO, "
    "or MODELATLAS_ALERTS_FILE (see docs/alerts.md)"
)


def deliver_once(info: ConnectionInfo, wait_s: float) -> str:
    """One evaluation and delivery pass; what it did, as one line."""
    report = run_alerts(info, budget_s=wait_s)
    if report is None:
        raise ConfigurationError(NO_CHANNEL)
    return report.describe()


def alerts_test_event(channel: str) -> Event:
    """The message `alerts test` sends."""
    now = utc_now()
    return Event(
        event_id=event_id("alerts.test", channel, now.isoformat()),
        kind="alerts.test",
        severity="info",
        occurred_at=now,
        title=f"ModelAtlas test message to {channel}",
        summary="If you can read this, ModelAtlas's alerts reach this channel.",
        facts=(("Channel", channel), ("Sent", now.strftime("%Y-%m-%d %H:%M:%S UTC"))),
        data={"channel": channel},
    )


def send_test(info: ConnectionInfo, channel: str) -> str:
    """Send a test message to `channel` now (not through the outbox); raise when the receiver refuses it."""
    settings = alert_settings()
    config = load_alert_config(settings)
    if channel not in config.channels:
        known = ", ".join(sorted(config.channels)) or "none"
        raise ConfigurationError(f"no alert channel named {channel!r} is configured (configured: {known})")
    sender = build_channel(config.channels[channel], settings)
    event = alerts_test_event(channel)
    result = sender.send(event.event_id, [event])
    if not result.ok:
        raise ConfigurationError(
            f"the {sender.kind} receiver of {channel} refused the test message"
            + (f" (HTTP {result.status_code})" if result.status_code else "")
            + (f": {result.error}" if result.error else "")
        )
    with connect(info) as conn:
        store.ensure_alert_tables(conn)
        disabled = channel in store.disabled_channels(conn)
    note = f"; it is disabled: run `modelatlas alerts enable {channel}` to deliver to it again" if disabled else ""
    return f"test message delivered to {channel} ({sender.kind}){note}"


def enable(info: ConnectionInfo, channel: str) -> str:
    """Enable a channel its receiver disabled."""
    with connect(info) as conn:
        store.ensure_alert_tables(conn)
        enabled = store.enable_channel(conn, channel)
    return f"channel {channel} enabled" if enabled else f"channel {channel} was not disabled"


def list_events(info: ConnectionInfo, limit: int, kind: str | None) -> str:
    """Recent events, newest first, with their delivery state per channel."""
    with connect(info) as conn:
        store.ensure_alert_tables(conn)
        rows = store.recent_events(conn, limit, kind)
    if not rows:
        return "no alert events yet"
    lines = []
    for recorded_at, event_kind, severity, title, suppressed, deliveries in rows:
        state = f"suppressed ({suppressed})" if suppressed else deliveries or "no channel matched"
        lines.append(f"{recorded_at:%Y-%m-%d %H:%M:%S} {severity:<8} {event_kind:<28} {title}\n    {state}")
    return "\n".join(lines)
