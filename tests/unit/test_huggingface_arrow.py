"""Hugging Face rows as Arrow tables: the `models` table's schema and values, JSON as text, and the stats table."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pytest

from modelatlas.pipelines.catalog import batch_id, catalog_row
from modelatlas.pipelines.huggingface import (
    CATALOG,
    MODEL_SCHEMA,
    MODELS_COLUMNS,
    SPEC,
    STATS_COLUMNS,
    models_table,
    stats_table,
)
from modelatlas.simulator import Simulator, build_simulator
from modelatlas.simulator.core import load_fixture
from tests.unit.simulated import simulated_fetch

FIXTURE: list[dict[str, Any]] = load_fixture("huggingface")
FETCHED_AT = datetime(2026, 5, 1, 12, 30, tzinfo=UTC)
ARROW_TYPES = {
    "text": pa.string(),
    "json": pa.string(),
    "bigint": pa.int64(),
    "double": pa.float64(),
    "timestamp": pa.timestamp("us", tz="UTC"),
}


def rows_of(items: list[Any]) -> list[dict[str, Any]]:
    batch = batch_id(FETCHED_AT)
    return [catalog_row(item, CATALOG, batch=batch, fetched_at=FETCHED_AT, region="eu") for item in items]


def test_the_schema_is_the_declared_columns_in_their_arrow_types() -> None:
    assert MODEL_SCHEMA.names == list(MODELS_COLUMNS) == list(SPEC.table("models").columns)
    assert [MODEL_SCHEMA.field(name).type for name in MODEL_SCHEMA.names] == [
        ARROW_TYPES[data_type] for data_type in MODELS_COLUMNS.values()
    ]


def test_a_row_keeps_the_whole_item_as_json_text_and_the_fetch_context() -> None:
    item = FIXTURE[0]
    [row] = models_table(rows_of([item])).to_pylist()
    assert row["id"] == item["id"]
    assert json.loads(row["payload"]) == item
    assert json.loads(row["tags"]) == item["tags"]
    assert (row["region"], row["batch_id"], row["_fetched_at"]) == ("eu", "20260501T123000.000000Z", FETCHED_AT)
    assert row["created_at"] == datetime(2024, 7, 18, 8, 56, tzinfo=UTC)
    assert row["downloads"] == item["downloads"] and row["trending_score"] == float(item["trendingScore"])


def test_a_model_without_tags_has_null_tags_not_the_text_null() -> None:
    item = {key: value for key, value in FIXTURE[0].items() if key != "tags"}
    [row] = models_table(rows_of([item])).to_pylist()
    assert row["tags"] is None


def test_an_item_that_is_no_object_keeps_its_value_in_the_payload_with_no_id() -> None:
    [row] = models_table(rows_of(["meta-llama/Llama-3.1-8B"])).to_pylist()
    assert row["id"] is None and json.loads(row["payload"]) == {"item": "meta-llama/Llama-3.1-8B"}
    assert all(row[name] is None for name in CATALOG.column_types)


def test_the_table_holds_the_rows_values_in_order() -> None:
    rows = rows_of(FIXTURE[:4])
    table = models_table(rows)
    assert table.schema == MODEL_SCHEMA and table.num_rows == 4
    assert table.column("id").to_pylist() == [item["id"] for item in FIXTURE[:4]]
    assert table.column("downloads").to_pylist() == [item["downloads"] for item in FIXTURE[:4]]
    assert table.column("content_hash").to_pylist() == [row["content_hash"] for row in rows]
    assert table.column("_fetched_at").to_pylist() == [FETCHED_AT] * 4


def test_an_empty_fetch_is_an_empty_table_of_the_schema() -> None:
    table = models_table([])
    assert table.num_rows == 0 and table.schema == MODEL_SCHEMA
    assert stats_table(table).num_rows == 0


def test_the_stats_table_is_the_counters_at_the_fetch_time() -> None:
    stats = stats_table(models_table(rows_of(FIXTURE[:2])))
    assert stats.column_names == list(STATS_COLUMNS) == list(SPEC.table("model_stats").columns)
    assert stats.to_pylist()[0] == {
        "id": FIXTURE[0]["id"],
        "downloads": FIXTURE[0]["downloads"],
        "likes": FIXTURE[0]["likes"],
        "trending_score": float(FIXTURE[0]["trendingScore"]),
        "observed_at": FETCHED_AT,
        "batch_id": batch_id(FETCHED_AT),
    }


@pytest.fixture(scope="module")
def simulator() -> Iterator[Simulator]:
    with build_simulator([SPEC]) as server:
        yield server


def test_a_fetch_is_one_arrow_table_per_table(simulator: Simulator) -> None:
    batch, _ = simulated_fetch(SPEC, simulator, page_size=4)
    models, stats = batch.tables["models"], batch.tables["model_stats"]
    assert isinstance(models, pa.Table) and isinstance(stats, pa.Table)
    assert models.schema == MODEL_SCHEMA
    assert sorted(models.column("id").to_pylist()) == sorted(item["id"] for item in FIXTURE)
    assert stats.column("id").to_pylist() == models.column("id").to_pylist()
    assert set(stats.column("batch_id").to_pylist()) == set(models.column("batch_id").to_pylist())
