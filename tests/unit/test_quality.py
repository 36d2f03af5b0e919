"""The quality suites and verdicts on crafted batches: exactly the bad rows fail, the batch guards block."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest

from modelatlas.assets.dbt import dbt_project, prepare_manifest
from modelatlas.errors import ConfigurationError
from modelatlas.pipelines import genai_prices, registry
from modelatlas.pipelines.catalog import catalog_rows
from modelatlas.pipelines.genai_prices.expectations import KNOWN_COMPONENTS
from modelatlas.pipelines.openrouter import CATALOG
from modelatlas.pipelines.prices import MappingStats, openrouter_price_points
from modelatlas.pipelines.quality import Baseline, GateSettings, Suite, gate, validate_batch
from modelatlas.pipelines.quality.gate import gate_batch, passing_rows
from modelatlas.pipelines.quality.validation import key_part
from modelatlas.pipelines.spec import Batch
from modelatlas.settings import gate_settings
from modelatlas.simulator.core import load_fixture

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
OPENROUTER_SPEC = registry.source("openrouter")
GENAI_SPEC = registry.source("genai_prices")


def _suite(spec_name: str, table: str) -> Suite:
    suite = registry.source(spec_name).table(table).suite
    assert suite is not None
    return suite


OPENROUTER = _suite("openrouter", "models")


def openrouter_rows() -> list[dict[str, Any]]:
    return catalog_rows(load_fixture("openrouter"), CATALOG, fetched_at=NOW, region="global")


def openrouter_points() -> list[dict[str, Any]]:
    stats = MappingStats()
    return [point.row() for item in load_fixture("openrouter") for point in openrouter_price_points(item, stats)]


@pytest.fixture(scope="module")
def registry_tables() -> dict[str, list[dict[str, Any]]]:
    return genai_prices.registry_tables(genai_prices.load_snapshot(None, 1))


def failing(rows: list[dict[str, Any]], **kwargs: Any) -> dict[int, list[str]]:
    return validate_batch(OPENROUTER, rows, now=NOW, **kwargs).row_failures()


def test_the_fixture_catalog_passes_every_expectation() -> None:
    verdict = validate_batch(OPENROUTER, openrouter_rows(), now=NOW)
    assert verdict.failed == []
    assert not verdict.blocked
    assert verdict.row_count == len(load_fixture("openrouter"))
    assert len(verdict.results) > 20


@pytest.mark.parametrize(
    ("column", "value", "expected"),
    [
        ("id", None, "id is not null"),
        ("price_prompt_usd_per_token", Decimal("-0.000001"), "price_prompt_usd_per_token is between 0 and 0.01"),
        ("price_completion_usd_per_token", Decimal("0.5"), "price_completion_usd_per_token is between 0 and 0.01"),
        ("price_input_cache_read_usd_per_token", Decimal("1"), "price_input_cache_read_usd_per_token is not above"),
        ("context_length", 0, "context_length is between 1 and 100,000,000"),
        ("max_completion_tokens", 10**9, "max_completion_tokens is between 1 and 10,000,000"),
        ("created_at", NOW + timedelta(days=3), "created_at is not in the future"),
        ("input_modalities", ["text", "smell"], "input_modalities within {"),
    ],
)
def test_one_bad_row_fails_exactly_its_expectation(column: str, value: Any, expected: str) -> None:
    rows = openrouter_rows()
    bad = next(i for i, row in enumerate(rows) if row["price_prompt_usd_per_token"])
    rows[bad][column] = value
    failures = failing(rows)
    assert list(failures) == [bad]
    assert any(description.startswith(expected) for description in failures[bad]), failures


def test_duplicate_ids_are_all_quarantined_and_the_rest_passes() -> None:
    rows = openrouter_rows()
    rows.append(copy.deepcopy(rows[3]))
    verdict = validate_batch(OPENROUTER, rows, now=NOW)
    assert sorted(verdict.row_failures()) == [3, len(rows) - 1]
    mask = verdict.passing_mask()
    assert sum(mask) == len(rows) - 2
    assert not verdict.blocked


def test_an_arrow_batch_gets_the_same_verdict_as_dicts() -> None:
    rows = openrouter_rows()
    rows[5]["context_length"] = -4
    rows[9]["id"] = rows[8]["id"]
    plain = [{k: v for k, v in row.items() if k not in ("payload", "pricing")} for row in rows]
    table = pa.Table.from_pylist(plain)
    from_arrow = validate_batch(OPENROUTER, table, now=NOW)
    from_dicts = validate_batch(OPENROUTER, plain, now=NOW)
    assert from_arrow.row_failures() == from_dicts.row_failures()
    assert sorted(from_arrow.row_failures()) == [5, 8, 9]
    assert passing_rows(table, from_arrow.passing_mask()).num_rows == len(rows) - 3


@pytest.mark.parametrize("failing", [(), (0,), (3, 4), (9,), tuple(range(10)), tuple(range(0, 10, 2))])
def test_the_passing_rows_of_a_table_are_those_a_filter_keeps(failing: tuple[int, ...]) -> None:
    table = pa.concat_tables([pa.table({"n": range(5), "s": list("abcde")})] * 2)
    mask = [position not in failing for position in range(table.num_rows)]
    passing = passing_rows(table, mask)
    assert isinstance(passing, pa.Table)
    assert passing.equals(table.filter(pa.array(mask)))
    assert passing.schema == table.schema


def test_a_table_with_few_failing_rows_passes_as_slices_of_itself_and_with_many_as_a_copy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    table = pa.table({"n": range(1000)})
    mask = [position % 100 != 7 for position in range(table.num_rows)]
    passing = passing_rows(table, mask)
    assert isinstance(passing, pa.Table)
    assert passing.column("n").to_pylist() == [n for n in range(1000) if n % 100 != 7]
    assert passing.column("n").chunks[0].buffers()[1].address == table.column("n").chunks[0].buffers()[1].address
    monkeypatch.setattr(gate, "MAX_SLICED_FAILURES", 5)
    copied = passing_rows(table, mask)
    assert isinstance(copied, pa.Table)
    assert copied.equals(passing) and copied.column("n").num_chunks == 1
    with pytest.raises(ValueError, match="999 flags for 1000 rows"):
        passing_rows(table, mask[1:])


def test_a_catalog_that_shrank_by_more_than_the_share_is_blocked() -> None:
    rows = openrouter_rows()
    kept = rows[: len(rows) * 4 // 10]  # 60% gone
    verdict = validate_batch(OPENROUTER, kept, Baseline(row_count=len(rows)), now=NOW)
    assert verdict.blocked
    assert "at most 50% may disappear" in verdict.block_reasons[0]
    relaxed = validate_batch(OPENROUTER, kept, Baseline(row_count=len(rows)), GateSettings(max_shrink=0.7), now=NOW)
    assert not relaxed.blocked
    assert not validate_batch(OPENROUTER, rows[: len(rows) // 2 + 1], Baseline(len(rows)), now=NOW).blocked


def test_an_empty_catalog_is_blocked_even_before_any_load() -> None:
    verdict = validate_batch(OPENROUTER, [], now=NOW)
    assert verdict.blocked
    assert any("at least 1 rows" in reason for reason in verdict.block_reasons)


# context_length is read by a rule of the suite, description by none: the table declares both.
@pytest.mark.parametrize("column", ["context_length", "description"])
def test_a_batch_that_lost_a_column_its_table_declares_is_blocked(column: str) -> None:
    declared = tuple(OPENROUTER_SPEC.table("models").columns)
    rows = [{k: v for k, v in row.items() if k != column} for row in openrouter_rows()]
    verdict = validate_batch(OPENROUTER, rows, now=NOW, declared=declared)
    assert verdict.block_reasons == [f"the batch has the column {column} (declared by its table)"]
    assert not validate_batch(OPENROUTER, openrouter_rows(), now=NOW, declared=declared).blocked


def test_the_gate_guards_every_declared_column_of_each_table_and_blocks_the_whole_batch() -> None:
    points = openrouter_points()
    complete = Batch(tables={"models": openrouter_rows(), "price_points": points}, origin="test")
    passed = gate_batch(OPENROUTER_SPEC, complete, {}, GateSettings(), now=NOW)
    assert not passed.blocked
    assert {name: len(rows) for name, rows in passed.passing.items()} == {
        "models": len(load_fixture("openrouter")),
        "price_points": len(points),
    }
    lost = [{k: v for k, v in row.items() if k != "original_unit"} for row in points]
    batch = Batch(tables={"models": openrouter_rows(), "price_points": lost}, origin="test")
    gate = gate_batch(OPENROUTER_SPEC, batch, {}, GateSettings(), now=NOW)
    assert gate.blocked and gate.passing == {}
    assert "price_points: the batch has the column original_unit (declared by its table)" in gate.block_message(
        "openrouter"
    )
    # Blocked in one table, the whole batch is kept aside, every row with the reason first.
    assert gate.quarantined_counts() == {"models": len(load_fixture("openrouter")), "price_points": len(points)}
    _, _, reasons = gate.quarantined["models"][0]
    assert reasons == ["batch blocked: price_points: the batch has the column original_unit (declared by its table)"]


def test_many_prices_moving_tenfold_block_the_batch_and_a_few_do_not() -> None:
    rows = openrouter_rows()
    current = {
        (row["id"],): {"price_prompt_usd_per_token": float(row["price_prompt_usd_per_token"])}
        for row in rows
        if row["price_prompt_usd_per_token"]
    }
    baseline = Baseline(row_count=len(rows), prices=current)
    priced = [i for i, row in enumerate(rows) if row["price_prompt_usd_per_token"]]
    few, many = priced[:2], priced[: len(priced) // 2]
    for i in few:
        rows[i]["price_prompt_usd_per_token"] *= 10
    assert not validate_batch(OPENROUTER, rows, baseline, now=NOW).blocked
    for i in many[len(few) :]:
        rows[i]["price_prompt_usd_per_token"] /= 12
    verdict = validate_batch(OPENROUTER, rows, baseline, now=NOW)
    assert verdict.blocked
    jump = next(o for o in verdict.results if o.expectation == "expect_price_jump_share_to_be_at_most")
    assert jump.observed_value["moved"] == len(many)
    assert jump.observed_value["compared"] == len(priced)


def test_undated_price_points_are_compared_with_the_warehouse_and_their_duplicates_caught() -> None:
    """An undated price's key has a null part (effective_from): it is still a key, written as the warehouse's is."""
    suite = _suite("openrouter", "price_points")
    points = openrouter_points()
    assert all(point["effective_from"] is None for point in points)
    prices = {
        tuple(key_part(point[name]) for name in suite.key): {"price_usd": float(point["price_usd"])} for point in points
    }
    baseline = Baseline(row_count=len(points), prices=prices)
    assert not validate_batch(suite, points, baseline).blocked
    moved = [{**point, "price_usd": point["price_usd"] * 100} for point in points]
    verdict = validate_batch(suite, moved, baseline)
    assert verdict.blocked
    jump = next(o for o in verdict.results if o.expectation == "expect_price_jump_share_to_be_at_most")
    priced = sum(1 for point in points if point["price_usd"] > 0)
    assert (jump.observed_value["moved"], jump.observed_value["compared"]) == (priced, priced)
    duplicated = validate_batch(suite, [*points, dict(points[7])], baseline)
    assert sorted(duplicated.row_failures()) == [7, len(points)]
    assert duplicated.row_failures()[7] == [f"({', '.join(suite.key)}) is unique"]


def test_the_packaged_registry_fails_only_its_one_cache_read_above_input(
    registry_tables: dict[str, list[dict[str, Any]]],
) -> None:
    for table in GENAI_SPEC.tables:
        name = table.name
        assert table.suite is not None
        verdict = validate_batch(table.suite, registry_tables[name], declared=tuple(table.columns))
        assert not verdict.blocked, (name, verdict.block_reasons)
        failures = verdict.row_failures()
        if name not in ("prices", "price_points"):
            assert failures == {}, name
            continue
        # The same suspect price, as the registry writes it and as a normalised price point.
        [(position, reasons)] = failures.items()
        row = registry_tables[name][position]
        assert row["component"] == "cache_read"
        assert row.get("model_id", row.get("source_model_key")) == "~deepseek/deepseek-pro-latest"
        assert len(reasons) == 1 and reasons[0].startswith("a cache_read price is not above the input price")


def test_registry_tiers_that_do_not_increase_and_unknown_components_are_caught(
    registry_tables: dict[str, list[dict[str, Any]]],
) -> None:
    prices = copy.deepcopy(registry_tables["prices"])
    tiered = [i for i, row in enumerate(prices) if row["above_input_tokens"] is not None]
    second = next(i for i in tiered if i - 1 in tiered and prices[i - 1]["component"] == prices[i]["component"])
    prices[second]["above_input_tokens"] = prices[second - 1]["above_input_tokens"]
    prices[0]["component"] = "telepathy"
    failures = validate_batch(_suite("genai_prices", "prices"), prices).row_failures()
    assert any("tier thresholds" in reason for reason in failures[second])
    assert any(reason.startswith("component in {") for reason in failures[0])


def test_known_components_cover_every_component_of_the_installed_registry() -> None:
    from genai_prices.data_units import unit_data

    for usage_key, unit in unit_data.items():
        family = str(unit.get("dimensions", {}).get("family", "tokens"))
        assert (usage_key.removesuffix("_tokens") if family == "tokens" else usage_key) in KNOWN_COMPONENTS


@pytest.fixture(scope="module")
def dbt_source_columns() -> dict[tuple[str, str, str], set[str]]:
    """(source, schema, table) -> the raw columns each dbt source table documents, dlt's own columns left out."""
    prepare_manifest()
    manifest = json.loads(dbt_project().manifest_path.read_text())
    return {
        (source["source_name"], source["schema"], source["name"]): {
            name for name in source["columns"] if not name.startswith("_dlt_")
        }
        for source in manifest["sources"].values()
    }


def test_every_column_a_dbt_source_documents_is_declared_by_its_table(
    dbt_source_columns: dict[tuple[str, str, str], set[str]],
) -> None:
    """The gate blocks a batch without a declared column: what staging may read must be declared to be guarded."""
    undeclared = {}
    for (source, schema, name), documented in dbt_source_columns.items():
        spec = registry.source(source)
        assert schema == spec.table_dataset(spec.table(name)), (source, name)
        if missing := documented - set(spec.table(name).columns):
            undeclared[f"{source}.{name}"] = sorted(missing)
    assert undeclared == {}
    assert sum(len(columns) for columns in dbt_source_columns.values()) > 100


def test_every_table_a_source_declares_is_a_dbt_source(
    dbt_source_columns: dict[tuple[str, str, str], set[str]],
) -> None:
    declared = {
        (spec.name, spec.table_dataset(table), table.name) for spec in registry.sources() for table in spec.tables
    }
    assert set(dbt_source_columns) == declared


def test_gate_settings_come_from_the_environment_and_bad_values_say_what_to_fix() -> None:
    assert gate_settings({}) == GateSettings()
    settings = gate_settings({"MODELATLAS_QUALITY_MAX_SHRINK": "0.3", "MODELATLAS_QUALITY_MAX_PRICE_JUMP_SHARE": "0"})
    assert (settings.max_shrink, settings.max_price_jump_share) == (0.3, 0.0)
    with pytest.raises(ConfigurationError, match="MODELATLAS_QUALITY_MAX_SHRINK must be a share from 0 to 1"):
        gate_settings({"MODELATLAS_QUALITY_MAX_SHRINK": "50%"})
    with pytest.raises(ConfigurationError, match="MODELATLAS_QUALITY_MAX_PRICE_JUMP_SHARE"):
        gate_settings({"MODELATLAS_QUALITY_MAX_PRICE_JUMP_SHARE": "1.5"})
    with pytest.raises(ConfigurationError, match="MODELATLAS_QUALITY_SAMPLE_ROWS"):
        gate_settings({"MODELATLAS_QUALITY_SAMPLE_ROWS": "0"})


def test_the_engine_preload_imports_great_expectations_in_a_background_thread() -> None:
    # In a fresh interpreter: this test session has long imported it.
    code = (
        "import sys\n"
        "from modelatlas.pipelines.quality.validation import preload_engine\n"
        "assert 'great_expectations' not in sys.modules\n"
        "thread = preload_engine()\n"
        "assert thread.daemon\n"
        "thread.join(300)\n"
        "assert not thread.is_alive() and 'great_expectations' in sys.modules\n"
    )
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stderr[-2000:]


def probe_rows(minutes: int) -> pa.Table:
    from bench.status_generator import SeriesTarget, probe_table

    series = [SeriesTarget("openai", region, "https://api.openai.com/v1/models") for region in ("us", "eu")]
    return probe_table(series, NOW - timedelta(hours=1), minutes, seed=3)


def test_a_key_of_several_required_columns_quarantines_every_copy_of_a_repeated_key_and_names_it() -> None:
    suite = _suite("probe", "probe_results")
    table = probe_rows(5)
    repeated = pa.concat_tables([table, table.slice(4, 1)])
    verdict = validate_batch(suite, repeated, now=NOW)
    described = f"({', '.join(suite.key)}) is unique"
    assert verdict.row_failures() == {4: [described], table.num_rows: [described]}
    (result,) = [r for r in verdict.failed if r.description == described]
    assert result.column == ", ".join(suite.key)
    assert {entry["provider"] for entry in result.observed_value} == {"openai"}
    assert not verdict.blocked


def test_a_row_missing_a_part_of_its_key_fails_not_null_only() -> None:
    suite = _suite("probe", "probe_results")
    table = probe_rows(3)
    regions = table.column("region").to_pylist()
    regions[0] = regions[2] = None  # two rows without a key: not duplicates of each other
    verdict = validate_batch(suite, table.set_column(2, "region", pa.array(regions)), now=NOW)
    assert verdict.row_failures() == {0: ["region is not null"], 2: ["region is not null"]}
