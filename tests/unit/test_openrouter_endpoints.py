"""OpenRouter endpoint health: each watched model's upstream endpoints as rows of one poll, latency in milliseconds
whatever unit it came in, prices as exact decimals, an unknown model a note, and a degradation visible across polls."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

from modelatlas.errors import AuthenticationError, ConfigurationError, SourceError
from modelatlas.pipelines.openrouter_endpoints import (
    COLUMNS,
    DEFAULT_WATCH,
    SPEC,
    TABLE,
    endpoint_row,
    endpoint_rows,
    latency_ms,
    parse_watch,
)
from modelatlas.pipelines.spec import Batch
from modelatlas.settings import source_config
from modelatlas.simulator import Fault, Simulator, build_simulator, sample_key
from modelatlas.simulator.core import load_fixture
from modelatlas.simulator.openrouter_endpoints import OpenRouterEndpointsHandler
from tests.unit.simulated import simulated_fetch

AT = datetime(2026, 3, 14, 9, 25, 0, tzinfo=UTC)
FIXTURE: dict[str, Any] = load_fixture("openrouter_endpoints", "endpoints.json")
# One endpoint as OpenRouter's endpoints API reference documents it, every field set.
ENDPOINT: dict[str, Any] = {
    "name": "OpenAI: GPT-4",
    "model_id": "openai/gpt-4",
    "model_name": "GPT-4",
    "context_length": 8192,
    "pricing": {"prompt": "0.00003", "completion": "0.00006", "request": "0", "image": "0", "web_search": "-1"},
    "provider_name": "OpenAI",
    "tag": "openai",
    "quantization": "fp16",
    "max_completion_tokens": 4096,
    "max_prompt_tokens": 8192,
    "supported_parameters": ["temperature", "top_p", "max_tokens"],
    "status": 0,
    "uptime_last_5m": 100,
    "uptime_last_30m": 99.5,
    "uptime_last_1d": 99.8,
    "supports_implicit_caching": True,
    "latency_last_30m": {"p50": 0.25, "p75": 0.35, "p90": 0.48, "p99": 0.85},
    "throughput_last_30m": {"p50": 45.2, "p75": 38.5, "p90": 28.3, "p99": 15.1},
}


@pytest.fixture(scope="module")
def simulator() -> Iterator[Simulator]:
    with build_simulator([SPEC]) as server:
        yield server


@pytest.fixture
def sim(simulator: Simulator) -> Iterator[Simulator]:
    """The simulator with a fresh fixture, no fault pending and no request logged."""
    simulator.clear()
    simulator.handlers[SPEC.name] = OpenRouterEndpointsHandler(sample_key("openrouter"))
    yield simulator
    simulator.clear()


def handler(sim: Simulator) -> OpenRouterEndpointsHandler:
    served = sim.handlers[SPEC.name]
    assert isinstance(served, OpenRouterEndpointsHandler)
    return served


def poll(sim: Simulator, env: dict[str, str] | None = None) -> Batch:
    before = len(sim.requests_to(SPEC.name))
    batch, request = simulated_fetch(SPEC, sim, env=env)
    assert request.stats.requests == len(sim.requests_to(SPEC.name)) - before
    return batch


def rows_of(batch: Batch) -> list[dict[str, Any]]:
    rows = batch.tables[TABLE]
    assert isinstance(rows, list)
    return rows


def row_for(batch: Batch, model_id: str, provider_name: str) -> dict[str, Any]:
    (row,) = [r for r in rows_of(batch) if r["model_id"] == model_id and r["provider_name"] == provider_name]
    return row


# --- the watch list -------------------------------------------------------------------------------------------------


def test_the_default_watch_list_is_a_flagship_of_each_provider_and_all_of_them_are_served() -> None:
    catalog = {model["id"] for model in load_fixture("openrouter")}
    assert len(DEFAULT_WATCH) == 10
    assert len({model_id.split("/")[0] for model_id in DEFAULT_WATCH}) == 10
    assert set(DEFAULT_WATCH) <= catalog
    assert set(FIXTURE) == set(DEFAULT_WATCH)


def test_the_watch_list_is_read_from_its_documented_variable() -> None:
    env = {"MODELATLAS_OPENROUTER_WATCH": " openai/gpt-5, openai/gpt-oss-20b:free,openai/gpt-5 ,"}
    assert SPEC.variable("WATCH") == "MODELATLAS_OPENROUTER_WATCH"
    assert source_config(SPEC, env).options == {"watch": ("openai/gpt-5", "openai/gpt-oss-20b:free")}
    assert source_config(SPEC, {}).options == {"watch": DEFAULT_WATCH}
    assert parse_watch("  ", "MODELATLAS_OPENROUTER_WATCH") == DEFAULT_WATCH


@pytest.mark.parametrize("value", ["gpt-5", "openai/", "/gpt-5", "openai/gpt 5", "a/b/c", ",,"])
def test_a_malformed_watch_list_names_its_variable(value: str) -> None:
    with pytest.raises(ConfigurationError, match=r"^MODELATLAS_OPENROUTER_WATCH "):
        source_config(SPEC, {"MODELATLAS_OPENROUTER_WATCH": value})


# --- latency units (pure) -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stats", "expected"),
    [
        # Seconds, as in OpenRouter's own examples.
        ({"p50": 0.25, "p75": 0.35, "p90": 0.48, "p99": 0.85}, (250.0, 350.0, 480.0, 850.0)),
        # Milliseconds, as documented.
        ({"p50": 412.0, "p75": 530.5, "p90": 801.0, "p99": 1900.0}, (412.0, 530.5, 801.0, 1900.0)),
        # Seconds with a long tail past 60: the median decides, for all four alike.
        ({"p50": 8.7, "p75": 14.2, "p90": 31.0, "p99": 95.4}, (8700.0, 14200.0, 31000.0, 95400.0)),
        # Milliseconds with a median just at the threshold.
        ({"p50": 60, "p75": 75, "p90": 90, "p99": 120}, (60.0, 75.0, 90.0, 120.0)),
        # No median: the lowest percentile given decides.
        ({"p75": 1.5, "p99": 4.0}, (None, 1500.0, None, 4000.0)),
        # Null without a key; anything that is no number is no value.
        (None, (None, None, None, None)),
        ({"p50": "0.3", "p75": True, "p90": None}, (None, None, None, None)),
    ],
)
def test_latency_is_normalised_to_milliseconds(stats: Any, expected: tuple[float | None, ...]) -> None:
    assert tuple(latency_ms(stats).values()) == expected


# --- rows (pure) ----------------------------------------------------------------------------------------------------


def test_an_endpoint_becomes_one_row_of_every_declared_column() -> None:
    row = endpoint_row("openai/gpt-4", ENDPOINT, AT)
    assert set(row) == set(COLUMNS)
    assert row == {
        "observed_at": AT,
        "model_id": "openai/gpt-4",
        "provider_name": "OpenAI",
        "endpoint_name": "OpenAI: GPT-4",
        "tag": "openai",
        "quantization": "fp16",
        "status": 0,
        "uptime_last_5m": 100.0,
        "uptime_last_30m": 99.5,
        "uptime_last_1d": 99.8,
        "latency_p50_ms": 250.0,
        "latency_p75_ms": 350.0,
        "latency_p90_ms": 480.0,
        "latency_p99_ms": 850.0,
        "throughput_p50": 45.2,
        "throughput_p75": 38.5,
        "throughput_p90": 28.3,
        "throughput_p99": 15.1,
        "context_length": 8192,
        "max_completion_tokens": 4096,
        "max_prompt_tokens": 8192,
        "price_prompt_usd_per_token": Decimal("0.00003"),
        "price_completion_usd_per_token": Decimal("0.00006"),
        "pricing": ENDPOINT["pricing"],
        "supported_parameters": ["temperature", "top_p", "max_tokens"],
    }


def test_missing_and_malformed_fields_are_null_not_a_failed_poll() -> None:
    odd = {"provider_name": "Lambda", "status": "default", "uptime_last_5m": "99", "pricing": {"prompt": "-1"}}
    row = endpoint_row("meta-llama/llama-3.3-70b-instruct", odd, AT)
    assert row["provider_name"] == "Lambda"
    assert (row["status"], row["uptime_last_5m"], row["price_prompt_usd_per_token"]) == (None, None, None)
    assert row["pricing"] == {"prompt": "-1"}
    assert row["latency_p50_ms"] is None and row["throughput_p99"] is None
    # An endpoint that is no object still becomes a row, without a provider: the gate quarantines it.
    assert endpoint_row("x/y", "garbage", AT)["provider_name"] is None


@pytest.mark.parametrize("body", [{}, {"data": None}, {"data": {"endpoints": None}}, [], "nope"])
def test_a_body_without_an_endpoint_list_is_a_source_error(body: Any) -> None:
    with pytest.raises(SourceError, match=r"openai/gpt-5 returned no `data.endpoints` list"):
        endpoint_rows("openai/gpt-5", body, AT)


# --- polls through the simulator ------------------------------------------------------------------------------------


def test_a_poll_with_the_key_loads_every_endpoint_with_latency_in_milliseconds(sim: Simulator) -> None:
    batch, request = simulated_fetch(SPEC, sim)
    rows = rows_of(batch)
    assert len(rows) == sum(len(model["endpoints"]) for model in FIXTURE.values())
    assert {row["model_id"] for row in rows} == set(DEFAULT_WATCH)
    assert {row["observed_at"] for row in rows} == {request.fetched_at}
    assert (request.stats.pages, request.stats.requests) == (10, 10)
    anthropic = row_for(batch, "anthropic/claude-sonnet-4.5", "Anthropic")
    assert anthropic["latency_p50_ms"] == 1420.0  # 1.42 s in the fixture
    assert anthropic["throughput_p50"] == 61.3
    assert anthropic["price_prompt_usd_per_token"] == Decimal("0.000003")
    assert anthropic["tag"] == "anthropic"
    lambda_row = row_for(batch, "meta-llama/llama-3.3-70b-instruct", "Lambda")
    assert (lambda_row["status"], lambda_row["uptime_last_5m"], lambda_row["quantization"]) == (-3, 0.0, "fp8")
    assert batch.notes == ()
    assert batch.metadata["models_loaded"] == 10
    assert batch.metadata["endpoints_degraded"] == sum(
        1 for model in FIXTURE.values() for endpoint in model["endpoints"] if endpoint["status"] < 0
    )
    requests = sim.requests_to(SPEC.name)
    assert [r.path for r in requests] == [f"/api/v1/models/{model_id}/endpoints" for model_id in DEFAULT_WATCH]
    assert all(r.headers.get("Authorization") == f"Bearer {sample_key('openrouter')}" for r in requests)


def test_a_poll_without_a_key_loads_the_same_endpoints_with_latency_null(sim: Simulator) -> None:
    batch = poll(sim, env={"OPENROUTER_API_KEY": ""})
    rows = rows_of(batch)
    assert len(rows) == sum(len(model["endpoints"]) for model in FIXTURE.values())
    assert all(
        row[f"latency_{p}_ms"] is None and row[f"throughput_{p}"] is None for row in rows for p in ("p50", "p99")
    )
    assert all(row["uptime_last_1d"] is not None for row in rows)
    assert batch.notes == ("no OPENROUTER_API_KEY: latency and throughput are null",)
    assert all("Authorization" not in r.headers for r in sim.requests_to(SPEC.name))


def test_an_unknown_model_is_a_note_and_the_others_still_load(sim: Simulator) -> None:
    watch = "acme/no-such-model,cohere/command-a"
    batch = poll(sim, env={"MODELATLAS_OPENROUTER_WATCH": watch})
    assert {row["model_id"] for row in rows_of(batch)} == {"cohere/command-a"}
    assert batch.notes == ("acme/no-such-model is not on OpenRouter (404): check MODELATLAS_OPENROUTER_WATCH",)
    assert batch.metadata["models_loaded"] == 1
    # A 404 is an answer, not a hiccup: asked once.
    assert len(sim.requests_to(SPEC.name)) == 2


def test_only_unknown_models_make_an_empty_poll_with_notes(sim: Simulator) -> None:
    batch = poll(sim, env={"MODELATLAS_OPENROUTER_WATCH": "acme/one,acme/two"})
    assert rows_of(batch) == []
    assert len(batch.notes) == 2


@pytest.mark.parametrize("fault", [Fault("server_error", status=503), Fault("rate_limit")])
def test_a_transient_failure_is_retried_like_any_source(sim: Simulator, fault: Fault) -> None:
    sim.inject(SPEC.name, fault)
    batch = poll(sim, env={"MODELATLAS_OPENROUTER_WATCH": "x-ai/grok-4"})
    assert [row["provider_name"] for row in rows_of(batch)] == ["xAI"]
    assert len(sim.requests_to(SPEC.name)) == 2


def test_a_model_that_keeps_failing_is_a_note_when_others_load(sim: Simulator) -> None:
    sim.inject(SPEC.name, Fault("server_error", count=4, status=502))
    batch = poll(sim, env={"MODELATLAS_OPENROUTER_WATCH": "x-ai/grok-4,cohere/command-a"})
    assert {row["model_id"] for row in rows_of(batch)} == {"cohere/command-a"}
    (note,) = batch.notes
    assert note.startswith("not loaded: OpenRouter endpoints: ") and "x-ai/grok-4/endpoints answered HTTP 502" in note


def test_every_model_failing_raises_the_first_error(sim: Simulator) -> None:
    sim.inject(SPEC.name, Fault("server_error", count=8, status=503))
    with pytest.raises(SourceError, match=r"x-ai/grok-4/endpoints answered HTTP 503 after 4 attempts"):
        poll(sim, env={"MODELATLAS_OPENROUTER_WATCH": "x-ai/grok-4,cohere/command-a"})


def test_a_wrong_key_fails_the_poll_at_once_without_the_key(sim: Simulator) -> None:
    wrong = "sk-or-v1-wrong-key-000000000000"
    with pytest.raises(AuthenticationError, match=r"rejected the API key \(401\): check OPENROUTER_API_KEY") as raised:
        poll(sim, env={"OPENROUTER_API_KEY": wrong})
    assert wrong not in str(raised.value)
    assert len(sim.requests_to(SPEC.name)) == 1


def test_a_degradation_and_recovery_show_across_polls(sim: Simulator) -> None:
    env = {"MODELATLAS_OPENROUTER_WATCH": "anthropic/claude-sonnet-4.5"}
    served = handler(sim)
    before = row_for(poll(sim, env), "anthropic/claude-sonnet-4.5", "Anthropic")
    served.set_uptime("anthropic/claude-sonnet-4.5", "Anthropic", 62.5, uptime_last_30m=90.1)
    served.set_status("anthropic/claude-sonnet-4.5", "Anthropic", -2)
    during = row_for(poll(sim, env), "anthropic/claude-sonnet-4.5", "Anthropic")
    served.set_uptime("anthropic/claude-sonnet-4.5", "Anthropic", 100)
    served.set_status("anthropic/claude-sonnet-4.5", "Anthropic", 0)
    after = row_for(poll(sim, env), "anthropic/claude-sonnet-4.5", "Anthropic")
    assert (before["status"], before["uptime_last_5m"]) == (0, 100.0)
    assert (during["status"], during["uptime_last_5m"], during["uptime_last_30m"]) == (-2, 62.5, 90.1)
    assert during["uptime_last_1d"] == before["uptime_last_1d"]
    assert (after["status"], after["uptime_last_5m"]) == (0, 100.0)


# --- the simulator --------------------------------------------------------------------------------------------------


def test_the_simulator_answers_like_openrouter(sim: Simulator) -> None:
    base = sim.root_url(SPEC.name) + "/api/v1"
    missing = httpx.get(f"{base}/models/acme/nothing/endpoints")
    assert missing.status_code == 404
    assert missing.json() == {"error": {"code": 404, "message": "No endpoints found for acme/nothing."}}
    refused = httpx.get(f"{base}/models/openai/gpt-5/endpoints", headers={"Authorization": "Bearer sk-or-v1-other"})
    assert refused.status_code == 401
    assert refused.json()["error"] == {"code": 401, "message": "User not found."}
    anonymous = httpx.get(f"{base}/models/openai/gpt-5/endpoints").json()["data"]
    assert anonymous["id"] == "openai/gpt-5"
    assert all(e["latency_last_30m"] is None and e["throughput_last_30m"] is None for e in anonymous["endpoints"])
    keyed = httpx.get(
        f"{base}/models/openai/gpt-5/endpoints", headers={"Authorization": f"Bearer {sample_key('openrouter')}"}
    ).json()["data"]
    assert all(e["latency_last_30m"]["p50"] > 0 for e in keyed["endpoints"])
    assert httpx.get(f"{base}/models/openai/gpt-5").json()["error"]["code"] == 404
    # Serving a copy: a client's view never changes the fixture.
    assert json.dumps(handler(sim).models["openai/gpt-5"]) == json.dumps(FIXTURE["openai/gpt-5"])


def test_a_simulator_without_a_configured_key_takes_any_bearer_token_as_a_key() -> None:
    with Simulator({SPEC.name: OpenRouterEndpointsHandler(None)}) as keyless:
        url = keyless.root_url(SPEC.name) + "/api/v1/models/cohere/command-a/endpoints"
        keyed = httpx.get(url, headers={"Authorization": "Bearer anything"}).json()["data"]["endpoints"]
        anonymous = httpx.get(url).json()["data"]["endpoints"]
    assert keyed[0]["latency_last_30m"] is not None
    assert anonymous[0]["latency_last_30m"] is None


def test_scripting_an_unknown_endpoint_is_a_key_error(sim: Simulator) -> None:
    with pytest.raises(KeyError, match="no endpoint from 'Nobody'"):
        handler(sim).set_uptime("openai/gpt-5", "Nobody", 50)
    handler(sim).remove_model("openai/gpt-5")
    assert rows_of(poll(sim, env={"MODELATLAS_OPENROUTER_WATCH": "openai/gpt-5,cohere/command-a"}))[0]["model_id"] == (
        "cohere/command-a"
    )


def test_the_fixture_covers_several_providers_per_model_and_degraded_endpoints() -> None:
    endpoints = [endpoint for model in FIXTURE.values() for endpoint in model["endpoints"]]
    assert sum(1 for model in FIXTURE.values() if len(model["endpoints"]) >= 3) >= 4
    assert {endpoint["status"] for endpoint in endpoints} >= {0, -1, -2, -3, -5, -10}
    assert all(0 <= endpoint["uptime_last_1d"] <= 100 for endpoint in endpoints)


# --- the spec ---------------------------------------------------------------------------------------------------------


def test_the_spec_declares_an_appended_time_series_in_the_status_group() -> None:
    table = SPEC.table(TABLE)
    assert (SPEC.kind, SPEC.asset_group, SPEC.cadence) == ("status", "status", "*/5 * * * *")
    assert SPEC.credential is not None and (SPEC.credential.env, SPEC.credential.required) == (
        "OPENROUTER_API_KEY",
        False,
    )
    assert (table.dataset, table.time_column, table.disposition) == ("ts", "observed_at", "append")
    assert table.suite is not None and table.suite.guard_shrink is False
    assert set(table.suite.not_null) == {"observed_at", "model_id", "provider_name"}
    assert "MODELATLAS_OPENROUTER_WATCH" in set(SPEC.variables())
