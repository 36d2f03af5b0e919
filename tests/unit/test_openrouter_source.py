"""OpenRouter's source without a warehouse: column extraction, exact prices, paging rules, and the simulator."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelatlas.errors import ConfigurationError, SourceError
from modelatlas.pipelines.catalog import FetchStats
from modelatlas.pipelines.http import RetryPolicy
from modelatlas.pipelines.openrouter import (
    COLUMN_TYPES,
    MAX_PAGE_SIZE,
    PRICE_COLUMNS,
    checked_page_size,
    fetch_models,
    model_columns,
    next_offset,
    openrouter_client,
    openrouter_source,
    parse_price,
)
from modelatlas.simulator.core import SimRequest, load_fixture
from modelatlas.simulator.openrouter import OpenRouterHandler
from modelatlas.simulator.server import Simulator

FAST = RetryPolicy(attempts=2, initial_wait_s=0.01, max_wait_s=0.02, budget_s=5, read_timeout_s=2.0)
FIXTURE: list[dict[str, Any]] = load_fixture("openrouter")
FIXTURE_IDS = {item["id"] for item in FIXTURE}
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


@pytest.fixture
def simulator() -> Iterator[Simulator]:
    with Simulator({"openrouter": OpenRouterHandler("sk-or-v1-unit-test-key")}) as server:
        yield server


def fetch(simulator: Simulator, page_size: int, **options: Any) -> tuple[list[dict[str, Any]], FetchStats]:
    stats = FetchStats()
    with openrouter_client(None, simulator.root_url("openrouter") + "/api/v1", FAST) as client:
        return list(fetch_models(client, stats, page_size, **options)), stats


# --- columns ---------------------------------------------------------------------------------------------------


def test_model_columns_reads_every_typed_field() -> None:
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
    assert str(columns["price_input_cache_write_usd_per_token"]) == "8.33333333333333E-8"
    # "-1" means the price varies: no number, but the string stays in `pricing`.
    assert columns["price_web_search_usd"] is None
    assert columns["pricing"]["web_search"] == "-1"


def test_every_extracted_column_has_a_type_hint() -> None:
    assert set(model_columns(MODEL)) == set(COLUMN_TYPES)
    assert {COLUMN_TYPES[column] for column in PRICE_COLUMNS} == {"decimal"}


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
    assert columns["knowledge_cutoff"] == "2024"
    assert columns["supported_parameters"] is None


def test_an_out_of_range_creation_time_is_null() -> None:
    assert model_columns({"created": 10**20})["created_at"] is None
    assert model_columns({"created": True})["created_at"] is None


def test_an_expiration_timestamp_becomes_its_date() -> None:
    assert model_columns({"expiration_date": "2026-02-17T00:00:00Z"})["expiration_date"] == date(2026, 2, 17)


def test_fixture_models_extract_cleanly() -> None:
    assert len(FIXTURE) >= 40 and len(FIXTURE_IDS) == len(FIXTURE)
    rows = {item["id"]: model_columns(item) for item in FIXTURE}
    assert rows["anthropic/claude-sonnet-4.5"]["price_prompt_usd_per_token"] == Decimal("0.000003")
    assert rows["openrouter/auto"]["price_prompt_usd_per_token"] is None
    assert any(row["expiration_date"] is not None for row in rows.values())
    assert any(model_id.endswith(":free") for model_id in rows)
    assert all(row["created_at"] is not None for row in rows.values())


# --- prices ----------------------------------------------------------------------------------------------------


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


places = st.integers(min_value=0, max_value=24)
prices = places.flatmap(
    lambda scale: st.decimals(min_value=0, max_value=10**6, places=scale, allow_nan=False, allow_infinity=False)
)


@given(prices)
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


# --- paging ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "offset", "count", "expected"),
    [
        ({"data": [], "links": {"next": "/api/v1/models?offset=10&limit=10"}}, 0, 0, None),
        ({"links": {"next": "/api/v1/models?offset=10&limit=10"}, "total_count": 25}, 0, 10, 10),
        ({"links": {"next": "https://openrouter.ai/api/v1/models?limit=10&offset=20"}}, 10, 10, 20),
        ({"links": {"next": "models?offset=20&limit=10"}, "total_count": 30}, 10, 10, 20),
        # The reference's own example: a next link beyond total_count. total_count wins.
        ({"links": {"next": "/api/v1/models?offset=500&limit=500"}, "total_count": 150}, 0, 150, None),
        ({"links": {"next": None}, "total_count": 25}, 20, 5, None),
        ({"links": {"next": "/api/v1/models?offset=0"}}, 10, 10, 20),
        ({"links": {"next": "/api/v1/models?offset=next"}}, 10, 10, 20),
        ({"links": {"next": "/api/v1/models?cursor=abc"}}, 10, 10, 20),
        # Older plain {data}: a short page is the last; a full one may have a successor.
        ({}, 0, 7, None),
        ({}, 0, 10, 10),
        # More than asked for: the server ignored paging and sent everything.
        ({"links": {"next": "/api/v1/models?offset=10"}}, 0, 11, None),
        ({"total_count": True}, 0, 10, 10),
    ],
)
def test_next_offset(body: dict[str, Any], offset: int, count: int, expected: int | None) -> None:
    assert next_offset(body, offset, 10, count) == expected


def test_page_size_bounds() -> None:
    assert checked_page_size(1) == 1
    assert checked_page_size(500) == 500
    assert checked_page_size(5000) == MAX_PAGE_SIZE
    for wrong in (0, -5, True):
        with pytest.raises(ConfigurationError, match="page_size"):
            checked_page_size(wrong)


def test_a_wrong_page_size_fails_when_the_source_is_built() -> None:
    with pytest.raises(ConfigurationError, match="page_size"):
        openrouter_source(page_size=0)


def test_every_page_is_fetched_once(simulator: Simulator) -> None:
    items, stats = fetch(simulator, 7)
    pages = -(-len(FIXTURE) // 7)
    assert [item["id"] for item in items] == [item["id"] for item in FIXTURE]
    assert stats.pages == stats.requests == pages
    offsets = [request.query["offset"] for request in simulator.requests_to("openrouter")]
    assert offsets == [[str(7 * page)] for page in range(pages)]


def test_the_default_page_size_takes_one_request(simulator: Simulator) -> None:
    items, stats = fetch(simulator, 500)
    assert {item["id"] for item in items} == FIXTURE_IDS
    assert stats.pages == 1


def test_a_page_size_above_the_maximum_is_capped(simulator: Simulator) -> None:
    _, stats = fetch(simulator, 5000)
    assert stats.pages == 1
    assert simulator.requests_to("openrouter")[0].query["limit"] == [str(MAX_PAGE_SIZE)]


def test_every_output_modality_is_asked_for_by_default(simulator: Simulator) -> None:
    everything, _ = fetch(simulator, 20)
    text_only, _ = fetch(simulator, 20, output_modalities=None)
    assert {item["id"] for item in everything} == FIXTURE_IDS
    assert {item["id"] for item in text_only} == TEXT_OUTPUT_IDS != FIXTURE_IDS
    assert "openai/text-embedding-3-small" not in TEXT_OUTPUT_IDS


def test_an_older_unpaged_answer_is_read_once() -> None:
    with Simulator({"openrouter": OpenRouterHandler(None, legacy=True)}) as server:
        items, stats = fetch(server, 10)
    assert {item["id"] for item in items} == FIXTURE_IDS
    assert stats.requests == 1


def test_an_unpaged_answer_exactly_one_page_long_stops_at_the_repeat() -> None:
    handler = OpenRouterHandler(None, legacy=True)
    handler.models = handler.models[:10]
    with Simulator({"openrouter": handler}) as server:
        items, stats = fetch(server, 10)
    assert len(items) == 10 and stats.requests == 2


def test_models_without_an_id_are_skipped(local_server: Any, caplog: pytest.LogCaptureFixture) -> None:
    body = {"data": [{"name": "no id"}, "junk", {"id": "a/b"}, {"id": "a/b"}], "links": {"next": None}}
    local_server.serve("/api/v1/models?offset=0&limit=10&output_modalities=all", json.dumps(body))
    with caplog.at_level(logging.WARNING), openrouter_client(None, local_server.base_url + "/api/v1", FAST) as client:
        items = list(fetch_models(client, FetchStats(), 10))
    assert [item["id"] for item in items] == ["a/b"]
    assert caplog.text.count("without an id") == 2


def test_a_body_without_a_data_list_is_a_source_error(local_server: Any) -> None:
    local_server.serve("/api/v1/models?offset=0&limit=10&output_modalities=all", json.dumps({"models": []}))
    with (
        openrouter_client(None, local_server.base_url + "/api/v1", FAST) as client,
        pytest.raises(SourceError, match="no `data` list"),
    ):
        list(fetch_models(client, FetchStats(), 10))


def test_no_authorization_header_without_a_key(simulator: Simulator) -> None:
    fetch(simulator, 500)
    assert simulator.requests_to("openrouter")[0].headers.get("Authorization") is None


# --- simulator -------------------------------------------------------------------------------------------------


def request(path: str = "/api/v1/models", authorization: str | None = None, **query: str) -> SimRequest:
    headers = {"Authorization": authorization} if authorization else {}
    return SimRequest("GET", path, {k: [v] for k, v in query.items()}, headers, "http://127.0.0.1:1/openrouter")


def test_simulator_pages_like_the_reference() -> None:
    handler = OpenRouterHandler("sk-or-v1-right")
    body = handler.route(request(offset="0", limit="5", output_modalities="all")).body
    assert [item["id"] for item in body["data"]] == [item["id"] for item in FIXTURE[:5]]
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


def test_simulator_over_http_filters_text_models_by_default(simulator: Simulator) -> None:
    response = httpx.get(simulator.root_url("openrouter") + "/api/v1/models")
    assert response.status_code == 200
    assert {item["id"] for item in response.json()["data"]} == TEXT_OUTPUT_IDS
