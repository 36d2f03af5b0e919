"""Catalog data versions: the same content gives the same version, whatever the order it was fetched in."""

from __future__ import annotations

from datetime import UTC, datetime

from modelatlas.assets.catalogs import catalog_data_version
from modelatlas.pipelines.catalog import FetchStats
from modelatlas.pipelines.huggingface import page_rows
from modelatlas.simulator.core import load_fixture


def test_the_same_models_give_the_same_version_in_any_order() -> None:
    first = catalog_data_version({"a": "h1", "b": "h2"}, "global")
    assert first == catalog_data_version({"b": "h2", "a": "h1"}, "global")
    assert first != catalog_data_version({"a": "h1", "b": "h3"}, "global")
    assert first != catalog_data_version({"a": "h1"}, "global")
    assert first != catalog_data_version({"a": "h1", "b": "h2"}, "eu")


def test_hugging_face_rows_record_the_counters_observed() -> None:
    items = load_fixture("huggingface")[:3]
    stats = FetchStats()
    page_rows(items, fetched_at=datetime(2026, 1, 1, tzinfo=UTC), region="global", stats=stats, listed=set())
    item = items[0]
    assert stats.observations[item["id"]] == f"{item['downloads']}:{item['likes']}:{float(item['trendingScore'])}"
    busier = {**item, "downloads": item["downloads"] + 1}
    again = FetchStats()
    page_rows([busier], fetched_at=datetime(2026, 1, 2, tzinfo=UTC), region="global", stats=again, listed=set())
    assert catalog_data_version(again.observations, "global") != catalog_data_version(
        {item["id"]: stats.observations[item["id"]]}, "global"
    )
