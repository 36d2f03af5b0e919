"""Measure 6: the Great Expectations gate validating a 10,000-row batch."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from itertools import islice
from typing import Any

from bench.generator import huggingface_models, registry_providers
from bench.results import Check, MeasureResult, Target, median
from modelatlas.pipelines.catalog import FetchStats
from modelatlas.pipelines.huggingface import models_table, page_rows

LIMIT_S = 2.0


def registry_price_rows(count: int, seed: int) -> list[dict[str, Any]]:
    """`count` rows of the registry's `prices` table as its dlt source yields them (a scaled registry)."""
    from modelatlas.pipelines.genai_prices import genai_prices_source
    from modelatlas.pipelines.genai_prices.registry import RegistrySnapshot

    scale = 1
    while True:
        snapshot = RegistrySnapshot(
            providers=registry_providers(scale, seed),
            origin="published",
            version=f"bench-{scale}x",
            url=None,
            fetched_at=datetime.now(UTC),
        )
        rows = list(islice(genai_prices_source(snapshot=snapshot).resources["prices"], count))
        if len(rows) >= count:
            return rows
        scale += 1


def huggingface_table(count: int, seed: int) -> Any:
    """`count` Hugging Face catalog rows as the Arrow table the source yields."""
    items = huggingface_models(count, seed)
    rows = page_rows(items, fetched_at=datetime.now(UTC), region="global", stats=FetchStats(), listed=set())
    return models_table(rows)


def first_validation_s(rows: Any) -> float:
    """Seconds of the first validation in a process: Great Expectations builds its context then, once per cycle."""
    from modelatlas.pipelines.quality.registry import suites_for
    from modelatlas.pipelines.quality.validation import validate_batch

    started = time.perf_counter()
    validate_batch(suites_for("huggingface")["models"], rows)
    return time.perf_counter() - started


def time_validation(source: str, table: str, rows: Any, repeats: int) -> tuple[float, list[float], Any]:
    """Median seconds of validating `rows` with the gate's suite for `source`.`table`, and the last verdict."""
    from modelatlas.pipelines.quality.registry import suites_for
    from modelatlas.pipelines.quality.validation import validate_batch

    suite = suites_for(source)[table]
    samples = []
    verdict = None
    for _ in range(repeats):
        started = time.perf_counter()
        verdict = validate_batch(suite, rows)
        samples.append(time.perf_counter() - started)
    return median(samples), samples, verdict


def measure_gate(rows: int, repeats: int, seed: int) -> MeasureResult:
    """Measure 6: validation time of an N-row batch for the registry's prices and the Hugging Face catalog."""
    batches = {
        ("genai_prices", "prices"): registry_price_rows(rows, seed),
        ("huggingface", "models"): huggingface_table(rows, seed),
    }
    warm_up_s = first_validation_s(batches[("huggingface", "models")].slice(0, 100))
    checks = []
    details: dict[str, Any] = {"first_validation_in_process_s": warm_up_s}
    for (source, table), batch in batches.items():
        seconds, samples, verdict = time_validation(source, table, batch, repeats)
        failed = len(verdict.failed) if verdict is not None else None
        kind = "dicts" if isinstance(batch, list) else "Arrow table"
        blocked = verdict.blocked if verdict is not None else None
        checks.append(
            Check(
                6,
                f"gate on a {rows:,}-row {source}.{table} batch",
                seconds,
                " s",
                Target("<", LIMIT_S, " s"),
                f"{kind}; median of {repeats}; {failed} expectations failed; blocked: {blocked}",
            )
        )
        details[f"{source}.{table}"] = {"samples_s": samples, "failed_expectations": failed}
    checks.append(
        Check(
            6,
            "first validation in a process (context set-up, 100 rows)",
            warm_up_s,
            " s",
            None,
            "paid once per cycle process, before the first source's batch",
        )
    )
    return MeasureResult(measure=6, title="quality gate", checks=checks, details=details)
