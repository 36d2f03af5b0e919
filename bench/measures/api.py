"""Measure 19: the read API under load, on the warehouse of measure 5 (one real cycle at ten times the realistic
catalog). `modelatlas api` serves it in a process of its own, reading through the read-only role as in production,
and wrk (a C load generator, Debian's `wrk`) keeps 50 connections busy, each sending its next request as soon as the
last is answered: 50 concurrent clients. Three reads are timed in turn, after a warm-up each:

- `GET /v2/models` filtered (a capability, a price bound) and sorted by price, a page of 50;
- `GET /v2/prices?as_of=` of one model at one provider at a moment in the past;
- one nested GraphQL query: a page of 50 offerings, each with its prices at a moment (DataLoader-batched).

Latency percentiles come from wrk's own histogram; requests that did not answer 200 count as errors.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx

from bench.harness import BenchWarehouse
from bench.results import Check, MeasureResult, Target
from modelatlas.warehouse import Warehouse
from modelatlas.warehouse.service import connect
from tests.api_server import api_process

MEASURE = 19
TITLE = "read API under load"
CLIENTS = 50
P95_LIMIT_MS = 50.0
THROUGHPUT_LIMIT = 300.0
PAGE = 50
WRK_INSTALL_HINT = "install wrk (`apt-get install wrk`, as root); .ci/run installs it when missing"

# wrk calls `done` once at the end: the figures as one JSON line on stdout, latencies in microseconds.
_REPORT = """
done = function(summary, latency, requests)
  local errors = summary.errors.status + summary.errors.connect + summary.errors.read
    + summary.errors.write + summary.errors.timeout
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "errors": %d, "p50_us": %d, "p95_us": %d, "p99_us": %d}\\n',
    summary.requests, summary.duration, errors, latency:percentile(50), latency:percentile(95),
    latency:percentile(99)))
end
"""


@dataclass(frozen=True)
class ApiPlan:
    """How long each read is loaded, after how long a warm-up."""

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
    """What wrk measured of one read."""

    requests: int
    seconds: float
    errors: int
    p50_ms: float
    p95_ms: float
    p99_ms: float

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def parse_report(stdout: str) -> LoadFigures:
    """The JSON line `_REPORT` printed (wrk's own summary precedes it)."""
    line = next(line for line in reversed(stdout.splitlines()) if line.startswith("{"))
    raw = json.loads(line)
    return LoadFigures(
        requests=int(raw["requests"]),
        seconds=raw["duration_us"] / 1e6,
        errors=int(raw["errors"]),
        p50_ms=raw["p50_us"] / 1000,
        p95_ms=raw["p95_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
    )


def wrk_script(key: str, body: dict[str, Any] | None) -> str:
    """The Lua script: the key on every request, a JSON POST body when given, and the JSON report."""
    lines = [f'wrk.headers["Authorization"] = "Bearer {key}"']
    if body is not None:
        lines += [
            'wrk.method = "POST"',
            'wrk.headers["Content-Type"] = "application/json"',
            f"wrk.body = {json.dumps(json.dumps(body))}",
        ]
    return "\n".join(lines) + "\n" + _REPORT


def run_wrk(url: str, script: Path, seconds: int, clients: int = CLIENTS) -> LoadFigures:
    """wrk against `url` with `clients` connections over 2 threads for `seconds`."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise RuntimeError(f"wrk is not installed: {WRK_INSTALL_HINT}")
    command = [wrk, "-t2", f"-c{clients}", f"-d{seconds}s", "--timeout", "10s", "-s", str(script), url]
    done = subprocess.run(command, capture_output=True, text=True, check=True, timeout=seconds + 60)
    return parse_report(done.stdout)


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
    return [
        Scenario(
            "GET /v2/models (filtered)",
            f"/v2/models?capability=tools&max_blended_price=10&sort=blended_price_per_mtok&limit={PAGE}",
        ),
        Scenario("GET /v2/prices?as_of=", f"/v2/prices?model={model}&provider={provider}&as_of={as_of}"),
        Scenario("POST /graphql (nested)", "/graphql", {"query": query, "variables": {"asOf": as_of}}, rest=False),
    ]


def checks(results: dict[str, LoadFigures], scenarios_run: list[Scenario], note: str) -> list[Check]:
    """p50, p95 and throughput of each read; the REST reads against the targets."""
    found: list[Check] = []
    for scenario in scenarios_run:
        figures = results[scenario.name]
        p95_target = Target("<", P95_LIMIT_MS, " ms") if scenario.rest else None
        rate_target = Target(">=", THROUGHPUT_LIMIT, "/s") if scenario.rest else None
        errors = f"; {figures.errors} requests not answered 200" if figures.errors else ""
        found += [
            Check(MEASURE, f"{scenario.name}: p50 latency", figures.p50_ms, " ms", note=note),
            Check(MEASURE, f"{scenario.name}: p95 latency", figures.p95_ms, " ms", p95_target, note=note + errors),
            Check(MEASURE, f"{scenario.name}: throughput", figures.throughput, "/s", rate_target, note=note + errors),
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
    if shutil.which("wrk") is None:
        raise RuntimeError(f"wrk is not installed: {WRK_INSTALL_HINT}")
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
    results: dict[str, LoadFigures] = {}
    with api_process(env) as url, tempfile.TemporaryDirectory() as scratch:
        for index, scenario in enumerate(runs):
            script = Path(scratch) / f"scenario-{index}.lua"
            script.write_text(wrk_script(key, scenario.body))
            _check_answers(url + scenario.path, key, scenario.body)
            run_wrk(url + scenario.path, script, plan.warmup_seconds)
            results[scenario.name] = run_wrk(url + scenario.path, script, plan.seconds)
    note = f"{CLIENTS} clients (wrk), {plan.seconds} s each; mart_model_comparison {offerings:,} offerings"
    details = {name: vars(figures) for name, figures in results.items()} | {"offerings": offerings}
    return MeasureResult(measure=MEASURE, title=TITLE, checks=checks(results, runs, note), details=details)


def _check_answers(url: str, key: str, body: dict[str, Any] | None) -> None:
    """One request before the load: a read that fails would otherwise be timed as a fast error."""
    headers = {"Authorization": f"Bearer {key}"}
    response = httpx.post(url, json=body, headers=headers) if body else httpx.get(url, headers=headers)
    if response.status_code != 200 or (body is not None and "errors" in response.json()):
        raise RuntimeError(f"{url} answered {response.status_code}: {response.text[:500]}")
