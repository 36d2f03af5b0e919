"""`modelatlas run` in-process: the full graph into the real warehouse, twice, with the same result."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modelatlas.assets.dbt import KEPT_DBT_INVOCATIONS, dbt_project
from modelatlas.errors import ConfigurationError
from modelatlas.runner import RunSummary, format_summary, run
from modelatlas.warehouse import ConnectionInfo, Warehouse, read_only_query

MART = "marts.mart_model_prices_current"
MART_KEY = "provider, provider_model_id, component, condition"


def _mart_keys(connection: ConnectionInfo) -> set[tuple[str, ...]]:
    _, rows = read_only_query(connection, f"select {MART_KEY} from {MART}")
    return {tuple(row) for row in rows}


@pytest.fixture(scope="module")
def first_run(warehouse: Warehouse) -> RunSummary:
    # Earlier tests of the session may have built every model already: a rebuild builds them all, as a first run.
    return run(warehouse=warehouse, rebuild=True)


@pytest.fixture(scope="module")
def second_run(first_run: RunSummary, connection: ConnectionInfo, warehouse: Warehouse) -> tuple[set, RunSummary]:  # type: ignore[type-arg]
    keys_before = _mart_keys(connection)
    return keys_before, run(warehouse=warehouse)


def test_the_first_run_builds_the_mart_from_real_registry_data(
    first_run: RunSummary, connection: ConnectionInfo
) -> None:
    assert first_run.success, first_run.failures
    assert "marts/mart_model_prices_current" in first_run.materialized
    assert "raw_genai_prices/prices" in first_run.materialized
    assert first_run.checks_failed == []
    assert first_run.checks_passed >= 10
    _, rows = read_only_query(connection, f"select count(*), count(distinct provider) from {MART}")
    prices, providers = rows[0]
    assert prices >= 1000
    assert providers >= 20
    assert first_run.row_counts[MART] == prices
    assert first_run.row_counts["raw_genai_prices.prices"] >= prices


def test_the_dbt_build_parses_only_what_changed_since_the_manifest(first_run: RunSummary) -> None:
    # dagster-dbt gives each build its own target folder, named after the run, with the build's dbt.log.
    target = dbt_project().target_path
    folders = [
        folder for run_id in first_run.run_ids for folder in target.glob(f"modelatlas_dbt_models-{run_id[:7]}-*")
    ]
    assert folders
    for folder in folders:
        # dbt rotates its log file: the parse is at the start of the oldest part.
        text = "".join(log.read_text() for log in folder.glob("dbt.log*"))
        assert "Partial parsing enabled" in text
        assert "Unable to do partial parsing" not in text


def test_mart_prices_are_exact_numerics_per_million_tokens(first_run: RunSummary, connection: ConnectionInfo) -> None:
    _, types = read_only_query(
        connection,
        "select column_name, data_type from information_schema.columns "
        "where table_schema = 'marts' and table_name = 'mart_model_prices_current' "
        "and column_name in ('price_usd_per_mtok', 'price_usd')",
    )
    assert dict(types) == {"price_usd_per_mtok": "numeric", "price_usd": "numeric"}
    # Claude Sonnet 3.7 is priced at $3 input and $15 output per million tokens in the registry.
    _, rows = read_only_query(
        connection,
        f"select component, price_usd_per_mtok::text from {MART} where provider = 'anthropic' "
        "and provider_model_id = 'claude-3-7-sonnet-latest' and condition = 'base' "
        "and component in ('input', 'output') order by component",
    )
    assert rows == [("input", "3.000000000000"), ("output", "15.000000000000")]


def test_a_second_run_changes_neither_counts_nor_keys(
    second_run: tuple[set, RunSummary], connection: ConnectionInfo
) -> None:  # type: ignore[type-arg]
    keys_before, summary = second_run
    assert summary.success, summary.failures
    assert _mart_keys(connection) == keys_before
    _, rows = read_only_query(
        connection, f"select count(*) from (select {MART_KEY} from {MART} group by {MART_KEY} having count(*) > 1) d"
    )
    assert rows == [(0,)]


def test_runs_are_kept_in_the_dagster_database(second_run: tuple[set, RunSummary], warehouse: Warehouse) -> None:  # type: ignore[type-arg]
    _, rows = read_only_query(warehouse.dagster_connection(), "select count(*) from runs where status = 'SUCCESS'")
    assert rows[0][0] >= 2


def test_no_secret_reaches_the_event_log_dbt_artifacts_or_dagster_yaml(
    second_run: tuple[set, RunSummary], warehouse: Warehouse, connection: ConnectionInfo
) -> None:  # type: ignore[type-arg]
    password = connection.password
    _, rows = read_only_query(
        warehouse.dagster_connection(), "select count(*) from event_logs where strpos(event, %s) > 0", [password]
    )
    assert rows == [(0,)]
    target = dbt_project().target_path
    artifacts = list(target.rglob("*.json")) + list(target.rglob("*.log"))
    assert artifacts
    for artifact in artifacts:
        assert password not in artifact.read_text(errors="replace"), artifact.name
    dagster_yaml = Path(warehouse.settings.home) / "dagster" / "dagster.yaml"
    assert password not in dagster_yaml.read_text()
    assert "MODELATLAS_DAGSTER_PG_PASSWORD" in dagster_yaml.read_text()
    # dagster-dbt gives each invocation its own target folder; the newest holds the last build's results.
    latest = max(target.rglob("run_results.json"), key=lambda path: path.stat().st_mtime)
    run_results = json.loads(latest.read_text())
    statuses = {result["unique_id"].split(".")[0]: result["status"] for result in run_results["results"]}
    assert {"model", "test", "unit_test"} <= set(statuses)
    assert all(result["status"] in ("success", "pass") for result in run_results["results"])
    # dagster-dbt writes one target folder per invocation; only the newest few are kept.
    assert len(list(target.glob("modelatlas_dbt_models-*"))) <= KEPT_DBT_INVOCATIONS


def test_a_selection_runs_only_what_it_names(second_run: tuple[set, RunSummary], warehouse: Warehouse) -> None:  # type: ignore[type-arg]
    summary = run(selection="group:genai_prices", warehouse=warehouse)
    assert summary.success
    assert sorted(summary.materialized) == [
        "raw_genai_prices/loads",
        "raw_genai_prices/models",
        "raw_genai_prices/price_points",
        "raw_genai_prices/prices",
        "raw_genai_prices/providers",
    ]
    with pytest.raises(ConfigurationError, match="matches no asset"):
        run(selection="group:no_such_group", warehouse=warehouse)


def test_the_summary_reports_assets_checks_rows_and_the_ui(first_run: RunSummary) -> None:
    text = format_summary(first_run)
    assert "succeeded" in text
    assert f"assets materialized: {len(first_run.materialized)}" in text
    assert f"checks: {first_run.checks_passed} passed, 0 failed" in text
    assert MART in text
    assert "make ui" in text
    assert "genai_prices: " in text and " from package data, genai-prices " in text
    assert "; published JSON not used: the published registry is switched off" in text
