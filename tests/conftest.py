"""Shared fixtures: a throwaway embedded warehouse per test session, isolated from the user's settings."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelatlas.alerts.settings import alert_variables
from modelatlas.api.settings import api_variables
from modelatlas.pipelines.quality.validation import GX_ENVIRONMENT
from modelatlas.pipelines.registry import sources
from modelatlas.settings import warehouse_settings
from modelatlas.simulator import build_simulator, sample_environment
from modelatlas.warehouse import ConnectionInfo, Warehouse

# Settings a developer may have exported that would point tests at their real warehouse or sources.
_WAREHOUSE_VARIABLES = (
    "MODELATLAS_WAREHOUSE_URL",
    "MODELATLAS_WAREHOUSE_PASSWORD",
    "MODELATLAS_READER_PASSWORD",
    "MODELATLAS_APP_PASSWORD",
    "MODELATLAS_API_PASSWORD",
    "MODELATLAS_DAGSTER_DATABASE",
    "MODELATLAS_LOG_FORMAT",
    "MODELATLAS_WAREHOUSE_DATABASE",
    "DAGSTER_HOME",
    "MODELATLAS_TS_RETENTION_DAYS",
    "MODELATLAS_OUTAGE_MIN_FAILURES",
    "MODELATLAS_STATUS_MARTS_CRON",
    "MODELATLAS_DAILY_MARTS_CRON",
)


def isolated_variables() -> list[str]:
    """Every variable the tests clear: the warehouse's and every variable of every source."""
    return [
        *_WAREHOUSE_VARIABLES,
        *alert_variables(),
        *api_variables(),
        *(name for spec in sources() for name in spec.variables()),
    ]


# Test files that take minutes, collected first: with several workers (`make test`) each starts early instead of
# being left to run alone at the end.
LONGEST_FIRST = tuple(
    f"tests/integration/{name}"
    for name in (
        "test_run_semantics.py",
        "test_whole_runs.py",
        "test_services.py",
        "test_alerts_end_to_end.py",
        "test_cli.py",
    )
)


def pytest_configure(config: pytest.Config) -> None:
    """A temporary folder of this session's own: sessions of other checkouts never clear it while it runs."""
    if config.option.basetemp is None:
        config.option.basetemp = tempfile.mkdtemp(prefix="modelatlas-tests-")
    # pytest-xdist's workers ignore SIGINT, and a child process inherits that: Ctrl-C would never reach the commands
    # the tests interrupt. Python's own handler is not inherited; the children start with the default again.
    if hasattr(config, "workerinput"):
        signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The longest test files first, every file's tests in their own order."""

    def rank(item: pytest.Item) -> int:
        path = item.nodeid.split("::")[0]
        return LONGEST_FIRST.index(path) if path in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Remove the session's folder when everything passed; keep it to look into otherwise."""
    basetemp = Path(session.config.option.basetemp)
    if exitstatus == 0 and basetemp.name.startswith("modelatlas-tests-"):
        shutil.rmtree(basetemp, ignore_errors=True)


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def warehouse_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """MODELATLAS_HOME for the whole session: a fresh folder, a free port, no published-registry fetch."""
    home = tmp_path_factory.mktemp("modelatlas-home")
    # Sources whose key is optional (or that need none) always run: the simulator answers for them, never the
    # internet. The registry's published JSON is switched off: the packaged data is what loads.
    keyless = [spec for spec in sources() if spec.credential is None or not spec.credential.required]
    with pytest.MonkeyPatch.context() as patch, build_simulator(keyless) as simulator:
        for name in isolated_variables():
            patch.delenv(name, raising=False)
        for name, value in GX_ENVIRONMENT.items():
            patch.setenv(name, value)
        patch.setenv("MODELATLAS_HOME", str(home))
        patch.setenv("MODELATLAS_WAREHOUSE_PORT", str(free_port()))
        for name, value in sample_environment(simulator, keyless).items():
            if not name.endswith("_REGION"):
                patch.setenv(name, value)
        patch.setenv("MODELATLAS_GENAI_PRICES_URL", "")
        yield home


@pytest.fixture(scope="session")
def warehouse(warehouse_home: Path) -> Iterator[Warehouse]:
    """The session's embedded warehouse, started once and stopped at the end."""
    assert os.environ["MODELATLAS_HOME"] == str(warehouse_home)
    server = Warehouse(warehouse_settings())
    server.ensure_ready()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def connection(warehouse: Warehouse) -> ConnectionInfo:
    """Connection details of the session warehouse's main database."""
    return warehouse.connection()


@pytest.fixture(scope="session")
def sample_marts(warehouse: Warehouse) -> Warehouse:
    """The sample database filled by one sample-mode run (every source from the simulator), the roles granted: the
    warehouse the dashboard's page tests read."""
    from modelatlas.runner import run
    from modelatlas.sample import sample_warehouse

    summary = run(warehouse=warehouse, sample=True)
    assert summary.success, summary.failures
    sample = sample_warehouse(warehouse)
    sample.ensure_roles()
    return sample


@pytest.fixture(scope="session")
def empty_marts(warehouse: Warehouse) -> Warehouse:
    """A database set up (schemas, roles) in which nothing was ever loaded or built."""
    from dataclasses import replace

    empty = Warehouse(replace(warehouse.settings, database="modelatlas_never_built"))
    empty.ensure_ready()
    empty.ensure_roles()
    return empty


def pytest_report_header(config: pytest.Config) -> str:
    """Whether the dashboard's browser tests will run, skip (no Chromium) or fail (MODELATLAS_REQUIRE_BROWSER=1)."""
    from tests.browser import browser_header

    return browser_header()
