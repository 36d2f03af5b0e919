"""The genai-prices source loads the real registry into PostgreSQL, idempotently, and survives an interrupted load."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelatlas.pipelines.genai_prices import genai_prices_source
from modelatlas.pipelines.genai_prices.registry import RegistrySnapshot, packaged_snapshot
from modelatlas.pipelines.loading import make_pipeline, run_source
from modelatlas.warehouse import ConnectionInfo, read_only_query

PRICE_KEY = "provider_id, model_id, component, condition"


@pytest.fixture(scope="module")
def snapshot() -> RegistrySnapshot:
    return packaged_snapshot()


def _counts(connection: ConnectionInfo, schema: str) -> dict[str, int]:
    counts = {}
    for table in ("providers", "models", "prices", "loads", "price_points"):
        _, rows = read_only_query(connection, f"select count(*) from {schema}.{table}")
        counts[table] = rows[0][0]
    return counts


def _duplicate_price_keys(connection: ConnectionInfo, schema: str) -> int:
    _, rows = read_only_query(
        connection,
        f"select count(*) from (select {PRICE_KEY} from {schema}.prices group by {PRICE_KEY} having count(*) > 1) d",
    )
    return int(rows[0][0])


def test_loads_every_row_of_the_registry(
    connection: ConnectionInfo, snapshot: RegistrySnapshot, tmp_path: Path
) -> None:
    expected = {
        name: len(list(resource)) for name, resource in genai_prices_source(snapshot=snapshot).resources.items()
    }
    pipeline = make_pipeline("genai_prices_load_test", "raw_load_test", connection.url(), tmp_path)
    summary = run_source(pipeline, genai_prices_source(snapshot=snapshot))
    assert summary.row_counts == expected
    assert _counts(connection, "raw_load_test") == expected
    assert expected["prices"] >= 1000 and expected["providers"] >= 20

    _, types = read_only_query(
        connection,
        "select column_name, data_type from information_schema.columns "
        "where table_schema = 'raw_load_test' and table_name = 'prices' "
        "and column_name in ('price_usd', 'price_usd_per_mtok', 'effective_from', 'batch_id')",
    )
    assert dict(types) == {
        "price_usd": "numeric",
        "price_usd_per_mtok": "numeric",
        "effective_from": "date",
        "batch_id": "character varying",
    }
    _, match = read_only_query(
        connection, "select jsonb_typeof(match_rule) from raw_load_test.models where match_rule is not null limit 1"
    )
    assert match == [("object",)]
    _, origin = read_only_query(connection, "select distinct source_origin, source_version from raw_load_test.prices")
    assert origin == [("package", snapshot.version)]


def test_a_second_load_changes_no_count_and_no_key(
    connection: ConnectionInfo, snapshot: RegistrySnapshot, tmp_path: Path
) -> None:
    pipeline = make_pipeline("genai_prices_idempotent", "raw_idempotent", connection.url(), tmp_path)
    run_source(pipeline, genai_prices_source(snapshot=snapshot))
    first = _counts(connection, "raw_idempotent")
    run_source(pipeline, genai_prices_source(snapshot=packaged_snapshot()))
    second = _counts(connection, "raw_idempotent")
    assert second == {**first, "loads": first["loads"] + 1}
    assert _duplicate_price_keys(connection, "raw_idempotent") == 0


def test_a_load_interrupted_after_extraction_is_completed_by_the_next_run(
    connection: ConnectionInfo, snapshot: RegistrySnapshot, tmp_path: Path
) -> None:
    pipeline = make_pipeline("genai_prices_interrupted", "raw_interrupted", connection.url(), tmp_path)
    run_source(pipeline, genai_prices_source(snapshot=snapshot))
    first = _counts(connection, "raw_interrupted")
    # Stop where a Ctrl-C between dlt's steps would: extracted and normalized, never loaded.
    pipeline.extract(genai_prices_source(snapshot=packaged_snapshot()))
    pipeline.normalize()
    assert pipeline.has_pending_data
    run_source(pipeline, genai_prices_source(snapshot=packaged_snapshot()))
    assert not pipeline.has_pending_data
    after = _counts(connection, "raw_interrupted")
    assert after == {**first, "loads": first["loads"] + 2}
    assert _duplicate_price_keys(connection, "raw_interrupted") == 0
