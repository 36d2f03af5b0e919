"""The normalised price model: exact conversions, LiteLLM key parsing, mappings, hashes (with hypothesis)."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal
from fractions import Fraction
from itertools import pairwise
from typing import Any

import pytest
from genai_prices.data_units import unit_data
from hypothesis import given
from hypothesis import strategies as st

from modelatlas.errors import SourceError
from modelatlas.pipelines.current import Changes, changes
from modelatlas.pipelines.genai_prices.normalize import price_rows
from modelatlas.pipelines.prices import (
    COMPONENTS,
    SERVICE_TIERS,
    UNITS,
    MappingStats,
    PricePoint,
    canonical_text,
    genai_price_points,
    litellm_price_points,
    openrouter_price_points,
    parse_litellm_price_key,
    per_mtok_to_per_token,
    per_token_to_per_mtok,
    per_unit_to_per_units,
    per_units_to_per_unit,
    price_hash,
    unique_points,
)
from modelatlas.pipelines.prices.genai import split_variant
from modelatlas.pipelines.prices.litellm import BASE_KEYS, SERVICE_TIER_SUFFIXES, split_model_key
from modelatlas.pipelines.prices.model import checked_price, parse_decimal

# Prices as sources write them: up to 20 significant digits, from 1e-20 to 1e6.
prices = st.builds(
    lambda digits, exponent: Decimal(digits).scaleb(exponent),
    st.integers(min_value=0, max_value=10**20 - 1),
    st.integers(min_value=-40, max_value=0),
)
thresholds = st.integers(min_value=1, max_value=2_000_000)
tier_suffixes = st.sampled_from(["", *SERVICE_TIER_SUFFIXES])


def _threshold_suffix(count: int) -> str:
    return f"_above_{count // 1000}k_tokens" if count % 1000 == 0 else f"_above_{count}_tokens"


# --- exact conversions ----------------------------------------------------------------------------------------------


@given(prices)
def test_per_token_and_per_mtok_round_trip_exactly(price: Decimal) -> None:
    per_mtok = per_token_to_per_mtok(price)
    assert Fraction(per_mtok) == Fraction(price) * 1_000_000
    assert per_mtok_to_per_token(per_mtok) == price
    assert per_token_to_per_mtok(per_mtok_to_per_token(price)) == price


@given(prices, st.sampled_from([1, 1000, 1_000_000, 1_000_000_000]))
def test_per_units_and_per_unit_round_trip_exactly(price: Decimal, units: int) -> None:
    per_unit = per_units_to_per_unit(price, units)
    assert Fraction(per_unit) * units == Fraction(price)
    assert per_unit_to_per_units(per_unit, units) == price


@given(prices, st.integers(min_value=0, max_value=6))
def test_canonical_text_is_one_spelling_per_value(price: Decimal, extra_zeros: int) -> None:
    padded = price.quantize(Decimal(1).scaleb(price.as_tuple().exponent - extra_zeros))  # type: ignore[operator]
    assert canonical_text(padded) == canonical_text(price)
    assert Decimal(canonical_text(price)) == price
    assert "E" not in canonical_text(price)


def test_per_token_values_written_either_way_are_the_same_price() -> None:
    assert per_token_to_per_mtok(parse_decimal("3e-06", "x")) == per_token_to_per_mtok(parse_decimal(0.000003, "x"))
    assert canonical_text(per_token_to_per_mtok(parse_decimal("1.25e-07", "x"))) == "0.125"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (Decimal("-0.1"), "is negative"),
        (Decimal("NaN"), "not finite"),
        (Decimal("Infinity"), "not finite"),
        (Decimal("1e21"), "too large"),
        (Decimal("1e-19"), "more than 18 decimals"),
    ],
)
def test_a_price_that_cannot_be_stored_exactly_is_a_clear_error(value: Decimal, message: str) -> None:
    with pytest.raises(SourceError, match=f"LiteLLM: gpt-x input_cost_per_token: .*{message}"):
        checked_price(value, "LiteLLM: gpt-x input_cost_per_token")


@pytest.mark.parametrize("value", [True, None, "cheap", [1], {"a": 1}])
def test_a_value_that_is_no_number_is_a_clear_error(value: Any) -> None:
    with pytest.raises(SourceError, match="is not a number"):
        parse_decimal(value, "OpenRouter: m pricing.prompt")


# --- LiteLLM keys ---------------------------------------------------------------------------------------------------


@given(st.sampled_from(sorted(BASE_KEYS)), tier_suffixes, st.one_of(st.none(), thresholds), st.booleans())
def test_every_key_of_the_grammar_parses_to_its_parts(
    base: str, tier_suffix: str, threshold: int | None, tier_first: bool
) -> None:
    above = _threshold_suffix(threshold) if threshold is not None else ""
    key = base + (tier_suffix + above if tier_first else above + tier_suffix)
    component, unit = BASE_KEYS[base]
    tier = SERVICE_TIER_SUFFIXES.get(tier_suffix, "standard")
    assert parse_litellm_price_key(key) == (component, tier, threshold, unit)


@given(st.text(max_size=80))
def test_parsing_never_crashes_and_returns_only_contract_values(key: str) -> None:
    parsed = parse_litellm_price_key(key)
    if parsed is not None:
        component, tier, above, unit = parsed
        assert component in COMPONENTS and tier in SERVICE_TIERS and unit in UNITS
        assert above is None or above > 0


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("cache_creation_input_token_cost_above_1hr", ("cache_write_1h", "standard", None, "mtok")),
        ("cache_creation_input_token_cost_above_1hr_above_200k_tokens", ("cache_write_1h", "standard", 200000, "mtok")),
        ("input_cost_per_token_flex_above_272k_tokens", ("input", "flex", 272000, "mtok")),
        ("output_cost_per_token_above_200k_tokens_priority", ("output", "priority", 200000, "mtok")),
        ("cache_read_input_token_cost_batches", ("cache_read", "batch", None, "mtok")),
        ("input_cost_per_image", ("input_image", "standard", None, "image")),
        ("search_context_cost_per_query", ("web_search", "standard", None, "search")),
        ("input_cost_per_request", ("request", "standard", None, "request")),
        ("input_cost_per_pixel", None),
        ("input_cost_per_token_fast", None),
        ("input_cost_per_video_per_second_above_15s_interval", None),
        ("input_cost_per_token_above_0k_tokens", None),
        ("_batches", None),
    ],
)
def test_real_keys_parse_as_documented(key: str, expected: tuple[Any, ...] | None) -> None:
    assert parse_litellm_price_key(key) == expected


@given(
    st.sampled_from(sorted(BASE_KEYS)),
    tier_suffixes,
    st.lists(thresholds, min_size=1, max_size=5, unique_by=lambda n: n // 1000 if n % 1000 == 0 else n),
)
def test_a_models_tiers_strictly_increase_and_sort_after_the_base_key(
    base: str, tier_suffix: str, counts: list[int]
) -> None:
    keys = [base + tier_suffix] + [base + _threshold_suffix(n) + tier_suffix for n in counts]
    by_series: dict[tuple[str, str], list[tuple[int | None, str]]] = defaultdict(list)
    for key in keys:
        parsed = parse_litellm_price_key(key)
        assert parsed is not None
        by_series[(parsed[0], parsed[1])].append((parsed[2], key))
    assert len(by_series) == 1
    (series,) = by_series.values()
    base_key = next(key for above, key in series if above is None)
    tiers = sorted((above, key) for above, key in series if above is not None)
    assert all(low[0] < high[0] for low, high in pairwise(tiers))
    # LiteLLM writes the service tier last (`..._above_200k_tokens_priority`): without it, a tier extends its base.
    bare_base = base_key.removesuffix(tier_suffix)
    assert all(key.removesuffix(tier_suffix) > bare_base and key.startswith(bare_base) for _, key in tiers)


values = st.one_of(
    prices.map(str),
    prices.map(lambda price: str(-price) if price else "-1"),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(min_value=-5, max_value=5),
    st.text(max_size=5),
    st.none(),
)


@given(st.dictionaries(st.sampled_from([*sorted(BASE_KEYS), "input_cost_per_pixel", "max_tokens"]), values))
def test_litellm_entries_never_emit_a_negative_price(entry: dict[str, Any]) -> None:
    entry = {**entry, "litellm_provider": "openai"}
    try:
        points = list(litellm_price_points("gpt-x", entry, MappingStats()))
    except SourceError as error:
        assert str(error).startswith("LiteLLM: gpt-x ")
        return
    assert all(point.price_usd >= 0 for point in points)
    assert len({point.natural_key() for point in points}) == len(points)


@given(st.dictionaries(st.sampled_from(["prompt", "completion", "image", "request", "web_search", "discount"]), values))
def test_openrouter_pricing_never_emits_a_negative_price(pricing: dict[str, Any]) -> None:
    try:
        points = list(openrouter_price_points({"id": "a/b", "pricing": pricing}, MappingStats()))
    except SourceError as error:
        assert str(error).startswith("OpenRouter: a/b pricing.")
        return
    assert all(point.price_usd >= 0 for point in points)
    assert all(point.price_usd > 0 or point.component in ("input", "output") for point in points)


@given(st.dictionaries(st.sampled_from(["input_mtok", "output_mtok", "requests_kcount", "audio_hours"]), values))
def test_genai_prices_never_emit_a_negative_price(model_prices: dict[str, Any]) -> None:
    model = {"id": "m", "prices": {key: value for key, value in model_prices.items() if value is not None}}
    try:
        points = list(genai_price_points(price_rows("p", model, unit_data), MappingStats()))
    except SourceError as error:
        assert str(error).startswith("genai-prices: ")
        return
    assert all(point.price_usd >= 0 for point in points)


# --- LiteLLM entries ------------------------------------------------------------------------------------------------


def test_a_litellm_entry_maps_tiers_service_tiers_search_sizes_and_counts_unknown_keys() -> None:
    stats = MappingStats()
    entry = {
        "litellm_provider": "vertex_ai-language-models",
        "input_cost_per_token": "1.25e-06",
        "input_cost_per_token_above_200k_tokens": "2.5e-06",
        "output_cost_per_token_batches": "5e-06",
        "search_context_cost_per_query": {"search_context_size_low": "0.035", "search_context_size_high": None},
        "input_cost_per_character": "3.125e-07",
        "max_input_tokens": 1048576,
        "output_cost_per_token_priority": None,
    }
    points = {(p.component, p.service_tier, p.condition): p for p in litellm_price_points("vertex_ai/g", entry, stats)}
    assert {key: (p.price_usd, p.original_value) for key, p in points.items()} == {
        ("input", "standard", "base"): (Decimal("1.25"), "1.25e-06"),
        ("input", "standard", "input > 200000 tokens"): (Decimal("2.5"), "2.5e-06"),
        ("output", "batch", "base"): (Decimal("5"), "5e-06"),
        ("web_search", "standard", "search context low"): (Decimal("0.035"), "0.035"),
    }
    tier = points[("input", "standard", "input > 200000 tokens")]
    assert (tier.above_input_tokens, tier.provider_model_id, tier.source_provider) == (
        200000,
        "g",
        "vertex_ai-language-models",
    )
    assert dict(stats.unknown_keys) == {"input_cost_per_character": 1}


def test_a_rerank_query_is_no_web_search() -> None:
    stats = MappingStats()
    entry = {"litellm_provider": "cohere", "mode": "rerank", "input_cost_per_query": 0.002}
    assert list(litellm_price_points("cohere/rerank-v3.5", entry, stats)) == []
    assert dict(stats.unknown_keys) == {"input_cost_per_query": 1}


def test_a_nested_value_for_a_plain_price_key_is_a_clear_error() -> None:
    with pytest.raises(SourceError, match="LiteLLM: m input_cost_per_token: expected a number, got a dict"):
        list(litellm_price_points("m", {"input_cost_per_token": {"a": 1}}, MappingStats()))


@pytest.mark.parametrize(
    ("key", "provider", "expected"),
    [
        ("gemini/gemini-2.5-pro", "gemini", ("gemini-2.5-pro", "global")),
        ("vertex_ai/claude-sonnet-4-5@1", "vertex_ai-anthropic_models", ("claude-sonnet-4-5@1", "global")),
        ("bedrock/us-gov-west-1/anthropic.claude-3-7", "bedrock", ("anthropic.claude-3-7", "us-gov-west-1")),
        ("bedrock/anthropic.claude-3-7", "bedrock", ("anthropic.claude-3-7", "global")),
        ("azure/eu/gpt-4o", "azure", ("gpt-4o", "eu")),
        ("openrouter/anthropic/claude-sonnet-4.5", "openrouter", ("anthropic/claude-sonnet-4.5", "global")),
        ("us.anthropic.claude-sonnet-4-5-v1:0", "bedrock_converse", ("us.anthropic.claude-sonnet-4-5-v1:0", "global")),
        ("1024-x-1024/dall-e-2", "openai", ("1024-x-1024/dall-e-2", "global")),
        ("together_ai/meta-llama/Llama-3.3-70B", "together_ai", ("meta-llama/Llama-3.3-70B", "global")),
    ],
)  # fmt: skip
def test_the_routing_prefix_and_a_named_region_leave_the_provider_model_id(
    key: str, provider: str, expected: tuple[str, str]
) -> None:
    assert split_model_key(key, provider) == expected


# --- genai-prices and OpenRouter ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variant", "expected"),
    [
        (None, ("standard", [])),
        ("processing=batch", ("batch", [])),
        ("service_tier=flex", ("flex", [])),
        ("service_tier=priority", ("priority", [])),
        ("service_tier=default", ("standard", [])),
        ("service_tier=fast", ("standard", ["service_tier=fast"])),
        ("route=mistral/eu", ("standard", ["route=mistral/eu"])),
    ],
)
def test_genai_variants_naming_a_service_tier_become_the_service_tier(
    variant: str | None, expected: tuple[str, list[str]]
) -> None:
    assert split_variant(variant) == expected


def test_genai_prices_keep_dates_windows_tiers_and_per_unit_prices() -> None:
    model = {
        "id": "m",
        "prices": [
            {"prices": {"input_mtok": {"base": "1", "tiers": [{"start": 128000, "price": "2"}]}}},
            {"constraint": {"start_date": "2026-05-01"}, "prices": {"input_mtok": "0.5", "requests_kcount": "3"}},
        ],
        "price_variants": [
            {"when": {"processing": "batch"}, "prices": {"output_mtok": "4"}},
            {"when": {"speed": "fast"}, "constraint": {"start_time": "00:30:00Z", "end_time": "08:30:00Z"},
             "prices": {"output_mtok": "9"}},
        ],
    }  # fmt: skip
    stats = MappingStats()
    points = list(genai_price_points(price_rows("acme", model, unit_data), stats))
    summary = {
        (p.component, p.service_tier, p.condition, p.effective_from, p.effective_until, p.price_usd, p.unit)
        for p in points
    }
    assert summary == {
        ("input", "standard", "base", None, date(2026, 5, 1), Decimal("1"), "mtok"),
        ("input", "standard", "input > 128000 tokens", None, date(2026, 5, 1), Decimal("2"), "mtok"),
        ("input", "standard", "base", date(2026, 5, 1), None, Decimal("0.5"), "mtok"),
        ("request", "standard", "base", date(2026, 5, 1), None, Decimal("0.003"), "request"),
        ("output", "batch", "base", None, None, Decimal("4"), "mtok"),
        ("output", "standard", "speed=fast; 00:30-08:30 UTC", None, None, Decimal("9"), "mtok"),
    }
    windowed = next(p for p in points if p.window_start_utc)
    assert (windowed.window_start_utc, windowed.window_end_utc) == ("00:30", "08:30")
    assert stats.conflicts == 0


def test_openrouter_varies_and_unknown_keys_are_counted_not_loaded() -> None:
    stats = MappingStats()
    item = {"id": "x/y", "pricing": {"prompt": "-1", "completion": "0.000002", "discount": "0", "request": "0"}}
    points = list(openrouter_price_points(item, stats))
    assert [(p.component, p.price_usd, p.original_value) for p in points] == [("output", Decimal("2"), "0.000002")]
    assert (dict(stats.not_a_price), dict(stats.unknown_keys)) == ({"prompt": 1}, {"discount": 1})
    assert list(openrouter_price_points({"id": "x/y"}, stats)) == []


# --- hashes, uniqueness, changes -------------------------------------------------------------------------------------


def _point(price: str, **changes: Any) -> PricePoint:
    fields: dict[str, Any] = {
        "source": "litellm",
        "source_provider": "openai",
        "source_model_key": "gpt-4o",
        "provider_model_id": "gpt-4o",
        "component": "input",
        "price_usd": Decimal(price),
        "unit": "mtok",
        "original_value": price,
        "original_unit": "USD/token",
    }
    return PricePoint(**(fields | changes))


def test_the_hash_is_the_natural_key_and_price_not_the_notation() -> None:
    assert price_hash(_point("2.5")) == price_hash(_point("2.50", original_value="2.5e-06"))
    assert price_hash(_point("2.5")) != price_hash(_point("2.6"))
    assert price_hash(_point("2.5")) != price_hash(_point("2.5", service_tier="batch"))
    assert price_hash(_point("2.5")) != price_hash(_point("2.5", effective_until=date(2026, 1, 1)))
    assert len(price_hash(_point("1"))) == 64
    row = _point("2.50").row()
    assert row["price_usd"] == Decimal("2.5") and row["price_hash"] == price_hash(_point("2.5"))


def test_duplicates_collapse_and_conflicting_prices_are_both_left_out() -> None:
    stats = MappingStats()
    points = [_point("1"), _point("1.0"), _point("2", component="output"), _point("3", component="output")]
    assert [p.component for p in unique_points(points, stats)] == ["input"]
    assert stats.conflicts == 2
    stats.log_summary("LiteLLM")


def test_changes_are_listed_by_natural_key() -> None:
    previous = {("a", "input"): "1", ("b", "input"): "2", ("c", None): "3"}
    current = {("a", "input"): "1", ("b", "input"): "9", ("d", "output"): "4"}
    assert changes(previous, current) == Changes(added=["d/output"], removed=["c/"], changed=["b/input"])
    assert changes(current, current) == Changes(added=[], removed=[], changed=[])
