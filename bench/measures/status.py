"""Measures 8 to 11: a year of 1-minute probes of 20 targets through the engine's real load path against COPY, the
status queries on that year, its bytes per million rows, and one probe tick of 20 targets against the simulator.

Everything runs in a database of its own. The year is generated as Arrow tables, one per UTC month
(`bench/status_generator.py`), each loaded by `load_source` (gate, verdicts, monthly partitions, dlt load into
`ts.probe_results`) and, beside it, COPYed with psycopg into a table made by the same DDL. dbt then builds the status
marts over the year, each query runs many times, and the ticks probe the simulator and load into the same table.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import random
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
from psycopg import sql

from bench.harness import BenchWarehouse
from bench.results import Check, MeasureResult, Target, median, percentile
from bench.status_generator import SeriesTarget, probe_history, series_targets
from modelatlas.pipelines import engine
from modelatlas.pipelines.engine import SourceLoad, ensure_tables, load_source, request_for
from modelatlas.pipelines.loading import make_pipeline
from modelatlas.pipelines.probe import (
    DEFAULT_TIMEOUT_S,
    SPEC,
    TABLE,
    ProbeTarget,
    probe_candidates,
    probe_row,
    probe_target,
    run_probes,
)
from modelatlas.pipelines.probe import probe_targets as configured_targets
from modelatlas.pipelines.quality.gate import gate_batch
from modelatlas.pipelines.registry import source
from modelatlas.pipelines.spec import Batch, Request, SourceSpec
from modelatlas.settings import GateSettings, dbt_target_path, source_config
from modelatlas.simulator import build_simulator, sample_environment
from modelatlas.warehouse.connection import ConnectionInfo
from modelatlas.warehouse.service import connect, ensure_database
from modelatlas.warehouse.timeseries import TIME_SERIES_SCHEMA, parent_table_ddl, partition_ddl, storage_of

MEASURES = (8, 9, 10, 11)
TITLES = {8: "status load path vs COPY", 9: "status queries", 10: "probe storage", 11: "probe tick"}
DATABASE = "bench_status"
COPY_SCHEMA = "bench_copy"
# The sources whose tables the status marts read besides the probes' (created empty).
OTHER_STATUS_SOURCES = ("status", "openrouter_endpoints")
MARTS = ("mart_provider_uptime_daily", "fct_outages", "mart_status_current")
LOAD_LIMIT_X = 2.0
QUERY_LIMIT_MS = 100.0
TICK_LIMIT_S = 2.0
UPTIME_DAYS = 30
OUTAGE_DAYS = 90


@dataclass(frozen=True)
class StatusPlan:
    """Sizes of the status measures: days of probes, series, query runs and ticks."""

    days: int
    targets: int
    query_repeats: int
    ticks: int


PLANS = {
    "full": StatusPlan(days=365, targets=20, query_repeats=50, ticks=5),
    "quick": StatusPlan(days=7, targets=20, query_repeats=50, ticks=3),
}


@dataclass
class LoadFigures:
    """The year's load both ways: rows, the real path's seconds (and its steps'), COPY's seconds."""

    rows: int = 0
    chunks: int = 0
    path_s: float = 0.0
    copy_s: float = 0.0
    # Seconds of the path in each of ENGINE_STEPS.
    steps: dict[str, float] = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        """The real path's time over COPY's."""
        return self.path_s / self.copy_s

    @property
    def path_rows_per_s(self) -> float:
        """Rows a second through the real path."""
        return rows_per_second(self.rows, self.path_s)

    @property
    def copy_rows_per_s(self) -> float:
        """Rows a second through COPY."""
        return rows_per_second(self.rows, self.copy_s)


# The steps of `load_source` timed apart (engine module functions it calls by name).
ENGINE_STEPS = ("gate_batch", "data_version", "load_tables")


@contextlib.contextmanager
def engine_steps(seconds: dict[str, float]) -> Iterator[None]:
    """While inside, the seconds `load_source` spends in each of ENGINE_STEPS add up in `seconds`."""
    originals = {name: getattr(engine, name) for name in ENGINE_STEPS}

    def timed(name: str, step: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return step(*args, **kwargs)
            finally:
                seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - started

        return run

    for name, step in originals.items():
        setattr(engine, name, timed(name, step))
    try:
        yield
    finally:
        for name, step in originals.items():
            setattr(engine, name, step)


def rows_per_second(rows: int, seconds: float) -> float:
    """Throughput; zero for no time spent."""
    return rows / seconds if seconds > 0 else 0.0


def load_checks(figures: LoadFigures) -> list[Check]:
    """Measure 8's figures: the ratio of the real path to COPY (target <= 2x) and each way's rows a second."""
    steps = figures.steps
    rest = figures.path_s - sum(steps.get(name, 0.0) for name in ENGINE_STEPS)
    note = (
        f"{figures.rows:,} probe rows in {figures.chunks} monthly Arrow batches; real path (load_source) "
        f"{figures.path_s:.1f} s: gate {steps.get('gate_batch', 0.0):.1f} s, data version "
        f"{steps.get('data_version', 0.0):.1f} s, load_tables (partitions, dlt) {steps.get('load_tables', 0.0):.1f} s, "
        f"the rest {rest:.1f} s; COPY {figures.copy_s:.1f} s (CSV as dlt's load files, into a table of the same DDL "
        "and partitions); load_tables alone / COPY "
        f"{steps.get('load_tables', 0.0) / figures.copy_s if figures.copy_s else 0.0:.2f}x"
    )
    return [
        Check(8, "probe load path / COPY of the same rows", figures.ratio, "x", Target("<=", LOAD_LIMIT_X, "x"), note),
        Check(
            8, "probe load path throughput", figures.path_rows_per_s, " rows/s", None, "load_source: gate, load_tables"
        ),
        Check(8, "COPY throughput", figures.copy_rows_per_s, " rows/s", None, "psycopg COPY, CSV"),
    ]


def query_check(name: str, samples_ms: Sequence[float], rows: int, context: str) -> Check:
    """Measure 9's figure of one query: its p95 over the runs (target < 100 ms)."""
    p50, p95 = percentile(samples_ms, 0.5), percentile(samples_ms, 0.95)
    note = f"p50 {p50:.1f} ms over {len(samples_ms)} runs; {rows:,} rows returned; {context}"
    return Check(9, f"p95 {name}", p95, " ms", Target("<", QUERY_LIMIT_MS, " ms"), note)


def bytes_per_million(total_bytes: int, rows: int) -> float:
    """Bytes on disk per million rows."""
    if rows <= 0:
        raise ValueError("bytes per million rows of an empty table")
    return total_bytes / rows * 1_000_000


def catalog_endpoints() -> list[tuple[str, str]]:
    """(provider, URL) of every catalog a probe targets, at its real API (what the probe rows name)."""
    return [(spec.name, probe_target(spec, source_config(spec, {})).url) for spec in probe_candidates()]


def fresh_database(bench: BenchWarehouse) -> ConnectionInfo:
    """The measures' own database, empty."""
    with connect(bench.info.with_database("postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(DATABASE)))
    ensure_database(bench.info, DATABASE)
    return bench.info.with_database(DATABASE)


def create_status_tables(bench: BenchWarehouse, info: ConnectionInfo, spec: SourceSpec) -> None:
    """Every table the status marts read, empty, as the sources' set-up step creates them."""
    for each in (spec, *(source(name) for name in OTHER_STATUS_SOURCES)):
        pipeline = make_pipeline(each.name, each.dataset, info.url(), bench.home / "dlt-status")
        ensure_tables(pipeline, info, each)


def with_dlt_fields(table: pa.Table, load_id: str, seed: int) -> pa.Table:
    """`table` with dlt's load id and a random row id per row, as dlt writes them."""
    ids = pc.cast(pa.array(np.random.default_rng(seed).integers(0, 2**62, table.num_rows)), pa.string())
    return table.append_column("_dlt_load_id", pa.repeat(pa.scalar(load_id), table.num_rows)).append_column(
        "_dlt_id", ids
    )


def copy_table(conn: Any, table: pa.Table, target: str = TABLE) -> float:
    """psycopg COPY of `table` (as CSV, like dlt's load files) into the COPY schema's `target` table, timed."""
    options = pa_csv.WriteOptions(include_header=False, quoting_style="all_valid")
    statement = sql.SQL("copy {} ({}) from stdin with (format csv)").format(
        sql.Identifier(COPY_SCHEMA, target), sql.SQL(", ").join(map(sql.Identifier, table.column_names))
    )
    started = time.perf_counter()
    with conn.cursor() as cursor, cursor.copy(statement) as copy:
        for part in table.to_batches(max_chunksize=50_000):
            buffer = io.BytesIO()
            pa_csv.write_csv(part, buffer, options)
            copy.write(buffer.getbuffer())
    return time.perf_counter() - started


def batch_spec(spec: SourceSpec, rows: pa.Table) -> SourceSpec:
    """The probe source whose fetch returns `rows` (a generated batch instead of the providers' answers)."""

    def extract(request: Request) -> Batch:
        return Batch(tables={TABLE: rows}, origin=f"generated probes, {rows.num_rows:,} rows")

    return dataclasses.replace(spec, extract=extract)


def real_path(bench: BenchWarehouse, info: ConnectionInfo, spec: SourceSpec, rows: pa.Table) -> SourceLoad:
    """One generated batch through `load_source`, fetched as of its last probe."""
    pipeline = make_pipeline(spec.name, spec.dataset, info.url(), bench.home / "dlt-status")
    fetched_at = pc.max(rows.column("observed_at")).as_py()
    request = request_for(batch_spec(spec, rows), source_config(spec, {}), fetched_at=fetched_at)
    loaded = load_source(request, pipeline, info)
    if loaded.blocked or loaded.summary is None:
        raise RuntimeError(f"the gate blocked a generated probe batch: {loaded.report()}")
    if loaded.loaded_rows(TABLE) != rows.num_rows:
        raise RuntimeError(f"the real path loaded {loaded.loaded_rows(TABLE)} of {rows.num_rows} probe rows")
    return loaded


def load_year(
    bench: BenchWarehouse, info: ConnectionInfo, spec: SourceSpec, chunks: Iterable[pa.Table], seed: int
) -> LoadFigures:
    """Every chunk through the real path and by COPY into a table of the same DDL, each way timed."""
    table = spec.table(TABLE)
    figures = LoadFigures()
    with connect(info, autocommit=True) as conn:
        conn.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(COPY_SCHEMA)))
        for statement in parent_table_ddl(table, COPY_SCHEMA):
            conn.execute(statement)
        for index, chunk in enumerate(chunks):
            if index == 0:
                # A process validates once before its first batch is timed: Great Expectations sets itself up.
                gate_batch(spec, Batch(tables={TABLE: chunk.slice(0, 100)}, origin="warm-up"), {}, GateSettings())
            observed = chunk.column("observed_at")
            months = {date(at.year, at.month, 1) for at in (pc.min(observed).as_py(), pc.max(observed).as_py())}
            for month in sorted(months):
                conn.execute(partition_ddl(table, COPY_SCHEMA, month))
            prepared = with_dlt_fields(chunk, f"{time.time():.7f}", seed + index)

            def path(rows: pa.Table = chunk) -> None:
                started = time.perf_counter()
                with engine_steps(figures.steps):
                    real_path(bench, info, spec, rows)
                figures.path_s += time.perf_counter() - started

            def copy(rows: pa.Table = prepared) -> None:
                figures.copy_s += copy_table(conn, rows)

            # Alternating which goes first spreads checkpoints and cache effects over both ways.
            for step in (path, copy) if index % 2 == 0 else (copy, path):
                step()
            figures.rows += chunk.num_rows
            figures.chunks += 1
        counts = [count_rows(conn, schema, TABLE) for schema in (TIME_SERIES_SCHEMA, COPY_SCHEMA)]
    if any(count != figures.rows for count in counts):
        raise RuntimeError(f"expected {figures.rows:,} rows in both probe tables, found {counts}")
    return figures


def storage(info: ConnectionInfo) -> dict[str, int]:
    """Rows, partitions and bytes (total, heap, indexes) of ts.probe_results's partitions."""
    with connect(info, autocommit=True) as conn:
        kind = storage_of(conn, TIME_SERIES_SCHEMA, TABLE)
        if kind != "partitioned":
            raise RuntimeError(f"ts.probe_results is stored as {kind}, not as monthly partitions")
        row = conn.execute(
            "select count(*), coalesce(sum(pg_total_relation_size(relid)), 0), "
            "coalesce(sum(pg_relation_size(relid)), 0), coalesce(sum(pg_indexes_size(relid)), 0) "
            "from pg_partition_tree('ts.probe_results'::regclass) where isleaf"
        ).fetchone()
        counted = conn.execute("select count(*) from ts.probe_results").fetchone()
    assert row is not None and counted is not None
    partitions, total, heap, indexes = (int(value) for value in row)
    return {"rows": int(counted[0]), "partitions": partitions, "bytes": total, "heap": heap, "indexes": indexes}


def storage_result(figures: dict[str, int]) -> MeasureResult:
    """Measure 10 from the table's sizes."""
    per_million = bytes_per_million(figures["bytes"], figures["rows"])
    note = (
        f"{figures['rows']:,} rows in {figures['partitions']} monthly partitions after VACUUM ANALYZE; heap "
        f"{bytes_per_million(figures['heap'], figures['rows']) / 2**20:.1f} MiB, indexes (BRIN on time, provider "
        f"and time) {bytes_per_million(figures['indexes'], figures['rows']) / 2**20:.1f} MiB per million rows"
    )
    check = Check(10, "bytes per million probe rows", per_million / 2**20, " MiB", None, note)
    return MeasureResult(measure=10, title=TITLES[10], checks=[check], details=figures)


def build_marts(bench: BenchWarehouse) -> tuple[float, dict[str, Any]]:
    """`dbt build` of the status marts and everything upstream; its seconds and dbt's own times per kind of node."""
    bench.dbt(DATABASE, "parse", "--quiet")  # the build is timed, not the project's parse
    selection = [f"+{mart}" for mart in MARTS]
    seconds = bench.dbt(DATABASE, "build", "--select", *selection)
    results_path = dbt_target_path(bench.home) / "run_results.json"
    breakdown: dict[str, Any] = {}
    if results_path.exists():
        nodes = json.loads(results_path.read_text()).get("results", [])
        kinds: dict[str, float] = {}
        for node in nodes:
            kind = str(node["unique_id"]).split(".")[0]
            kinds[kind] = kinds.get(kind, 0.0) + float(node.get("execution_time") or 0.0)
        models = [node for node in nodes if str(node["unique_id"]).startswith("model.")]
        slowest = sorted(models, key=lambda node: -float(node.get("execution_time") or 0.0))[:3]
        breakdown = {
            "seconds_by_kind": kinds,
            "slowest": {str(node["unique_id"]).split(".")[-1]: float(node["execution_time"]) for node in slowest},
        }
    return seconds, breakdown


def status_queries(end: datetime) -> dict[str, Callable[[str], tuple[str, tuple[Any, ...]]]]:
    """Each status query, given the provider to ask about."""
    uptime_since = (end - timedelta(days=UPTIME_DAYS)).date()
    outages_since = end - timedelta(days=OUTAGE_DAYS)

    def uptime(provider: str) -> tuple[str, tuple[Any, ...]]:
        return (
            "select day, region, probes, probes_ok, availability_pct, latency_p50_ms, latency_p95_ms, incidents "
            "from marts.mart_provider_uptime_daily where provider = %s and day > %s order by day, region",
            (provider, uptime_since),
        )

    def outages(provider: str) -> tuple[str, tuple[Any, ...]]:
        return (
            "select outage_id, source, region, started_at, ended_at, duration_minutes, severity, linked_incident_ids "
            "from marts.fct_outages where provider = %s and started_at >= %s order by started_at desc",
            (provider, outages_since),
        )

    def current(_provider: str) -> tuple[str, tuple[Any, ...]]:
        return ("select * from marts.mart_status_current order by provider", ())

    return {
        f"a provider's daily uptime, last {UPTIME_DAYS} days": uptime,
        f"a provider's outages, last {OUTAGE_DAYS} days": outages,
        "current status of every provider": current,
    }


def count_rows(conn: Any, schema: str, table: str) -> int:
    """Rows of one table."""
    row = conn.execute(sql.SQL("select count(*) from {}").format(sql.Identifier(schema, table))).fetchone()
    return int(row[0])


def run_queries(info: ConnectionInfo, end: datetime, providers: Sequence[str], repeats: int, seed: int) -> list[Check]:
    """Each status query `repeats` times (after one untimed run), a random provider each time."""
    rng = random.Random(seed)
    checks = []
    with connect(info, autocommit=True) as conn:
        conn.execute("set default_transaction_read_only = on")
        sizes = {mart: count_rows(conn, "marts", mart) for mart in MARTS}
        context = ", ".join(f"{mart} {count:,} rows" for mart, count in sizes.items())
        for name, make in status_queries(end).items():
            conn.execute(*make(rng.choice(providers))).fetchall()
            samples = []
            returned = 0
            for _ in range(repeats):
                query, params = make(rng.choice(providers))
                started = time.perf_counter()
                returned = len(conn.execute(query, params).fetchall())
                samples.append((time.perf_counter() - started) * 1000)
            checks.append(query_check(name, samples, returned, context))
    return checks


def tick_targets(series: Sequence[SeriesTarget], simulated: Sequence[ProbeTarget]) -> list[ProbeTarget]:
    """A target per series: its provider's simulated endpoint under the series' region."""
    by_provider = {target.provider: target for target in simulated}
    return [dataclasses.replace(by_provider[each.provider], region=each.region) for each in series]


def tick_spec(spec: SourceSpec, targets: Sequence[ProbeTarget], probing: list[float]) -> SourceSpec:
    """The probe source probing `targets` (every series at once, as its own fetch does); each probing's seconds
    go to `probing`."""

    def extract(request: Request) -> Batch:
        started = time.perf_counter()
        outcomes = run_probes(targets, DEFAULT_TIMEOUT_S)
        probing.append(time.perf_counter() - started)
        request.stats.requests = len(targets)
        rows = [
            probe_row(target, request.fetched_at, outcome) for target, outcome in zip(targets, outcomes, strict=True)
        ]
        return Batch(tables={TABLE: rows}, origin=f"{len(targets)} probe targets")

    return dataclasses.replace(spec, extract=extract)


@dataclass
class Tick:
    """One tick: wall time, its probing, each engine step's seconds, its slowest probe and its failed probes."""

    wall_s: float
    probing_s: float
    steps: dict[str, float]
    slowest_ms: float
    failed: int


@dataclass
class TickFigures:
    """The timed ticks (a warm-up tick before them is left out)."""

    targets: int
    ticks: list[Tick] = field(default_factory=list)


def one_tick(bench: BenchWarehouse, info: ConnectionInfo, spec: SourceSpec, at: datetime, probing: list[float]) -> Tick:
    """One tick as the probe asset runs it: the pipeline, the tables checked, then fetch, gate and load."""
    steps: dict[str, float] = {}
    started = time.perf_counter()
    with engine_steps(steps):
        pipeline = make_pipeline(spec.name, spec.dataset, info.url(), bench.home / "dlt-status")
        ensure_tables(pipeline, info, spec)
        loaded = load_source(request_for(spec, source_config(spec, {}), fetched_at=at), pipeline, info)
    wall_s = time.perf_counter() - started
    if loaded.blocked or loaded.summary is None:
        raise RuntimeError(f"the gate blocked a probe tick: {loaded.report()}")
    rows = [row for row in loaded.gate.passing.get(TABLE, []) if isinstance(row, dict)]
    slowest = max((row["total_ms"] or 0.0 for row in rows), default=0.0)
    return Tick(wall_s, probing[-1], steps, slowest, sum(1 for row in rows if not row["ok"]))


def run_ticks(
    bench: BenchWarehouse,
    info: ConnectionInfo,
    spec: SourceSpec,
    series: Sequence[SeriesTarget],
    end: datetime,
    ticks: int,
) -> TickFigures:
    """A warm-up tick, then `ticks` timed ones, a minute apart from `end` on, probing the simulator."""
    candidates = probe_candidates()
    with build_simulator(candidates) as simulator:
        simulated, left_out = configured_targets(env=sample_environment(simulator, candidates))
        if left_out:
            raise RuntimeError(f"probe targets left out of the simulator: {left_out}")
        targets = tick_targets(series, simulated)
        probing: list[float] = []
        probing_spec = tick_spec(spec, targets, probing)
        figures = TickFigures(targets=len(targets))
        for index in range(ticks + 1):
            tick = one_tick(bench, info, probing_spec, end + timedelta(minutes=index), probing)
            if index:
                figures.ticks.append(tick)
    return figures


def tick_result(figures: TickFigures) -> MeasureResult:
    """Measure 11 from the timed ticks."""
    ticks = figures.ticks
    wall = median([tick.wall_s for tick in ticks])
    steps = {name: median([tick.steps.get(name, 0.0) for tick in ticks]) for name in ENGINE_STEPS}
    note = (
        f"{figures.targets} targets against the simulator, median of {len(ticks)} ticks after a warm-up one, into "
        f"ts.probe_results holding the year: probing {median([tick.probing_s for tick in ticks]):.2f} s (slowest "
        f"probe {median([tick.slowest_ms for tick in ticks]):.0f} ms), gate {steps['gate_batch']:.2f} s, "
        f"load_tables {steps['load_tables']:.2f} s, the rest (pipeline, tables check, verdicts) "
        f"{wall - median([tick.probing_s + sum(tick.steps.values()) for tick in ticks]):.2f} s; "
        f"{sum(tick.failed for tick in ticks)} failed probes"
    )
    check = Check(11, "one probe tick of 20 targets", wall, " s", Target("<", TICK_LIMIT_S, " s"), note)
    return MeasureResult(
        measure=11, title=TITLES[11], checks=[check], details={"ticks": [vars(tick) for tick in ticks]}
    )


def measure_status(bench: BenchWarehouse, mode: str, seed: int) -> list[MeasureResult]:
    """Measures 8 to 11 at the plan's size (`mode`: full or quick)."""
    plan = PLANS[mode]
    spec = SPEC
    info = fresh_database(bench)
    create_status_tables(bench, info, spec)
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    start = end - timedelta(days=plan.days)
    series = series_targets(catalog_endpoints(), plan.targets)
    figures = load_year(bench, info, spec, probe_history(series, start, end, seed), seed)
    load = MeasureResult(8, TITLES[8], load_checks(figures), {**vars(figures), "ratio": figures.ratio})
    load.details |= {"days": plan.days, "targets": plan.targets}
    with connect(info, autocommit=True) as conn:
        conn.execute(sql.SQL("drop schema {} cascade").format(sql.Identifier(COPY_SCHEMA)))
        conn.execute("vacuum analyze ts.probe_results")  # what autovacuum does to an append-only table
    stored = storage_result(storage(info))
    queries = MeasureResult(9, TITLES[9])
    try:
        build_s, breakdown = build_marts(bench)
    except RuntimeError as exc:
        queries.error = str(exc)[:300]
    else:
        providers = sorted({each.provider for each in series})
        queries.checks = run_queries(info, end, providers, plan.query_repeats, seed)
        slowest = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in breakdown.get("slowest", {}).items())
        kinds = ", ".join(f"{kind}s {seconds:.1f} s" for kind, seconds in breakdown.get("seconds_by_kind", {}).items())
        queries.checks.append(
            Check(
                9,
                "dbt build of the status marts",
                build_s,
                " s",
                None,
                f"dbt build --select {' '.join('+' + mart for mart in MARTS)} over {figures.rows:,} probe rows "
                f"(status pages and OpenRouter tables empty); dbt's own times over its threads: {kinds}; slowest "
                f"models: {slowest}",
            )
        )
        queries.details = {"dbt_build_s": build_s, **breakdown}
    ticks = tick_result(run_ticks(bench, info, spec, series, end, plan.ticks))
    return [load, queries, stored, ticks]
