"""Measures 2 and 3: full and unchanged cycles through the real runner against the simulator, time and memory."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.generator import Catalogs, CatalogSizes, catalogs
from bench.harness import BenchWarehouse, TreeRssSampler
from bench.results import Check, MeasureResult, Target, median
from bench.simulate import bench_environment, build_bench_simulator
from modelatlas.pipelines.registry import dbt_vars

PROJECT_ROOT = Path(__file__).resolve().parents[2]
REALISTIC = CatalogSizes(openrouter=400, huggingface=10_000, registry_scale=1, per_keyed_provider=100)
# History tables of the price sources (every source with a `price_points` table) and the mart over them: rows that an
# unchanged cycle must not add.
HISTORY_TABLES = (*(f"raw_{name}.price_points" for name in dbt_vars()["price_sources"]), "marts.fct_price_history")
GIB = 2**30
# What every run the daemon launches does before its first step: import the code location and build its definitions.
LOCATION_LOAD = (
    "import json, time\n"
    "started = time.perf_counter()\n"
    "import modelatlas.definitions as d\n"
    "imported = time.perf_counter()\n"
    "d.build_definitions()\n"
    "print('BENCH-LOCATION', json.dumps({'import_s': imported - started, 'build_s': time.perf_counter() - imported}))"
)
# Each daemon-launched run pays the load; see `location_check` for why this limit.
LOCATION_LIMIT_S = 10.0


@dataclass
class Cycle:
    """One `modelatlas run` in a child process: wall time, peak memory of its process tree, and its report."""

    wall_s: float
    peak_rss_bytes: int
    report: dict[str, Any] = field(default_factory=dict)
    # CPU seconds of the runner and the processes it waited for (dbt), not PostgreSQL's: on a shared machine, what
    # the cycle itself cost, whatever else ran.
    cpu_s: float = 0.0

    @property
    def ok(self) -> bool:
        """True when every asset succeeded."""
        return bool(self.report.get("success"))

    def slowest_steps(self, count: int = 6) -> dict[str, float]:
        """The steps that took longest, slowest first."""
        steps: dict[str, float] = self.report.get("steps_s", {})
        return dict(sorted(steps.items(), key=lambda item: item[1], reverse=True)[:count])


def deployment_environment(bench: BenchWarehouse, database: str) -> dict[str, str]:
    """The environment of a deployment whose warehouse database is `database`."""
    return {
        **os.environ,
        **bench.env(),
        "MODELATLAS_WAREHOUSE_DATABASE": database,
        # A fresh warehouse database is a fresh deployment: its own Dagster instance (`<database>_dagster`).
        "DAGSTER_HOME": str(bench.home / "dagster" / database),
    }


def cpu_seconds(before: resource.struct_rusage, after: resource.struct_rusage) -> float:
    """User and system CPU seconds the children waited for between two `getrusage(RUSAGE_CHILDREN)` readings."""
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def run_cycle(bench: BenchWarehouse, env: dict[str, str], database: str) -> Cycle:
    """One cycle of every asset into `database`, in a child process whose tree's memory is sampled."""
    child_env = {**deployment_environment(bench, database), **env}
    command = [sys.executable, "-m", "bench.cycle_child"]
    if profile := os.environ.get("BENCH_CYCLE_PROFILE"):
        # Where the cycle's time goes: each cycle's profile is written beside the others, numbered.
        target = Path(profile) / f"{database}-{time.time_ns()}.prof"
        command = [sys.executable, "-m", "cProfile", "-o", str(target), "-m", "bench.cycle_child"]
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    process = subprocess.Popen(
        command,
        cwd=PROJECT_ROOT,
        env=child_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    with TreeRssSampler(process.pid) as sampler:
        stdout, stderr = process.communicate()
    wall_s = time.perf_counter() - started
    cpu_s = cpu_seconds(usage, resource.getrusage(resource.RUSAGE_CHILDREN))
    report: dict[str, Any] = {}
    for line in stdout.splitlines():
        if line.startswith("BENCH-CYCLE "):
            report = json.loads(line.removeprefix("BENCH-CYCLE "))
    if not report:
        raise RuntimeError(f"the cycle printed no report (exit {process.returncode}): {stderr.strip()[-800:]}")
    return Cycle(wall_s=wall_s, peak_rss_bytes=sampler.peak_bytes, report=report, cpu_s=cpu_s)


def history_rows(bench: BenchWarehouse, database: str) -> int | None:
    """Rows in the price history tables of `database`, or None while none of them exists."""
    info = bench.info.with_database(database)
    from modelatlas.warehouse.service import connect

    total: int | None = None
    with connect(info) as conn:
        for table in HISTORY_TABLES:
            exists = conn.execute("select to_regclass(%s) is not null", (table,)).fetchone()
            if exists and exists[0]:
                row = conn.execute(f"select count(*) from {table}").fetchone()  # names from HISTORY_TABLES only
                total = (total or 0) + int(row[0] if row else 0)
    return total


@dataclass
class CyclePair:
    """A full cycle into a fresh database and the unchanged cycle after it."""

    full: Cycle
    second: Cycle
    history_before: int | None
    history_after: int | None
    database: str = ""


def cycle_pairs(
    bench: BenchWarehouse, sizes: CatalogSizes, repeats: int, seed: int, label: str, second: bool = True
) -> list[CyclePair]:
    """`repeats` full cycles at `sizes`, each in a fresh warehouse database, each followed by an unchanged one."""
    data: Catalogs = catalogs(sizes, seed=seed)
    pairs = []
    with build_bench_simulator(data) as simulator:
        env = bench_environment(simulator, data)
        for index in range(repeats):
            database = f"bench_cycle_{label}_{index}"
            full = run_cycle(bench, env, database)
            before = history_rows(bench, database)
            again = run_cycle(bench, env, database) if second else full
            after = history_rows(bench, database) if second else before
            pairs.append(CyclePair(full, again, before, after, database))
    return pairs


@dataclass
class LocationLoad:
    """One load of the code location in a fresh process: wall and CPU time, and where the time went."""

    wall_s: float
    cpu_s: float
    import_s: float
    build_s: float
    parsed: bool


def location_loads(bench: BenchWarehouse, database: str, repeats: int) -> list[LocationLoad]:
    """`repeats` loads of the code location, each in a fresh process with the environment a run the daemon launches
    for `database` has (its dbt connection too: the manifest parsed for it is current)."""
    from modelatlas.assets.dbt import PARSE_STAMP
    from modelatlas.settings import dbt_target_path

    env = {**deployment_environment(bench, database), **bench.info.with_database(database).dbt_env()}
    stamp = dbt_target_path(bench.home) / PARSE_STAMP
    loads = []
    for _ in range(repeats):
        stamped = stamp.stat().st_mtime_ns if stamp.exists() else None
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        completed = subprocess.run(
            [sys.executable, "-c", LOCATION_LOAD],
            cwd=PROJECT_ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        wall_s = time.perf_counter() - started
        used = resource.getrusage(resource.RUSAGE_CHILDREN)
        report = next(
            (json.loads(line.split(" ", 1)[1]) for line in completed.stdout.splitlines() if line.startswith("BENCH-")),
            None,
        )
        if completed.returncode != 0 or report is None:
            raise RuntimeError(
                f"loading the code location failed (exit {completed.returncode}): {completed.stderr[-800:]}"
            )
        cpu_s = cpu_seconds(usage, used)
        parsed = (stamp.stat().st_mtime_ns if stamp.exists() else None) != stamped
        loads.append(LocationLoad(wall_s, cpu_s, report["import_s"], report["build_s"], parsed))
    return loads


def location_check(loads: list[LocationLoad]) -> Check:
    """Measure 2's figure of the fixed cost every run the daemon launches pays, with its target.

    Each schedule's run and each dbt build the automation sensor starts is a new process that imports the code
    location and builds its definitions before its first step: a 10-minute cycle of 8 sources and their dbt build is
    9 such loads, 3 at a time (the run queue's limit) on this machine's 2 cores. Under 10 s each keeps those 9 loads
    within about a minute and a half of the machine's 20 core-minutes a cycle, and fails on the regressions that
    matter: a dbt parse in every run (a manifest stamp that never matches: 20 s and more), or Great Expectations or
    another heavy library imported when the definitions load.
    """
    parsed = sum(load.parsed for load in loads)
    return Check(
        2,
        "code location load per launched run (import + build_definitions)",
        median([load.wall_s for load in loads]),
        " s",
        Target("<", LOCATION_LIMIT_S, " s"),
        f"fresh process, median of {len(loads)}: import {median([load.import_s for load in loads]):.1f} s, "
        f"definitions {median([load.build_s for load in loads]):.1f} s, CPU "
        f"{median([load.cpu_s for load in loads]):.1f} s; paid by every run the daemon launches (9 a 10-minute "
        f"cycle: 8 sources, 1 dbt build); {parsed} of {len(loads)} parsed the dbt project",
    )


def cycle_details(pairs: list[CyclePair]) -> dict[str, Any]:
    """Medians and every sample of a set of cycle pairs."""
    full = [pair.full for pair in pairs]
    second = [pair.second for pair in pairs]
    return {
        "full_wall_s": median([cycle.wall_s for cycle in full]),
        "full_peak_rss_gib": median([cycle.peak_rss_bytes / GIB for cycle in full]),
        "second_wall_s": median([cycle.wall_s for cycle in second]),
        "full_cpu_s": median([cycle.cpu_s for cycle in full]),
        "second_cpu_s": median([cycle.cpu_s for cycle in second]),
        "second_peak_rss_gib": median([cycle.peak_rss_bytes / GIB for cycle in second]),
        "second_over_full": median([pair.second.wall_s / pair.full.wall_s for pair in pairs]),
        "all_succeeded": all(cycle.ok for cycle in full + second),
        "failures": [cycle.report.get("failures") for cycle in full + second if not cycle.ok],
        "history_new_rows": [
            None if pair.history_after is None else pair.history_after - (pair.history_before or 0) for pair in pairs
        ],
        "slowest_steps_full_s": full[0].slowest_steps(),
        "slowest_steps_second_s": second[0].slowest_steps(),
        "dbt_built_full": [len(cycle.report.get("dbt_built") or []) for cycle in full],
        "dbt_built_second": [cycle.report.get("dbt_built") for cycle in second],
        "reports_second": second[0].report.get("reports"),
        "samples": [
            {
                "full_wall_s": pair.full.wall_s,
                "full_peak_rss_bytes": pair.full.peak_rss_bytes,
                "second_wall_s": pair.second.wall_s,
                "second_peak_rss_bytes": pair.second.peak_rss_bytes,
                "full_cpu_s": pair.full.cpu_s,
                "second_cpu_s": pair.second.cpu_s,
                "full_report": {key: pair.full.report.get(key) for key in ("import_s", "run_s", "dagster_runs_s")},
                "second_report": {key: pair.second.report.get(key) for key in ("import_s", "run_s", "dagster_runs_s")},
                "row_counts": pair.full.report.get("row_counts"),
            }
            for pair in pairs
        ],
    }


def _where_time_goes(details: dict[str, Any]) -> str:
    sample = details["samples"][0]["full_report"]
    runs = " + ".join(f"{seconds:.1f}" for seconds in sample.get("dagster_runs_s") or [])
    slowest_steps = list(details["slowest_steps_full_s"].items())[:4]
    slowest = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in slowest_steps)
    return f"imports {sample.get('import_s', 0):.1f} s, Dagster runs {runs} s; slowest steps: {slowest}"


def describe_sizes(sizes: CatalogSizes) -> str:
    """The catalog sizes of a cycle, for the table."""
    return (
        f"OpenRouter {sizes.openrouter:,}, registry {sizes.registry_scale}x (2,330 models each), "
        f"Hugging Face {sizes.huggingface:,}, {sizes.per_keyed_provider:,} per keyed provider, "
        f"LiteLLM {sizes.litellm:,}"
    )


def measure_cycles(
    bench: BenchWarehouse,
    factor: float,
    repeats: int,
    seed: int,
    measured: dict[float, list[CyclePair]] | None = None,
    location_repeats: int = 5,
) -> tuple[MeasureResult, MeasureResult]:
    """Measures 2 and 3 at `factor` times the realistic size (1 in a full run); pairs kept in `measured`.

    Measure 2 also loads the code location `location_repeats` times, as every run the daemon launches does.
    """
    sizes_at = REALISTIC.scaled(factor)
    pairs = cycle_pairs(bench, sizes_at, repeats, seed, f"m2_{str(factor).replace('.', '_')}")
    if measured is not None:
        measured[factor] = pairs
    details = cycle_details(pairs)
    # After the cycles: the dbt manifest the last one parsed is current for its database.
    loads = location_loads(bench, pairs[-1].database, location_repeats)
    details["location_loads"] = [load.__dict__ for load in loads]
    sizes = describe_sizes(sizes_at)
    ok = "" if details["all_succeeded"] else f"; FAILED steps: {details['failures']}"
    full = MeasureResult(
        measure=2,
        title="full cycle",
        checks=[
            Check(
                2,
                "full cycle wall time",
                details["full_wall_s"],
                " s",
                Target("<", 60, " s"),
                f"{sizes}; median of {repeats}; CPU {details['full_cpu_s']:.0f} s (runner and dbt, not PostgreSQL); "
                f"{_where_time_goes(details)}{ok}",
            ),
            Check(
                2,
                "full cycle peak RSS (process tree)",
                details["full_peak_rss_gib"],
                " GiB",
                Target("<", 1.5, " GiB"),
                "runner process and its children (dbt), sampled every 50 ms",
            ),
            location_check(loads),
        ],
        details=details,
    )
    new_rows = details["history_new_rows"]
    history_value = None if any(value is None for value in new_rows) else float(max(new_rows))
    rebuilt = [built or [] for built in details["dbt_built_second"]]
    most_rebuilt = max(rebuilt, key=len)
    unchanged = MeasureResult(
        measure=3,
        title="unchanged cycle",
        checks=[
            Check(
                3,
                "new history rows in an unchanged cycle",
                history_value,
                " rows",
                Target("==", 0, " rows"),
                "price_points and fct_price_history" if history_value is not None else "no price history tables yet",
            ),
            Check(
                3,
                "dbt models built in an unchanged cycle",
                float(len(most_rebuilt)),
                " models",
                Target("==", 0, " models"),
                f"the build rule the daemon's sensor evaluates; the full cycle built {max(details['dbt_built_full'])}"
                + (f"; built: {', '.join(most_rebuilt[:8])}" if most_rebuilt else ""),
            ),
            Check(
                3,
                "unchanged cycle time / full cycle time",
                details["second_over_full"],
                "x",
                Target("<", 0.5, "x"),
                f"second cycle {details['second_wall_s']:.1f} s, CPU {details['second_cpu_s']:.0f} s; slowest steps: "
                + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in details["slowest_steps_second_s"].items()),
            ),
        ],
        details={"see": "measure 2 details"},
    )
    return full, unchanged
