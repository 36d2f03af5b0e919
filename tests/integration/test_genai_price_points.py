"""genai-prices price points keep exact scd2 history across registry snapshots: change, revert, removal, new tier."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from modelatlas.pipelines.genai_prices import genai_prices_source
from modelatlas.pipelines.genai_prices.normalize import check_registry_shape
from modelatlas.pipelines.genai_prices.registry import RegistrySnapshot
from modelatlas.pipelines.loading import make_pipeline, run_source
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


def _snapshot(providers: list[dict[str, Any]], at: datetime) -> RegistrySnapshot:
    return RegistrySnapshot(
        providers=check_registry_shape(providers), origin="package", version="test", url=None, fetched_at=at
    )


def _count(connection: ConnectionInfo) -> int:
    _, rows = read_only_query(connection, f"select count(*) from {DATASET}.price_points")
    return int(rows[0][0])


@pytest.fixture(scope="module")
def history(connection: ConnectionInfo, tmp_path_factory: pytest.TempPathFactory) -> Mapping[datetime, int]:
    """Loads every snapshot in order with its observation time; the row count after each load."""
    pipeline = make_pipeline("price_history_test", DATASET, connection.url(), tmp_path_factory.mktemp("dlt"))
    counts = {}
    for at, providers in _snapshots():
        run_source(pipeline, genai_prices_source(snapshot=_snapshot(providers, at), observed_at=at))
        counts[at] = _count(connection)
    return counts


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
    connection: ConnectionInfo, history: Mapping[datetime, int]
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
    connection: ConnectionInfo, history: Mapping[datetime, int]
) -> None:
    assert _intervals(connection, "beta") == [
        ("input", "standard", "base", Decimal("1"), T1, T4),
        ("output", "standard", "base", Decimal("2"), T1, T4),
    ]


def test_dated_prices_keep_their_effective_dates(connection: ConnectionInfo, history: Mapping[datetime, int]) -> None:
    _, rows = read_only_query(
        connection,
        "select price_usd, effective_from, effective_until, _dlt_valid_from, _dlt_valid_to "
        f"from {DATASET}.price_points where source_model_key = 'gamma' order by effective_from nulls first",
    )
    assert [tuple(row) for row in rows] == [
        (Decimal("1"), None, date(2026, 3, 1), T1, None),
        (Decimal("0.8"), date(2026, 3, 1), None, T1, None),
    ]


def test_an_unchanged_load_adds_no_row(connection: ConnectionInfo, history: Mapping[datetime, int]) -> None:
    # 8 rows at T1; +1 each for the change and the revert; removal closes rows without adding; +1 for the tier.
    assert [history[at] for at in (T1, T2, T3, T4, T5, T6)] == [8, 9, 10, 10, 11, 11]


def test_price_points_columns_follow_the_contract(connection: ConnectionInfo, history: Mapping[datetime, int]) -> None:
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


def test_an_observed_at_before_the_last_load_is_not_needed_for_a_plain_reload(
    connection: ConnectionInfo, history: Mapping[datetime, int], tmp_path: Path
) -> None:
    """Without `observed_at`, the boundary is the load's own time: the current rows stay open."""
    pipeline = make_pipeline("price_history_test", DATASET, connection.url(), tmp_path)
    _, unchanged = _snapshots()[-1]
    run_source(pipeline, genai_prices_source(snapshot=_snapshot(unchanged, datetime.now(UTC))))
    assert _count(connection) == history[T6]
    _, open_rows = read_only_query(
        connection, f"select count(*) from {DATASET}.price_points where _dlt_valid_to is null"
    )
    assert open_rows[0][0] == 7
