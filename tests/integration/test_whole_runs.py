"""Whole `modelatlas run`s in-process into the real warehouse: a first and a second run with the same result, the
providers without keys, a selection, a provider that is down, a rejected key, and sample mode."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modelatlas.assets.dbt import KEPT_DBT_INVOCATIONS, dbt_project
from modelatlas.cli import run_exit_code
from modelatlas.errors import ConfigurationError
from modelatlas.pipelines.registry import sources
from modelatlas.runner import SAMPLE_DATABASE, RunSummary, format_summary, run
from modelatlas.simulator import build_simulator
from modelatlas.simulator.core import load_fixture
from modelatlas.warehouse import ConnectionInfo, Warehouse, read_only_query
from tests.conftest import free_port

MART = "marts.mart_model_prices_current"
MART_KEY = "provider, provider_model_id, component, condition"
CATALOGS = [spec for spec in sources() if spec.kind == "catalog"]
# The fixture ids each provider's simulator serves, as its raw `id` column holds them.
FIXTURE_ID_FIELDS = {"gemini": "name", "huggingface": "id"}


def fixture_ids(provider: str) -> set[str]:
    items = load_fixture(provider)
    field = FIXTURE_ID_FIELDS.get(provider, "id")
    return {str(item[field]).removeprefix("models/") for item in items}


# One model as each source names it, and the canonical id that must tie them together in dim_models.
CANONICAL_PAIRS = [
    ("claude-sonnet-4-5", {("anthropic", "claude-sonnet-4-5-20250929"), ("openrouter", "anthropic/claude-sonnet-4.5")}),
    ("gpt-4o", {("openai", "gpt-4o"), ("openai", "gpt-4o-2024-08-06"), ("openrouter", "openai/gpt-4o")}),
    ("gemini-2-5-pro", {("gemini", "gemini-2.5-pro"), ("openrouter", "google/gemini-2.5-pro")}),
    ("mistral-large", {("mistral", "mistral-large-2411"), ("openrouter", "mistralai/mistral-large-2411")}),
    (
        "llama-3-3-70b-instruct",
        {("huggingface", "meta-llama/Llama-3.3-70B-Instruct"), ("openrouter", "meta-llama/llama-3.3-70b-instruct")},
    ),
    ("deepseek-r1", {("huggingface", "deepseek-ai/DeepSeek-R1"), ("openrouter", "deepseek/deepseek-r1")}),
]


def _mart_keys(connection: ConnectionInfo) -> set[tuple[str, ...]]:
    _, rows = read_only_query(connection, f"select {MART_KEY} from {MART}")
    return {tuple(row) for row in rows}


@pytest.fixture(scope="module")
def first_run(warehouse: Warehouse) -> RunSummary:
    # Earlier tests of the session may have built every model already: a rebuild builds them all, as a first run.
    # No provider key is set: the keyed providers are skipped, the keyless sources load from the simulator.
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


def test_without_keys_the_keyed_providers_are_skipped_and_the_registry_still_loads(first_run: RunSummary) -> None:
    summary = first_run
    assert summary.success, summary.failures
    for spec in sources():
        if spec.credential is not None and spec.credential.required:
            assert f"{spec.name}: skipped: {spec.credential.env} is not set" in summary.reports
    assert summary.row_counts["marts.mart_model_prices_current"] >= 1000
    assert run_exit_code(summary, strict=True) == 0


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


def test_an_unreachable_provider_fails_alone_and_dbt_still_builds(
    warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-openai-unreachable")
    monkeypatch.setenv("MODELATLAS_OPENAI_BASE_URL", f"http://127.0.0.1:{free_port()}/v1")
    # OpenAI, Hugging Face beside it, and every model downstream of OpenAI. rebuild: each of those models is built,
    # whatever earlier tests left unchanged, so all of them must succeed.
    summary = run(selection="group:openai+ or group:huggingface", warehouse=warehouse, rebuild=True)
    assert not summary.success
    assert list(summary.failures) == ["raw_openai"]
    assert "raw_huggingface/models" in summary.materialized
    assert "unreachable" in summary.failures["raw_openai"]
    assert "marts/dim_models" in summary.materialized
    assert "marts/mart_model_comparison" in summary.materialized
    assert any(report.startswith("openai: unreachable") for report in summary.reports)
    # What reads the failed source still builds (rebuild), from its last good load, and the summary says so.
    [readers] = [report for report in summary.reports if "read raw_openai, which failed" in report]
    assert "they keep its last good load (" in readers and "stg_openai__models" in readers
    assert run_exit_code(summary, strict=False) == 0
    assert run_exit_code(summary, strict=True) == 1
    assert "sk-test-openai-unreachable" not in json.dumps(summary.failures)
    assert "completed; some hosts were unreachable" in format_summary(summary)


def test_a_rejected_key_is_a_failure_that_exits_non_zero(warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch) -> None:
    with build_simulator([spec for spec in sources() if spec.name == "openai"]) as simulator:
        monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong-key-for-the-simulator")
        monkeypatch.setenv("MODELATLAS_OPENAI_BASE_URL", simulator.root_url("openai") + "/v1")
        summary = run(warehouse=warehouse, selection="group:openai")
    assert "check OPENAI_API_KEY" in summary.failures["raw_openai"]
    assert "FAILED" in format_summary(summary)
    assert "sk-wrong-key-for-the-simulator" not in summary.failures["raw_openai"]
    assert run_exit_code(summary, strict=False) == 1


def test_sample_mode_loads_every_provider_into_its_own_database(warehouse: Warehouse) -> None:
    summary = run(warehouse=warehouse, sample=True)
    assert summary.success, summary.failures
    assert summary.reports[0].startswith("sample mode")
    sample = warehouse.connection().with_database(SAMPLE_DATABASE)
    for spec in CATALOGS:
        _, rows = read_only_query(
            sample, "select provider_model_id from marts.dim_models where provider = %s and is_available", [spec.name]
        )
        assert {row[0] for row in rows} == fixture_ids(spec.name), spec.name
    for canonical_id, offerings in CANONICAL_PAIRS:
        _, rows = read_only_query(
            sample,
            "select provider, provider_model_id from marts.dim_models where canonical_model_id = %s",
            [canonical_id],
        )
        assert offerings <= set(rows), canonical_id
    _, sources = read_only_query(sample, "select distinct source from marts.fct_price_history order by 1")
    assert sources == [("genai-prices",), ("litellm",), ("openrouter",)]
    # A catalog model priced by the registries: one comparison row with both consensus prices.
    _, compared = read_only_query(
        sample,
        "select input_price_per_mtok::text, output_price_per_mtok::text, price_source_count, availability "
        "from marts.mart_model_comparison where canonical_model_id = 'claude-sonnet-4-5' and provider = 'anthropic'",
    )
    assert compared == [("3.000000000000000000", "15.000000000000000000", 2, "available")]
    _, reconciled = read_only_query(sample, "select count(*) from marts.mart_price_consensus where source_count >= 2")
    assert reconciled[0][0] > 0
    real = warehouse.connection()
    for spec in CATALOGS:
        _, exists = read_only_query(real, "select to_regclass(%s) is not null", [f"{spec.dataset}.models"])
        if exists[0][0]:
            _, rows = read_only_query(real, f"select count(*) from {spec.dataset}.models where region = 'sample'")
            assert rows == [(0,)], f"sample rows of {spec.name} reached the real database"
