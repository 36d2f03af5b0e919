"""Flattening the genai-prices registry (published JSON shape) into provider, model and price rows."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from genai_prices.data_units import unit_data

from modelatlas.errors import SourceError
from modelatlas.pipelines.genai_prices.normalize import (
    PriceCondition,
    PriceUnit,
    check_registry_shape,
    model_row,
    price_rows,
    price_sets,
    price_unit,
    provider_row,
    to_decimal,
)


def rows_of(model: dict[str, Any], provider_id: str = "acme") -> list[dict[str, Any]]:
    return list(price_rows(provider_id, model, unit_data))


def conditions_of(model: dict[str, Any]) -> list[PriceCondition]:
    return [price_set.condition for price_set in price_sets(model)]


def untils_of(model: dict[str, Any]) -> list[dict[str, date | None]]:
    return [dict(price_set.until_by_key) for price_set in price_sets(model)]


def spans_of(model: dict[str, Any]) -> list[tuple[str | None, str, date | None, date | None]]:
    """(variant, component, effective_from, effective_until) of each price row."""
    return [(r["variant"], r["component"], r["effective_from"], r["effective_until"]) for r in rows_of(model)]


# --- price_unit ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("price_key", "expected"),
    [
        ("input_mtok", PriceUnit("input", "tokens", 1_000_000)),
        ("output_mtok", PriceUnit("output", "tokens", 1_000_000)),
        ("cache_write_1h_mtok", PriceUnit("cache_write_1h", "tokens", 1_000_000)),
        ("web_searches_kcount", PriceUnit("web_searches", "tool_calls", 1_000)),
        ("requests_kcount", PriceUnit("requests", "requests", 1_000)),
        ("audio_hours", PriceUnit("audio_seconds", "durations", 3_600)),
        ("input_mchars", PriceUnit("input_characters", "characters", 1_000_000)),
        ("input_document_kpages", PriceUnit("input_document_pages", "document_pages", 1_000)),
        ("input_gpixels", PriceUnit("input_pixels", "pixels", 1_000_000_000)),
    ],
)
def test_price_unit_reads_the_registry_unit_table(price_key: str, expected: PriceUnit) -> None:
    assert price_unit(price_key, unit_data) == expected


def test_price_unit_prefers_the_unit_table_over_the_key_suffix() -> None:
    table = {"widget_units": {"price_key": "widget_mtok", "per": 250, "dimensions": {"family": "widgets"}}}

    assert price_unit("widget_mtok", table) == PriceUnit("widget_units", "widgets", 250)


def test_price_unit_from_the_table_defaults_to_the_tokens_family() -> None:
    table = {"thinking_tokens": {"price_key": "thinking_mtok", "per": "1000000"}}

    assert price_unit("thinking_mtok", table) == PriceUnit("thinking", "tokens", 1_000_000)


@pytest.mark.parametrize(
    ("price_key", "expected"),
    [
        ("reasoning_mtok", PriceUnit("reasoning", "tokens", 1_000_000)),
        ("image_edits_kcount", PriceUnit("image_edits", "requests", 1_000)),
        ("output_mchars", PriceUnit("output_mchars", "characters", 1_000_000)),
        ("scanned_kpages", PriceUnit("scanned_kpages", "document_pages", 1_000)),
        ("video_hours", PriceUnit("video_hours", "durations", 3_600)),
        ("output_gpixels", PriceUnit("output_gpixels", "pixels", 1_000_000_000)),
    ],
)
def test_price_unit_falls_back_to_the_key_suffix_for_keys_the_table_lacks(price_key: str, expected: PriceUnit) -> None:
    assert price_key not in {unit["price_key"] for unit in unit_data.values()}
    assert price_unit(price_key, unit_data) == expected


@pytest.mark.parametrize("price_key", ["input_per_token", "mtok", "_mtok", "", "input", "input_mtoks"])
def test_price_unit_rejects_unknown_keys_with_advice(price_key: str) -> None:
    with pytest.raises(SourceError, match="unknown price key") as raised:
        price_unit(price_key, unit_data)

    assert repr(price_key) in str(raised.value)
    assert "update the genai-prices package" in str(raised.value)


# --- PriceUnit.label ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("unit", "label"),
    [
        (PriceUnit("input", "tokens", 1_000_000), "1M tokens"),
        (PriceUnit("input", "tokens", 1_000), "1K tokens"),
        (PriceUnit("input", "tokens", 2_000_000), "2M tokens"),
        (PriceUnit("input", "tokens", 1_500), "1500 tokens"),
        (PriceUnit("web_searches", "tool_calls", 1_000), "1K web searches"),
        (PriceUnit("requests", "requests", 1_000), "1K requests"),
        (PriceUnit("input_text_messages", "messages", 1_000), "1K input text messages"),
        (PriceUnit("audio_seconds", "durations", 3_600), "1 hour"),
        (PriceUnit("audio_seconds", "durations", 60), "60 audio seconds"),
        (PriceUnit("input_characters", "characters", 1_000_000), "1M characters"),
        (PriceUnit("input_document_pages", "document_pages", 1_000), "1K pages"),
        (PriceUnit("input_pixels", "pixels", 1_000_000_000), "1G pixels"),
    ],
)
def test_price_unit_label_is_readable(unit: PriceUnit, label: str) -> None:
    assert unit.label == label


def test_labels_of_the_real_unit_table() -> None:
    labels = {unit["price_key"]: price_unit(unit["price_key"], unit_data).label for unit in unit_data.values()}

    assert labels["input_mtok"] == "1M tokens"
    assert labels["web_searches_kcount"] == "1K web searches"
    assert labels["audio_hours"] == "1 hour"
    assert all(label and label[0].isdigit() for label in labels.values())


# --- PriceCondition.key -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("condition", "key"),
    [
        (PriceCondition(), "base"),
        (PriceCondition(variant="processing=batch"), "processing=batch"),
        (PriceCondition(effective_from=date(2025, 3, 13)), "from 2025-03-13"),
        (PriceCondition(window_start="00:30", window_end="16:30"), "00:30-16:30 UTC"),
        (PriceCondition(above_input_tokens=200_000), "input > 200000 tokens"),
        (PriceCondition(above_input_tokens=0), "input > 0 tokens"),
        (
            PriceCondition(variant="service_tier=flex", effective_from=date(2026, 1, 5), above_input_tokens=272_000),
            "service_tier=flex; from 2026-01-05; input > 272000 tokens",
        ),
        (
            PriceCondition(
                effective_from=date(2026, 1, 5),
                window_start="01:00",
                window_end="04:00",
                variant="processing=batch",
                above_input_tokens=128_000,
            ),
            "processing=batch; from 2026-01-05; 01:00-04:00 UTC; input > 128000 tokens",
        ),
    ],
)
def test_condition_key(condition: PriceCondition, key: str) -> None:
    assert condition.key() == key


def test_condition_key_ignores_the_end_of_a_dated_price() -> None:
    # The key is the merge key: a price whose chain gets closed by a newer price must keep its identity.
    assert PriceCondition(effective_until=date(2026, 1, 1)).key() == "base"
    open_ended = PriceCondition(effective_from=date(2025, 1, 1))
    closed = PriceCondition(effective_from=date(2025, 1, 1), effective_until=date(2026, 1, 1))
    assert open_ended.key() == closed.key() == "from 2025-01-01"


def test_condition_key_needs_both_ends_of_a_window() -> None:
    assert PriceCondition(window_start="00:30").key() == "base"
    assert PriceCondition(window_end="16:30").key() == "base"


# --- price_sets ---------------------------------------------------------------------------------------------------


def test_flat_prices_are_one_unconditional_set() -> None:
    prices = {"input_mtok": "1", "output_mtok": "2"}

    (only,) = price_sets({"id": "m", "prices": prices})

    assert only.prices == prices
    assert only.condition == PriceCondition()
    assert only.until_by_key == {"input_mtok": None, "output_mtok": None}


def test_dated_prices_form_a_chain_closed_by_the_next_start() -> None:
    model = {
        "id": "m",
        "prices": [
            {"prices": {"input_mtok": "3"}},
            {"constraint": {"start_date": "2025-06-01"}, "prices": {"input_mtok": "2"}},
            {"constraint": {"start_date": "2026-01-01"}, "prices": {"input_mtok": "1"}},
        ],
    }

    sets = price_sets(model)

    assert [(s.condition.effective_from, s.until_by_key) for s in sets] == [
        (None, {"input_mtok": date(2025, 6, 1)}),
        (date(2025, 6, 1), {"input_mtok": date(2026, 1, 1)}),
        (date(2026, 1, 1), {"input_mtok": None}),
    ]
    # The end of a price is per key: price_sets leaves the condition's own end unset, price_rows fills it in.
    assert [s.condition.effective_until for s in sets] == [None, None, None]
    assert spans_of(model) == [
        (None, "input", None, date(2025, 6, 1)),
        (None, "input", date(2025, 6, 1), date(2026, 1, 1)),
        (None, "input", date(2026, 1, 1), None),
    ]
    assert [s.prices["input_mtok"] for s in sets] == ["3", "2", "1"]


def test_a_dated_chain_given_newest_first_is_closed_the_same_way() -> None:
    model = {
        "id": "m",
        "prices": {"input_mtok": "3"},
        "price_variants": [
            {"when": {"processing": "batch"}, "constraint": {"start_date": "2027-01-01"}, "prices": {"input_mtok": 1}},
            {"when": {"processing": "batch"}, "constraint": {"start_date": "2026-10-15"}, "prices": {"input_mtok": 2}},
        ],
    }

    batch = [s for s in price_sets(model) if s.condition.variant]

    assert [(s.condition.effective_from, s.until_by_key) for s in batch] == [
        (date(2027, 1, 1), {"input_mtok": None}),
        (date(2026, 10, 15), {"input_mtok": date(2027, 1, 1)}),
    ]
    assert [s.condition.effective_until for s in batch] == [None, None]
    assert spans_of(model)[1:] == [
        ("processing=batch", "input", date(2027, 1, 1), None),
        ("processing=batch", "input", date(2026, 10, 15), date(2027, 1, 1)),
    ]


def test_variants_keep_their_own_chains() -> None:
    model = {
        "id": "m",
        "prices": [
            {"prices": {"input_mtok": "3"}},
            {"constraint": {"start_date": "2025-06-01"}, "prices": {"input_mtok": "2"}},
        ],
        "price_variants": [
            {"when": {"processing": "batch"}, "prices": {"input_mtok": "1.5"}},
            {"when": {"service_tier": "flex"}, "prices": {"input_mtok": "1.6"}},
            {"when": {"service_tier": "flex"}, "constraint": {"start_date": "2025-09-01"}, "prices": {"input_mtok": 1}},
        ],
    }

    summary = [(s.condition.variant, s.condition.effective_from, s.until_by_key) for s in price_sets(model)]

    assert summary == [
        (None, None, {"input_mtok": date(2025, 6, 1)}),
        (None, date(2025, 6, 1), {"input_mtok": None}),
        # The base chain's new price does not end the batch variant, which has no dated price of its own.
        ("processing=batch", None, {"input_mtok": None}),
        ("service_tier=flex", None, {"input_mtok": date(2025, 9, 1)}),
        ("service_tier=flex", date(2025, 9, 1), {"input_mtok": None}),
    ]
    assert all(c.effective_until is None for c in conditions_of(model))


def test_variant_label_joins_the_request_context_sorted_by_name() -> None:
    model = {
        "id": "m",
        "prices": {"input_mtok": 1},
        "price_variants": [{"when": {"service_tier": "flex", "processing": "batch"}, "prices": {"input_mtok": 0.5}}],
    }

    assert conditions_of(model)[1].variant == "processing=batch, service_tier=flex"


@pytest.mark.parametrize(
    ("start", "end"), [("00:30:00Z", "16:30:00Z"), ("00:30:00+00:00", "16:30:00+00:00"), ("00:30", "16:30")]
)
def test_time_of_day_windows(start: str, end: str) -> None:
    model = {
        "id": "deepseek-chat",
        "prices": [
            {"prices": {"input_mtok": "0.27"}},
            {"constraint": {"start_time": start, "end_time": end}, "prices": {"input_mtok": "0.135"}},
        ],
    }

    base, off_peak = conditions_of(model)

    assert base == PriceCondition()
    assert off_peak == PriceCondition(window_start="00:30", window_end="16:30")
    assert off_peak.key() == "00:30-16:30 UTC"
    assert untils_of(model) == [{"input_mtok": None}, {"input_mtok": None}]


def test_windows_neither_close_nor_join_the_dated_chain() -> None:
    model = {
        "id": "deepseek-v4-flash",
        "prices": [
            {"prices": {"input_mtok": "0.3"}},
            {"constraint": {"start_date": "2026-08-17"}, "prices": {"input_mtok": "0.2"}},
            {"constraint": {"start_time": "01:00:00Z", "end_time": "04:00:00Z"}, "prices": {"input_mtok": "0.1"}},
            {"constraint": {"start_time": "06:00:00Z", "end_time": "10:00:00Z"}, "prices": {"input_mtok": "0.1"}},
        ],
    }

    assert conditions_of(model) == [
        PriceCondition(),
        PriceCondition(effective_from=date(2026, 8, 17)),
        PriceCondition(window_start="01:00", window_end="04:00"),
        PriceCondition(window_start="06:00", window_end="10:00"),
    ]
    assert untils_of(model) == [
        {"input_mtok": date(2026, 8, 17)},
        {"input_mtok": None},
        {"input_mtok": None},
        {"input_mtok": None},
    ]
    assert [r["effective_until"] for r in rows_of(model)] == [date(2026, 8, 17), None, None, None]


def test_a_later_dated_variant_closes_only_the_keys_it_prices() -> None:
    model = {
        "id": "m",
        "prices": {"input_mtok": "2", "output_mtok": "8"},
        "price_variants": [
            {
                "when": {"processing": "batch"},
                "constraint": {"start_date": "2026-01-01"},
                "prices": {"input_mtok": "1", "output_mtok": "4"},
            },
            {
                "when": {"processing": "batch"},
                "constraint": {"start_date": "2026-06-01"},
                "prices": {"input_mtok": "0.5"},
            },
        ],
    }

    base, first, later = price_sets(model)

    assert base.until_by_key == {"input_mtok": None, "output_mtok": None}
    # The later batch price overrides input only; the earlier batch output price still applies after 2026-06-01.
    assert first.until_by_key == {"input_mtok": date(2026, 6, 1), "output_mtok": None}
    assert later.until_by_key == {"input_mtok": None}
    assert [s.condition.effective_until for s in (base, first, later)] == [None, None, None]
    assert spans_of(model) == [
        (None, "input", None, None),
        (None, "output", None, None),
        ("processing=batch", "input", date(2026, 1, 1), date(2026, 6, 1)),
        ("processing=batch", "output", date(2026, 1, 1), None),
        ("processing=batch", "input", date(2026, 6, 1), None),
    ]


def test_a_later_dated_variant_closes_the_undated_variant_only_where_it_prices() -> None:
    model = {
        "id": "m",
        "prices": {"input_mtok": "2"},
        "price_variants": [
            {"when": {"processing": "batch"}, "prices": {"input_mtok": "1", "output_mtok": "4"}},
            {"when": {"processing": "batch"}, "constraint": {"start_date": "2026-06-01"}, "prices": {"output_mtok": 3}},
        ],
    }

    assert untils_of(model) == [
        {"input_mtok": None},
        {"input_mtok": None, "output_mtok": date(2026, 6, 1)},
        {"output_mtok": None},
    ]


def test_a_variant_key_left_unpriced_does_not_close_the_earlier_price() -> None:
    model = {
        "id": "m",
        "prices": {"input_mtok": "2"},
        "price_variants": [
            {
                "when": {"processing": "batch"},
                "constraint": {"start_date": "2026-01-01"},
                "prices": {"input_mtok": "1", "output_mtok": "4"},
            },
            {
                "when": {"processing": "batch"},
                "constraint": {"start_date": "2026-06-01"},
                "prices": {"input_mtok": "0.5", "output_mtok": None},
            },
        ],
    }

    assert untils_of(model)[1:] == [
        {"input_mtok": date(2026, 6, 1), "output_mtok": None},
        {"input_mtok": None, "output_mtok": None},
    ]
    assert spans_of(model)[1:] == [
        ("processing=batch", "input", date(2026, 1, 1), date(2026, 6, 1)),
        ("processing=batch", "output", date(2026, 1, 1), None),
        ("processing=batch", "input", date(2026, 6, 1), None),
    ]


def test_a_dated_variant_does_not_close_another_variants_keys() -> None:
    model = {
        "id": "m",
        "prices": {"input_mtok": "2"},
        "price_variants": [
            {"when": {"processing": "batch"}, "constraint": {"start_date": "2026-01-01"}, "prices": {"input_mtok": 1}},
            {"when": {"service_tier": "flex"}, "constraint": {"start_date": "2026-06-01"}, "prices": {"input_mtok": 1}},
            {"when": {"service_tier": "flex"}, "constraint": {"start_date": "2026-09-01"}, "prices": {"input_mtok": 2}},
        ],
    }

    assert untils_of(model) == [
        {"input_mtok": None},
        {"input_mtok": None},
        {"input_mtok": date(2026, 9, 1)},
        {"input_mtok": None},
    ]


def test_a_later_dated_main_entry_closes_every_key_of_the_one_before() -> None:
    model = {
        "id": "m",
        "prices": [
            {"prices": {"input_mtok": "3", "output_mtok": "15", "cache_read_mtok": "0.3"}},
            {"constraint": {"start_date": "2026-01-01"}, "prices": {"input_mtok": "2", "output_mtok": "10"}},
            {"constraint": {"start_date": "2026-06-01"}, "prices": {"output_mtok": "9"}},
        ],
    }

    # A dated entry of the main list replaces the whole list: keys it omits end with it as well.
    assert untils_of(model) == [
        {"input_mtok": date(2026, 1, 1), "output_mtok": date(2026, 1, 1), "cache_read_mtok": date(2026, 1, 1)},
        {"input_mtok": date(2026, 6, 1), "output_mtok": date(2026, 6, 1)},
        {"output_mtok": None},
    ]
    assert spans_of(model) == [
        (None, "input", None, date(2026, 1, 1)),
        (None, "output", None, date(2026, 1, 1)),
        (None, "cache_read", None, date(2026, 1, 1)),
        (None, "input", date(2026, 1, 1), date(2026, 6, 1)),
        (None, "output", date(2026, 1, 1), date(2026, 6, 1)),
        (None, "output", date(2026, 6, 1), None),
    ]


def test_a_main_entry_that_prices_nothing_still_closes_the_one_before() -> None:
    model = {
        "id": "m",
        "prices": [
            {"prices": {"input_mtok": "3"}},
            {"constraint": {"start_date": "2026-01-01"}, "prices": {"input_mtok": None}},
        ],
    }

    assert untils_of(model) == [{"input_mtok": date(2026, 1, 1)}, {"input_mtok": None}]
    assert spans_of(model) == [(None, "input", None, date(2026, 1, 1))]


def test_a_windowed_variant_is_not_closed_by_a_later_dated_variant() -> None:
    model = {
        "id": "m",
        "prices": {"input_mtok": "2"},
        "price_variants": [
            {
                "when": {"processing": "batch"},
                "constraint": {"start_time": "01:00:00Z", "end_time": "04:00:00Z"},
                "prices": {"input_mtok": "0.5", "output_mtok": "2"},
            },
            {"when": {"processing": "batch"}, "constraint": {"start_date": "2026-06-01"}, "prices": {"input_mtok": 1}},
        ],
    }

    assert untils_of(model) == [{"input_mtok": None}, {"input_mtok": None, "output_mtok": None}, {"input_mtok": None}]


def test_unknown_constraint_is_an_error() -> None:
    model = {"id": "m", "prices": [{"constraint": {"weekday": "monday"}, "prices": {"input_mtok": 1}}]}

    with pytest.raises(SourceError, match=r"unknown price constraint \['weekday'\]"):
        price_sets(model)


def test_a_model_without_prices_has_no_price_rows() -> None:
    assert rows_of({"id": "m"}) == []
    assert rows_of({"id": "m", "prices": []}) == []
    assert rows_of({"id": "m", "prices": [{"constraint": {"start_date": "2025-01-01"}, "prices": None}]}) == []


# --- price_rows ---------------------------------------------------------------------------------------------------


def test_a_flat_price_becomes_one_complete_row() -> None:
    (row,) = rows_of({"id": "gpt-x", "prices": {"input_mtok": "2.5"}}, provider_id="openai")

    assert row == {
        "provider_id": "openai",
        "model_id": "gpt-x",
        "component": "input",
        "condition": "base",
        "price_key": "input_mtok",
        "unit": "1M tokens",
        "unit_family": "tokens",
        "units_per_price": 1_000_000,
        "price_usd": Decimal("2.5"),
        "price_usd_per_mtok": Decimal("2.5"),
        "effective_from": None,
        "effective_until": None,
        "window_start_utc": None,
        "window_end_utc": None,
        "variant": None,
        "above_input_tokens": None,
    }


def test_missing_price_values_are_skipped() -> None:
    rows = rows_of({"id": "m", "prices": {"input_mtok": "1", "output_mtok": None}})

    assert [row["price_key"] for row in rows] == ["input_mtok"]


def test_tiered_prices_give_a_base_row_and_one_row_per_tier() -> None:
    model = {
        "id": "gemini-pro",
        "prices": {
            "input_mtok": {
                "base": "1.25",
                "tiers": [{"start": 200_000, "price": "2.5"}, {"start": "1000000", "price": 5}],
            },
            "output_mtok": "10",
        },
    }

    rows = [(r["component"], r["above_input_tokens"], r["condition"], r["price_usd"]) for r in rows_of(model)]

    assert rows == [
        ("input", None, "base", Decimal("1.25")),
        ("input", 200_000, "input > 200000 tokens", Decimal("2.5")),
        ("input", 1_000_000, "input > 1000000 tokens", Decimal("5")),
        ("output", None, "base", Decimal("10")),
    ]


def test_tiered_prices_without_tiers_give_only_the_base_row() -> None:
    rows = rows_of({"id": "m", "prices": {"input_mtok": {"base": "1", "tiers": []}}})

    assert [(r["above_input_tokens"], r["price_usd"]) for r in rows] == [(None, Decimal("1"))]


def test_tiers_combine_with_the_price_condition() -> None:
    model = {
        "id": "m",
        "prices": {"input_mtok": "1"},
        "price_variants": [
            {
                "when": {"processing": "batch"},
                "constraint": {"start_date": "2026-10-14"},
                "prices": {"input_mtok": {"base": "0.5", "tiers": [{"start": 272_000, "price": "1"}]}},
            }
        ],
    }

    tier_row = rows_of(model)[-1]

    assert tier_row["condition"] == "processing=batch; from 2026-10-14; input > 272000 tokens"
    assert (tier_row["variant"], tier_row["effective_from"], tier_row["above_input_tokens"]) == (
        "processing=batch",
        date(2026, 10, 14),
        272_000,
    )


def test_every_tier_row_of_a_key_carries_that_keys_end() -> None:
    model = {
        "id": "m",
        "prices": [
            {"prices": {"input_mtok": {"base": "1", "tiers": [{"start": 200_000, "price": "2"}]}, "output_mtok": "5"}},
            {"constraint": {"start_date": "2026-03-13"}, "prices": {"input_mtok": "1", "output_mtok": "5"}},
        ],
        "price_variants": [
            {
                "when": {"processing": "batch"},
                "constraint": {"start_date": "2026-01-01"},
                "prices": {
                    "input_mtok": {"base": "0.5", "tiers": [{"start": 200_000, "price": "1"}]},
                    "output_mtok": 2,
                },
            },
            {
                "when": {"processing": "batch"},
                "constraint": {"start_date": "2026-06-01"},
                "prices": {"input_mtok": 0.4},
            },
        ],
    }

    ends = [(r["variant"], r["component"], r["above_input_tokens"], r["effective_until"]) for r in rows_of(model)]

    assert ends == [
        (None, "input", None, date(2026, 3, 13)),
        (None, "input", 200_000, date(2026, 3, 13)),
        (None, "output", None, date(2026, 3, 13)),
        (None, "input", None, None),
        (None, "output", None, None),
        ("processing=batch", "input", None, date(2026, 6, 1)),
        ("processing=batch", "input", 200_000, date(2026, 6, 1)),
        ("processing=batch", "output", None, None),
        ("processing=batch", "input", None, None),
    ]


def test_per_mtok_price_is_only_set_for_tokens_quoted_per_million() -> None:
    table = {
        **unit_data,
        "input_ktokens": {"price_key": "input_ktok", "per": 1_000, "dimensions": {"family": "tokens"}},
    }
    model = {"id": "m", "prices": {"input_mtok": "3", "web_searches_kcount": "10", "input_ktok": "0.003"}}

    per_mtok = {r["price_key"]: r["price_usd_per_mtok"] for r in price_rows("acme", model, table)}

    assert per_mtok == {"input_mtok": Decimal("3"), "web_searches_kcount": None, "input_ktok": None}


def test_non_token_rows_carry_their_unit() -> None:
    model = {"id": "m", "prices": {"web_searches_kcount": 10, "audio_hours": "0.36"}}

    units = [(r["component"], r["unit"], r["unit_family"], r["units_per_price"]) for r in rows_of(model)]

    assert units == [
        ("web_searches", "1K web searches", "tool_calls", 1_000),
        ("audio_seconds", "1 hour", "durations", 3_600),
    ]


def test_dated_and_windowed_rows_carry_their_condition_columns() -> None:
    model = {
        "id": "m",
        "prices": [
            {"prices": {"input_mtok": "3"}},
            {"constraint": {"start_date": "2025-06-01"}, "prices": {"input_mtok": "2"}},
            {"constraint": {"start_time": "00:30:00Z", "end_time": "16:30:00Z"}, "prices": {"input_mtok": "1"}},
        ],
    }

    columns = [
        (r["condition"], r["effective_from"], r["effective_until"], r["window_start_utc"], r["window_end_utc"])
        for r in rows_of(model)
    ]

    assert columns == [
        ("base", None, date(2025, 6, 1), None, None),
        ("from 2025-06-01", date(2025, 6, 1), None, None, None),
        ("00:30-16:30 UTC", None, None, "00:30", "16:30"),
    ]


def test_float_prices_become_the_decimal_they_read_as() -> None:
    (row,) = rows_of({"id": "m", "prices": {"input_mtok": 0.1}})

    assert row["price_usd"] == Decimal("0.1")
    assert row["price_usd"] != Decimal.from_float(0.1)  # the binary float: 0.1000000000000000055...
    assert isinstance(row["price_usd"], Decimal)


def test_a_price_that_is_not_a_number_names_the_model_and_key() -> None:
    with pytest.raises(SourceError, match=r"openai/gpt-x output_mtok has a price that is not a number: 'free'"):
        list(price_rows("openai", {"id": "gpt-x", "prices": {"output_mtok": "free"}}, unit_data))


def test_an_unknown_price_key_stops_the_model() -> None:
    with pytest.raises(SourceError, match="unknown price key 'input_per_token'"):
        rows_of({"id": "m", "prices": {"input_per_token": "1"}})


# --- to_decimal ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1.5", Decimal("1.5")),
        (2, Decimal("2")),
        (0.1, Decimal("0.1")),
        (1e-7, Decimal("1E-7")),
        ("0.000001", Decimal("0.000001")),
        (" 3 ", Decimal("3")),
    ],
)
def test_to_decimal(value: object, expected: Decimal) -> None:
    assert to_decimal(value, "p/m k") == expected


def test_to_decimal_keeps_the_written_precision() -> None:
    assert to_decimal(Decimal("3.00"), "p/m k").as_tuple() == Decimal("3.00").as_tuple()


@pytest.mark.parametrize("value", ["abc", "", None, [1], {"price": 1}, True, "1,5"])
def test_to_decimal_rejects_non_numbers(value: object) -> None:
    with pytest.raises(SourceError, match="not a number") as raised:
        to_decimal(value, "acme/m input_mtok")

    assert str(raised.value) == f"genai-prices: acme/m input_mtok has a price that is not a number: {value!r}"


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf"), "NaN", "Infinity", Decimal("sNaN")])
def test_to_decimal_rejects_non_finite_numbers(value: object) -> None:
    with pytest.raises(SourceError, match="acme/m input_mtok has a price that is not finite"):
        to_decimal(value, "acme/m input_mtok")


# --- provider_row and model_row -----------------------------------------------------------------------------------


def test_provider_row() -> None:
    provider = {
        "id": "anthropic",
        "name": "Anthropic",
        "api_pattern": r"https://api\.anthropic\.com",
        "description": "Claude models",
        "pricing_urls": ["https://www.anthropic.com/pricing#api"],
        "price_comments": "Batch is half price.",
        "model_match": {"or": [{"starts_with": "claude"}, {"contains": "anthropic"}]},
        "provider_match": {"equals": "anthropic"},
        "fallback_model_providers": ["aws"],
        "models": [{"id": "a"}, {"id": "b"}],
    }

    row = provider_row(provider)

    assert row == {
        "provider_id": "anthropic",
        "name": "Anthropic",
        "api_pattern": r"https://api\.anthropic\.com",
        "description": "Claude models",
        "pricing_urls": '["https://www.anthropic.com/pricing#api"]',
        "price_comments": "Batch is half price.",
        "model_match": '{"or": [{"starts_with": "claude"}, {"contains": "anthropic"}]}',
        "provider_match": '{"equals": "anthropic"}',
        "fallback_model_providers": '["aws"]',
        "model_count": 2,
    }
    for name in ("pricing_urls", "model_match", "provider_match", "fallback_model_providers"):
        assert json.loads(row[name]) == provider[name]


def test_provider_row_of_a_minimal_provider() -> None:
    row = provider_row({"id": 7, "models": []})

    assert row["provider_id"] == "7"
    assert row["model_count"] == 0
    assert {k for k, v in row.items() if v is not None} == {"provider_id", "model_count"}


def test_provider_row_json_is_stable_whatever_the_key_order() -> None:
    one = provider_row({"id": "p", "model_match": {"b": 1, "a": 2}})
    other = provider_row({"id": "p", "model_match": {"a": 2, "b": 1}})

    assert one["model_match"] == other["model_match"] == '{"a": 2, "b": 1}'


def test_model_row() -> None:
    model = {
        "id": "claude-sonnet-4-5",
        "match": {"starts_with": "claude-sonnet-4-5"},
        "name": "Claude Sonnet 4.5",
        "description": "Balanced model",
        "context_window": 200_000,
        "price_comments": "Long context costs more.",
        "deprecated": True,
        "prices": [{"prices": {"input_mtok": 3}}, {"constraint": {"start_date": "2025-01-01"}, "prices": {}}],
        "price_variants": [{"when": {"processing": "batch"}, "prices": {"input_mtok": 1.5}}],
    }

    assert model_row("anthropic", model) == {
        "provider_id": "anthropic",
        "model_id": "claude-sonnet-4-5",
        "name": "Claude Sonnet 4.5",
        "description": "Balanced model",
        "context_window": 200_000,
        "deprecated": True,
        "price_comments": "Long context costs more.",
        "match_rule": '{"starts_with": "claude-sonnet-4-5"}',
        "has_dated_prices": True,
        "variant_count": 1,
    }


def test_model_row_of_a_minimal_model() -> None:
    row = model_row("p", {"id": "m", "match": {"equals": "m"}, "prices": {"input_mtok": "1"}})

    assert (row["deprecated"], row["has_dated_prices"], row["variant_count"]) == (False, False, 0)
    assert row["context_window"] is None
    assert model_row("p", {"id": "m"})["match_rule"] is None
    assert model_row("p", {"id": "m", "prices": []})["has_dated_prices"] is False


# --- check_registry_shape -----------------------------------------------------------------------------------------


def test_check_registry_shape_returns_the_provider_list() -> None:
    providers = [{"id": "p", "models": []}]

    assert check_registry_shape(providers) is providers


@pytest.mark.parametrize("payload", [None, {}, [], "providers", {"providers": [{"id": "p", "models": []}]}])
def test_check_registry_shape_wants_a_non_empty_list(payload: object) -> None:
    with pytest.raises(SourceError, match="expected a non-empty list of providers"):
        check_registry_shape(payload)


@pytest.mark.parametrize(
    "provider", ["openai", {"models": []}, {"id": "p"}, {"id": "p", "models": {"m": {}}}, {"id": "p", "models": None}]
)
def test_check_registry_shape_rejects_malformed_providers(provider: object) -> None:
    with pytest.raises(SourceError, match="lacks its id or models list"):
        check_registry_shape([{"id": "fine", "models": []}, provider])
