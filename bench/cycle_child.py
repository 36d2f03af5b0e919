"""One ModelAtlas cycle in a process of its own, through the real runner; prints one JSON line of what it did.

Run by bench.measures.cycle with the environment pointing every source at the benchmark's simulator.
"""

from __future__ import annotations

import json
import sys
import time

STARTED = time.perf_counter()


def main() -> int:
    """Run every asset once (`modelatlas run`), then report its outcome and where its time went."""
    import dagster as dg

    from modelatlas.pipelines.registry import sources
    from modelatlas.runner import run

    imported_s = time.perf_counter() - STARTED
    summary = run()
    raw_schemas = {dataset for spec in sources() for dataset in spec.datasets()}
    # Every asset that is no table a source writes (raw or time series) is a dbt model (keys `<schema>/<model>`).
    dbt_built = sorted(key for key in set(summary.materialized) if key.split("/", 1)[0] not in raw_schemas)
    steps: dict[str, float] = {}
    runs: dict[str, float] = {}
    with dg.DagsterInstance.get() as instance:
        for number, run_id in enumerate(summary.run_ids, start=1):
            stats = instance.get_run_stats(run_id)
            if stats.start_time and stats.end_time:
                runs[run_id] = stats.end_time - stats.start_time
            for step in instance.get_run_step_stats(run_id):
                if step.start_time and step.end_time:
                    # The dbt step runs in both runs: in the first for the dbt source tests checking the raw tables.
                    key = step.step_key if step.step_key not in steps else f"{step.step_key} (run {number})"
                    steps[key] = step.end_time - step.start_time
    report = {
        "success": summary.success,
        "tolerated": summary.tolerated_failures_only,
        "failures": summary.failures,
        "materialized": len(summary.materialized),
        "dbt_built": dbt_built,
        "reports": summary.reports,
        "checks_passed": summary.checks_passed,
        "checks_failed": summary.checks_failed,
        "checks_quarantined": summary.checks_quarantined,
        "row_counts": summary.row_counts,
        "import_s": imported_s,
        "run_s": summary.elapsed_s,
        "dagster_runs_s": list(runs.values()),
        "steps_s": steps,
    }
    sys.stdout.write("BENCH-CYCLE " + json.dumps(report) + "\n")
    return 0 if summary.success else 1


if __name__ == "__main__":
    sys.exit(main())
