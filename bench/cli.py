"""The benchmark's command line: run the measures against one fresh warehouse, print and write the results."""

from __future__ import annotations

import argparse
import logging
import sys
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench.harness import BenchWarehouse, bench_warehouse
from bench.results import MeasureResult, markdown_table, page_with_results, write_merged, write_results

RESULTS_DIR = Path(__file__).resolve().parent / "results"
# The page that quotes the latest full run between its `<!-- bench:latest -->` markers (`--docs`).
BENCHMARKS_PAGE = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
log = logging.getLogger("bench")
MEASURES = range(1, 20)


def say(text: str) -> None:
    """One line of the benchmark's own output on stdout (logs go to stderr)."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


@dataclass(frozen=True)
class Plan:
    """Sizes and repetitions of one benchmark run."""

    mode: str
    load_rows: int
    load_repeats: int
    load_scales: tuple[int, ...]
    cycle_factor: float
    cycle_repeats: int
    cycle_factors: tuple[float, ...]
    history_days: int
    unchanged_per_day: int
    query_scale: float
    query_days: int
    query_repeats: int
    gate_rows: int
    gate_repeats: int
    # Fresh-process loads of the code location (measure 2's per-run fixed cost).
    location_repeats: int


FULL = Plan(
    mode="full",
    load_rows=1_000_000,
    load_repeats=2,
    load_scales=(10_000, 100_000, 1_000_000),
    cycle_factor=1,
    cycle_repeats=2,
    # 1x, 10x and 100x of a base a tenth of the realistic cycle: 0.1, 1 (measure 2 itself) and 10 times it.
    cycle_factors=(0.1, 1, 10),
    history_days=30,
    unchanged_per_day=1,
    query_scale=10,
    query_days=365,
    query_repeats=20,
    gate_rows=10_000,
    gate_repeats=5,
    location_repeats=5,
)
QUICK = Plan(
    mode="quick",
    load_rows=50_000,
    load_repeats=2,
    load_scales=(5_000, 50_000),
    cycle_factor=0.1,
    cycle_repeats=1,
    cycle_factors=(0.1, 0.3),
    history_days=2,
    unchanged_per_day=1,
    query_scale=0.3,
    query_days=30,
    query_repeats=5,
    gate_rows=10_000,
    gate_repeats=2,
    location_repeats=3,
)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line's options."""
    parser = argparse.ArgumentParser(prog="python -m bench", description="ModelAtlas benchmark harness")
    parser.add_argument("--quick", action="store_true", help="small sizes, a smoke test of the harness (< 5 min)")
    parser.add_argument("--only", default="", help="comma-separated measure numbers to run (default: all)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the scale generator")
    parser.add_argument("--port", type=int, default=None, help="warehouse port (default: a free one)")
    parser.add_argument("--out", type=Path, default=None, help="results folder (default: bench/results)")
    parser.add_argument("--stem", default=None, help="results file name stem (default: latest, quick: latest-quick)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary MODELATLAS_HOME")
    parser.add_argument(
        "--merge", type=Path, default=None, help="merge the measures of this results file into latest.json, run none"
    )
    parser.add_argument(
        "--docs", action="store_true", help="quote bench/results/latest.md in docs/benchmarks.md, run none"
    )
    return parser.parse_args(argv)


def selected(only: str) -> set[int]:
    """The measure numbers `--only` names; all of them when empty."""
    if not only.strip():
        return set(MEASURES)
    numbers = {int(part) for part in only.split(",") if part.strip()}
    unknown = numbers - set(MEASURES)
    if unknown:
        raise SystemExit(f"--only: no measure {sorted(unknown)} (measures are {MEASURES[0]} to {MEASURES[-1]})")
    return numbers


def run_group(numbers: tuple[int, ...], title: str, action: Callable[[], list[MeasureResult]]) -> list[MeasureResult]:
    """Run the measures one action produces; a failure becomes an error row instead of stopping the others."""
    log.info("measure %s: %s", ",".join(map(str, numbers)), title)
    started = datetime.now(UTC)
    try:
        results = action()
    except Exception as exc:  # one broken measure must not hide the others' figures
        traceback.print_exc()
        message = f"{type(exc).__name__}: {exc}"[:300]
        return [MeasureResult(measure=number, title=title, error=message) for number in numbers]
    elapsed = round((datetime.now(UTC) - started).total_seconds(), 1)
    for result in results:
        result.details.setdefault("elapsed_s", elapsed)
        for check in result.checks:
            target = f" (target {check.target.describe()}: {check.status})" if check.target else ""
            say(f"[{result.measure}] {check.name}: {check.figure()}{target}")
    return results


Group = tuple[tuple[int, ...], str, Callable[[], list[MeasureResult]]]


def groups(plan: Plan, bench: BenchWarehouse, seed: int) -> list[Group]:
    """Every measure, as the actions that produce them, in running order."""
    from bench.measures.alerts import MEASURES as ALERTS_MEASURES
    from bench.measures.alerts import measure_alerts
    from bench.measures.api import MEASURE as API_MEASURE
    from bench.measures.api import TITLE as API_TITLE
    from bench.measures.api import measure_api
    from bench.measures.cycle import CyclePair, measure_cycles
    from bench.measures.dashboard import MEASURE as DASHBOARD_MEASURE
    from bench.measures.dashboard import TITLE as DASHBOARD_TITLE
    from bench.measures.dashboard import measure_dashboard
    from bench.measures.gate import measure_gate
    from bench.measures.history import measure_history
    from bench.measures.load import LoadRun, measure_load
    from bench.measures.queries import measure_queries
    from bench.measures.scaling import measure_scaling
    from bench.measures.status import MEASURES as STATUS_MEASURES
    from bench.measures.status import measure_status
    from bench.measures.usage import MEASURES as USAGE_MEASURES
    from bench.measures.usage import measure_usage

    loads: dict[int, list[LoadRun]] = {}
    cycles: dict[float, list[CyclePair]] = {}

    def history_database() -> str:
        # Measure 2's warehouse (a full cycle at the realistic size), else a cycle of its own.
        from bench.measures.cycle import REALISTIC, cycle_pairs

        pairs = cycles.get(plan.cycle_factor) or cycle_pairs(
            bench, REALISTIC.scaled(plan.cycle_factor), 1, seed, "m4", second=False
        )
        return pairs[0].database

    def query_database() -> str:
        # A warehouse at query_scale times the realistic size: measure 7's cycle at that size, else one of its own,
        # kept for measures 5, 18 and 19.
        from bench.measures.cycle import REALISTIC, cycle_pairs

        if plan.query_scale not in cycles:
            cycles[plan.query_scale] = cycle_pairs(
                bench, REALISTIC.scaled(plan.query_scale), 1, seed, "m5", second=False
            )
        return cycles[plan.query_scale][0].database

    def queries() -> list[MeasureResult]:
        return [measure_queries(bench, query_database(), plan.query_days, plan.query_repeats, seed)]

    return [
        ((1,), "load path vs COPY", lambda: [measure_load(bench, plan.load_rows, plan.load_repeats, seed, loads)]),
        (
            (2, 3),
            "full and unchanged cycles",
            lambda: list(
                measure_cycles(bench, plan.cycle_factor, plan.cycle_repeats, seed, cycles, plan.location_repeats)
            ),
        ),
        ((6,), "quality gate", lambda: [measure_gate(plan.gate_rows, plan.gate_repeats, seed)]),
        (
            (7,),
            "scaling",
            lambda: [
                measure_scaling(bench, plan.load_scales, plan.cycle_factors, plan.load_repeats, seed, loads, cycles)
            ],
        ),
        ((5,), "BI queries", queries),
        (
            (DASHBOARD_MEASURE,),
            DASHBOARD_TITLE,
            lambda: [measure_dashboard(bench, query_database(), plan.mode, seed)],
        ),
        ((API_MEASURE,), API_TITLE, lambda: [measure_api(bench, query_database(), plan.mode)]),
        (
            (4,),
            "storage growth",
            lambda: [measure_history(bench, history_database(), plan.history_days, plan.unchanged_per_day, seed)],
        ),
        (STATUS_MEASURES, "status time series", lambda: measure_status(bench, plan.mode, seed)),
        (USAGE_MEASURES, "usage and cost", lambda: measure_usage(bench, plan.mode, seed)),
        (ALERTS_MEASURES, "alerts", lambda: measure_alerts(bench, plan.mode, seed)),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the selected measures and write the results; exit 0 unless the harness itself broke."""
    args = parse_args(argv)
    if args.docs:
        page = page_with_results(BENCHMARKS_PAGE.read_text(), (RESULTS_DIR / "latest.md").read_text())
        BENCHMARKS_PAGE.write_text(page)
        say(f"{BENCHMARKS_PAGE}: benchmark table from {RESULTS_DIR / 'latest.md'}")
        return 0
    if args.merge is not None:
        json_path, md_path = write_merged(args.out or RESULTS_DIR, args.merge, args.stem or "latest")
        say(f"merged {args.merge} into {json_path} and {md_path}")
        return 0
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    plan = QUICK if args.quick else FULL
    wanted = selected(args.only)
    started = datetime.now(UTC)
    results: list[MeasureResult] = []
    with bench_warehouse(args.port, keep=args.keep) as bench:
        for numbers, title, action in groups(plan, bench, args.seed):
            if wanted & set(numbers):
                results += [result for result in run_group(numbers, title, action) if result.measure in wanted]
    table = markdown_table(results)
    say("\n" + table)
    directory = args.out or RESULTS_DIR
    stem = args.stem or ("latest" if plan.mode == "full" else "latest-quick")
    partial = bool(args.only.strip()) and args.stem is None and (directory / f"{stem}.json").exists()
    # Some measures run again replace theirs in the latest results instead of the whole run's.
    written_stem = f"{stem}-only" if partial else stem
    json_path, md_path = write_results(results, directory, plan.mode, started, written_stem)
    say(f"\nresults: {json_path} and {md_path}")
    if partial:
        merged_json, merged_md = write_merged(directory, json_path, stem)
        say(f"merged into {merged_json} and {merged_md}")
    return 0
