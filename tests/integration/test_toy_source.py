"""A source added through one spec appears everywhere sources are listed, and loads."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.definitions.freshness import FreshnessState, FreshnessStateChange

from modelatlas.definitions import build_definitions
from modelatlas.pipelines import registry
from modelatlas.pipelines.engine import load_standalone
from modelatlas.redaction import redact
from modelatlas.reference import configuration_table, sources_table
from modelatlas.simulator import build_simulator, sample_environment
from modelatlas.warehouse import ConnectionInfo, read_only_query
from tests.conftest import isolated_variables
from tests.toy_source import THINGS, TOY

RAW_THINGS = dg.AssetKey(["raw_toy", "things"])


@pytest.fixture
def toy() -> Iterator[None]:
    registry.register(TOY)
    try:
        yield
    finally:
        registry.unregister(TOY)


@pytest.mark.usefixtures("toy")
def test_the_toy_has_assets_a_schedule_and_freshness_in_the_definitions(connection: ConnectionInfo) -> None:
    definitions = build_definitions()
    graph = definitions.resolve_asset_graph()
    node = graph.get(RAW_THINGS)
    assert node.group_name == "toy"
    assert node.freshness_policy is not None
    assert node.freshness_policy.fail_window.to_timedelta() == timedelta(minutes=21)  # type: ignore[attr-defined]
    assert any(key.name == "quality_gate" for key in node.check_keys)
    schedule = definitions.resolve_schedule_def("toy_schedule")
    assert schedule.cron_schedule == "*/7 * * * *"
    sensor = definitions.resolve_sensor_def("source_freshness")
    with dg.DagsterInstance.ephemeral() as instance:
        instance.report_runless_asset_event(
            FreshnessStateChange(
                key=RAW_THINGS,
                previous_state=FreshnessState.PASS,
                new_state=FreshnessState.FAIL,
                state_change_timestamp=datetime.now(UTC).timestamp(),
            )
        )
        result = sensor(dg.build_sensor_context(instance=instance, definitions=definitions))  # type: ignore[operator]
    assert "raw_toy/things (fail" in result.skip_message


@pytest.mark.usefixtures("toy")
def test_the_toy_is_simulated_redacted_isolated_documented_and_loads(
    connection: ConnectionInfo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with build_simulator(registry.sources()) as simulator:
        env = sample_environment(simulator, registry.sources())
        assert env["MODELATLAS_TOY_BASE_URL"] == simulator.root_url("toy")
        assert env["MODELATLAS_TOY_REGION"] == "sample"
        loaded = load_standalone(TOY, connection, tmp_path, env=env)
    assert loaded.report().startswith(f"toy: {len(THINGS)} things ({len(THINGS)} added, 0 removed, 0 changed) from ")
    assert loaded.stats.pages == 3
    _, rows = read_only_query(connection, "select count(*), sum(weight) from raw_toy.things")
    assert rows == [(len(THINGS), sum(int(t["weight"]) for t in THINGS))]

    monkeypatch.setenv("TOY_API_KEY", "toy-secret-0123456789")
    assert redact("the key is toy-secret-0123456789") == "the key is ***"
    assert {"TOY_API_KEY", "MODELATLAS_TOY_BASE_URL", "MODELATLAS_TOY_REGION", "MODELATLAS_TOY_CRON"} <= set(
        isolated_variables()
    )
    assert "| Toy (`toy`) | price registry | `TOY_API_KEY` |" in sources_table(registry.sources())
    assert "| `MODELATLAS_TOY_CRON` | `*/7 * * * *` |" in configuration_table(registry.sources())


def test_a_catalog_joins_the_models_dbt_unions_and_a_price_source_the_price_history() -> None:
    catalog = dataclasses.replace(TOY, kind="catalog")
    registry.register(catalog)
    try:
        assert "toy" in registry.dbt_vars()["catalog_providers"]
        assert "toy" not in registry.dbt_vars()["price_sources"]
    finally:
        registry.unregister(catalog)
    assert "toy" not in registry.dbt_vars()["catalog_providers"]
