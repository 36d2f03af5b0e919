"""Whole runs with provider catalogs: sample mode, providers without keys, and a provider that is down."""

from __future__ import annotations

import json

import pytest

from modelatlas.cli import run_exit_code
from modelatlas.pipelines.registry import sources
from modelatlas.runner import SAMPLE_DATABASE, format_summary, run
from modelatlas.simulator.core import load_fixture
from modelatlas.warehouse import Warehouse, read_only_query
from tests.conftest import free_port

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


def test_without_keys_the_keyed_providers_are_skipped_and_the_registry_still_loads(warehouse: Warehouse) -> None:
    summary = run(warehouse=warehouse)
    assert summary.success, summary.failures
    for spec in sources():
        if spec.credential is not None and spec.credential.required:
            assert f"{spec.name}: skipped: {spec.credential.env} is not set" in summary.reports
    assert summary.row_counts["marts.mart_model_prices_current"] >= 1000
    assert run_exit_code(summary, strict=True) == 0


def test_an_unreachable_provider_fails_alone_and_dbt_still_builds(
    warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-openai-unreachable")
    monkeypatch.setenv("MODELATLAS_OPENAI_BASE_URL", f"http://127.0.0.1:{free_port()}/v1")
    # rebuild: every dbt model is built, whatever earlier tests left unchanged, so all of them must succeed.
    summary = run(warehouse=warehouse, rebuild=True)
    assert not summary.success
    assert list(summary.failures) == ["raw_openai"]
    assert "unreachable" in summary.failures["raw_openai"]
    assert "marts/dim_models" in summary.materialized
    assert "marts/mart_model_prices_current" in summary.materialized
    assert any(report.startswith("openai: unreachable") for report in summary.reports)
    # What reads the failed source still builds (rebuild), from its last good load, and the summary says so.
    [readers] = [report for report in summary.reports if "read raw_openai, which failed" in report]
    assert "they keep its last good load (" in readers and "stg_openai__models" in readers
    assert run_exit_code(summary, strict=False) == 0
    assert run_exit_code(summary, strict=True) == 1
    assert "sk-test-openai-unreachable" not in json.dumps(summary.failures)
    assert "completed; some hosts were unreachable" in format_summary(summary)


def test_a_rejected_key_is_a_failure_that_exits_non_zero(warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch) -> None:
    from modelatlas.simulator import build_simulator

    with build_simulator([spec for spec in sources() if spec.name == "openai"]) as simulator:
        monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong-key-for-the-simulator")
        monkeypatch.setenv("MODELATLAS_OPENAI_BASE_URL", simulator.root_url("openai") + "/v1")
        summary = run(warehouse=warehouse, selection="group:openai")
    assert "check OPENAI_API_KEY" in summary.failures["raw_openai"]
    assert "FAILED" in format_summary(summary)
    assert "sk-wrong-key-for-the-simulator" not in summary.failures["raw_openai"]
    assert run_exit_code(summary, strict=False) == 1
