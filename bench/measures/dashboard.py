"""Measure 18: the dashboard's compare page in a real browser, on the warehouse of measure 5 (one real cycle at ten
times the realistic catalog: every source, dbt building every mart, `mart_model_comparison` included).

The dashboard runs as `modelatlas dashboard` runs it (`streamlit run`, reading through the read-only role) and headless
Chromium opens it. Times are taken by the page's own clock (`performance.now()`), checked on every animation frame:

- first render: from the start of the navigation until the script run has ended, the caption counts the offerings and
  the table is in place, each time in a new browser context (a new session), on a server that keeps query results
  for less than the pause between two visits, so every visit reads the warehouse;
- filter change: from the click on a provider in the Provider filter until the run it starts has ended and the caption
  counts the offerings of the providers chosen so far, on a server with the default refresh interval (what a user
  changing filters meets: the mart's size and filter choices cached, the new view read from the warehouse).
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from playwright.sync_api import Browser, Page, sync_playwright

from bench.harness import BenchWarehouse, free_port
from bench.results import Check, MeasureResult, Target, median, percentile
from modelatlas.dashboard.queries import ROW_LIMIT
from modelatlas.dashboard.settings import DEFAULT_REFRESH_S
from modelatlas.warehouse import Warehouse
from modelatlas.warehouse.service import connect
from tests.browser import find_chromium, launch_chromium, missing_chromium, running_dashboard

MEASURE = 18
TITLE = "dashboard compare page"
FIRST_RENDER_LIMIT_S = 2.0
FILTER_LIMIT_MS = 500.0
# The first-render server keeps query results this long, under the pause between visits: each visit reads the warehouse.
UNCACHED_REFRESH_S = 0.1
PAUSE_S = 0.5
VIEWPORT = {"width": 1600, "height": 1000}
TIMEOUT_MS = 120_000


@dataclass(frozen=True)
class DashboardPlan:
    """How many first renders and filter changes are timed."""

    renders: int
    filters: int


PLANS = {"full": DashboardPlan(renders=10, filters=20), "quick": DashboardPlan(renders=3, filters=5)}


@dataclass(frozen=True)
class Timing:
    """A summary of timing samples, in milliseconds."""

    count: int
    median_ms: float
    p95_ms: float
    min_ms: float
    max_ms: float


def summarize(samples_ms: Sequence[float]) -> Timing:
    """Median, p95, min and max of at least one sample."""
    return Timing(
        count=len(samples_ms),
        median_ms=median(samples_ms),
        p95_ms=percentile(samples_ms, 0.95),
        min_ms=min(samples_ms),
        max_ms=max(samples_ms),
    )


def caption(shown: int, total: int) -> str:
    """The compare page's caption over its table when `shown` of the mart's `total` offerings match."""
    if shown > ROW_LIMIT:
        return f"the first {ROW_LIMIT} matching offerings of {total}: narrow the filters to see the others"
    return f"{shown} of {total} offerings"


def provider_order(counts: Mapping[str, int], wanted: int, seed: int, limit: int = ROW_LIMIT) -> list[str]:
    """At most `wanted` providers in a seeded random order, the filter's successive choices, skipping any that would
    take the offerings matched past `limit`: each choice then changes the caption's count, which tells its view."""
    providers = sorted(provider for provider, rows in counts.items() if rows > 0)
    random.Random(seed).shuffle(providers)
    order: list[str] = []
    matched = 0
    for provider in providers:
        if len(order) == wanted:
            break
        if matched + counts[provider] <= limit:
            order.append(provider)
            matched += counts[provider]
    return order


def cumulative_rows(counts: Mapping[str, int], order: Sequence[str]) -> list[int]:
    """The offerings that match after each choice of `order` is added to the filter."""
    matched, total = [], 0
    for provider in order:
        total += counts[provider]
        matched.append(total)
    return matched


def checks(first: Timing, run_started: Timing, server_first_ms: float, change: Timing, note: str) -> list[Check]:
    """The measure's figures: the first render and the filter change against their targets, the server's first page.

    `run_started` times, in the same visits as `first`, when the script run began: the page's code loaded and its
    session opened; the rest of a first render is the run and the table's drawing.
    """
    return [
        Check(
            MEASURE,
            "compare page first render, median",
            first.median_ms / 1000,
            " s",
            Target("<", FIRST_RENDER_LIMIT_S, " s"),
            f"p95 {first.p95_ms / 1000:.2f} s, max {first.max_ms / 1000:.2f} s over {first.count} visits, each a new "
            f"session reading the warehouse; the run starts at {run_started.median_ms / 1000:.2f} s (median: the "
            f"page's code loaded, the session open); {note}",
        ),
        Check(
            MEASURE,
            "compare page filter change, median",
            change.median_ms,
            " ms",
            Target("<", FILTER_LIMIT_MS, " ms"),
            f"p95 {change.p95_ms:.0f} ms, max {change.max_ms:.0f} ms over {change.count} changes (a provider added to "
            f"the filter each, from the click to the table of the new view); {note}",
        ),
        Check(
            MEASURE,
            "first page after the dashboard starts",
            server_first_ms / 1000,
            " s",
            None,
            "the first visit to a freshly started server also imports the page's modules (left out of the median)",
        ),
    ]


# True, with the page's clock, once the run has ended, the caption reads `text` and the table's grid stands (not stale;
# its code loads lazily, so the grid can appear after the run has ended); false until then. With `providers`, the URL
# must also name that many providers (the view of the latest change).
_DRAWN = """
([text, providers]) => {
  const app = document.querySelector('[data-testid="stApp"]');
  if (!app || app.getAttribute('data-test-script-state') !== 'notRunning') return false;
  const frame = document.querySelector('[data-testid="stDataFrame"]');
  if (!frame || !frame.querySelector('canvas') || frame.closest('[data-stale="true"]')) return false;
  const captions = document.querySelectorAll('[data-testid="stCaptionContainer"]');
  if (!Array.from(captions, (e) => e.innerText.trim()).includes(text)) return false;
  if (providers !== null && new URLSearchParams(location.search).getAll('provider').length !== providers) return false;
  return performance.now();
}
"""
# Notes when the first script run starts (the frontend loaded, its session open): the part of a first render before it.
_MARK_RUN = """
window.__benchRunStarted = null;
new MutationObserver((records, observer) => {
  const app = document.querySelector('[data-testid="stApp"]');
  if (app && app.getAttribute('data-test-script-state') === 'running') {
    window.__benchRunStarted = performance.now();
    observer.disconnect();
  }
}).observe(document, {subtree: true, childList: true, attributes: true, attributeFilter: ['data-test-script-state']});
"""
_MARK_PRESS = """
() => {
  window.__benchPressed = null;
  document.addEventListener('pointerdown', () => { window.__benchPressed = performance.now(); },
    {capture: true, once: true});
}
"""


def _drawn_at(page: Page, text: str, providers: int | None) -> float:
    handle = page.wait_for_function(_DRAWN, arg=[text, providers], polling="raf", timeout=TIMEOUT_MS)
    return float(handle.json_value())


def first_render_ms(browser: Browser, url: str, text: str) -> tuple[float, float]:
    """One visit in a new browser context: milliseconds from the navigation's start until the table is drawn, and
    until the script run started."""
    context = browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
    try:
        context.add_init_script(_MARK_RUN)
        page = context.new_page()
        page.goto(url, timeout=TIMEOUT_MS)
        drawn = _drawn_at(page, text, None)
        return drawn, float(page.evaluate("() => window.__benchRunStarted ?? NaN"))
    finally:
        context.close()


def filter_changes_ms(browser: Browser, url: str, counts: Mapping[str, int], order: Sequence[str]) -> list[float]:
    """Add each provider of `order` to the filter in turn: milliseconds from each click until its view is drawn."""
    total = sum(counts.values())
    context = browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
    samples = []
    try:
        page = context.new_page()
        page.goto(url, timeout=TIMEOUT_MS)
        _drawn_at(page, caption(total, total), None)
        box = page.locator('.st-key-f_provider input[role="combobox"]')
        for chosen, rows in enumerate(cumulative_rows(counts, order), start=1):
            box.click()
            box.fill(order[chosen - 1])
            option = page.get_by_role("option", name=order[chosen - 1], exact=True)
            option.wait_for()
            page.evaluate(_MARK_PRESS)
            option.click()
            drawn = _drawn_at(page, caption(rows, total), chosen)
            samples.append(drawn - float(page.evaluate("() => window.__benchPressed")))
            page.keyboard.press("Escape")
            time.sleep(PAUSE_S)
    finally:
        context.close()
    return samples


def _offerings(info: Any) -> dict[str, int]:
    with connect(info) as conn:
        rows = conn.execute("select provider, count(*) from marts.mart_model_comparison group by provider").fetchall()
    return {str(provider): int(count) for provider, count in rows}


def measure_dashboard(bench: BenchWarehouse, database: str, mode: str, seed: int) -> MeasureResult:
    """Measure 18 on `database` (measure 5's warehouse) at the plan's repetitions (`mode`: full or quick)."""
    plan = PLANS[mode]
    chromium = find_chromium()
    if chromium is None:
        raise RuntimeError(missing_chromium())
    warehouse = Warehouse(replace(bench.warehouse.settings, database=database))
    warehouse.ensure_roles()  # as `modelatlas dashboard` does before it starts the server
    counts = _offerings(warehouse.reader_connection())
    total = sum(counts.values())
    if total == 0:
        raise RuntimeError(f"marts.mart_model_comparison in {database} is empty: the cycle built no comparison")
    order = provider_order(counts, plan.filters, seed)
    logs = bench.home / "dashboard"
    env = dict(os.environ)
    details: dict[str, Any] = {"mart_rows": total, "providers": len(counts), "chromium": chromium}
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright, chromium)
        try:
            uncached = {**env, "MODELATLAS_DASHBOARD_REFRESH_S": str(UNCACHED_REFRESH_S)}
            with running_dashboard(database, free_port(), logs / "first-render.log", uncached) as server:
                server_first, _ = first_render_ms(browser, server.url, caption(total, total))
                renders, starts = [], []
                for _ in range(plan.renders):
                    time.sleep(PAUSE_S)
                    drawn, started = first_render_ms(browser, server.url, caption(total, total))
                    renders.append(drawn)
                    starts.append(started)
            production = {**env, "MODELATLAS_DASHBOARD_REFRESH_S": str(DEFAULT_REFRESH_S)}
            with running_dashboard(database, free_port(), logs / "filter-change.log", production) as server:
                first_render_ms(browser, server.url, caption(total, total))  # the server's imports, not measured
                changes = filter_changes_ms(browser, server.url, counts, order)
        finally:
            browser.close()
    first, run_started, change = summarize(renders), summarize(starts), summarize(changes)
    details |= {
        "server_first_ms": server_first,
        "first_render_ms": renders,
        "run_started_ms": starts,
        "filter_change_ms": changes,
        "providers_added": order,
        "rows_after_each_change": cumulative_rows(counts, order),
    }
    shown = min(total, ROW_LIMIT)
    note = f"mart_model_comparison {total:,} offerings of {len(counts)} providers, {shown:,} rows in the table"
    return MeasureResult(
        measure=MEASURE, title=TITLE, checks=checks(first, run_started, server_first, change, note), details=details
    )
