"""The Side by side and Model pages in Streamlit's AppTest: against the sample database filled by a real sample-mode
run, against a database never built, and against one where only some marts exist."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from modelatlas.dashboard import models_data as md
from modelatlas.dashboard.queries import COLUMNS
from modelatlas.dashboard.settings import APP_PATH
from modelatlas.warehouse import Warehouse
from modelatlas.warehouse.service import connect

TIMEOUT_S = 60
SIDE_BY_SIDE = "views/side_by_side.py"
MODEL = "views/model.py"
PARTIAL_DATABASE = "dashboard_models_partial"


def _open(page: str, **params: str | list[str]) -> AppTest:
    app = AppTest.from_file(str(APP_PATH), default_timeout=TIMEOUT_S)
    app.run()
    app.switch_page(page)
    app.query_params.update(params)
    app.run()
    _no_exception(app)
    return app


def _no_exception(app: AppTest) -> None:
    assert not app.exception, [exception.value for exception in app.exception]


def _point_at(database: Warehouse, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELATLAS_WAREHOUSE_DATABASE", database.settings.database)
    st.cache_data.clear()


@pytest.fixture
def sample(sample_marts: Warehouse, monkeypatch: pytest.MonkeyPatch) -> Iterator[Warehouse]:
    """The dashboard pointed at the sample database, nothing cached from another test."""
    _point_at(sample_marts, monkeypatch)
    yield sample_marts
    st.cache_data.clear()


def _query(warehouse: Warehouse, statement: str, *params: Any) -> list[tuple[Any, ...]]:
    with connect(warehouse.reader_connection()) as conn:
        return conn.execute(statement, list(params)).fetchall()


def _charts(app: AppTest) -> list[dict[str, Any]]:
    return [json.loads(chart.proto.spec) for chart in app.get("plotly_chart")]


def _chart_titled(app: AppTest, prefix: str) -> list[dict[str, Any]]:
    return [chart for chart in _charts(app) if chart["layout"]["title"]["text"].startswith(prefix)]


def _highlighted_rows(app: AppTest) -> set[int]:
    styles = app.dataframe[0].proto.arrow_data.styler.styles
    return {int(row) for row in re.findall(r"_row(\d+)_col\d+", styles)}


def _texts(elements: Any) -> str:
    return "\n".join(element.value for element in elements)


def test_side_by_side_shows_two_models_prices_and_highlights_what_differs(sample: Warehouse) -> None:
    app = _open(SIDE_BY_SIDE, model=["gpt-4o@openai", "claude-sonnet-4-5@anthropic"])
    assert app.title[0].value == "Side by side"
    [table] = app.dataframe
    frame = table.value
    names = dict(
        _query(
            sample,
            "select provider, display_name from marts.mart_model_comparison "
            "where (canonical_model_id, provider) in (('gpt-4o', 'openai'), ('claude-sonnet-4-5', 'anthropic'))",
        )
    )
    gpt, claude = f"{names['openai']} · openai", f"{names['anthropic']} · anthropic"
    assert list(frame.columns) == ["Section", "Attribute", gpt, claude, "Differs"]
    rows = dict(zip(frame["Attribute"], frame.to_dict("records"), strict=True))
    # Every column of the comparison mart is a row, with the mart's values.
    assert {md.attribute_label(column) for column in COLUMNS} <= set(rows)
    [(gpt_input, claude_input)] = _query(
        sample,
        "select max(input_price_per_mtok) filter (where provider = 'openai' and canonical_model_id = 'gpt-4o'), "
        "max(input_price_per_mtok) filter (where provider = 'anthropic' and canonical_model_id = 'claude-sonnet-4-5') "
        "from marts.mart_model_comparison",
    )
    price_row = rows["Input price (USD/Mtok)"]
    assert (price_row[gpt], price_row[claude]) == (md.format_decimal(gpt_input), md.format_decimal(claude_input))
    assert gpt_input != claude_input and price_row["Differs"]
    # The price list: each offering's current standard input price, with its source.
    current = dict(
        _query(
            sample,
            "select provider, price_usd from marts.fct_price_timeline where is_current and component = 'input' "
            "and service_tier = 'standard' and condition = 'base' and region = 'global' "
            "and (canonical_model_id, provider) in (('gpt-4o', 'openai'), ('claude-sonnet-4-5', 'anthropic'))",
        )
    )
    listed = rows["input · standard · base"]
    assert listed["Section"] == md.PRICE_LIST
    assert listed[gpt].startswith(md.format_price(current["openai"], "mtok") + " (")
    assert listed[claude].startswith(md.format_price(current["anthropic"], "mtok") + " (")
    assert rows["input: consensus"]["Section"] == md.SOURCES
    # Exactly the differing rows are highlighted.
    differing = {index for index, differs in enumerate(frame["Differs"]) if differs}
    assert _highlighted_rows(app) == differing
    vision = rows["Supports vision"]
    assert vision[gpt] == vision[claude] == "yes" and not vision["Differs"]
    assert frame.index[frame["Attribute"] == "Supports vision"][0] not in differing
    assert app.query_params == {"model": ["gpt-4o@openai", "claude-sonnet-4-5@anthropic"]}
    assert f"{len(differing)} of {len(frame)} rows differ" in app.caption[0].value

    app.toggle(key="sbs_only_differences").set_value(True).run()
    _no_exception(app)
    only = app.dataframe[0].value
    assert len(only) == len(differing) and only["Differs"].all()
    assert "Supports vision" not in set(only["Attribute"]) and "Input price (USD/Mtok)" in set(only["Attribute"])
    assert app.query_params == {"model": ["gpt-4o@openai", "claude-sonnet-4-5@anthropic"], "diff": "1"}


def test_side_by_side_says_how_to_choose_and_writes_the_choice_into_the_url(sample: Warehouse) -> None:
    app = _open(SIDE_BY_SIDE)
    assert not app.dataframe
    assert "Choose 2 to 4 models" in _texts(app.info) and "?model=" in _texts(app.info)
    app.multiselect(key="sbs_offerings").set_value(["gpt-4o@openai"]).run()
    assert not app.dataframe and "(1 chosen)" in _texts(app.info)
    app.multiselect(key="sbs_offerings").set_value(["gpt-4o@openai", "gpt-4o@azure"]).run()
    _no_exception(app)
    assert app.query_params == {"model": ["gpt-4o@openai", "gpt-4o@azure"]}
    frame = app.dataframe[0].value
    assert list(frame.columns)[2:4] == ["gpt-4o · openai", "GPT-4o · azure"]
    # A link opens the same choice; a bare id means the model's preferred offering; unknown values are named.
    copied = _open(SIDE_BY_SIDE, model=["claude-sonnet-4-5", "no-such-model", "gpt-4o@azure"])
    assert copied.multiselect(key="sbs_offerings").value == ["claude-sonnet-4-5@anthropic", "gpt-4o@azure"]
    assert "no-such-model" in _texts(copied.warning)
    assert len(copied.dataframe) == 1


def test_the_model_page_draws_each_price_component_as_steps_with_status_and_usage(sample: Warehouse) -> None:
    app = _open(MODEL, model="claude-sonnet-4-5")
    assert app.selectbox(key="mp_model").value == "claude-sonnet-4-5"
    assert app.selectbox(key="mp_provider").value == "anthropic", "the maker's own offering is the default"
    assert app.query_params == {"model": "claude-sonnet-4-5"}
    components = {
        component
        for (component,) in _query(
            sample,
            "select distinct component from marts.fct_price_timeline where canonical_model_id = 'claude-sonnet-4-5' "
            "and provider = 'anthropic' and service_tier = 'standard' and condition = 'base' and region = 'global'",
        )
    }
    assert {"input", "output"} <= components
    price_charts = _chart_titled(app, "Price, USD per")
    traces = [trace for chart in price_charts for trace in chart["data"]]
    assert sorted(trace["name"] for trace in traces) == sorted(components)
    for trace in traces:
        assert trace["line"]["shape"] == "hv" and "markers" in trace["mode"]
        assert max(trace["marker"]["size"]) > 0, f"{trace['name']} has no marker at a price's start"
        assert any("source: " in text for text in trace["text"])
    subheaders = [header.value for header in app.subheader]
    assert subheaders == [
        "Price history",
        "Do the sources agree?",
        "Providers",
        "Status of anthropic",
        "Usage and cost",
    ]
    # The providers: every offering of the model.
    providers = {provider for (provider,) in _query(sample, _OFFERINGS, "claude-sonnet-4-5")}
    offerings = next(table.value for table in app.dataframe if "availability" in table.value.columns)
    assert set(offerings["provider"]) == providers and len(providers) > 1
    # Status: the official minutes per day and the provider's incidents.
    assert _chart_titled(app, "Minutes not operational per day")
    [(incidents,)] = _query(sample, "select count(*) from marts.fct_incidents where provider = 'anthropic'")
    titles = next(table.value for table in app.dataframe if "time_to_resolve_minutes" in table.value.columns)
    assert len(titles) == min(incidents, md.INCIDENT_LIMIT) > 0
    # Usage: the cost of the last 90 days, as the mart adds it up.
    [(cost,)] = _query(
        sample,
        "select sum(cost_usd) from marts.mart_usage_daily where canonical_model_id = 'claude-sonnet-4-5' "
        "and day > current_date - %s::integer",
        md.HISTORY_DAYS,
    )
    metrics = {metric.label: metric.value for metric in app.metric}
    assert metrics["Cost (USD)"] == f"{cost:,.2f}" and cost > 0
    [usage_chart] = _chart_titled(app, "Cost per day")
    assert [trace["name"] for trace in usage_chart["data"]] == ["anthropic"]


_OFFERINGS = "select provider from marts.mart_model_comparison where canonical_model_id = %s"


def test_price_changes_are_steps_with_a_marker_at_each_start(sample: Warehouse) -> None:
    [(model, provider)] = _query(
        sample,
        "select canonical_model_id, provider from marts.fct_price_timeline where component = 'input' "
        "and service_tier = 'standard' and condition = 'base' and region = 'global' and valid_from is not null "
        "group by 1, 2 having count(distinct price_usd) > 1 order by count(*) desc, 1, 2 limit 1",
    )
    intervals = _query(
        sample,
        "select price_usd, valid_from from marts.fct_price_timeline where canonical_model_id = %s and provider = %s "
        "and component = 'input' and service_tier = 'standard' and condition = 'base' and region = 'global' "
        "order by valid_from nulls first",
        model,
        provider,
    )
    app = _open(MODEL, model=model, provider=provider)
    [input_trace] = [
        trace for chart in _chart_titled(app, "Price, USD per") for trace in chart["data"] if trace["name"] == "input"
    ]
    steps = [y for y in input_trace["y"] if y is not None]
    assert {Decimal(str(price)) for price, _ in intervals} == {Decimal(str(value)) for value in steps}
    markers = [size for size in input_trace["marker"]["size"] if size]
    assert len(markers) == sum(1 for _, valid_from in intervals if valid_from is not None) > 1


def test_the_model_page_without_a_model_offers_a_choice_that_goes_into_the_url(sample: Warehouse) -> None:
    app = _open(MODEL)
    assert app.selectbox(key="mp_model").value is None
    assert any(option.endswith("(gpt-4o)") for option in app.selectbox(key="mp_model").options)
    assert "Choose a model" in _texts(app.info) and not _charts(app)
    app.selectbox(key="mp_model").set_value("gpt-4o").run()
    _no_exception(app)
    assert app.query_params == {"model": "gpt-4o"}
    assert app.selectbox(key="mp_provider").value == "openai"
    app.selectbox(key="mp_provider").set_value("azure").run()
    _no_exception(app)
    assert app.query_params == {"model": "gpt-4o", "provider": "azure"}
    assert "Status of azure" in [header.value for header in app.subheader]
    assert "No status source speaks for azure" in _texts(app.info) and "MODELATLAS_STATUS_PAGES" in _texts(app.info)
    unknown = _open(MODEL, model="no-such-model")
    assert "no-such-model" in _texts(unknown.warning) and unknown.selectbox(key="mp_model").value is None


def test_a_model_the_organisation_does_not_use_says_so(sample: Warehouse) -> None:
    [(model,)] = _query(
        sample,
        "select canonical_model_id from marts.mart_model_comparison where provider = 'openrouter' and "
        "canonical_model_id not in (select canonical_model_id from marts.mart_usage_daily) order by 1 limit 1",
    )
    app = _open(MODEL, model=model, provider="openrouter")
    assert f"has not used `{model}`" in _texts(app.info)
    assert not _chart_titled(app, "Cost per day")


def test_compare_links_each_row_to_its_model_page(sample: Warehouse) -> None:
    app = AppTest.from_file(str(APP_PATH), default_timeout=TIMEOUT_S)
    app.query_params.update({"q": "claude sonnet 4.5", "provider": "anthropic"})
    app.run()
    _no_exception(app)
    frame = app.dataframe[0].value
    assert list(frame["provider"]) == ["anthropic"] * len(frame) and len(frame) >= 1
    assert list(frame.index) == [md.model_page_href("claude-sonnet-4-5", "anthropic")] * len(frame)


def test_pages_on_a_database_never_built_say_how_to_build_it(
    empty_marts: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    _point_at(empty_marts, monkeypatch)
    for page, params in ((SIDE_BY_SIDE, {"model": ["gpt-4o", "claude-sonnet-4-5"]}), (MODEL, {"model": "gpt-4o"})):
        app = _open(page, **params)
        [warning] = app.warning
        assert "does not exist" in warning.value and "make run SAMPLE=1" in warning.value, page
        assert not app.dataframe and not _charts(app)
    st.cache_data.clear()


def _column_type(kind: str) -> str:
    return {"array": "text[]", "integer": "bigint"}.get(kind, kind)


@pytest.fixture
def partial(warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch) -> Iterator[Warehouse]:
    """A database with the comparison mart (two offerings), an empty status mart and an empty usage mart only."""
    own = Warehouse(replace(warehouse.settings, database=PARTIAL_DATABASE))
    own.ensure_ready()
    columns = ", ".join(f"{name} {_column_type(kind)}" for name, kind in COLUMNS.items())
    with connect(own.connection(), autocommit=True) as conn:
        conn.execute("create schema if not exists marts")
        for mart in ("mart_model_comparison", "mart_provider_uptime_daily", "mart_usage_daily"):
            conn.execute(f"drop table if exists marts.{mart}")
        conn.execute(f"create table marts.mart_model_comparison ({columns})")
        for model, provider, price in (("alpha", "acme", "1"), ("beta", "acme", "2")):
            conn.execute(
                "insert into marts.mart_model_comparison (canonical_model_id, provider, display_name, creator, "
                "input_price_per_mtok, supports_tools, release_date, is_in_catalog, is_available, price_source_count) "
                "values (%s, %s, %s, %s, %s, true, %s, true, true, 1)",
                [model, provider, model.title(), provider, Decimal(price), date(2026, 1, 1)],
            )
        conn.execute(
            "create table marts.mart_provider_uptime_daily (provider text, "
            + ", ".join(
                f"{column} {'date' if column == 'day' else 'text' if column == 'region' else 'numeric'}"
                for column in md.UPTIME_COLUMNS
            )
            + ")"
        )
        conn.execute(
            "create table marts.mart_usage_daily (day date, team text, provider text, canonical_model_id text, "
            "requests bigint, prompt_tokens numeric, cache_read_tokens numeric, output_tokens numeric, "
            "cost_usd numeric)"
        )
    own.ensure_roles()
    _point_at(own, monkeypatch)
    yield own
    st.cache_data.clear()


def test_each_section_whose_mart_is_missing_or_empty_says_how_to_fill_it(partial: Warehouse) -> None:
    app = _open(MODEL, model="alpha")
    notes = _texts(app.info)
    assert "The price history (`marts.fct_price_timeline`) does not exist" in notes
    assert "The price consensus (`marts.mart_price_consensus`) does not exist" in notes
    assert "No status data is loaded" in notes and "MODELATLAS_STATUS_PAGES" in notes
    assert "No usage is loaded" in notes and "OPENAI_ADMIN_KEY" in notes
    assert not _charts(app) and not app.error
    assert {metric.label: metric.value for metric in app.metric}["Input (USD / Mtok)"] == "1"

    side = _open(SIDE_BY_SIDE, model=["alpha", "beta"])
    notes = _texts(side.info)
    assert "so the price list is left out" in notes and "so the sources are left out" in notes
    frame = side.dataframe[0].value
    rows = dict(zip(frame["Attribute"], frame.to_dict("records"), strict=True))
    assert (rows["Input price (USD/Mtok)"]["Alpha · acme"], rows["Input price (USD/Mtok)"]["Beta · acme"]) == ("1", "2")
    assert rows["Input price (USD/Mtok)"]["Differs"] and not rows["Supports tools"]["Differs"]
    assert set(frame["Section"]) == set(md.SECTIONS)
