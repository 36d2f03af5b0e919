"""Measure 19: the read API under load, on the warehouse of measure 5 (one real cycle at ten times the realistic
catalog). `modelatlas api` serves it in a process of its own, reading through the read-only role as in production,
and hey (a Go load generator, Debian's `hey`) runs 50 concurrent clients on the same 2 cores. Three reads are loaded
in turn, after a warm-up each:

- `GET /v2/models` filtered (a capability, a price bound) and sorted by price, a page of 50;
- `GET /v2/prices?as_of=` of one model at one provider at a moment in the past;
- one nested GraphQL query: a page of 50 offerings, each with its prices at a moment (DataLoader-batched).

Each read is loaded twice. At a steady 300 requests/s, 50 clients each send 6 requests a second, each client a hey
of its own, their starts spread over one sixth of a second as independent clients' would be (one hey with 50
workers paced at 6/s sends all 50 in the same instant, every time: a burst of 50 every 166 ms, which no 50
independent clients make). Its latency is what a client meets at that traffic: p50 and p95 against the target,
and the rate kept. Then 50 clients send without pause (one hey, 50 workers), which gives the most it serves (its
saturation throughput); with clients that never pause, latency is only 50 divided by the throughput (Little's
law), so the latency target is checked at the steady rate. Latencies are hey's per-request figures; a request not
answered 200 counts as an error.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx

from bench.harness import BenchWarehouse
from bench.results import Check, MeasureResult, Target, percentile
from modelatlas.warehouse import Warehouse
from modelatlas.warehouse.service import connect
from tests.api_server import api_process

MEASURE = 19
TITLE = "read API under load"
CLIENTS = 50
STEADY_RATE = 300
P95_LIMIT_MS = 50.0
PAGE = 50
HEY_INSTALL_HINT = "install hey (`apt-get install hey`, as root); .ci/run installs it when missing"


@dataclass(frozen=True)
class ApiPlan:
    """How long each load lasts, after how long a warm-up."""

    seconds: int
    warmup_seconds: int


PLANS = {"full": ApiPlan(seconds=20, warmup_seconds=5), "quick": ApiPlan(seconds=6, warmup_seconds=2)}


@dataclass(frozen=True)
class Scenario:
    """One read under load: its path and query, and the body when it is a POST."""

    name: str
    path: str
    body: dict[str, Any] | None = None
    rest: bool = True


@dataclass(frozen=True)
class LoadFigures:
    """What one load measured: every request's latency, how many were not answered 200, over how long."""

    latencies_ms: list[float] = field(repr=False)
    errors: int
    seconds: float

    @property
    def requests(self) -> int:
        return len(self.latencies_ms)

    @property
    def p50_ms(self) -> float:
        return percentile(self.latencies_ms, 0.50)

    @property
    def p95_ms(self) -> float:
        return percentile(self.latencies_ms, 0.95)

    @property
    def p99_ms(self) -> float:
        return percentile(self.latencies_ms, 0.99)

    def summary(self) -> dict[str, float]:
        """The figures, for the results file."""
        return {
            "requests": self.requests,
            "seconds": self.seconds,
            "errors": self.errors,
            "p50_ms": self.p50_ms,
            "p95_ms": self.p95_ms,
            "p99_ms": self.p99_ms,
        }

    @property
    def throughput(self) -> float:
        """Requests answered 200 a second."""
        return (self.requests - self.errors) / self.seconds if self.seconds else 0.0


def parse_hey_csv(text: str) -> LoadFigures:
    """hey's per-request CSV (`-o csv`): response time and start offset in seconds, status code."""
    rows = list(csv.DictReader(io.StringIO(text)))
    if not rows:
        raise RuntimeError("hey recorded no request")
    latencies = [float(row["response-time"]) * 1000 for row in rows]
    errors = sum(1 for row in rows if row["status-code"] != "200")
    seconds = max(float(row["offset"]) + float(row["response-time"]) for row in rows)
    return LoadFigures(latencies_ms=latencies, errors=errors, seconds=seconds)


def hey_command(
    url: str, key: str, body: Path | None, seconds: int, rate_per_client: float | None, clients: int = CLIENTS
) -> list[str]:
    """hey with `clients` clients for `seconds`, each at `rate_per_client` requests/s (None: without pause)."""
    hey = shutil.which("hey")
    if hey is None:
        raise RuntimeError(f"hey is not installed: {HEY_INSTALL_HINT}")
    command = [hey, "-z", f"{seconds}s", "-c", str(clients), "-t", "10", "-o", "csv"]
    command += ["-H", f"Authorization: Bearer {key}"]
    if rate_per_client is not None:
        command += ["-q", str(rate_per_client)]
    if body is not None:
        command += ["-m", "POST", "-T", "application/json", "-D", str(body)]
    return [*command, url]


def run_hey(url: str, key: str, body: Path | None, seconds: int, rate_per_client: float | None) -> LoadFigures:
    """One load of `url`, and what it measured."""
    command = hey_command(url, key, body, seconds, rate_per_client)
    done = subprocess.run(command, capture_output=True, text=True, check=True, timeout=seconds + 120)
    return parse_hey_csv(done.stdout)


def run_steady(url: str, key: str, body: Path | None, seconds: int, scratch: Path) -> LoadFigures:
    """`CLIENTS` clients at `STEADY_RATE` requests/s in all, each a hey of its own, started evenly over one period;
    their CSVs are written to `scratch` (a directory of this load's own)."""
    per_client = STEADY_RATE / CLIENTS
    period = 1.0 / per_client
    outputs, processes = [], []
    try:
        for index in range(CLIENTS):
            output = (scratch / f"steady-{index}.csv").open("w")
            outputs.append(output)
            command = hey_command(url, key, body, seconds, per_client, clients=1)
            processes.append(subprocess.Popen(command, stdout=output, stderr=subprocess.DEVNULL))
            time.sleep(period / CLIENTS)
        for process in processes:
            if process.wait(timeout=seconds + 120) != 0:
                raise RuntimeError(f"hey exited with {process.returncode}")
    finally:
        for output in outputs:
            output.close()
        for process in processes:
            if process.poll() is None:
                process.kill()
    merged = [parse_hey_csv(path.read_text()) for path in sorted(scratch.glob("steady-*.csv"))]
    return merge(merged, seconds)


def merge(parts: list[LoadFigures], seconds: float) -> LoadFigures:
    """The figures of clients that ran side by side for `seconds`: their requests together."""
    latencies = [latency for part in parts for latency in part.latencies_ms]
    return LoadFigures(latencies_ms=latencies, errors=sum(part.errors for part in parts), seconds=seconds)


def scenarios(info: Any) -> list[Scenario]:
    """The three reads, on a model and moment the warehouse holds."""
    with connect(info) as conn:
        row = conn.execute(
            "select canonical_model_id, provider, valid_from from marts.fct_price_timeline "
            "where valid_from is not null order by valid_from desc limit 1"
        ).fetchone()
    if row is None:
        raise RuntimeError("marts.fct_price_timeline is empty: the cycle built no price timeline")
    model, provider, moment = row
    as_of = moment.isoformat()
    fields = "canonicalModelId provider blendedPricePerMtok prices(asOf: $asOf) { component priceUsd }"
    page = f'capability: [tools], maxBlendedPrice: 10, sort: "blended_price_per_mtok", limit: {PAGE}'
    query = f"query ($asOf: DateTime) {{ offerings({page}) {{ data {{ {fields} }} }} }}"
    prices = urlencode({"model": model, "provider": provider, "as_of": as_of})
    return [
        Scenario(
            "GET /v2/models (filtered)",
            f"/v2/models?capability=tools&max_blended_price=10&sort=blended_price_per_mtok&limit={PAGE}",
        ),
        Scenario("GET /v2/prices?as_of=", f"/v2/prices?{prices}"),
        Scenario("POST /graphql (nested)", "/graphql", {"query": query, "variables": {"asOf": as_of}}, rest=False),
    ]


def checks(
    steady: dict[str, LoadFigures], saturated: dict[str, LoadFigures], runs: list[Scenario], note: str
) -> list[Check]:
    """At the steady rate: p50, p95 (the REST reads against the target) and the rate kept; without pause: the
    throughput and its p95."""
    found: list[Check] = []
    for scenario in runs:
        calm, busy = steady[scenario.name], saturated[scenario.name]
        errors = calm.errors + busy.errors
        suffix = f"; {errors} requests not answered 200" if errors else ""
        p95_target = Target("<", P95_LIMIT_MS, " ms") if scenario.rest else None
        rate_target = Target(">=", STEADY_RATE * 0.95, "/s") if scenario.rest else None
        at_rate = f"at {STEADY_RATE}/s"
        found += [
            Check(MEASURE, f"{scenario.name} {at_rate}: p50 latency", calm.p50_ms, " ms", note=note + suffix),
            Check(MEASURE, f"{scenario.name} {at_rate}: p95 latency", calm.p95_ms, " ms", p95_target, note + suffix),
            Check(MEASURE, f"{scenario.name} {at_rate}: rate kept", calm.throughput, "/s", rate_target, note + suffix),
            Check(
                MEASURE,
                f"{scenario.name}: throughput, clients without pause",
                busy.throughput,
                "/s",
                Target(">=", STEADY_RATE, "/s") if scenario.rest else None,
                f"p50 {busy.p50_ms:.0f} ms, p95 {busy.p95_ms:.0f} ms at {CLIENTS} clients{suffix}",
            ),
        ]
    return found


def _all_scopes_key(warehouse: Warehouse) -> str:
    from modelatlas.api.keys import SCOPES, create_key

    with connect(warehouse.connection(), autocommit=True) as conn:
        _, key = create_key(conn, team="bench", scopes=SCOPES, expires_at=None, name="measure 19")
    return key


def measure_api(bench: BenchWarehouse, database: str, mode: str) -> MeasureResult:
    """Measure 19 on `database` (measure 5's warehouse) at the plan's durations (`mode`: full or quick)."""
    plan = PLANS[mode]
    if shutil.which("hey") is None:
        raise RuntimeError(f"hey is not installed: {HEY_INSTALL_HINT}")
    warehouse = Warehouse(replace(bench.warehouse.settings, database=database))
    warehouse.ensure_roles()  # as `modelatlas api` does before it serves
    key = _all_scopes_key(warehouse)
    runs = scenarios(warehouse.reader_connection())
    with connect(warehouse.reader_connection()) as conn:
        row = conn.execute("select count(*) from marts.mart_model_comparison").fetchone()
        offerings = int(row[0]) if row else 0
    env = {
        "MODELATLAS_WAREHOUSE_DATABASE": database,
        # The limiter is not what is measured: every request of the load is let through.
        "MODELATLAS_API_RATE_LIMIT_PER_S": "1000000",
        "MODELATLAS_API_RATE_LIMIT_BURST": "1000000",
    }
    steady: dict[str, LoadFigures] = {}
    saturated: dict[str, LoadFigures] = {}
    with api_process(env) as url, tempfile.TemporaryDirectory() as scratch:
        for index, scenario in enumerate(runs):
            body = None
            if scenario.body is not None:
                body = Path(scratch) / f"body-{index}.json"
                body.write_text(json.dumps(scenario.body))
            _check_answers(url + scenario.path, key, scenario.body)
            run_hey(url + scenario.path, key, body, plan.warmup_seconds, None)
            outputs = Path(scratch) / f"steady-{index}"
            outputs.mkdir()
            steady[scenario.name] = run_steady(url + scenario.path, key, body, plan.seconds, outputs)
            saturated[scenario.name] = run_hey(url + scenario.path, key, body, plan.seconds, None)
    note = f"{CLIENTS} clients (hey), {plan.seconds} s; mart_model_comparison {offerings:,} offerings"
    details = {
        "steady": {name: figures.summary() for name, figures in steady.items()},
        "saturated": {name: figures.summary() for name, figures in saturated.items()},
        "offerings": offerings,
    }
    return MeasureResult(measure=MEASURE, title=TITLE, checks=checks(steady, saturated, runs, note), details=details)


def _check_answers(url: str, key: str, body: dict[str, Any] | None) -> None:
    """One request before the load: a read that fails would otherwise be timed as a fast error."""
    headers = {"Authorization": f"Bearer {key}"}
    response = httpx.post(url, json=body, headers=headers) if body else httpx.get(url, headers=headers)
    if response.status_code != 200 or (body is not None and "errors" in response.json()):
        raise RuntimeError(f"{url} answered {response.status_code}: {response.text[:500]}")
