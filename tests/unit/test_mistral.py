"""Mistral's quirks: `created` stamped with the request time (volatile, outside the content hash), capability
columns, base and fine-tuned cards, and its two error shapes, against the simulator."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelatlas.errors import RateLimitedError, SourceError
from modelatlas.pipelines.catalog import catalog_row, content_hash
from modelatlas.pipelines.mistral import (
    CATALOG,
    COLUMN_TYPES,
    KNOWN_CAPABILITIES,
    SPEC,
    capability_flags,
    model_columns,
)
from modelatlas.simulator import Fault, Simulator, build_simulator
from modelatlas.simulator.core import SimRequest, load_fixture
from modelatlas.simulator.mistral import MistralHandler
from tests.unit.simulated import FAST, simulated_fetch

FIXTURE: list[dict[str, Any]] = load_fixture("mistral")
FETCHED_AT = datetime(2026, 1, 1, tzinfo=UTC)
BASE_CARD: dict[str, Any] = {
    "id": "mistral-large-2411",
    "object": "model",
    "created": 1766520693,
    "owned_by": "mistralai",
    "capabilities": {"completion_chat": True, "function_calling": True, "vision": False, "reasoning": False},
    "name": "mistral-large-2411",
    "description": "Our top-tier large model.",
    "max_context_length": 131072,
    "aliases": ["mistral-large-latest"],
    "deprecation": "2026-05-31T12:00:00Z",
    "deprecation_replacement_model": "mistral-large-2512",
    "default_model_temperature": 0.7,
    "type": "base",
}
FT_CARD: dict[str, Any] = {
    "id": "ft:open-mistral-7b:587a6b29:20240514:7e773925",
    "object": "model",
    "created": 1715684400,
    "owned_by": "587a6b29-org",
    "capabilities": {"completion_chat": True, "fine_tuning": False},
    "max_context_length": 32768,
    "aliases": [],
    "deprecation": None,
    "type": "fine-tuned",
    "job": "c1d2e3f4-job",
    "root": "open-mistral-7b",
    "archived": True,
}
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3),
    max_leaves=10,
)


# --- the volatile `created` -----------------------------------------------------------------------------------------


@given(st.integers(min_value=0, max_value=4_000_000_000))
def test_created_does_not_change_the_content_hash(created: int) -> None:
    assert CATALOG.volatile == ("created",)
    again = {**BASE_CARD, "created": created}
    first = catalog_row(BASE_CARD, CATALOG, batch="b1", fetched_at=FETCHED_AT, region="eu")
    second = catalog_row(again, CATALOG, batch="b2", fetched_at=FETCHED_AT, region="eu")
    assert first["content_hash"] == second["content_hash"]
    # The column still says what the card said; only the hash leaves it out.
    assert second["created_at"] == datetime.fromtimestamp(created, UTC)


def test_any_other_change_to_a_card_changes_the_content_hash() -> None:
    stable = content_hash(BASE_CARD, CATALOG.volatile)
    assert content_hash({**BASE_CARD, "description": "Renamed."}, CATALOG.volatile) != stable
    assert content_hash({**BASE_CARD, "capabilities": {"vision": True}}, CATALOG.volatile) != stable
    assert content_hash(dict(reversed(list(BASE_CARD.items()))), CATALOG.volatile) == stable  # key order is no content


# --- columns --------------------------------------------------------------------------------------------------------


def test_a_base_card_gives_every_typed_column() -> None:
    columns = model_columns(BASE_CARD)
    assert columns["created_at"] == datetime(2025, 12, 23, 20, 11, 33, tzinfo=UTC)
    assert columns["deprecation"] == datetime(2026, 5, 31, 12, tzinfo=UTC)
    assert columns["aliases"] == ["mistral-large-latest"]
    assert columns["capabilities"] == BASE_CARD["capabilities"]
    assert columns["max_context_length"] == 131072
    assert columns["default_model_temperature"] == 0.7
    assert columns["deprecation_replacement_model"] == "mistral-large-2512"
    assert (columns["type"], columns["job"], columns["root"], columns["archived"]) == ("base", None, None, None)
    assert columns["capability_function_calling"] is True
    assert columns["capability_vision"] is False
    assert columns["capability_ocr"] is None
    assert set(columns) == set(COLUMN_TYPES)


def test_a_fine_tuned_card_keeps_job_root_and_archived() -> None:
    columns = model_columns(FT_CARD)
    assert (columns["type"], columns["job"], columns["root"], columns["archived"]) == (
        "fine-tuned",
        "c1d2e3f4-job",
        "open-mistral-7b",
        True,
    )
    assert columns["owned_by"] == "587a6b29-org"
    assert columns["name"] is None and columns["deprecation"] is None
    assert columns["deprecation_replacement_model"] is None and columns["default_model_temperature"] is None


def test_the_fixtures_deprecated_and_fine_tuned_cards() -> None:
    by_id = {card["id"]: model_columns(card) for card in FIXTURE}
    large = by_id["mistral-large-2411"]
    assert (large["aliases"], large["deprecation_replacement_model"], large["max_context_length"]) == (
        [],
        "mistral-large-2512",
        131072,
    )
    assert (large["capability_function_calling"], large["capability_vision"]) == (True, False)
    assert large["deprecation"] == datetime(2026, 5, 31, 12, tzinfo=UTC)
    assert by_id["mistral-large-2512"]["aliases"] == ["mistral-large-latest"]
    tuned = by_id["ft:open-mistral-7b:587a6b29:20240514:7e773925"]
    assert (tuned["type"], tuned["job"], tuned["root"], tuned["archived"], tuned["owned_by"]) == (
        "fine-tuned",
        "c1d2e3f4-5a6b-4c7d-8e9f-0a1b2c3d4e5f",
        "open-mistral-7b",
        True,
        "587a6b29-3c3f-4c84-9a1e-2d0a4f1b6e55",
    )


def test_wrong_types_become_null_instead_of_failing() -> None:
    columns = model_columns(
        {
            "id": "x",
            "created": "yesterday",
            "max_context_length": True,
            "aliases": "mistral-large-latest",
            "capabilities": ["vision"],
            "deprecation": "soon",
            "default_model_temperature": "0.3",
            "archived": "no",
        }
    )
    assert columns["created_at"] is None
    assert columns["max_context_length"] is None
    assert columns["aliases"] is None
    assert columns["capabilities"] is None
    assert columns["deprecation"] is None
    assert columns["default_model_temperature"] is None
    assert columns["archived"] is None
    assert all(columns[f"capability_{name}"] is None for name in KNOWN_CAPABILITIES)


@given(st.dictionaries(st.text(max_size=25), JSON_VALUES, max_size=12))
def test_capability_flags_never_fail_and_only_name_known_capabilities(capabilities: dict[str, Any]) -> None:
    flags = capability_flags(capabilities)
    assert list(flags) == [f"capability_{name}" for name in KNOWN_CAPABILITIES]
    for name in KNOWN_CAPABILITIES:
        value = capabilities.get(name)
        assert flags[f"capability_{name}"] == (value if isinstance(value, bool) else None)


@given(JSON_VALUES)
def test_capability_flags_accept_any_json_value(capabilities: Any) -> None:
    assert set(capability_flags(capabilities).values()) <= {True, False, None}


def test_an_unknown_capability_is_kept_in_the_json_column_only() -> None:
    columns = model_columns({**BASE_CARD, "capabilities": {**BASE_CARD["capabilities"], "connectors": True}})
    assert columns["capabilities"]["connectors"] is True
    assert "capability_connectors" not in columns


@given(st.dictionaries(st.text(max_size=25), JSON_VALUES, max_size=20))
def test_model_columns_never_fail_on_arbitrary_cards(card: dict[str, Any]) -> None:
    assert set(model_columns({**card, "id": "any"})) == set(COLUMN_TYPES)


def test_the_fixture_is_a_realistic_catalog() -> None:
    ids = [card["id"] for card in FIXTURE]
    assert len(ids) >= 35 and len(ids) == len(set(ids))
    fine_tuned = [card for card in FIXTURE if card["type"] == "fine-tuned"]
    assert fine_tuned and all(card["id"].startswith("ft:") and card["job"] and card["root"] for card in fine_tuned)
    deprecated = [card for card in FIXTURE if card.get("deprecation")]
    assert len(deprecated) >= 3
    assert all(model_columns(card)["deprecation"] is not None for card in deprecated)
    assert all(card["deprecation_replacement_model"] for card in deprecated)


# --- the two error shapes -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def simulator() -> Iterator[Simulator]:
    with build_simulator([SPEC]) as server:
        yield server


def test_a_429_that_never_ends_reads_the_newer_error_shape(simulator: Simulator) -> None:
    simulator.clear()
    simulator.inject("mistral", Fault("rate_limit", count=10, retry_after_s=0.01))
    with pytest.raises(RateLimitedError) as raised:
        simulated_fetch(SPEC, simulator)
    assert (
        str(raised.value) == f"Mistral: rate limited (429) after {FAST.attempts} attempts: Requests rate limit exceeded"
    )


def test_a_5xx_that_never_ends_reads_the_older_error_shape(simulator: Simulator) -> None:
    simulator.clear()
    simulator.inject("mistral", Fault("server_error", count=10, status=503))
    with pytest.raises(SourceError) as raised:
        simulated_fetch(SPEC, simulator)
    assert str(raised.value) == (
        f"Mistral: {simulator.root_url('mistral')}/v1/models answered HTTP 503 after {FAST.attempts} attempts: "
        "The server had an error while processing your request"
    )


def request(headers: dict[str, str], path: str = "/v1/models") -> SimRequest:
    return SimRequest(method="GET", path=path, query={}, headers=headers, base_url="http://sim/mistral")


def test_the_simulator_answers_in_mistral_shapes() -> None:
    handler = MistralHandler("key-0123456789")
    denied = handler.authenticate(request({"Authorization": "Bearer wrong-key"}))
    assert denied is not None and denied.status == 401 and denied.body["message"] == "Unauthorized"
    assert handler.authenticate(request({"authorization": "Bearer key-0123456789"})) is None
    listing = handler.route(request({}))
    assert listing.body["object"] == "list" and len(listing.body["data"]) == len(FIXTURE)
    assert listing.headers["x-ratelimit-limit-req-minute"] and listing.headers["x-ratelimit-limit-tokens-minute"]
    limited = handler.rate_limited(1.5)
    assert limited.status == 429 and limited.headers["retry-after"] == "1.5"
    assert limited.body == {
        "object": "error",
        "message": "Requests rate limit exceeded",
        "type": "rate_limited",
        "param": None,
        "code": "1300",
    }
    assert handler.error(503, "Service unavailable").body == {"message": "Service unavailable"}
    assert handler.route(request({}, "/v1/nope")).status == 404
    assert json.loads(limited.encoded())["type"] == "rate_limited"
