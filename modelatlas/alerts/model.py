"""The shapes every part of the alerts shares: an event, a channel's answer, a channel."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

Severity = Literal["info", "warning", "critical"]
SEVERITIES: tuple[Severity, ...] = ("info", "warning", "critical")
ChannelKind = Literal["slack", "discord", "email", "webhook"]

# Every event kind, in the order the docs list them.
EVENT_KINDS = (
    "model.added",
    "model.removed",
    "model.deprecation_announced",
    "model.retiring",
    "price.changed",
    "price.sources_disagree",
    "price.suspected_unit_error",
    "outage.started",
    "outage.resolved",
    "status.degraded",
    "status.disagrees",
    "budget.threshold",
    "budget.forecast_exceeds",
    "limit.exceeded",
    "quality.batch_blocked",
    "source.stale",
    "run.failed",
    "channel.disabled",
    "alerts.test",
)


@dataclass(frozen=True)
class Event:
    """One thing that happened, as the marts show it; `event_id` is derived from its content, so it is stable."""

    event_id: str
    kind: str
    severity: Severity
    occurred_at: datetime
    # One line: "OpenAI gpt-4o input price up 20.0% (genai-prices)".
    title: str
    # A sentence or two saying what changed.
    summary: str
    # Ordered (label, value) pairs shown as fields: ("Old price", "$2.50 / Mtok").
    facts: tuple[tuple[str, str], ...] = ()
    # JSON-ready content for webhooks and routing filters: provider, canonical_model_id, provider_model_id, team,
    # component, percent, source, ... (keys absent when they do not apply).
    data: Mapping[str, Any] = field(default_factory=dict)
    # Where to look: the dashboard or the Dagster UI, when configured.
    link: str | None = None


@dataclass(frozen=True)
class DeliveryResult:
    """What a channel answered to one message."""

    ok: bool
    status_code: int | None = None
    # Seconds the receiver asked us to wait (Retry-After, Discord's retry_after), when it said.
    retry_after_s: float | None = None
    # A short reason, never a URL or a secret.
    error: str | None = None
    # The receiver says the endpoint is gone for good (HTTP 410, Slack's channel_is_archived...): disable the channel.
    gone: bool = False


class Channel(Protocol):
    """A configured destination; `send` never raises for a receiver's failure, it returns it."""

    name: str
    kind: ChannelKind

    def send(self, message_id: str, events: Sequence[Event], digest: bool = False) -> DeliveryResult:
        """Deliver one message: one event, or a digest of several. `message_id` is stable across retries."""
        ...
