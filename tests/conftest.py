"""Shared fixtures: a throwaway embedded warehouse per test session, isolated from the user's settings."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelatlas.pipelines.providers import PROVIDERS
from modelatlas.settings import warehouse_settings
from modelatlas.simulator import build_simulator, sample_environment
from modelatlas.warehouse import ConnectionInfo, Warehouse

# Settings a developer may have exported that would point tests at their real warehouse or providers.
_ISOLATED_VARIABLES = (
    "MODELATLAS_WAREHOUSE_URL",
    "MODELATLAS_WAREHOUSE_PASSWORD",
    "MODELATLAS_DAGSTER_DATABASE",
    "MODELATLAS_LOG_FORMAT",
    "MODELATLAS_WAREHOUSE_DATABASE",
    "DAGSTER_HOME",
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    "GEMINI_API_KEY",
    "MISTRAL_API_KEY",
    "HF_TOKEN",
    "OPENROUTER_API_KEY",
    "MODELATLAS_LITELLM_URL",
)


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def warehouse_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """MODELATLAS_HOME for the whole session: a fresh folder, a free port, no published-registry fetch."""
    home = tmp_path_factory.mktemp("modelatlas-home")
    # Providers whose key is optional always run: the simulator answers for them, never the internet.
    keyless = [spec for spec in PROVIDERS if not spec.key_required]
    with pytest.MonkeyPatch.context() as patch, build_simulator(keyless) as simulator:
        for name in _ISOLATED_VARIABLES:
            patch.delenv(name, raising=False)
        patch.setenv("MODELATLAS_HOME", str(home))
        patch.setenv("MODELATLAS_WAREHOUSE_PORT", str(free_port()))
        # The registry's published JSON cannot be reached from CI; the packaged data is what loads.
        patch.setenv("MODELATLAS_GENAI_PRICES_URL", "")
        for name, value in sample_environment(simulator, keyless).items():
            # The LiteLLM price file too: no test reads the real one.
            if name.endswith("_BASE_URL") or name == "MODELATLAS_LITELLM_URL":
                patch.setenv(name, value)
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
