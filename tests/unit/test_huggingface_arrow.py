"""Hugging Face rows as Arrow tables: the rows, their hash, the table schema and the batches the source yields."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pytest

from modelatlas.pipelines import huggingface
from modelatlas.pipelines.catalog import FetchStats, batch_id
from modelatlas.pipelines.huggingface import (
    MODEL_SCHEMA,
    ModelRows,
    huggingface_source,
    models_table,
    page_rows,
    stable_hash,
    stats_table,
)
from modelatlas.simulator.core import load_fixture
from modelatlas.simulator.huggingface import HuggingFaceHandler
from modelatlas.simulator.server import Simulator

FIXTURE: list[dict[str, Any]] = load_fixture("huggingface")
FETCHED_AT = datetime(2026, 5, 1, 12, 30, tzinfo=UTC)


def rows_of(items: list[dict[str, Any]], listed: set[str] | None = None) -> tuple[list[dict[str, Any]], FetchStats]:
    stats = FetchStats()
    rows = page_rows(items, fetched_at=FETCHED_AT, region="eu", stats=stats, listed=set() if listed is None else listed)
    return rows, stats


def test_a_row_keeps_the_whole_item_as_json_text_and_the_fetch_context() -> None:
    item = FIXTURE[0]
    [row], stats = rows_of([item])
    assert row["id"] == item["id"]
    assert json.loads(row["payload"]) == item
    assert json.loads(row["tags"]) == item["tags"]
    assert row["region"] == "eu"
    assert row["batch_id"] == batch_id(FETCHED_AT)
    assert row["_fetched_at"] == FETCHED_AT
    assert row["created_at"] == datetime(2024, 7, 18, 8, 56, tzinfo=UTC)
    assert stats.items == 1
    assert stats.content_hashes == {item["id"]: row["content_hash"]}


def test_a_model_listed_twice_in_one_fetch_is_kept_once() -> None:
    listed: set[str] = set()
    first, _ = rows_of(FIXTURE[:3], listed)
    again, stats = rows_of(FIXTURE[2:5], listed)
    assert [row["id"] for row in first] == [item["id"] for item in FIXTURE[:3]]
    assert [row["id"] for row in again] == [item["id"] for item in FIXTURE[3:5]]
    assert stats.items == 2


def test_a_model_without_tags_has_null_tags_not_the_text_null() -> None:
    item = {key: value for key, value in FIXTURE[0].items() if key != "tags"}
    [row], _ = rows_of([item])
    assert row["tags"] is None


def test_the_hash_ignores_the_counters_but_not_the_catalog_entry() -> None:
    item = FIXTURE[0]
    busier = {**item, "downloads": item["downloads"] + 1000, "likes": 0, "trendingScore": 99}
    assert stable_hash(busier) == stable_hash(item)
    assert stable_hash({**item, "gated": "auto"}) != stable_hash(item)
    # Key order is not content: the same object listed with its keys shuffled hashes the same.
    assert stable_hash(dict(reversed(list(item.items())))) == stable_hash(item)


def test_the_table_has_the_model_schema_and_the_rows_values() -> None:
    rows, _ = rows_of(FIXTURE[:4])
    table = models_table(rows)
    assert table.schema == MODEL_SCHEMA
    assert table.num_rows == 4
    assert table.column("id").to_pylist() == [row["id"] for row in rows]
    assert table.column("downloads").to_pylist() == [item["downloads"] for item in FIXTURE[:4]]
    assert table.column("_fetched_at").to_pylist() == [FETCHED_AT] * 4


def test_taking_the_rows_empties_the_gatherer() -> None:
    gathered = ModelRows()
    rows, _ = rows_of(FIXTURE[:3])
    gathered.extend(rows)
    assert len(gathered) == 3
    assert gathered.take().num_rows == 3
    assert len(gathered) == 0
    assert gathered.take().num_rows == 0


def test_the_stats_table_is_the_counters_at_the_fetch_time() -> None:
    rows, _ = rows_of(FIXTURE[:2])
    stats = stats_table(models_table(rows))
    assert stats.column_names == ["id", "downloads", "likes", "trending_score", "observed_at", "batch_id"]
    assert stats.to_pylist()[0] == {
        "id": FIXTURE[0]["id"],
        "downloads": FIXTURE[0]["downloads"],
        "likes": FIXTURE[0]["likes"],
        "trending_score": float(FIXTURE[0]["trendingScore"]),
        "observed_at": FETCHED_AT,
        "batch_id": batch_id(FETCHED_AT),
    }


@pytest.fixture
def simulator() -> Iterator[Simulator]:
    with Simulator({"huggingface": HuggingFaceHandler(None)}) as server:
        yield server


def test_the_source_yields_arrow_tables_of_at_most_the_batch_size(
    simulator: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(huggingface, "ARROW_BATCH_ROWS", 10)
    organizations = sorted({item["author"] for item in FIXTURE})
    source = huggingface_source(base_url=simulator.root_url("huggingface"), organizations=organizations, page_size=4)
    tables = list(source.resources["models"])
    assert all(isinstance(table, pa.Table) for table in tables)
    # Pages of at most 4 are gathered until 10 rows or more: each table holds 10 to 13 rows, the last the rest.
    assert all(10 <= table.num_rows <= 13 for table in tables[:-1])
    assert sorted(id_ for table in tables for id_ in table.column("id").to_pylist()) == sorted(
        item["id"] for item in FIXTURE
    )
