"""Measures 16 and 17: a burst of alerts through the outbox to a Slack webhook and a signed webhook, and the time
from a row appearing in its mart to its alert's delivery.

Each runs in a database of its own, against a local receiver (`modelatlas.simulator.receivers.AlertReceiver`, a real
HTTP server on 127.0.0.1 in this process) configured as two channels: a Slack incoming-webhook URL and a Standard
Webhooks endpoint with its signing secret.

16 records a burst of `price.changed` events (worded by the product's own detector from generated mart rows) with
`record_events`, then times `deliver` until every delivery is delivered; the receiver's requests are counted per
channel for duplicates and losses. A variant's receiver answers 500 to the first tenth of each channel's requests.

17 builds the marts the catalog and price detectors read with dbt (over every source's raw tables, empty), records a
provider's first load as the baseline, then runs the alerts sensor's pass (`run_alerts`) every interval while a
writer commits new models and price changes into the marts at random moments; each event's latency is the receiver's
arrival time of its request minus the writer's commit.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import math
import os
import random
import re
import secrets
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from psycopg import sql
from standardwebhooks.webhooks import Webhook

from bench.harness import BenchWarehouse, TreeRssSampler
from bench.results import Check, MeasureResult, Target, machine, machine_line, median, percentile
from modelatlas.alerts import store
from modelatlas.alerts.events import DetectionSettings, event_id, price_changed
from modelatlas.alerts.model import Event
from modelatlas.alerts.render import slack_payload
from modelatlas.alerts.routing import AlertConfig, load_alert_config
from modelatlas.alerts.service import SEND_THREADS, AlertsReport, deliver, record_events, run_alerts
from modelatlas.alerts.settings import AlertSettings, alert_settings
from modelatlas.assets.alerts import DELIVERY_BUDGET_S
from modelatlas.pipelines.engine import ensure_every_source_table
from modelatlas.simulator.receivers import AlertReceiver, ReceivedRequest, Reply
from modelatlas.warehouse.connection import ConnectionInfo
from modelatlas.warehouse.service import connect, ensure_database

MEASURES = (16, 17)
TITLES = {16: "alert burst", 17: "alert latency"}
BURST_DATABASE = "bench_alerts"
LATENCY_DATABASE = "bench_alerts_latency"
SLACK_PATH = "/slack/T0BENCH00/B0BENCH00/benchmarkhooktoken"
WEBHOOK_PATH = "/webhook/modelatlas-bench"
CHANNEL_PREFIXES = {"slack": "/slack/", "webhook": "/webhook/"}
# The variant's receiver answers 500 to this share of each channel's first requests.
FAILING_SHARE = 0.1
RETRY_BASE_S = 0.05
# What the daemon's alerts sensor gives one pass to deliver (`modelatlas.assets.alerts.DELIVERY_BUDGET_S`).
SENSOR_BUDGET_S = DELIVERY_BUDGET_S
# The marts 17 builds, with everything upstream.
LATENCY_MARTS = ("dim_models", "fct_price_changes", "fct_price_history")
# The provider and price source whose first load is the baseline; 17's events are theirs.
PROVIDER = "openai"
PRICE_SOURCE = "genai-prices"
TOKEN = re.compile(r"bench-(?:model|price)-\d{4}")
DASHBOARD_URL = "https://modelatlas.example.com"


@dataclass(frozen=True)
class AlertsPlan:
    """Sizes of the alert measures: the bursts' events, the sensor's interval and how long the writer writes."""

    burst_events: int
    retry_events: int
    interval_s: int
    writing_s: float
    latency_events: int


PLANS = {
    # 30 s: the sensor's production interval (MODELATLAS_ALERTS_INTERVAL_S's default).
    "full": AlertsPlan(burst_events=10_000, retry_events=1_000, interval_s=30, writing_s=240, latency_events=60),
    "quick": AlertsPlan(burst_events=2_000, retry_events=200, interval_s=5, writing_s=50, latency_events=20),
}


def webhook_secret() -> str:
    """A Standard Webhooks signing secret: `whsec_` and the base64 of 32 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def alert_environment(receiver: AlertReceiver, secret: str, **extra: str) -> dict[str, str]:
    """The variables configuring the receiver's Slack URL and signed webhook as the two channels (plain HTTP)."""
    return {
        "MODELATLAS_SLACK_WEBHOOK_URL": receiver.url(SLACK_PATH),
        "MODELATLAS_WEBHOOK_URL": receiver.url(WEBHOOK_PATH),
        "MODELATLAS_WEBHOOK_SECRET": secret,
        "MODELATLAS_ALERTS_ALLOW_HTTP": "true",
        "MODELATLAS_DASHBOARD_URL": DASHBOARD_URL,
        **extra,
    }


def fresh_database(bench: BenchWarehouse, database: str) -> ConnectionInfo:
    """A database of the measure's own, empty."""
    with connect(bench.info.with_database("postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(database)))
    ensure_database(bench.info, database)
    return bench.info.with_database(database)


def reset_alert_tables(info: ConnectionInfo) -> None:
    """The ops schema's alert tables, empty."""
    with connect(info) as conn:
        conn.execute("drop schema if exists ops cascade")
        store.ensure_alert_tables(conn)


# ---- 16: the burst ---------------------------------------------------------------------------------------------

# Providers and models whose prices the burst changes; components, tiers and sources as the registries name them.
MODELS = {
    "openai": ("gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "o3", "o4-mini"),
    "anthropic": ("claude-sonnet-4", "claude-opus-4", "claude-3-5-haiku"),
    "google": ("gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.0-flash"),
    "mistral": ("mistral-large", "mistral-small", "codestral"),
    "deepseek": ("deepseek-chat", "deepseek-reasoner"),
    "groq": ("llama-3.3-70b-versatile", "llama-3.1-8b-instant"),
}
COMPONENTS = ("input", "output", "cache_read", "cache_write")
TIERS = ("standard", "standard", "standard", "batch", "flex")
SOURCES = ("genai-prices", "litellm", "openrouter")


def price_change(
    change_id: str,
    source: str,
    provider: str,
    model: str,
    component: str,
    tier: str,
    old: Decimal,
    percent: Decimal,
    at: datetime,
) -> dict[str, Any]:
    """A row of `marts.fct_price_changes`: `old` going up or down by `percent`, detected at `at`."""
    new = (old * (1 + percent / 100)).quantize(Decimal("0.000001"))
    return {
        "price_change_id": change_id,
        "source": source,
        "provider": provider,
        "provider_model_id": model,
        "canonical_model_id": model,
        "component": component,
        "service_tier": tier,
        "condition": "base",
        "region": "global",
        "unit": "mtok",
        "old_price_usd": old,
        "new_price_usd": new,
        "price_change_pct": percent,
        "change_direction": "increase" if percent > 0 else "decrease",
        "changed_at": at,
        "detected_at": at,
    }


def price_change_row(index: int, at: datetime, rng: random.Random) -> dict[str, Any]:
    """One generated row of `marts.fct_price_changes`: a price of a model going up or down 5 to 60%."""
    provider = rng.choice(sorted(MODELS))
    model = rng.choice(MODELS[provider])
    component = rng.choice(COMPONENTS)
    tier = rng.choice(TIERS)
    source = rng.choice(SOURCES)
    old = Decimal(str(round(rng.uniform(0.05, 75.0), 2 if rng.random() < 0.8 else 4)))
    percent = Decimal(str(round(rng.uniform(5, 60), 1))) * (1 if rng.random() < 0.5 else -1)
    change_id = event_id("price.changed", source, provider, model, component, tier, index, at.isoformat())
    row = price_change(change_id, source, provider, model, component, tier, old, percent, at)
    return {**row, "baseline": False}


def burst_events(count: int, end: datetime, seed: int) -> list[Event]:
    """`count` price changes as the price detector words them, one a second up to `end` (each message distinct)."""
    rng = random.Random(seed)
    settings = DetectionSettings(now=end, dashboard_url=DASHBOARD_URL)
    events = []
    for index in range(count):
        at = end - timedelta(seconds=count - index)
        events.append(price_changed(price_change_row(index, at, rng), settings).event)
    return events


def slack_key(body: Any) -> str:
    """A Slack message's identity: its JSON content, canonical (an event's message is the same on every attempt)."""
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def expected_keys(events: Sequence[Event]) -> dict[str, dict[str, str]]:
    """Per channel, the identity of each event's request (Slack: its message; webhook: its `webhook-id`) -> its id."""
    return {
        "slack": {slack_key(json.loads(json.dumps(slack_payload([event])))): event.event_id for event in events},
        "webhook": {event.event_id: event.event_id for event in events},
    }


def request_key(channel: str, request: ReceivedRequest) -> str:
    """The identity of one request the receiver got on `channel`."""
    if channel == "webhook":
        return request.headers.get("webhook-id", "")
    return slack_key(request.json())


@dataclass(frozen=True)
class Tally:
    """What one channel received against what it should have: each event's request accepted exactly once."""

    expected: int
    accepted: int
    # Requests whose identity was accepted more than once.
    duplicates: int
    # Events with no accepted request, or whose delivery is not `delivered`.
    losses: int
    # Accepted requests of no expected event.
    unexpected: int


def channel_tally(expected: Mapping[str, str], accepted: Iterable[str], not_delivered: Iterable[str]) -> Tally:
    """Count one channel: `expected` maps each request identity to its event, `accepted` are the identities of the
    requests the receiver accepted, `not_delivered` the events whose delivery to the channel is not delivered."""
    counts = Counter(accepted)
    lost = {event for key, event in expected.items() if counts[key] == 0} | set(not_delivered)
    return Tally(
        expected=len(expected),
        accepted=sum(counts.values()),
        duplicates=sum(1 for count in counts.values() if count > 1),
        losses=len(lost),
        unexpected=sum(1 for key in counts if key not in expected),
    )


def failing_requests(events: int, share: float) -> int:
    """How many of a channel's first requests the failing receiver answers 500: `share` of the events, rounded up."""
    return math.ceil(events * share) if share > 0 else 0


def channel_seconds(requests: Sequence[ReceivedRequest], started: datetime) -> float:
    """Seconds from `started` to the last of `requests` (zero without any)."""
    return max(((request.received_at - started).total_seconds() for request in requests), default=0.0)


def rate(count: int, seconds: float) -> float:
    """Count a second; zero for no time spent."""
    return count / seconds if seconds > 0 else 0.0


@dataclass
class BurstRun:
    """One burst: its events, the receiver's failures, the timings, memory and the tallies per channel."""

    events: int
    failing_per_channel: int
    record_s: float = 0.0
    deliver_s: float = 0.0
    deliver_calls: int = 0
    deliveries: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    attempts: dict[int, int] = field(default_factory=dict)
    requests: dict[str, int] = field(default_factory=dict)
    # Seconds from the start of delivery to each channel's last request.
    channel_s: dict[str, float] = field(default_factory=dict)
    tallies: dict[str, Tally] = field(default_factory=dict)
    signatures_verified: int = 0
    signature_failures: int = 0
    baseline_rss_bytes: int = 0
    peak_rss_bytes: int = 0

    @property
    def delivered(self) -> int:
        """Deliveries in status delivered."""
        return self.statuses.get(store.DELIVERED, 0)

    @property
    def deliveries_per_s(self) -> float:
        """Deliveries a second over both channels, while `deliver` ran."""
        return rate(self.delivered, self.deliver_s)

    @property
    def duplicates(self) -> int:
        """Duplicates over both channels."""
        return sum(tally.duplicates for tally in self.tallies.values())

    @property
    def losses(self) -> int:
        """Losses over both channels."""
        return sum(tally.losses for tally in self.tallies.values())


def open_deliveries(info: ConnectionInfo) -> int:
    """Deliveries pending or being sent."""
    with connect(info, autocommit=True) as conn:
        row = conn.execute(
            "select count(*) from ops.alert_deliveries where status = any(%s)", [list(store.OPEN_STATUSES)]
        ).fetchone()
    return int(row[0]) if row else 0


def deliver_all(
    info: ConnectionInfo, config: AlertConfig, settings: AlertSettings, budget_s: float, limit_s: float
) -> int:
    """`deliver` until no delivery is open (or `limit_s` passed); how many times it was called."""
    deadline = time.monotonic() + limit_s
    calls = 0
    while True:
        deliver(info, config, settings, budget_s)
        calls += 1
        if not open_deliveries(info) or time.monotonic() > deadline:
            return calls
        time.sleep(RETRY_BASE_S)


def run_burst(info: ConnectionInfo, events: Sequence[Event], failing_share: float) -> BurstRun:
    """Record `events` with their deliveries to both channels, then deliver them all; count what arrived."""
    reset_alert_tables(info)
    failing = failing_requests(len(events), failing_share)
    run = BurstRun(events=len(events), failing_per_channel=failing)
    secret = webhook_secret()
    with AlertReceiver() as receiver:
        env = alert_environment(receiver, secret, MODELATLAS_ALERTS_RETRY_BASE_S=str(RETRY_BASE_S))
        settings = alert_settings(env)
        config = load_alert_config(settings)
        for prefix in CHANNEL_PREFIXES.values():
            if failing:
                receiver.script(prefix, *[Reply(500, b"internal error")] * failing)
        started = time.perf_counter()
        with connect(info) as conn:
            recorded = record_events(conn, events, config, settings, datetime.now(UTC))
        run.record_s = time.perf_counter() - started
        if recorded.recorded != len(events) or recorded.suppressed:
            raise RuntimeError(f"recording the burst: {recorded.describe()}, {len(events)} events expected")
        with TreeRssSampler(os.getpid()) as sampler:
            run.baseline_rss_bytes = sampler.sample()
            delivering = datetime.now(UTC)
            started = time.perf_counter()
            run.deliver_calls = deliver_all(info, config, settings, budget_s=120, limit_s=600)
            run.deliver_s = time.perf_counter() - started
        run.peak_rss_bytes = sampler.peak_bytes
        with connect(info, autocommit=True) as conn:
            rows = conn.execute("select event_id, channel, status, attempts from ops.alert_deliveries").fetchall()
        run.deliveries = len(rows)
        run.statuses = dict(Counter(str(row[2]) for row in rows))
        run.attempts = dict(Counter(int(row[3]) for row in rows))
        expected = expected_keys(events)
        verifier = Webhook(secret)
        for channel, prefix in CHANNEL_PREFIXES.items():
            requests = receiver.requests_to(prefix)
            run.requests[channel] = len(requests)
            run.channel_s[channel] = channel_seconds(requests, delivering)
            # The receiver answers its scripted 500s to a channel's first requests, in the order it records them.
            accepted = requests[failing:]
            not_delivered = [row[0] for row in rows if row[1] == channel and row[2] != store.DELIVERED]
            keys = [request_key(channel, request) for request in accepted]
            run.tallies[channel] = channel_tally(expected[channel], keys, not_delivered)
            if channel == "webhook":
                for request in accepted:
                    try:
                        verifier.verify(request.body, dict(request.headers))
                    except Exception:  # any verification error counts, whatever its class
                        run.signature_failures += 1
                    else:
                        run.signatures_verified += 1
    return run


def burst_details(run: BurstRun) -> dict[str, Any]:
    """A burst's figures for the results' details."""
    return {
        "events": run.events,
        "failing_requests_per_channel": run.failing_per_channel,
        "record_s": round(run.record_s, 3),
        "deliver_s": round(run.deliver_s, 3),
        "deliver_calls": run.deliver_calls,
        "deliveries": run.deliveries,
        "deliveries_per_s": round(run.deliveries_per_s, 1),
        "statuses": run.statuses,
        "attempts": run.attempts,
        "requests": run.requests,
        "channel_s": {channel: round(seconds, 3) for channel, seconds in run.channel_s.items()},
        "tallies": {channel: vars(tally) for channel, tally in run.tallies.items()},
        "signatures_verified": run.signatures_verified,
        "signature_failures": run.signature_failures,
        "baseline_rss_bytes": run.baseline_rss_bytes,
        "peak_rss_bytes": run.peak_rss_bytes,
    }


def burst_checks(run: BurstRun, retry: BurstRun, host: str) -> list[Check]:
    """Measure 16's figures: throughput (reported), duplicates and losses (0), for the burst and its failing variant."""
    growth = (run.peak_rss_bytes - run.baseline_rss_bytes) / 2**20
    channels = ", ".join(
        f"{channel} {run.requests.get(channel, 0):,} requests in {seconds:.1f} s"
        for channel, seconds in run.channel_s.items()
    )
    note = (
        f"{run.events:,} price.changed events to Slack and a signed webhook (local receiver, same process): "
        f"{run.delivered:,} deliveries in {run.deliver_s:.1f} s ({channels}; {run.deliver_calls} deliver call"
        f"{'s' if run.deliver_calls != 1 else ''}, {SEND_THREADS} send threads); recorded in "
        f"{run.record_s:.1f} s ({rate(run.events, run.record_s):,.0f} events/s, one transaction); peak RSS "
        f"{run.peak_rss_bytes / 2**20:,.0f} MiB (+{growth:,.0f} MiB while delivering, receiver included); {host}"
    )
    retried = sum(count for attempts, count in retry.attempts.items() if attempts > 1)
    retry_note = (
        f"{retry.events:,} events, the receiver answering 500 to the first {retry.failing_per_channel:,} requests "
        f"of each channel: {retried:,} deliveries retried (attempts {dict(sorted(retry.attempts.items()))}), "
        f"{retry.delivered:,} delivered in {retry.deliver_s:.1f} s ({retry.deliveries_per_s:,.0f}/s; retry base "
        f"{RETRY_BASE_S} s); {retry.signatures_verified:,} webhook signatures verified"
    )

    def counted(run: BurstRun, what: str) -> str:
        return ", ".join(f"{channel} {getattr(tally, what)}" for channel, tally in run.tallies.items())

    return [
        Check(16, "alert deliveries a second, burst", run.deliveries_per_s, " /s", None, note),
        Check(
            16,
            "duplicate deliveries, burst",
            run.duplicates,
            "",
            Target("==", 0),
            f"request identities (webhook-id; Slack message) accepted more than once: {counted(run, 'duplicates')}",
        ),
        Check(
            16,
            "lost deliveries, burst",
            run.losses,
            "",
            Target("==", 0),
            f"events with no accepted request on a channel or not delivered: {counted(run, 'losses')}; "
            f"statuses {run.statuses}; {run.signatures_verified:,} webhook signatures verified, "
            f"{run.signature_failures} failed",
        ),
        Check(16, "duplicate deliveries, receiver failing 10%", retry.duplicates, "", Target("==", 0), retry_note),
        Check(
            16,
            "lost deliveries, receiver failing 10%",
            retry.losses,
            "",
            Target("==", 0),
            f"{counted(retry, 'losses')}; statuses {retry.statuses}; requests {retry.requests}",
        ),
    ]


def measure_burst(bench: BenchWarehouse, plan: AlertsPlan, seed: int) -> MeasureResult:
    """Measure 16: the burst, then the burst against a receiver failing a tenth of the first requests."""
    info = fresh_database(bench, BURST_DATABASE)
    now = datetime.now(UTC)
    run = run_burst(info, burst_events(plan.burst_events, now, seed), 0.0)
    retry = run_burst(info, burst_events(plan.retry_events, now, seed + 1), FAILING_SHARE)
    host = machine()
    checks = burst_checks(run, retry, f"on {host['nproc']} cores, {host['cpu']}")
    details: dict[str, Any] = {"burst": burst_details(run), "failing_receiver": burst_details(retry), "machine": host}
    details["machine_line"] = machine_line(host)
    return MeasureResult(16, TITLES[16], checks, details)


# ---- 17: the latency -------------------------------------------------------------------------------------------


def build_marts(bench: BenchWarehouse, database: str) -> tuple[float, int]:
    """`dbt build` of the marts the catalog and price detectors read and everything upstream; its seconds and the
    number of nodes it ran."""
    from bench.measures.usage import run_results

    selection = [f"+{mart}" for mart in LATENCY_MARTS]
    seconds = bench.dbt(database, "build", "--select", *selection, "--indirect-selection", "cautious")
    return seconds, len(run_results(bench))


def insert_row(conn: Any, table: str, values: Mapping[str, Any]) -> None:
    """One row into `marts.<table>`."""
    statement = sql.SQL("insert into {} ({}) values ({})").format(
        sql.Identifier("marts", table),
        sql.SQL(", ").join(sql.Identifier(column) for column in values),
        sql.SQL(", ").join(sql.Placeholder() for _ in values),
    )
    conn.execute(statement, list(values.values()))


def model_row(model_id: str, first_seen_at: datetime) -> dict[str, Any]:
    """A row of `marts.dim_models`: a model the provider's catalog lists from `first_seen_at`."""
    return {
        "provider": PROVIDER,
        "provider_model_id": model_id,
        "canonical_model_id": model_id,
        "display_name": model_id.replace("-", " ").title(),
        "context_window": 128_000,
        "max_output_tokens": 16_384,
        "first_seen_at": first_seen_at,
        "last_seen_at": first_seen_at,
        "is_available": True,
    }


def price_row(model_id: str, detected_at: datetime, rng: random.Random) -> dict[str, Any]:
    """A row of `marts.fct_price_changes`: the input price of `model_id` changing, detected at `detected_at`."""
    old = Decimal(str(round(rng.uniform(0.1, 15.0), 2)))
    percent = Decimal(str(round(rng.uniform(5, 50), 1))) * (1 if rng.random() < 0.5 else -1)
    change_id = event_id("price.changed", PRICE_SOURCE, PROVIDER, model_id, detected_at.isoformat())
    return price_change(change_id, PRICE_SOURCE, PROVIDER, model_id, "input", "standard", old, percent, detected_at)


def write_baseline(info: ConnectionInfo, first_load: datetime) -> None:
    """The provider's first catalog load and the price source's first load: what the first evaluation baselines."""
    with connect(info) as conn:
        for model_id in ("gpt-4o", "gpt-4o-mini", "o3"):
            insert_row(conn, "dim_models", model_row(model_id, first_load))
        insert_row(
            conn,
            "fct_price_history",
            {"source": PRICE_SOURCE, "provider": PROVIDER, "provider_model_id": "gpt-4o", "first_seen_at": first_load},
        )


def write_schedule(count: int, writing_s: float, rng: random.Random) -> list[tuple[float, str, str]]:
    """`count` writes at random moments of `writing_s` seconds: (offset, kind, token), kinds alternating at random,
    tokens unique, in time order."""
    offsets = sorted(rng.uniform(0, writing_s) for _ in range(count))
    schedule = []
    for index, offset in enumerate(offsets):
        kind = rng.choice(("model.added", "price.changed"))
        token = f"bench-{'model' if kind == 'model.added' else 'price'}-{index:04d}"
        schedule.append((offset, kind, token))
    return schedule


@dataclass(frozen=True)
class Written:
    """One row the writer committed: its event's kind, the token naming it, when the commit returned."""

    kind: str
    token: str
    committed_at: datetime


def request_token(request: ReceivedRequest) -> str | None:
    """The token of the event a request carries (in the model id of its title and data)."""
    found = TOKEN.search(request.body.decode("utf-8", errors="replace"))
    return found.group(0) if found else None


@dataclass
class Latencies:
    """Per channel and token, the seconds from commit to the first request; what never came; what came twice."""

    seconds: dict[tuple[str, str], float] = field(default_factory=dict)
    missing: set[tuple[str, str]] = field(default_factory=set)
    duplicates: set[tuple[str, str]] = field(default_factory=set)
    unexpected: int = 0


def delivery_latencies(
    written: Sequence[Written], received: Iterable[tuple[str, str | None, datetime]], channels: Sequence[str]
) -> Latencies:
    """Latencies of each written event on each channel from the requests `received` as (channel, token, time)."""
    committed = {each.token: each.committed_at for each in written}
    first: dict[tuple[str, str], datetime] = {}
    counts: Counter[tuple[str, str]] = Counter()
    result = Latencies()
    for channel, token, at in received:
        if token is None or token not in committed:
            result.unexpected += 1
            continue
        key = (channel, token)
        counts[key] += 1
        first[key] = min(first.get(key, at), at)
    for each in written:
        for channel in channels:
            key = (channel, each.token)
            if key in first:
                result.seconds[key] = (first[key] - each.committed_at).total_seconds()
            else:
                result.missing.add(key)
    result.duplicates = {key for key, count in counts.items() if count > 1}
    return result


@dataclass
class Pass:
    """One pass of the sensor: when it started (seconds from the start), how long it took, what it did."""

    at_s: float
    seconds: float
    recorded: int
    suppressed: int
    delivered: int


@contextlib.contextmanager
def running(target: Callable[[], None], name: str) -> Iterator[Callable[[], None]]:
    """`target` in a thread while inside; the returned function joins it and raises what it raised."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            target()
        except BaseException as exc:  # handed to the joining thread
            errors.append(exc)

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()

    def join() -> None:
        thread.join()
        if errors:
            raise errors[0]

    yield join


def writer(
    info: ConnectionInfo,
    schedule: Sequence[tuple[float, str, str]],
    start: float,
    rng: random.Random,
    written: list[Written],
) -> None:
    """Commit each scheduled row at its moment, noting when the commit returned."""
    with connect(info) as conn:
        for offset, kind, token in schedule:
            delay = start + offset - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            now = datetime.now(UTC)
            if kind == "model.added":
                insert_row(conn, "dim_models", model_row(token, now))
            else:
                insert_row(conn, "fct_price_changes", price_row(token, now, rng))
            conn.commit()
            written.append(Written(kind, token, datetime.now(UTC)))


def sensor(
    info: ConnectionInfo, settings: AlertSettings, interval_s: float, start: float, done: threading.Event
) -> list[Pass]:
    """A pass every `interval_s` from `start` (the next at once when one overran), as the daemon's sensor ticks,
    until a pass that began after the writer finished."""
    passes = []
    tick = 0
    while True:
        delay = start + tick * interval_s - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        tick += 1
        finished = done.is_set()
        began = time.monotonic()
        report = run_alerts(info, settings, budget_s=SENSOR_BUDGET_S) or AlertsReport()
        passes.append(
            Pass(
                round(began - start, 3),
                round(time.monotonic() - began, 3),
                report.recorded,
                report.suppressed,
                report.delivered,
            )
        )
        if finished:
            return passes


@dataclass
class LatencyRun:
    """Measure 17's run: the marts' build, the baseline pass, the writes, the passes and the requests received."""

    build_s: float = 0.0
    build_nodes: int = 0
    baseline: AlertsReport = field(default_factory=AlertsReport)
    written: list[Written] = field(default_factory=list)
    passes: list[Pass] = field(default_factory=list)
    latencies: Latencies = field(default_factory=Latencies)
    not_delivered: int = 0
    requests: int = 0


def run_latency(bench: BenchWarehouse, plan: AlertsPlan, seed: int) -> LatencyRun:
    """Build the marts, baseline the provider, then write events while the sensor passes; collect the latencies."""
    info = fresh_database(bench, LATENCY_DATABASE)
    ensure_every_source_table(info, bench.home / "dlt-alerts")
    run = LatencyRun()
    run.build_s, run.build_nodes = build_marts(bench, LATENCY_DATABASE)
    rng = random.Random(seed)
    with AlertReceiver() as receiver:
        env = alert_environment(receiver, webhook_secret(), MODELATLAS_ALERTS_INTERVAL_S=str(plan.interval_s))
        settings = alert_settings(env)
        write_baseline(info, datetime.now(UTC) - timedelta(days=3))
        run.baseline = run_alerts(info, settings, budget_s=SENSOR_BUDGET_S) or AlertsReport()
        if run.baseline.delivered or receiver.requests:
            raise RuntimeError(f"the baseline pass delivered: {run.baseline.describe()}")
        schedule = write_schedule(plan.latency_events, plan.writing_s, rng)
        done = threading.Event()
        start = time.monotonic()

        def write() -> None:
            try:
                writer(info, schedule, start, rng, run.written)
            finally:
                done.set()

        def watch() -> None:
            run.passes = sensor(info, settings, plan.interval_s, start, done)

        with running(write, "alerts-writer") as join_writer, running(watch, "alerts-sensor") as join_sensor:
            join_writer()
            join_sensor()
        received = [
            (channel, request_token(request), request.received_at)
            for channel, prefix in CHANNEL_PREFIXES.items()
            for request in receiver.requests_to(prefix)
        ]
        run.requests = len(received)
    run.latencies = delivery_latencies(run.written, received, list(CHANNEL_PREFIXES))
    with connect(info, autocommit=True) as conn:
        row = conn.execute("select count(*) from ops.alert_deliveries where status <> 'delivered'").fetchone()
    run.not_delivered = int(row[0]) if row else 0
    return run


def latency_checks(run: LatencyRun, interval_s: float, writing_s: float) -> list[Check]:
    """Measure 17's figures: p50, p95 (target: within one sensor interval) and max latency, and the losses."""
    samples = list(run.latencies.seconds.values())
    kinds = Counter(each.kind for each in run.written)
    pass_seconds = [each.seconds for each in run.passes]
    context = (
        f"{len(run.written)} events ({', '.join(f'{count} {kind}' for kind, count in sorted(kinds.items()))}) "
        f"committed into the marts at random moments of {writing_s:.0f} s, a `run_alerts` pass every "
        f"{interval_s:g} s ({len(run.passes)} passes, median {median(pass_seconds):.2f} s, longest "
        f"{max(pass_seconds):.2f} s); {len(samples)} deliveries to Slack and a signed webhook (local receiver); "
        f"marts built by dbt ({run.build_nodes} nodes, {run.build_s:.0f} s) over empty raw tables"
    )
    p50, p95 = percentile(samples, 0.5), percentile(samples, 0.95)
    losses = len(run.latencies.missing) + run.not_delivered
    return [
        Check(17, "mart row to delivery, p50", p50, " s", None, context),
        Check(
            17,
            "mart row to delivery, p95",
            p95,
            " s",
            Target("<=", interval_s, " s"),
            f"target: within one sensor interval ({interval_s:g} s)",
        ),
        Check(17, "mart row to delivery, max", max(samples), " s", None, by_channel_note(run)),
        Check(
            17,
            "lost or duplicated alerts, sensor",
            losses + len(run.latencies.duplicates),
            "",
            Target("==", 0),
            f"{len(run.latencies.missing)} events without a request on a channel, {run.not_delivered} deliveries not "
            f"delivered, {len(run.latencies.duplicates)} received twice; {run.requests} requests, "
            f"{run.latencies.unexpected} of no written event; baseline pass: {run.baseline.describe()}",
        ),
    ]


def by_channel(latencies: Latencies) -> dict[str, list[float]]:
    """The latencies of each channel."""
    channels: dict[str, list[float]] = {}
    for (channel, _), seconds in latencies.seconds.items():
        channels.setdefault(channel, []).append(seconds)
    return channels


def by_channel_note(run: LatencyRun) -> str:
    """The p95 and max of each channel, as one line."""
    return "; ".join(
        f"{channel}: p95 {percentile(values, 0.95):.2f} s, max {max(values):.2f} s"
        for channel, values in sorted(by_channel(run.latencies).items())
    )


def latency_details(run: LatencyRun, plan: AlertsPlan) -> dict[str, Any]:
    """Measure 17's raw numbers."""
    return {
        "interval_s": plan.interval_s,
        "writing_s": plan.writing_s,
        "events": len(run.written),
        "dbt_build_s": round(run.build_s, 1),
        "dbt_nodes": run.build_nodes,
        "marts": "built by dbt build --select " + " ".join(f"+{mart}" for mart in LATENCY_MARTS),
        "p95_by_channel_s": {
            channel: round(percentile(values, 0.95), 3) for channel, values in by_channel(run.latencies).items()
        },
        "latencies_s": sorted(round(value, 3) for value in run.latencies.seconds.values()),
        "passes": [vars(each) for each in run.passes],
        "missing": sorted(f"{channel}:{token}" for channel, token in run.latencies.missing),
        "duplicates": sorted(f"{channel}:{token}" for channel, token in run.latencies.duplicates),
    }


def measure_latency(bench: BenchWarehouse, plan: AlertsPlan, seed: int) -> MeasureResult:
    """Measure 17."""
    run = run_latency(bench, plan, seed)
    if not run.latencies.seconds:
        raise RuntimeError(f"no alert reached the receiver: {len(run.written)} events written, {run.requests} requests")
    return MeasureResult(
        17, TITLES[17], latency_checks(run, plan.interval_s, plan.writing_s), latency_details(run, plan)
    )


@contextlib.contextmanager
def quiet_logger(name: str, level: int = logging.WARNING) -> Iterator[None]:
    """While inside, logger `name` logs only from `level` on (httpx logs every request at INFO)."""
    logger = logging.getLogger(name)
    saved = logger.level
    logger.setLevel(level)
    try:
        yield
    finally:
        logger.setLevel(saved)


def measure_alerts(bench: BenchWarehouse, mode: str, seed: int) -> list[MeasureResult]:
    """Measures 16 and 17 at the plan's size (`mode`: full or quick); one failing leaves the other's figures."""
    plan = PLANS[mode]
    results = []
    for number, measure in ((16, measure_burst), (17, measure_latency)):
        try:
            with quiet_logger("httpx"):
                results.append(measure(bench, plan, seed))
        except Exception as exc:  # one broken measure must not hide the other's figures
            traceback.print_exc()
            results.append(MeasureResult(number, TITLES[number], error=f"{type(exc).__name__}: {exc}"[:600]))
    return results
