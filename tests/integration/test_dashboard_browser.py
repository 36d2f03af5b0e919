"""The dashboard in a real browser: `streamlit run` over the sample database (filled by one sample-mode run), driven
through headless Chromium. The compare page's rows, filters, copied links, saved views and CSV, a model's price chart,
and a screenshot of every page (written to test-artifacts/screenshots/, or MODELATLAS_TEST_ARTIFACTS/screenshots/).

Without a Chromium these tests skip, saying how to install one; with MODELATLAS_REQUIRE_BROWSER=1 (CI) they fail.
"""

from __future__ import annotations

import csv
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from modelatlas.dashboard import presets
from modelatlas.dashboard.data import fetch_view, mart_rows
from modelatlas.dashboard.queries import DEFAULT_COLUMNS, ROW_LIMIT, FilterState
from modelatlas.warehouse import Warehouse
from modelatlas.warehouse.service import connect
from tests.browser import (
    EXCEPTION,
    REQUIRE_VARIABLE,
    DashboardServer,
    browser_required,
    captions,
    choose,
    chosen,
    find_chromium,
    grid_row_count,
    is_on,
    launch_chromium,
    missing_chromium,
    open_page,
    page_list,
    page_url,
    read_grid,
    rerun,
    running_dashboard,
    same_cell,
    screenshot,
    settled,
    shown_value,
    wait_for_chosen,
    wait_for_query,
    wait_for_rows,
)
from tests.conftest import free_port

pytestmark = pytest.mark.integration

PAGES = page_list()
VIEWPORT = {"width": 1600, "height": 1200}
# Tall enough for a page's whole content: Streamlit scrolls its main area, not the document a screenshot captures.
SCREENSHOT_VIEWPORT = {"width": 1600, "height": 2400}
TIMEOUT_MS = 60_000
# Headers of the compare page's columns (its `label`).
DISPLAY_NAME = "Display name"
PROVIDER = "Provider"
INPUT_PRICE = "Input price (usd/mtok)"
CONTEXT_WINDOW = "Context window"


# Session-scoped and autouse, so it comes before the sample database's run: without Chromium nothing waits for it.
@pytest.fixture(scope="session", autouse=True)
def chromium() -> str:
    """The Chromium to drive; the tests skip without one, or fail when MODELATLAS_REQUIRE_BROWSER=1."""
    found = find_chromium()
    if found is None:
        if browser_required():
            pytest.fail(f"{REQUIRE_VARIABLE}=1, but {missing_chromium()}")
        pytest.skip(missing_chromium())
    return found


@pytest.fixture(scope="module")
def server(
    chromium: str, sample_marts: Warehouse, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DashboardServer]:
    """The dashboard serving the sample database on a free port."""
    log = tmp_path_factory.mktemp("dashboard-browser") / "streamlit.log"
    with running_dashboard(sample_marts.connection().database, free_port(), log) as running:
        yield running


@pytest.fixture(scope="module")
def browser(chromium: str) -> Iterator[Browser]:
    """Headless Chromium, for the module."""
    with sync_playwright() as playwright:
        launched = launch_chromium(playwright, chromium)
        yield launched
        launched.close()


def _new_page(browser: Browser, viewport: dict[str, int] = VIEWPORT) -> Page:
    context = browser.new_context(viewport=viewport, accept_downloads=True)  # type: ignore[arg-type]
    context.set_default_timeout(TIMEOUT_MS)
    return context.new_page()


@pytest.fixture
def page(browser: Browser, server: DashboardServer) -> Iterator[Page]:
    """A page in a browser context of its own (no cookies, storage or session shared with another test)."""
    opened = _new_page(browser)
    yield opened
    opened.context.close()


@pytest.fixture(scope="module")
def provider(sample_marts: Warehouse) -> str:
    """A provider with a few dozen offerings in the sample: enough to sort, few enough to read every row."""
    with connect(sample_marts.reader_connection()) as conn:
        row = conn.execute(
            "select provider from marts.mart_model_comparison group by provider having count(*) between 10 and 60 "
            "order by count(*) desc, provider limit 1"
        ).fetchone()
    assert row, "the sample has no provider with 10 to 60 offerings"
    return str(row[0])


@pytest.fixture(scope="module")
def model_id(sample_marts: Warehouse) -> str:
    """A canonical model offered by one provider, with the most price intervals in the sample's timeline."""
    with connect(sample_marts.reader_connection()) as conn:
        row = conn.execute(
            "select c.canonical_model_id from marts.mart_model_comparison as c "
            "join marts.fct_price_timeline as t on t.canonical_model_id = c.canonical_model_id "
            "and t.provider = c.provider "
            "where c.canonical_model_id in (select canonical_model_id from marts.mart_model_comparison "
            "group by canonical_model_id having count(*) = 1) "
            "group by c.canonical_model_id order by count(*) desc, c.canonical_model_id limit 1"
        ).fetchone()
    assert row, "the sample prices no model offered by a single provider"
    return str(row[0])


def _offerings(total: int, shown: int | None = None) -> str:
    """The compare page's caption for `shown` of `total` offerings."""
    shown = total if shown is None else shown
    if shown > ROW_LIMIT:
        return f"the first {ROW_LIMIT} matching offerings of {total}: narrow the filters to see the others"
    return f"{shown} of {total} offerings"


def _expected(warehouse: Warehouse, state: FilterState) -> list[str]:
    """The display names the compare view of `state` lists, in order, read from the mart."""
    table = fetch_view(warehouse.reader_connection(), state)
    position = table.columns.index("display_name")
    return [str(row[position]) for row in table.rows]


@dataclass(frozen=True)
class CompareWidgets:
    """What the compare page's widgets show."""

    search: str
    provider: list[str]
    tier: list[str]
    capability: list[str]
    columns: list[str]
    weights: str
    min_context_window: str
    max_input_price: str
    sort: str
    descending: bool


# The multiselects among them, and their widget keys.
MULTISELECTS = {"provider": "f_provider", "tier": "f_tier", "capability": "f_capability", "columns": "f_columns"}


def _widgets(page: Page, like: CompareWidgets | None = None) -> CompareWidgets:
    """What the compare page's widgets show; with `like`, once each multiselect shows as many values as there."""
    if like is not None:
        for name, key in MULTISELECTS.items():
            wait_for_chosen(page, key, len(getattr(like, name)))
    return CompareWidgets(
        search=shown_value(page, "f_q"),
        provider=chosen(page, "f_provider"),
        tier=chosen(page, "f_tier"),
        capability=chosen(page, "f_capability"),
        columns=chosen(page, "f_columns"),
        weights=shown_value(page, "f_open_weights"),
        min_context_window=shown_value(page, "f_min_context_window"),
        max_input_price=shown_value(page, "f_max_input_price_per_mtok"),
        sort=shown_value(page, "f_sort"),
        descending=is_on(page, "f_desc"),
    )


def _no_exception(page: Page) -> None:
    boxes = page.locator(EXCEPTION)
    assert boxes.count() == 0, [text[:2000] for text in boxes.all_inner_texts()]


def _type(page: Page, key: str, text: str) -> None:
    """Type into a text or number box and commit it (Enter)."""
    box = page.locator(f".st-key-{key} input").first
    box.fill(text)
    box.press("Enter")


def _open_saved_views(page: Page) -> None:
    page.locator("summary").filter(has_text="Saved views").click()
    page.locator(".st-key-preset_name input").wait_for()


def test_the_compare_page_shows_the_mart(page: Page, server: DashboardServer, sample_marts: Warehouse) -> None:
    total = mart_rows(sample_marts.reader_connection())
    assert total
    open_page(page, server.url)
    _no_exception(page)
    assert page.get_by_role("heading", name="Compare models").is_visible()
    assert _offerings(total) in captions(page)
    assert grid_row_count(page) == min(total, ROW_LIMIT)
    grid = read_grid(page, limit=10)
    assert grid.column(DISPLAY_NAME) == _expected(sample_marts, FilterState())[:10]


def test_a_filter_narrows_the_table(
    page: Page, server: DashboardServer, sample_marts: Warehouse, provider: str
) -> None:
    total = mart_rows(sample_marts.reader_connection())
    assert total
    open_page(page, server.url)
    rerun(page, lambda: choose(page, "f_provider", provider))
    wait_for_query(page, {"provider": [provider]})
    expected = _expected(sample_marts, FilterState(providers=(provider,)))
    assert 0 < len(expected) < total
    assert _offerings(total, len(expected)) in captions(page)
    wait_for_rows(page, len(expected))
    grid = read_grid(page)
    assert grid.total == len(expected)
    assert set(grid.column(PROVIDER)) == {provider}
    assert grid.column(DISPLAY_NAME) == expected


def test_the_link_of_a_sorted_filtered_view_opens_the_same_view(
    browser: Browser, page: Page, server: DashboardServer, sample_marts: Warehouse, provider: str
) -> None:
    open_page(page, server.url)
    rerun(page, lambda: choose(page, "f_provider", provider))
    rerun(page, lambda: choose(page, "f_sort", INPUT_PRICE))
    rerun(page, lambda: page.locator(".st-key-f_desc label").click())
    rerun(page, lambda: _type(page, "f_min_context_window", "8000"))
    wait_for_query(
        page,
        {"provider": [provider], "min_context_window": ["8000"], "sort": ["input_price_per_mtok"], "desc": ["1"]},
    )
    shown, widgets, link = read_grid(page), _widgets(page), page.url
    assert len(widgets.columns) == len(DEFAULT_COLUMNS)
    assert widgets.provider == [provider]
    assert widgets.sort == INPUT_PRICE
    assert widgets.descending
    assert widgets.min_context_window == "8000"
    state = FilterState(
        providers=(provider,),
        ranges={"context_window": (Decimal(8000), None)},
        sort="input_price_per_mtok",
        descending=True,
    )
    assert shown.column(DISPLAY_NAME) == _expected(sample_marts, state)
    # Sorted by price, not by name: the order itself is part of what the link must carry.
    assert shown.column(DISPLAY_NAME) != sorted(shown.column(DISPLAY_NAME))

    fresh = _new_page(browser)
    try:
        open_page(fresh, link)
        _no_exception(fresh)
        assert fresh.url == link
        assert _widgets(fresh, like=widgets) == widgets
        assert captions(fresh) == captions(page)
        assert read_grid(fresh) == shown
    finally:
        fresh.context.close()


def test_a_saved_view_saves_and_loads(
    browser: Browser, page: Page, server: DashboardServer, sample_marts: Warehouse, provider: str
) -> None:
    name = f"browser view {uuid.uuid4().hex[:8]}"
    query = {"provider": [provider], "sort": ["context_window"], "desc": ["1"]}
    try:
        open_page(page, f"{server.url}/?provider={provider}&sort=context_window&desc=1")
        _open_saved_views(page)
        rerun(page, lambda: _type(page, "preset_name", name))
        rerun(page, lambda: page.locator(".st-key-preset_save button").click())
        assert page.get_by_text(f"saved '{name}'").is_visible()
        saved = {view.name: view for view in presets.list_views(sample_marts.app_connection())}
        assert saved[name].query == {"provider": [provider], "sort": "context_window", "desc": "1"}

        other = _new_page(browser)
        try:
            open_page(other, server.url)
            total = mart_rows(sample_marts.reader_connection())
            assert total and _offerings(total) in captions(other)
            _open_saved_views(other)
            if shown_value(other, "preset_choice") != name:  # the only view is chosen already
                rerun(other, lambda: choose(other, "preset_choice", name))
            rerun(other, lambda: other.locator(".st-key-preset_load button").click())
            wait_for_query(other, query)
            assert other.get_by_text(f"loaded '{name}'").is_visible()
            assert wait_for_chosen(other, "f_provider", 1) == [provider]
            assert shown_value(other, "f_sort") == CONTEXT_WINDOW
            assert is_on(other, "f_desc")
            state = FilterState(providers=(provider,), sort="context_window", descending=True)
            expected = _expected(sample_marts, state)
            assert _offerings(total, len(expected)) in captions(other)
            assert read_grid(other, limit=10).column(DISPLAY_NAME) == expected[:10]
        finally:
            other.context.close()
    finally:
        presets.delete_view(sample_marts.app_connection(), name)


def test_the_csv_download_is_the_table_shown(
    page: Page, server: DashboardServer, sample_marts: Warehouse, provider: str
) -> None:
    columns = ["display_name", "provider", "context_window", "input_price_per_mtok", "output_price_per_mtok"]
    open_page(page, f"{server.url}/?provider={provider}&sort=input_price_per_mtok&desc=1&columns={','.join(columns)}")
    grid = read_grid(page)
    # Every column is in view (the grid draws only those); the first, without a header, links to the model pages.
    assert grid.columns == len(grid.headers) == len(columns) + 1, grid.headers
    assert all(link.startswith("model?model=") for link in grid.column(""))
    with page.expect_download() as download:
        page.get_by_role("button", name="Download CSV").click()
    assert download.value.suggested_filename == "model_comparison.csv"
    with Path(download.value.path()).open(newline="") as file:
        header, *rows = list(csv.reader(file))
    assert header == columns
    assert len(rows) == grid.total == len(grid.rows) > 1
    mismatched = [
        (index, shown, written)
        for index, (shown, written) in enumerate(zip(grid.headed(), rows, strict=True))
        if not all(same_cell(a, b) for a, b in zip(shown, written, strict=True))
    ]
    assert not mismatched, mismatched[:5]


def test_a_model_page_draws_its_price_chart(page: Page, server: DashboardServer, model_id: str) -> None:
    open_page(page, page_url(server.url, "model", default=False, query=f"model={model_id}"))
    chart = page.locator(".js-plotly-plot").first
    chart.wait_for(state="visible")
    _no_exception(page)
    assert chart.locator(".scatterlayer .trace").count() >= 1


@pytest.mark.parametrize(
    ("position", "url_path"), [(position, entry[3]) for position, entry in enumerate(PAGES)], ids=[p[3] for p in PAGES]
)
def test_every_page_draws_without_an_exception(
    browser: Browser, server: DashboardServer, model_id: str, position: int, url_path: str
) -> None:
    query = f"model={model_id}" if url_path == "model" else ""
    shot = _new_page(browser, SCREENSHOT_VIEWPORT)
    try:
        open_page(shot, page_url(server.url, url_path, default=position == 0, query=query))
        settled(shot)
        path = screenshot(shot, f"{position + 1:02d}-{url_path}")
        assert path.stat().st_size > 0
        _no_exception(shot)
    finally:
        shot.context.close()
