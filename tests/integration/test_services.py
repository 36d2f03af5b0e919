"""Production mode with real processes: `modelatlas up --sample`, a launched run the dbt sensor follows, status,
sql --sample, down; and `modelatlas simulator` on its own."""

from __future__ import annotations

import csv
import io
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from modelatlas.pipelines.registry import sources
from modelatlas.services import graphql
from modelatlas.simulator import sample_key
from tests.conftest import free_port, isolated_variables

MODELATLAS = str(Path(sys.executable).parent / "modelatlas")
SOURCE_KEY = ["raw_openai", "models"]
STAGING_KEY = ["staging", "stg_openai__models"]
MART_KEY = ["marts", "dim_models"]
LAUNCH = """
mutation($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
  }
}
"""
RUN_STATUS = "query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }"
MATERIALIZATIONS = """
query($path: [String!]!) {
  assetOrError(assetKey: {path: $path}) {
    ... on Asset { assetMaterializations(limit: 5) { runId timestamp tags { key value } } }
  }
}
"""


@dataclass(frozen=True)
class Up:
    """The services one `up --sample` started, and what the test needs to reach them."""

    home: Path
    env: dict[str, str]
    url: str
    simulator_url: str
    output: str


def environment(home: Path, **extra: str) -> dict[str, str]:
    """The environment of a `modelatlas` command: nothing of the developer's, a fresh home and free ports."""
    env = {name: value for name, value in os.environ.items() if name not in isolated_variables()}
    env.update(MODELATLAS_HOME=str(home), MODELATLAS_WAREHOUSE_PORT=str(free_port()), **extra)
    # No schedule fires during the test (a run is launched by hand); the dbt sensor evaluates every 5 s.
    for spec in sources():
        env[spec.variable("CRON")] = "0 0 1 1 *"
    env["MODELATLAS_AUTOMATION_INTERVAL"] = "5"
    return env


def modelatlas(env: dict[str, str], *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    """Run one `modelatlas` command to its end."""
    return subprocess.run([MODELATLAS, *args], env=env, capture_output=True, text=True, timeout=timeout)


def processes_of(home: Path) -> list[int]:
    """Every process whose environment names `home` as MODELATLAS_HOME: the services and all they started."""
    needle = f"MODELATLAS_HOME={home}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if needle in environ and state != "Z":
            found.append(int(entry.name))
    return found


def wait_for(condition: Any, timeout: float, what: str) -> Any:
    """Poll `condition` until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(2)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    """`modelatlas up --sample` on a fresh MODELATLAS_HOME; `down` at the end whatever happened."""
    home = tmp_path_factory.mktemp("services-home")
    ports = {name: str(free_port()) for name in ("UI", "CODE_SERVER", "SIMULATOR")}
    env = environment(
        home,
        MODELATLAS_UI_PORT=ports["UI"],
        MODELATLAS_CODE_SERVER_PORT=ports["CODE_SERVER"],
        MODELATLAS_SIMULATOR_PORT=ports["SIMULATOR"],
    )
    started = modelatlas(env, "up", "--sample")
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        yield Up(
            home,
            env,
            f"http://127.0.0.1:{ports['UI']}",
            f"http://127.0.0.1:{ports['SIMULATOR']}",
            started.stdout,
        )
    finally:
        if (home / "run").exists():
            modelatlas(env, "down")


def test_up_starts_the_webserver_the_daemon_the_code_server_and_the_simulator(up: Up) -> None:
    assert graphql(up.url, "{ version }")["version"]
    for name in ("code_server", "webserver", "daemon", "simulator"):
        assert f"started the {name.replace('_', ' ')}" in up.output
        pid = int((up.home / "run" / f"{name}.pid").read_text())
        os.kill(pid, 0)
        assert (up.home / "logs" / f"{name}.log").stat().st_size > 0
    answer = httpx.get(
        f"{up.simulator_url}/openai/v1/models", headers={"Authorization": f"Bearer {sample_key('openai')}"}
    )
    assert answer.status_code == 200 and answer.json()["data"]
    daemon = '{ instance { daemonHealth { daemonStatus(daemonType: "SCHEDULER") { healthy } } } }'
    wait_for(
        lambda: graphql(up.url, daemon)["instance"]["daemonHealth"]["daemonStatus"]["healthy"], 120, "the scheduler"
    )


def test_up_again_says_it_is_already_up(up: Up) -> None:
    again = modelatlas(up.env, "up", "--sample")
    assert again.returncode == 0
    assert "already up (sample mode)" in again.stdout


def test_up_in_the_other_mode_is_refused(up: Up) -> None:
    real = modelatlas(up.env, "up")
    assert real.returncode == 2
    assert "is up in sample mode" in real.stderr and "modelatlas down" in real.stderr


def latest_materialization(url: str, path: list[str]) -> dict[str, Any] | None:
    data = graphql(url, MATERIALIZATIONS, {"path": path})["assetOrError"]
    events = data.get("assetMaterializations") or []
    return max(events, key=lambda event: float(event["timestamp"])) if events else None


def test_a_launched_source_run_completes_and_the_dbt_sensor_then_builds_its_models(up: Up) -> None:
    params = {
        "selector": {
            "repositoryLocationName": "modelatlas",
            "repositoryName": "__repository__",
            "jobName": "refresh_openai",
        },
        "runConfigData": {},
    }
    launched = graphql(up.url, LAUNCH, {"params": params})["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["run"]["runId"]

    def finished() -> str | None:
        status = graphql(up.url, RUN_STATUS, {"id": run_id})["runOrError"]["status"]
        return status if status in ("SUCCESS", "FAILURE", "CANCELED") else None

    assert wait_for(finished, 600, "the refresh_openai run") == "SUCCESS"
    source = latest_materialization(up.url, SOURCE_KEY)
    assert source is not None and source["runId"] == run_id
    source_version = next(tag["value"] for tag in source["tags"] if tag["key"] == "dagster/data_version")

    def built_from_the_load() -> dict[str, Any] | None:
        staging = latest_materialization(up.url, STAGING_KEY)
        if staging is None:
            return None
        tags = {tag["key"]: tag["value"] for tag in staging["tags"]}
        return staging if tags.get("dagster/input_data_version/raw_openai/models") == source_version else None

    staging = wait_for(built_from_the_load, 900, "the dbt sensor to build stg_openai__models from the new load")
    assert staging["runId"] != run_id, "the source's run loads the source only; the sensor's run builds dbt"
    mart = wait_for(lambda: latest_materialization(up.url, MART_KEY), 300, "dim_models")
    assert float(mart["timestamp"]) >= float(staging["timestamp"])


def test_status_lists_the_services_the_warehouse_and_the_last_runs(up: Up) -> None:
    shown = modelatlas(up.env, "status")
    assert shown.returncode == 0, shown.stderr
    for name in ("code_server", "webserver", "daemon", "simulator"):
        pid = (up.home / "run" / f"{name}.pid").read_text().strip()
        assert any(line.split()[:4] == [name, "running", "pid", pid] for line in shown.stdout.splitlines()), (
            shown.stdout
        )
    assert up.url in shown.stdout
    assert "warehouse: running on 127.0.0.1" in shown.stdout
    assert any(line.split()[:2] == ["refresh_openai", "SUCCESS"] for line in shown.stdout.splitlines()), shown.stdout


def test_sql_sample_reads_the_sample_marts(up: Up) -> None:
    query = "select count(*) as models from marts.dim_models where provider = 'openai'"
    answer = modelatlas(up.env, "sql", "--sample", query)
    assert answer.returncode == 0, answer.stderr
    assert int(next(csv.DictReader(io.StringIO(answer.stdout)))["models"]) > 0
    prices = modelatlas(up.env, "sql", "--sample", "select count(*) as n from marts.mart_model_prices_current")
    assert prices.returncode == 0, prices.stderr
    # Without --sample the main database has no marts: nothing was ever built there.
    assert modelatlas(up.env, "sql", "select count(*) from marts.dim_models").returncode == 2


def test_down_stops_everything_and_leaves_no_process(up: Up) -> None:
    assert processes_of(up.home)
    stopped = modelatlas(up.env, "down")
    assert stopped.returncode == 0, stopped.stderr
    for name in ("daemon", "webserver", "code server", "simulator"):
        assert f"the {name} (pid" in stopped.stdout
    assert "stopped the warehouse" in stopped.stdout
    assert wait_for(lambda: not processes_of(up.home), 30, "every process to end")
    assert not list((up.home / "run").glob("*.pid"))
    status = modelatlas(up.env, "status").stdout.splitlines()
    assert "no service is running" in status[1]
    assert not any(line.split()[1:2] == ["running"] for line in status), status
    again = modelatlas(up.env, "down")
    assert "no ModelAtlas service was running" in again.stdout


def test_a_taken_port_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = environment(tmp_path, MODELATLAS_UI_PORT=str(port), MODELATLAS_CODE_SERVER_PORT=str(free_port()))
        refused = modelatlas(env, "up")
    assert refused.returncode == 2
    assert f"port {port} on 127.0.0.1 is taken" in refused.stderr and "--port" in refused.stderr
    assert not list((tmp_path / "run").glob("*.pid"))


def test_the_simulator_serves_every_source_until_interrupted(tmp_path: Path) -> None:
    port = free_port()
    env = environment(tmp_path)
    process = subprocess.Popen(
        [MODELATLAS, "simulator", "--port", str(port)], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        variables = {}
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith("export "):
                name, _, value = line.removeprefix("export ").strip().partition("=")
                variables[name] = value
            elif line.startswith("# serving"):
                break
        assert variables["OPENAI_API_KEY"] == sample_key("openai")
        assert variables["MODELATLAS_OPENAI_BASE_URL"] == f"http://127.0.0.1:{port}/openai/v1"
        answer = httpx.get(
            variables["MODELATLAS_OPENAI_BASE_URL"] + "/models",
            headers={"Authorization": f"Bearer {variables['OPENAI_API_KEY']}"},
        )
        assert answer.status_code == 200 and answer.json()["data"]
        for spec in sources():
            if spec.simulator is not None:
                # A plain URL, or a list of named URLs (the status pages): every one on the simulator.
                value = variables[spec.variable(spec.simulator.setting)]
                urls = [entry.split(":", 1)[1] if "=" in entry else entry for entry in value.split(",")]
                assert all(url.startswith(f"http://127.0.0.1:{port}/{spec.name}") for url in urls), value
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
