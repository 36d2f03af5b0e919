"""The genai-prices source loads the real registry into PostgreSQL, idempotently, and survives an interrupted load."""

from __future__ import annotations

from pathlib import Path
from typing import Any, NoReturn

import dlt
import pytest

from modelatlas.errors import WarehouseError
from modelatlas.pipelines.engine import SourceLoad, load_standalone
from modelatlas.pipelines.genai_prices import SPEC, registry_tables
from modelatlas.pipelines.genai_prices.registry import RegistrySnapshot, packaged_snapshot
from modelatlas.pipelines.loading import make_pipeline
from modelatlas.warehouse import ConnectionInfo, read_only_query

PRICE_KEY = "provider_id, model_id, component, condition"
# The published JSON switched off: the installed package's data is what loads.
PACKAGED = {"MODELATLAS_GENAI_PRICES_URL": ""}
SWITCHED_OFF = "published JSON not used: the published registry is switched off (MODELATLAS_GENAI_PRICES_URL is empty)"
# The registry's one suspect price (a cache read above its input price), as it writes it and as a price point.
QUARANTINED = {"providers": 0, "models": 0, "prices": 1, "loads": 0, "price_points": 1}
DATASET = "raw_load_test"


@pytest.fixture(scope="module")
def snapshot() -> RegistrySnapshot:
    return packaged_snapshot()


def _load(connection: ConnectionInfo, dataset: str, pipelines_dir: Path) -> SourceLoad:
    return load_standalone(SPEC, connection, pipelines_dir, env=PACKAGED, dataset=dataset)


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


@pytest.fixture(scope="module")
def first_load(connection: ConnectionInfo, tmp_path_factory: pytest.TempPathFactory) -> SourceLoad:
    """The registry's first load into DATASET; the later tests load it again and compare."""
    return _load(connection, DATASET, tmp_path_factory.mktemp("dlt"))


def test_loads_every_row_of_the_registry_but_its_one_suspect_price(
    connection: ConnectionInfo, snapshot: RegistrySnapshot, first_load: SourceLoad
) -> None:
    expected = {name: len(rows) - QUARANTINED[name] for name, rows in registry_tables(snapshot).items()}
    loaded = first_load
    assert not loaded.blocked
    assert loaded.gate.quarantined_counts() == QUARANTINED
    assert loaded.summary is not None and loaded.summary.row_counts == expected
    assert _counts(connection, DATASET) == expected
    assert expected["prices"] >= 1000 and expected["providers"] >= 20
    points = expected["price_points"]
    assert loaded.report() == (
        f"genai_prices: {points:,} price_points ({points} added, 0 removed, 0 changed) from package data, "
        f"{snapshot.version}; 2 rows quarantined (see dq.quarantine); {SWITCHED_OFF}"
    )

    _, types = read_only_query(
        connection,
        "select column_name, data_type from information_schema.columns "
        f"where table_schema = '{DATASET}' and table_name = 'prices' "
        "and column_name in ('price_usd', 'price_usd_per_mtok', 'effective_from', 'batch_id')",
    )
    assert dict(types) == {
        "price_usd": "numeric",
        "price_usd_per_mtok": "numeric",
        "effective_from": "date",
        "batch_id": "character varying",
    }
    _, match = read_only_query(
        connection, f"select jsonb_typeof(match_rule) from {DATASET}.models where match_rule is not null limit 1"
    )
    assert match == [("object",)]
    _, origin = read_only_query(connection, f"select distinct source_origin, source_version from {DATASET}.prices")
    assert origin == [("package", snapshot.version)]


def test_a_second_load_changes_no_count_and_no_key(
    connection: ConnectionInfo, first_load: SourceLoad, tmp_path: Path
) -> None:
    first = _counts(connection, DATASET)
    second_load = _load(connection, DATASET, tmp_path)
    second = _counts(connection, DATASET)
    assert second == {**first, "loads": first["loads"] + 1}
    assert _duplicate_price_keys(connection, DATASET) == 0
    assert f"genai_prices: {first['price_points']:,} price_points (0 added, 0 removed, 0 changed)" in (
        second_load.report()
    )


class LoadInterruptedError(Exception):
    """What stops the load step, as a Ctrl-C between dlt's normalize and load steps would."""


def test_a_load_interrupted_after_extraction_is_completed_by_the_next_run(
    connection: ConnectionInfo, first_load: SourceLoad, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _counts(connection, DATASET)

    def interrupted(*_args: Any, **_kwargs: Any) -> NoReturn:
        raise LoadInterruptedError("interrupted before the load step")

    with monkeypatch.context() as patch:
        patch.setattr(dlt.Pipeline, "load", interrupted)
        with pytest.raises(WarehouseError, match="loading genai_prices into the warehouse failed: interrupted"):
            _load(connection, DATASET, tmp_path)
    # The pipeline load_standalone runs for this dataset: extracted and normalized, never loaded.
    pipeline = make_pipeline(f"{SPEC.name}__{DATASET}", DATASET, connection.url(), tmp_path)
    assert pipeline.has_pending_data
    assert _counts(connection, DATASET) == first

    _load(connection, DATASET, tmp_path)
    assert not make_pipeline(f"{SPEC.name}__{DATASET}", DATASET, connection.url(), tmp_path).has_pending_data
    after = _counts(connection, DATASET)
    assert after == {**first, "loads": first["loads"] + 2}
    assert _duplicate_price_keys(connection, DATASET) == 0
