"""Measure 1: the Hugging Face catalog through the engine's real path (fetch, gate, dlt load) against psycopg COPY."""

from __future__ import annotations

import io
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.csv as pa_csv
from psycopg import sql

from bench.generator import Catalogs, CatalogSizes, catalogs
from bench.harness import BenchWarehouse
from bench.results import Check, MeasureResult, Target, median
from bench.simulate import bench_environment, build_bench_simulator
from modelatlas.pipelines.catalog import batch_id, catalog_row
from modelatlas.pipelines.engine import ensure_tables, load_source, load_standalone, request_for
from modelatlas.pipelines.huggingface import CATALOG, SPEC, models_table, organization_params, stats_table
from modelatlas.pipelines.loading import make_pipeline
from modelatlas.pipelines.paginate import fetch_pages
from modelatlas.pipelines.spec import Request
from modelatlas.settings import source_config
from modelatlas.simulator import Simulator
from modelatlas.warehouse.service import connect

TABLES = tuple(table.name for table in SPEC.tables)
DLT_STEPS = ("extract", "normalize", "load")
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
    # The engine's dlt load of the gated batch (`load_batch`), and its dlt steps.
    dlt_s: float = 0.0
    steps: dict[str, float] = field(default_factory=dict)

    @property
    def load_path_s(self) -> float:
        """The real path without the HTTP fetch it includes."""
        return max(self.product_s - self.fetch_s, 0.0)

    @property
    def copy_loader_s(self) -> float:
        """A hand-written loader: the source's own rows built from the same pages, then psycopg COPY."""
        return self.build_s + self.copy_s


def with_dlt_fields(table: pa.Table, load_id: str) -> pa.Table:
    """`table` with dlt's load id and a random row id per row, as dlt writes them."""
    rows = table.num_rows
    table = table.append_column(DLT_FIELDS[0], pa.array([load_id] * rows, type=pa.string()))
    return table.append_column(DLT_FIELDS[1], pa.array([secrets.token_urlsafe(10) for _ in range(rows)]))


def fetch_tables(request: Request, organizations: list[str], cap: int) -> tuple[float, float, dict[str, pa.Table]]:
    """Fetch every organisation's pages with the product's client and paginator, building the source's own tables
    from each page with its row functions; the seconds of each apart, and the tables (with dlt's two columns)."""
    assert CATALOG.endpoint.paginator.size is not None
    page_size = min(CATALOG.endpoint.paginator.size.default, cap)
    batch = batch_id(request.fetched_at)
    listed: set[str | None] = set()
    chunks: list[pa.Table] = []
    fetch_s = build_s = 0.0
    with request.client() as client:
        for organization in organizations:
            pages = fetch_pages(
                client, CATALOG.endpoint, request.stats, page_size=page_size, params=organization_params(organization)
            )
            taken = 0
            while taken < cap:
                started = time.perf_counter()
                page = next(pages, None)
                fetch_s += time.perf_counter() - started
                if page is None:
                    break
                started = time.perf_counter()
                rows = []
                for item in page[1][: cap - taken]:
                    row = catalog_row(item, CATALOG, batch=batch, fetched_at=request.fetched_at, region=request.region)
                    if row["id"] in listed:
                        continue
                    listed.add(row["id"])
                    rows.append(row)
                taken += len(page[1])
                chunks.append(models_table(rows))
                build_s += time.perf_counter() - started
    started = time.perf_counter()
    models = pa.concat_tables(chunks)
    load_id = f"{time.time():.7f}"
    tables = {"models": with_dlt_fields(models, load_id), "model_stats": with_dlt_fields(stats_table(models), load_id)}
    build_s += time.perf_counter() - started
    return fetch_s, build_s, tables


def copy_tables(bench: BenchWarehouse, schema: str, like: str, tables: dict[str, pa.Table]) -> float:
    """psycopg COPY of `tables` (as CSV, like dlt's load files) into tables shaped like the product's (`like`
    schema), timed; the tables are created untimed."""
    with connect(bench.info, autocommit=True) as conn:
        conn.execute(sql.SQL("create schema {}").format(sql.Identifier(schema)))
        for table in TABLES:
            conn.execute(
                sql.SQL("create table {} (like {})").format(sql.Identifier(schema, table), sql.Identifier(like, table))
            )
        started = time.perf_counter()
        options = pa_csv.WriteOptions(include_header=False, quoting_style="all_valid")
        with conn.cursor() as cursor:
            for table, data in tables.items():
                statement = sql.SQL("copy {} ({}) from stdin with (format csv)").format(
                    sql.Identifier(schema, table), sql.SQL(", ").join(map(sql.Identifier, data.column_names))
                )
                with cursor.copy(statement) as copy:
                    for part in data.to_batches(max_chunksize=50_000):
                        buffer = io.BytesIO()
                        pa_csv.write_csv(part, buffer, options)
                        copy.write(buffer.getbuffer())
        return time.perf_counter() - started


def one_run(bench: BenchWarehouse, simulator: Simulator, data: Catalogs, label: str) -> LoadRun:
    """Fetch alone, then the real path into a fresh dataset, then COPY of the same rows beside it."""
    config = source_config(SPEC, bench_environment(simulator, data))
    fetch_s, build_s, tables = fetch_tables(
        request_for(SPEC, config), list(config.options["organizations"]), config.options["max_models_per_organization"]
    )
    dataset = f"bench_load_{label}"
    copy_schema = f"bench_copy_{label}"
    bench.drop_schemas(dataset, f"{dataset}_staging", copy_schema)
    pipeline = make_pipeline(f"bench_load_{label}", dataset, bench.info.url(), bench.home / "dlt-bench")
    # A deployment's raw tables exist before its loads (the set-up step creates them): not part of the path.
    ensure_tables(pipeline, bench.info, SPEC)
    request = request_for(SPEC, config)
    started = time.perf_counter()
    loaded = load_source(request, pipeline, bench.info)
    product_s = time.perf_counter() - started
    if loaded.blocked or loaded.summary is None:
        raise RuntimeError(f"the gate blocked the real path's batch: {loaded.report()}")
    if loaded.loaded_rows("models") != tables["models"].num_rows:
        raise RuntimeError(
            f"the real path loaded {loaded.loaded_rows('models')} models, the fetch built {tables['models'].num_rows}"
        )
    steps: dict[str, float] = {}
    trace = pipeline.last_trace
    if trace is not None:
        steps = {
            step.step: (step.finished_at - step.started_at).total_seconds()
            for step in trace.steps
            if step.finished_at is not None and step.step in DLT_STEPS
        }
    copy_s = copy_tables(bench, copy_schema, dataset, tables)
    bench.drop_schemas(dataset, f"{dataset}_staging", copy_schema)
    pipeline.drop()
    return LoadRun(
        rows=tables["models"].num_rows,
        fetch_s=fetch_s,
        product_s=product_s,
        copy_s=copy_s,
        build_s=build_s,
        dlt_s=loaded.summary.elapsed_s,
        steps=steps,
    )


def warm_up(bench: BenchWarehouse, simulator: Simulator, data: Catalogs) -> None:
    """One untimed load of 100 models through the same path: what a process pays once (importing Great Expectations,
    creating the dq tables) is no cost per row. Measure 6 reports the first validation in a process."""
    env = bench_environment(simulator, data) | {
        SPEC.variable("ORGS"): data.organizations[0],
        SPEC.variable("MAX_MODELS_PER_ORG"): "100",
    }
    dataset = "bench_load_warm_up"
    load_standalone(SPEC, bench.info, bench.home / "dlt-bench", env=env, dataset=dataset)
    bench.drop_schemas(dataset, f"{dataset}_staging")


def load_runs(bench: BenchWarehouse, rows: int, repeats: int, seed: int) -> list[LoadRun]:
    """`repeats` runs of `rows` Hugging Face models against the same simulator and server."""
    data = catalogs(CatalogSizes(huggingface=rows, openrouter=1, per_keyed_provider=1), seed=seed)
    with build_bench_simulator(data) as simulator:
        warm_up(bench, simulator, data)
        return [one_run(bench, simulator, data, f"{rows}_{index}") for index in range(repeats)]


def summarize(runs: list[LoadRun]) -> dict[str, Any]:
    """Medians of one size's runs, and every sample."""
    return {
        "rows": runs[0].rows,
        "fetch_s": median([run.fetch_s for run in runs]),
        "product_s": median([run.product_s for run in runs]),
        "load_path_s": median([run.load_path_s for run in runs]),
        "dlt_s": median([run.dlt_s for run in runs]),
        "engine_s": median([run.product_s - run.dlt_s for run in runs]),
        "copy_s": median([run.copy_s for run in runs]),
        "build_s": median([run.build_s for run in runs]),
        "copy_loader_s": median([run.copy_loader_s for run in runs]),
        "ratio": median([run.load_path_s / run.copy_loader_s for run in runs]),
        "ratio_to_bare_copy": median([run.load_path_s / run.copy_s for run in runs]),
        "steps_s": {name: median([run.steps.get(name, 0.0) for run in runs]) for name in DLT_STEPS},
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
        f"({summary['product_s']:.1f} s with it: fetch, rows, gate, data versions and changes "
        f"{summary['engine_s']:.1f} s, dlt load {summary['dlt_s']:.1f} s = extract {steps['extract']:.1f} s, "
        f"normalize {steps['normalize']:.1f} s, load {steps['load']:.1f} s); COPY loader "
        f"{summary['copy_loader_s']:.1f} s (the source's row building {summary['build_s']:.1f} s + COPY "
        f"{summary['copy_s']:.1f} s); median of {repeats}"
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
                "COPY alone (CSV, as dlt's load files), the rows already built",
            ),
            Check(
                1,
                "HTTP fetch (reported apart)",
                summary["fetch_s"],
                " s",
                None,
                "product client and paginator against the simulator",
            ),
        ],
        details=summary,
    )
