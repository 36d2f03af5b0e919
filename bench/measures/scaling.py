"""Measure 7: measures 1 and 2 at growing sizes; the cost per row must not grow (linear or better)."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

from bench.harness import BenchWarehouse
from bench.measures.cycle import REALISTIC, CyclePair, cycle_pairs
from bench.measures.load import LoadRun, load_runs, summarize
from bench.results import Check, MeasureResult, Target, median

# Per-row cost at the largest size over the smallest: 1.0 is linear; noise on a shared machine is allowed for.
LINEAR_LIMIT = 1.25


def per_row_ratio(points: list[dict[str, Any]], cost: str) -> float:
    """Cost per row at the largest size divided by cost per row at the smallest."""
    first, last = points[0], points[-1]
    return (last[cost] / last["rows"]) / (first[cost] / first["rows"])


def worst_step_ratio(points: list[dict[str, Any]], cost: str) -> float:
    """The largest growth of the cost per row from one size to the next: above 1, that step is worse than linear.

    The end-to-end ratio alone would hide it when fixed costs dominate the smallest size.
    """
    steps = [(later[cost] / later["rows"]) / (earlier[cost] / earlier["rows"]) for earlier, later in pairwise(points)]
    return max(steps)


def load_scaling(
    bench: BenchWarehouse, sizes: tuple[int, ...], repeats: int, seed: int, measured: dict[int, list[LoadRun]]
) -> list[dict[str, Any]]:
    """The load path and COPY at each size (reusing runs measure 1 already made at that size)."""
    points = []
    for rows in sizes:
        runs = measured.get(rows) or load_runs(bench, rows, repeats, seed)
        summary = summarize(runs)
        points.append(
            {key: summary[key] for key in ("rows", "load_path_s", "copy_s", "copy_loader_s", "fetch_s", "ratio")}
        )
    return points


def cycle_scaling(
    bench: BenchWarehouse, factors: tuple[float, ...], seed: int, measured: dict[float, list[CyclePair]]
) -> list[dict[str, Any]]:
    """One full cycle at each multiple of the realistic size (measure 2's own where it ran at that size)."""
    points = []
    for factor in factors:
        label = f"m7_{str(factor).replace('.', '_')}"
        pairs = measured.get(factor) or cycle_pairs(bench, REALISTIC.scaled(factor), 1, seed, label, second=False)
        measured[factor] = pairs
        pair = pairs[0]
        counts = pair.full.report.get("row_counts") or {}
        rows = sum(count for name, count in counts.items() if name.startswith("raw_"))
        points.append(
            {
                "factor": factor,
                "rows": rows,
                "wall_s": pair.full.wall_s,
                "peak_rss_gib": pair.full.peak_rss_bytes / 2**30,
                "succeeded": pair.full.ok,
                "slowest_steps_s": pair.full.slowest_steps(4),
            }
        )
    return points


def measure_scaling(
    bench: BenchWarehouse,
    load_sizes: tuple[int, ...],
    cycle_factors: tuple[float, ...],
    repeats: int,
    seed: int,
    measured_loads: dict[int, list[LoadRun]],
    measured_cycles: dict[float, list[CyclePair]],
) -> MeasureResult:
    """Measure 7: per-row cost ratios of the load path (measure 1) and the full cycle (measure 2)."""
    loads = load_scaling(bench, load_sizes, repeats, seed, measured_loads)
    cycles = cycle_scaling(bench, cycle_factors, seed, measured_cycles)
    return scaling_result(loads, cycles)


def scaling_result(loads: list[dict[str, Any]], cycles: list[dict[str, Any]]) -> MeasureResult:
    """Measure 7's checks from the points measured at each size."""
    load_sizes = tuple(point["rows"] for point in loads)
    cycle_factors = tuple(point["factor"] for point in cycles)
    load_table = ", ".join(f"{point['rows']:,} rows {point['load_path_s']:.1f} s" for point in loads)
    cycle_table = ", ".join(
        f"{point['factor']:g}x ({point['rows']:,} raw rows) {point['wall_s']:.0f} s {point['peak_rss_gib']:.2f} GiB"
        for point in cycles
    )
    smallest, largest = load_sizes[0], load_sizes[-1]
    return MeasureResult(
        measure=7,
        title="scaling",
        checks=[
            Check(
                7,
                "load path cost per row, worst 10x step",
                worst_step_ratio(loads, "load_path_s"),
                "x",
                Target("<=", LINEAR_LIMIT, "x"),
                f"{load_table}; {largest // smallest}x rows / 1x {per_row_ratio(loads, 'load_path_s'):.2f}x; "
                f"COPY loader: worst step {worst_step_ratio(loads, 'copy_loader_s'):.2f}x",
            ),
            Check(
                7,
                "full cycle cost per row, worst 10x step",
                worst_step_ratio(cycles, "wall_s"),
                "x",
                Target("<=", LINEAR_LIMIT, "x"),
                f"{cycle_table}; {cycle_factors[-1] / cycle_factors[0]:g}x size / 1x "
                f"{per_row_ratio(cycles, 'wall_s'):.3f}x; peak RSS grows "
                f"{cycles[-1]['peak_rss_gib'] / cycles[0]['peak_rss_gib']:.1f}x",
            ),
        ],
        details={"load": loads, "cycle": cycles, "median_load_ratio": median([point["ratio"] for point in loads])},
    )
