"""The code location loads: every asset, check, schedule and sensor, with no phantom upstream assets."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from modelatlas.assets.genai_prices import ASSET_KEYS
from modelatlas.definitions import build_definitions
from modelatlas.settings import PROJECT_ROOT

MART = dg.AssetKey(["marts", "mart_model_prices_current"])


@pytest.fixture(scope="module")
def definitions() -> dg.Definitions:
    return build_definitions()


def test_every_dependency_is_a_defined_asset(definitions: dg.Definitions) -> None:
    graph = definitions.resolve_asset_graph()
    defined = set(graph.get_all_asset_keys())
    assert set(ASSET_KEYS.values()) | {MART} <= defined
    for key in defined:
        assert graph.get(key).parent_keys <= defined, f"{key.to_user_string()} depends on an undefined asset"
    assert all(graph.get(key).is_materializable for key in defined)


def test_dbt_models_sit_downstream_of_the_raw_assets_they_read(definitions: dg.Definitions) -> None:
    graph = definitions.resolve_asset_graph()
    staging_prices = dg.AssetKey(["staging", "stg_genai_prices__prices"])
    assert ASSET_KEYS["prices"] in graph.get(staging_prices).parent_keys
    upstream = dg.AssetSelection.assets(MART).upstream().resolve(graph)
    assert {ASSET_KEYS["prices"], ASSET_KEYS["loads"], staging_prices} <= upstream


def test_dbt_tests_are_asset_checks_on_marts_and_sources(definitions: dg.Definitions) -> None:
    graph = definitions.resolve_asset_graph()
    checked = {check_key.asset_key for check_key in graph.asset_check_keys}
    assert MART in checked
    assert ASSET_KEYS["prices"] in checked, "source tests should be checks on the dlt asset"


def test_groups_kinds_and_descriptions(definitions: dg.Definitions) -> None:
    graph = definitions.resolve_asset_graph()
    for key in ASSET_KEYS.values():
        node = graph.get(key)
        assert node.group_name == "genai_prices"
        assert {"dlt", "postgres"} <= set(node.kinds)
        assert node.description
    assert graph.get(MART).group_name == "marts"
    assert graph.get(MART).description


def test_schedules_and_sensors(definitions: dg.Definitions, monkeypatch: pytest.MonkeyPatch) -> None:
    schedule = definitions.resolve_schedule_def("genai_prices_schedule")
    assert schedule.cron_schedule == "*/10 * * * *"
    assert schedule.description
    assert definitions.resolve_sensor_def("log_failed_runs").description
    monkeypatch.setenv("MODELATLAS_GENAI_PRICES_CRON", "0 * * * *")
    assert build_definitions().resolve_schedule_def("genai_prices_schedule").cron_schedule == "0 * * * *"


def test_every_raw_table_has_a_blocking_quality_gate_and_a_freshness_policy(definitions: dg.Definitions) -> None:
    graph = definitions.resolve_asset_graph()
    raw = {key for key in graph.get_all_asset_keys() if key.path[0].startswith("raw_")}
    # genai-prices 5, LiteLLM 3, six catalogs, Hugging Face's model_stats, OpenRouter's price_points
    assert len(raw) == 16
    gates = {key.asset_key for key in graph.asset_check_keys if key.name == "quality_gate"}
    assert gates == raw
    for key in raw:
        assert graph.get(key).freshness_policy is not None, key
        [spec] = [s for s in graph.get(key).check_keys if s.name == "quality_gate"]
        assert graph.get_check_spec(spec).blocking
    assert definitions.resolve_sensor_def("source_freshness").description


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
