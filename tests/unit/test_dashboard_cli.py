"""`modelatlas dashboard`: the set-up first, then Streamlit on the host and port asked, in the environment it needs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from modelatlas import cli, runner
from modelatlas.dashboard.settings import APP_PATH
from modelatlas.sample import SAMPLE_DATABASE
from modelatlas.warehouse import Warehouse


@pytest.fixture
def launched(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[dict[str, Any]]:
    """What the command prepared and started, instead of a set-up and a server."""
    calls: list[dict[str, Any]] = []
    monkeypatch.setenv("MODELATLAS_HOME", str(tmp_path))
    for name in ("MODELATLAS_WAREHOUSE_URL", "MODELATLAS_WAREHOUSE_DATABASE", "MODELATLAS_DASHBOARD_PORT"):
        monkeypatch.delenv(name, raising=False)

    def prepare(warehouse: Warehouse) -> None:
        calls.append({"prepared": warehouse.connection().database})

    def call(command: list[str], cwd: Any, env: dict[str, str]) -> int:
        calls.append({"command": command, "database": env.get("MODELATLAS_WAREHOUSE_DATABASE")})
        return 0

    monkeypatch.setattr(runner, "prepare", prepare)
    monkeypatch.setattr(cli.subprocess, "call", call)
    return calls


def test_the_dashboard_runs_the_set_up_then_streamlit(
    launched: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELATLAS_DASHBOARD_PORT", "8600")
    assert cli.main(["dashboard", "--host", "0.0.0.0"]) == 0
    prepared, started = launched
    assert prepared == {"prepared": "modelatlas"}
    command = started["command"]
    assert command[1:3] == ["run", str(APP_PATH)]
    assert command[command.index("--server.address") + 1] == "0.0.0.0"
    assert command[command.index("--server.port") + 1] == "8600"
    assert started["database"] is None


def test_the_sample_dashboard_reads_the_sample_database(launched: list[dict[str, Any]]) -> None:
    assert cli.main(["dashboard", "--sample", "--port", "8700"]) == 0
    prepared, started = launched
    assert prepared == {"prepared": SAMPLE_DATABASE}
    assert started["database"] == SAMPLE_DATABASE
    assert started["command"][started["command"].index("--server.port") + 1] == "8700"
