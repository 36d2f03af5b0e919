"""The soak's alerts: a Slack-style and a signed-webhook receiver beside the services, each down for its first
requests, and the checks that every event the soak's changes raise reaches each exactly once under the daemon."""

from __future__ import annotations

import base64
import secrets
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from bench.results import Check, Target
from modelatlas.alerts.service import run_alerts
from modelatlas.alerts.settings import alert_settings
from modelatlas.simulator.receivers import AlertReceiver
from modelatlas.warehouse import ConnectionInfo
from modelatlas.warehouse.service import connect

ALERT_VARIABLES = (
    "MODELATLAS_SLACK_WEBHOOK_URL",
    "MODELATLAS_WEBHOOK_URL",
    "MODELATLAS_WEBHOOK_SECRET",
    "MODELATLAS_ALERTS_ALLOW_HTTP",
)
# Each receiver answers 500 to its first requests: the sensor's retries must still deliver once.
FAILED_REQUESTS = 2
PATHS = {"slack": "/slack/TSOAK/BSOAK/soak", "webhook": "/webhook/soak"}
# The soak's changes that raise events: "a price changes" and "models appear" (bench/soak/scenario.py).
EXPECTED_KINDS = ("price.changed", "model.added")


def alert_environment(receiver: AlertReceiver) -> dict[str, str | None]:
    """Alerts to the receiver's Slack-style and webhook endpoints, both down for their first requests."""
    for path in PATHS.values():
        receiver.script(path, *[500] * FAILED_REQUESTS)
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    return {
        "MODELATLAS_SLACK_WEBHOOK_URL": receiver.url(PATHS["slack"]),
        "MODELATLAS_WEBHOOK_URL": receiver.url(PATHS["webhook"]),
        "MODELATLAS_WEBHOOK_SECRET": secret,
        "MODELATLAS_ALERTS_ALLOW_HTTP": "true",
    }


@dataclass
class AlertFindings:
    """What the outbox and the receivers hold at the end."""

    events: int = 0
    suppressed: int = 0
    # Kind: deliveries delivered while the daemon ran (its sensor's), per kind.
    delivered_by_daemon: dict[str, int] = field(default_factory=dict)
    delivered_after: int = 0
    not_delivered: list[str] = field(default_factory=list)
    retried: int = 0
    duplicates: dict[str, int] = field(default_factory=dict)
    # Channel: messages the receiver accepted minus deliveries marked delivered (each message is one event here).
    unaccounted: dict[str, int] = field(default_factory=dict)
    final_pass: str = ""

    def describe(self) -> str:
        """One line for the timeline."""
        delivered = sum(self.delivered_by_daemon.values())
        return (
            f"{self.events} events ({self.suppressed} without deliveries), {delivered} deliveries by the "
            f"daemon's sensor, {self.delivered_after} by the last pass, {len(self.not_delivered)} not delivered"
        )


def accepted_duplicates(receiver: AlertReceiver, path: str) -> int:
    """Messages the receiver accepted more than once: by webhook-id, else by identical body."""
    accepted = receiver.requests_to(path)[FAILED_REQUESTS:]
    keys = [request.headers.get("webhook-id") or request.body.decode() for request in accepted]
    return sum(count - 1 for count in Counter(keys).values())


def read_alerts(info: ConnectionInfo, receiver: AlertReceiver, daemon_stopped_at: float) -> AlertFindings:
    """One last pass for the events of the builds that finished after the daemon stopped (its sensor's next tick
    would have sent them), then the outbox and the receivers, compared."""
    report = run_alerts(info, alert_settings(), budget_s=60)
    stopped = datetime.fromtimestamp(daemon_stopped_at, UTC)
    findings = AlertFindings(final_pass=report.describe() if report else "alerts off")
    with connect(info) as conn:
        row = conn.execute(
            "select count(*), count(*) filter (where suppressed_reason is not null) from ops.alert_outbox"
        ).fetchone()
        assert row is not None
        findings.events, findings.suppressed = row
        rows = conn.execute(
            """select o.kind, d.channel, d.status, d.attempts, d.delivered_at
            from ops.alert_deliveries d join ops.alert_outbox o using (event_id)"""
        ).fetchall()
    delivered: Counter[str] = Counter()
    for kind, channel, status, attempts, delivered_at in rows:
        findings.retried += attempts > 1
        if status != "delivered":
            findings.not_delivered.append(f"{kind} to {channel}: {status}")
        elif delivered_at <= stopped:
            findings.delivered_by_daemon[kind] = findings.delivered_by_daemon.get(kind, 0) + 1
            delivered[channel] += 1
        else:
            findings.delivered_after += 1
            delivered[channel] += 1
    for channel, path in PATHS.items():
        findings.duplicates[channel] = accepted_duplicates(receiver, path)
        accepted = max(len(receiver.requests_to(path)) - FAILED_REQUESTS, 0)
        findings.unaccounted[channel] = accepted - delivered[channel]
    return findings


def alert_checks(measure: int, findings: AlertFindings) -> tuple[list[Check], Mapping[str, Any]]:
    """The soak's alert checks and their details."""
    kinds = [kind for kind in EXPECTED_KINDS if findings.delivered_by_daemon.get(kind, 0) >= len(PATHS)]
    checks = [
        Check(
            measure,
            "events recorded",
            findings.events,
            note=f"{findings.suppressed} without deliveries: baseline, before_since or superseded",
        ),
        Check(
            measure,
            f"kinds the daemon's sensor delivered to both receivers ({', '.join(EXPECTED_KINDS)})",
            len(kinds),
            target=Target("==", len(EXPECTED_KINDS)),
        ),
        Check(
            measure,
            "deliveries not delivered at the end",
            len(findings.not_delivered),
            target=Target("==", 0),
            note="; ".join(findings.not_delivered)[:300],
        ),
        Check(measure, "messages a receiver accepted twice", sum(findings.duplicates.values()), target=Target("==", 0)),
        Check(
            measure,
            "accepted messages without a delivered delivery, or the reverse",
            sum(abs(value) for value in findings.unaccounted.values()),
            target=Target("==", 0),
        ),
        Check(measure, "deliveries retried after a receiver's 500", findings.retried),
    ]
    return checks, asdict(findings)
