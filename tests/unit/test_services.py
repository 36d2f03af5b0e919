"""The pieces of production mode that need no Dagster: settings, PID files and state, process groups, ports."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from modelatlas.errors import ConfigurationError
from modelatlas.instance import instance_config
from modelatlas.services import (
    Layout,
    ServiceRecord,
    State,
    group_members,
    is_alive,
    port_taken,
    process_start,
    service_settings,
    service_statuses,
    stop_group,
    write_workspace,
)
from modelatlas.settings import DEFAULT_MAX_CONCURRENT_RUNS, max_concurrent_runs
from modelatlas.warehouse import ConnectionInfo


def test_service_settings_from_the_environment(tmp_path: Path) -> None:
    settings = service_settings({"MODELATLAS_HOME": str(tmp_path)})
    assert (settings.host, settings.port, settings.url) == ("127.0.0.1", 3000, "http://127.0.0.1:3000")
    custom = service_settings(
        {"MODELATLAS_HOME": str(tmp_path), "MODELATLAS_UI_PORT": "3601", "MODELATLAS_CODE_SERVER_PORT": "3602"}
    )
    assert (custom.port, custom.code_server_port, custom.home) == (3601, 3602, tmp_path)
    with pytest.raises(ConfigurationError, match="MODELATLAS_UI_PORT='web' is not a port number"):
        service_settings({"MODELATLAS_UI_PORT": "web"})


@pytest.mark.parametrize(("raw", "expected"), [(None, DEFAULT_MAX_CONCURRENT_RUNS), ("", 3), (" 5 ", 5), ("1", 1)])
def test_max_concurrent_runs_setting(raw: str | None, expected: int) -> None:
    env = {} if raw is None else {"MODELATLAS_MAX_CONCURRENT_RUNS": raw}
    assert max_concurrent_runs(env) == expected


@pytest.mark.parametrize("raw", ["0", "-2", "many"])
def test_max_concurrent_runs_must_be_a_positive_number(raw: str) -> None:
    with pytest.raises(ConfigurationError, match="MODELATLAS_MAX_CONCURRENT_RUNS"):
        max_concurrent_runs({"MODELATLAS_MAX_CONCURRENT_RUNS": raw})


def test_the_run_limit_reaches_dagster_yaml() -> None:
    storage = ConnectionInfo("127.0.0.1", 5433, "modelatlas", "secret-password", "dagster")
    config = instance_config(storage, 7)
    assert config["concurrency"]["runs"]["max_concurrent_runs"] == 7  # type: ignore[index]


def test_the_workspace_points_at_the_code_server(tmp_path: Path) -> None:
    path = write_workspace(Layout(tmp_path), 4321)
    assert yaml.safe_load(path.read_text()) == {
        "load_from": [{"grpc_server": {"host": "127.0.0.1", "port": 4321, "location_name": "modelatlas"}}]
    }


def test_state_round_trips_and_statuses_tell_running_stopped_and_stale(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    me = os.getpid()
    state = State(
        sample=True, dagster_home="/x", services={"webserver": ServiceRecord(me, 1.0, process_start(me), "u")}
    )
    state.write(layout)
    assert State.read(layout) == state
    layout.pid_file("webserver").write_text(f"{me}\n")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    layout.pid_file("daemon").write_text(f"{dead.pid}\n")
    statuses = {status.name: status for status in service_statuses(layout)}
    assert statuses["webserver"].state == "running" and statuses["webserver"].url == "u"
    assert statuses["daemon"].state == "stale"
    assert "stale PID file" in statuses["daemon"].describe()
    # A PID recycled by another process is not the service.
    state.services["webserver"] = ServiceRecord(me, 1.0, 1, "u")
    assert service_statuses(layout, state)[1].state == "stale"
    layout.state_file.write_text("{not json")
    assert State.read(layout) is None


def test_stop_group_ends_a_whole_process_group_and_kills_what_ignores_sigterm() -> None:
    polite = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import subprocess, sys; subprocess.run([sys.executable, '-c', 'import time; time.sleep(60)'])",
        ],
        start_new_session=True,
    )
    deadline = time.monotonic() + 30
    while len(group_members(polite.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(group_members(polite.pid)) == 2
    assert stop_group(polite.pid, timeout_s=10) is False
    polite.wait()
    assert group_members(polite.pid) == [] and not is_alive(polite.pid)

    stubborn = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print(1, flush=True); time.sleep(60)",
        ],
        start_new_session=True,
        stdout=subprocess.PIPE,
    )
    assert stubborn.stdout is not None and stubborn.stdout.readline()
    assert stop_group(stubborn.pid, timeout_s=1) is True
    stubborn.wait()


def test_port_taken() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        assert port_taken("127.0.0.1", port)
    assert not port_taken("127.0.0.1", port)
