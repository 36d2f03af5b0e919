"""`python -m bench.soak --minutes N`: production mode (`modelatlas up`'s services, the real daemon) against the
simulator, every schedule each minute, from an empty warehouse; sources change between ticks and one fails for a
while; then the checks, printed and written to bench/results/soak-latest.{json,md} (short runs: soak-quick.*)."""

from __future__ import annotations

import argparse
import contextlib
import functools
import logging
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.harness import ISOLATED_VARIABLES, free_port
from bench.results import Check, MeasureResult, Target, machine, machine_line, to_json
from bench.soak.alerts import ALERT_VARIABLES, AlertFindings, alert_checks, alert_environment, read_alerts
from bench.soak.analysis import (
    DBT_JOB,
    Build,
    RunInfo,
    changed_loads,
    fetches_per_state,
    first_runs,
    followed_since,
    fresh_during_failure,
    needless_builds,
    overlapping_builds,
    per_minute,
    queue_waits,
    read_builds,
    read_runs,
    run_counts,
    unexpected_failures,
)
from bench.soak.observe import IN_FLIGHT, QUEUED, Sampler
from bench.soak.replay import REPLAY_DATABASE, compare_marts, replay
from bench.soak.scenario import CHANGES, FAILING_SOURCE, Scenario
from modelatlas.pipelines.registry import sources
from modelatlas.sample import SAMPLE_DATABASE
from modelatlas.services import (
    DAEMON,
    ServiceSettings,
    State,
    down,
    graphql,
    open_instance,
    service_settings,
    stop_group,
    up,
)
from modelatlas.settings import environment
from modelatlas.simulator import build_simulator, sample_environment
from modelatlas.simulator.receivers import AlertReceiver
from modelatlas.warehouse import Warehouse

RESULTS_DIR = Path(__file__).resolve().parent.parent / "results"
# A soak this long or longer is a full one (soak-latest.*); shorter ones are quick (soak-quick.*, not committed).
FULL_MINUTES = 15
# When, as a share of the soak, each event is due: a state change (the next of CHANGES), the failure, the recovery.
TIMELINE = (("change", 0.2), ("change", 0.4), ("fail", 0.5), ("change", 0.6), ("recover", 0.8))
# The longest the soak waits, past an event's time, for the sources to have fetched the state they must see.
READY_CAP_S = 600
SETTLE_CAP_S = 900
DRAIN_CAP_S = 300
ASSET_GRAPH = "{ assetNodes { assetKey { path } dependencyKeys { path } kinds } }"
log = logging.getLogger("bench.soak")


def say(text: str) -> None:
    """One line of the soak's own output on stdout (logs go to stderr)."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


@dataclass
class Graph:
    """The asset graph as the webserver serves it: each asset's inputs and kinds."""

    deps: dict[str, set[str]]
    kinds: dict[str, set[str]]

    @classmethod
    def fetch(cls, url: str) -> Graph:
        """Read the graph from the Dagster webserver."""
        nodes = graphql(url, ASSET_GRAPH)["assetNodes"]
        deps = {"/".join(n["assetKey"]["path"]): {"/".join(d["path"]) for d in n["dependencyKeys"]} for n in nodes}
        kinds = {"/".join(n["assetKey"]["path"]): set(n["kinds"]) for n in nodes}
        return cls(deps, kinds)

    def dbt_models(self) -> list[str]:
        """Every dbt model (and seed)."""
        return sorted(key for key, kinds in self.kinds.items() if "dbt" in kinds)

    def source_tables(self, source: str | None = None) -> list[str]:
        """The raw tables of one source (all sources by default)."""
        prefix = f"raw_{source}/" if source else "raw_"
        return sorted(key for key in self.deps if key.startswith(prefix))

    def followers(self, changed: Sequence[str], failing: str) -> list[str]:
        """The marts that read a changed source and not the failing one."""
        changed_tables = {table for source in changed for table in self.source_tables(source)}
        marts = {key for key in self.dbt_models() if key.startswith("marts/")} & self.downstream(changed_tables)
        return sorted(marts - self.downstream(set(self.source_tables(failing))))

    def only_time_series(self, selection: Iterable[Any]) -> bool:
        """Whether every model a run selects (asset keys) reads the time series (`ts`), directly or not: such a
        run follows the probes (mart_model_comparison too, through its availability column) for ever."""
        series = self.downstream({key for key in self.deps if key.startswith("ts/")})
        selected = {"/".join(key.path) for key in selection}
        return bool(selected) and selected <= series

    def downstream(self, keys: set[str]) -> set[str]:
        """Everything that reads `keys`, directly or not."""
        found: set[str] = set()
        frontier = set(keys)
        while frontier:
            frontier = {key for key, deps in self.deps.items() if deps & frontier} - found
            found |= frontier
        return found


@dataclass
class Timeline:
    """What happened when, on the wall clock: the services ready, each event, the end of the schedules."""

    started: float = 0.0
    events: list[tuple[float, str]] = field(default_factory=list)
    failure: tuple[float, float] | None = None
    change_during_failure: float | None = None
    ended: float = 0.0
    notes: list[str] = field(default_factory=list)

    def mark(self, text: str) -> None:
        """Record and print one event."""
        now = time.time()
        self.events.append((now, text))
        say(f"[{_clock(now - self.started)}] {text}")


def _clock(seconds: float) -> str:
    return f"{int(seconds // 60):02d}:{int(seconds % 60):02d}"


def wait_until(condition: Callable[[], bool], deadline: float, step_s: float = 5.0) -> bool:
    """Poll `condition` until true or the wall-clock `deadline`; whether it became true."""
    while True:
        if condition():
            return True
        if time.time() >= deadline:
            return False
        time.sleep(step_s)


def soak_environment(home: Path) -> dict[str, str | None]:
    """A fresh MODELATLAS_HOME, free ports, nothing of the caller's, and every schedule each minute."""
    overrides: dict[str, str | None] = dict.fromkeys(ISOLATED_VARIABLES)
    for spec in sources():
        for name in spec.variables():
            overrides[name] = None
        # The time series (probes each minute, pages, endpoints) and the hourly usage reports keep their own
        # cadences, as in production.
        if spec.kind not in ("status", "usage"):
            overrides[spec.variable("CRON")] = "* * * * *"
    overrides.update(
        MODELATLAS_HOME=str(home),
        MODELATLAS_WAREHOUSE_PORT=str(free_port()),
        MODELATLAS_UI_PORT=str(free_port()),
        MODELATLAS_CODE_SERVER_PORT=str(free_port()),
    )
    return overrides


def run_timeline(scenario: Scenario, minutes: float, timeline: Timeline, graph: Graph, instance_home: Path) -> None:
    """Serve each state, fail and recover the failing source when due, each once its prerequisites hold: a state
    lasts until the sources it changed fetched it; the failure until the marts that do not read the failing source
    followed the change served during it (or the cap)."""
    every = scenario_sources()
    total_s = minutes * 60
    for kind, share in TIMELINE:
        due = timeline.started + share * total_s
        if kind == "change":
            state = scenario.states[-1]
            needed = every if scenario.state == 0 else list(CHANGES[scenario.state - 1].sources)
            _wait_for_fetches(instance_home, needed, state.wall_started, due, timeline, f"state {scenario.state}")
            change = scenario.advance()
            timeline.mark(f"state {scenario.state}: {change.name} ({', '.join(change.sources)})")
            if change.during_failure:
                timeline.change_during_failure = time.time()
        elif kind == "fail":
            wait_until(lambda: False, due)
            scenario.fail()
            timeline.mark(f"{scenario.failing} starts failing (HTTP 503 to every request)")
        else:
            state = scenario.states[-1]
            needed = list(CHANGES[scenario.state - 1].sources)
            _wait_for_fetches(instance_home, needed, state.wall_started, due, timeline, f"state {scenario.state}")
            expected = graph.followers(needed, scenario.failing)
            followed = functools.partial(marts_followed, instance_home, graph, needed, expected, state.wall_started)
            if not wait_until(followed, time.time() + READY_CAP_S):
                timeline.notes.append(f"{scenario.failing} recovered before the marts followed state {scenario.state}")
            assert scenario.failure is not None
            failed = functools.partial(source_failed, instance_home, scenario.failing, scenario.failure.wall_started)
            if not wait_until(failed, time.time() + READY_CAP_S):
                timeline.notes.append(f"no run of {scenario.failing} failed during its failure")
            scenario.recover()
            assert scenario.failure is not None
            timeline.failure = (scenario.failure.wall_started, time.time())
            timeline.mark(f"{scenario.failing} answers again")
    wait_until(lambda: False, timeline.started + total_s)


def source_failed(instance_home: Path, source: str, since: float) -> bool:
    """Whether a run of `source`'s job created since `since` (wall clock) failed."""
    import dagster as dg

    with open_instance(instance_home) as instance:
        runs = instance.get_run_records(
            filters=dg.RunsFilter(job_name=f"refresh_{source}", statuses=[dg.DagsterRunStatus.FAILURE]), limit=1
        )
        return bool(runs) and runs[0].create_timestamp.timestamp() >= since


def marts_followed(
    instance_home: Path, graph: Graph, changed: Sequence[str], marts: Sequence[str], since: float
) -> bool:
    """Whether a changed source's data changed since `since` (wall clock) and every one of `marts` was built after
    that load (a load of unchanged data builds nothing: its time is not the one to compare with)."""
    import dagster as dg

    tables = [table for source in changed for table in graph.source_tables(source)]
    with open_instance(instance_home) as instance:
        builds = read_builds(instance, [dg.AssetKey(key.split("/")) for key in [*tables, *marts]])
    return followed_since({key: builds[key] for key in tables}, {key: builds[key] for key in marts}, since)


def not_loaded_since(instance_home: Path, names: Sequence[str], since: float) -> list[str]:
    """The sources of `names` without a successful run of their job started at or after `since` (wall clock)."""
    import dagster as dg

    with open_instance(instance_home) as instance:
        return [
            name
            for name in names
            if not any(
                record.start_time is not None and record.start_time >= since
                for record in instance.get_run_records(
                    filters=dg.RunsFilter(job_name=f"refresh_{name}", statuses=[dg.DagsterRunStatus.SUCCESS]),
                    limit=5,
                )
            )
        ]


def _wait_for_fetches(
    instance_home: Path, needed: Sequence[str], since: float, due: float, timeline: Timeline, what: str
) -> None:
    wait_until(lambda: False, due)
    ready = wait_until(lambda: not not_loaded_since(instance_home, needed, since), due + READY_CAP_S)
    if not ready:
        missing = not_loaded_since(instance_home, needed, since)
        timeline.notes.append(f"{what} ended before {', '.join(missing)} fetched it ({READY_CAP_S} s past its time)")


def scenario_sources() -> list[str]:
    """The simulated sources whose states the scenario serves: the catalogs and price registries (the status
    sources' series never settle, and the usage reports grow with the clock)."""
    return [
        spec.name for spec in sources() if spec.simulator is not None and spec.kind in ("catalog", "price registry")
    ]


def settle(scenario: Scenario, instance_home: Path, timeline: Timeline, graph: Graph) -> None:
    """After the last event: every source fetches the last state, then the dbt sensor finishes what is due (the
    builds of the time-series models alone, which follow the probes on their cadence for ever, aside)."""
    last_change = max(scenario.states[-1].wall_started, timeline.failure[1] if timeline.failure else 0.0)
    names = scenario_sources()
    deadline = time.time() + SETTLE_CAP_S
    if not wait_until(lambda: not not_loaded_since(instance_home, names, last_change), deadline):
        timeline.notes.append("not every source fetched the last state before the settle cap")
    import dagster as dg

    quiet_since: float | None = None
    with open_instance(instance_home) as instance:
        statuses = [dg.DagsterRunStatus[name] for name in (QUEUED, *IN_FLIGHT)]
        while time.time() < deadline:
            pending = instance.get_runs(filters=dg.RunsFilter(job_name=DBT_JOB, statuses=statuses), limit=20)
            if any(not graph.only_time_series(run.asset_selection or ()) for run in pending):
                quiet_since = None
            elif quiet_since is None:
                quiet_since = time.time()
            # Two sensor evaluations without a dbt run: nothing is due any more.
            elif time.time() - quiet_since > 75:
                timeline.mark("settled: every source fetched the last state, no dbt run pending")
                return
            time.sleep(5)
    timeline.notes.append("dbt runs were still pending at the settle cap")


def drain(state: State, instance_home: Path, timeline: Timeline) -> None:
    """Stop the daemon (no run starts any more) and let the runs in flight finish."""
    daemon = state.services.get(DAEMON)
    if daemon is not None:
        stop_group(daemon.pid, 30)
    timeline.ended = time.time()
    timeline.mark("daemon stopped; waiting for the runs in flight")
    import dagster as dg

    with open_instance(instance_home) as instance:
        statuses = [dg.DagsterRunStatus[name] for name in IN_FLIGHT]
        if not wait_until(
            lambda: not instance.get_runs(filters=dg.RunsFilter(statuses=statuses)), time.time() + DRAIN_CAP_S
        ):
            timeline.notes.append("some runs were still in flight when the services stopped")


@dataclass
class Findings:
    """Everything the checks are computed from."""

    runs: list[RunInfo]
    dbt_builds: dict[str, list[Build]]
    source_builds: dict[str, list[Build]]
    graph: Graph
    samples: list[Any]
    cpu_s: float
    coverage: dict[str, list[int]]
    state_names: list[str]
    state_sources: list[set[str]]
    failing: str
    replay_runs: list[Any] = field(default_factory=list)
    marts_compared: list[str] = field(default_factory=list)
    mart_differences: list[Any] = field(default_factory=list)
    alerts: AlertFindings | None = None


def measures(findings: Findings, timeline: Timeline) -> list[MeasureResult]:
    """The soak's checks, numbered, each with its target and the figures behind it."""
    runs, failing_job = findings.runs, f"refresh_{findings.failing}"
    counts = run_counts(runs)
    failed = unexpected_failures(runs, failing_job)
    first = first_runs(runs)
    not_first = {job: status for job, status in first.items() if status != "SUCCESS"}
    source_jobs = {f"refresh_{spec.name}" for spec in sources()}
    samples = findings.samples
    most_waiting = max(
        (count for sample in samples for job, count in sample.queued.items() if job in source_jobs), default=0
    )
    longest_queue = max((sum(sample.queued.values()) for sample in samples), default=0)
    waits = queue_waits(runs, timeline.ended)
    dbt_runs = [run for run in runs if run.job == DBT_JOB]
    overlaps = overlapping_builds(dbt_runs)
    needless = needless_builds(findings.dbt_builds)
    all_dbt = sorted((build for history in findings.dbt_builds.values() for build in history), key=lambda b: b.at)
    loads = changed_loads(findings.source_builds)
    minutes = per_minute(timeline.started, timeline.ended, loads, all_dbt)
    stale, fresh_detail = _freshness(findings, timeline)
    missed_states = [
        f"{source} missed state {index}"
        for index, changed in enumerate(findings.state_sources)
        for source in sorted(changed)
        if findings.coverage.get(source, [0] * len(findings.state_sources))[index] == 0
    ]
    failing_failures = [run for run in runs if run.job == failing_job and run.status == "FAILURE"]
    cpu_mean = statistics.mean([s.cpu_percent for s in samples[1:]]) if len(samples) > 1 else 0.0
    results = [
        MeasureResult(
            1,
            "runs",
            [
                Check(1, "runs launched", sum(c["launched"] for c in counts.values())),
                Check(1, "failed runs, the injected source aside", len(failed), target=Target("==", 0)),
                Check(
                    1,
                    f"failed runs of {failing_job} (the injected failure)",
                    len(failing_failures),
                    target=Target(">=", 1),
                ),
                Check(
                    1,
                    "jobs whose first run did not succeed",
                    len(not_first),
                    target=Target("==", 0),
                    note=", ".join(f"{j}: {s}" for j, s in not_first.items()),
                ),
            ],
            details={"per_job": counts, "failed": [asdict(run) for run in failed], "first_runs": first},
        ),
        MeasureResult(
            2,
            "queue",
            [
                Check(2, "most runs of one source waiting at once", most_waiting, target=Target("<=", 1)),
                Check(2, "longest queue (all jobs)", longest_queue),
                Check(2, "median queue wait", round(waits["median_s"], 1), unit=" s"),
                Check(2, "longest queue wait", round(waits["max_s"], 1), unit=" s"),
            ],
            details={"samples": len(samples)},
        ),
        MeasureResult(
            3,
            "dbt builds",
            [
                Check(3, "dbt model builds", len(all_dbt)),
                Check(3, "overlapping builds of one dbt model", len(overlaps), target=Target("==", 0)),
                Check(
                    3,
                    "dbt models built though none of their inputs changed",
                    len(needless),
                    target=Target("==", 0),
                    note=", ".join(sorted({b.key for b in needless}))[:300],
                ),
            ],
            details={"per_minute": minutes, "overlaps": overlaps, "needless": [asdict(b) for b in needless]},
        ),
        MeasureResult(
            4,
            f"while {findings.failing} fails",
            [
                Check(
                    4,
                    f"marts not reading {findings.failing}, whose inputs changed, left stale",
                    len(stale),
                    target=Target("==", 0),
                    note=", ".join(stale),
                ),
            ],
            details=fresh_detail,
        ),
        MeasureResult(
            5,
            "one-shot equality",
            [
                Check(
                    5,
                    "source states a changed source never fetched",
                    len(missed_states),
                    target=Target("==", 0),
                    note=", ".join(missed_states),
                ),
                Check(5, "marts compared", len(findings.marts_compared)),
                Check(
                    5,
                    "marts differing from the one-shot runs'",
                    len(findings.mart_differences),
                    target=Target("==", 0),
                    note="; ".join(f"{d.mart}: {d.example}" for d in findings.mart_differences)[:500],
                ),
                Check(
                    5,
                    "one-shot runs that failed",
                    sum(1 for r in findings.replay_runs if r.exit_code != 0),
                    target=Target("==", 0),
                ),
            ],
            details={
                "differences": [asdict(d) for d in findings.mart_differences],
                "replay": [asdict(r) for r in findings.replay_runs],
                "coverage": findings.coverage,
                "states": findings.state_names,
            },
        ),
        MeasureResult(
            6,
            "resources",
            [
                Check(6, "CPU, mean", round(cpu_mean), unit="% of a core"),
                Check(
                    6,
                    "CPU, peak (5 s sample)",
                    round(max((s.cpu_percent for s in samples), default=0.0)),
                    unit="% of a core",
                ),
                Check(6, "CPU time of the process tree", round(findings.cpu_s), unit=" s"),
                Check(
                    6,
                    "memory, peak RSS of the process tree",
                    round(max((s.rss_bytes for s in samples), default=0) / 2**20),
                    unit=" MiB",
                ),
                Check(6, "load average, peak", round(max((s.load_average for s in samples), default=0.0), 1)),
            ],
        ),
    ]
    if findings.alerts is not None:
        checks, details = alert_checks(7, findings.alerts)
        results.append(MeasureResult(7, "alerts", checks, details=details))
    return results


def _freshness(findings: Findings, timeline: Timeline) -> tuple[list[str], dict[str, Any]]:
    if timeline.failure is None or timeline.change_during_failure is None:
        return ["(no change was served during the failure)"], {}
    graph = findings.graph
    changed_sources = next(changed for changed in findings.state_sources[::-1] if changed)
    changed_tables = {t for source in changed_sources for t in graph.source_tables(source)}
    loads = [
        build
        for key in changed_tables
        for build in changed_loads({key: findings.source_builds.get(key, [])})
        if build.at >= timeline.change_during_failure
    ]
    if not loads:
        return ["(the change served during the failure was never loaded)"], {}
    loaded_at = min(build.at for build in loads)
    failing_downstream = graph.downstream(set(graph.source_tables(findings.failing)))
    marts = {key for key in graph.dbt_models() if key.startswith("marts/")}
    # The marts whose inputs changed during the failure: built from the new load, or stale.
    expected = sorted((marts & graph.downstream({b.key for b in loads})) - failing_downstream)
    fresh = fresh_during_failure(findings.dbt_builds, expected, loaded_at, timeline.failure[1])
    stale = [mart for mart, built in fresh.items() if built is None]
    detail = {
        "changed_load_at": loaded_at,
        "failure": timeline.failure,
        "expected_fresh": expected,
        "not_reading_the_failing_source": sorted(marts - failing_downstream),
        "built_after_load_s": {m: (None if t is None else round(t - loaded_at, 1)) for m, t in fresh.items()},
    }
    return stale, detail


def figure(check: Check) -> str:
    """A check's figure: counts as integers, other figures as the benchmark shows them."""
    if check.value is not None and float(check.value).is_integer():
        return f"{int(check.value):,}{check.unit}"
    return check.figure()


def checks_table(results: Sequence[MeasureResult]) -> str:
    """Every check as one markdown table (counts shown as integers)."""
    lines = ["| # | check | figure | target | status | note |", "|---|---|---|---|---|---|"]
    for result in results:
        for check in result.checks:
            target = check.target.describe() if check.target else ""
            note = check.note.replace("|", "\\|").replace("\n", " ")
            lines.append(f"| {check.measure} | {check.name} | {figure(check)} | {target} | {check.status} | {note} |")
    return "\n".join(lines)


def report(results: Sequence[MeasureResult], findings: Findings, timeline: Timeline, minutes: float) -> str:
    """The printed report: the checks' table, then runs per job, dbt builds per minute, the timeline and notes."""
    lines = [f"ModelAtlas soak: {minutes:g} minutes of production mode, every schedule each minute", ""]
    lines.append(checks_table(results))
    lines += ["", "Runs per job (launched / succeeded / failed / canceled / unfinished):"]
    for job, count in results[0].details["per_job"].items():
        figures = " / ".join(
            f"{count[name]:>4}" for name in ("launched", "succeeded", "failed", "canceled", "unfinished")
        )
        lines.append(f"  {job:<28} {figures}")
    lines += ["", "Minute: source tables whose data changed, dbt models built:"]
    rows = results[2].details["per_minute"]
    lines += [
        "  "
        + "  ".join(
            f"{row['minute']:>2}:{row['changed_source_tables']:>2},{row['dbt_models_built']:>3}"
            for row in rows[i : i + 8]
        )
        for i in range(0, len(rows), 8)
    ]
    lines += ["", "Timeline:"]
    lines += [f"  [{_clock(at - timeline.started)}] {text}" for at, text in timeline.events]
    failed = results[0].details["failed"]
    if failed:
        lines += ["", "Unexpected failures:"]
        lines += [f"  {run['job']} {run['run_id'][:8]}: {run['failure'][:200]}" for run in failed]
    if findings.mart_differences:
        lines += ["", "Marts differing from the one-shot runs':"]
        lines += [
            f"  {d.mart}: soak {d.soak_rows} rows, one-shot {d.replay_rows}; {d.example}"
            for d in findings.mart_differences
        ]
    if timeline.notes:
        lines += ["", "Notes:"] + [f"  {note}" for note in timeline.notes]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line's options."""
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description="ModelAtlas soak of production mode")
    parser.add_argument("--minutes", type=float, default=15, help="how long every schedule runs each minute")
    parser.add_argument("--out", type=Path, default=None, help="results folder (default: bench/results)")
    parser.add_argument("--stem", default=None, help="results file stem (default: soak-latest, short: soak-quick)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary MODELATLAS_HOME")
    parser.add_argument(
        "--alerts", action="store_true", help="alerts to a local Slack-style and webhook receiver, and their checks"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the soak; exit 1 when a check fails."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    started = datetime.now(UTC)
    home = Path(tempfile.mkdtemp(prefix="modelatlas-soak-"))
    receiver = AlertReceiver().start()
    alerts = alert_environment(receiver) if args.alerts else {}
    with environment(soak_environment(home)), environment(alerts):
        simulator = build_simulator(sources()).start()
        settings = service_settings()
        try:
            findings, timeline = soak(
                Scenario(simulator, FAILING_SOURCE), settings, args.minutes, home, receiver if args.alerts else None
            )
        finally:
            with contextlib.suppress(Exception):
                down(settings, echo=lambda _line: None)
            simulator.stop()
            receiver.stop()
            if not args.keep:
                shutil.rmtree(home, ignore_errors=True)
    results = measures(findings, timeline)
    text = report(results, findings, timeline, args.minutes)
    say("\n" + text)
    stem = args.stem or ("soak-latest" if args.minutes >= FULL_MINUTES else "soak-quick")
    json_path, md_path = write(results, args.out or RESULTS_DIR, stem, started, args.minutes, text)
    say(f"\nresults: {json_path} and {md_path}")
    missed = [check for result in results for check in result.checks if check.status == "missed"]
    return 1 if missed else 0


def soak(
    scenario: Scenario, settings: ServiceSettings, minutes: float, home: Path, receiver: AlertReceiver | None
) -> tuple[Findings, Timeline]:
    """Up, the timeline, settle, drain, read everything back, down, the one-shot replay and the comparison."""
    timeline = Timeline()
    simulator_variables = sample_environment(scenario.simulator, sources())
    say(f"soak: {minutes:g} minutes, MODELATLAS_HOME={home}")
    state = up(settings, sample=True, simulator_variables=simulator_variables, echo=say)
    timeline.started = time.time()
    timeline.mark("services up; every schedule runs each minute")
    instance_home = Path(state.dagster_home)
    graph = Graph.fetch(settings.url)
    sampler = Sampler(instance_home, home / "pgdata")
    sampler.start()
    try:
        run_timeline(scenario, minutes, timeline, graph, instance_home)
        timeline.mark("schedules' time is up; settling")
        settle(scenario, instance_home, timeline, graph)
        drain(state, instance_home, timeline)
    finally:
        sampler.stop()
    import dagster as dg

    with open_instance(instance_home) as instance:
        runs = read_runs(instance, timeline.started - 120)
        dbt_builds = read_builds(instance, [dg.AssetKey(key.split("/")) for key in graph.dbt_models()])
        source_builds = read_builds(instance, [dg.AssetKey(key.split("/")) for key in graph.source_tables()])
    findings = Findings(
        runs=runs,
        dbt_builds=dbt_builds,
        source_builds=source_builds,
        graph=graph,
        samples=sampler.samples,
        cpu_s=sum(sampler.processes.cpu_s.values()),
        coverage=fetches_per_state(runs, scenario_sources(), [served.wall_started for served in scenario.states]),
        state_names=[served.name for served in scenario.states],
        state_sources=[set(scenario_sources())] + [set(change.sources) for change in CHANGES[: scenario.state]],
        failing=scenario.failing,
    )
    down(settings, echo=say, stop_warehouse=False)
    warehouse = Warehouse.from_env()
    if receiver is not None:
        findings.alerts = read_alerts(warehouse.connection().with_database(SAMPLE_DATABASE), receiver, timeline.ended)
        timeline.mark(f"alerts: {findings.alerts.describe()}")
    # The one-shot runs are another deployment: they keep to their own database and alert no one.
    replay_env = {
        **{name: value for name, value in os.environ.items() if name not in ALERT_VARIABLES},
        **simulator_variables,
        "MODELATLAS_WAREHOUSE_DATABASE": REPLAY_DATABASE,
        "DAGSTER_HOME": str(home / "dagster-replay"),
    }
    timeline.mark(f"one-shot replay of {len(scenario.states)} states into {REPLAY_DATABASE}")
    findings.replay_runs = replay(len(scenario.states), scenario.serve, replay_env, say)
    info = warehouse.connection()
    findings.marts_compared, findings.mart_differences = compare_marts(
        info.with_database(SAMPLE_DATABASE), info.with_database(REPLAY_DATABASE)
    )
    warehouse.stop()
    return findings, timeline


def write(
    results: Sequence[MeasureResult], directory: Path, stem: str, started: datetime, minutes: float, text: str
) -> tuple[Path, Path]:
    """`<stem>.json` (every check and its details) and `<stem>.md` (the printed report) in `directory`."""
    import json

    info = machine()
    directory.mkdir(parents=True, exist_ok=True)
    payload = to_json(results, info, "soak", started) | {"minutes": minutes}
    json_path, md_path = directory / f"{stem}.json", directory / f"{stem}.md"
    json_path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    md_path.write_text(
        f"# ModelAtlas soak ({minutes:g} minutes)\n\nRun {started.strftime('%Y-%m-%d %H:%M UTC')} on "
        f"{machine_line(info)}.\n\n```\n{text}\n```\n"
    )
    return json_path, md_path
