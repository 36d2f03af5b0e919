"""The browser tests' own logic: which Chromium, skip or fail, where screenshots go, the page list, reading cells."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from modelatlas.settings import PROJECT_ROOT
from tests.browser import (
    Grid,
    artifacts_dir,
    browser_header,
    browser_required,
    find_chromium,
    missing_chromium,
    page_list,
    page_url,
    same_cell,
)


def installed(*found: str) -> Callable[[str], str | None]:
    """A `which` that finds only these names or paths."""
    return lambda name: name if name in found else None


def test_chromium_is_the_configured_one_else_debians_else_one_on_path() -> None:
    assert find_chromium({}, installed("/usr/bin/chromium", "chromium")) == "/usr/bin/chromium"
    assert find_chromium({}, installed("chromium-browser", "google-chrome")) == "chromium-browser"
    assert find_chromium({}, installed("google-chrome")) == "google-chrome"
    assert find_chromium({}, installed()) is None
    configured = {"MODELATLAS_CHROMIUM": "/opt/chrome/chrome"}
    assert find_chromium(configured, installed("/opt/chrome/chrome", "/usr/bin/chromium")) == "/opt/chrome/chrome"
    # A configured path that is not there is reported, not silently replaced by another browser.
    assert find_chromium(configured, installed("/usr/bin/chromium")) is None


def test_a_missing_chromium_skips_unless_the_browser_is_required() -> None:
    assert not browser_required({})
    assert not browser_required({"MODELATLAS_REQUIRE_BROWSER": "0"})
    assert browser_required({"MODELATLAS_REQUIRE_BROWSER": "1"})
    assert browser_required({"MODELATLAS_REQUIRE_BROWSER": " true "})
    message = missing_chromium({})
    assert "apt-get install chromium" in message and "MODELATLAS_CHROMIUM" in message
    assert "MODELATLAS_CHROMIUM=/opt/c is not an executable" in missing_chromium({"MODELATLAS_CHROMIUM": "/opt/c"})


@pytest.mark.parametrize(
    ("env", "found", "expected"),
    [
        ({}, ("/usr/bin/chromium",), "dashboard browser tests: run, with Chromium at /usr/bin/chromium"),
        ({}, (), "dashboard browser tests: skipped: no Chromium found"),
        ({"MODELATLAS_REQUIRE_BROWSER": "1"}, (), "dashboard browser tests: FAIL (MODELATLAS_REQUIRE_BROWSER=1)"),
    ],
)
def test_the_report_header_says_whether_the_browser_tests_run(
    env: dict[str, str], found: Sequence[str], expected: str
) -> None:
    assert browser_header(env, installed(*found)).startswith(expected)


def test_artifacts_go_to_the_configured_folder_else_test_artifacts(tmp_path: Path) -> None:
    assert artifacts_dir({}) == PROJECT_ROOT / "test-artifacts"
    assert artifacts_dir({"MODELATLAS_TEST_ARTIFACTS": str(tmp_path)}) == tmp_path
    assert artifacts_dir({"MODELATLAS_TEST_ARTIFACTS": "out/ci"}) == PROJECT_ROOT / "out" / "ci"


def test_the_page_list_is_read_from_the_app_without_running_it(tmp_path: Path) -> None:
    pages = page_list()
    assert pages[0][0] == "compare.py" and pages[0][3] == "compare"
    assert {"compare", "side-by-side", "model", "market", "status", "spend"} <= {page[3] for page in pages}
    app = tmp_path / "app.py"
    app.write_text('import streamlit\nPAGE_LIST: list[tuple[str, str, str, str]] = [("a.py", "A", ":x:", "a")]\n')
    assert page_list(app) == [("a.py", "A", ":x:", "a")]
    app.write_text("PAGES = []\n")
    with pytest.raises(ValueError, match="no PAGE_LIST"):
        page_list(app)


def test_page_urls() -> None:
    assert page_url("http://127.0.0.1:8501/", "compare", default=True) == "http://127.0.0.1:8501/"
    assert page_url("http://127.0.0.1:8501", "model", default=False, query="model=x") == (
        "http://127.0.0.1:8501/model?model=x"
    )


def test_grid_columns_and_the_headed_cells() -> None:
    grid = Grid(2, 3, ["", "Display name", "Provider"], [["model?model=a", "A", "p"], ["model?model=b", "B", "q"]])
    assert grid.column("Display name") == ["A", "B"]
    assert grid.headed() == [["A", "p"], ["B", "q"]]


@pytest.mark.parametrize(
    ("shown", "written", "same"),
    [
        ("GPT Q", "GPT Q", True),
        ("", "", True),
        ("0.15", "0.15", True),
        ("3", "3.0", True),
        ("0.1", "0.10000000000000001", True),
        ("0.1", "0.11", False),
        ("", "0", False),
        ("GPT Q", "GPT Q mini", False),
    ],
)
def test_a_cell_shown_and_its_csv_value_compare_as_numbers_when_they_are(shown: str, written: str, same: bool) -> None:
    assert same_cell(shown, written) is same
