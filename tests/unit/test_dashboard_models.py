"""The side-by-side and model pages' pure logic: the offerings a URL names, the matrix and its differences, the price
step series, the status and usage summaries, and the SQL they run."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from psycopg import sql

from modelatlas.dashboard import data
from modelatlas.dashboard import models_data as md
from modelatlas.dashboard.queries import COLUMNS
from modelatlas.dashboard.queries import MART_SCHEMA as SCHEMA

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
GPT = md.Offering("gpt-4o", "openai")
GPT_AZURE = md.Offering("gpt-4o", "azure")
GPT_ROUTER = md.Offering("gpt-4o", "openrouter")
CLAUDE = md.Offering("claude-sonnet-4-5", "anthropic")
FINE_TUNED = md.Offering("ft:gpt-4o", "openai")
ODD = md.Offering("name@with-at", "together")


def _catalog() -> md.Catalog:
    return md.Catalog.of(
        [
            # The maker's own offering is preferred even where another is priced by more sources.
            md.OfferingChoice(GPT_ROUTER, "OpenAI: GPT-4o", "openai", True, True, 3),
            md.OfferingChoice(GPT_AZURE, "GPT-4o", "openai", False, True, 1),
            md.OfferingChoice(GPT, "gpt-4o", "openai", True, True, 2),
            md.OfferingChoice(CLAUDE, "Claude Sonnet 4.5", "anthropic", True, True, 2),
            md.OfferingChoice(FINE_TUNED, "ft:gpt-4o", None, True, True, 0),
            md.OfferingChoice(ODD, "Odd", None, False, True, 1),
        ]
    )


CATALOG = _catalog()


def test_a_models_preferred_offering_is_the_makers_then_a_listed_available_well_priced_one() -> None:
    assert CATALOG.preferred("gpt-4o") == GPT
    assert [choice.offering for choice in CATALOG.offerings_of("gpt-4o")] == [GPT, GPT_ROUTER, GPT_AZURE]
    without_maker = md.Catalog.of(
        [
            md.OfferingChoice(md.Offering("llama", "together"), "Llama", "meta", False, True, 3),
            md.OfferingChoice(md.Offering("llama", "openrouter"), "Llama", "meta", True, True, 3),
            md.OfferingChoice(md.Offering("llama", "huggingface"), "Llama", "meta", True, True, 0),
            md.OfferingChoice(md.Offering("llama", "retired"), "Llama", "meta", True, False, 9),
        ]
    )
    assert without_maker.preferred("llama") == md.Offering("llama", "openrouter")
    assert CATALOG.preferred("nothing") is None
    assert CATALOG.models() == ["claude-sonnet-4-5", "ft:gpt-4o", "gpt-4o", "name@with-at"]
    assert [choice.display_name for choice in CATALOG.choices()][:2] == ["Claude Sonnet 4.5", "ft:gpt-4o"]


def test_a_url_value_names_an_offering_bare_or_with_its_provider() -> None:
    assert md.parse_offering("gpt-4o", CATALOG) == GPT
    assert md.parse_offering("gpt-4o@azure", CATALOG) == GPT_AZURE
    assert md.parse_offering(" claude-sonnet-4-5 ", CATALOG) == CLAUDE
    # A provider that does not offer the model, or an id the mart does not hold, names nothing.
    assert md.parse_offering("gpt-4o@anthropic", CATALOG) is None
    assert md.parse_offering("gpt-5", CATALOG) is None
    assert md.parse_offering("", CATALOG) is None
    # Canonical ids may hold `:` and even `@`.
    assert md.parse_offering("ft:gpt-4o", CATALOG) == FINE_TUNED
    assert md.parse_offering("name@with-at", CATALOG) == ODD
    assert md.parse_offering("name@with-at@together", CATALOG) == ODD


@given(st.sampled_from([choice.offering for choice in CATALOG.choices()]))
def test_an_offering_survives_its_url_value(offering: md.Offering) -> None:
    assert md.parse_offering(md.offering_param(offering, CATALOG), CATALOG) == offering


def test_the_url_names_the_provider_only_where_the_model_has_several() -> None:
    assert md.offering_param(CLAUDE, CATALOG) == "claude-sonnet-4-5"
    assert md.offering_param(GPT, CATALOG) == "gpt-4o@openai"
    assert md.side_by_side_params([CLAUDE, GPT_AZURE], CATALOG, only_differences=True) == {
        "model": ["claude-sonnet-4-5", "gpt-4o@azure"],
        "diff": "1",
    }
    assert md.side_by_side_params([], CATALOG, only_differences=False) == {}
    assert md.model_page_params(GPT, CATALOG) == {"model": "gpt-4o"}
    assert md.model_page_params(GPT_AZURE, CATALOG) == {"model": "gpt-4o", "provider": "azure"}


def test_the_side_by_side_choice_is_distinct_bounded_and_reports_what_it_left_out() -> None:
    selection = md.select_offerings(
        ["gpt-4o", "gpt-4o@openai", "nope", "claude-sonnet-4-5", "gpt-4o@azure", "ft:gpt-4o", "gpt-4o@openrouter", " "],
        CATALOG,
    )
    assert selection.offerings == (GPT, CLAUDE, GPT_AZURE, FINE_TUNED)
    assert selection.unknown == ("nope",)
    assert selection.over_limit == (GPT_ROUTER,)
    assert md.select_offerings([], CATALOG) == md.Selection(())


def test_the_model_page_takes_the_provider_when_the_model_has_it() -> None:
    assert md.offering_from_params("gpt-4o", "azure", CATALOG) == GPT_AZURE
    assert md.offering_from_params("gpt-4o", None, CATALOG) == GPT
    assert md.offering_from_params("gpt-4o", "anthropic", CATALOG) == GPT, "an unknown provider falls back"
    assert md.offering_from_params("gpt-4o@openrouter", None, CATALOG) == GPT_ROUTER
    assert md.offering_from_params("gpt-5", "openai", CATALOG) is None
    assert md.offering_from_params(None, "openai", CATALOG) is None


def test_model_page_links_encode_the_ids() -> None:
    link = md.model_page_link(md.Offering("ft:gpt-4o", "openai"), CATALOG)
    assert link == "model?model=ft%3Agpt-4o"
    href = md.model_page_href("name@with-at", "to gether&x=1")
    assert urlsplit(href).path == "model"
    assert parse_qs(urlsplit(href).query) == {"model": ["name@with-at"], "provider": ["to gether&x=1"]}


def test_links_are_split_from_a_table_read_with_the_offering_keys() -> None:
    assert md.with_link_keys(("display_name", "provider")) == ("display_name", "provider", "canonical_model_id")
    assert md.with_link_keys(("canonical_model_id", "provider")) == ("canonical_model_id", "provider")
    read = data.Table(
        ["display_name", "provider", "canonical_model_id"],
        [("GPT-4o", "openai", "gpt-4o"), ("Claude", "anthropic", "claude-sonnet-4-5")],
        truncated=True,
    )
    shown, links = md.split_links(read, ["display_name", "provider"])
    assert shown == data.Table(["display_name", "provider"], [("GPT-4o", "openai"), ("Claude", "anthropic")], True)
    assert links == ["model?model=gpt-4o&provider=openai", "model?model=claude-sonnet-4-5&provider=anthropic"]


def test_headers_are_distinct() -> None:
    same = [
        md.OfferingChoice(md.Offering("a", "p"), "Model"),
        md.OfferingChoice(md.Offering("b", "p"), "Model"),
        md.OfferingChoice(md.Offering("c", "q"), "Model"),
    ]
    assert md.column_labels(same) == ["Model · p (a)", "Model · p (b)", "Model · q"]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, md.MISSING),
        (True, "yes"),
        (False, "no"),
        (128000, "128,000"),
        (Decimal("3.000000000000000000"), "3"),
        (Decimal("1E+2"), "100"),
        (Decimal("0.000001500"), "0.0000015"),
        (["text", "image"], "text, image"),
        ([], md.MISSING),
        (date(2025, 9, 29), "2025-09-29"),
        (datetime(2026, 3, 13, 8, 5, tzinfo=UTC), "2026-03-13 08:05 UTC"),
        ("anthropic", "anthropic"),
    ],
)
def test_values_are_shown_plainly(value: Any, text: str) -> None:
    assert md.format_value(value) == text


def test_prices_name_their_unit() -> None:
    assert md.format_price(Decimal("2.50"), "mtok") == "$2.5 / million tokens"
    assert md.format_price(Decimal("0.01"), "search") == "$0.01 / search"
    assert md.format_price(None, "mtok") == md.MISSING
    assert md.attribute_label("input_price_per_mtok") == "Input price (USD/Mtok)"
    assert md.attribute_label("availability_30d_pct") == "Availability 30d %"


def test_values_differ_only_when_they_are_not_the_same() -> None:
    assert not md.values_differ([Decimal("3"), Decimal("3.000")])
    assert not md.values_differ([["text", "image"], ["image", "text"]])
    assert not md.values_differ([None, None])
    assert not md.values_differ(["only one"])
    assert md.values_differ([Decimal("3"), None])
    assert md.values_differ([True, False, True])
    assert md.values_differ([Decimal("3"), Decimal("3"), Decimal("3.01")])


def test_the_matrix_shows_every_column_of_the_comparison_mart_once() -> None:
    grouped = [column for columns in md.SECTIONS.values() for column in columns]
    assert sorted(grouped) == sorted(COLUMNS) and len(grouped) == len(set(grouped))
    rows = md.attribute_rows([GPT, CLAUDE], {GPT: {"context_window": 128000}, CLAUDE: {"context_window": 200000}})
    assert len(rows) == len(COLUMNS)
    [context] = [row for row in rows if row.attribute == "Context window"]
    assert context.cells == ("128,000", "200,000") and context.differs and context.section == "Limits and modalities"
    [license_row] = [row for row in rows if row.attribute == "License"]
    assert license_row.cells == (md.MISSING, md.MISSING) and not license_row.differs


def _point(
    offering: md.Offering,
    component: str,
    price: str,
    valid_from: datetime | None,
    valid_to: datetime | None = None,
    *,
    tier: str = "standard",
    condition: str = "base",
    region: str = "global",
    unit: str = "mtok",
    source: str = "genai-prices",
) -> md.PricePoint:
    is_current = (valid_from is None or valid_from <= NOW) and (valid_to is None or valid_to > NOW)
    return md.PricePoint(
        offering, component, tier, condition, region, unit, Decimal(price), source, offering.canonical_model_id,
        valid_from, valid_to, is_current,
    )  # fmt: skip


def test_the_price_list_holds_every_current_and_announced_price_with_its_source() -> None:
    march = datetime(2026, 3, 13, tzinfo=UTC)
    points = [
        _point(GPT, "output", "10", march),
        _point(GPT, "input", "5", None, march),  # over: not listed
        _point(GPT, "input", "2.5", march),
        _point(CLAUDE, "input", "3", march),
        _point(CLAUDE, "input", "6", march, condition="input > 200000 tokens"),
        _point(CLAUDE, "input", "1.5", march, tier="batch"),
        _point(GPT, "input", "2.75", march, region="eu", source="litellm"),
        _point(CLAUDE, "input", "2", datetime(2027, 1, 1, tzinfo=UTC)),  # announced
        _point(CLAUDE, "web_search", "0.01", march, unit="search"),
    ]
    rows = md.price_list_rows([GPT, CLAUDE], points, NOW)
    assert [row.attribute for row in rows] == [
        "input · standard · base",
        "input · standard · base · from 2027-01-01",
        "input · standard · base · eu",
        "input · standard · input > 200000 tokens",
        "input · batch · base",
        "output · standard · base",
        "web_search · standard · base",
    ]
    assert rows[0].values == (Decimal("2.5"), Decimal("3")) and rows[0].differs
    assert rows[0].cells == ("$2.5 / million tokens (genai-prices)", "$3 / million tokens (genai-prices)")
    assert rows[2].cells == ("$2.75 / million tokens (litellm)", md.MISSING)
    assert rows[6].cells == (md.MISSING, "$0.01 / search (genai-prices)")
    same = md.price_list_rows(
        [GPT, GPT_AZURE], [_point(GPT, "input", "2.5", march), _point(GPT_AZURE, "input", "2.50", march)], NOW
    )
    assert [row.differs for row in same] == [False]


def _consensus(
    offering: md.Offering, component: str, prices: tuple[str | None, str | None, str | None], **kwargs: Any
) -> md.ConsensusPrice:
    sources = dict(
        zip(
            (column for column, _ in md.PRICE_SOURCES), (None if p is None else Decimal(p) for p in prices), strict=True
        )
    )
    known = [price for price in sources.values() if price is not None]
    values: dict[str, Any] = {
        "consensus_price_usd": known[0] if known else None,
        "consensus_rule": "registry_median",
        "source_count": len(known),
        "price_spread": (max(known) - min(known)) / min(known) if known else None,
        "sources_disagree": False,
        "suspected_unit_error": False,
    }
    values.update(kwargs)
    return md.ConsensusPrice(offering, component, "mtok", sources, **values)


def test_each_sources_price_the_consensus_and_the_spread_are_rows() -> None:
    consensus = [
        _consensus(CLAUDE, "output", ("15", "15", None)),
        _consensus(GPT, "input", ("2.5", "2.5", None)),
        _consensus(CLAUDE, "input", ("3", "3.3", None), sources_disagree=True, consensus_price_usd=Decimal("3.15")),
    ]
    rows = md.source_rows([GPT, CLAUDE], consensus)
    assert [row.attribute for row in rows[:5]] == [
        "input: genai-prices",
        "input: LiteLLM",
        "input: OpenRouter",
        "input: consensus",
        "input: spread between sources",
    ]
    assert {row.section for row in rows} == {md.SOURCES} and len(rows) == 10
    by_name = {row.attribute: row for row in rows}
    assert by_name["input: LiteLLM"].cells == ("$2.5 / million tokens", "$3.3 / million tokens")
    assert by_name["input: consensus"].cells == (
        "$2.5 / million tokens (registry_median)",
        "$3.15 / million tokens (registry_median)",
    )
    assert by_name["input: spread between sources"].cells == ("0%", "10% (disagree)")
    assert not by_name["input: OpenRouter"].differs
    assert by_name["output: genai-prices"].cells == (md.MISSING, "$15 / million tokens")
    assert by_name["output: genai-prices"].differs


def test_the_frame_highlights_exactly_the_rows_that_differ() -> None:
    choices = [CATALOG.choice(GPT), CATALOG.choice(CLAUDE)]
    assert None not in choices
    attributes = {
        offering: {"canonical_model_id": offering.canonical_model_id, "provider": offering.provider, **values}
        for offering, values in (
            (GPT, {"display_name": "gpt-4o", "supports_vision": True, "context_window": 128000}),
            (CLAUDE, {"display_name": "Claude Sonnet 4.5", "supports_vision": True, "context_window": 200000}),
        )
    }
    matrix = md.feature_matrix([c for c in choices if c], attributes, [], [], NOW)
    assert matrix.columns == ("gpt-4o · openai", "Claude Sonnet 4.5 · anthropic")
    frame = md.matrix_frame(matrix)
    assert list(frame.columns) == ["Section", "Attribute", *matrix.columns, "Differs"]
    assert len(frame) == len(COLUMNS)
    styles = md.highlight_styles(frame)
    highlighted = {frame.loc[index, "Attribute"] for index in frame.index if (styles.loc[index] == md.HIGHLIGHT).all()}
    plain = {frame.loc[index, "Attribute"] for index in frame.index if (styles.loc[index] == "").all()}
    assert highlighted == {"Canonical model id", "Provider", "Display name", "Context window"}
    assert "Supports vision" in plain and len(highlighted) + len(plain) == len(frame)
    only = md.matrix_frame(matrix, only_differences=True)
    assert sorted(only["Attribute"]) == sorted(highlighted) and only["Differs"].all()


def test_a_step_series_marks_each_start_and_breaks_where_no_price_applied() -> None:
    january, march, june = (datetime(2026, month, 1, tzinfo=UTC) for month in (1, 3, 6))
    august = datetime(2026, 8, 1, tzinfo=UTC)
    points = [
        _point(CLAUDE, "input", "3", None, january),  # since before the first record
        _point(CLAUDE, "input", "2.5", january, march, source="litellm"),
        _point(CLAUDE, "input", "2", june, august),  # a gap before it
        _point(CLAUDE, "input", "1.5", august),  # current
        _point(CLAUDE, "output", "15", march),
        _point(CLAUDE, "web_search", "0.01", march, unit="search"),
    ]
    start, end = md.chart_span(points, NOW)
    assert start < january and end == NOW
    series = {line.component: line for line in md.step_series(points, NOW)}
    assert list(series) == ["input", "output", "web_search"]
    assert series["web_search"].unit == "search"
    line = series["input"]
    assert line.x == (start, january, march, march, june, august, NOW)
    assert line.y == (3.0, 2.5, 2.5, None, 2.0, 1.5, 1.5)
    # A marker where each known price started; none at an unknown start, at the end of a line or at a break.
    assert line.marker_sizes == (0, md.MARKER_SIZE, 0, 0, md.MARKER_SIZE, md.MARKER_SIZE, 0)
    assert "source: litellm" in line.hover[1] and "until 2026-03-01" in line.hover[1]
    assert "before the first record" in line.hover[0] and "until now" in line.hover[-1]
    assert series["output"].x == (march, NOW) and series["output"].y == (15.0, 15.0)


def test_an_announced_price_extends_the_chart() -> None:
    later = NOW + timedelta(days=30)
    points = [_point(GPT, "input", "2.5", None, later), _point(GPT, "input", "2", later)]
    [line] = md.step_series(points, NOW)
    assert line.x[-2:] == (later, later) and line.y[-2:] == (2.0, 2.0)
    assert md.chart_span(points, NOW)[1] == later


def test_series_choices_put_the_usual_ones_first() -> None:
    points = [
        _point(GPT, "input", "1", NOW, tier="priority", condition="service_tier=fast", region="eu"),
        _point(GPT, "input", "1", NOW, tier="batch"),
        _point(GPT, "input", "1", NOW),
    ]
    assert md.series_choices(points) == (
        ["standard", "batch", "priority"],
        ["base", "service_tier=fast"],
        ["global", "eu"],
    )


def test_disagreements_and_the_consensus_table() -> None:
    consensus = [
        _consensus(GPT, "output", ("10", "30", None), suspected_unit_error=True),
        _consensus(GPT, "input", ("2.5", "2.75", None), sources_disagree=True),
        _consensus(GPT, "cache_read", ("1.25", None, None)),
    ]
    assert [price.component for price in md.disagreements(consensus)] == ["input", "output"]
    frame = md.consensus_frame(consensus)
    assert list(frame["component"]) == ["input", "output", "cache_read"]
    assert frame.loc[0, "spread_pct"] == pytest.approx(10.0) and bool(frame.loc[0, "disagree"])
    assert pd.isna(frame.loc[2, "LiteLLM"]) and frame.loc[2, "genai-prices"] == pytest.approx(1.25)


def test_usage_is_added_up_per_provider_team_and_day() -> None:
    day_one, day_two = date(2026, 12, 1), date(2026, 12, 2)
    rows = [
        {"day": day_one, "provider": "openai", "team": "search", "requests": None, "prompt_tokens": 100,
         "cache_read_tokens": 10, "output_tokens": 5, "cost_usd": Decimal("1.5")},
        {"day": day_one, "provider": "openai", "team": "chat", "requests": None, "prompt_tokens": 50,
         "cache_read_tokens": 0, "output_tokens": 5, "cost_usd": Decimal("2")},
        {"day": day_two, "provider": "azure", "team": "chat", "requests": None, "prompt_tokens": 10,
         "cache_read_tokens": None, "output_tokens": 1, "cost_usd": Decimal("0.25")},
    ]  # fmt: skip
    totals = md.usage_totals(rows)
    assert totals == {
        "cost_usd": Decimal("3.75"),
        "requests": None,
        "prompt_tokens": Decimal(160),
        "cache_read_tokens": Decimal(10),
        "output_tokens": Decimal(11),
    }
    assert [(team["team"], team["cost_usd"]) for team in md.usage_by(rows, "team")] == [
        ("chat", Decimal("2.25")),
        ("search", Decimal("1.5")),
    ]
    assert md.daily_cost(rows) == {"azure": {day_two: Decimal("0.25")}, "openai": {day_one: Decimal("3.5")}}
    assert md.usage_totals([])["cost_usd"] is None


def test_official_minutes_count_once_a_day_and_availability_only_where_probed() -> None:
    day = date(2026, 11, 18)
    minutes = {"minutes_degraded": Decimal(0), "minutes_partial_outage": Decimal("89.61"),
               "minutes_major_outage": Decimal(0), "minutes_maintenance": None}  # fmt: skip
    rows = [
        {"day": day, "region": "eu", "probes": 1440, "availability_pct": Decimal("99.5"), **minutes},
        {"day": day, "region": "us", "probes": 1440, "availability_pct": Decimal("98"), **minutes},
        {"day": date(2026, 11, 17), "region": "global", "probes": 0, "availability_pct": None, **minutes},
    ]
    by_day = md.official_minutes_by_day(rows)
    assert list(by_day) == [date(2026, 11, 17), day]
    assert by_day[day]["minutes_partial_outage"] == Decimal("89.61") and by_day[day]["minutes_maintenance"] == 0
    assert md.availability_by_region(rows) == {"eu": {day: Decimal("99.5")}, "us": {day: Decimal("98")}}


HOSTILE = "x'); drop table marts.mart_model_comparison; --"


def _sql_text(composed: sql.Composable) -> str:
    return composed.as_string(None)


@pytest.mark.parametrize(
    "query",
    [
        md.comparison_query([md.Offering(HOSTILE, HOSTILE)]),
        md.price_points_query([md.Offering(HOSTILE, "p")], current_only=True),
        md.consensus_query([md.Offering("m", HOSTILE)]),
        md.model_offerings_query(HOSTILE),
        md.catalog_entries_query(HOSTILE),
        md.uptime_query(HOSTILE),
        md.incidents_query(HOSTILE),
        md.outages_query(HOSTILE, HOSTILE),
        md.usage_query(HOSTILE),
    ],
)
def test_every_value_is_a_bound_parameter_and_every_read_is_limited(query: md.Query) -> None:
    text = _sql_text(query.statement)
    assert HOSTILE not in text and "drop table" not in text
    assert text.count("%s") == len(query.params)
    flattened = [item for param in query.params for item in (param if isinstance(param, list) else [param])]
    assert HOSTILE in flattened
    assert query.limit is not None and query.params[-1] == query.limit + 1 and text.endswith("limit %s")
    assert f'"{SCHEMA}".' in text


def test_the_queries_read_the_documented_marts_and_columns() -> None:
    assert '"marts"."mart_model_comparison"' in _sql_text(md.comparison_query([GPT]).statement)
    comparison = _sql_text(md.comparison_query([GPT]).statement)
    assert re.findall(r'"(\w+)"', comparison.split(" from ")[0]) == list(COLUMNS)
    points = _sql_text(md.price_points_query([GPT], current_only=False).statement)
    assert '"marts"."fct_price_timeline"' in points and '"marts"."fct_price_history"' in points
    assert "is_current or" in _sql_text(md.price_points_query([GPT], current_only=True).statement)
    assert "is_current or" not in points
    assert md.catalog_query().limit == md.OPTION_LIMIT
    existing = md.existing_marts_query(md.MARTS)
    assert existing.params == [list(md.MARTS), SCHEMA] and existing.limit is None
