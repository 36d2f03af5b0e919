"""The quality gate end to end: real simulator, real dlt loads, real Dagster runs and dbt builds, real dq tables."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from modelatlas.pipelines.engine import SourceLoad, load_standalone
from modelatlas.pipelines.openrouter import SPEC as OPENROUTER
from modelatlas.pipelines.registry import sources
from modelatlas.pipelines.spec import Batch
from modelatlas.runner import RunSummary, format_summary, run
from modelatlas.simulator import Fault, build_simulator, sample_environment
from modelatlas.simulator.core import load_fixture
from modelatlas.simulator.openrouter import OpenRouterHandler
from modelatlas.simulator.server import Simulator
from modelatlas.warehouse import ConnectionInfo, Warehouse, read_only_query

DATABASE = "modelatlas_quality"
ANTHROPIC_IDS = {item["id"] for item in load_fixture("anthropic")}


def query(connection: ConnectionInfo, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    _, rows = read_only_query(connection, sql, params)
    return [tuple(row) for row in rows]


def check_description(run_id: str, check: str) -> str | None:
    """The description a check (`<asset>:<check name>`) gave in a run of the current Dagster instance."""
    with dg.DagsterInstance.get() as instance:
        for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION):
            evaluation = entry.get_dagster_event().event_specific_data
            assert isinstance(evaluation, dg.AssetCheckEvaluation)
            if f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}" == check:
                return evaluation.description
    raise AssertionError(f"no evaluation of {check} in run {run_id}")


# --- the "done when": a catalog whose second page vanishes -----------------------------------------------


@pytest.fixture(scope="module")
def gated_world(
    warehouse: Warehouse, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Warehouse, Simulator]]:
    """Every provider served by one simulator, into a database and a Dagster instance of their own."""
    simulator = build_simulator(sources()).start()
    home = tmp_path_factory.mktemp("dagster-quality")
    with pytest.MonkeyPatch.context() as patch:
        for name, value in sample_environment(simulator, sources()).items():
            patch.setenv(name, value)
        patch.setenv("MODELATLAS_WAREHOUSE_DATABASE", DATABASE)
        patch.setenv("DAGSTER_HOME", str(home))
        try:
            yield Warehouse(replace(warehouse.settings, database=DATABASE)), simulator
        finally:
            simulator.stop()


@pytest.fixture(scope="module")
def three_runs(gated_world: tuple[Warehouse, Simulator]) -> dict[str, Any]:
    """A good run, a run whose Anthropic catalog loses its second page, then a good run again."""
    world, simulator = gated_world
    connection = world.connection()
    good = run(warehouse=world)
    before = {
        "dim": query(
            connection, "select provider_model_id, is_available from marts.dim_models where provider = 'anthropic'"
        ),
        "batch": query(connection, "select max(batch_id) from raw_anthropic.models")[0][0],
    }
    simulator.inject("anthropic", Fault("page_vanishes", skip=1))
    bad = run("group:anthropic+ or group:openai", warehouse=world)
    after_bad = {
        "dim": query(
            connection, "select provider_model_id, is_available from marts.dim_models where provider = 'anthropic'"
        ),
        "raw": query(connection, "select count(*), max(batch_id) from raw_anthropic.models")[0],
    }
    recovered = run("key:raw_anthropic/models", warehouse=world)
    return {"good": good, "before": before, "bad": bad, "after_bad": after_bad, "recovered": recovered}


def test_a_vanished_second_page_removes_no_model_from_dim_models(three_runs: dict[str, Any]) -> None:
    good: RunSummary = three_runs["good"]
    assert good.success, good.failures
    assert {row[0] for row in three_runs["before"]["dim"]} == ANTHROPIC_IDS
    assert sorted(three_runs["after_bad"]["dim"]) == sorted(three_runs["before"]["dim"])
    assert all(available for _, available in three_runs["after_bad"]["dim"])
    count, batch = three_runs["after_bad"]["raw"]
    assert (count, batch) == (len(ANTHROPIC_IDS), three_runs["before"]["batch"])


def test_the_blocked_check_fails_with_a_clear_message_and_the_others_keep_running(three_runs: dict[str, Any]) -> None:
    bad: RunSummary = three_runs["bad"]
    assert not bad.success
    assert bad.failed_steps == ["raw_anthropic"]
    assert bad.checks_failed == ["raw_anthropic/models:quality_gate"]
    assert check_description(bad.run_ids[0], "raw_anthropic/models:quality_gate") == (
        f"blocked: the batch lists at least {-(-len(ANTHROPIC_IDS) // 2)} rows (the warehouse's latest batch listed "
        f"{len(ANTHROPIC_IDS)}; at most 50% may disappear at once)"
    )
    message = bad.failures["raw_anthropic"]
    assert "blocked by the quality gate, nothing loaded, previous data kept" in message
    assert f"the batch lists at least {-(-len(ANTHROPIC_IDS) // 2)} rows" in message
    assert "raw_openai/models" in bad.materialized
    # Nothing dim_models reads changed (the blocked batch loaded nothing): it keeps the previous good data.
    assert "marts/dim_models" not in bad.materialized
    assert any("inputs unchanged since their last build" in report for report in bad.reports)
    text = format_summary(bad)
    assert "failed check raw_anthropic/models:quality_gate" in text
    assert "anthropic: batch " in text and "blocked by the quality gate" in text


def test_dq_tables_say_why_the_batch_was_blocked(
    gated_world: tuple[Warehouse, Simulator], three_runs: dict[str, Any]
) -> None:
    connection = gated_world[0].connection()
    results = query(
        connection,
        "select batch_id, observed_value, element_count, run_id from dq.validation_results "
        "where source = 'anthropic' and expectation = 'expect_table_row_count_to_be_between' and not success",
    )
    assert len(results) == 1
    blocked_batch, observed, _, run_id = results[0]
    assert observed == 20  # the first page of 20; the other 27 vanished with the second page
    assert run_id == three_runs["bad"].run_ids[0]
    quarantined = query(
        connection,
        "select row_key, failed_expectations from dq.quarantine where source = 'anthropic' and batch_id = %s",
        [blocked_batch],
    )
    assert len(quarantined) == 20
    assert {key for key, _ in quarantined} <= ANTHROPIC_IDS
    assert all(reasons[0].startswith("batch blocked: models: the batch lists at least") for _, reasons in quarantined)


def test_the_next_good_batch_loads_normally(
    gated_world: tuple[Warehouse, Simulator], three_runs: dict[str, Any]
) -> None:
    recovered: RunSummary = three_runs["recovered"]
    assert recovered.success, recovered.failures
    connection = gated_world[0].connection()
    [(count, batch)] = query(
        connection,
        "select count(*), max(batch_id) from raw_anthropic.models where batch_id = (select max(batch_id) "
        "from raw_anthropic.models)",
    )
    assert count == len(ANTHROPIC_IDS)
    assert batch > three_runs["before"]["batch"]
    [(failed,)] = query(
        connection,
        "select count(*) from dq.validation_results where source = 'anthropic' and batch_id = %s and not success",
        [batch],
    )
    assert failed == 0


def test_the_packaged_registry_quarantines_its_one_suspect_price_and_loads_the_rest(
    gated_world: tuple[Warehouse, Simulator], three_runs: dict[str, Any]
) -> None:
    good: RunSummary = three_runs["good"]
    # Its batch loaded with the row kept aside: the check passed, and says so.
    quarantined = ["raw_genai_prices/price_points:quality_gate", "raw_genai_prices/prices:quality_gate"]
    assert sorted(check for check in good.checks_quarantined if check.startswith("raw_genai_prices/")) == quarantined
    assert not any(check.startswith("raw_genai_prices/") for check in good.checks_failed)
    for check in quarantined:
        assert check_description(good.run_ids[0], check) == "loaded; 1 rows quarantined (see dq.quarantine)"
    assert any(
        report.startswith("genai_prices: ") and "; 2 rows quarantined (see dq.quarantine)" in report
        for report in good.reports
    ), good.reports
    connection = gated_world[0].connection()
    [(payload, reasons)] = query(
        connection, "select row_payload, failed_expectations from dq.quarantine where entity = 'prices' limit 1"
    )
    assert payload["component"] == "cache_read"
    assert "not above the input price" in reasons[0]
    [(loaded,)] = query(connection, "select count(*) from raw_genai_prices.prices")
    assert loaded == good.row_counts["raw_genai_prices.prices"] > 7000


# --- each guard on crafted OpenRouter batches, through real dlt loads --------------------------------------------


class EditableOpenRouter(OpenRouterHandler):
    """OpenRouter's simulator with a catalog the test can change between fetches."""

    def __init__(self, api_key: str | None) -> None:
        super().__init__(api_key)
        self.original = copy.deepcopy(self.models)


@pytest.fixture
def openrouter() -> Iterator[tuple[Simulator, EditableOpenRouter]]:
    handler = EditableOpenRouter(None)
    with Simulator({"openrouter": handler}) as server:
        yield server, handler


def gate_once(server: Simulator, connection: ConnectionInfo, dataset: str, pipelines_dir: Path) -> SourceLoad:
    env = {"MODELATLAS_OPENROUTER_BASE_URL": f"{server.root_url('openrouter')}/api/v1"}
    return load_standalone(OPENROUTER, connection, pipelines_dir, env=env, dataset=dataset, page_size=20)


def raw(connection: ConnectionInfo, dataset: str) -> dict[str, tuple[Any, ...]]:
    rows = query(connection, f"select id, batch_id, context_length, price_prompt_usd_per_token from {dataset}.models")
    return {row[0]: row[1:] for row in rows}


def test_bad_rows_are_quarantined_and_the_rest_of_the_batch_loads(
    openrouter: tuple[Simulator, EditableOpenRouter], connection: ConnectionInfo, tmp_path: Path
) -> None:
    server, handler = openrouter
    dataset = "raw_openrouter_rowgate"
    first = gate_once(server, connection, dataset, tmp_path)
    assert not first.blocked and first.gate.quarantined_counts() == {"models": 0, "price_points": 0}
    good = raw(connection, dataset)
    assert len(good) == len(handler.models)
    priced = [m for m in handler.models if Decimal(m["pricing"].get("prompt", "0")) > 0]
    priced[0]["pricing"] = {**priced[0]["pricing"], "prompt": "3"}  # $3 per token: above the ceiling
    other = next(m for m in handler.models if m["id"] != priced[0]["id"])
    other["context_length"] = 0
    bad_ids = {priced[0]["id"], other["id"]}
    second = gate_once(server, connection, dataset, tmp_path)
    assert not second.blocked
    # The $3 per token price is also refused as a normalised price point.
    assert second.gate.quarantined_counts() == {"models": 2, "price_points": 1}
    assert second.loaded_rows("models") == len(handler.models) - 2
    assert "; 3 rows quarantined (see dq.quarantine)" in second.report()
    after = raw(connection, dataset)
    for model_id in bad_ids:
        assert after[model_id] == good[model_id]  # the previous good row, untouched
    assert {i for i, row in after.items() if row[0] == second.gate.batch_id} == set(after) - bad_ids
    reasons = dict(
        query(
            connection,
            "select row_key, failed_expectations from dq.quarantine where batch_id = %s and entity = 'models'",
            [second.gate.batch_id],
        )
    )
    assert set(reasons) == bad_ids
    assert reasons[priced[0]["id"]] == ["price_prompt_usd_per_token is between 0 and 0.01"]
    assert reasons[other["id"]] == ["context_length is between 1 and 100,000,000"]
    failed = query(
        connection,
        "select description, unexpected_count from dq.validation_results "
        "where batch_id = %s and entity = 'models' and not success",
        [second.gate.batch_id],
    )
    assert sorted(failed) == [
        ("context_length is between 1 and 100,000,000", 1),
        ("price_prompt_usd_per_token is between 0 and 0.01", 1),
    ]
    handler.models[:] = copy.deepcopy(handler.original)
    third = gate_once(server, connection, dataset, tmp_path)
    assert third.gate.quarantined_counts() == {"models": 0, "price_points": 0}
    assert {row[0] for row in raw(connection, dataset).values()} == {third.gate.batch_id}


def test_a_mass_tenfold_price_move_blocks_the_batch_and_keeps_the_old_prices(
    openrouter: tuple[Simulator, EditableOpenRouter], connection: ConnectionInfo, tmp_path: Path
) -> None:
    server, handler = openrouter
    dataset = "raw_openrouter_jumpgate"
    gate_once(server, connection, dataset, tmp_path)
    good = raw(connection, dataset)
    moved = 0
    for model in handler.models:
        prompt = model.get("pricing", {}).get("prompt")
        if prompt and Decimal(prompt) > 0:
            model["pricing"] = {**model["pricing"], "prompt": str(Decimal(prompt) * 100)}
            moved += 1
    blocked = gate_once(server, connection, dataset, tmp_path)
    assert blocked.blocked
    assert "models: at most 20% of prices move 10x or more" in blocked.report()
    assert raw(connection, dataset) == good
    [(observed,)] = query(
        connection,
        "select observed_value from dq.validation_results where batch_id = %s "
        "and entity = 'models' and expectation = 'expect_price_jump_share_to_be_at_most'",
        [blocked.gate.batch_id],
    )
    # Every positive price of every model is compared; only the prompt prices moved.
    assert observed["moved"] == moved and observed["compared"] > moved
    assert observed["share"] == pytest.approx(moved / observed["compared"], abs=1e-4) and observed["share"] > 0.2
    handler.models[:] = copy.deepcopy(handler.original)
    assert not gate_once(server, connection, dataset, tmp_path).blocked


def test_a_batch_without_a_column_its_table_declares_is_blocked(connection: ConnectionInfo, tmp_path: Path) -> None:
    dataset = "raw_openrouter_schemagate"
    rows = [{"id": f"m{i}", "batch_id": "b1", "_fetched_at": "2026-01-01T00:00:00Z"} for i in range(3)]
    crafted = replace(OPENROUTER, extract=lambda request: Batch(tables={"models": rows}, origin="crafted"))

    result = load_standalone(crafted, connection, tmp_path, env={}, dataset=dataset)
    assert result.blocked
    message = result.report()
    assert message.startswith("openrouter: batch b1 blocked by the quality gate, nothing loaded, previous data kept")
    assert "models: the batch has the column context_length (declared by its table)" in message
    # The tables exist (staging reads them from the first run on), and stay empty.
    assert query(connection, f"select count(*) from {dataset}.models") == [(0,)]
    stored = query(
        connection,
        "select column_name from dq.validation_results where batch_id = 'b1' and source = 'openrouter' "
        "and entity = 'models' and expectation = 'expect_column_to_exist' and not success",
    )
    assert ("context_length",) in stored and ("name",) in stored and ("payload",) in stored
    assert ("id",) not in stored and ("batch_id",) not in stored
    [(kept,)] = query(connection, "select count(*) from dq.quarantine where batch_id = 'b1' and entity = 'models'")
    assert kept == 3
