"""Measure 1: the Hugging Face catalog through its real client, dlt source and run_source, against psycopg COPY."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from psycopg import sql

from bench.generator import Catalogs, CatalogSizes, catalogs
from bench.harness import BenchWarehouse
from bench.results import Check, MeasureResult, Target, median
from bench.simulate import build_bench_simulator
from modelatlas.pipelines.catalog import FetchStats
from modelatlas.pipelines.huggingface import (
    MODEL_SCHEMA,
    STATS_COLUMNS,
    fetch_organization,
    huggingface_client,
    huggingface_source,
    page_rows,
    stats_row,
)
from modelatlas.pipelines.loading import make_pipeline, run_source
from modelatlas.simulator import Simulator
from modelatlas.warehouse.service import connect

TABLES = ("models", "model_stats")
MODEL_FIELDS = tuple(MODEL_SCHEMA.names)
STATS_FIELDS = tuple(STATS_COLUMNS)
# dlt writes its load id and a random row id into every row: COPY gets the same two columns, precomputed.
DLT_FIELDS = ("_dlt_load_id", "_dlt_id")


@dataclass
class LoadRun:
    """One repetition: the fetch alone, the real load path, and COPY of the same rows."""

    rows: int
    fetch_s: float
    product_s: float
    copy_s: float
    build_s: float = 0.0
    steps: dict[str, float] = field(default_factory=dict)

    @property
    def load_path_s(self) -> float:
        """The real path without the HTTP fetch it includes."""
        return max(self.product_s - self.fetch_s, 0.0)

    @property
    def copy_loader_s(self) -> float:
        """A hand-written loader: the source's own rows built from the same pages, then psycopg COPY."""
        return self.build_s + self.copy_s


def fetch_rows(
    simulator: Simulator, data: Catalogs
) -> tuple[float, float, list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Fetch every page with the product's client and build the source's rows as COPY tuples, timing both apart."""
    base_url = simulator.root_url("huggingface")
    stats = FetchStats()
    listed: set[str] = set()
    fetched_at = datetime.now(UTC)
    models: list[tuple[Any, ...]] = []
    counters: list[tuple[Any, ...]] = []
    fetch_s = 0.0
    build_s = 0.0
    load_id = f"{time.time():.7f}"
    with huggingface_client(None, base_url) as client:
        for organization in data.organizations:
            pages = fetch_organization(
                client,
                organization,
                max_models=data.per_organization,
                page_size=1000,
                stats=stats,
                base_url=base_url,
            )
            while True:
                started = time.perf_counter()
                page = next(pages, None)
                fetch_s += time.perf_counter() - started
                if page is None:
                    break
                started = time.perf_counter()
                for row in page_rows(page, fetched_at=fetched_at, region="global", stats=stats, listed=listed):
                    models.append((*(row[name] for name in MODEL_FIELDS), load_id, secrets.token_urlsafe(10)))
                    counter = stats_row(row)
                    counters.append((*(counter[name] for name in STATS_FIELDS), load_id, secrets.token_urlsafe(10)))
                build_s += time.perf_counter() - started
    return fetch_s, build_s, models, counters


def copy_rows(bench: BenchWarehouse, schema: str, like: str, rows: dict[str, list[tuple[Any, ...]]]) -> float:
    """psycopg COPY of `rows` into tables shaped like the product's (`like` schema), timed; tables created untimed."""
    fields = {"models": MODEL_FIELDS + DLT_FIELDS, "model_stats": STATS_FIELDS + DLT_FIELDS}
    with connect(bench.info, autocommit=True) as conn:
        conn.execute(sql.SQL("create schema {}").format(sql.Identifier(schema)))
        for table in TABLES:
            conn.execute(
                sql.SQL("create table {} (like {})").format(sql.Identifier(schema, table), sql.Identifier(like, table))
            )
        started = time.perf_counter()
        with conn.cursor() as cursor:
            for table in TABLES:
                statement = sql.SQL("copy {} ({}) from stdin").format(
                    sql.Identifier(schema, table), sql.SQL(", ").join(map(sql.Identifier, fields[table]))
                )
                with cursor.copy(statement) as copy:
                    for row in rows[table]:
                        copy.write_row(row)
        return time.perf_counter() - started


def one_run(bench: BenchWarehouse, simulator: Simulator, data: Catalogs, label: str) -> LoadRun:
    """Fetch alone, then the real path into a fresh dataset, then COPY of the same rows beside it."""
    fetch_s, build_s, models, counters = fetch_rows(simulator, data)
    dataset = f"bench_load_{label}"
    copy_schema = f"bench_copy_{label}"
    bench.drop_schemas(dataset, f"{dataset}_staging", copy_schema)
    pipeline = make_pipeline(f"bench_load_{label}", dataset, bench.info.url(), bench.home / "dlt-bench")
    source = huggingface_source(
        base_url=simulator.root_url("huggingface"),
        organizations=data.organizations,
        max_models_per_organization=data.per_organization,
    )
    started = time.perf_counter()
    summary = run_source(pipeline, source)
    product_s = time.perf_counter() - started
    loaded = summary.row_counts.get("models", 0)
    if loaded != len(models):
        raise RuntimeError(f"the real path loaded {loaded} models, the fetch listed {len(models)}")
    steps: dict[str, float] = {}
    trace = pipeline.last_trace
    if trace is not None:
        steps = {
            step.step: (step.finished_at - step.started_at).total_seconds()
            for step in trace.steps
            if step.finished_at is not None and step.step in ("extract", "normalize", "load")
        }
    copy_s = copy_rows(bench, copy_schema, dataset, {"models": models, "model_stats": counters})
    bench.drop_schemas(dataset, f"{dataset}_staging", copy_schema)
    pipeline.drop()
    return LoadRun(rows=len(models), fetch_s=fetch_s, product_s=product_s, copy_s=copy_s, build_s=build_s, steps=steps)


def load_runs(bench: BenchWarehouse, rows: int, repeats: int, seed: int) -> list[LoadRun]:
    """`repeats` runs of `rows` Hugging Face models against the same simulator and server."""
    data = catalogs(CatalogSizes(huggingface=rows, openrouter=1, per_keyed_provider=1), seed=seed)
    with build_bench_simulator(data) as simulator:
        return [one_run(bench, simulator, data, f"{rows}_{index}") for index in range(repeats)]


def summarize(runs: list[LoadRun]) -> dict[str, Any]:
    """Medians of one size's runs, and every sample."""
    return {
        "rows": runs[0].rows,
        "fetch_s": median([run.fetch_s for run in runs]),
        "product_s": median([run.product_s for run in runs]),
        "load_path_s": median([run.load_path_s for run in runs]),
        "copy_s": median([run.copy_s for run in runs]),
        "build_s": median([run.build_s for run in runs]),
        "copy_loader_s": median([run.copy_loader_s for run in runs]),
        "ratio": median([run.load_path_s / run.copy_loader_s for run in runs]),
        "ratio_to_bare_copy": median([run.load_path_s / run.copy_s for run in runs]),
        "steps_s": {
            name: median([run.steps.get(name, 0.0) for run in runs]) for name in ("extract", "normalize", "load")
        },
        "samples": [run.__dict__ | {"load_path_s": run.load_path_s} for run in runs],
    }


def measure_load(
    bench: BenchWarehouse, rows: int, repeats: int, seed: int, measured: dict[int, list[LoadRun]] | None = None
) -> MeasureResult:
    """Measure 1: the real load path's time over COPY's for `rows` catalog rows (plus their stats rows).

    The runs are kept in `measured` (by size) for measure 7.
    """
    runs = load_runs(bench, rows, repeats, seed)
    if measured is not None:
        measured[rows] = runs
    summary = summarize(runs)
    steps = summary["steps_s"]
    note = (
        f"{rows:,} models + {rows:,} stats rows; real path {summary['load_path_s']:.1f} s without the HTTP fetch "
        f"({summary['product_s']:.1f} s with it; dlt extract {steps['extract']:.1f} s incl. fetch, normalize "
        f"{steps['normalize']:.1f} s, load {steps['load']:.1f} s); COPY loader {summary['copy_loader_s']:.1f} s "
        f"(the source's row building {summary['build_s']:.1f} s + COPY {summary['copy_s']:.1f} s); median of {repeats}"
    )
    return MeasureResult(
        measure=1,
        title="load path vs COPY",
        checks=[
            Check(
                1, "real load path / COPY loader of the same rows", summary["ratio"], "x", Target("<=", 2.0, "x"), note
            ),
            Check(
                1,
                "real load path / bare COPY of prebuilt rows",
                summary["ratio_to_bare_copy"],
                "x",
                None,
                "COPY alone, the rows already built",
            ),
            Check(
                1, "HTTP fetch (reported apart)", summary["fetch_s"], " s", None, "product client against the simulator"
            ),
        ],
        details=summary,
    )
