"""What a source asset tells Dagster and `modelatlas run`: checks, failures, report lines and versioned tables."""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg
import pytest

from modelatlas.assets.sources import (
    REPORT_METADATA_KEY,
    asset_key,
    blocked_failure,
    gate_check_results,
    gate_check_specs,
    materializations,
    source_failure,
)
from modelatlas.errors import AuthenticationError, SourceUnreachableError
from modelatlas.pipelines.current import changes
from modelatlas.pipelines.engine import SourceLoad, data_version
from modelatlas.pipelines.quality.gate import gate_batch
from modelatlas.pipelines.quality.suite import Suite
from modelatlas.pipelines.quality.validation import Baseline
from modelatlas.pipelines.spec import Batch, FetchStats, SourceSpec, TableSpec
from modelatlas.settings import GateSettings

NOW = datetime(2026, 12, 1, tzinfo=UTC)
SPEC = SourceSpec(
    name="toy",
    display_name="Toy",
    kind="catalog",
    description="A toy catalog.",
    tables=(
        TableSpec(
            name="models",
            description="Toy models.",
            columns={"id": "text", "size": "bigint", "batch_id": "text"},
            version_columns=("id", "size"),
            primary_key=("id",),
            tracked_by=(("id",), "size"),
            suite=Suite(source="toy", entity="models", key=("id",), not_null=("id",), guard_shrink=True),
            preview=("id", "size"),
        ),
        TableSpec(
            name="notes",
            description="Unvalidated notes.",
            columns={"id": "text", "batch_id": "text"},
            version_columns=("id",),
            disposition="append",
        ),
    ),
)


def rows(*sizes: int | None) -> list[dict[str, object]]:
    return [
        {"id": f"m{n}" if size is not None else None, "size": size, "batch_id": "b1"} for n, size in enumerate(sizes)
    ]


def loaded(batch_rows: list[dict[str, object]], baseline: Baseline | None = None) -> SourceLoad:
    batch = Batch(tables={"models": batch_rows, "notes": [{"id": "n1", "batch_id": "b1"}]}, origin="http://toy [eu]")
    gate = gate_batch(SPEC, batch, {"models": baseline or Baseline()}, GateSettings(), now=NOW)
    load = SourceLoad(spec=SPEC, batch=batch, gate=gate, stats=FetchStats(pages=2, requests=3))
    if not gate.blocked:
        for table in SPEC.tables:
            load.versions[table.name] = data_version(table, gate.passing[table.name])
        load.changes["models"] = changes({("m0",): "1", ("gone",): "9"}, {("m0",): "2", ("m1",): "3"})
    return load


def test_an_unreachable_source_and_a_failed_one_say_which_they_are() -> None:
    unreachable = source_failure(SPEC, SourceUnreachableError("host down"), requests=5)
    assert unreachable.description == "host down"
    assert unreachable.metadata[REPORT_METADATA_KEY].value == "toy: unreachable: host down"
    assert unreachable.metadata["requests"].value == 5
    rejected = source_failure(SPEC, AuthenticationError("401 from Toy"))
    assert rejected.metadata[REPORT_METADATA_KEY].value == "toy: failed: 401 from Toy"


def test_only_tables_with_a_suite_get_a_blocking_gate_check() -> None:
    [check] = gate_check_specs(SPEC)
    assert (check.asset_key, check.name, check.blocking) == (dg.AssetKey(["raw_toy", "models"]), "quality_gate", True)


def test_a_batch_with_quarantined_rows_passes_its_check_and_says_how_many() -> None:
    load = loaded(rows(1, None, 3))
    [check] = gate_check_results(SPEC, load.gate, sample_rows=10, loaded={"models": 2})
    assert check.passed
    assert check.description == "loaded; 1 rows quarantined (see dq.quarantine)"
    assert check.metadata["rows_quarantined"].value == 1
    assert check.metadata["rows_loaded"].value == 2
    assert "id is not null" in check.metadata["quarantined_rows_sample"].value  # type: ignore[operator]
    # A row without its key is kept aside with no key at all, not the text "None".
    assert [key for key, _, _ in load.gate.quarantined["models"]] == [None]
    assert load.report() == (
        "toy: 2 models (1 added, 1 removed, 1 changed) from http://toy [eu]; 1 rows quarantined (see dq.quarantine)"
    )


def test_a_blocked_batch_fails_its_check_and_the_asset_with_the_reason() -> None:
    load = loaded(rows(1), baseline=Baseline(row_count=10))
    [check] = gate_check_results(SPEC, load.gate, sample_rows=10, loaded={})
    assert not check.passed
    assert check.severity == dg.AssetCheckSeverity.ERROR
    assert check.description is not None and check.description.startswith("blocked: the batch lists at least 5 rows")
    failure = blocked_failure(SPEC, load.gate)
    assert failure.description is not None
    assert failure.description.startswith(
        "toy: batch b1 blocked by the quality gate, nothing loaded, previous data kept"
    )
    assert failure.metadata[REPORT_METADATA_KEY].value == failure.description
    assert load.report() == failure.description


@pytest.mark.parametrize("selected", [{"models", "notes"}, {"notes"}])
def test_each_selected_table_is_materialized_with_its_content_version(selected: set[str]) -> None:
    load = loaded(rows(1, 2))
    keys = {asset_key(SPEC, SPEC.table(name)) for name in selected}
    results = {result.asset_key: result for result in materializations(load, keys)}
    assert set(results) == keys
    for key, result in results.items():
        assert result.data_version == dg.DataVersion(load.versions[key.path[-1]])
        assert result.metadata is not None and result.metadata[REPORT_METADATA_KEY] == load.report()
    if "models" in selected:
        models = results[dg.AssetKey(["raw_toy", "models"])].metadata
        assert models is not None
        assert (models["dagster/row_count"], models["rows_added"], models["added"]) == (2, 1, "m1")
        assert "| m0 | 1 |" in str(models["preview"])


def test_the_same_content_in_another_order_has_the_same_version_and_other_content_another() -> None:
    table = SPEC.table("models")
    assert data_version(table, rows(1, 2)) == data_version(table, list(reversed(rows(1, 2))))
    assert data_version(table, rows(1, 2)) != data_version(table, rows(1, 3))
    # Columns outside the version columns (when it was fetched) change nothing.
    later = [{**row, "batch_id": "b2"} for row in rows(1, 2)]
    assert data_version(table, later) == data_version(table, rows(1, 2))
