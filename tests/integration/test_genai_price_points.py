"""genai-prices price points keep exact scd2 history across registry snapshots: change, revert, removal, new tier."""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from modelatlas.pipelines.current import Changes
from modelatlas.pipelines.engine import load_standalone
from modelatlas.pipelines.genai_prices import SPEC
from modelatlas.simulator import Simulator, sample_environment
from modelatlas.simulator.genai_prices import RegistryHandler
from modelatlas.warehouse import ConnectionInfo, read_only_query

DATASET = "raw_price_history_test"
T1, T2, T3, T4, T5, T6 = (datetime(2026, 1, day, 12, 0, tzinfo=UTC) for day in range(1, 7))

BASE_REGISTRY: list[dict[str, Any]] = [
    {
        "id": "acme",
        "name": "Acme AI",
        "models": [
            {
                "id": "alpha",
                "name": "Alpha",
                "prices": {"input_mtok": "3", "output_mtok": "15", "requests_kcount": "2"},
                "price_variants": [{"when": {"processing": "batch"}, "prices": {"input_mtok": "1.5"}}],
            },
            {"id": "beta", "name": "Beta", "prices": {"input_mtok": "1", "output_mtok": "2"}},
            {
                "id": "gamma",
                "name": "Gamma",
                "prices": [
                    {"prices": {"input_mtok": "1"}},
                    {"constraint": {"start_date": "2026-03-01"}, "prices": {"input_mtok": "0.8"}},
                ],
            },
        ],
    }
]


def _model(registry: list[dict[str, Any]], model_id: str) -> dict[str, Any]:
    return next(model for model in registry[0]["models"] if model["id"] == model_id)


def _snapshots() -> list[tuple[datetime, list[dict[str, Any]]]]:
    first = copy.deepcopy(BASE_REGISTRY)
    changed = copy.deepcopy(first)
    _model(changed, "alpha")["prices"]["input_mtok"] = "2.5"
    reverted = copy.deepcopy(first)
    removed = copy.deepcopy(reverted)
    removed[0]["models"] = [model for model in removed[0]["models"] if model["id"] != "beta"]
    tiered = copy.deepcopy(removed)
    _model(tiered, "alpha")["prices"]["input_mtok"] = {"base": "3", "tiers": [{"start": 200000, "price": "6"}]}
    unchanged = copy.deepcopy(tiered)
    return [(T1, first), (T2, changed), (T3, reverted), (T4, removed), (T5, tiered), (T6, unchanged)]


def _count(connection: ConnectionInfo) -> int:
    _, rows = read_only_query(connection, f"select count(*) from {DATASET}.price_points")
    return int(rows[0][0])


@pytest.fixture(scope="module")
def registry() -> Iterator[tuple[RegistryHandler, dict[str, str]]]:
    """The registry's published JSON served by the simulator, and the environment that reads it."""
    handler = RegistryHandler(None, BASE_REGISTRY)
    with Simulator({SPEC.name: handler}) as simulator:
        yield handler, sample_environment(simulator, [SPEC])


@pytest.fixture(scope="module")
def pipelines_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("dlt")


@dataclass(frozen=True)
class Loaded:
    """One load of the history: the row count after it and what it reported."""

    rows: int
    changes: Changes
    report: str


@pytest.fixture(scope="module")
def history(
    connection: ConnectionInfo, registry: tuple[RegistryHandler, dict[str, str]], pipelines_dir: Path
) -> Mapping[datetime, Loaded]:
    """Loads every snapshot in order, each fetched at its time."""
    handler, env = registry
    loads = {}
    for at, providers in _snapshots():
        handler.update(providers)
        loaded = load_standalone(SPEC, connection, pipelines_dir, env=env, dataset=DATASET, fetched_at=at)
        assert not loaded.blocked and sum(loaded.gate.quarantined_counts().values()) == 0, loaded.report()
        loads[at] = Loaded(_count(connection), loaded.changes["price_points"], loaded.report())
    return loads


def _intervals(connection: ConnectionInfo, model: str) -> list[tuple[Any, ...]]:
    _, rows = read_only_query(
        connection,
        "select component, service_tier, condition, price_usd, _dlt_valid_from, _dlt_valid_to "
        f"from {DATASET}.price_points where source_model_key = %s "
        "order by component, service_tier, condition, _dlt_valid_from",
        [model],
    )
    return [tuple(row) for row in rows]


def test_a_change_and_its_revert_open_new_intervals_and_a_new_tier_opens_its_own(
    connection: ConnectionInfo, history: Mapping[datetime, Loaded]
) -> None:
    assert _intervals(connection, "alpha") == [
        ("input", "batch", "base", Decimal("1.5"), T1, None),
        ("input", "standard", "base", Decimal("3"), T1, T2),
        ("input", "standard", "base", Decimal("2.5"), T2, T3),
        ("input", "standard", "base", Decimal("3"), T3, None),
        ("input", "standard", "input > 200000 tokens", Decimal("6"), T5, None),
        ("output", "standard", "base", Decimal("15"), T1, None),
        # USD 2 per 1,000 requests is USD 0.002 per request.
        ("request", "standard", "base", Decimal("0.002"), T1, None),
    ]


def test_a_removed_model_has_its_intervals_closed_and_kept(
    connection: ConnectionInfo, history: Mapping[datetime, Loaded]
) -> None:
    assert _intervals(connection, "beta") == [
        ("input", "standard", "base", Decimal("1"), T1, T4),
        ("output", "standard", "base", Decimal("2"), T1, T4),
    ]


def test_dated_prices_keep_their_effective_dates(
    connection: ConnectionInfo, history: Mapping[datetime, Loaded]
) -> None:
    _, rows = read_only_query(
        connection,
        "select price_usd, effective_from, effective_until, _dlt_valid_from, _dlt_valid_to "
        f"from {DATASET}.price_points where source_model_key = 'gamma' order by effective_from nulls first",
    )
    assert [tuple(row) for row in rows] == [
        (Decimal("1"), None, date(2026, 3, 1), T1, None),
        (Decimal("0.8"), date(2026, 3, 1), None, T1, None),
    ]


def test_an_unchanged_load_adds_no_row(connection: ConnectionInfo, history: Mapping[datetime, Loaded]) -> None:
    # 8 rows at T1; +1 each for the change and the revert; removal closes rows without adding; +1 for the tier.
    assert [history[at].rows for at in (T1, T2, T3, T4, T5, T6)] == [8, 9, 10, 10, 11, 11]


def test_each_load_reports_the_price_points_added_removed_and_changed(history: Mapping[datetime, Loaded]) -> None:
    counted = [
        (len(history[at].changes.added), len(history[at].changes.removed), len(history[at].changes.changed))
        for at in (T1, T2, T3, T4, T5, T6)
    ]
    assert counted == [(8, 0, 0), (0, 0, 1), (0, 0, 1), (0, 2, 0), (1, 0, 0), (0, 0, 0)]
    alpha_input = "genai-prices/acme/alpha/input/standard/base/global/"
    assert history[T2].changes.changed == history[T3].changes.changed == [alpha_input]
    assert history[T4].changes.removed == [
        "genai-prices/acme/beta/input/standard/base/global/",
        "genai-prices/acme/beta/output/standard/base/global/",
    ]
    assert history[T4].report.startswith(
        "genai_prices: 6 price_points (0 added, 2 removed, 0 changed) from published data, sha256:"
    )


def test_price_points_columns_follow_the_contract(
    connection: ConnectionInfo, history: Mapping[datetime, Loaded]
) -> None:
    _, types = read_only_query(
        connection,
        "select column_name, data_type, numeric_precision, numeric_scale from information_schema.columns "
        "where table_schema = %s and table_name = 'price_points' order by column_name",
        [DATASET],
    )
    columns = {row[0]: tuple(row[1:]) for row in types}
    assert columns["price_usd"] == ("numeric", 38, 18)
    assert columns["above_input_tokens"][0] == "bigint"
    assert columns["effective_from"][0] == columns["effective_until"][0] == "date"
    assert columns["_dlt_valid_from"][0] == columns["_dlt_valid_to"][0] == "timestamp with time zone"
    assert {"source", "source_provider", "provider_model_id", "region", "original_value", "price_hash"} <= set(columns)
    _, rows = read_only_query(
        connection,
        f"select distinct source, source_provider, region, original_unit from {DATASET}.price_points order by 4",
    )
    assert [tuple(row) for row in rows] == [
        ("genai-prices", "acme", "global", "USD/1K requests"),
        ("genai-prices", "acme", "global", "USD/1M tokens"),
    ]


def test_an_unchanged_registry_fetched_now_keeps_every_current_row_open(
    connection: ConnectionInfo,
    history: Mapping[datetime, Loaded],
    registry: tuple[RegistryHandler, dict[str, str]],
    pipelines_dir: Path,
) -> None:
    """Without `fetched_at`, the boundary is the fetch's own time: nothing changed, nothing closes."""
    handler, env = registry
    _, unchanged = _snapshots()[-1]
    handler.update(unchanged)
    loaded = load_standalone(SPEC, connection, pipelines_dir, env=env, dataset=DATASET)
    assert loaded.changes["price_points"] == Changes(added=[], removed=[], changed=[])
    assert _count(connection) == history[T6].rows
    _, open_rows = read_only_query(
        connection, f"select count(*) from {DATASET}.price_points where _dlt_valid_to is null"
    )
    assert open_rows[0][0] == 7
