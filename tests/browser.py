"""The dashboard as a real server and Chromium driving it: the end-to-end browser tests' helpers, which the
benchmark's dashboard measure uses too.

Playwright's own browser download does not work everywhere (closed networks), so the tests drive an installed
Chromium: `MODELATLAS_CHROMIUM`, else `/usr/bin/chromium`, else `chromium`, `chromium-browser` or `google-chrome` on
PATH. Streamlit's table is a canvas (glide-data-grid); what it shows is read from the grid's accessibility table, which
holds the rows in view, scrolled through to read them all.
"""

from __future__ import annotations

import ast
import contextlib
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from playwright.sync_api import Browser, Locator, Page, Playwright, expect

from modelatlas.dashboard.settings import APP_PATH, streamlit_command
from modelatlas.settings import PROJECT_ROOT

CHROMIUM_VARIABLE = "MODELATLAS_CHROMIUM"
REQUIRE_VARIABLE = "MODELATLAS_REQUIRE_BROWSER"
ARTIFACTS_VARIABLE = "MODELATLAS_TEST_ARTIFACTS"
DEFAULT_ARTIFACTS = "test-artifacts"
DEFAULT_CHROMIUM = "/usr/bin/chromium"
CHROMIUM_COMMANDS = ("chromium", "chromium-browser", "google-chrome")
INSTALL_HINT = (
    "install Chromium (`apt-get install chromium`, as root) or set MODELATLAS_CHROMIUM to a Chromium or Chrome binary"
)
# Headless in a container, and without Chromium's own connections (updates, sync), which a closed network refuses.
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
HOST = "127.0.0.1"
START_TIMEOUT_S = 90.0
# Streamlit marks its root element with the state of the script run: a page is drawn once it is `notRunning`.
IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
GRID = '[data-testid="stDataFrame"] table[role="grid"]'
EXCEPTION = '[data-testid="stException"]'

# Scrolls the grid from the top and collects the rows of its accessibility table (glide-data-grid renders the rows
# in view only, a moment after each scroll) until every row was seen or `limit` rows were.
_READ_GRID = """
async (grid, limit) => {
  const table = () => grid.querySelector('table[role="grid"]');
  const scroller = grid.querySelector('.dvn-scroller');
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  // The accessibility table follows the grid's data 200 ms late (it is debounced).
  await sleep(250);
  const total = Number(table().getAttribute('aria-rowcount')) - 1;
  const wanted = limit === null ? total : Math.min(limit, total);
  const first = () => table().querySelector('tbody tr')?.getAttribute('aria-rowindex') ?? null;
  const rows = new Map();
  const collect = () => {
    for (const tr of table().querySelectorAll('tbody tr')) {
      const cells = Array.from(tr.querySelectorAll('td'), (td) => td.textContent);
      rows.set(Number(tr.getAttribute('aria-rowindex')) - 2, cells);
    }
  };
  const settle = async (before) => {
    for (let waited = 0; waited < 3000 && first() === before; waited += 25) await sleep(25);
    await sleep(50);
  };
  if (scroller && scroller.scrollTop !== 0) {
    const before = first();
    scroller.scrollTop = 0;
    await settle(before);
  }
  collect();
  while (scroller && rows.size < wanted) {
    const top = scroller.scrollTop;
    const before = first();
    scroller.scrollTop = top + Math.max(scroller.clientHeight - 3 * 35, 35);
    if (scroller.scrollTop === top) break;
    await settle(before);
    collect();
  }
  return {
    total,
    columns: Number(table().getAttribute('aria-colcount')),
    headers: Array.from(table().querySelectorAll('thead th'), (th) => th.textContent),
    rows: Array.from(rows.entries()).sort((a, b) => a[0] - b[0]).slice(0, wanted).map((entry) => entry[1]),
  };
}
"""


def find_chromium(
    env: Mapping[str, str] | None = None, which: Callable[[str], str | None] = shutil.which
) -> str | None:
    """The Chromium to drive: MODELATLAS_CHROMIUM when set, else /usr/bin/chromium, else one on PATH; None if none."""
    env = os.environ if env is None else env
    configured = env.get(CHROMIUM_VARIABLE, "").strip()
    if configured:
        return which(configured)
    for candidate in (DEFAULT_CHROMIUM, *CHROMIUM_COMMANDS):
        found = which(candidate)
        if found:
            return found
    return None


def browser_required(env: Mapping[str, str] | None = None) -> bool:
    """Whether a missing Chromium fails the browser tests instead of skipping them (MODELATLAS_REQUIRE_BROWSER=1)."""
    env = os.environ if env is None else env
    return env.get(REQUIRE_VARIABLE, "").strip().lower() in {"1", "true", "yes"}


def missing_chromium(env: Mapping[str, str] | None = None) -> str:
    """Why there is no Chromium, and how to get one."""
    env = os.environ if env is None else env
    configured = env.get(CHROMIUM_VARIABLE, "").strip()
    if configured:
        return f"{CHROMIUM_VARIABLE}={configured} is not an executable Chromium: {INSTALL_HINT}"
    return f"no Chromium found ({DEFAULT_CHROMIUM}, or {', '.join(CHROMIUM_COMMANDS)} on PATH): {INSTALL_HINT}"


def browser_header(env: Mapping[str, str] | None = None, which: Callable[[str], str | None] = shutil.which) -> str:
    """One line saying whether the dashboard's browser tests will run, skip or fail, and why."""
    chromium = find_chromium(env, which)
    if chromium:
        return f"dashboard browser tests: run, with Chromium at {chromium}"
    if browser_required(env):
        return f"dashboard browser tests: FAIL ({REQUIRE_VARIABLE}=1): {missing_chromium(env)}"
    return f"dashboard browser tests: skipped: {missing_chromium(env)}"


def artifacts_dir(env: Mapping[str, str] | None = None) -> Path:
    """Where the tests write their artifacts: MODELATLAS_TEST_ARTIFACTS, else test-artifacts/ in the project."""
    env = os.environ if env is None else env
    folder = Path(env.get(ARTIFACTS_VARIABLE, "").strip() or DEFAULT_ARTIFACTS)
    return folder if folder.is_absolute() else PROJECT_ROOT / folder


def page_list(app_path: Path = APP_PATH) -> list[tuple[str, str, str, str]]:
    """The dashboard's pages (file, title, icon, url path) as app.py lists them, read without running the app."""
    for node in ast.parse(app_path.read_text()).body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "PAGE_LIST" for t in node.targets):
            value: ast.expr | None = node.value
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id == "PAGE_LIST":
            value = node.value
        else:
            continue
        if value is not None:
            return [
                (str(file), str(title), str(icon), str(path)) for file, title, icon, path in ast.literal_eval(value)
            ]
    raise ValueError(f"{app_path} has no PAGE_LIST")


def page_url(base: str, path: str, default: bool, query: str = "") -> str:
    """A page's address: the default page at the root, any other at its url path; with a query string if given."""
    address = base.rstrip("/") + "/" + ("" if default else path)
    return f"{address}?{query}" if query else address


@dataclass
class DashboardServer:
    """A running `streamlit run` of the dashboard and where its output goes."""

    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log_tail(self, chars: int = 4000) -> str:
        """The end of the server's output (for a failure's message)."""
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


def dashboard_environment(database: str, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The server's environment: the caller's (MODELATLAS_HOME, the warehouse port) reading `database`."""
    base = dict(os.environ if env is None else env)
    return {**base, "MODELATLAS_WAREHOUSE_DATABASE": database}


def start_dashboard(
    database: str, port: int, log_path: Path, env: Mapping[str, str] | None = None, host: str = HOST
) -> DashboardServer:
    """Start the dashboard (`streamlit run`, as `modelatlas dashboard` does) over `database`; it may not answer yet."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            streamlit_command(host, port),
            cwd=PROJECT_ROOT,
            env=dashboard_environment(database, env),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    return DashboardServer(f"http://{host}:{port}", process, log_path)


def wait_until_answering(server: DashboardServer, timeout_s: float = START_TIMEOUT_S) -> float:
    """Wait until the server's health check answers; seconds it took. Raises RuntimeError if it stops or never does."""
    started = time.monotonic()
    while True:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"the dashboard stopped (exit {server.process.returncode}) before answering:\n{server.log_tail()}"
            )
        try:
            with urllib.request.urlopen(f"{server.url}/_stcore/health", timeout=2) as answer:
                if answer.status == 200:
                    return time.monotonic() - started
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        if time.monotonic() - started > timeout_s:
            raise RuntimeError(f"the dashboard did not answer within {timeout_s:.0f} s:\n{server.log_tail()}")
        time.sleep(0.1)


def stop_dashboard(server: DashboardServer, timeout_s: float = 10.0) -> None:
    """Stop the server: SIGTERM, then SIGKILL if it has not stopped within `timeout_s`."""
    if server.process.poll() is not None:
        return
    server.process.terminate()
    try:
        server.process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait(timeout=timeout_s)


@contextlib.contextmanager
def running_dashboard(
    database: str, port: int, log_path: Path, env: Mapping[str, str] | None = None
) -> Iterator[DashboardServer]:
    """The dashboard over `database`, answering, for the duration of the block."""
    server = start_dashboard(database, port, log_path, env)
    try:
        wait_until_answering(server)
        yield server
    finally:
        stop_dashboard(server)


def launch_chromium(playwright: Playwright, executable: str, extra_args: Sequence[str] = ()) -> Browser:
    """Headless Chromium at `executable`, through Playwright."""
    return playwright.chromium.launch(executable_path=executable, args=[*CHROMIUM_ARGS, *extra_args], headless=True)


def wait_idle(page: Page, timeout_ms: float = 60_000) -> None:
    """Wait until Streamlit has finished the script run the page started (or the one a widget started)."""
    page.wait_for_selector(IDLE, state="attached", timeout=timeout_ms)


def open_page(page: Page, url: str, timeout_ms: float = 60_000) -> None:
    """Go to `url` and wait until the page is drawn."""
    page.goto(url, timeout=timeout_ms)
    wait_idle(page, timeout_ms)


def wait_for_query(page: Page, expected: Mapping[str, Sequence[str]], timeout_ms: float = 60_000) -> None:
    """Wait until the URL's query parameters are exactly `expected` (each a list of values), then for the run to end.

    The page writes the URL during the run a change starts, so once it holds the new view that run has begun.
    """
    page.wait_for_function(
        """(expected) => {
          const params = new URLSearchParams(location.search);
          const names = new Set(params.keys());
          if (names.size !== Object.keys(expected).length) return false;
          return Object.entries(expected).every(
            ([name, values]) => JSON.stringify(params.getAll(name)) === JSON.stringify(values));
        }""",
        arg={name: list(values) for name, values in expected.items()},
        polling="raf",
        timeout=timeout_ms,
    )
    wait_idle(page, timeout_ms)


# Notes in the page when Streamlit's root element enters the `running` state (the attribute's old values are kept,
# so a run that started and ended between two checks is still seen).
_WATCH_RUNS = """
() => {
  const app = document.querySelector('[data-testid="stApp"]');
  window.__modelatlasRunStarted = false;
  window.__modelatlasObserver?.disconnect();
  window.__modelatlasObserver = new MutationObserver((records) => {
    for (const record of records) {
      if (record.oldValue === 'running' || app.getAttribute('data-test-script-state') === 'running') {
        window.__modelatlasRunStarted = true;
      }
    }
  });
  window.__modelatlasObserver.observe(app, {attributes: true, attributeOldValue: true,
    attributeFilter: ['data-test-script-state']});
}
"""


def rerun(page: Page, action: Callable[[], None], timeout_ms: float = 60_000) -> None:
    """Do `action` (a widget change, a click) and wait until the script run it starts has ended."""
    page.evaluate(_WATCH_RUNS)
    action()
    page.wait_for_function(
        "(idle) => window.__modelatlasRunStarted === true && document.querySelector(idle) !== null",
        arg=IDLE,
        polling="raf",
        timeout=timeout_ms,
    )


def captions(page: Page) -> list[str]:
    """The texts of the page's captions, in order."""
    texts: list[str] = page.locator('[data-testid="stCaptionContainer"]').all_inner_texts()
    return [text.strip() for text in texts if text.strip()]


def wait_for_rows(page: Page, count: int, timeout_ms: float = 60_000) -> None:
    """Wait until the page's table holds `count` rows."""
    page.wait_for_function(
        "([grid, count]) => Number(document.querySelector(grid)?.getAttribute('aria-rowcount')) === count + 1",
        arg=[GRID, count],
        polling="raf",
        timeout=timeout_ms,
    )


def grid_row_count(page: Page) -> int:
    """How many rows the page's table holds (its accessibility table counts the header row too)."""
    return int(page.locator(GRID).first.get_attribute("aria-rowcount") or 0) - 1


@dataclass(frozen=True)
class Grid:
    """What the table shows: its headers and the text of each row's cells (the columns in view)."""

    total: int
    columns: int
    headers: list[str]
    rows: list[list[str]]

    def column(self, header: str) -> list[str]:
        """One column's cells, top to bottom."""
        position = self.headers.index(header)
        return [row[position] for row in self.rows]

    def headed(self) -> list[list[str]]:
        """The rows without the columns that have no header (an index column, such as the compare page's links)."""
        kept = [position for position, header in enumerate(self.headers) if header.strip()]
        return [[row[position] for position in kept] for row in self.rows]


def read_grid(page: Page, limit: int | None = None) -> Grid:
    """The rows the page's table shows, all of them (or the first `limit`), scrolling through the grid."""
    page.wait_for_selector(GRID, state="attached")
    found = page.locator('[data-testid="stDataFrame"]').first.evaluate(_READ_GRID, limit)
    grid = Grid(int(found["total"]), int(found["columns"]), list(found["headers"]), [list(r) for r in found["rows"]])
    wanted = grid.total if limit is None else min(limit, grid.total)
    if len(grid.rows) != wanted:
        raise AssertionError(f"read {len(grid.rows)} of the table's {wanted} rows")
    return grid


def same_cell(shown: str, written: str) -> bool:
    """Whether a cell the grid shows and the CSV's cell are the same value (numbers compared as numbers)."""
    if shown.strip() == written.strip():
        return True
    try:
        return abs(float(shown) - float(written)) <= 1e-9 * max(1.0, abs(float(written)))
    except ValueError:
        return False


def choose(page: Page, key: str, option: str) -> None:
    """Pick `option` in the selectbox or multiselect whose widget key is `key` (typing to find it in long lists)."""
    box = page.locator(f'.st-key-{key} input[role="combobox"]')
    box.click()
    box.fill(option)
    page.get_by_role("option", name=option, exact=True).click()
    # A multiselect's list stays open after a choice: close it, or it covers what is below.
    if page.get_by_role("listbox").count() and page.get_by_role("listbox").first.is_visible():
        page.keyboard.press("Escape")


def _tags(page: Page, key: str) -> Locator:
    return page.locator(f'.st-key-{key} [aria-label="Selected values"] [data-tag]')


def chosen(page: Page, key: str) -> list[str]:
    """The values a multiselect shows as chosen."""
    return [str(tag.get_attribute("aria-label")) for tag in _tags(page, key).all()]


def wait_for_chosen(page: Page, key: str, count: int, timeout_ms: float = 30_000) -> list[str]:
    """The values a multiselect shows once it shows `count` of them (it draws them a moment after the run ends)."""
    expect(_tags(page, key)).to_have_count(count, timeout=timeout_ms)
    return chosen(page, key)


def shown_value(page: Page, key: str) -> str:
    """The value a text, number or select box shows."""
    return str(page.locator(f".st-key-{key} input").first.input_value())


def is_on(page: Page, key: str) -> bool:
    """Whether a toggle or checkbox is on."""
    return bool(page.locator(f".st-key-{key} input").first.is_checked())


def settled(page: Page, timeout_ms: float = 30_000) -> None:
    """Wait until the page is drawn through: the run ended, nothing stale, every lazily loaded element (a chart shows
    a skeleton until its code has loaded) in place, the fonts loaded. Before a screenshot."""
    wait_idle(page, timeout_ms)
    page.wait_for_function(
        """() => document.querySelectorAll('[data-stale="true"], [data-testid="stSkeleton"]').length === 0""",
        polling="raf",
        timeout=timeout_ms,
    )
    page.evaluate("() => document.fonts.ready.then(() => true)")


def screenshot(page: Page, name: str, env: Mapping[str, str] | None = None) -> Path:
    """A full-page screenshot in the artifacts' screenshots/ folder; its path."""
    folder = artifacts_dir(env) / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
