"""Mistral's pure extraction: model card columns, capability flags, timestamps, and the simulator's shapes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelatlas.pipelines.mistral import (
    KNOWN_CAPABILITIES,
    MODEL_COLUMN_TYPES,
    capability_flags,
    model_columns,
    parse_timestamp,
)
from modelatlas.simulator.core import SimRequest, load_fixture
from modelatlas.simulator.mistral import MistralHandler

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

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3),
    max_leaves=10,
)


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


def test_the_column_hints_cover_exactly_the_extracted_columns() -> None:
    assert set(model_columns(BASE_CARD)) == set(MODEL_COLUMN_TYPES)


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


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-08-31T12:00:00Z", datetime(2026, 8, 31, 12, tzinfo=UTC)),
        ("2026-08-31T12:00:00+02:00", datetime(2026, 8, 31, 10, tzinfo=UTC)),
        ("2026-08-31T12:00:00", datetime(2026, 8, 31, 12, tzinfo=UTC)),
        ("2026-08-31", datetime(2026, 8, 31, tzinfo=UTC)),
        (1715684400, datetime(2024, 5, 14, 11, tzinfo=UTC)),
        (None, None),
        ("", None),
        ("next quarter", None),
        (True, None),
        (float("inf"), None),
        ({"date": "2026-08-31"}, None),
    ],
)
def test_parse_timestamp(value: Any, expected: datetime | None) -> None:
    assert parse_timestamp(value) == expected


@given(
    st.datetimes(
        min_value=datetime(1970, 1, 2), max_value=datetime(2100, 1, 1), timezones=st.just(timezone(timedelta(hours=-5)))
    )
)
def test_an_iso_timestamp_round_trips_to_the_same_instant_in_utc(moment: datetime) -> None:
    parsed = parse_timestamp(moment.isoformat())
    assert parsed == moment and parsed is not None and parsed.tzinfo == UTC


@given(st.dictionaries(st.text(max_size=25), json_values, max_size=12))
def test_capability_flags_never_fail_and_only_name_known_capabilities(capabilities: dict[str, Any]) -> None:
    flags = capability_flags(capabilities)
    assert list(flags) == [f"capability_{name}" for name in KNOWN_CAPABILITIES]
    for name in KNOWN_CAPABILITIES:
        value = capabilities.get(name)
        assert flags[f"capability_{name}"] == (value if isinstance(value, bool) else None)


@given(json_values)
def test_capability_flags_accept_any_json_value(capabilities: Any) -> None:
    flags = capability_flags(capabilities)
    assert set(flags.values()) <= {True, False, None}


def test_an_unknown_capability_is_kept_in_the_json_column_only() -> None:
    card = {**BASE_CARD, "capabilities": {**BASE_CARD["capabilities"], "connectors": True}}
    columns = model_columns(card)
    assert columns["capabilities"]["connectors"] is True
    assert "capability_connectors" not in columns


@given(st.dictionaries(st.text(max_size=25), json_values, max_size=20))
def test_model_columns_never_fail_on_arbitrary_cards(card: dict[str, Any]) -> None:
    assert set(model_columns({**card, "id": "any"})) == set(MODEL_COLUMN_TYPES)


def test_the_fixture_is_a_realistic_catalog() -> None:
    cards = load_fixture("mistral")
    ids = [card["id"] for card in cards]
    assert len(ids) >= 35 and len(ids) == len(set(ids))
    fine_tuned = [card for card in cards if card["type"] == "fine-tuned"]
    assert fine_tuned and all(card["id"].startswith("ft:") and card["job"] and card["root"] for card in fine_tuned)
    deprecated = [card for card in cards if card.get("deprecation")]
    assert len(deprecated) >= 3
    assert all(parse_timestamp(card["deprecation"]) is not None for card in deprecated)
    assert all(card["deprecation_replacement_model"] for card in deprecated)
    by_id = {card["id"]: card for card in cards}
    assert "mistral-large-latest" in by_id["mistral-large-2512"]["aliases"]


def request(headers: dict[str, str], path: str = "/v1/models") -> SimRequest:
    return SimRequest(method="GET", path=path, query={}, headers=headers, base_url="http://sim/mistral")


def test_the_simulator_answers_in_mistral_shapes() -> None:
    handler = MistralHandler("key-0123456789")
    denied = handler.authenticate(request({"Authorization": "Bearer wrong-key"}))
    assert denied is not None and denied.status == 401 and denied.body["message"] == "Unauthorized"
    assert handler.authenticate(request({"authorization": "Bearer key-0123456789"})) is None
    listing = handler.route(request({}))
    assert listing.body["object"] == "list" and len(listing.body["data"]) == len(load_fixture("mistral"))
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
