"""Gemini's quirks: a bad key answered 400 API_KEY_INVALID, ids without the `models/` prefix, int64 fields as strings,
`pageToken` pages that omit an empty list, the delay in the body's RetryInfo, and the simulator's shapes."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, cast

import httpx
import pytest
from genai_prices.data import providers
from hypothesis import given
from hypothesis import strategies as st

from modelatlas.errors import SourceError
from modelatlas.pipelines.catalog import catalog_rows
from modelatlas.pipelines.gemini import CATALOG, COLUMN_TYPES, SPEC, is_invalid_key_error, model_columns, rejects_key
from modelatlas.pipelines.http import ApiClient, retry_delay_s
from modelatlas.pipelines.paginate import PageSize, fetch_items, page_items
from modelatlas.pipelines.spec import FetchStats
from modelatlas.simulator import Simulator, build_simulator, sample_key
from modelatlas.simulator.core import SimRequest, SimResponse, load_fixture
from modelatlas.simulator.gemini import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, GeminiHandler, page_token, token_name
from tests.unit.simulated import simulated_fetch

KEY = sample_key("gemini")
FIXTURE: list[dict[str, Any]] = load_fixture("gemini")
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
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=10,
)
GEMINI_FIELDS = list(FULL)
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
    request = SimRequest("GET", "/v1beta/models", {k: [v] for k, v in params.items()}, {"x-goog-api-key": KEY}, "")
    denied = handler.authenticate(request)
    return denied if denied is not None else handler.route(request)


@pytest.fixture(scope="module")
def simulator() -> Iterator[Simulator]:
    with build_simulator([SPEC]) as server:
        yield server


@pytest.fixture
def sim(simulator: Simulator) -> Iterator[Simulator]:
    simulator.clear()
    yield simulator
    simulator.clear()


# --- ids and columns ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("models/gemini-2.5-pro", "gemini-2.5-pro"),
        ("gemini-2.5-pro", "gemini-2.5-pro"),
        ("models/models/x", "models/x"),  # only the one prefix
        ("models/", None),  # nothing left: no id, the gate quarantines the row
        ("", None),
        (7, None),
        (None, None),
    ],
)
def test_the_id_is_the_resource_name_without_its_prefix(name: Any, expected: str | None) -> None:
    assert CATALOG.identify({"name": name}) == expected


@given(st.text(min_size=1))
def test_the_id_inverts_the_prefix(suffix: str) -> None:
    assert CATALOG.identify({"name": "models/" + suffix}) == suffix


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
    assert set(model_columns(FULL)) == set(COLUMN_TYPES)


def test_an_embedding_model_leaves_sampling_and_thinking_null() -> None:
    embedding = next(item for item in FIXTURE if item["name"] == "models/text-embedding-004")
    columns = model_columns(embedding)
    assert columns["supported_generation_methods"] == ["embedContent"]
    assert (columns["input_token_limit"], columns["output_token_limit"]) == (2048, 1)
    assert columns["temperature"] is columns["top_k"] is columns["thinking"] is columns["base_model_id"] is None


def test_int64_fields_sent_as_strings_are_read_and_booleans_are_no_numbers() -> None:
    columns = model_columns({"inputTokenLimit": "2097152", "outputTokenLimit": True, "topK": 40.0, "topP": False})
    assert columns["input_token_limit"] == 2097152
    assert columns["output_token_limit"] is None
    assert columns["top_k"] == 40
    assert columns["top_p"] is None


def test_only_string_methods_are_kept_and_empty_text_is_null() -> None:
    columns = model_columns({"supportedGenerationMethods": ["generateContent", 7, None], "description": ""})
    assert columns["supported_generation_methods"] == ["generateContent"]
    assert columns["description"] is None


@given(st.fixed_dictionaries({}, optional=dict.fromkeys(GEMINI_FIELDS, JSON_VALUES)))
def test_model_columns_never_raise_and_always_match_their_declared_types(item: dict[str, Any]) -> None:
    columns = model_columns(item)
    assert set(columns) == set(COLUMN_TYPES)
    for column, value in columns.items():
        assert value is None or isinstance(value, PYTHON_TYPES[COLUMN_TYPES[column]]), (column, value)
        if COLUMN_TYPES[column] in ("bigint", "double"):
            assert not isinstance(value, bool)


# --- pages ----------------------------------------------------------------------------------------------------------


def test_a_page_without_models_is_empty_as_proto3_omits_empty_lists() -> None:
    assert page_items({}, CATALOG.endpoint) == []
    assert page_items({"models": [FULL]}, CATALOG.endpoint) == [FULL]


def test_items_that_are_not_models_become_rows_without_an_id() -> None:
    body = {"models": [FULL, {"displayName": "no name"}, {"name": "models/"}, "models/x"]}
    rows = catalog_rows(
        page_items(body, CATALOG.endpoint), CATALOG, fetched_at=datetime(2026, 1, 1, tzinfo=UTC), region="eu"
    )
    assert [row["id"] for row in rows] == ["gemini-2.5-pro", None, None, None]
    assert rows[3]["payload"] == {"item": "models/x"}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([FULL], "returned list, not an object"),
        ("models", "returned str"),
        ({"models": {"name": "models/x"}}, "returned no `models` list"),
    ],
)
def test_a_body_without_a_models_list_is_a_source_error(local_server: Any, body: Any, message: str) -> None:
    local_server.serve("/v1beta/models?pageSize=50", json.dumps(body))
    with (
        ApiClient("Gemini", local_server.base_url) as client,
        pytest.raises(SourceError, match=f"^Gemini: /v1beta/models {message}"),
    ):
        list(fetch_items(client, CATALOG.endpoint, FetchStats(), CATALOG.identify))


def test_the_fixture_spans_two_pages_at_the_apis_default_size(sim: Simulator) -> None:
    batch, request = simulated_fetch(SPEC, sim)
    assert [row["id"] for row in batch.tables["models"]] == [CATALOG.identify(item) for item in FIXTURE]
    assert request.stats.pages == request.stats.requests == math.ceil(len(FIXTURE) / DEFAULT_PAGE_SIZE) == 2
    first, second = sim.requests_to("gemini")
    assert first.query == {"pageSize": ["50"]}
    assert second.query["pageSize"] == ["50"] and token_name(second.query["pageToken"][0]) == FIXTURE[49]["name"]


def test_a_page_size_of_a_thousand_fetches_everything_at_once(sim: Simulator) -> None:
    batch, request = simulated_fetch(SPEC, sim, page_size=1000)
    assert request.stats.pages == 1 and len(batch.tables["models"]) == len(FIXTURE)


def test_the_page_size_bounds_are_the_apis() -> None:
    assert CATALOG.endpoint.paginator.size == PageSize("pageSize", default=DEFAULT_PAGE_SIZE, maximum=MAX_PAGE_SIZE)


class InProcessClient:
    """Stands in for ApiClient: answers from a GeminiHandler in-process, so many listings stay fast."""

    provider = "Gemini"
    base_url = httpx.URL("https://generativelanguage.googleapis.com/")

    def __init__(self, handler: GeminiHandler) -> None:
        self.handler = handler
        self.requests_made = 0

    def get_json(self, path: str, params: dict[str, Any]) -> tuple[Any, httpx.Response]:
        self.requests_made += 1
        simulated = list_request(self.handler, **{name: str(value) for name, value in params.items()})
        assert simulated.status == 200, simulated.body
        return simulated.body, sim_response(simulated)


@given(
    st.lists(st.from_regex(r"[a-z][a-z0-9.\-]{0,30}", fullmatch=True), unique=True, max_size=40),
    st.integers(min_value=1, max_value=12),
)
def test_following_page_tokens_lists_every_model_once_in_order(names: list[str], page_size: int) -> None:
    handler = GeminiHandler(KEY)
    handler.models = [{"name": f"models/{name}", "displayName": name} for name in names]
    stats = FetchStats()
    client = cast(ApiClient, InProcessClient(handler))

    listed = list(fetch_items(client, CATALOG.endpoint, stats, CATALOG.identify, page_size=page_size))

    assert [CATALOG.identify(item) for item in listed] == names
    assert stats.pages == stats.requests == max(1, math.ceil(len(names) / page_size))


# --- keys and errors ------------------------------------------------------------------------------------------------


def test_the_simulators_wrong_key_answer_is_a_rejected_key() -> None:
    simulated = GeminiHandler("AIza-the-right-key").authenticate(
        SimRequest("GET", "/v1beta/models", {}, {"x-goog-api-key": KEY}, "http://sim/gemini")
    )
    assert simulated is not None and simulated.status == 400
    assert simulated.body["error"]["status"] == "INVALID_ARGUMENT"
    assert rejects_key(sim_response(simulated))
    assert SPEC.rejects_key is rejects_key


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


def test_a_bad_page_token_is_a_source_error_not_a_rejected_key(sim: Simulator) -> None:
    class TamperedToken(GeminiHandler):
        def route(self, request: SimRequest) -> SimResponse:
            answer = super().route(request)
            if "nextPageToken" in answer.body:
                answer.body["nextPageToken"] = "not-a-token"
            return answer

    sim.handlers["gemini"] = TamperedToken(KEY)
    try:
        with pytest.raises(SourceError, match=r"answered HTTP 400: Invalid page token\.$") as raised:
            simulated_fetch(SPEC, sim)
    finally:
        sim.handlers["gemini"] = GeminiHandler(KEY)
    assert type(raised.value) is SourceError


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


# --- the simulator's pages and fixture ------------------------------------------------------------------------------


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
    ids = [CATALOG.identify(item) for item in FIXTURE]
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
