"""Catalog data versions: a table's version is its loaded content, whatever order it came in and whenever fetched."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
from hypothesis import given
from hypothesis import strategies as st

from modelatlas.pipelines import huggingface, openai, openrouter
from modelatlas.pipelines.catalog import catalog_rows
from modelatlas.pipelines.engine import data_version, tracked_contents
from modelatlas.pipelines.spec import TableSpec
from modelatlas.simulator.core import load_fixture

MODELS = openai.SPEC.table("models")
OPENAI: list[dict[str, Any]] = load_fixture("openai")
HUB: list[dict[str, Any]] = load_fixture("huggingface")
MONDAY, TUESDAY = datetime(2026, 1, 5, tzinfo=UTC), datetime(2026, 1, 6, tzinfo=UTC)


def rows(items: list[Any], fetched_at: datetime = MONDAY, region: str = "global") -> list[dict[str, Any]]:
    return catalog_rows(items, openai.CATALOG, fetched_at=fetched_at, region=region)


def hub_tables(items: list[Any], fetched_at: datetime = MONDAY) -> dict[str, Any]:
    models = huggingface.models_table(catalog_rows(items, huggingface.CATALOG, fetched_at=fetched_at, region="global"))
    return {"models": models, "model_stats": huggingface.stats_table(models)}


def hub_version(table: str, items: list[Any], fetched_at: datetime = MONDAY) -> str:
    return data_version(huggingface.SPEC.table(table), hub_tables(items, fetched_at)[table])


@given(st.randoms(use_true_random=False))
def test_the_same_models_give_the_same_version_in_any_order_and_at_any_fetch(shuffler: random.Random) -> None:
    shuffled = list(OPENAI)
    shuffler.shuffle(shuffled)
    assert data_version(MODELS, rows(shuffled, TUESDAY)) == data_version(MODELS, rows(OPENAI, MONDAY))


def test_another_content_another_model_or_another_region_is_another_version() -> None:
    version = data_version(MODELS, rows(OPENAI))
    edited = [{**OPENAI[0], "owned_by": "someone-else"}, *OPENAI[1:]]
    assert data_version(MODELS, rows(edited)) != version
    assert data_version(MODELS, rows(OPENAI[1:])) != version
    assert data_version(MODELS, rows(OPENAI, region="eu")) != version


def test_an_arrow_table_in_another_order_has_the_same_version() -> None:
    table = hub_tables(HUB)["models"]
    reversed_table = table.take(list(reversed(range(table.num_rows))))
    spec = huggingface.SPEC.table("models")
    assert data_version(spec, reversed_table) == data_version(spec, table)
    assert data_version(spec, table.slice(1)) != data_version(spec, table)


def test_hugging_face_counters_move_the_stats_version_only() -> None:
    busier = [{**HUB[0], "downloads": HUB[0]["downloads"] + 1}, *HUB[1:]]
    assert hub_version("models", busier, TUESDAY) == hub_version("models", HUB)
    assert hub_version("model_stats", busier) != hub_version("model_stats", HUB)
    assert hub_version("model_stats", HUB, TUESDAY) == hub_version("model_stats", HUB)


def test_the_tracked_contents_of_a_catalog_are_its_content_hashes_by_id() -> None:
    loaded = rows(OPENAI)
    assert tracked_contents(MODELS, loaded) == {(row["id"],): row["content_hash"] for row in loaded}
    hub = hub_tables(HUB)["models"]
    assert tracked_contents(huggingface.SPEC.table("models"), hub) == dict(
        zip(((i,) for i in hub.column("id").to_pylist()), hub.column("content_hash").to_pylist(), strict=True)
    )


def test_untracked_tables_have_no_tracked_contents_and_price_points_are_tracked_by_their_natural_key() -> None:
    assert tracked_contents(huggingface.SPEC.table("model_stats"), hub_tables(HUB)["model_stats"]) == {}
    points = openrouter.SPEC.table("price_points")
    assert points.tracked_by is not None
    key, content = points.tracked_by
    row = {name: f"{name}-value" for name in (*key, content)}
    assert tracked_contents(points, [row]) == {tuple(row[name] for name in key): row[content]}


def test_a_time_series_version_moves_with_one_microsecond_and_not_with_the_order() -> None:
    from bench.status_generator import SeriesTarget, probe_table
    from modelatlas.pipelines import probe

    series = [SeriesTarget("openai", "us", "https://api.openai.com/v1/models")]
    table = probe_table(series, MONDAY, 30, seed=1)
    spec = probe.SPEC.table(probe.TABLE)
    times = table.column("observed_at").to_pylist()
    times[7] = times[7] + timedelta(microseconds=1)
    moved = table.set_column(0, "observed_at", pa.array(times, type=table.schema.field("observed_at").type))
    assert data_version(spec, table.take(list(reversed(range(table.num_rows))))) == data_version(spec, table)
    assert data_version(spec, moved) != data_version(spec, table)


def test_versions_stay_what_earlier_loads_recorded_whatever_the_chunks() -> None:
    # Recorded versions decide what rebuilds: the same content must keep the same version across releases.
    spec = TableSpec(
        name="t",
        description="",
        columns={"key": "text", "at": "timestamp", "n": "bigint"},
        version_columns=("key", "at", "n", "blob"),
    )
    at = [datetime(2026, 1, 1, tzinfo=UTC), None, datetime(2026, 1, 2, tzinfo=UTC)]
    table = pa.table(
        {
            "key": ["b", None, "a"],
            "at": pa.array(at, pa.timestamp("us", tz="UTC")),
            "n": [1, None, 3],
            "blob": pa.array([b"\xff", b"ok", None], pa.binary()),  # not text: hashed as JSON
        }
    )
    assert data_version(spec, table) == "79390b254063c28024125f08cc182394"
    assert data_version(spec, pa.concat_tables([table.slice(0, 1), table.slice(1)])) == data_version(spec, table)
    assert hub_version("models", HUB) == "c38b1dfb271fd3c3ed7bee207a63833b"
    assert hub_version("model_stats", HUB) == "982e34212b2b535f4f84c26c7c3dc42a"
