"""Measure 6: the Great Expectations gate validating a 10,000-row batch against a table's suite and columns."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime
from typing import Any

from bench.generator import huggingface_models, registry_providers
from bench.results import Check, MeasureResult, Target, median
from modelatlas.pipelines.registry import source
from modelatlas.pipelines.spec import Rows, TableSpec
from modelatlas.settings import PROJECT_ROOT

LIMIT_S = 2.0


def table_spec(source_name: str, table: str) -> TableSpec:
    """The declared table whose suite the gate runs, with a suite (the measure means nothing without one)."""
    spec = source(source_name).table(table)
    if spec.suite is None:
        raise RuntimeError(f"{source_name}.{table} declares no suite: the gate does not validate it")
    return spec


def registry_price_rows(count: int, seed: int) -> list[dict[str, Any]]:
    """`count` rows of the registry's `prices` table as its source extracts them (a scaled registry)."""
    from modelatlas.pipelines.genai_prices import RegistrySnapshot, registry_tables

    scale = 1
    while True:
        snapshot = RegistrySnapshot(
            providers=registry_providers(scale, seed),
            origin="published",
            version=f"bench-{scale}x",
            url=None,
            fetched_at=datetime.now(UTC),
        )
        rows = registry_tables(snapshot)["prices"]
        if len(rows) >= count:
            return rows[:count]
        scale += 1


def huggingface_table(count: int, seed: int) -> Any:
    """`count` Hugging Face catalog rows as the Arrow table the source extracts."""
    from modelatlas.pipelines.catalog import batch_id, catalog_row
    from modelatlas.pipelines.huggingface import CATALOG, models_table

    fetched_at = datetime.now(UTC)
    batch = batch_id(fetched_at)
    return models_table(
        catalog_row(item, CATALOG, batch=batch, fetched_at=fetched_at, region="global")
        for item in huggingface_models(count, seed)
    )


def validate(table: TableSpec, rows: Rows) -> Any:
    """The gate's verdict on one table's batch: its suite, and the columns its table declares."""
    from modelatlas.pipelines.quality.validation import validate_batch

    assert table.suite is not None
    return validate_batch(table.suite, rows, declared=tuple(table.columns))


# The first validation of a cycle's process, in a process of its own: this one may have validated already (measure 1's
# real path runs the gate).
FIRST_VALIDATION = """
import json, sys, time
from bench.measures.gate import huggingface_table, table_spec, validate
import modelatlas.pipelines.quality.validation
rows = huggingface_table(int(sys.argv[1]), int(sys.argv[2]))
table = table_spec("huggingface", "models")
started = time.perf_counter()
validate(table, rows)
print("BENCH-FIRST-VALIDATION", json.dumps(time.perf_counter() - started))
"""


def first_validation_s(rows: int, seed: int) -> float:
    """Seconds of the first validation in a fresh process: Great Expectations is imported and builds its context
    then, once per cycle's process."""
    completed = subprocess.run(
        [sys.executable, "-c", FIRST_VALIDATION, str(rows), str(seed)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    for line in completed.stdout.splitlines():
        if line.startswith("BENCH-FIRST-VALIDATION "):
            return float(json.loads(line.split(" ", 1)[1]))
    raise RuntimeError(f"the first validation failed (exit {completed.returncode}): {completed.stderr[-800:]}")


def time_validation(source_name: str, table: str, rows: Any, repeats: int) -> tuple[float, list[float], Any]:
    """Median seconds of validating `rows` as the gate does for `source_name`.`table`, and the last verdict."""
    spec = table_spec(source_name, table)
    samples = []
    verdict = None
    for _ in range(repeats):
        started = time.perf_counter()
        verdict = validate(spec, rows)
        samples.append(time.perf_counter() - started)
    return median(samples), samples, verdict


def measure_gate(rows: int, repeats: int, seed: int) -> MeasureResult:
    """Measure 6: validation time of an N-row batch for the registry's prices and the Hugging Face catalog."""
    batches = {
        ("genai_prices", "prices"): registry_price_rows(rows, seed),
        ("huggingface", "models"): huggingface_table(rows, seed),
    }
    warm_up_s = first_validation_s(100, seed)
    checks = []
    details: dict[str, Any] = {"first_validation_in_process_s": warm_up_s}
    for (source_name, table), batch in batches.items():
        seconds, samples, verdict = time_validation(source_name, table, batch, repeats)
        failed = len(verdict.failed) if verdict is not None else None
        kind = "dicts" if isinstance(batch, list) else "Arrow table"
        blocked = verdict.blocked if verdict is not None else None
        checks.append(
            Check(
                6,
                f"gate on a {rows:,}-row {source_name}.{table} batch",
                seconds,
                " s",
                Target("<", LIMIT_S, " s"),
                f"{kind}; median of {repeats}; {failed} expectations failed; blocked: {blocked}",
            )
        )
        details[f"{source_name}.{table}"] = {"samples_s": samples, "failed_expectations": failed}
    checks.append(
        Check(
            6,
            "first validation in a process (context set-up, 100 rows)",
            warm_up_s,
            " s",
            None,
            "measured in a fresh process; every run's process pays it once, before its first source's batch "
            "(`modelatlas run` starts the import in the background)",
        )
    )
    return MeasureResult(measure=6, title="quality gate", checks=checks, details=details)
