"""The quality gate on the price sources: a shrunken price file closes no interval, a bad price is quarantined."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from modelatlas.pipelines.litellm import SPEC
from modelatlas.runner import run
from modelatlas.simulator import Simulator, build_simulator
from modelatlas.simulator.litellm import FILE_PATH, LiteLLMHandler
from modelatlas.warehouse import Warehouse, read_only_query
from tests.integration.test_quality_gate import check_description

MODEL = "claude-sonnet-4-5-20250929"
CHECK = "raw_litellm/price_points:quality_gate"


@pytest.fixture(scope="module")
def simulator() -> Iterator[Simulator]:
    with build_simulator([SPEC]) as running:
        yield running


@pytest.fixture
def handler(simulator: Simulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[LiteLLMHandler]:
    litellm = simulator.handlers["litellm"]
    assert isinstance(litellm, LiteLLMHandler)
    full = dict(litellm.entries)
    monkeypatch.setenv("MODELATLAS_LITELLM_URL", simulator.root_url("litellm") + FILE_PATH)
    yield litellm
    litellm.entries = full


def _one(warehouse: Warehouse, sql: str, params: list[Any] | None = None) -> Any:
    _, rows = read_only_query(warehouse.connection(), sql, params)
    return rows[0][0]


def _history_counts(warehouse: Warehouse) -> tuple[int, int]:
    open_rows = _one(warehouse, "select count(*) from raw_litellm.price_points where _dlt_valid_to is null")
    closed_rows = _one(warehouse, "select count(*) from raw_litellm.price_points where _dlt_valid_to is not null")
    return int(open_rows), int(closed_rows)


def test_a_shrunken_price_file_is_blocked_and_closes_no_interval(warehouse: Warehouse, handler: LiteLLMHandler) -> None:
    first = run(warehouse=warehouse, selection="group:litellm")
    assert first.success, first.failures
    before = _history_counts(warehouse)
    assert before[0] > 300

    kept = list(handler.entries)[: len(handler.entries) // 4]
    handler.entries = {key: handler.entries[key] for key in kept}
    blocked = run(warehouse=warehouse, selection="group:litellm")

    assert list(blocked.failures) == ["raw_litellm"]
    assert "blocked by the quality gate, nothing loaded, previous data kept" in blocked.failures["raw_litellm"]
    assert "price_points: the batch lists at least" in blocked.failures["raw_litellm"]
    assert CHECK in blocked.checks_failed
    assert _history_counts(warehouse) == before
    failed = _one(
        warehouse,
        "select count(*) from dq.validation_results where source = 'litellm' and entity = 'price_points' "
        "and not success and run_id is not null",
    )
    assert failed >= 1


def test_a_cache_price_above_its_input_price_is_quarantined_and_the_rest_loads(
    warehouse: Warehouse, handler: LiteLLMHandler
) -> None:
    entry = dict(handler.entries[MODEL])
    entry["cache_read_input_token_cost"] = entry["input_cost_per_token"] * 2
    handler.entries = {**handler.entries, MODEL: entry}

    summary = run(warehouse=warehouse, selection="group:litellm")

    assert summary.success, summary.failures
    # The batch loaded with a row kept aside: the gate passed, and says so.
    assert CHECK in summary.checks_quarantined and CHECK not in summary.checks_failed
    assert check_description(summary.run_ids[0], CHECK) == "loaded; 1 rows quarantined (see dq.quarantine)"
    assert any(
        report.startswith("litellm: ") and "; 1 rows quarantined (see dq.quarantine)" in report
        for report in summary.reports
    ), summary.reports
    quarantined = _one(
        warehouse,
        "select count(*) from dq.quarantine where source = 'litellm' and entity = 'price_points' "
        "and row_payload ->> 'source_model_key' = %s and row_payload ->> 'component' = 'cache_read' "
        "and failed_expectations::text like %s",
        [MODEL, "%a cache_read price is not above the input price%"],
    )
    assert quarantined == 1
    open_cache_reads = _one(
        warehouse,
        "select count(*) from raw_litellm.price_points where source_model_key = %s and component = 'cache_read' "
        "and service_tier = 'standard' and condition = 'base' and _dlt_valid_to is null",
        [MODEL],
    )
    assert open_cache_reads == 0
    open_inputs = _one(
        warehouse,
        "select count(*) from raw_litellm.price_points where source_model_key = %s and component = 'input' "
        "and _dlt_valid_to is null",
        [MODEL],
    )
    assert open_inputs >= 1
