"""OpenRouter's per-unit prices as normalised scd2 price points: exact values, "-1" left out, history kept."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from modelatlas.pipelines.engine import SourceLoad, load_standalone
from modelatlas.pipelines.http import RetryPolicy
from modelatlas.pipelines.openrouter import SPEC
from modelatlas.pipelines.prices import MappingStats, openrouter_price_points
from modelatlas.simulator.core import load_fixture
from modelatlas.simulator.openrouter import OpenRouterHandler
from modelatlas.simulator.server import Simulator
from modelatlas.warehouse import ConnectionInfo, read_only_query

DATASET = "raw_openrouter_prices_test"
FAST = RetryPolicy(attempts=3, initial_wait_s=0.05, max_wait_s=0.2, budget_s=20, read_timeout_s=5)
T1 = datetime(2026, 3, 1, tzinfo=UTC)
T2 = datetime(2026, 3, 2, tzinfo=UTC)
# Priced components of the fixture's 54 models: every non-zero price plus the zero input and output of free models.
FIXTURE_PRICE_POINTS = 169


@pytest.fixture(scope="module")
def handler() -> OpenRouterHandler:
    return OpenRouterHandler(None)


@pytest.fixture(scope="module")
def simulator(handler: OpenRouterHandler) -> Iterator[Simulator]:
    with Simulator({"openrouter": handler}) as server:
        yield server


@pytest.fixture(scope="module")
def pipelines_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("dlt")


def _load(simulator: Simulator, connection: ConnectionInfo, pipelines_dir: Path, at: datetime) -> SourceLoad:
    env = {"MODELATLAS_OPENROUTER_BASE_URL": simulator.root_url("openrouter") + "/api/v1"}
    loaded = load_standalone(SPEC, connection, pipelines_dir, env=env, dataset=DATASET, policy=FAST, fetched_at=at)
    assert loaded.summary is not None and loaded.summary.row_counts["price_points"] == FIXTURE_PRICE_POINTS
    return loaded


@pytest.fixture(scope="module")
def first_load(simulator: Simulator, connection: ConnectionInfo, pipelines_dir: Path) -> SourceLoad:
    return _load(simulator, connection, pipelines_dir, T1)


def _points(connection: ConnectionInfo, model_id: str) -> list[tuple[Any, ...]]:
    _, rows = read_only_query(
        connection,
        "select component, price_usd, unit, original_value, original_unit, source_provider, provider_model_id "
        f"from {DATASET}.price_points where source_model_key = %s and _dlt_valid_to is null order by component",
        [model_id],
    )
    return [tuple(row) for row in rows]


def test_prices_are_exact_per_million_tokens_or_per_unit(connection: ConnectionInfo, first_load: SourceLoad) -> None:
    model = "anthropic/claude-sonnet-4.5"
    tail = ("openrouter", model)
    assert _points(connection, model) == [
        ("cache_read", Decimal("0.3"), "mtok", "0.0000003", "USD/token", *tail),
        ("cache_write_5m", Decimal("3.75"), "mtok", "0.00000375", "USD/token", *tail),
        ("input", Decimal("3"), "mtok", "0.000003", "USD/token", *tail),
        ("input_image", Decimal("0.0048"), "image", "0.0048", "USD/image", *tail),
        ("output", Decimal("15"), "mtok", "0.000015", "USD/token", *tail),
        ("web_search", Decimal("0.01"), "search", "0.01", "USD/search", *tail),
    ]
    # 22 decimals per token are 16 per million tokens: stored exactly.
    flash = {row[0]: row[1] for row in _points(connection, "google/gemini-2.5-flash")}
    assert flash["cache_write_5m"] == Decimal("0.0833333333333333")


def test_varying_prices_are_left_out_and_free_models_keep_their_zero_prices(
    connection: ConnectionInfo, first_load: SourceLoad
) -> None:
    assert _points(connection, "openrouter/auto") == []
    # openrouter/auto's "-1" prices say "varies": no price, and no unknown price key either.
    mapping = MappingStats()
    for item in load_fixture("openrouter"):
        list(openrouter_price_points(item, mapping))
    assert (dict(mapping.not_a_price), mapping.unknown_count) == ({"prompt": 1, "completion": 1}, 0)
    assert first_load.batch.metadata["unknown_price_keys"] == 0
    free = _points(connection, "openai/gpt-oss-20b:free")
    assert [(row[0], row[1]) for row in free] == [("input", Decimal("0")), ("output", Decimal("0"))]
    _, rows = read_only_query(
        connection,
        f"select count(*), count(distinct price_hash) from {DATASET}.price_points where price_usd < 0 or "
        "(price_usd = 0 and component not in ('input', 'output'))",
    )
    assert rows == [(0, 0)]


def test_a_changed_price_is_kept_as_a_closed_and_a_new_interval(
    connection: ConnectionInfo,
    first_load: SourceLoad,
    handler: OpenRouterHandler,
    simulator: Simulator,
    pipelines_dir: Path,
) -> None:
    saved = copy.deepcopy(handler.models)
    model = next(item for item in handler.models if item["id"] == "openai/gpt-4o-mini")
    model["pricing"]["prompt"] = "0.0000001"
    try:
        changed = _load(simulator, connection, pipelines_dir, T2)
    finally:
        handler.models[:] = saved
    assert changed.changes["price_points"].changed == [
        "openrouter/openrouter/openai/gpt-4o-mini/input/standard/base/global/"
    ]
    # The catalog's own row changed too: its content hash is another.
    assert changed.changes["models"].changed == ["openai/gpt-4o-mini"]
    assert changed.report().startswith(
        f"openrouter: 54 models (0 added, 0 removed, 1 changed), {FIXTURE_PRICE_POINTS} price_points "
        "(0 added, 0 removed, 1 changed) from http://127.0.0.1:"
    )
    _, rows = read_only_query(
        connection,
        f"select price_usd, _dlt_valid_from, _dlt_valid_to from {DATASET}.price_points "
        "where source_model_key = 'openai/gpt-4o-mini' and component = 'input' order by 2",
    )
    assert [tuple(row) for row in rows] == [(Decimal("0.15"), T1, T2), (Decimal("0.1"), T2, None)]
