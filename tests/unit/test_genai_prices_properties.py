"""Properties of the price normalization, over generated registries and over the real packaged registry."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from itertools import pairwise
from typing import Any

import pytest
from genai_prices.data_units import unit_data
from hypothesis import given
from hypothesis import strategies as st

from modelatlas.pipelines.genai_prices.normalize import PriceSet, model_row, price_rows, price_sets, to_decimal
from modelatlas.pipelines.genai_prices.registry import RegistrySnapshot, packaged_snapshot

prices_as_decimals = st.decimals(min_value=0, max_value=10**6, allow_nan=False, allow_infinity=False, places=None)
dates = st.dates(min_value=date(2020, 1, 1), max_value=date(2035, 12, 31))


Span = tuple[date | None, date | None]  # (effective_from, effective_until); None is open

PRICE_KEYS = ("input_mtok", "output_mtok", "cache_read_mtok")
VARIANT_WHENS = {"processing=batch": {"processing": "batch"}, "service_tier=flex": {"service_tier": "flex"}}
WINDOW = {"start_time": "01:00:00Z", "end_time": "04:00:00Z"}


def by_start(span: Span) -> tuple[bool, date]:
    return (span[0] is not None, span[0] or date.min)


def chain_is_contiguous(spans: list[Span]) -> bool:
    ordered = sorted(spans, key=by_start)
    links = all(a[1] == b[0] for a, b in pairwise(ordered))
    return links and ordered[-1][1] is None


def spans_of(sets: list[PriceSet], key: str) -> list[Span]:
    return [(s.condition.effective_from, s.until_by_key[key]) for s in sets]


# An entry of a generated model: its constraint (undated, a start date, or the daily window) and its prices.
constraints = st.one_of(st.none(), dates, st.just("window"))
key_prices = st.dictionaries(st.sampled_from(PRICE_KEYS), st.one_of(st.none(), st.sampled_from(["0.5", "1", "2"])))


def constraint_of(kind: date | str | None) -> dict[str, Any]:
    if kind is None:
        return {}
    if kind == "window":
        return {"constraint": dict(WINDOW)}
    assert isinstance(kind, date)
    return {"constraint": {"start_date": kind.isoformat()}}


def next_start(start: date | None, later_starts: list[date]) -> date | None:
    return min((d for d in later_starts if start is None or d > start), default=None)


# --- generated --------------------------------------------------------------------------------------------------


@given(prices_as_decimals)
def test_to_decimal_round_trips_decimal_strings_exactly(value: Decimal) -> None:
    result = to_decimal(str(value), "p/m k")

    assert result == value
    assert result.as_tuple() == value.as_tuple()


@given(st.floats(min_value=0, max_value=1e9, allow_nan=False, allow_infinity=False))
def test_to_decimal_of_a_float_is_its_shortest_repr(value: float) -> None:
    result = to_decimal(value, "p/m k")

    assert result == Decimal(repr(value))
    assert float(result) == value
    assert to_decimal(str(value), "p/m k") == result


@given(
    starts=st.lists(dates, min_size=1, max_size=8, unique=True),
    with_undated_base=st.booleans(),
    newest_first=st.booleans(),
)
def test_dated_chain_is_contiguous_and_open_at_the_end(
    starts: list[date], with_undated_base: bool, newest_first: bool
) -> None:
    ordered = sorted(starts, reverse=newest_first)
    entries: list[dict[str, Any]] = [{"prices": {"input_mtok": "9"}}] if with_undated_base else []
    entries += [{"constraint": {"start_date": d.isoformat()}, "prices": {"input_mtok": "1"}} for d in ordered]

    sets = price_sets({"id": "m", "prices": entries})

    assert chain_is_contiguous(spans_of(sets, "input_mtok"))
    assert sorted(s.condition.effective_from for s in sets if s.condition.effective_from) == sorted(starts)
    assert all(s.condition.effective_until is None for s in sets)
    if with_undated_base:
        assert sets[0].until_by_key["input_mtok"] == min(starts)


@given(
    base_starts=st.lists(dates, min_size=1, max_size=5, unique=True),
    batch_starts=st.lists(dates, min_size=1, max_size=5, unique=True),
)
def test_each_variant_chains_only_its_own_dates(base_starts: list[date], batch_starts: list[date]) -> None:
    model = {
        "id": "m",
        "prices": [{"prices": {"input_mtok": 2}}]
        + [{"constraint": {"start_date": d.isoformat()}, "prices": {"input_mtok": 1}} for d in base_starts],
        "price_variants": [{"when": {"processing": "batch"}, "prices": {"input_mtok": 1}}]
        + [
            {
                "when": {"processing": "batch"},
                "constraint": {"start_date": d.isoformat()},
                "prices": {"input_mtok": 0.5},
            }
            for d in batch_starts
        ],
    }

    sets = price_sets(model)
    base = [s for s in sets if s.condition.variant is None]
    batch = [s for s in sets if s.condition.variant == "processing=batch"]

    assert chain_is_contiguous(spans_of(base, "input_mtok"))
    assert chain_is_contiguous(spans_of(batch, "input_mtok"))
    assert {s.until_by_key["input_mtok"] for s in batch} <= {*batch_starts, None}


@given(
    main=st.lists(st.tuples(constraints, key_prices), min_size=1, max_size=5, unique_by=lambda entry: entry[0]),
    variants=st.lists(
        st.tuples(st.sampled_from(sorted(VARIANT_WHENS)), constraints, key_prices),
        max_size=8,
        unique_by=lambda entry: (entry[0], entry[1]),
    ),
)
def test_a_variant_price_ends_at_the_next_start_of_its_variant_that_prices_its_key(
    main: list[tuple[date | str | None, dict[str, str | None]]],
    variants: list[tuple[str, date | str | None, dict[str, str | None]]],
) -> None:
    model = {
        "id": "m",
        "prices": [{**constraint_of(kind), "prices": prices} for kind, prices in main],
        "price_variants": [
            {"when": VARIANT_WHENS[label], **constraint_of(kind), "prices": prices} for label, kind, prices in variants
        ],
    }
    # Where each variant label prices each key (with a value), from the generated input rather than the code's output.
    pricing_starts: dict[tuple[str, str], list[date]] = defaultdict(list)
    for label, kind, prices in variants:
        for key, value in prices.items():
            if isinstance(kind, date) and value is not None:
                pricing_starts[label, key].append(kind)

    sets = price_sets(model)
    variant_sets = sets[len(main) :]

    assert len(sets) == len(main) + len(variants)
    for price_set, (label, kind, prices) in zip(variant_sets, variants, strict=True):
        start = kind if isinstance(kind, date) else None
        assert (price_set.condition.variant, price_set.condition.effective_from) == (label, start)
        assert price_set.condition.effective_until is None
        assert set(price_set.until_by_key) == set(prices)
        for key, until in price_set.until_by_key.items():
            later = [d for d in pricing_starts[label, key] if start is None or d > start]
            if kind == "window":
                assert until is None
                continue
            # Either open, or a later start of the same variant that prices this key ...
            assert until is None or until in later, (label, kind, key, until)
            # ... and precisely the first such start; open only when there is none.
            assert until == min(later, default=None), (label, kind, key, until)


@given(main=st.lists(st.tuples(constraints, key_prices), min_size=1, max_size=6, unique_by=lambda entry: entry[0]))
def test_a_dated_main_entry_ends_every_key_of_the_main_entry_before(
    main: list[tuple[date | str | None, dict[str, str | None]]],
) -> None:
    model = {
        "id": "m",
        "prices": [{**constraint_of(kind), "prices": prices} for kind, prices in main],
        # A variant dated on every day of the main chain must not end any main price.
        "price_variants": [
            {"when": {"processing": "batch"}, **constraint_of(kind), "prices": dict.fromkeys(PRICE_KEYS, "1")}
            for kind, _ in main
            if isinstance(kind, date)
        ],
    }
    main_starts = [kind for kind, _ in main if isinstance(kind, date)]

    sets = price_sets(model)[: len(main)]

    for price_set, (kind, prices) in zip(sets, main, strict=True):
        assert price_set.condition.variant is None
        assert set(price_set.until_by_key) == set(prices)
        start = kind if isinstance(kind, date) else None
        expected = None if kind == "window" else next_start(start, main_starts)
        # Whatever keys the later entry prices, it replaces the whole list, so every key ends together.
        assert dict(price_set.until_by_key) == dict.fromkeys(prices, expected)


@given(
    starts=st.lists(st.integers(min_value=1, max_value=10**7), max_size=6, unique=True).map(sorted),
    amounts=st.lists(prices_as_decimals, min_size=7, max_size=7),
)
def test_tier_rows_follow_the_tiers_as_given(starts: list[int], amounts: list[Decimal]) -> None:
    tiers = [{"start": start, "price": str(amount)} for start, amount in zip(starts, amounts[1:], strict=False)]
    model = {"id": "m", "prices": {"input_mtok": {"base": str(amounts[0]), "tiers": tiers}}}

    rows = list(price_rows("p", model, unit_data))

    assert [r["above_input_tokens"] for r in rows] == [None, *starts]
    assert [r["price_usd"] for r in rows] == amounts[: len(starts) + 1]
    assert len({r["condition"] for r in rows}) == len(rows)


# --- the real packaged registry ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def packaged() -> RegistrySnapshot:
    return packaged_snapshot()


@pytest.fixture(scope="module")
def packaged_rows(packaged: RegistrySnapshot) -> list[dict[str, Any]]:
    return [
        row
        for provider in packaged.providers
        for model in provider["models"]
        for row in price_rows(str(provider["id"]), model, unit_data)
    ]


def models_of(snapshot: RegistrySnapshot) -> list[tuple[str, Mapping[str, Any]]]:
    return [(str(provider["id"]), model) for provider in snapshot.providers for model in provider["models"]]


def test_the_packaged_registry_is_big_enough(packaged: RegistrySnapshot, packaged_rows: list[dict[str, Any]]) -> None:
    assert len(packaged.providers) >= 20
    assert len(packaged_rows) >= 1_000


def test_packaged_price_keys_are_unique(packaged_rows: list[dict[str, Any]]) -> None:
    keys = Counter((r["provider_id"], r["model_id"], r["component"], r["condition"]) for r in packaged_rows)

    assert [key for key, count in keys.items() if count > 1] == []


def test_packaged_model_keys_are_unique(packaged: RegistrySnapshot) -> None:
    keys = Counter((row["provider_id"], row["model_id"]) for row in (model_row(p, m) for p, m in models_of(packaged)))

    assert [key for key, count in keys.items() if count > 1] == []


def test_packaged_prices_are_exact_and_not_negative(packaged_rows: list[dict[str, Any]]) -> None:
    assert all(isinstance(r["price_usd"], Decimal) and r["price_usd"].is_finite() for r in packaged_rows)
    assert [r for r in packaged_rows if r["price_usd"] < 0] == []


def test_packaged_per_mtok_prices_are_the_token_prices(packaged_rows: list[dict[str, Any]]) -> None:
    for row in packaged_rows:
        is_mtok = row["unit_family"] == "tokens" and row["units_per_price"] == 1_000_000
        assert row["price_usd_per_mtok"] == (row["price_usd"] if is_mtok else None), row
    assert any(row["price_usd_per_mtok"] is None for row in packaged_rows)


def test_packaged_dated_chains_are_contiguous(packaged: RegistrySnapshot) -> None:
    checked_variant_chains = 0
    for provider_id, model in models_of(packaged):
        dated = [s for s in price_sets(model) if s.condition.window_start is None]
        where = (provider_id, model["id"])
        assert all(s.condition.effective_until is None for s in dated), where
        # The main list: every key of an entry ends together, and the entries chain one after another.
        main_spans: list[Span] = []
        for price_set in dated:
            if price_set.condition.variant is None and price_set.until_by_key:
                ends = set(price_set.until_by_key.values())
                assert len(ends) == 1, (*where, price_set)
                main_spans.append((price_set.condition.effective_from, ends.pop()))
        if main_spans:
            assert chain_is_contiguous(main_spans), (*where, main_spans)
        # A variant: each key chains over the entries of that variant that price it.
        chains: dict[tuple[str, str], list[Span]] = defaultdict(list)
        for price_set in dated:
            if price_set.condition.variant is not None:
                for key, value in price_set.prices.items():
                    if value is not None:
                        span = (price_set.condition.effective_from, price_set.until_by_key[key])
                        chains[price_set.condition.variant, key].append(span)
        for (variant, key), chain in chains.items():
            assert chain_is_contiguous(chain), (*where, variant, key, chain)
            checked_variant_chains += len(chain) > 1
    assert checked_variant_chains > 0


def test_packaged_dated_rows_chain_per_component_and_tier(packaged_rows: list[dict[str, Any]]) -> None:
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    main_starts: dict[tuple[str, str], set[date]] = defaultdict(set)
    for row in packaged_rows:
        if row["window_start_utc"] is None:
            key = (row["provider_id"], row["model_id"], row["variant"], row["component"], row["above_input_tokens"])
            groups[key].append(row)
            if row["variant"] is None and row["effective_from"] is not None:
                main_starts[row["provider_id"], row["model_id"]].add(row["effective_from"])

    chained = {"main": 0, "variant": 0}
    for key, rows in groups.items():
        ordered = sorted(rows, key=lambda r: by_start((r["effective_from"], r["effective_until"])))
        starts = [r["effective_from"] for r in ordered]
        assert len(set(starts)) == len(starts), key
        # Where a next row exists, this row ends exactly when it starts.
        for this, following in pairwise(ordered):
            assert this["effective_until"] == following["effective_from"], (key, this, following)
        last = ordered[-1]
        provider_id, model_id, variant = key[:3]
        if variant is None:
            # A main row without a successor (a key or tier the newer entry dropped) ends at a newer main entry.
            assert last["effective_until"] is None or last["effective_until"] in main_starts[provider_id, model_id], (
                key,
                last,
            )
        else:
            # A later dated variant that prices the key always gives it a row, so a variant chain ends open.
            assert last["effective_until"] is None, (key, last)
        if len(ordered) > 1:
            chained["main" if variant is None else "variant"] += 1
    assert chained["main"] > 0
    assert chained["variant"] > 0
