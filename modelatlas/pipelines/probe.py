"""Active probes: one timed, never retried request to each provider's models list per tick, a failure being a row.

The targets are the catalog sources themselves: each one whose key is set (or that needs none) is probed at its
catalog endpoint, asking for the smallest page its paginator allows, with its own key headers. A probe spends no
tokens. It never retries, since a retry would hide the very failure it measures, and it never fails the run.
"""

from __future__ import annotations

import functools
import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import httpx

from modelatlas.errors import ConfigurationError
from modelatlas.pipelines.http import error_message, user_agent
from modelatlas.pipelines.quality.suite import Suite
from modelatlas.pipelines.spec import Batch, DataType, Request, Setting, SourceSpec, TableSpec
from modelatlas.redaction import redact
from modelatlas.settings import parse_seconds, source_config

if TYPE_CHECKING:
    from modelatlas.settings import SourceConfig

TABLE = "probe_results"
DEFAULT_TIMEOUT_S = 10.0
# The option a caller (a test, a benchmark) sets to read the targets' keys and URLs from instead of the environment.
ENVIRONMENT_OPTION = "environment"
ERROR_CLASSES = frozenset({"timeout", "connection", "rate_limited", "auth", "client_error", "server_error"})
MAX_ERROR_CHARS = 200
# A probe slower than an hour is a broken clock, not a measurement.
DURATION_RANGE_MS = (0, 3_600_000)

COLUMNS: dict[str, DataType] = {
    "observed_at": "timestamp",
    "provider": "text",
    "region": "text",
    "target": "text",
    "http_status": "bigint",
    "ok": "bool",
    "error_class": "text",
    "dns_connect_ms": "double",
    "ttfb_ms": "double",
    "total_ms": "double",
    "error": "text",
}
NOT_NULL = ("observed_at", "provider", "region", "ok")


@dataclass(frozen=True)
class ProbeTarget:
    """One provider's models list as a probe requests it: the URL (never a key), its headers and its secrets."""

    provider: str
    region: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    secrets: tuple[str, ...] = field(default=(), repr=False)
    # Responses beyond 401/403 that mean a bad key (Gemini's 400 API_KEY_INVALID).
    rejects_key: Callable[[httpx.Response], bool] | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Timings:
    """How long the phases of one probe took, in milliseconds; None for a phase it did not reach."""

    # From starting the TCP connect (DNS lookup included) to the connection (TLS included) being ready.
    dns_connect_ms: float | None = None
    # From sending the request's headers to having the response's headers.
    ttfb_ms: float | None = None
    # The whole request, connect and body included.
    total_ms: float | None = None


@dataclass(frozen=True)
class Outcome:
    """What one probe got: a response status (with the provider's error message) or the exception, and timings."""

    timings: Timings
    status: int | None = None
    exception: BaseException | None = None
    detail: str = ""
    key_rejected: bool = False


def parse_targets(raw: str, variable: str) -> tuple[str, ...]:
    """The sources to probe from a comma-separated list of names; empty means every eligible catalog."""
    names = tuple(dict.fromkeys(part.strip() for part in raw.split(",") if part.strip()))
    if not names:
        return ()
    known = [spec.name for spec in probe_candidates()]
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ConfigurationError(
            f"{variable} names {', '.join(repr(name) for name in unknown)}, which is no probe target: "
            f"list some of {', '.join(known)}, or leave it empty to probe every one whose key is set"
        )
    return names


def parse_timeout(raw: str, variable: str) -> float:
    """Seconds a probe waits for each phase (connect, read) before it counts as timed out."""
    return parse_seconds(raw, DEFAULT_TIMEOUT_S, variable)


def probe_candidates() -> list[SourceSpec]:
    """Every source a probe can target: the catalogs with an API base URL."""
    # Imported here: the registry imports every pipelines module, this one included.
    from modelatlas.pipelines.registry import sources

    return [spec for spec in sources() if spec.kind == "catalog" and spec.base_url and spec.catalog is not None]


def probe_target(spec: SourceSpec, config: SourceConfig) -> ProbeTarget:
    """The probe of one catalog: its endpoint's first page at the smallest size it takes, with its key headers."""
    catalog = spec.catalog
    if catalog is None or config.base_url is None:
        raise ValueError(f"{spec.name} has no catalog endpoint to probe")
    paginator = catalog.endpoint.paginator
    first = paginator.first(catalog.endpoint, 1 if paginator.size is not None else None)
    url = httpx.URL(config.base_url.rstrip("/") + "/" + first.target.lstrip("/"), params=dict(first.params or {}))
    headers = dict(spec.headers)
    if spec.credential is not None and config.api_key:
        headers |= spec.credential.headers(config.api_key)
    return ProbeTarget(
        provider=spec.name,
        region=config.region,
        url=str(url),
        headers=headers,
        secrets=(config.api_key,) if config.api_key else (),
        rejects_key=spec.rejects_key,
    )


def probe_targets(
    only: Sequence[str] = (), env: Mapping[str, str] | None = None
) -> tuple[list[ProbeTarget], list[str]]:
    """The targets to probe (those of `only`, or all), and a note for each candidate left out and why."""
    targets: list[ProbeTarget] = []
    left_out: list[str] = []
    for spec in probe_candidates():
        if only and spec.name not in only:
            continue
        try:
            config = source_config(spec, env)
        except ConfigurationError as exc:
            left_out.append(f"{spec.name} not probed: {exc}")
            continue
        credential = spec.credential
        if credential is not None and credential.required and not config.api_key:
            left_out.append(f"{spec.name} not probed: {credential.env} is not set")
            continue
        targets.append(probe_target(spec, config))
    return targets, left_out


class TraceMarks:
    """httpx's `trace` extension callback: when each phase of one request started or completed."""

    def __init__(self) -> None:
        self.marks: dict[str, float] = {}

    def __call__(self, event: str, info: Mapping[str, Any]) -> None:
        # "connection.connect_tcp.started" -> "connect_tcp.started": the HTTP/1.1 and HTTP/2 events read alike.
        name = event.partition(".")[2] or event
        self.marks.setdefault(name, time.perf_counter())


def _span_ms(start: float | None, end: float | None) -> float | None:
    if start is None or end is None:
        return None
    return round(max(0.0, end - start) * 1000, 3)


def trace_timings(marks: Mapping[str, float], started: float, finished: float) -> Timings:
    """The phases of one request from its trace marks (perf_counter seconds) and its start and end."""
    connected = marks.get("start_tls.complete", marks.get("connect_tcp.complete"))
    return Timings(
        dns_connect_ms=_span_ms(marks.get("connect_tcp.started"), connected),
        ttfb_ms=_span_ms(marks.get("send_request_headers.started"), marks.get("receive_response_headers.complete")),
        total_ms=_span_ms(started, finished),
    )


def error_class(outcome: Outcome) -> str | None:
    """The kind of failure of a probe, None when it succeeded."""
    if outcome.exception is not None:
        return "timeout" if isinstance(outcome.exception, httpx.TimeoutException) else "connection"
    status = outcome.status
    if status is None:
        return "connection"
    if 200 <= status < 300:
        return None
    if status == 429:
        return "rate_limited"
    if status in (401, 403) or outcome.key_rejected:
        return "auth"
    if status >= 500:
        return "server_error"
    # Other 4xx, and a redirect a probe does not follow: the request as configured is wrong.
    return "client_error"


def error_text(outcome: Outcome, secrets: Sequence[str] = ()) -> str | None:
    """A short line saying why a probe failed, every secret redacted; None when it succeeded."""
    if error_class(outcome) is None:
        return None
    if outcome.exception is not None:
        message = str(outcome.exception).strip()
        text = type(outcome.exception).__name__ + (f": {message}" if message else "")
    else:
        text = f"HTTP {outcome.status}" + (f": {outcome.detail.strip()}" if outcome.detail.strip() else "")
    text = redact(" ".join(text.split()), extra=secrets)
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 3] + "..."


def probe_row(target: ProbeTarget, observed_at: datetime, outcome: Outcome) -> dict[str, Any]:
    """The `probe_results` row of one probe."""
    kind = error_class(outcome)
    return {
        "observed_at": observed_at,
        "provider": target.provider,
        "region": target.region,
        "target": target.url,
        "http_status": outcome.status,
        "ok": kind is None,
        "error_class": kind,
        "dns_connect_ms": outcome.timings.dns_connect_ms,
        "ttfb_ms": outcome.timings.ttfb_ms,
        "total_ms": outcome.timings.total_ms,
        "error": error_text(outcome, target.secrets),
    }


@functools.cache
def tls_context() -> ssl.SSLContext:
    """One TLS context for every probe: building one (loading the CA bundle) took 80 ms, longer than a probe."""
    return httpx.create_ssl_context()


def run_probe(target: ProbeTarget, timeout_s: float) -> Outcome:
    """One request to `target` on a connection of its own (so its connect is measured), never retried."""
    marks = TraceMarks()
    # No redirects: a probe is one request, and a key header must not follow one to another host.
    client = httpx.Client(
        headers={"User-Agent": user_agent(), **target.headers},
        timeout=timeout_s,
        follow_redirects=False,
        verify=tls_context(),
    )
    started = time.perf_counter()
    try:
        response = client.get(target.url, extensions={"trace": marks})
        finished = time.perf_counter()
    except httpx.HTTPError as exc:
        return Outcome(trace_timings(marks.marks, started, time.perf_counter()), exception=exc)
    finally:
        client.close()
    failed = response.status_code >= 400
    return Outcome(
        trace_timings(marks.marks, started, finished),
        status=response.status_code,
        detail=error_message(response) if failed else "",
        key_rejected=failed and target.rejects_key is not None and target.rejects_key(response),
    )


def run_probes(targets: Sequence[ProbeTarget], timeout_s: float) -> list[Outcome]:
    """Every target probed at once, one thread each, outcomes in the targets' order."""
    if not targets:
        return []
    with ThreadPoolExecutor(max_workers=len(targets), thread_name_prefix="probe") as pool:
        return list(pool.map(lambda target: run_probe(target, timeout_s), targets))


def probe_batch(request: Request) -> Batch:
    """One tick: every eligible target probed, one row each, all observed at the request's time."""
    options = request.options
    targets, left_out = probe_targets(options.get("targets", ()), options.get(ENVIRONMENT_OPTION))
    outcomes = run_probes(targets, options.get("timeout", DEFAULT_TIMEOUT_S))
    rows = [probe_row(target, request.fetched_at, outcome) for target, outcome in zip(targets, outcomes, strict=True)]
    request.stats.requests = len(targets)
    totals = [row["total_ms"] for row in rows if row["total_ms"] is not None]
    failed = [f"{row['provider']} ({row['error_class']})" for row in rows if not row["ok"]]
    origin = f"{len(targets)} probe targets ({', '.join(t.provider for t in targets)})" if targets else "no target"
    return Batch(
        tables={TABLE: rows},
        origin=origin,
        notes=(*left_out, *([f"failing: {', '.join(failed)}"] if failed else [])),
        metadata={"probes": len(rows), "failed": len(failed), "slowest_ms": max(totals) if totals else None},
    )


SPEC = SourceSpec(
    name="probe",
    display_name="Probes",
    description="A timed request to each provider's models list every minute: connect, first byte, total, status.",
    kind="status",
    group="status",
    cadence="* * * * *",
    tables=(
        TableSpec(
            name=TABLE,
            description="One row per probe of one provider's API: timings, HTTP status and error class.",
            columns=COLUMNS,
            version_columns=("observed_at", "provider", "region", "http_status", "error_class"),
            disposition="append",
            # A backfill or a benchmark year arrives as Arrow tables: dlt COPYs them as csv.
            file_format="csv",
            not_null=NOT_NULL,
            suite=Suite(
                source="probe",
                entity=TABLE,
                key=("observed_at", "provider", "region"),
                not_null=NOT_NULL,
                known_values={"error_class": ERROR_CLASSES},
                ranges=dict.fromkeys(("dns_connect_ms", "ttfb_ms", "total_ms"), DURATION_RANGE_MS),
            ),
            preview=("provider", "region", "ok", "http_status", "error_class", "ttfb_ms", "total_ms"),
            dataset="ts",
            time_column="observed_at",
        ),
    ),
    extract=probe_batch,
    settings=(
        Setting(
            "TARGETS",
            "",
            "the catalog sources to probe, comma-separated; empty: every one whose key is set or that needs none",
            option="targets",
            parse=parse_targets,
        ),
        Setting(
            "TIMEOUT",
            str(int(DEFAULT_TIMEOUT_S)),
            "seconds a probe waits to connect and for each read before it counts as a timeout",
            option="timeout",
            parse=parse_timeout,
        ),
    ),
    endpoint_doc="each probed catalog's list endpoint, one item, never retried",
)
