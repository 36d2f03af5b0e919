"""Anthropic's quirks: the capabilities tree, the required `anthropic-version` header, `after_id` pages of 20 by
default, and the simulator's shapes. What every catalog does is in tests/integration/test_source_contract.py."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelatlas.errors import SourceError
from modelatlas.pipelines.anthropic import (
    API_VERSION,
    CAPABILITY_FLAGS,
    CATALOG,
    COLUMN_TYPES,
    SPEC,
    capability_flags,
    model_columns,
)
from modelatlas.pipelines.paginate import AfterId, Page, PageRequest, PageSize, page_items
from modelatlas.simulator import Simulator, build_simulator, sample_key
from modelatlas.simulator.anthropic import DEFAULT_LIMIT, MAX_LIMIT, AnthropicHandler, error_type, page
from modelatlas.simulator.core import SimRequest, load_fixture
from tests.unit.simulated import simulated_fetch

FIXTURE: list[dict[str, Any]] = load_fixture("anthropic")
SONNET_45: dict[str, Any] = {
    "type": "model",
    "id": "claude-sonnet-4-5-20250929",
    "display_name": "Claude Sonnet 4.5",
    "created_at": "2025-09-29T00:00:00Z",
    "max_input_tokens": 200000,
    "max_tokens": 64000,
    "capabilities": {
        "batch": {"supported": True},
        "citations": {"supported": True},
        "code_execution": {"supported": True},
        "context_management": {"clear_tool_uses_20250919": {"supported": True}, "supported": True},
        "effort": {"high": {"supported": False}, "supported": False},
        "image_input": {"supported": True},
        "pdf_input": {"supported": True},
        "structured_outputs": {"supported": True},
        "thinking": {"supported": True, "types": {"adaptive": {"supported": False}, "enabled": {"supported": True}}},
    },
}


@pytest.fixture(scope="module")
def simulator() -> Iterator[Simulator]:
    with build_simulator([SPEC]) as server:
        yield server


@pytest.fixture
def sim(simulator: Simulator) -> Iterator[Simulator]:
    simulator.clear()
    yield simulator
    simulator.clear()


# --- the capabilities tree ------------------------------------------------------------------------------------------


def test_capability_flags_walks_nested_nodes_by_dotted_path() -> None:
    flags = capability_flags(SONNET_45["capabilities"])

    assert flags["thinking"] is True
    assert flags["thinking.types.adaptive"] is False
    assert flags["thinking.types.enabled"] is True
    assert flags["context_management.clear_tool_uses_20250919"] is True
    assert flags["effort.high"] is False
    assert "thinking.types" not in flags  # a grouping node without `supported` is no flag


def test_unknown_and_malformed_capabilities_are_skipped_not_fatal() -> None:
    tree = {
        "image_input": {"supported": True},
        "server_tools": {"supported": True, "web_search": {"supported": False}, "versions": ["2025"]},
        "teleportation": {"supported": "soon"},
        "odd": [1, 2, 3],
        "weird": None,
    }

    assert capability_flags(tree) == {"image_input": True, "server_tools": True, "server_tools.web_search": False}
    assert capability_flags(None) == {}
    assert capability_flags(["image_input"]) == {}


JSON_TREES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


@given(JSON_TREES)
def test_capability_flags_never_raises_and_yields_only_booleans(tree: Any) -> None:
    flags = capability_flags(tree)

    assert all(isinstance(value, bool) for value in flags.values())
    assert all(isinstance(path, str) for path in flags)


@given(st.dictionaries(st.sampled_from(CAPABILITY_FLAGS), st.booleans()))
def test_every_known_top_level_flag_becomes_its_column(supported: dict[str, bool]) -> None:
    item = {"id": "claude-x", "capabilities": {name: {"supported": value} for name, value in supported.items()}}

    columns = model_columns(item)

    for name in CAPABILITY_FLAGS:
        assert columns[f"supports_{name}"] is supported.get(name)


# --- columns --------------------------------------------------------------------------------------------------------


def test_model_columns_reads_limits_dates_and_flags() -> None:
    assert model_columns(SONNET_45) == {
        "display_name": "Claude Sonnet 4.5",
        "created_at": datetime(2025, 9, 29, tzinfo=UTC),
        "max_input_tokens": 200000,
        "max_tokens": 64000,
        "capabilities": SONNET_45["capabilities"],
        "supports_batch": True,
        "supports_citations": True,
        "supports_code_execution": True,
        "supports_context_management": True,
        "supports_effort": False,
        "supports_image_input": True,
        "supports_pdf_input": True,
        "supports_structured_outputs": True,
        "supports_thinking": True,
    }
    assert set(model_columns(SONNET_45)) == set(COLUMN_TYPES)


def test_the_fixtures_sonnet_reads_as_the_api_documents_it() -> None:
    sonnet = next(item for item in FIXTURE if item["id"] == "claude-sonnet-4-5-20250929")
    columns = model_columns(sonnet)
    assert (columns["display_name"], columns["created_at"], columns["max_input_tokens"], columns["max_tokens"]) == (
        "Claude Sonnet 4.5",
        datetime(2025, 9, 29, tzinfo=UTC),
        200000,
        64000,
    )
    assert all(
        columns[f"supports_{name}"] for name in ("image_input", "pdf_input", "thinking", "structured_outputs", "batch")
    )


def test_model_columns_are_null_when_the_payload_does_not_say() -> None:
    columns = model_columns({"id": "claude-2.1", "type": "model", "created_at": "not a date", "max_tokens": True})

    assert columns["created_at"] is None
    assert columns["max_tokens"] is None  # a bool is no token count
    assert columns["capabilities"] is None
    assert all(columns[f"supports_{name}"] is None for name in CAPABILITY_FLAGS)


def test_created_at_offsets_are_kept_as_instants() -> None:
    assert model_columns({"created_at": "2025-02-24T09:30:00-08:00"})["created_at"] == datetime(
        2025, 2, 24, 17, 30, tzinfo=UTC
    )
    assert model_columns({"created_at": "2025-02-24T17:30:00"})["created_at"] == datetime(
        2025, 2, 24, 17, 30, tzinfo=UTC
    )


def test_the_id_is_the_items_id_and_a_model_without_one_has_none() -> None:
    assert CATALOG.identify(SONNET_45) == "claude-sonnet-4-5-20250929"
    assert CATALOG.identify({"type": "model", "display_name": "Claude ?"}) is None
    assert CATALOG.identify({"id": ""}) is None


# --- the version header and the pages -------------------------------------------------------------------------------


def test_every_request_carries_the_version_header_the_api_requires(sim: Simulator) -> None:
    batch, _ = simulated_fetch(SPEC, sim)
    assert len(batch.tables["models"]) == len(FIXTURE)
    assert {request.headers.get("anthropic-version") for request in sim.requests_to("anthropic")} == {API_VERSION}

    without = dataclasses.replace(SPEC, headers={})
    with pytest.raises(SourceError, match=r"answered HTTP 400: anthropic-version: header is required$"):
        simulated_fetch(without, sim)


def test_the_api_default_of_20_makes_three_pages_chained_by_after_id(sim: Simulator) -> None:
    _, request = simulated_fetch(SPEC, sim)

    queries = [logged.query for logged in sim.requests_to("anthropic")]
    assert request.stats.pages == request.stats.requests == 3 == -(-len(FIXTURE) // DEFAULT_LIMIT)
    assert queries == [
        {"limit": ["20"]},
        {"limit": ["20"], "after_id": [FIXTURE[19]["id"]]},
        {"limit": ["20"], "after_id": [FIXTURE[39]["id"]]},
    ]


def test_a_larger_page_size_needs_one_request(sim: Simulator) -> None:
    batch, request = simulated_fetch(SPEC, sim, page_size=1000)
    assert request.stats.requests == 1 and len(batch.tables["models"]) == len(FIXTURE)
    assert sim.requests_to("anthropic")[0].query == {"limit": ["1000"]}


def test_the_page_size_bounds_are_the_apis() -> None:
    assert CATALOG.endpoint.paginator.size == PageSize("limit", default=DEFAULT_LIMIT, maximum=MAX_LIMIT)


@given(st.integers(min_value=0, max_value=60), st.integers(min_value=1, max_value=25))
def test_following_after_id_visits_every_model_once_in_order(count: int, limit: int) -> None:
    models = [{"id": f"claude-{index:03d}"} for index in range(count)]
    paginator = AfterId(PageSize("limit", 20, 1000))
    request: PageRequest | None = paginator.first(CATALOG.endpoint, limit)
    seen: list[str] = []
    pages = 0
    while request is not None:
        params = request.params or {}
        body = page(models, limit, params.get("after_id"), None)
        listed = page_items(body, CATALOG.endpoint)
        seen.extend(item["id"] for item in listed)
        pages += 1
        response = httpx.Response(200, json=body, request=httpx.Request("GET", "https://api.anthropic.com/v1/models"))
        request = paginator.following(Page(body, response, request, len(listed), response.url), limit)

    assert seen == [model["id"] for model in models]
    assert pages == max(1, -(-count // limit))


def test_before_id_pages_backwards() -> None:
    models = [{"id": f"m{index}"} for index in range(5)]

    body = page(models, 2, None, "m4")

    assert [item["id"] for item in body["data"]] == ["m2", "m3"]
    assert (body["first_id"], body["last_id"], body["has_more"]) == ("m2", "m3", True)
    assert page(models, 2, None, "m1")["has_more"] is False


# --- the simulator's fixture and error shapes -----------------------------------------------------------------------


def test_the_fixture_is_newest_first_with_unique_ids_over_three_default_pages() -> None:
    ids = [model["id"] for model in FIXTURE]
    dated = [model["created_at"] for model in FIXTURE if not model["created_at"].startswith("1970")]

    assert len(FIXTURE) >= 45 and -(-len(FIXTURE) // 20) == 3
    assert len(set(ids)) == len(ids)
    assert dated == sorted(dated, reverse=True)
    assert {"claude-sonnet-4-5-20250929", "claude-3-5-haiku-20241022", "claude-3-haiku-20240307"} <= set(ids)
    assert all(model["type"] == "model" and model_columns(model)["created_at"] is not None for model in FIXTURE)


def test_the_fixture_ids_match_the_price_registry() -> None:
    from genai_prices.data import providers

    registry = {model.id for provider in providers if provider.id == "anthropic" for model in provider.models}

    assert len(registry & {model["id"] for model in FIXTURE}) >= 20


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, "invalid_request_error"),
        (401, "authentication_error"),
        (403, "permission_error"),
        (404, "not_found_error"),
        (429, "rate_limit_error"),
        (500, "api_error"),
        (503, "api_error"),
        (529, "overloaded_error"),
    ],
)
def test_simulated_errors_have_anthropics_shape(status: int, kind: str) -> None:
    response = AnthropicHandler("sk-ant-test-000000").error(status, "boom")

    assert error_type(status) == kind
    assert response.status == status
    assert response.body["type"] == "error"
    assert response.body["error"] == {"type": kind, "message": "boom"}
    assert response.body["request_id"].startswith("req_")


def test_the_simulated_429_advertises_its_delay_and_reset() -> None:
    response = AnthropicHandler("sk-ant-test-000000").rate_limited(2)

    assert response.headers["retry-after"] == "2"
    assert response.headers["anthropic-ratelimit-requests-remaining"] == "0"
    assert datetime.fromisoformat(response.headers["anthropic-ratelimit-requests-reset"]).tzinfo is not None


def request(path: str, headers: dict[str, str], **query: str) -> SimRequest:
    return SimRequest("GET", path, {k: [v] for k, v in query.items()}, headers, "http://sim/anthropic")


def test_the_simulator_checks_the_key_version_header_and_limit() -> None:
    key = sample_key("anthropic")
    handler = AnthropicHandler(key)
    good = {"x-api-key": key, "anthropic-version": API_VERSION}

    assert handler.authenticate(request("/v1/models", {"x-api-key": "nope"})) is not None
    assert handler.authenticate(request("/v1/models", good)) is None
    assert handler.route(request("/v1/models", {"x-api-key": key})).status == 400
    assert handler.route(request("/v1/models", good, limit="0")).status == 400
    assert handler.route(request("/v1/models", good, after_id="claude-nonexistent")).status == 400
    assert handler.route(request("/v1/models/claude-3-haiku-20240307", good)).body["id"] == "claude-3-haiku-20240307"
    assert handler.route(request("/v1/models/claude-nonexistent", good)).body["error"]["type"] == "not_found_error"
    listing = handler.route(request("/v1/models", good))
    assert len(listing.body["data"]) == 20 and listing.body["has_more"] is True
