"""The compare page in Streamlit's AppTest against a database of its own, read through the read-only role."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from modelatlas.dashboard import presets
from modelatlas.dashboard.data import fetch_view, filter_options, mart_rows
from modelatlas.dashboard.queries import COLUMNS, RANGES, SORTABLE, FilterState
from modelatlas.dashboard.settings import APP_PATH
from modelatlas.warehouse import Warehouse
from modelatlas.warehouse.service import connect

DATABASE = "dashboard_test"
EMPTY_DATABASE = "dashboard_empty"
TIMEOUT_S = 60

# The mart's columns and types as documented (dbt_project/models/marts/mart_model_comparison.yml).
MART_DDL = """
create table marts.mart_model_comparison (
    canonical_model_id text not null, provider text not null, provider_model_id text not null,
    provider_model_ids text[], display_name text not null, model_family text, capability_tier text, creator text,
    context_window bigint, max_output_tokens bigint, input_modalities text[], output_modalities text[],
    supports_vision boolean, supports_tools boolean, supports_reasoning boolean, supports_structured_output boolean,
    supports_batch boolean, input_price_per_mtok numeric(38, 18), output_price_per_mtok numeric(38, 18),
    cached_input_price_per_mtok numeric(38, 18), blended_price_per_mtok numeric(38, 18),
    batch_input_price_per_mtok numeric(38, 18), batch_output_price_per_mtok numeric(38, 18),
    price_source_count bigint not null, prices_disagree boolean not null, suspected_unit_error boolean not null,
    open_weights boolean, license text, release_date date, deprecation_date date, region text not null,
    is_in_catalog boolean not null, is_available boolean not null, availability text not null,
    availability_30d_pct numeric(5, 2)
)
"""
# canonical id, provider, name, tier, context, input, output, input modalities, vision, open weights, region,
# availability
MODELS = [
    ("claude-x", "anthropic", "Claude X", "frontier", 200000, "3", "15", ["text", "image"], True, False, "global",
     "available"),
    ("gpt-q", "openai", "GPT Q", "balanced", 128000, "0.15", "0.6", ["text", "image"], True, False, "us", "available"),
    ("gpt-q-mini", "openai", "GPT Q mini", "small", 128000, "0.05", "0.2", ["text"], False, False, "us", "available"),
    ("llama-z", "together", "Llama Z", "small", 131072, "0.2", "0.2", ["text"], False, True, "eu", "available"),
    ("mistral-m", "mistral", "Mistral M", "balanced", 32000, "2", "6", ["text"], False, True, "eu", "retired"),
]  # fmt: skip


def _insert(conn: Any, model: tuple[Any, ...]) -> None:
    canonical, provider, name, tier, context, price_in, price_out, modalities, vision, open_weights, region, state = (
        model
    )
    blended = (3 * Decimal(price_in) + Decimal(price_out)) / 4
    conn.execute(
        "insert into marts.mart_model_comparison (canonical_model_id, provider, provider_model_id, display_name, "
        "capability_tier, context_window, input_price_per_mtok, output_price_per_mtok, blended_price_per_mtok, "
        "input_modalities, output_modalities, supports_vision, open_weights, region, availability, "
        "price_source_count, prices_disagree, suspected_unit_error, is_in_catalog, is_available) "
        "values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, array['text'], %s, %s, %s, %s, 1, false, false, true, %s)",
        [
            *(canonical, provider, canonical, name, tier, context, Decimal(price_in), Decimal(price_out), blended),
            *(modalities, vision, open_weights, region, state, state == "available"),
        ],
    )


def _database(warehouse: Warehouse, database: str, models: list[tuple[Any, ...]] | None) -> Warehouse:
    own = Warehouse(replace(warehouse.settings, database=database))
    info = own.ensure_ready()
    with connect(info, autocommit=True) as conn:
        conn.execute("drop table if exists marts.mart_model_comparison")
        conn.execute("create schema if not exists marts")
        if models is not None:
            conn.execute(MART_DDL)
            for model in models:
                _insert(conn, model)
    own.ensure_roles()
    with connect(own.app_connection(), autocommit=True) as app:
        app.execute("delete from app.saved_views")
    return own


@pytest.fixture(scope="module")
def filled(warehouse: Warehouse) -> Warehouse:
    """A database whose comparison mart holds the models above, the roles granted."""
    return _database(warehouse, DATABASE, MODELS)


@pytest.fixture
def dashboard(filled: Warehouse, monkeypatch: pytest.MonkeyPatch) -> Iterator[Warehouse]:
    """The dashboard pointed at the filled database, with nothing cached from another test."""
    monkeypatch.setenv("MODELATLAS_WAREHOUSE_DATABASE", DATABASE)
    st.cache_data.clear()
    with connect(filled.app_connection(), autocommit=True) as app:
        app.execute("delete from app.saved_views")
    yield filled
    st.cache_data.clear()


def _app(**params: str | list[str]) -> AppTest:
    app = AppTest.from_file(str(APP_PATH), default_timeout=TIMEOUT_S)
    app.query_params.update(params)
    app.run()
    assert not app.exception, [exception.value for exception in app.exception]
    return app


def _shown(app: AppTest) -> list[str]:
    [table] = app.dataframe
    return list(table.value["display_name"])


def test_the_page_shows_every_model(dashboard: Warehouse) -> None:
    app = _app()
    assert app.title[0].value == "Compare models"
    assert _shown(app) == ["Claude X", "GPT Q", "GPT Q mini", "Llama Z", "Mistral M"]
    frame = app.dataframe[0].value
    assert frame.loc[frame["display_name"] == "Claude X", "blended_price_per_mtok"].item() == pytest.approx(6.0)
    assert "5 of 5 offerings" in app.caption[0].value
    assert app.query_params == {} and not app.warning and not app.error


def test_a_filter_narrows_the_table_and_goes_into_the_url(dashboard: Warehouse) -> None:
    app = _app()
    app.multiselect(key="f_provider").set_value(["openai"]).run()
    assert _shown(app) == ["GPT Q", "GPT Q mini"]
    app.selectbox(key="f_sort").set_value("input_price_per_mtok").run()
    app.toggle(key="f_desc").set_value(True).run()
    app.number_input(key="f_min_context_window").set_value(100000).run()
    app.text_input(key="f_q").input("q").run()
    assert _shown(app) == ["GPT Q", "GPT Q mini"]
    app.multiselect(key="f_input_modality").set_value(["image"]).run()
    assert _shown(app) == ["GPT Q"]
    assert app.query_params == {
        "provider": "openai",
        "input_modality": "image",
        "min_context_window": "100000",
        "q": "q",
        "sort": "input_price_per_mtok",
        "desc": "1",
    }
    # The link, opened in a new session, shows the same view.
    copied = _app(**app.query_params)
    assert _shown(copied) == ["GPT Q"]
    assert copied.multiselect(key="f_provider").value == ["openai"]
    assert copied.toggle(key="f_desc").value is True


def test_query_parameters_set_the_view(dashboard: Warehouse) -> None:
    app = _app(open_weights="yes", sort="context_window", desc="1", max_input_price="1", columns="display_name,region")
    assert _shown(app) == ["Llama Z"]
    assert list(app.dataframe[0].value.columns) == ["display_name", "region"]
    assert app.selectbox(key="f_open_weights").value == "open weights only"
    everything_open = _app(open_weights="yes", sort="context_window", desc="1")
    assert _shown(everything_open) == ["Llama Z", "Mistral M"]
    # Unknown and malformed parameters are ignored: the rest of the view stands.
    lenient = _app(provider=["mistral", "together"], sort="password", min_output_price="lots", utm_source="mail")
    assert _shown(lenient) == ["Llama Z", "Mistral M"]
    assert lenient.query_params == {"provider": ["mistral", "together"]}


def test_capability_tier_and_availability_filters(dashboard: Warehouse) -> None:
    assert _shown(_app(tier=["small", "balanced"], availability="available")) == ["GPT Q", "GPT Q mini", "Llama Z"]
    assert _shown(_app(capability="supports_vision", region="us")) == ["GPT Q"]
    app = _app(provider="nobody")
    assert _shown(app) == [] and "0 of 5 offerings" in app.caption[0].value


def test_a_saved_view_saves_loads_and_deletes(dashboard: Warehouse) -> None:
    app = _app(provider="openai", sort="blended_price_per_mtok")
    app.text_input(key="preset_name").input("cheap openai").run()
    app.button(key="preset_save").click().run()
    assert any("saved 'cheap openai'" in message.value for message in app.success)
    [view] = presets.list_views(dashboard.app_connection())
    assert view.name == "cheap openai" and view.state() == FilterState(
        providers=("openai",), sort="blended_price_per_mtok"
    )
    # Saving again under the name replaces it.
    app.multiselect(key="f_provider").set_value(["openai", "anthropic"]).run()
    app.button(key="preset_save").click().run()
    assert any("updated 'cheap openai'" in message.value for message in app.success)
    [updated] = presets.list_views(dashboard.app_connection())
    assert updated.state().providers == ("openai", "anthropic") and updated.updated_at > view.updated_at

    fresh = _app()
    assert len(_shown(fresh)) == 5
    fresh.selectbox(key="preset_choice").set_value("cheap openai")
    fresh.button(key="preset_load").click().run()
    assert _shown(fresh) == ["GPT Q mini", "GPT Q", "Claude X"]
    assert fresh.query_params == {"provider": ["openai", "anthropic"], "sort": "blended_price_per_mtok"}
    assert fresh.multiselect(key="f_provider").value == ["openai", "anthropic"]

    fresh.text_input(key="preset_name").input("everything").run()
    fresh.button(key="preset_save").click().run()
    assert [view.name for view in presets.list_views(dashboard.app_connection())] == ["cheap openai", "everything"]
    fresh.selectbox(key="preset_choice").set_value("cheap openai")
    fresh.button(key="preset_delete").click().run()
    assert not fresh.exception
    assert any("deleted 'cheap openai'" in message.value for message in fresh.success)
    assert [view.name for view in presets.list_views(dashboard.app_connection())] == ["everything"]
    assert fresh.selectbox(key="preset_choice").options == ["everything"]
    assert _shown(fresh) == ["GPT Q mini", "GPT Q", "Claude X"], "deleting a view keeps the view shown"


def test_a_missing_or_empty_mart_says_what_to_do(warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch) -> None:
    own = _database(warehouse, EMPTY_DATABASE, None)
    monkeypatch.setenv("MODELATLAS_WAREHOUSE_DATABASE", EMPTY_DATABASE)
    st.cache_data.clear()
    missing = _app()
    assert not missing.dataframe
    [warning] = missing.warning
    assert "does not exist" in warning.value and "make run SAMPLE=1" in warning.value
    with connect(own.connection(), autocommit=True) as conn:
        conn.execute(MART_DDL)
    st.cache_data.clear()
    empty = _app(provider="openai")
    assert not empty.dataframe
    [info] = empty.info
    assert "has no models yet" in info.value and "make run SAMPLE=1" in info.value
    st.cache_data.clear()


HOSTILE = "x'); drop table marts.mart_model_comparison; --"


def test_the_queries_run_as_the_reader_with_any_value(filled: Warehouse) -> None:
    info = filled.reader_connection()
    everything = FilterState(
        providers=(HOSTILE,),
        input_modalities=(HOSTILE,),
        regions=(HOSTILE,),
        search=HOSTILE,
        ranges={column: (Decimal(0), Decimal(10**12)) for column in RANGES},
        columns=tuple(COLUMNS),
    )
    assert fetch_view(info, everything).rows == []
    assert mart_rows(info) == len(MODELS)
    # The search is case-insensitive and takes LIKE's wildcards literally.
    assert [row[0] for row in fetch_view(info, FilterState(search="gpt q")).rows] == ["GPT Q", "GPT Q mini"]
    assert fetch_view(info, FilterState(search="gpt_q")).rows == []
    assert fetch_view(info, FilterState(search="%")).rows == []
    for column in SORTABLE:
        for descending in (False, True):
            table = fetch_view(info, FilterState(sort=column, descending=descending, columns=tuple(COLUMNS)))
            assert len(table.rows) == len(MODELS) and table.columns == list(COLUMNS), column
    limited = fetch_view(info, FilterState(sort="context_window", descending=True), limit=2)
    assert limited.truncated and [row[0] for row in limited.rows] == ["Claude X", "Llama Z"]
    options = filter_options(info)
    assert options.providers == ["anthropic", "mistral", "openai", "together"]
    assert options.regions == ["eu", "global", "us"]
    assert options.input_modalities == ["image", "text"] and options.output_modalities == ["text"]
    assert info.user == "modelatlas_reader"


def test_the_csv_download_is_the_table_shown(dashboard: Warehouse, monkeypatch: pytest.MonkeyPatch) -> None:
    offered: list[str] = []
    original = st.download_button

    def download_button(label: str, data: str, **kwargs: Any) -> Any:
        offered.append(data)
        return original(label, data, **kwargs)

    monkeypatch.setattr(st, "download_button", download_button)
    app = _app(provider="openai", columns="display_name,input_modalities,input_price_per_mtok,open_weights")
    assert app.download_button(key="csv_download").label == "Download CSV"
    shown = app.dataframe[0].value
    rows = list(csv.reader(io.StringIO(offered[-1])))
    assert (
        rows[0] == list(shown.columns) == ["display_name", "input_modalities", "input_price_per_mtok", "open_weights"]
    )
    assert rows[1:] == [["GPT Q", "text, image", "0.15", "false"], ["GPT Q mini", "text", "0.05", "false"]]
    assert [row[0] for row in rows[1:]] == list(shown["display_name"])
