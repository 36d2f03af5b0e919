"""Anthropic's catalog, pure parts: capability flattening, column extraction, cursor pagination and the fixture."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelatlas.errors import ConfigurationError, SourceError
from modelatlas.pipelines.anthropic import (
    CAPABILITY_FLAGS,
    anthropic_source,
    capability_flags,
    model_columns,
    model_id,
    next_cursor,
    page_items,
)
from modelatlas.pipelines.anthropic.client import check_page_size
from modelatlas.simulator.anthropic import AnthropicHandler, error_type, page
from modelatlas.simulator.core import SimRequest, load_fixture

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

# --- capability_flags ------------------------------------------------------------------------------------------


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


json_leaves = st.none() | st.booleans() | st.integers() | st.text(max_size=5)
json_trees = st.recursive(
    json_leaves,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


@given(json_trees)
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


# --- model_columns ---------------------------------------------------------------------------------------------


def test_model_columns_reads_limits_dates_and_flags() -> None:
    columns = model_columns(SONNET_45)

    assert columns == {
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


def test_model_columns_are_null_when_the_payload_does_not_say() -> None:
    columns = model_columns({"id": "claude-2.1", "type": "model", "created_at": "not a date", "max_tokens": True})

    assert columns["created_at"] is None
    assert columns["max_tokens"] is None  # a bool is no token count
    assert columns["capabilities"] is None
    assert all(columns[f"supports_{name}"] is None for name in CAPABILITY_FLAGS)


def test_created_at_offsets_are_kept_as_instants() -> None:
    columns = model_columns({"created_at": "2025-02-24T09:30:00-08:00"})
    naive = model_columns({"created_at": "2025-02-24T17:30:00"})

    assert columns["created_at"] == datetime(2025, 2, 24, 17, 30, tzinfo=UTC)
    assert naive["created_at"] == datetime(2025, 2, 24, 17, 30, tzinfo=UTC)


def test_a_model_without_an_id_is_a_source_error() -> None:
    assert model_id(SONNET_45) == "claude-sonnet-4-5-20250929"
    with pytest.raises(SourceError, match="without an `id`"):
        model_id({"type": "model", "display_name": "Claude ?"})


# --- pagination ------------------------------------------------------------------------------------------------


def test_next_cursor_follows_last_id_while_has_more() -> None:
    assert next_cursor({"data": [], "has_more": True, "last_id": "claude-b"}, set()) == "claude-b"
    assert next_cursor({"data": [], "has_more": False, "last_id": "claude-b"}, set()) is None
    assert next_cursor({"data": []}, set()) is None


def test_has_more_without_a_cursor_or_with_a_repeated_one_fails() -> None:
    with pytest.raises(SourceError, match="no `last_id`"):
        next_cursor({"has_more": True, "last_id": None}, set())
    with pytest.raises(SourceError, match="repeated the cursor"):
        next_cursor({"has_more": True, "last_id": "claude-b"}, {"claude-b"})


def test_a_page_without_a_data_list_is_a_source_error() -> None:
    assert page_items({"data": [{"id": "a"}, "junk"]}) == [{"id": "a"}]
    with pytest.raises(SourceError, match="no `data` list"):
        page_items({"type": "error"})
    with pytest.raises(SourceError):
        page_items([{"id": "a"}])


@pytest.mark.parametrize("size", [0, 1001, -5, True])
def test_page_sizes_outside_the_api_range_are_rejected(size: int) -> None:
    with pytest.raises(ConfigurationError, match="from 1 to 1000"):
        check_page_size(size)
    with pytest.raises(ConfigurationError):
        anthropic_source(api_key="sk-ant-test-000000", page_size=size)


@given(st.integers(min_value=0, max_value=60), st.integers(min_value=1, max_value=25))
def test_following_cursors_visits_every_model_once_in_order(count: int, limit: int) -> None:
    models = [{"id": f"claude-{index:03d}"} for index in range(count)]
    seen_ids: list[str] = []
    cursors: set[str] = set()
    after: str | None = None
    pages = 0
    while True:
        body = page(models, limit, after, None)
        pages += 1
        seen_ids.extend(item["id"] for item in page_items(body))
        after = next_cursor(body, cursors)
        if after is None:
            break
        cursors.add(after)

    assert seen_ids == [model["id"] for model in models]
    assert pages == max(1, -(-count // limit))


def test_before_id_pages_backwards() -> None:
    models = [{"id": f"m{index}"} for index in range(5)]

    body = page(models, 2, None, "m4")

    assert [item["id"] for item in body["data"]] == ["m2", "m3"]
    assert (body["first_id"], body["last_id"], body["has_more"]) == ("m2", "m3", True)
    assert page(models, 2, None, "m1")["has_more"] is False


# --- the simulator's fixture and error shapes ------------------------------------------------------------------


def test_the_fixture_is_newest_first_with_unique_ids_over_three_default_pages() -> None:
    models = load_fixture("anthropic")
    ids = [model["id"] for model in models]
    dated = [model["created_at"] for model in models if not model["created_at"].startswith("1970")]

    assert len(models) >= 45 and -(-len(models) // 20) == 3
    assert len(set(ids)) == len(ids)
    assert dated == sorted(dated, reverse=True)
    assert {"claude-sonnet-4-5-20250929", "claude-3-5-haiku-20241022", "claude-3-haiku-20240307"} <= set(ids)
    assert all(model["type"] == "model" and model_columns(model)["created_at"] is not None for model in models)


def test_the_fixture_ids_match_the_price_registry() -> None:
    from genai_prices.data import providers

    registry = {model.id for provider in providers if provider.id == "anthropic" for model in provider.models}
    ids = {model["id"] for model in load_fixture("anthropic")}

    assert len(registry & ids) >= 20


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
    reset = datetime.fromisoformat(response.headers["anthropic-ratelimit-requests-reset"])
    assert reset.tzinfo is not None


def request(path: str, headers: dict[str, str], **query: str) -> SimRequest:
    return SimRequest("GET", path, {k: [v] for k, v in query.items()}, headers, "http://sim/anthropic")


def test_the_simulator_checks_the_key_version_header_and_limit() -> None:
    handler = AnthropicHandler("sk-ant-test-000000")
    good = {"x-api-key": "sk-ant-test-000000", "anthropic-version": "2023-06-01"}

    assert handler.authenticate(request("/v1/models", {"x-api-key": "nope"})) is not None
    assert handler.authenticate(request("/v1/models", good)) is None
    assert handler.route(request("/v1/models", {"x-api-key": "sk-ant-test-000000"})).status == 400
    assert handler.route(request("/v1/models", good, limit="0")).status == 400
    assert handler.route(request("/v1/models", good, after_id="claude-nonexistent")).status == 400
    assert handler.route(request("/v1/models/claude-3-haiku-20240307", good)).body["id"] == "claude-3-haiku-20240307"
    assert handler.route(request("/v1/models/claude-nonexistent", good)).body["error"]["type"] == "not_found_error"
    listing = handler.route(request("/v1/models", good))
    assert len(listing.body["data"]) == 20 and listing.body["has_more"] is True
