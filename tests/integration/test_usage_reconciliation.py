"""The organisation's usage from the simulated OpenAI and Anthropic usage and cost APIs and from a request-log file,
through the real path into a real `dbt build`, priced with the genai-prices registry the package installs.

- Both APIs load completely (every bucket's tokens), and a bucket the provider restates replaces its row.
- `mart_cost_reconciliation` holds, per provider, day and model, the as-of estimate of fct_usage against the cost
  report's bill, their difference and the flag.
- Each request of the log file, with provider and model names written as people write them, costs what the
  registry's own calculation (`genai_prices.calc_price`) gives for it at its timestamp, to the cent.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import genai_prices
import pytest

from modelatlas.pipelines import anthropic_usage, openai_usage, usage_files
from modelatlas.pipelines import genai_prices as genai_prices_source
from modelatlas.pipelines.engine import ensure_every_source_table, load_standalone
from modelatlas.simulator import build_simulator, sample_environment
from modelatlas.simulator.anthropic_usage import AnthropicUsageHandler
from modelatlas.simulator.openai_usage import OpenAIUsageHandler
from modelatlas.warehouse import ConnectionInfo, read_only_query
from modelatlas.warehouse.service import ensure_database
from tests.dbt_cli import run_dbt

DATABASE = "modelatlas_usage_reconciliation_test"


def _clock() -> datetime:
    """The last full hour, or yesterday's 23:00 UTC when the restated hour would fall at night: the simulated
    organisation works from 05:00 to midnight UTC, and an hour without usage has nothing to restate."""
    last_hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    if 10 <= (last_hour - timedelta(hours=2)).hour <= 21:
        return last_hour
    return last_hour.replace(hour=23) - timedelta(days=1)


NOW = _clock()
# Within the last two buckets, which every run reads again.
RESTATED_HOUR = NOW - timedelta(hours=2)
CENT = Decimal("0.01")
# (timestamp, provider as written, model as written, genai-prices provider id, input, cached input, output)
REQUESTS = [
    (NOW - timedelta(days=3, hours=2), "openai", "gpt-4o-2024-08-06", "openai", 12_000, 4_096, 900),
    (NOW - timedelta(days=2, hours=7), "OpenAI", "gpt-4o-mini", "openai", 250_000, 0, 12_000),
    (NOW - timedelta(days=2), "anthropic", "claude-sonnet-4-5-20250929", "anthropic", 48_000, 30_000, 2_500),
    (NOW - timedelta(days=1, hours=5), "Anthropic", "claude-haiku-4-5", "anthropic", 9_000, 0, 1_200),
    (NOW - timedelta(hours=20), "google", "gemini-2.5-flash", "google", 60_000, 20_000, 3_000),
    (NOW - timedelta(hours=3), "gemini", "gemini-2.5-pro", "google", 30_000, 0, 4_000),
]


def rows(info: ConnectionInfo, query: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    _, found = read_only_query(info, query, params or [])
    return [tuple(row) for row in found]


def request_log() -> str:
    lines = ["timestamp,provider,model,input_tokens,cached_input_tokens,output_tokens,request_id"]
    for number, (at, provider, model, _, prompt, cached, output) in enumerate(REQUESTS, start=1):
        lines.append(f"{at.isoformat()},{provider},{model},{prompt},{cached},{output},req-{number}")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def built(connection: ConnectionInfo, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    ensure_database(connection, DATABASE)
    info = connection.with_database(DATABASE)
    work = tmp_path_factory.mktemp("reconciliation")
    pipelines = work / "dlt"
    ensure_every_source_table(info, pipelines)
    folder = work / "logs"
    folder.mkdir()
    (folder / "requests.csv").write_text(request_log())
    for spec, env in (
        (genai_prices_source.SPEC, {"MODELATLAS_GENAI_PRICES_URL": ""}),
        (usage_files.SPEC, {"MODELATLAS_USAGE_DIR": str(folder)}),
    ):
        loaded = load_standalone(spec, info, pipelines, env=env)
        assert not loaded.blocked, loaded.report()
    specs = [openai_usage.SPEC, anthropic_usage.SPEC]
    facts: dict[str, Any] = {"info": info}
    with build_simulator(specs) as simulator:
        openai = OpenAIUsageHandler(simulator.handlers[openai_usage.SPEC.name].api_key, now=NOW)
        anthropic = AnthropicUsageHandler(simulator.handlers[anthropic_usage.SPEC.name].api_key, now=NOW)
        simulator.handlers.update({openai_usage.SPEC.name: openai, anthropic_usage.SPEC.name: anthropic})
        env = sample_environment(simulator, specs)

        def load_apis() -> None:
            for spec in specs:
                loaded = load_standalone(spec, info, pipelines, env=env, fetched_at=NOW)
                assert not loaded.blocked and not any(loaded.gate.quarantined_counts().values()), loaded.report()

        load_apis()
        facts["rows_before"] = rows(info, "select count(*) from raw_openai_usage.usage_buckets")[0][0]
        openai.restate("completions", RESTATED_HOUR, 2.0)
        anthropic.restate(RESTATED_HOUR, extra_output_tokens=1_000)
        load_apis()
        start = NOW - timedelta(days=30)
        facts["openai_served"] = {
            field: openai.total("completions", field, start, NOW)
            for field in ("input_tokens", "input_cached_tokens", "output_tokens", "num_model_requests")
        }
        facts["anthropic_served"] = anthropic.usage_totals(start, NOW)
        facts["anthropic_restated_records"] = len(anthropic.records[RESTATED_HOUR])
    result = run_dbt(info, work / "dbt", "build")
    assert result.returncode == 0, result.stdout[-4000:]
    yield facts


def test_both_usage_apis_load_every_bucket_and_a_restated_bucket_replaces_its_row(built: dict[str, Any]) -> None:
    info = built["info"]
    [openai] = rows(
        info,
        "select sum(input_tokens), sum(input_cached_tokens), sum(output_tokens), sum(num_model_requests)"
        " from raw_openai_usage.usage_buckets where endpoint = 'completions'",
    )
    assert openai == tuple(built["openai_served"].values())
    assert rows(info, "select count(*) from raw_openai_usage.usage_buckets")[0][0] == built["rows_before"]
    [anthropic] = rows(
        info,
        "select sum(uncached_input_tokens), sum(cache_read_input_tokens), sum(output_tokens)"
        " from raw_anthropic_usage.usage_buckets",
    )
    served = built["anthropic_served"]
    assert anthropic == (served["uncached_input_tokens"], served["cache_read_input_tokens"], served["output_tokens"])
    assert served["output_tokens"] >= 1_000 * built["anthropic_restated_records"]


def test_reconciliation_compares_the_as_of_estimate_with_the_bill(built: dict[str, Any]) -> None:
    info = built["info"]
    reconciled = rows(
        info,
        "select provider, day, canonical_model_id, estimated_cost_usd, billed_cost_usd, difference_usd,"
        " difference_share, exceeds_threshold from marts.mart_cost_reconciliation",
    )
    assert {row[0] for row in reconciled} == {"openai", "anthropic"}
    estimates = {
        (provider, day, model): cost
        for provider, day, model, cost in rows(
            info,
            "select provider, (used_at at time zone 'UTC')::date, canonical_model_id, sum(cost_usd) from"
            " marts.fct_usage where source in ('openai_usage', 'anthropic_usage') group by 1, 2, 3",
        )
    }
    billed = {
        (provider, day): amount
        for provider, day, amount in rows(
            info,
            "select 'openai', (bucket_start at time zone 'UTC')::date, sum(amount_usd) from"
            " raw_openai_usage.cost_buckets group by 1, 2 union all select 'anthropic',"
            " (bucket_start at time zone 'UTC')::date, sum(amount_usd) from raw_anthropic_usage.cost_buckets"
            " group by 1, 2",
        )
    }
    for provider, day, model, estimated, bill, difference, share, flagged in reconciled:
        assert estimated == estimates.get((provider, day, model))
        assert difference == (estimated or 0) - (bill or 0)
        if bill:
            assert share == pytest.approx(difference / bill)
            assert flagged == (abs(difference) > Decimal("0.02") * abs(bill))
    days = {(provider, day) for provider, day, *_ in reconciled}
    for key in days:
        assert sum(row[4] or 0 for row in reconciled if row[:2] == key) == billed.get(key, 0)
    assert any(flagged for *_, flagged in reconciled) and not all(flagged for *_, flagged in reconciled)


def test_each_logged_request_costs_what_the_registry_calculates_at_its_timestamp_to_the_cent(
    built: dict[str, Any],
) -> None:
    costs = dict(rows(built["info"], "select record_id, cost_usd from marts.fct_usage where source = 'usage_files'"))
    for number, (at, _, model, provider, prompt, cached, output) in enumerate(REQUESTS, start=1):
        usage = genai_prices.Usage(input_tokens=prompt, cache_read_tokens=cached, output_tokens=output)
        expected = genai_prices.calc_price(usage, model, provider_id=provider, genai_request_timestamp=at)
        assert costs[f"req-{number}"] is not None, model
        ours = costs[f"req-{number}"].quantize(CENT, ROUND_HALF_UP)
        assert ours == Decimal(expected.total_price).quantize(CENT, ROUND_HALF_UP), (model, ours, expected.total_price)
