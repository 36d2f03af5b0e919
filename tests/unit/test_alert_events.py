"""The pure parts of alert evaluation and delivery: ids, wording, budgets' thresholds, backoff, messages."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from standardwebhooks.webhooks import Webhook

from modelatlas.alerts import events as ev
from modelatlas.alerts.channels import webhook_headers, webhook_signer
from modelatlas.alerts.commands import alerts_test_event
from modelatlas.alerts.model import EVENT_KINDS, Event
from modelatlas.alerts.render import discord_payload, email_message, slack_payload, webhook_body
from modelatlas.alerts.routing import AlertConfig, ChannelConfig, Route
from modelatlas.alerts.service import (
    Message,
    channel_disabled_event,
    messages,
    retry_delay_s,
    routings,
    suppression,
)
from modelatlas.alerts.store import ClaimedDelivery

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
SETTINGS = ev.DetectionSettings(now=NOW, dashboard_url="https://dash.example.com")


def test_an_event_id_depends_on_kind_and_content_only() -> None:
    assert ev.event_id("model.added", "openai", "gpt-5") == ev.event_id("model.added", "openai", "gpt-5")
    assert ev.event_id("model.added", "openai", "gpt-5") != ev.event_id("model.removed", "openai", "gpt-5")
    assert len(ev.event_id("x")) == 32


def price_row(**overrides: object) -> dict[str, object]:
    row: dict[str, object] = {
        "price_change_id": "p1",
        "source": "litellm",
        "provider": "openai",
        "provider_model_id": "gpt-4o",
        "canonical_model_id": "gpt-4o",
        "component": "output",
        "service_tier": "batch",
        "condition": "base",
        "region": "global",
        "unit": "mtok",
        "old_price_usd": Decimal("10.000000000000000000"),
        "new_price_usd": Decimal("7.500000000000000000"),
        "price_change_pct": Decimal("-25.000000"),
        "change_direction": "decrease",
        "changed_at": NOW - timedelta(days=1),
        "detected_at": NOW,
        "baseline": False,
    }
    return row | overrides


def test_a_price_change_names_model_component_tier_prices_and_source() -> None:
    detected = ev.price_changed(price_row(), SETTINGS)
    event = detected.event
    assert event.title == "openai gpt-4o batch output price down 25.0% (litellm)"
    assert ("Old price", "$10.00 / Mtok") in event.facts and ("New price", "$7.50 / Mtok") in event.facts
    assert ("Change", "-25.0%") in event.facts
    assert event.severity == "info" and event.data["percent"] == Decimal("-25.000000")
    assert event.link == "https://dash.example.com" and detected.suppressed_reason is None
    assert ev.price_changed(price_row(baseline=True), SETTINGS).suppressed_reason == ev.BASELINE
    increase = ev.price_changed(price_row(change_direction="increase", price_change_pct=Decimal(5)), SETTINGS)
    assert increase.event.severity == "warning"


def test_small_prices_keep_their_digits() -> None:
    row = price_row(old_price_usd=Decimal("0.075000000000000000"), new_price_usd=Decimal("0.0375"))
    assert ("New price", "$0.0375 / Mtok") in ev.price_changed(row, SETTINGS).event.facts


def budget_event(subject: str, month: date, threshold: int, reason: str | None = None) -> ev.Detected:
    event = Event(
        event_id=f"{subject}{month}{threshold}",
        kind="budget.threshold",
        severity="warning",
        occurred_at=NOW,
        title="t",
        summary="s",
        data={"subject": subject, "month": month, "threshold_percent": Decimal(threshold)},
    )
    return ev.Detected(event, reason)


def test_of_the_thresholds_one_team_crossed_at_once_the_highest_is_delivered() -> None:
    december, november = date(2026, 12, 1), date(2026, 11, 1)
    kept = ev.keep_highest_thresholds(
        [
            budget_event("research", december, 50),
            budget_event("research", december, 80),
            budget_event("research", november, 50),
            budget_event("ops", december, 100),
            budget_event("ops", december, 50, reason=ev.BEFORE_SINCE),
        ]
    )
    reasons = [item.suppressed_reason for item in kept]
    assert reasons == [ev.SUPERSEDED, None, None, None, ev.BEFORE_SINCE]


def test_an_open_outage_that_began_before_alerts_were_enabled_is_still_delivered() -> None:
    since = NOW
    old = Event("o", "outage.started", "critical", NOW - timedelta(hours=1), "t", "s")
    assert suppression(ev.Detected(old), since) == ev.BEFORE_SINCE
    assert suppression(ev.Detected(old, ongoing=True), since) is None
    assert suppression(ev.Detected(old, ev.BASELINE, ongoing=True), since) == ev.BASELINE


@given(st.integers(min_value=1, max_value=40), st.floats(min_value=0, max_value=1))
def test_backoff_grows_with_jitter_and_never_passes_its_cap(attempts: int, draw: float) -> None:
    delay = retry_delay_s(attempts, None, base_s=2, max_s=3600, rng=lambda: draw)
    ceiling = min(2 * 2 ** (attempts - 1), 3600)
    assert ceiling / 2 <= delay <= ceiling


def test_retry_after_wins_within_the_cap() -> None:
    assert retry_delay_s(1, 7.0, base_s=2, max_s=3600) == 7.0
    assert retry_delay_s(1, 99999.0, base_s=2, max_s=60) == 60
    assert retry_delay_s(3, -5.0, base_s=2, max_s=60) == 0.0


def claimed(event_id: str, channel: str, digest_due: datetime | None) -> ClaimedDelivery:
    event = Event(event_id, "price.changed", "info", NOW, "t", "s")
    return ClaimedDelivery(event, channel, "info", 1, "hourly" if digest_due else None, digest_due)


def test_a_digest_periods_deliveries_are_one_message_whose_id_names_its_events() -> None:
    due = NOW + timedelta(hours=1)
    batch = messages([claimed("a", "hook", due), claimed("b", "hook", due), claimed("c", "hook", None)])
    single = [m for m in batch if not m.digest]
    [digest] = [m for m in batch if m.digest]
    assert [m.message_id for m in single] == ["c"]
    assert {d.event.event_id for d in digest.deliveries} == {"a", "b"}
    again = messages([claimed("b", "hook", due), claimed("a", "hook", due)])
    assert [m.message_id for m in again] == [digest.message_id]
    part = messages([claimed("a", "hook", due)])
    assert part[0].message_id != digest.message_id
    assert isinstance(digest, Message) and digest.attempts == 1


def test_a_disabled_channels_notice_goes_to_every_other_channel() -> None:
    config = AlertConfig(
        channels={name: ChannelConfig(name, "slack") for name in ("a", "b", "c")},
        routes=(Route(events=("price.*",), channels=("a",)),),
    )
    notice = Event("n", "channel.disabled", "critical", NOW, "t", "s", data={"channel": "b"})
    assert sorted(r.channel for r in routings(notice, config, 0)) == ["a", "c"]
    other = Event("m", "model.added", "info", NOW, "t", "s")
    assert routings(other, config, 0) == []


@pytest.mark.parametrize(
    ("asset", "source"),
    [("raw_openai/models", "openai"), ("raw_litellm/prices", "litellm"), ("ts/probe_results", "probe_results")],
)
def test_a_stale_asset_names_its_source(asset: str, source: str) -> None:
    assert ev.source_of_asset(asset) == source


def every_kind_of_event() -> list[Event]:
    """One event of each kind, worded by the detectors from rows shaped as their marts give them."""
    model = {
        "event_id": "m",
        "provider": "anthropic",
        "provider_model_id": "claude-<b>-4",
        "canonical_model_id": "claude-4",
        "display_name": "Claude 4",
        "context_window": 200_000,
        "max_output_tokens": 8192,
        "first_seen_at": NOW,
        "last_seen_at": NOW,
        "deprecation_date": date(2026, 12, 12),
        "replacement_model_id": "claude-5",
        "days_left": 7,
        "days_threshold": 7,
        "baseline": False,
    }
    outage = {
        "event_id": "o",
        "outage_id": "o1",
        "source": "probe",
        "provider": "openai",
        "region": "eu",
        "model_id": None,
        "canonical_model_id": None,
        "upstream_provider": None,
        "severity": "major_outage",
        "started_at": NOW - timedelta(minutes=30),
        "ended_at": NOW,
        "duration_minutes": Decimal("30.00"),
        "first_error_class": "timeout",
        "occurred_at": NOW,
    }
    budget = {
        "event_id": "b",
        "scope": "team",
        "subject": "research",
        "team": "research",
        "month": date(2026, 12, 1),
        "through_day": date(2026, 12, 5),
        "budget_usd": Decimal(1000),
        "request_limit": None,
        "spend_to_date_usd": Decimal(850),
        "requests_to_date": 1234,
        "budget_used_share": Decimal("0.85"),
        "forecast_usd": Decimal(2100),
        "forecast_method": "linear",
        "status": "warning",
        "threshold_percent": Decimal(80),
    }
    consensus = {
        "canonical_model_id": "gpt-4o",
        "provider": "openai",
        "component": "input",
        "unit": "mtok",
        "genai_prices_price_usd": Decimal("2.5"),
        "litellm_price_usd": Decimal("2500"),
        "openrouter_price_usd": None,
        "consensus_price_usd": Decimal("2.5"),
        "price_spread": Decimal("999"),
        "sources_disagree": True,
        "suspected_unit_error": True,
    }
    status = {
        "provider": "openai",
        "effective_status": "partial_outage",
        "status_description": "Partial System Outage",
        "open_incident_titles": "Elevated errors",
        "components_not_operational": "API (partial_outage)",
        "status_observed_at": NOW,
        "status_disagrees": True,
        "latest_probe_ok": False,
        "consecutive_failed_probes": 4,
        "probes_failing_since": NOW,
    }
    blocked = {
        "event_id": "q",
        "source": "litellm",
        "entity": "prices",
        "batch_id": "b1",
        "validated_at": NOW,
        "reasons": "the batch shrank by 90%",
        "run_id": "r1",
    }
    stale = ev.DetectionSettings(now=NOW, stale_assets={"raw_mistral/models": NOW})

    events = [
        ev.model_added(model, SETTINGS).event,
        ev.model_removed(model, SETTINGS).event,
        ev.deprecation_announced(model, SETTINGS).event,
        ev.model_retiring(model, SETTINGS).event,
        ev.price_changed(price_row(), SETTINGS).event,
        *(
            c.build(NOW)
            for kind in ("price.sources_disagree", "price.suspected_unit_error")
            for c in ev.consensus_conditions([consensus], kind, SETTINGS)
        ),
        ev.outage(outage | {"kind": "outage.started"}, SETTINGS).event,
        ev.outage(outage | {"kind": "outage.resolved"}, SETTINGS).event,
        *(
            ev.status_conditions([status], kind, SETTINGS)[0].build(NOW)
            for kind in ("status.degraded", "status.disagrees")
        ),
        *(
            ev.budget(budget | {"kind": kind}, SETTINGS).event
            for kind in ("budget.threshold", "budget.forecast_exceeds")
        ),
        ev.budget(budget | {"kind": "limit.exceeded", "scope": "api_key", "subject": "key-1"}, SETTINGS).event,
        ev.batch_blocked(blocked, SETTINGS).event,
        *(c.build(NOW) for c in ev.stale_conditions(stale)),
        ev.run_failed("r1", "refresh_openai", ["openai"], "openai", NOW, SETTINGS),
        channel_disabled_event("finops", "slack", "the receiver answered 410", NOW),
        alerts_test_event("slack"),
    ]
    return events


def test_every_event_kind_renders_on_every_channel() -> None:

    events = every_kind_of_event()
    assert sorted(event.kind for event in events) == sorted(EVENT_KINDS)
    for event in events:
        slack = slack_payload([event])
        assert slack["text"] and slack["blocks"][0]["type"] == "header", event.kind
        discord = discord_payload([event])
        assert discord["embeds"][0]["title"] and len(discord["embeds"]) == 1, event.kind
        mail = email_message([event], False, "alerts@example.com", ["oncall@example.com"])
        html = mail.get_body(("html",))
        assert html is not None and "<b>-4" not in html.get_content(), event.kind
        body = webhook_body(event.event_id, [event])
        assert json.loads(body)["type"] == event.kind
        secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

        headers = webhook_headers(webhook_signer(secret), event.event_id, body.encode(), datetime.now(UTC))
        assert Webhook(secret).verify(body, headers)["type"] == event.kind
    digest = slack_payload(events, digest=True)
    assert str(len(events)) in digest["text"]


def test_a_status_is_on_at_every_level_up_to_its_own_and_the_mildest_keeps_the_providers_key() -> None:
    row: dict[str, object] = dict.fromkeys(
        ("status_description", "open_incident_titles", "components_not_operational", "probes_failing_since")
    )
    row |= {
        "provider": "openai",
        "effective_status": "partial_outage",
        "status_disagrees": False,
        "consecutive_failed_probes": 0,
    }
    conditions = ev.status_conditions([row], "status.degraded", SETTINGS)
    assert [(c.key, c.active, c.group) for c in conditions] == [
        ("openai", True, "openai"),
        ("openai|degraded", True, "openai"),
        ("openai|partial_outage", True, "openai"),
        ("openai|major_outage", False, "openai"),
    ]
    # Each level's event has an id of its own; all say the current status.
    events = [c.build(NOW) for c in conditions]
    assert len({e.event_id for e in events}) == 4
    assert {e.title for e in events} == {"openai status: partial outage"}
    disagrees = ev.status_conditions([row], "status.disagrees", SETTINGS)
    assert [(c.key, c.active, c.group) for c in disagrees] == [("openai", False, None)]
