"""The LiteLLM source against the simulator: exact rows and prices, retries, failures that load nothing."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from modelatlas.cli import run_exit_code
from modelatlas.errors import SourceError, SourceUnreachableError
from modelatlas.pipelines.engine import SourceLoad, ensure_tables, fetch, load_standalone, request_for
from modelatlas.pipelines.http import RetryPolicy
from modelatlas.pipelines.litellm import SPEC
from modelatlas.pipelines.loading import make_pipeline
from modelatlas.runner import SAMPLE_DATABASE, run
from modelatlas.settings import source_config
from modelatlas.simulator import Fault, Simulator, build_simulator
from modelatlas.simulator.litellm import FILE_PATH, LiteLLMHandler
from modelatlas.warehouse import ConnectionInfo, Warehouse, read_only_query
from tests.conftest import free_port

DATASET = "raw_litellm_test"
FAST = RetryPolicy(attempts=3, initial_wait_s=0.05, max_wait_s=0.2, budget_s=20, read_timeout_s=5, connect_timeout_s=2)
T1 = datetime(2026, 2, 1, 8, 0, tzinfo=UTC)
T2 = datetime(2026, 2, 2, 8, 0, tzinfo=UTC)
# What the fixture holds: 85 entries, one of them `sample_spec`; 412 prices map to a component, 8 do not.
FIXTURE_MODELS = 84
FIXTURE_PRICE_POINTS = 412
FIXTURE_UNKNOWN = 8


@pytest.fixture(scope="module")
def simulator() -> Iterator[Simulator]:
    with build_simulator([SPEC]) as running:
        yield running


def _handler(simulator: Simulator) -> LiteLLMHandler:
    handler = simulator.handlers["litellm"]
    assert isinstance(handler, LiteLLMHandler)
    return handler


@pytest.fixture
def url(simulator: Simulator) -> Iterator[str]:
    """The price file's address; faults and edits of its entries are undone after the test."""
    simulator.clear()
    handler = _handler(simulator)
    saved = dict(handler.entries)
    yield simulator.root_url("litellm") + FILE_PATH
    handler.entries = saved
    simulator.clear()


def _load(
    connection: ConnectionInfo, url: str, pipelines_dir: Path, at: datetime | None, dataset: str = DATASET
) -> SourceLoad:
    env = {"MODELATLAS_LITELLM_URL": url}
    return load_standalone(SPEC, connection, pipelines_dir, env=env, dataset=dataset, policy=FAST, fetched_at=at)


@pytest.fixture(scope="module")
def pipelines_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("dlt")


@pytest.fixture(scope="module")
def loaded(connection: ConnectionInfo, simulator: Simulator, pipelines_dir: Path) -> SourceLoad:
    """One load of the fixture at T1."""
    result = _load(connection, simulator.root_url("litellm") + FILE_PATH, pipelines_dir, T1)
    assert result.summary is not None
    assert result.summary.row_counts == {"models": FIXTURE_MODELS, "price_points": FIXTURE_PRICE_POINTS, "loads": 1}
    return result


def _rows(connection: ConnectionInfo, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    _, rows = read_only_query(connection, sql, params)
    return [tuple(row) for row in rows]


def _state(connection: ConnectionInfo) -> list[tuple[Any, ...]]:
    return _rows(
        connection,
        f"select price_hash, _dlt_valid_from, _dlt_valid_to from {DATASET}.price_points order by 1, 2",
    )


def _price(connection: ConnectionInfo, model_key: str, component: str, tier: str, condition: str) -> tuple[Any, ...]:
    rows = _rows(
        connection,
        "select source_provider, provider_model_id, region, price_usd, unit, original_value, original_unit "
        f"from {DATASET}.price_points where source_model_key = %s and component = %s and service_tier = %s "
        "and condition = %s and _dlt_valid_to is null",
        [model_key, component, tier, condition],
    )
    assert len(rows) == 1, (model_key, component, tier, condition, rows)
    return rows[0]


def test_every_model_and_price_of_the_fixture_loads_with_exact_normalised_prices(
    connection: ConnectionInfo, loaded: SourceLoad
) -> None:
    counts = tuple(loaded.loaded_rows(table) for table in ("models", "price_points", "loads"))
    assert counts == (FIXTURE_MODELS, FIXTURE_PRICE_POINTS, 1)
    assert loaded.batch.metadata["unknown_price_keys"] == FIXTURE_UNKNOWN
    assert not loaded.blocked and loaded.gate.quarantined_counts() == {"models": 0, "price_points": 0, "loads": 0}
    assert loaded.report() == (
        f"litellm: {FIXTURE_PRICE_POINTS} price_points ({FIXTURE_PRICE_POINTS} added, 0 removed, 0 changed) "
        f"from {loaded.batch.origin}; {FIXTURE_UNKNOWN} prices with unknown keys"
    )
    assert _rows(connection, f"select count(*) from {DATASET}.models where model_key = 'sample_spec'") == [(0,)]
    assert _price(connection, "gemini/gemini-2.5-pro", "input", "standard", "base") == (
        "gemini", "gemini-2.5-pro", "global", Decimal("1.25"), "mtok", "1.25e-06", "USD/token"
    )  # fmt: skip
    assert _price(connection, "gemini/gemini-2.5-pro", "input", "standard", "input > 200000 tokens")[3] == Decimal(
        "2.5"
    )
    assert _price(connection, "gemini/gemini-2.5-pro", "output", "batch", "base")[3] == Decimal("5")
    assert _price(connection, "claude-sonnet-4-5", "cache_write_1h", "standard", "base")[3] == Decimal("6")
    assert _price(connection, "claude-sonnet-4-5", "cache_write_5m", "standard", "base")[3] == Decimal("3.75")
    assert _price(connection, "o3", "input", "flex", "base")[3] == Decimal("1")
    assert _price(connection, "gpt-4o", "cache_read", "priority", "base")[3] == Decimal("2.125")
    assert _price(connection, "azure/eu/gpt-4o-2024-08-06", "input", "standard", "base")[:4] == (
        "azure", "gpt-4o-2024-08-06", "eu", Decimal("2.75")
    )  # fmt: skip
    assert _price(connection, "gpt-4o-search-preview", "web_search", "standard", "search context medium") == (
        "openai", "gpt-4o-search-preview", "global", Decimal("0.035"), "search", "0.035", "USD/query"
    )  # fmt: skip
    assert _price(connection, "gemini/gemini-2.5-flash-image", "output_image", "standard", "base")[3:5] == (
        Decimal("0.039"),
        "image",
    )
    assert _price(connection, "openrouter/anthropic/claude-sonnet-4.5", "input", "standard", "base")[:2] == (
        "openrouter",
        "anthropic/claude-sonnet-4.5",
    )
    assert _rows(connection, f"select count(*) from {DATASET}.price_points where price_usd < 0") == [(0,)]


def test_models_keep_limits_flags_regions_and_deprecation_dates(connection: ConnectionInfo, loaded: SourceLoad) -> None:
    rows = _rows(
        connection,
        "select litellm_provider, provider_model_id, mode, max_input_tokens, max_output_tokens, deprecation_date, "
        "(supports->>'supports_reasoning')::boolean, supported_regions->>0, "
        "(payload->>'input_cost_per_token')::numeric "
        f"from {DATASET}.models where model_key in ('claude-3-opus-20240229', 'vertex_ai/gemini-2.5-pro') order by 1",
    )
    assert rows == [
        (
            "anthropic",
            "claude-3-opus-20240229",
            "chat",
            200000,
            4096,
            date(2026, 1, 5),
            None,
            None,
            Decimal("0.000015"),
        ),
        (
            "vertex_ai-language-models",
            "gemini-2.5-pro",
            "chat",
            1048576,
            65535,
            None,
            True,
            "global",
            Decimal("0.00000125"),
        ),
    ]
    assert _rows(
        connection, f"select model_count, price_point_count, unknown_price_key_count from {DATASET}.loads"
    ) == [(FIXTURE_MODELS, FIXTURE_PRICE_POINTS, FIXTURE_UNKNOWN)]


def test_a_rate_limited_request_is_retried_and_an_unchanged_file_adds_no_price_row(
    connection: ConnectionInfo, loaded: SourceLoad, simulator: Simulator, url: str, pipelines_dir: Path
) -> None:
    before = _state(connection)
    simulator.inject("litellm", Fault("rate_limit", retry_after_s=0.1))
    again = _load(connection, url, pipelines_dir, T1)
    assert len(simulator.requests_to("litellm")) == 2 == again.stats.requests
    assert _state(connection) == before
    assert again.report().startswith(f"litellm: {FIXTURE_PRICE_POINTS} price_points (0 added, 0 removed, 0 changed)")


def test_a_changed_price_closes_its_interval_and_opens_a_new_one(
    connection: ConnectionInfo, loaded: SourceLoad, simulator: Simulator, url: str, pipelines_dir: Path
) -> None:
    entries = _handler(simulator).entries
    entries["gpt-4o-mini"] = {**entries["gpt-4o-mini"], "input_cost_per_token": 1.2e-07}
    changed = _load(connection, url, pipelines_dir, T2)
    assert changed.changes["price_points"].changed == ["litellm/openai/gpt-4o-mini/input/standard/base/global/"]
    assert changed.report().startswith(
        f"litellm: {FIXTURE_PRICE_POINTS} price_points (0 added, 0 removed, 1 changed) from {url}"
    )
    rows = _rows(
        connection,
        f"select price_usd, original_value, _dlt_valid_from, _dlt_valid_to from {DATASET}.price_points "
        "where source_model_key = 'gpt-4o-mini' and component = 'input' and service_tier = 'standard' order by 3",
    )
    assert rows == [(Decimal("0.15"), "1.5e-07", T1, T2), (Decimal("0.12"), "1.2e-07", T2, None)]
    assert _rows(connection, f"select count(*) from {DATASET}.price_points where _dlt_valid_to is null") == [
        (FIXTURE_PRICE_POINTS,)
    ]


def _fault(fault: Fault) -> Callable[[Simulator], None]:
    return lambda simulator: simulator.inject("litellm", fault)


def _negative_price(simulator: Simulator) -> None:
    entries = _handler(simulator).entries
    entries["gpt-4o-mini"] = {**entries["gpt-4o-mini"], "input_cost_per_token": -1.5e-07}


@pytest.mark.parametrize(
    ("breaks", "message"),
    [
        (_fault(Fault("server_error", count=5, status=503)), "answered HTTP 503 after 3 attempts"),
        (_fault(Fault("truncated")), "malformed JSON"),
        (_fault(Fault("status", status=404)), "answered HTTP 404"),
        (_negative_price, r"LiteLLM: gpt-4o-mini input_cost_per_token: the price -1\.5E-7 is negative"),
    ],
    ids=["server_error", "truncated", "not_found", "negative_price"],
)
def test_a_failed_malformed_or_negative_read_is_a_clear_error_and_loads_nothing(
    connection: ConnectionInfo,
    loaded: SourceLoad,
    simulator: Simulator,
    url: str,
    pipelines_dir: Path,
    breaks: Callable[[Simulator], None],
    message: str,
) -> None:
    before = _state(connection)
    loads = _rows(connection, f"select count(*) from {DATASET}.loads")
    breaks(simulator)
    with pytest.raises(SourceError, match=message) as raised:
        _load(connection, url, pipelines_dir, T2)
    assert not isinstance(raised.value, SourceUnreachableError)
    # No interval closed, no row added.
    assert _state(connection) == before
    assert _rows(connection, f"select count(*) from {DATASET}.loads") == loads


def test_a_mass_tenfold_price_move_is_blocked_and_closes_no_interval(
    connection: ConnectionInfo, loaded: SourceLoad, simulator: Simulator, url: str, pipelines_dir: Path
) -> None:
    """Undated prices (no effective_from) are compared with the open versions like any other."""
    before = _state(connection)
    handler = _handler(simulator)
    handler.entries = {
        key: {name: value * 100 if "cost" in name and isinstance(value, float) else value for name, value in e.items()}
        for key, e in handler.entries.items()
    }
    blocked = _load(connection, url, pipelines_dir, T2)
    assert blocked.blocked
    assert "price_points: at most 20% of prices move 10x or more" in blocked.report()
    assert _state(connection) == before
    [(observed,)] = _rows(
        connection,
        "select observed_value from dq.validation_results where source = 'litellm' and entity = 'price_points' "
        "and batch_id = %s and expectation = 'expect_price_jump_share_to_be_at_most' and not success",
        [blocked.gate.batch_id],
    )
    assert observed["compared"] > 300 and observed["share"] > 0.9


def test_a_dead_host_is_unreachable() -> None:
    dead = f"http://127.0.0.1:{free_port()}{FILE_PATH}"
    request = request_for(SPEC, source_config(SPEC, {"MODELATLAS_LITELLM_URL": dead}), policy=FAST)
    with pytest.raises(SourceUnreachableError, match="is unreachable"):
        fetch(request)


def test_the_asset_reports_changes_and_tolerates_an_unreachable_host(
    warehouse: Warehouse, simulator: Simulator, url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELATLAS_LITELLM_URL", url)
    first = run(warehouse=warehouse, selection="group:litellm")
    assert first.success, first.failures
    second = run(warehouse=warehouse, selection="group:litellm")
    assert second.success, second.failures
    assert sorted(second.materialized) == ["raw_litellm/loads", "raw_litellm/models", "raw_litellm/price_points"]
    assert (
        f"litellm: {FIXTURE_PRICE_POINTS} price_points (0 added, 0 removed, 0 changed) from {url}; "
        f"{FIXTURE_UNKNOWN} prices with unknown keys" in second.reports
    )

    monkeypatch.setenv("MODELATLAS_LITELLM_URL", f"http://127.0.0.1:{free_port()}{FILE_PATH}")
    monkeypatch.setenv("MODELATLAS_LITELLM_TIMEOUT", "1")
    down = run(warehouse=warehouse, selection="group:litellm")
    assert list(down.failures) == ["raw_litellm"]
    assert "unreachable" in down.failures["raw_litellm"]
    assert any(report.startswith("litellm: unreachable: ") for report in down.reports), down.reports
    assert run_exit_code(down, strict=False) == 0
    _, rows = read_only_query(
        warehouse.connection(), "select count(*) from raw_litellm.price_points where _dlt_valid_to is null"
    )
    assert rows == [(FIXTURE_PRICE_POINTS,)]


def test_tables_created_before_the_first_load_have_the_contract_columns_and_take_scd2_loads(
    connection: ConnectionInfo, simulator: Simulator, url: str, tmp_path: Path
) -> None:
    dataset = "raw_litellm_created_empty"
    # The pipeline load_standalone runs for this dataset, as an asset creates its tables before its first load.
    pipeline = make_pipeline(f"{SPEC.name}__{dataset}", dataset, connection.url(), tmp_path)
    assert ensure_tables(pipeline, connection, SPEC)
    assert not ensure_tables(pipeline, connection, SPEC)
    columns = _rows(
        connection,
        "select column_name, data_type, numeric_scale from information_schema.columns "
        "where table_schema = %s and table_name = 'price_points'",
        [dataset],
    )
    types = {name: (data_type, scale) for name, data_type, scale in columns}
    assert types["price_hash"] == ("character varying", None)
    assert types["price_usd"] == ("numeric", 18)
    assert types["_dlt_valid_from"][0] == types["_dlt_valid_to"][0] == "timestamp with time zone"
    assert _rows(connection, f"select count(*) from {dataset}.price_points") == [(0,)]

    _load(connection, url, tmp_path, T1, dataset)
    del _handler(simulator).entries["o1"]
    _load(connection, url, tmp_path, T2, dataset)
    assert _rows(
        connection,
        f"select component, _dlt_valid_from, _dlt_valid_to from {dataset}.price_points "
        "where source_model_key = 'o1' order by 1",
    ) == [("cache_read", T1, T2), ("input", T1, T2), ("output", T1, T2)]
    assert _rows(connection, f"select count(*) from {dataset}.price_points where _dlt_valid_to is null") == [
        (FIXTURE_PRICE_POINTS - 3,)
    ]


def test_sample_mode_loads_litellm_from_the_simulator(warehouse: Warehouse) -> None:
    summary = run(warehouse=warehouse, selection="group:litellm", sample=True)
    assert summary.success, summary.failures
    sample = warehouse.connection().with_database(SAMPLE_DATABASE)
    counts = _rows(
        sample,
        "select (select count(*) from raw_litellm.models), "
        "(select count(*) from raw_litellm.price_points where _dlt_valid_to is null), "
        "(select source_url like 'http://127.0.0.1:%' from raw_litellm.loads order by fetched_at desc limit 1)",
    )
    assert counts == [(FIXTURE_MODELS, FIXTURE_PRICE_POINTS, True)]
