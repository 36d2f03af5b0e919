"""Synthetic probe history: a probe a minute of each target, shaped as the probe source's `probe_results` rows.

Rows come as Arrow tables, one per UTC month, minute by minute and target by target as the ticks write them. Most
probes succeed with lognormal timings; a few fail alone, and each target has outage episodes of consecutive failures
(about two a month). The failures are timeouts, refused connections, 5xx and 429 answers, each with the status,
timings and error text the probe extractor gives them. Everything is deterministic for a seed.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa

from modelatlas.pipelines.probe import COLUMNS, DEFAULT_TIMEOUT_S
from modelatlas.pipelines.spec import DataType
from modelatlas.warehouse.timeseries import month_start, months_between, next_month

MINUTE_US = 60_000_000
# Region labels that make one catalog endpoint several probe series.
REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-1", "us-west-2")
ISOLATED_FAILURE_SHARE = 0.002
# Outage episodes a target has in a month on average, and their length in consecutive failed probes.
EPISODES_PER_MONTH = 2.0
EPISODE_MINUTES = (3, 45)
MINUTES_PER_MONTH = 30 * 24 * 60

_ARROW_TYPES: dict[DataType, pa.DataType] = {
    "text": pa.string(),
    "bigint": pa.int64(),
    "double": pa.float64(),
    "bool": pa.bool_(),
    "timestamp": pa.timestamp("us", tz="UTC"),
}
PROBE_SCHEMA = pa.schema([(name, _ARROW_TYPES[data_type]) for name, data_type in COLUMNS.items()])


@dataclass(frozen=True)
class Failure:
    """One kind of failed probe: its error class, HTTP status, error text, which timings it has, how often."""

    error_class: str
    http_status: int | None
    error: str
    share: float
    connected: bool
    answered: bool


FAILURES = (
    Failure("server_error", 503, "HTTP 503: Service Unavailable", 0.6, connected=True, answered=True),
    Failure("timeout", None, "ReadTimeout: timed out", 0.2, connected=True, answered=False),
    Failure("connection", None, "ConnectError: [Errno 111] Connection refused", 0.1, connected=False, answered=False),
    Failure("rate_limited", 429, "HTTP 429: Rate limit exceeded", 0.1, connected=True, answered=True),
)


@dataclass(frozen=True)
class SeriesTarget:
    """One probe series: the provider, the region label and the URL probed."""

    provider: str
    region: str
    url: str


def series_targets(endpoints: Sequence[tuple[str, str]], count: int) -> list[SeriesTarget]:
    """`count` series over `endpoints` ((provider, url) pairs), each endpoint repeated under distinct regions."""
    if not endpoints:
        raise ValueError("no endpoint to probe")
    targets = []
    for index in range(count):
        provider, url = endpoints[index % len(endpoints)]
        repeat = index // len(endpoints)
        region = REGIONS[repeat % len(REGIONS)]
        if repeat >= len(REGIONS):
            region += f"-{repeat // len(REGIONS) + 1}"
        targets.append(SeriesTarget(provider, region, url))
    return targets


def monthly_spans(start: datetime, end: datetime) -> list[tuple[datetime, int]]:
    """[start, end) cut at UTC month starts: each span's first minute and its length in minutes."""
    spans = []
    for month in months_between(start, end - timedelta(microseconds=1)) if end > start else []:
        first = max(start, month_start(month))
        last = min(end, month_start(next_month(month)))
        minutes = int((last - first).total_seconds() // 60)
        if minutes > 0:
            spans.append((first, minutes))
    return spans


def _strings(values: Sequence[str], indices: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """A plain string column of `values[indices]` (null where not `valid`), built without a Python loop."""
    mask = None if valid is None else ~valid
    dictionary = pa.DictionaryArray.from_arrays(pa.array(indices.astype(np.int32), mask=mask), pa.array(values))
    return dictionary.cast(pa.string())


def _outages(rng: np.random.Generator, minutes: int, targets: int) -> np.ndarray:
    """A (minutes, targets) mask of the probes inside an outage episode."""
    failing = np.zeros((minutes, targets), dtype=bool)
    for target in range(targets):
        for _ in range(rng.poisson(EPISODES_PER_MONTH * minutes / MINUTES_PER_MONTH)):
            length = int(rng.integers(EPISODE_MINUTES[0], EPISODE_MINUTES[1] + 1))
            first = int(rng.integers(0, max(minutes - length, 0) + 1))
            failing[first : first + length, target] = True
    return failing


def probe_table(targets: Sequence[SeriesTarget], start: datetime, minutes: int, seed: int) -> pa.Table:
    """`minutes` minutes of probes of every target from `start` (a probe a minute each), as `probe_results` rows."""
    count = len(targets)
    rows = minutes * count
    first_us = int(start.astimezone(UTC).timestamp() * 1_000_000)
    rng = np.random.default_rng([seed, first_us // MINUTE_US, count])
    minute_us = first_us + np.arange(minutes, dtype=np.int64) * MINUTE_US
    observed = pa.array(np.repeat(minute_us, count)).cast(pa.timestamp("us", tz="UTC"))
    target_index = np.tile(np.arange(count), minutes)
    failed = (_outages(rng, minutes, count) | (rng.random((minutes, count)) < ISOLATED_FAILURE_SHARE)).ravel()
    kind = rng.choice(len(FAILURES), size=rows, p=[failure.share for failure in FAILURES])
    connected = ~failed | np.array([failure.connected for failure in FAILURES])[kind]
    answered = ~failed | np.array([failure.answered for failure in FAILURES])[kind]
    dns_connect = np.round(rng.lognormal(np.log(25.0), 0.4, rows), 3)
    ttfb = np.round(rng.lognormal(np.log(180.0), 0.5, rows), 3)
    body = rng.lognormal(np.log(15.0), 0.5, rows)
    total = np.where(connected, dns_connect + np.where(answered, ttfb + body, DEFAULT_TIMEOUT_S * 1000), body / 5)
    statuses = np.array([200 if failure.http_status is None else failure.http_status for failure in FAILURES])
    columns = {
        "observed_at": observed,
        "provider": _strings([target.provider for target in targets], target_index),
        "region": _strings([target.region for target in targets], target_index),
        "target": _strings([target.url for target in targets], target_index),
        "http_status": pa.array(np.where(failed, statuses[kind], 200), mask=~answered, type=pa.int64()),
        "ok": pa.array(~failed),
        "error_class": _strings([failure.error_class for failure in FAILURES], kind, failed),
        "dns_connect_ms": pa.array(dns_connect, mask=~connected),
        "ttfb_ms": pa.array(ttfb, mask=~answered),
        "total_ms": pa.array(np.round(total, 3)),
        "error": _strings([failure.error for failure in FAILURES], kind, failed),
    }
    return pa.table(columns, schema=PROBE_SCHEMA)


def probe_history(targets: Sequence[SeriesTarget], start: datetime, end: datetime, seed: int) -> Iterator[pa.Table]:
    """The probes of every target from `start` to `end` (exclusive), one table per UTC month."""
    for first, minutes in monthly_spans(start, end):
        yield probe_table(targets, first, minutes, seed)
