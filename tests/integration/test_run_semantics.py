"""One run semantics: `modelatlas run` and the daemon build the same dbt models for the same source changes.

Three states of the sources (the fixtures, a price change, new models): one database follows them with `run` per
state; another with the job of each source the states change, as its schedule would launch it, and a real
`dagster-daemon` (reaching one code server, as in production mode) whose dbt_automation sensor builds what became due.
The daemon runs once a state's sources have landed, until its builds settle: its sensor sees the state's changes
together, as `run` does. (Sources that land apart are built in more runs, never into more models: the soak's
checks.)
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import replace

import dagster as dg
import pytest

from bench.soak.scenario import Scenario
from modelatlas.definitions import build_definitions
from modelatlas.pipelines.registry import sources
from modelatlas.runner import prepare, run
from modelatlas.services import (
    CODE_SERVER,
    DAEMON,
    Layout,
    commands,
    listening,
    service_settings,
    spawn,
    stop_group,
    write_workspace,
)
from modelatlas.settings import environment
from modelatlas.simulator import build_simulator, sample_environment
from modelatlas.warehouse import Warehouse
from tests.conftest import free_port

STATES = 3
# The sources the states change, and every dbt model: the other sources' raw tables stay empty in both databases.
CHANGED = ("litellm", "openai", "openrouter")
SELECTION = " or ".join([*(f"group:{name}" for name in CHANGED), "kind:dbt"])
IN_FLIGHT = [dg.DagsterRunStatus[name] for name in ("QUEUED", "NOT_STARTED", "STARTING", "STARTED")]


@pytest.fixture(scope="module")
def scenario() -> Iterator[Scenario]:
    """Every source served by the simulator, every schedule switched off (the test launches the runs)."""
    with build_simulator(sources()) as simulator:
        overrides = {**sample_environment(simulator, sources()), "MODELATLAS_AUTOMATION_INTERVAL": "5"}
        overrides |= {spec.variable("CRON"): "0 0 1 1 *" for spec in sources()}
        with environment(overrides):
            yield Scenario(simulator)


def database(warehouse: Warehouse, name: str) -> dict[str, str]:
    """The variables of one test database and its own Dagster instance."""
    return {"MODELATLAS_WAREHOUSE_DATABASE": name, "DAGSTER_HOME": str(warehouse.settings.home / f"dagster-{name}")}


@pytest.fixture(scope="module")
def built_by_run(warehouse: Warehouse, scenario: Scenario) -> list[set[str]]:
    """The dbt models `modelatlas run` builds in each state."""
    built = []
    with environment(database(warehouse, "semantics_run")):
        target = Warehouse(replace(warehouse.settings, database="semantics_run"))
        for state in range(STATES):
            scenario.serve(state)
            summary = run(selection=SELECTION, warehouse=target)
            assert summary.success, summary.failures
            built.append({key for key in summary.materialized if not key.startswith("raw_")})
    return built


def _dbt_builds_since(instance: dg.DagsterInstance, since: float) -> set[str]:
    runs = instance.get_run_records(filters=dg.RunsFilter(job_name="__ASSET_JOB"))
    built: set[str] = set()
    for record in runs:
        if record.create_timestamp.timestamp() < since:
            continue
        for entry in instance.all_logs(record.dagster_run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION):
            assert entry.dagster_event is not None and entry.dagster_event.asset_key is not None
            built.add(entry.dagster_event.asset_key.to_user_string())
    return built


def _in_flight(instance: dg.DagsterInstance) -> bool:
    return bool(instance.get_runs(filters=dg.RunsFilter(job_name="__ASSET_JOB", statuses=IN_FLIGHT), limit=1))


def _settled(instance: dg.DagsterInstance, definitions: dg.Definitions, since: float, timeout_s: float) -> None:
    """Wait for the sensor's first dbt run since `since` (every state here changes something), then until no dbt run
    is queued or running and the build rule, evaluated afresh, finds nothing more due."""
    deadline = time.monotonic() + timeout_s
    while True:
        assert time.monotonic() < deadline, "the daemon's dbt runs did not settle"
        time.sleep(2)
        runs = instance.get_run_records(filters=dg.RunsFilter(job_name="__ASSET_JOB"), limit=1)
        if not runs or runs[0].create_timestamp.timestamp() < since or _in_flight(instance):
            continue
        due = dg.evaluate_automation_conditions(
            defs=definitions, instance=instance, asset_selection=dg.AssetSelection.kind("dbt")
        )
        if due.total_requested == 0 and not _in_flight(instance):
            return


@pytest.fixture(scope="module")
def built_by_daemon(warehouse: Warehouse, scenario: Scenario, built_by_run: list[set[str]]) -> Iterator[list[set[str]]]:
    """The dbt models the daemon's sensor builds after each state's source runs."""
    built = []
    with environment(database(warehouse, "semantics_daemon")):
        prepare(Warehouse(replace(warehouse.settings, database="semantics_daemon")))
        definitions = build_definitions()
        # As in production mode: one code server, the daemon reaching it through a workspace file.
        layout = Layout(warehouse.settings.home / "semantics")
        settings = replace(service_settings(), home=layout.home, code_server_port=free_port())
        lines = commands(settings, layout)
        write_workspace(layout, settings.code_server_port)
        code_server = spawn(layout, CODE_SERVER, lines[CODE_SERVER], os.environ, None)
        try:
            deadline = time.monotonic() + 600
            while not listening("127.0.0.1", settings.code_server_port):
                assert time.monotonic() < deadline, "the code server did not start"
                time.sleep(1)
            with dg.DagsterInstance.get() as instance:
                for state in range(STATES):
                    scenario.serve(state)
                    started = time.time()
                    for name in CHANGED:
                        result = definitions.resolve_job_def(f"refresh_{name}").execute_in_process(
                            instance=instance, raise_on_error=False
                        )
                        assert result.success, name
                    daemon = spawn(layout, DAEMON, lines[DAEMON], os.environ, None)
                    try:
                        _settled(instance, definitions, started, timeout_s=900)
                    finally:
                        stop_group(daemon.pid, 20)
                    built.append(_dbt_builds_since(instance, started))
            yield built
        finally:
            stop_group(code_server.pid, 20)


def test_run_and_the_daemon_build_the_same_models_in_every_state(
    built_by_run: list[set[str]], built_by_daemon: list[set[str]]
) -> None:
    assert built_by_run[0], "the first state builds every model"
    for state in range(STATES):
        assert built_by_daemon[state] == built_by_run[state], f"state {state}"
    # A price change and new models rebuild what reads them, not everything.
    assert 0 < len(built_by_run[1]) < len(built_by_run[0])
    assert "staging/stg_openai__models" in built_by_run[2] - built_by_run[1]
