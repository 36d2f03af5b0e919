"""Measures 12 to 15: a year of request logs (CSV files, one per month) through the engine's real load path against
COPY, the usage marts built over it, their queries, and the load's peak memory.

Everything runs in a database of its own. The files are generated (`bench/usage_generator.py`) and loaded one per
run by `load_source` of the usage-files source (read, hash, parse through Arrow, gate, quarantine, dlt load into
`raw_usage_files.requests`) in a child process of its own, whose peak resident memory is the load's; beside each,
the same rows are COPYed with psycopg into a table of the same columns. dbt then builds `fct_usage` and everything
upstream (the registry's prices from the installed genai-prices package, the generated teams file), a day of more
requests loads and the models downstream of the source build again, and the marts' queries run many times.

Run as `python -m bench.measures.usage`, this module is that child: it reads one JSON command a line and answers each
with one `BENCH-USAGE {...}` line.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import pyarrow.compute as pc
from psycopg import sql

from bench.harness import BenchWarehouse, TreeRssSampler
from bench.measures.status import (
    COPY_SCHEMA,
    ENGINE_STEPS,
    LoadFigures,
    copy_table,
    count_rows,
    engine_steps,
    with_dlt_fields,
)
from bench.results import Check, MeasureResult, Target, percentile
from bench.usage_generator import (
    UsageFile,
    UsageTeam,
    day_file,
    request_table,
    teams_yaml,
    usage_teams,
    write_requests,
    year_files,
)
from modelatlas.pipelines import genai_prices, teams, usage_files
from modelatlas.pipelines.engine import ensure_every_source_table, load_source, load_standalone, request_for
from modelatlas.pipelines.loading import make_pipeline
from modelatlas.pipelines.quality.gate import gate_batch
from modelatlas.pipelines.spec import Batch, Request, SourceSpec
from modelatlas.settings import PROJECT_ROOT, GateSettings, dbt_target_path, source_config
from modelatlas.warehouse.connection import ConnectionInfo
from modelatlas.warehouse.service import connect, ensure_database

MEASURES = (12, 13, 14, 15)
TITLES = {
    12: "usage load path vs COPY",
    13: "usage marts build",
    14: "usage and cost queries",
    15: "usage load peak memory",
}
DATABASE = "bench_usage"
TABLE = usage_files.REQUESTS
LOAD_LIMIT_X = 2.0
BUILD_LIMIT_S = 120.0
QUERY_LIMIT_MS = 100.0
MEMORY_LIMIT_GIB = 1.5
DAILY_COST_DAYS = 30
MONTHS = 12
# The first build: fct_usage and everything upstream (prices, teams, every usage source's staging).
FULL_SELECTION = ("+fct_usage",)
# Then, untimed against a target, the models downstream of fct_usage over the year and their inputs fct_usage does not
# need (dim_models, fct_price_changes, the other usage sources' cost tables, the teams' key limits): the marts.
MARTS_SELECTION = ("@fct_usage", "--exclude", "+fct_usage")
# After a day of requests loads: what the daemon builds then, everything downstream of the request-log staging (the
# resolved names, the fingerprints, fct_usage incrementally and the marts).
INCREMENTAL_SELECTION = ("stg_usage_files__requests+",)
FULL_BUILD = "dbt build of fct_usage and upstream over the year"
MARTS_BUILD = "dbt build of the marts downstream over the year"
INCREMENTAL_BUILD = "dbt build of fct_usage and downstream after an incremental day"
CHILD_PREFIX = "BENCH-USAGE "
URL_VARIABLE = "BENCH_USAGE_WAREHOUSE_URL"
PIPELINES_VARIABLE = "BENCH_USAGE_PIPELINES_DIR"


@dataclass(frozen=True)
class UsagePlan:
    """Sizes of the usage measures: request lines of the year, of the incremental day, teams and query runs."""

    rows: int
    day_rows: int
    teams: int
    query_repeats: int


PLANS = {
    "full": UsagePlan(rows=10_000_000, day_rows=300_000, teams=12, query_repeats=50),
    "quick": UsagePlan(rows=200_000, day_rows=6_000, teams=12, query_repeats=50),
}


# --- the child process: loads through the real path, its own peak memory --------------------------------------


def peak_rss_bytes() -> int:
    """This process's peak resident memory so far (Linux reports KiB), or its children's when more."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) * 1024


def timed_spec(spec: SourceSpec, seconds: dict[str, float]) -> SourceSpec:
    """The source whose fetch (list, hash, read and parse the folder's files) adds its seconds to `seconds["fetch"]`."""
    extract = spec.extract
    assert extract is not None

    def timed(request: Request) -> Batch:
        started = time.perf_counter()
        try:
            return extract(request)
        finally:
            seconds["fetch"] = seconds.get("fetch", 0.0) + time.perf_counter() - started

    return dataclasses.replace(spec, extract=timed)


def child_load(info: ConnectionInfo, pipelines: Path, folder: Path) -> dict[str, Any]:
    """One run of the usage-files source over `folder` as its asset runs it, timed step by step."""
    steps: dict[str, float] = {}
    started = time.perf_counter()
    spec = timed_spec(usage_files.SPEC, steps)
    with engine_steps(steps):
        pipeline = make_pipeline(spec.name, spec.dataset, info.url(), pipelines)
        request = request_for(spec, source_config(spec, {usage_files.DIR_VARIABLE: str(folder)}))
        loaded = load_source(request, pipeline, info)
    seconds = time.perf_counter() - started
    if loaded.blocked:
        raise RuntimeError(f"the gate blocked a generated request-log file: {loaded.report()}")
    return {
        "seconds": seconds,
        "steps": steps,
        "loaded": loaded.loaded_rows(TABLE),
        "quarantined": loaded.gate.quarantined_counts().get(TABLE, 0),
        "report": loaded.report()[:500],
    }


def child_warm_up(path: Path) -> dict[str, Any]:
    """Parse a small file and validate it: a process validates once before its first batch (Great Expectations sets
    itself up), untimed."""
    parsed = usage_files.parse_file(path, file_hash="warm-up", fetched_at=datetime.now(UTC))
    batch = Batch(tables={TABLE: parsed.requests}, origin="warm-up")
    gate_batch(usage_files.SPEC, batch, {}, GateSettings())
    return {"rows": parsed.lines}


def child_main(commands: IO[str] = sys.stdin, answers: IO[str] = sys.stdout) -> int:
    """Answer each command (`{"warm_up": file}` or `{"load": folder}`) with a line of figures and the peak memory."""
    info = ConnectionInfo.from_url(os.environ[URL_VARIABLE])
    pipelines = Path(os.environ[PIPELINES_VARIABLE])
    for line in commands:
        command = json.loads(line)
        try:
            if "warm_up" in command:
                answer = child_warm_up(Path(command["warm_up"]))
            else:
                answer = child_load(info, pipelines, Path(command["load"]))
        except Exception as exc:  # the parent reports it as the measure's error
            answer = {"error": f"{type(exc).__name__}: {exc}"[:1500]}
        answer["peak_rss_bytes"] = peak_rss_bytes()
        answers.write(CHILD_PREFIX + json.dumps(answer) + "\n")
        answers.flush()
    return 0


class LoadChild:
    """The child process loading the files, and the sampled peak memory of its process tree."""

    def __init__(self, bench: BenchWarehouse, info: ConnectionInfo, log_path: Path) -> None:
        env = {
            **os.environ,
            **bench.env(),
            URL_VARIABLE: info.url(),
            PIPELINES_VARIABLE: str(bench.home / "dlt-usage"),
        }
        self.log_path = log_path
        self._log = log_path.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.measures.usage"],
            cwd=PROJECT_ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
        )
        self.sampler = TreeRssSampler(self.process.pid)

    def ask(self, command: dict[str, str]) -> dict[str, Any]:
        """Send one command, wait for its answer; RuntimeError when the child failed it or died."""
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        for line in self.process.stdout:
            if line.startswith(CHILD_PREFIX):
                answer: dict[str, Any] = json.loads(line.removeprefix(CHILD_PREFIX))
                if "error" in answer:
                    raise RuntimeError(f"the load process failed: {answer['error']}")
                return answer
        self._log.flush()
        tail = self.log_path.read_text()[-800:]
        raise RuntimeError(f"the load process ended (exit {self.process.poll()}): {tail}")

    def __enter__(self) -> LoadChild:
        self.sampler.__enter__()
        return self

    def __exit__(self, *_: object) -> None:
        self.sampler.__exit__()
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log.close()


# --- the parent: files, COPY, dbt, queries ---------------------------------------------------------------------


@dataclass
class UsageLoad:
    """The year's loads both ways (LoadFigures), their files and lines, and the load process's memory."""

    figures: LoadFigures = field(default_factory=LoadFigures)
    files: int = 0
    lines: int = 0
    malformed: int = 0
    quarantined: int = 0
    file_bytes: int = 0
    # The load process's own peak (getrusage), the sampled peak of its tree, and its memory before the first load.
    peak_rss_bytes: int = 0
    tree_peak_bytes: int = 0
    baseline_rss_bytes: int = 0
    # A run over the folder holding the whole year, every file loaded before: what each later run pays to hash them.
    rerun_s: float = 0.0


def load_checks(load: UsageLoad) -> list[Check]:
    """Measure 12's figures: the real path over COPY (target <= 2x) and each way's rows a second."""
    figures = load.figures
    steps = figures.steps
    named = ("fetch", *ENGINE_STEPS)
    rest = figures.path_s - sum(steps.get(name, 0.0) for name in named)
    note = (
        f"{figures.rows:,} request rows ({load.lines:,} lines, {load.malformed} malformed quarantined: "
        f"{load.quarantined}) in {load.files} monthly CSV files ({load.file_bytes / 2**20:,.0f} MiB), one "
        f"`load_source` run of usage_files each; real path {figures.path_s:.1f} s: read, hash and parse "
        f"{steps.get('fetch', 0.0):.1f} s, gate {steps.get('gate_batch', 0.0):.1f} s, data version "
        f"{steps.get('data_version', 0.0):.1f} s, load_tables (dlt, csv/COPY, merge) "
        f"{steps.get('load_tables', 0.0):.1f} s, the rest (quarantine, verdicts) {rest:.1f} s; COPY "
        f"{figures.copy_s:.1f} s (the parsed rows as CSV into a table of the same columns); load_tables alone / COPY "
        f"{steps.get('load_tables', 0.0) / figures.copy_s if figures.copy_s else 0.0:.2f}x"
    )
    return [
        Check(
            12,
            "request-log load path / COPY of the same rows",
            figures.ratio,
            "x",
            Target("<=", LOAD_LIMIT_X, "x"),
            note,
        ),
        Check(12, "request-log load path throughput", figures.path_rows_per_s, " rows/s", None, "load_source, CSV in"),
        Check(12, "COPY throughput", figures.copy_rows_per_s, " rows/s", None, "psycopg COPY, CSV"),
        Check(
            12,
            "a run over the year's files, all loaded before",
            load.rerun_s,
            " s",
            None,
            f"every file of the folder hashed to find nothing new ({load.file_bytes / 2**20:,.0f} MiB): what each "
            "later run pays while the files stay in the folder",
        ),
    ]


def build_check(name: str, seconds: float, note: str) -> Check:
    """One of measure 13's builds (target < 120 s)."""
    return Check(13, name, seconds, " s", Target("<", BUILD_LIMIT_S, " s"), note)


def query_check(name: str, samples_ms: Sequence[float], rows: int, context: str) -> Check:
    """Measure 14's figure of one query: its p95 over the runs (target < 100 ms)."""
    p50, p95 = percentile(samples_ms, 0.5), percentile(samples_ms, 0.95)
    note = f"p50 {p50:.1f} ms over {len(samples_ms)} runs; {rows:,} rows returned; {context}"
    return Check(14, f"p95 {name}", p95, " ms", Target("<", QUERY_LIMIT_MS, " ms"), note)


def memory_check(load: UsageLoad) -> Check:
    """Measure 15: the load process's peak resident memory over the year's loads (target < 1.5 GiB)."""
    peak = max(load.peak_rss_bytes, load.tree_peak_bytes)
    note = (
        f"the process running the {load.files} loads (one file of about {load.lines // max(load.files, 1):,} lines "
        f"each): getrusage peak {load.peak_rss_bytes / 2**30:.2f} GiB, its process tree sampled every 50 ms "
        f"{load.tree_peak_bytes / 2**30:.2f} GiB; {load.baseline_rss_bytes / 2**30:.2f} GiB after imports and the "
        "gate's set-up, before the first load"
    )
    return Check(
        15, "peak RSS of the request-log loads", peak / 2**30, " GiB", Target("<", MEMORY_LIMIT_GIB, " GiB"), note
    )


def fresh_database(bench: BenchWarehouse) -> ConnectionInfo:
    """The measures' own database, empty."""
    with connect(bench.info.with_database("postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(DATABASE)))
    ensure_database(bench.info, DATABASE)
    return bench.info.with_database(DATABASE)


def prepare_sources(info: ConnectionInfo, pipelines: Path, teams_file: Path) -> None:
    """Every source's tables, empty (the marts read them all); the registry's prices from the installed package and
    the generated teams file loaded."""
    ensure_every_source_table(info, pipelines)
    for spec, env in (
        (genai_prices.SPEC, {"MODELATLAS_GENAI_PRICES_URL": ""}),
        (teams.SPEC, {teams.FILE_VARIABLE: str(teams_file)}),
    ):
        loaded = load_standalone(spec, info, pipelines, env=env)
        if loaded.blocked:
            raise RuntimeError(f"the gate blocked {spec.name}: {loaded.report()}")


def parsed_rows(path: Path, seed: int) -> pa.Table:
    """The rows the real path loads from one file (its lines that parse), with dlt's load id and row ids."""
    parsed = usage_files.parse_file(path, file_hash=usage_files.file_digest(path), fetched_at=datetime.now(UTC))
    rows = parsed.requests.filter(pc.is_null(parsed.requests.column("parse_error")))
    return with_dlt_fields(rows, f"{time.time():.7f}", seed)


def load_year(
    child: LoadChild, info: ConnectionInfo, files: Sequence[UsageFile], folder: Path, done: Path, seed: int
) -> UsageLoad:
    """Each file through the real path (moved into the watched folder alone, moved out after) and its rows by COPY,
    alternating which goes first; the load process's peak memory after the last."""
    load = UsageLoad()
    figures = load.figures
    with connect(info, autocommit=True) as conn:
        conn.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(COPY_SCHEMA)))
        conn.execute(
            sql.SQL("create table {} (like {} including all)").format(
                sql.Identifier(COPY_SCHEMA, TABLE), sql.Identifier(usage_files.SPEC.dataset, TABLE)
            )
        )
        for index, each in enumerate(files):
            rows = parsed_rows(each.path, seed + index)
            if rows.num_rows != each.loaded:
                raise RuntimeError(f"{each.path.name}: {rows.num_rows:,} rows parse, {each.loaded:,} expected")
            load.file_bytes += each.path.stat().st_size

            def path(source: Path = each.path, expected: int = each.loaded, malformed: int = each.malformed) -> None:
                watched = folder / source.name
                source.rename(watched)
                answer = child.ask({"load": str(folder)})
                watched.rename(done / source.name)
                if answer["loaded"] != expected or answer["quarantined"] != malformed:
                    raise RuntimeError(
                        f"{source.name}: {answer['loaded']:,} rows loaded and {answer['quarantined']} quarantined, "
                        f"{expected:,} and {malformed} expected: {answer['report']}"
                    )
                figures.path_s += answer["seconds"]
                for name, seconds in answer["steps"].items():
                    figures.steps[name] = figures.steps.get(name, 0.0) + seconds
                load.quarantined += answer["quarantined"]
                load.peak_rss_bytes = max(load.peak_rss_bytes, answer["peak_rss_bytes"])

            def copy(prepared: pa.Table = rows) -> None:
                figures.copy_s += copy_table(conn, prepared, TABLE)

            for step in (path, copy) if index % 2 == 0 else (copy, path):
                step()
            figures.rows += each.loaded
            figures.chunks += 1
            load.files += 1
            load.lines += each.lines
            load.malformed += each.malformed
        load.tree_peak_bytes = child.sampler.peak_bytes
        counts = [count_rows(conn, schema, TABLE) for schema in (usage_files.SPEC.dataset, COPY_SCHEMA)]
    if any(count != figures.rows for count in counts):
        raise RuntimeError(f"expected {figures.rows:,} rows in both requests tables, found {counts}")
    return load


def rerun(child: LoadChild, folder: Path, done: Path) -> float:
    """Every loaded file back in the watched folder, one run finding nothing new; its seconds."""
    for path in sorted(done.iterdir()):
        path.rename(folder / path.name)
    answer = child.ask({"load": str(folder)})
    if answer["loaded"]:
        raise RuntimeError(f"a run over files loaded before loaded {answer['loaded']} rows: {answer['report']}")
    seconds: float = answer["seconds"]
    return seconds


def run_results(bench: BenchWarehouse) -> list[dict[str, Any]]:
    """The nodes of dbt's last invocation (run_results.json), none when it wrote none."""
    path = dbt_target_path(bench.home) / "run_results.json"
    if not path.exists():
        return []
    nodes: list[dict[str, Any]] = json.loads(path.read_text()).get("results", [])
    return nodes


def dbt_build(bench: BenchWarehouse, selection: Sequence[str]) -> tuple[float, dict[str, Any]]:
    """`dbt build --select <selection>`: its seconds, dbt's own times per kind of node and its slowest models;
    RuntimeError naming the nodes that failed."""
    # Only the tests whose every model is built: a relationships test of a selected model to one outside the
    # selection (fct_price_history's to fct_price_changes) would read a table the build does not make.
    try:
        seconds = bench.dbt(DATABASE, "build", "--select", *selection, "--indirect-selection", "cautious")
    except RuntimeError as exc:
        failed = [
            f"{str(node['unique_id']).split('.', 2)[-1]} ({node['status']}: {str(node.get('message') or '')[:120]})"
            for node in run_results(bench)
            if node.get("status") in ("error", "fail")
        ]
        if not failed:
            raise
        raise RuntimeError(f"dbt build --select {' '.join(selection)} failed: {'; '.join(failed)}") from exc
    nodes = run_results(bench)
    kinds: dict[str, float] = {}
    for node in nodes:
        kind = str(node["unique_id"]).split(".")[0]
        kinds[kind] = kinds.get(kind, 0.0) + float(node.get("execution_time") or 0.0)
    models = [node for node in nodes if str(node["unique_id"]).startswith("model.")]
    slowest = sorted(models, key=lambda node: -float(node.get("execution_time") or 0.0))[:4]
    breakdown = {
        "nodes": len(nodes),
        "models": len(models),
        "seconds_by_kind": kinds,
        "slowest": {str(node["unique_id"]).split(".")[-1]: float(node["execution_time"]) for node in slowest},
    }
    return seconds, breakdown


def failed_build(name: str, error: str, target: Target | None = None) -> Check:
    """A build of measure 13 that failed: no figure (its target, when it has one, missed), dbt's failures as the
    note."""
    return Check(13, name, None, " s", target, f"failed: {error}"[:600])


def build_note(selection: Sequence[str], breakdown: dict[str, Any], context: str) -> str:
    """What a build did and where dbt's time went."""
    slowest = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in breakdown.get("slowest", {}).items())
    kinds = ", ".join(f"{kind}s {seconds:.1f} s" for kind, seconds in breakdown.get("seconds_by_kind", {}).items())
    return (
        f"dbt build --select {' '.join(selection)} ({breakdown.get('models', 0)} models, {breakdown.get('nodes', 0)} "
        f"nodes) {context}; dbt's own times over its threads: {kinds}; slowest models: {slowest}"
    )


def priced(info: ConnectionInfo, since: datetime | None = None) -> dict[str, int]:
    """fct_usage's request-log rows (from `since` on): all, with a cost, and by pricing status."""
    where = sql.SQL("source = 'usage_files'") + (
        sql.SQL(" and used_at >= {}").format(sql.Literal(since)) if since else sql.SQL("")
    )
    with connect(info, autocommit=True) as conn:
        found = conn.execute(
            sql.SQL("select pricing_status, count(*), count(cost_usd) from marts.fct_usage where {} group by 1").format(
                where
            )
        ).fetchall()
    figures = {str(status): int(count) for status, count, _ in found}
    figures["rows"] = sum(int(count) for _, count, _ in found)
    figures["with_cost"] = sum(int(costed) for _, _, costed in found)
    return figures


def priced_text(figures: dict[str, int]) -> str:
    """`fct_usage 200,000 rows, 71% with a cost` and the statuses."""
    rows = figures.get("rows", 0)
    share = figures.get("with_cost", 0) / rows if rows else 0.0
    statuses = ", ".join(
        f"{status} {count:,}" for status, count in sorted(figures.items()) if status not in ("rows", "with_cost")
    )
    return f"fct_usage {rows:,} request rows, {share:.0%} with a cost ({statuses})"


def usage_queries(today: date, month: date) -> dict[str, Callable[[str], tuple[str, tuple[Any, ...]]]]:
    """Each usage query, given the team to ask about."""
    since = today - timedelta(days=DAILY_COST_DAYS)

    def daily(team: str) -> tuple[str, tuple[Any, ...]]:
        return (
            "select day, sum(cost_usd) as cost_usd, sum(requests) as requests, sum(prompt_tokens) as prompt_tokens, "
            "sum(output_tokens) as output_tokens from marts.mart_usage_daily where team = %s and day > %s "
            "group by day order by day",
            (team, since),
        )

    def allocation(_team: str) -> tuple[str, tuple[Any, ...]]:
        return (
            "select team, cost_centre, spend_usd, requests, share_of_month, previous_month_spend_usd, change_usd "
            "from marts.mart_cost_allocation where month = %s order by spend_usd desc",
            (month,),
        )

    def budget(team: str) -> tuple[str, tuple[Any, ...]]:
        return (
            "select month, budget_usd, spend_to_date_usd, budget_used_share, forecast_usd, forecast_method, status, "
            "forecast_exceeds from marts.mart_budget_status where scope = 'team' and subject = %s "
            "order by month desc limit 1",
            (team,),
        )

    return {
        f"a team's daily cost, last {DAILY_COST_DAYS} days": daily,
        "the month's cost allocation": allocation,
        "a team's budget status": budget,
    }


QUERIED_MARTS = ("mart_usage_daily", "mart_cost_allocation", "mart_budget_status")


def run_queries(
    info: ConnectionInfo, today: date, month: date, team_ids: Sequence[str], repeats: int, seed: int
) -> list[Check]:
    """Each usage query `repeats` times (after one untimed run), a random team each time."""
    rng = random.Random(seed)
    checks = []
    with connect(info, autocommit=True) as conn:
        conn.execute("set default_transaction_read_only = on")
        sizes = {mart: count_rows(conn, "marts", mart) for mart in QUERIED_MARTS}
        context = ", ".join(f"{mart} {count:,} rows" for mart, count in sizes.items())
        for name, make in usage_queries(today, month).items():
            conn.execute(*make(rng.choice(team_ids))).fetchall()
            samples = []
            returned = 0
            for _ in range(repeats):
                query, params = make(rng.choice(team_ids))
                started = time.perf_counter()
                returned = len(conn.execute(query, params).fetchall())
                samples.append((time.perf_counter() - started) * 1000)
            checks.append(query_check(name, samples, returned, context))
    return checks


def year_start(today: date, months: int = MONTHS) -> date:
    """The first day of the month `months` months before today's."""
    first = today.replace(day=1)
    for _ in range(months):
        first = (first - timedelta(days=1)).replace(day=1)
    return first


def generate(home: Path, plan: UsagePlan, first_month: date, seed: int) -> tuple[list[UsageTeam], list[UsageFile]]:
    """The teams file, a warm-up file and the year's files under `home`/usage."""
    root = home / "usage"
    generated_teams = usage_teams(plan.teams, plan.rows // MONTHS, seed)
    root.mkdir(parents=True, exist_ok=True)
    (root / "teams.yaml").write_text(teams_yaml(generated_teams))
    write_requests(root / "warm-up.csv", request_table(first_month, [100], generated_teams, seed + 1))
    return generated_teams, year_files(root / "incoming", first_month, plan.rows, generated_teams, seed, MONTHS)


def measure_usage(bench: BenchWarehouse, mode: str, seed: int) -> list[MeasureResult]:
    """Measures 12 to 15 at the plan's size (`mode`: full or quick)."""
    plan = PLANS[mode]
    today = datetime.now(UTC).date()
    first_month = year_start(today)
    last_month = (today.replace(day=1) - timedelta(days=1)).replace(day=1)
    root = bench.home / "usage"
    started = time.perf_counter()
    generated_teams, files = generate(bench.home, plan, first_month, seed)
    generated_s = time.perf_counter() - started
    info = fresh_database(bench)
    prepare_sources(info, bench.home / "dlt-usage", root / "teams.yaml")
    folder, done = root / "watched", root / "loaded"
    folder.mkdir()
    done.mkdir()
    with LoadChild(bench, info, root / "load-process.log") as child:
        baseline = child.ask({"warm_up": str(root / "warm-up.csv")})["peak_rss_bytes"]
        year = load_year(child, info, files, folder, done, seed)
        year.baseline_rss_bytes = baseline
        year.rerun_s = rerun(child, folder, done)
        with connect(info, autocommit=True) as conn:
            conn.execute(sql.SQL("drop schema {} cascade").format(sql.Identifier(COPY_SCHEMA)))
            conn.execute("vacuum analyze raw_usage_files.requests")  # what autovacuum does after a big load
        figures = year.figures
        loaded = MeasureResult(12, TITLES[12], load_checks(year))
        loaded.details = {**vars(figures), "ratio": figures.ratio, "generated_s": generated_s}
        loaded.details |= {key: value for key, value in vars(year).items() if key != "figures"}
        memory = MeasureResult(15, TITLES[15], [memory_check(year)], {"peak_rss_bytes": year.peak_rss_bytes})
        memory.details |= {"tree_peak_bytes": year.tree_peak_bytes, "baseline_rss_bytes": year.baseline_rss_bytes}
        build = MeasureResult(13, TITLES[13])
        queries = MeasureResult(14, TITLES[14])
        try:
            bench.dbt(DATABASE, "parse", "--quiet")  # the build is timed, not the project's parse
            full_s, full = dbt_build(bench, FULL_SELECTION)
        except RuntimeError as exc:
            build.error = queries.error = str(exc)[:600]
            return [loaded, build, queries, memory]
        year_priced = priced(info)
        note = build_note(FULL_SELECTION, full, f"over {figures.rows:,} request rows; {priced_text(year_priced)}")
        build.checks.append(build_check(FULL_BUILD, full_s, note))
        build.details = {"full_s": full_s, "full": full, "year_priced": year_priced}
        try:
            marts_s, marts = dbt_build(bench, MARTS_SELECTION)
        except RuntimeError as exc:
            build.checks.append(failed_build(MARTS_BUILD, str(exc)))
            queries.error = f"the marts did not build: {exc}"[:600]
            return [loaded, build, queries, memory]
        note = build_note(MARTS_SELECTION, marts, "(no target: what the incremental build needs to exist)")
        build.checks.append(Check(13, MARTS_BUILD, marts_s, " s", None, note))
        build.details |= {"marts_s": marts_s, "marts": marts}
        day = day_file(root / "incoming", today.replace(day=1), plan.day_rows, generated_teams, seed + 99)
        day.path.rename(folder / day.path.name)
        day_load = child.ask({"load": str(folder)})
    if day_load["loaded"] != day.loaded:
        raise RuntimeError(f"the day's file loaded {day_load['loaded']:,} rows of {day.loaded:,}")
    context = (
        f"after a day of {day.lines:,} more lines ({day.first_day}) loaded through the real path in "
        f"{day_load['seconds']:.1f} s (the year's files still in the folder)"
    )
    build.details["day_load_s"] = day_load["seconds"]
    try:
        day_s, incremental = dbt_build(bench, INCREMENTAL_SELECTION)
    except RuntimeError as exc:
        build.checks.append(failed_build(INCREMENTAL_BUILD, f"{context}: {exc}", Target("<", BUILD_LIMIT_S, " s")))
    else:
        start = datetime(day.first_day.year, day.first_day.month, day.first_day.day, tzinfo=UTC)
        day_priced = priced(info, start)
        note = build_note(INCREMENTAL_SELECTION, incremental, f"{context}; the day: {priced_text(day_priced)}")
        build.checks.append(build_check(INCREMENTAL_BUILD, day_s, note))
        build.details |= {"incremental_s": day_s, "incremental": incremental, "day_priced": day_priced}
    team_ids = [team.id for team in generated_teams]
    try:
        queries.checks = run_queries(info, today, last_month, team_ids, plan.query_repeats, seed)
    except Exception as exc:  # a mart missing or failing: the other measures' figures stand
        queries.error = f"{type(exc).__name__}: {exc}"[:600]
    return [loaded, build, queries, memory]


if __name__ == "__main__":
    sys.exit(child_main())
