"""The code location loads: every source's assets, checks, schedule and freshness, the dbt models and their build
rule, the sensors, and no phantom upstream assets."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from modelatlas.assets.dbt import DBT_POOL
from modelatlas.assets.sources import GATE_CHECK, asset_key, source_pool
from modelatlas.definitions import build_definitions
from modelatlas.pipelines.registry import sources
from modelatlas.settings import PROJECT_ROOT

MART = dg.AssetKey(["marts", "mart_model_prices_current"])
REGISTRY_PRICES = dg.AssetKey(["raw_genai_prices", "prices"])


@pytest.fixture(scope="module")
def definitions() -> dg.Definitions:
    return build_definitions()


@pytest.fixture(scope="module")
def graph(definitions: dg.Definitions) -> dg.AssetGraph:
    return definitions.resolve_asset_graph()  # type: ignore[return-value]


def test_every_dependency_is_a_defined_asset(graph: dg.AssetGraph) -> None:
    defined = set(graph.get_all_asset_keys())
    assert MART in defined
    for key in defined:
        assert graph.get(key).parent_keys <= defined, f"{key.to_user_string()} depends on an undefined asset"
    assert all(graph.get(key).is_materializable for key in defined)


def test_every_table_of_every_source_is_an_asset_in_its_group_with_its_pool(graph: dg.AssetGraph) -> None:
    raw = {key for key in graph.get_all_asset_keys() if key.path[0].startswith("raw_") or key.path[0] == "ts"}
    assert raw == {asset_key(spec, table) for spec in sources() for table in spec.tables}
    for spec in sources():
        for table in spec.tables:
            node = graph.get(asset_key(spec, table))
            assert node.group_name == spec.asset_group
            assert {"dlt", "postgres"} <= set(node.kinds)
            assert node.description == table.description
            assert node.freshness_policy is not None
            assert node.pools == {source_pool(spec)}


def test_every_table_with_a_suite_has_a_blocking_quality_gate(graph: dg.AssetGraph) -> None:
    gates = {key.asset_key for key in graph.asset_check_keys if key.name == GATE_CHECK}
    assert gates == {asset_key(spec, t) for spec in sources() for t in spec.tables if t.suite is not None}
    for check_key in graph.asset_check_keys:
        if check_key.name == GATE_CHECK:
            assert graph.get_check_spec(check_key).blocking


def test_dbt_models_sit_downstream_of_the_raw_assets_they_read_and_build_by_one_rule(graph: dg.AssetGraph) -> None:
    staging_prices = dg.AssetKey(["staging", "stg_genai_prices__prices"])
    assert REGISTRY_PRICES in graph.get(staging_prices).parent_keys
    upstream = dg.AssetSelection.assets(MART).upstream().resolve(graph)
    assert {REGISTRY_PRICES, staging_prices} <= upstream
    models = [key for key in graph.get_all_asset_keys() if "dbt" in graph.get(key).kinds]
    assert len(models) > 30
    labels = {graph.get(key).automation_condition.get_label() for key in models}  # type: ignore[union-attr]
    assert labels == {"never built, code changed, or an input's data changed"}
    assert all(graph.get(key).pools == {DBT_POOL} for key in models)
    assert graph.get(MART).group_name == "marts"
    assert graph.get(MART).description


def test_dbt_tests_are_asset_checks_on_marts_and_sources(graph: dg.AssetGraph) -> None:
    checked = {check_key.asset_key for check_key in graph.asset_check_keys if check_key.name != GATE_CHECK}
    assert MART in checked
    assert REGISTRY_PRICES in checked, "source tests should be checks on the dlt asset"


def test_one_schedule_per_source_loads_that_source_only(
    definitions: dg.Definitions, monkeypatch: pytest.MonkeyPatch
) -> None:
    for spec in sources():
        schedule = definitions.resolve_schedule_def(f"{spec.name}_schedule")
        assert schedule.cron_schedule == spec.cadence
        assert schedule.description
        job = definitions.resolve_job_def(f"refresh_{spec.name}")
        assert set(job.asset_layer.selected_asset_keys) == {asset_key(spec, table) for table in spec.tables}
    monkeypatch.setenv("MODELATLAS_GENAI_PRICES_CRON", "0 * * * *")
    assert build_definitions().resolve_schedule_def("genai_prices_schedule").cron_schedule == "0 * * * *"


def test_the_sensors_run_by_default(definitions: dg.Definitions) -> None:
    for name in ("log_failed_runs", "source_freshness", "dbt_automation"):
        sensor = definitions.resolve_sensor_def(name)
        assert sensor.description
        assert sensor.default_status == dg.DefaultSensorStatus.RUNNING


def test_dbt_builds_go_ahead_of_queued_source_loads(definitions: dg.Definitions) -> None:
    sensor = definitions.resolve_sensor_def("dbt_automation")
    assert isinstance(sensor, dg.AutomationConditionSensorDefinition)
    assert sensor.run_tags == {"dagster/priority": "1"}


def test_dagster_validates_the_workspace(tmp_path: Path) -> None:
    dagster = Path(sys.executable).parent / "dagster"
    completed = subprocess.run(
        [str(dagster), "definitions", "validate", "-w", str(PROJECT_ROOT / "workspace.yaml")],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={"PATH": str(dagster.parent), "HOME": str(tmp_path), "DAGSTER_HOME": str(tmp_path)},
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
