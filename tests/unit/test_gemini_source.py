"""Gemini's pure extraction and pagination, and the simulator's paging and error shapes, without a network."""

from __future__ import annotations

import json
import math
from typing import Any, cast

import httpx
import pytest
from genai_prices.data import providers
from hypothesis import given
from hypothesis import strategies as st

from modelatlas.errors import ConfigurationError, SourceError
from modelatlas.pipelines.catalog import FetchStats
from modelatlas.pipelines.gemini import (
    DEFAULT_PAGE_SIZE,
    MODEL_COLUMN_TYPES,
    fetch_models,
    is_invalid_key_error,
    list_params,
    model_columns,
    model_id,
    next_page_token,
    page_models,
    rejects_key,
)
from modelatlas.pipelines.http import ApiClient, retry_delay_s
from modelatlas.simulator.core import SimRequest, SimResponse, load_fixture
from modelatlas.simulator.gemini import GeminiHandler, page_token, token_name

KEY = "AIza-unit-test-0123456789"
FIXTURE = load_fixture("gemini")
FULL = {
    "name": "models/gemini-2.5-pro",
    "baseModelId": "gemini-2.5-pro",
    "version": "2.5",
    "displayName": "Gemini 2.5 Pro",
    "description": "Stable release (June 17th, 2025) of Gemini 2.5 Pro",
    "inputTokenLimit": 1048576,
    "outputTokenLimit": 65536,
    "supportedGenerationMethods": ["generateContent", "countTokens", "createCachedContent", "batchGenerateContent"],
    "temperature": 1,
    "topP": 0.95,
    "topK": 64,
    "maxTemperature": 2,
    "thinking": True,
}
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=10,
)
GEMINI_FIELDS = [
    "name",
    "baseModelId",
    "version",
    "displayName",
    "description",
    "inputTokenLimit",
    "outputTokenLimit",
    "supportedGenerationMethods",
    "temperature",
    "topP",
    "topK",
    "maxTemperature",
    "thinking",
]
PYTHON_TYPES: dict[str, type | tuple[type, ...]] = {
    "text": str,
    "bigint": int,
    "double": float,
    "bool": bool,
    "json": list,
}


def response(status: int, body: Any) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.Response(status, content=content, request=httpx.Request("GET", "https://gemini.test/v1beta/models"))


def sim_response(simulated: SimResponse) -> httpx.Response:
    return response(simulated.status, simulated.encoded())


def list_request(handler: GeminiHandler, **params: str) -> SimResponse:
    request = SimRequest(
        method="GET",
        path="/v1beta/models",
        query={name: [value] for name, value in params.items()},
        headers={"x-goog-api-key": KEY},
        base_url="http://sim/gemini",
    )
    denied = handler.authenticate(request)
    return denied if denied is not None else handler.route(request)


class HandlerClient:
    """Stands in for ApiClient: serves `get_json` from a GeminiHandler in-process."""

    def __init__(self, handler: GeminiHandler) -> None:
        self.handler = handler
        self.requests_made = 0
        self.params: list[dict[str, Any]] = []

    def get_json(self, path: str, params: dict[str, Any]) -> tuple[Any, None]:
        self.requests_made += 1
        self.params.append(dict(params))
        simulated = list_request(self.handler, **{name: str(value) for name, value in params.items()})
        assert simulated.status == 200, simulated.body
        return simulated.body, None


def fetch_all(handler: GeminiHandler, page_size: int = DEFAULT_PAGE_SIZE) -> tuple[list[dict[str, Any]], FetchStats]:
    stats = FetchStats()
    client = HandlerClient(handler)
    items = list(fetch_models(cast(ApiClient, client), stats, page_size))
    return items, stats


def handler_with(names: list[str]) -> GeminiHandler:
    handler = GeminiHandler(KEY)
    handler.models = [{"name": f"models/{name}", "displayName": name} for name in names]
    return handler


# --- extraction ------------------------------------------------------------------------------------------------------


def test_model_id_drops_the_resource_prefix_only() -> None:
    assert model_id("models/gemini-2.5-pro") == "gemini-2.5-pro"
    assert model_id("gemini-2.5-pro") == "gemini-2.5-pro"
    assert model_id("models/models/x") == "models/x"


@given(st.text())
def test_model_id_inverts_the_prefix(suffix: str) -> None:
    assert model_id("models/" + suffix) == suffix


def test_model_columns_types_every_field() -> None:
    assert model_columns(FULL) == {
        "name": "models/gemini-2.5-pro",
        "base_model_id": "gemini-2.5-pro",
        "version": "2.5",
        "display_name": "Gemini 2.5 Pro",
        "description": "Stable release (June 17th, 2025) of Gemini 2.5 Pro",
        "input_token_limit": 1048576,
        "output_token_limit": 65536,
        "supported_generation_methods": [
            "generateContent",
            "countTokens",
            "createCachedContent",
            "batchGenerateContent",
        ],
        "temperature": 1.0,
        "top_p": 0.95,
        "top_k": 64,
        "max_temperature": 2.0,
        "thinking": True,
    }
    assert isinstance(model_columns(FULL)["temperature"], float)


def test_model_columns_of_an_embedding_model_leave_sampling_and_thinking_null() -> None:
    embedding = next(item for item in FIXTURE if item["name"] == "models/text-embedding-004")
    columns = model_columns(embedding)
    assert columns["supported_generation_methods"] == ["embedContent"]
    assert (columns["input_token_limit"], columns["output_token_limit"]) == (2048, 1)
    assert columns["temperature"] is columns["top_k"] is columns["thinking"] is columns["base_model_id"] is None


def test_model_columns_read_int64_strings_and_reject_booleans_as_numbers() -> None:
    columns = model_columns({"inputTokenLimit": "2097152", "outputTokenLimit": True, "topK": 40.0, "topP": False})
    assert columns["input_token_limit"] == 2097152
    assert columns["output_token_limit"] is None
    assert columns["top_k"] == 40
    assert columns["top_p"] is None


def test_model_columns_keep_only_string_methods_and_drop_empty_text() -> None:
    columns = model_columns({"supportedGenerationMethods": ["generateContent", 7, None], "description": ""})
    assert columns["supported_generation_methods"] == ["generateContent"]
    assert columns["description"] is None


def test_every_column_has_a_type_hint() -> None:
    assert set(model_columns(FULL)) == set(MODEL_COLUMN_TYPES)


@given(st.fixed_dictionaries({}, optional=dict.fromkeys(GEMINI_FIELDS, json_values)))
def test_model_columns_never_raise_and_always_match_their_hinted_types(item: dict[str, Any]) -> None:
    columns = model_columns(item)
    assert set(columns) == set(MODEL_COLUMN_TYPES)
    for column, value in columns.items():
        expected = PYTHON_TYPES[MODEL_COLUMN_TYPES[column]]
        assert value is None or isinstance(value, expected), (column, value)
        if MODEL_COLUMN_TYPES[column] in ("bigint", "double"):
            assert not isinstance(value, bool)


# --- pages -------------------------------------------------------------------------------------------------------


def test_list_params_send_the_token_only_when_there_is_one() -> None:
    assert list_params(50, None) == {"pageSize": 50}
    assert list_params(50, "") == {"pageSize": 50}
    assert list_params(1000, "CiRt") == {"pageSize": 1000, "pageToken": "CiRt"}


def test_next_page_token_is_none_on_the_last_page() -> None:
    assert next_page_token({"models": []}) is None
    assert next_page_token({"models": [], "nextPageToken": ""}) is None
    assert next_page_token({"nextPageToken": None}) is None
    assert next_page_token({"nextPageToken": "abc"}) == "abc"


def test_a_page_without_models_is_empty() -> None:
    assert page_models({}) == []
    assert page_models({"models": [FULL]}) == [FULL]


@pytest.mark.parametrize(
    "body",
    [
        [FULL],
        "models",
        {"models": {"name": "models/x"}},
        {"models": [{"displayName": "no name"}]},
        {"models": [{"name": "models/"}]},
        {"models": ["models/x"]},
    ],
)
def test_malformed_pages_are_source_errors(body: Any) -> None:
    with pytest.raises(SourceError, match="Gemini: /v1beta/models"):
        page_models(body)


def test_the_fixture_spans_two_pages_at_the_default_page_size() -> None:
    items, stats = fetch_all(GeminiHandler(KEY))
    assert [item["name"] for item in items] == [item["name"] for item in FIXTURE]
    assert len(FIXTURE) >= 60
    assert stats.pages == stats.requests == math.ceil(len(FIXTURE) / DEFAULT_PAGE_SIZE) == 2


@given(
    st.lists(st.from_regex(r"[a-z][a-z0-9.\-]{0,30}", fullmatch=True), unique=True, max_size=40),
    st.integers(min_value=1, max_value=12),
)
def test_fetch_models_returns_every_model_once_in_order(names: list[str], page_size: int) -> None:
    items, stats = fetch_all(handler_with(names), page_size)
    assert [model_id(item["name"]) for item in items] == names
    assert stats.pages == max(1, math.ceil(len(names) / page_size))
    assert stats.requests == stats.pages


def test_fetch_models_sends_the_page_size_and_follows_tokens() -> None:
    client = HandlerClient(handler_with(["a", "b", "c"]))
    list(fetch_models(cast(ApiClient, client), FetchStats(), page_size=2))
    assert client.params[0] == {"pageSize": 2}
    assert client.params[1]["pageSize"] == 2
    assert token_name(client.params[1]["pageToken"]) == "models/b"


def test_a_repeated_page_token_stops_the_fetch() -> None:
    class LoopingClient:
        requests_made = 0

        def get_json(self, path: str, params: dict[str, Any]) -> tuple[Any, None]:
            self.requests_made += 1
            return {"models": [{"name": f"models/m{self.requests_made}"}], "nextPageToken": "same"}, None

    with pytest.raises(SourceError, match="same nextPageToken twice"):
        list(fetch_models(cast(ApiClient, LoopingClient()), FetchStats()))


@pytest.mark.parametrize("page_size", [0, -1, 1001])
def test_page_sizes_outside_the_api_range_are_rejected(page_size: int) -> None:
    with pytest.raises(ConfigurationError, match="page_size"):
        list(fetch_models(cast(ApiClient, HandlerClient(GeminiHandler(KEY))), FetchStats(), page_size))


# --- errors ------------------------------------------------------------------------------------------------------


def test_the_simulators_wrong_key_answer_is_a_rejected_key() -> None:
    simulated = GeminiHandler("AIza-the-right-key").authenticate(
        SimRequest("GET", "/v1beta/models", {}, {"x-goog-api-key": KEY}, "http://sim/gemini")
    )
    assert simulated is not None and simulated.status == 400
    assert simulated.body["error"]["status"] == "INVALID_ARGUMENT"
    assert rejects_key(sim_response(simulated))


def test_a_missing_key_is_403_permission_denied() -> None:
    simulated = GeminiHandler(KEY).authenticate(SimRequest("GET", "/v1beta/models", {}, {}, "http://sim/gemini"))
    assert simulated is not None and simulated.status == 403
    assert simulated.body["error"]["status"] == "PERMISSION_DENIED"


def test_other_400s_are_not_key_errors() -> None:
    bad_token = list_request(GeminiHandler(KEY), pageToken="not-a-token")
    assert bad_token.status == 400
    assert not rejects_key(sim_response(bad_token))
    assert not rejects_key(response(400, b"<html>Bad Request</html>"))
    assert not rejects_key(response(429, {"error": {"details": [{"reason": "API_KEY_INVALID"}]}}))


@pytest.mark.parametrize(
    ("body", "invalid"),
    [
        ({"error": {"code": 400, "details": [{"@type": "x.ErrorInfo", "reason": "API_KEY_INVALID"}]}}, True),
        ({"error": {"code": 400, "details": [{"reason": "API_KEY_INVALID"}]}}, True),
        ({"error": {"code": 400, "message": "Invalid page token."}}, False),
        ({"error": {"details": "API_KEY_INVALID"}}, False),
        ({"error": "API_KEY_INVALID"}, False),
        ([], False),
    ],
)
def test_is_invalid_key_error(body: Any, invalid: bool) -> None:
    assert is_invalid_key_error(body) is invalid


@given(st.floats(min_value=0, max_value=3600, allow_nan=False).map(lambda seconds: round(seconds, 3)))
def test_the_simulated_429_advertises_its_delay_in_retry_info_only(seconds: float) -> None:
    simulated = GeminiHandler(KEY).rate_limited(seconds)
    assert simulated.status == 429 and "retry-after" not in simulated.headers
    assert simulated.body["error"]["status"] == "RESOURCE_EXHAUSTED"
    delay = retry_delay_s(sim_response(simulated))
    assert delay is not None and delay == pytest.approx(seconds, rel=1e-5, abs=1e-6)


@pytest.mark.parametrize(("status", "name"), [(500, "INTERNAL"), (503, "UNAVAILABLE")])
def test_server_errors_carry_googles_status_names(status: int, name: str) -> None:
    body = GeminiHandler(KEY).error(status, "boom", "server_error").body
    assert body["error"]["code"] == status and body["error"]["status"] == name


# --- simulator pages ------------------------------------------------------------------------------------------------


@given(st.from_regex(r"models/[a-z0-9.\-]{1,100}", fullmatch=True))
def test_page_tokens_round_trip(name: str) -> None:
    assert token_name(page_token(name)) == name


@pytest.mark.parametrize("token", ["", "!!!", "aGVsbG8=", page_token("models/x")[:-4]])
def test_foreign_tokens_are_not_ours(token: str) -> None:
    assert token_name(token) is None


def test_the_simulator_caps_the_page_size_and_omits_the_token_on_the_last_page() -> None:
    everything = list_request(GeminiHandler(KEY), pageSize="5000")
    assert len(everything.body["models"]) == len(FIXTURE)
    assert "nextPageToken" not in everything.body
    first = list_request(GeminiHandler(KEY))
    assert len(first.body["models"]) == DEFAULT_PAGE_SIZE and first.body["nextPageToken"]


def test_fixture_ids_are_real_and_match_the_price_registry() -> None:
    ids = [model_id(item["name"]) for item in FIXTURE]
    assert len(ids) == len(set(ids))
    assert all(item["name"].startswith("models/") for item in FIXTURE)
    public = {
        "gemini-2.5-pro",
        "gemini-2.5-flash",
        "gemini-2.5-flash-lite",
        "gemini-2.0-flash",
        "gemini-2.0-flash-001",
        "gemini-1.5-pro",
        "gemini-1.5-flash",
        "text-embedding-004",
        "gemini-embedding-001",
        "embedding-001",
        "aqa",
        "imagen-4.0-generate-001",
        "veo-2.0-generate-001",
        "gemma-3-27b-it",
    }
    assert public <= set(ids)
    registry = {model.id for provider in providers if provider.id == "google" for model in provider.models}
    assert len(set(ids) & registry) >= 20
