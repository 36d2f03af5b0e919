"""Measure 18's pure parts: the timing summary, the captions it waits for, the filter's choices and its checks."""

from __future__ import annotations

import pytest

from bench.measures.dashboard import (
    FILTER_LIMIT_MS,
    FIRST_RENDER_LIMIT_S,
    MEASURE,
    PLANS,
    Timing,
    caption,
    checks,
    cumulative_rows,
    provider_order,
    summarize,
)
from bench.results import MeasureResult, markdown_table
from modelatlas.dashboard.queries import ROW_LIMIT

COUNTS = {"anthropic": 40, "openai": 100, "mistral": 30, "openrouter": 4900, "groq": 10, "empty": 0}


def test_a_timing_summary_is_the_median_p95_and_extremes() -> None:
    timing = summarize([400.0, 100.0, 300.0, 200.0, 1000.0])
    assert (timing.count, timing.median_ms, timing.min_ms, timing.max_ms) == (5, 300.0, 100.0, 1000.0)
    assert timing.p95_ms == pytest.approx(880.0)
    assert summarize([42.0]) == Timing(1, 42.0, 42.0, 42.0, 42.0)
    with pytest.raises(ValueError):
        summarize([])


def test_the_caption_is_the_compare_pages() -> None:
    assert caption(38, 2046) == "38 of 2046 offerings"
    assert caption(ROW_LIMIT, 20_000) == f"{ROW_LIMIT} of 20000 offerings"
    assert caption(ROW_LIMIT + 1, 20_000) == (
        f"the first {ROW_LIMIT} matching offerings of 20000: narrow the filters to see the others"
    )


def test_the_filter_choices_are_seeded_and_keep_under_the_row_limit() -> None:
    order = provider_order(COUNTS, 10, seed=0)
    assert order == provider_order(COUNTS, 10, seed=0)
    assert "empty" not in order
    assert sum(COUNTS[provider] for provider in order) <= ROW_LIMIT
    assert set(order) <= set(COUNTS)
    assert len(provider_order(COUNTS, 2, seed=0)) == 2
    limited = provider_order(COUNTS, 10, seed=0, limit=45)
    assert limited and sum(COUNTS[provider] for provider in limited) <= 45
    assert sorted(provider_order({"a": 1, "b": 2, "c": 3}, 10, seed=7)) == ["a", "b", "c"]


def test_each_choice_adds_its_offerings_so_each_count_differs() -> None:
    rows = cumulative_rows(COUNTS, ["groq", "anthropic", "openai"])
    assert rows == [10, 50, 150]
    assert len(set(rows)) == len(rows)


def test_the_checks_carry_the_targets_in_their_units() -> None:
    first = Timing(count=10, median_ms=1500.0, p95_ms=1900.0, min_ms=1200.0, max_ms=2100.0)
    change = Timing(count=20, median_ms=620.0, p95_ms=900.0, min_ms=300.0, max_ms=950.0)
    started = Timing(count=10, median_ms=800.0, p95_ms=900.0, min_ms=700.0, max_ms=950.0)
    render, changed, server = checks(first, started, 4200.0, change, "mart 20,000 offerings")
    assert (render.measure, render.value, render.unit, render.status) == (MEASURE, 1.5, " s", "met")
    assert render.target is not None and render.target.limit == FIRST_RENDER_LIMIT_S
    assert (changed.value, changed.unit, changed.status) == (620.0, " ms", "missed")
    assert changed.target is not None and changed.target.limit == FILTER_LIMIT_MS
    assert (server.value, server.status) == (4.2, "reported")
    assert "p95 1.90 s" in render.note and "10 visits" in render.note and "mart 20,000 offerings" in render.note
    assert "the run starts at 0.80 s" in render.note
    assert "p95 900 ms" in changed.note and "20 changes" in changed.note
    table = markdown_table([MeasureResult(MEASURE, "dashboard compare page", [render, changed, server])])
    assert "| 18 | compare page first render, median | 1.50 s | < 2.00 s | met |" in table
    assert "| 18 | compare page filter change, median | 620 ms | < 500 ms | missed |" in table


def test_the_quick_plan_is_smaller() -> None:
    assert PLANS["quick"].renders < PLANS["full"].renders
    assert PLANS["quick"].filters < PLANS["full"].filters
