"""OpenRouter's quirks: prices as exact decimals ("-1" means "varies"), offset pages that older servers ignore, every
output modality asked for, a 429 that may advertise no delay, and price points from the same fetch as the models."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelatlas.errors import ConfigurationError, SourceError
from modelatlas.pipelines.openrouter import CATALOG, COLUMN_TYPES, PRICE_COLUMNS, SPEC, model_columns, parse_price
from modelatlas.pipelines.paginate import Offset, PageSize
from modelatlas.pipelines.prices.model import MappingStats
from modelatlas.pipelines.prices.openrouter import openrouter_price_points
from modelatlas.simulator import Fault, Simulator, build_simulator, sample_key
from modelatlas.simulator.core import SimRequest, load_fixture
from modelatlas.simulator.openrouter import DEFAULT_LIMIT, MAX_LIMIT, OpenRouterHandler
from tests.unit.conftest import LocalServer
from tests.unit.simulated import FAST, fetch_with, simulated_fetch

FIXTURE: list[dict[str, Any]] = load_fixture("openrouter")
FIXTURE_IDS = [item["id"] for item in FIXTURE]
TEXT_OUTPUT_IDS = {item["id"] for item in FIXTURE if "text" in item["architecture"]["output_modalities"]}
# A model object written from OpenRouter's models API reference, every documented field set.
MODEL: dict[str, Any] = {
    "id": "mistralai/mistral-small-3.1-24b-instruct",
    "canonical_slug": "mistralai/mistral-small-3.1-24b-instruct-2503",
    "hugging_face_id": "mistralai/Mistral-Small-3.1-24B-Instruct-2503",
    "name": "Mistral: Mistral Small 3.1 24B",
    "created": 1742238937,
    "description": "A 24B model with vision.",
    "context_length": 131072,
    "architecture": {
        "modality": "text+image->text",
        "input_modalities": ["text", "image"],
        "output_modalities": ["text"],
        "tokenizer": "Mistral",
        "instruct_type": None,
    },
    "pricing": {
        "prompt": "0.00000005",
        "completion": "0.0000001",
        "request": "0",
        "image": "0.0009264",
        "web_search": "-1",
        "internal_reasoning": "0",
        "input_cache_read": "0.000000025",
        "input_cache_write": "0.0000000833333333333333",
        "audio": "0.0000007",
    },
    "top_provider": {"context_length": 128000, "max_completion_tokens": 96000, "is_moderated": False},
    "per_request_limits": None,
    "supported_parameters": ["max_tokens", "temperature", "tools", "response_format"],
    "default_parameters": {"temperature": 0.3},
    "knowledge_cutoff": "2024-10-01",
    "expiration_date": "2026-06-30",
    "links": {"details": "/api/v1/models/mistralai/mistral-small-3.1-24b-instruct/endpoints"},
}


@pytest.fixture(scope="module")
def simulator() -> Iterator[Simulator]:
    with build_simulator([SPEC]) as server:
        yield server


@pytest.fixture
def sim(simulator: Simulator) -> Iterator[Simulator]:
    handler = simulator.handlers["openrouter"]
    simulator.clear()
    yield simulator
    simulator.clear()
    simulator.handlers["openrouter"] = handler


def model_ids(batch: Any) -> list[str | None]:
    return [row["id"] for row in batch.tables["models"]]


# --- columns and prices ---------------------------------------------------------------------------------------------


def test_model_columns_reads_every_typed_field_and_exact_prices() -> None:
    columns = model_columns(MODEL)
    assert columns["canonical_slug"] == "mistralai/mistral-small-3.1-24b-instruct-2503"
    assert columns["hugging_face_id"] == "mistralai/Mistral-Small-3.1-24B-Instruct-2503"
    assert columns["name"] == "Mistral: Mistral Small 3.1 24B"
    assert columns["created_at"] == datetime(2025, 3, 17, 19, 15, 37, tzinfo=UTC)
    assert columns["context_length"] == 131072
    assert columns["input_modalities"] == ["text", "image"]
    assert columns["output_modalities"] == ["text"]
    assert columns["tokenizer"] == "Mistral"
    assert columns["top_provider_context_length"] == 128000
    assert columns["max_completion_tokens"] == 96000
    assert columns["is_moderated"] is False
    assert columns["supported_parameters"] == ["max_tokens", "temperature", "tools", "response_format"]
    assert columns["expiration_date"] == date(2026, 6, 30)
    assert columns["knowledge_cutoff"] == "2024-10-01"
    assert columns["pricing"] == MODEL["pricing"]
    assert columns["price_prompt_usd_per_token"] == Decimal("0.00000005")
    assert columns["price_completion_usd_per_token"] == Decimal("0.0000001")
    assert columns["price_request_usd"] == Decimal("0")
    assert columns["price_image_usd"] == Decimal("0.0009264")
    assert columns["price_internal_reasoning_usd_per_token"] == Decimal("0")
    assert columns["price_input_cache_read_usd_per_token"] == Decimal("0.000000025")
    # Every digit OpenRouter sent, not a float's approximation.
    assert str(columns["price_input_cache_write_usd_per_token"]) == "8.33333333333333E-8"
    # "-1" means the price varies: no number, but the string stays in `pricing`.
    assert columns["price_web_search_usd"] is None
    assert columns["pricing"]["web_search"] == "-1"


def test_every_column_is_declared_and_prices_are_decimals_of_18_places() -> None:
    assert set(model_columns(MODEL)) == set(COLUMN_TYPES)
    assert {COLUMN_TYPES[column] for column in PRICE_COLUMNS} == {"decimal"}
    hints = SPEC.table("models").column_hints()
    assert {(hints[column]["precision"], hints[column]["scale"]) for column in PRICE_COLUMNS} == {(38, 18)}


def test_a_sparse_or_odd_model_gives_nulls_not_errors() -> None:
    columns = model_columns(
        {
            "id": "x/y",
            "created": "yesterday",
            "context_length": 8192.0,
            "architecture": None,
            "top_provider": {"max_completion_tokens": True, "is_moderated": "yes"},
            "pricing": "free",
            "expiration_date": "soon",
            "knowledge_cutoff": 2024,
            "supported_parameters": None,
        }
    )
    assert columns["created_at"] is None
    assert columns["context_length"] == 8192
    assert columns["input_modalities"] is None and columns["tokenizer"] is None
    assert columns["max_completion_tokens"] is None and columns["is_moderated"] is None
    assert columns["pricing"] is None and all(columns[column] is None for column in PRICE_COLUMNS)
    assert columns["expiration_date"] is None
    assert columns["knowledge_cutoff"] is None  # a number is no text (as_text)
    assert columns["supported_parameters"] is None


def test_an_out_of_range_creation_time_is_null() -> None:
    assert model_columns({"created": 10**20})["created_at"] is None
    assert model_columns({"created": True})["created_at"] is None


def test_an_expiration_timestamp_becomes_its_date() -> None:
    assert model_columns({"expiration_date": "2026-02-17T00:00:00Z"})["expiration_date"] == date(2026, 2, 17)


def test_fixture_models_extract_cleanly() -> None:
    assert len(FIXTURE) >= 40 and len(set(FIXTURE_IDS)) == len(FIXTURE)
    rows = {item["id"]: model_columns(item) for item in FIXTURE}
    assert rows["anthropic/claude-sonnet-4.5"]["price_prompt_usd_per_token"] == Decimal("0.000003")
    assert rows["anthropic/claude-sonnet-4.5"]["price_input_cache_write_usd_per_token"] == Decimal("0.00000375")
    assert rows["perplexity/sonar"]["price_request_usd"] == Decimal("0.005")
    assert rows["openrouter/auto"]["price_prompt_usd_per_token"] is None
    assert rows["openrouter/auto"]["pricing"]["prompt"] == "-1"
    assert any(row["expiration_date"] is not None for row in rows.values())
    assert any(model_id.endswith(":free") for model_id in rows)
    assert all(row["created_at"] is not None for row in rows.values())


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0.000003", Decimal("0.000003")),
        ("0", Decimal("0")),
        (" 0.5 ", Decimal("0.5")),
        ("1e-6", Decimal("0.000001")),
        (0, Decimal("0")),
        (2.5e-06, Decimal("0.0000025")),
        ("-1", None),
        ("-0", None),
        ("varies", None),
        ("", None),
        ("NaN", None),
        ("Infinity", None),
        ("+1", None),
        ("1_000", None),
        ("1e999", None),
        ("1e99999", None),
        (None, None),
        (True, None),
        ({"amount": "1"}, None),
    ],
)
def test_parse_price(value: object, expected: Decimal | None) -> None:
    assert parse_price(value) == expected


PRICES = st.integers(min_value=0, max_value=24).flatmap(
    lambda scale: st.decimals(min_value=0, max_value=10**6, places=scale, allow_nan=False, allow_infinity=False)
)


@given(PRICES)
def test_decimal_strings_round_trip_exactly(price: Decimal) -> None:
    for text in (str(price), format(price, "f")):
        parsed = parse_price(text)
        assert parsed is not None
        assert parsed == price
        assert parsed.as_tuple() == Decimal(text).as_tuple()


@given(st.decimals(max_value=Decimal("-1E-24"), allow_nan=False, allow_infinity=False))
def test_a_negative_price_is_never_a_price(price: Decimal) -> None:
    assert parse_price(str(price)) is None
    assert parse_price(format(price, "f")) is None


@given(st.one_of(st.text(max_size=30), st.integers(), st.floats(allow_nan=True, allow_infinity=True)))
def test_whatever_comes_in_no_price_is_negative(value: object) -> None:
    price = parse_price(value)
    assert price is None or (price.is_finite() and price >= 0)


# --- offset pages ---------------------------------------------------------------------------------------------------


def test_the_page_size_bounds_are_the_apis() -> None:
    assert CATALOG.endpoint.paginator == Offset(PageSize("limit", default=DEFAULT_LIMIT, maximum=MAX_LIMIT))
    assert CATALOG.endpoint.params == {"output_modalities": "all"}


def test_every_page_is_fetched_once_by_offset(sim: Simulator) -> None:
    batch, request = simulated_fetch(SPEC, sim, page_size=7)
    pages = -(-len(FIXTURE) // 7)
    assert model_ids(batch) == FIXTURE_IDS
    assert request.stats.pages == request.stats.requests == pages
    requests = sim.requests_to("openrouter")
    # The next links are paths from the host root; the client keeps its own base URL and reads their offsets.
    assert {logged.path for logged in requests} == {"/api/v1/models"}
    assert [logged.query["offset"] for logged in requests] == [[str(7 * page)] for page in range(pages)]
    assert all(logged.query["output_modalities"] == ["all"] for logged in requests)


def test_the_default_page_size_takes_one_request(sim: Simulator) -> None:
    batch, request = simulated_fetch(SPEC, sim)
    assert set(model_ids(batch)) == set(FIXTURE_IDS) and request.stats.pages == 1
    assert sim.requests_to("openrouter")[0].query["limit"] == [str(DEFAULT_LIMIT)]


@pytest.mark.parametrize("page_size", [0, MAX_LIMIT + 1, 5000])
def test_a_page_size_beyond_the_apis_is_refused_not_capped(sim: Simulator, page_size: int) -> None:
    with pytest.raises(
        ConfigurationError, match=f"^OpenRouter: page size must be a whole number from 1 to 1000, got {page_size}$"
    ):
        simulated_fetch(SPEC, sim, page_size=page_size)
    assert sim.requests_to("openrouter") == []


def test_every_output_modality_is_asked_for(sim: Simulator) -> None:
    batch, _ = simulated_fetch(SPEC, sim, page_size=20)
    assert set(model_ids(batch)) == set(FIXTURE_IDS) != TEXT_OUTPUT_IDS
    assert "openai/text-embedding-3-small" in set(model_ids(batch)) - TEXT_OUTPUT_IDS
    # Without the parameter the API lists text-output models only.
    answered = httpx.get(sim.root_url("openrouter") + "/api/v1/models")
    assert {item["id"] for item in answered.json()["data"]} == TEXT_OUTPUT_IDS


def test_an_older_server_that_ignores_paging_is_read_in_one_request(sim: Simulator) -> None:
    sim.handlers["openrouter"] = OpenRouterHandler(sample_key("openrouter"), legacy=True)
    batch, request = simulated_fetch(SPEC, sim, page_size=10)
    assert model_ids(batch) == FIXTURE_IDS  # more than the 10 asked for: the whole list, no second request
    assert request.stats.requests == 1


def test_an_ignored_page_exactly_one_page_long_ends_when_nothing_new_comes(sim: Simulator) -> None:
    handler = OpenRouterHandler(sample_key("openrouter"), legacy=True)
    handler.models = handler.models[:10]
    sim.handlers["openrouter"] = handler
    batch, request = simulated_fetch(SPEC, sim, page_size=10)
    assert model_ids(batch) == FIXTURE_IDS[:10]
    assert request.stats.requests == 2


def test_items_without_an_id_become_rows_for_the_gate_and_a_repeated_id_is_kept_once(
    local_server: LocalServer,
) -> None:
    body = {"data": [{"name": "no id"}, "junk", {**MODEL, "id": "a/b"}, {"id": "a/b"}], "links": {"next": None}}
    local_server.serve("/api/v1/models?output_modalities=all&limit=10&offset=0", json.dumps(body))
    env = {"MODELATLAS_OPENROUTER_BASE_URL": local_server.base_url + "/api/v1"}
    batch, _ = fetch_with(SPEC, env, page_size=10)
    models = batch.tables["models"]
    assert [row["id"] for row in models] == [None, None, "a/b"]
    assert models[1]["payload"] == {"item": "junk"}
    assert models[2]["name"] == MODEL["name"]  # the first of the repeated id
    assert {point["provider_model_id"] for point in batch.tables["price_points"]} == {"a/b"}


def test_a_body_without_a_data_list_is_a_source_error(local_server: LocalServer) -> None:
    local_server.serve("/api/v1/models?output_modalities=all&limit=10&offset=0", json.dumps({"models": []}))
    env = {"MODELATLAS_OPENROUTER_BASE_URL": local_server.base_url + "/api/v1"}
    with pytest.raises(SourceError, match=r"^OpenRouter: /models returned no `data` list$"):
        fetch_with(SPEC, env, page_size=10)


# --- a 429 with or without a delay ----------------------------------------------------------------------------------


def test_a_429_with_retry_after_waits_the_advertised_delay(sim: Simulator) -> None:
    sim.handlers["openrouter"] = OpenRouterHandler(sample_key("openrouter"), retry_after_on_429=True)
    sim.inject("openrouter", Fault("rate_limit", retry_after_s=0.4))
    batch, _ = simulated_fetch(SPEC, sim)
    first, second = sim.requests_to("openrouter")
    assert second.at - first.at >= 0.4
    assert set(model_ids(batch)) == set(FIXTURE_IDS)


def test_a_429_without_retry_after_backs_off_exponentially(sim: Simulator) -> None:
    sim.inject("openrouter", Fault("rate_limit", count=2))
    simulated_fetch(SPEC, sim)
    first, second, third = sim.requests_to("openrouter")
    # From FAST's 0.01 s: at least 0.01 s, then at least 0.02 s, far below the fault's unadvertised 1 s.
    assert second.at - first.at >= FAST.initial_wait_s
    assert 2 * FAST.initial_wait_s <= third.at - second.at < 1.0


# --- price points from the same fetch -------------------------------------------------------------------------------


def test_the_price_points_come_from_the_same_fetch_as_the_models(sim: Simulator) -> None:
    batch, request = simulated_fetch(SPEC, sim, page_size=20)
    expected = [point.row() for item in FIXTURE for point in openrouter_price_points(item, MappingStats())]
    points = batch.tables["price_points"]
    assert request.stats.requests == request.stats.pages == -(-len(FIXTURE) // 20)  # no second listing
    assert sorted(point["price_hash"] for point in points) == sorted(point["price_hash"] for point in expected)
    assert {point["provider_model_id"] for point in points} <= set(model_ids(batch))
    sonnet = {p["component"]: p["price_usd"] for p in points if p["provider_model_id"] == "anthropic/claude-sonnet-4.5"}
    assert sonnet["input"] == Decimal(3) and sonnet["output"] == Decimal(15)
    assert not any(p["provider_model_id"] == "openrouter/auto" for p in points)  # "-1" everywhere: no price


# --- the simulator --------------------------------------------------------------------------------------------------


def request(path: str = "/api/v1/models", authorization: str | None = None, **query: str) -> SimRequest:
    headers = {"Authorization": authorization} if authorization else {}
    return SimRequest("GET", path, {k: [v] for k, v in query.items()}, headers, "http://127.0.0.1:1/openrouter")


def test_simulator_pages_like_the_reference() -> None:
    handler = OpenRouterHandler("sk-or-v1-right")
    body = handler.route(request(offset="0", limit="5", output_modalities="all")).body
    assert [item["id"] for item in body["data"]] == FIXTURE_IDS[:5]
    assert body["total_count"] == len(FIXTURE)
    assert body["links"]["next"] == "/api/v1/models?offset=5&limit=5&output_modalities=all"
    last = handler.route(request(offset=str(len(FIXTURE) - 1), limit="5", output_modalities="all")).body
    assert len(last["data"]) == 1 and last["links"]["next"] is None


def test_simulator_rejects_bad_paging_and_unknown_paths() -> None:
    handler = OpenRouterHandler(None)
    for query in ({"limit": "1001"}, {"limit": "0"}, {"offset": "-1"}, {"offset": "x"}):
        response = handler.route(request(**query))
        assert response.status == 400 and response.body["error"]["code"] == 400
    assert handler.route(request("/api/v1/credits")).status == 404


def test_simulator_auth_and_error_shapes() -> None:
    handler = OpenRouterHandler("sk-or-v1-right")
    assert handler.authenticate(request()) is None
    assert handler.authenticate(request(authorization="Bearer sk-or-v1-right")) is None
    denied = handler.authenticate(request(authorization="Bearer sk-or-v1-wrong"))
    assert denied is not None and denied.status == 401
    assert denied.body == {"error": {"code": 401, "message": "User not found."}}
    assert "sk-or-v1-wrong" not in json.dumps(denied.body)
    assert handler.error(503, "down").body["error"]["metadata"] == {"provider_name": None, "raw": None}
    assert handler.rate_limited(2).headers == {}
    assert handler.rate_limited(2).body == {"error": {"code": 429, "message": "Rate limit exceeded"}}
    assert OpenRouterHandler(None, retry_after_on_429=True).rate_limited(0.5).headers == {"retry-after": "0.5"}
