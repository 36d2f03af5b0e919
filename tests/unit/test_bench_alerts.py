"""The alert benchmark's pure parts: the burst's events, the per-channel tally, the sensor run's latencies."""

from __future__ import annotations

import base64
import json
import random
from datetime import UTC, datetime, timedelta

from standardwebhooks.webhooks import Webhook

from bench.measures.alerts import (
    TOKEN,
    LatencyRun,
    Pass,
    Written,
    burst_events,
    channel_tally,
    delivery_latencies,
    expected_keys,
    failing_requests,
    latency_checks,
    request_key,
    request_token,
    webhook_secret,
    write_schedule,
)
from modelatlas.alerts.render import slack_payload
from modelatlas.simulator.receivers import ReceivedRequest

END = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_the_webhook_secret_is_whsec_and_base64_of_enough_random_bytes() -> None:
    secret = webhook_secret()
    assert secret.startswith("whsec_") and len(base64.b64decode(secret.removeprefix("whsec_"))) >= 24
    assert secret != webhook_secret()
    Webhook(secret)  # the receiver's library takes it


def test_a_burst_is_distinct_price_changes_worded_by_the_detector_and_the_same_for_a_seed() -> None:
    events = burst_events(500, END, seed=3)
    assert len({event.event_id for event in events}) == 500
    assert {event.kind for event in events} == {"price.changed"}
    assert all(event.occurred_at < END for event in events)
    facts = dict(events[0].facts)
    assert facts["Old price"].startswith("$") and facts["New price"].endswith("/ Mtok")
    keys = expected_keys(events)
    assert len(keys["slack"]) == len(keys["webhook"]) == 500
    assert [event.event_id for event in burst_events(500, END, seed=3)] == [event.event_id for event in events]


def test_a_request_is_known_by_its_webhook_id_or_its_slack_message() -> None:
    [event] = burst_events(1, END, seed=0)
    slack = ReceivedRequest("/slack/T/B/x", {}, json.dumps(slack_payload([event])).encode(), END)
    hook = ReceivedRequest("/webhook/x", {"webhook-id": event.event_id}, b"{}", END)
    keys = expected_keys([event])
    assert keys["slack"][request_key("slack", slack)] == event.event_id
    assert keys["webhook"][request_key("webhook", hook)] == event.event_id


def test_the_tally_counts_duplicates_losses_and_strangers() -> None:
    expected = {"a": "event-a", "b": "event-b", "c": "event-c"}
    tally = channel_tally(expected, ["a", "a", "b", "x"], not_delivered=["event-b"])
    assert (tally.expected, tally.accepted, tally.duplicates, tally.losses, tally.unexpected) == (3, 4, 1, 2, 1)
    clean = channel_tally(expected, ["c", "b", "a"], not_delivered=[])
    assert (clean.duplicates, clean.losses, clean.unexpected) == (0, 0, 0)


def test_a_tenth_of_the_requests_fail_rounded_up() -> None:
    assert failing_requests(2_000, 0.1) == 200
    assert failing_requests(15, 0.1) == 2
    assert failing_requests(100, 0.0) == 0


def test_the_schedule_spreads_unique_tokens_over_the_window_in_time_order() -> None:
    schedule = write_schedule(60, 240, random.Random(1))
    offsets = [offset for offset, _, _ in schedule]
    assert offsets == sorted(offsets) and offsets[0] >= 0 and offsets[-1] <= 240
    assert len({token for _, _, token in schedule}) == 60
    assert all(TOKEN.fullmatch(token) for _, _, token in schedule)
    assert {kind for _, kind, _ in schedule} == {"model.added", "price.changed"}


def test_latency_is_the_first_request_of_each_channel_after_the_commit() -> None:
    written = [
        Written("model.added", "bench-model-0000", END),
        Written("price.changed", "bench-price-0001", END + timedelta(seconds=10)),
    ]
    received = [
        ("slack", "bench-model-0000", END + timedelta(seconds=4)),
        ("webhook", "bench-model-0000", END + timedelta(seconds=5)),
        ("webhook", "bench-model-0000", END + timedelta(seconds=6)),
        ("slack", "bench-price-0001", END + timedelta(seconds=12)),
        ("slack", None, END),
    ]
    latencies = delivery_latencies(written, received, ["slack", "webhook"])
    assert latencies.seconds == {
        ("slack", "bench-model-0000"): 4.0,
        ("webhook", "bench-model-0000"): 5.0,
        ("slack", "bench-price-0001"): 2.0,
    }
    assert latencies.missing == {("webhook", "bench-price-0001")}
    assert latencies.duplicates == {("webhook", "bench-model-0000")}
    assert latencies.unexpected == 1


def test_the_latency_target_is_one_sensor_interval_and_losses_count_against_it() -> None:
    body = b'{"title": "New model at openai: bench-model-0042"}'
    assert request_token(ReceivedRequest("/slack/x", {}, body, END)) == "bench-model-0042"
    written = [Written("model.added", f"bench-model-{index:04d}", END) for index in range(20)]
    received = [
        (channel, each.token, END + timedelta(seconds=index * 0.25))
        for index, each in enumerate(written)
        for channel in ("slack", "webhook")
    ]
    run = LatencyRun(written=written, passes=[Pass(0, 0.1, 20, 0, 40)])
    run.latencies = delivery_latencies(written, received[:-1], ["slack", "webhook"])
    checks = {check.name: check for check in latency_checks(run, interval_s=5, writing_s=60)}
    assert checks["mart row to delivery, p95"].status == "met"
    assert checks["lost or duplicated alerts, sensor"].value == 1
    assert checks["lost or duplicated alerts, sensor"].status == "missed"
