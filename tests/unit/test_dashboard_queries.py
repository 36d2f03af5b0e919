"""The compare page's pure logic: the URL that carries a view, the SQL it runs, its CSV, saved views' jsonb."""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from psycopg import sql

from modelatlas.dashboard import presets
from modelatlas.dashboard.queries import (
    AVAILABILITIES,
    CAPABILITY_FLAGS,
    COLUMNS,
    DEFAULT_COLUMNS,
    DEFAULT_SORT,
    MART,
    MART_SCHEMA,
    RANGES,
    SORTABLE,
    TIERS,
    FilterState,
    build_query,
    from_query_params,
    normalize,
    to_csv,
    to_query_params,
)
from modelatlas.dashboard.settings import dashboard_settings, streamlit_command
from modelatlas.errors import ConfigurationError
from modelatlas.settings import PROJECT_ROOT

MART_YAML = PROJECT_ROOT / "dbt_project/models/marts/mart_model_comparison.yml"

texts = st.text(min_size=0, max_size=30)


def _bound() -> st.SearchStrategy[Decimal | None]:
    return st.one_of(
        st.none(),
        st.decimals(min_value=0, max_value=10**12, allow_nan=False, allow_infinity=False, places=6),
        st.integers(min_value=0, max_value=10**9).map(Decimal),
    )


states = st.builds(
    FilterState,
    providers=st.lists(texts, max_size=4).map(tuple),
    tiers=st.lists(st.sampled_from([*TIERS, "bogus"]), max_size=3).map(tuple),
    capabilities=st.lists(st.sampled_from([*CAPABILITY_FLAGS, "supports_flying"]), max_size=3).map(tuple),
    input_modalities=st.lists(texts, max_size=3).map(tuple),
    output_modalities=st.lists(texts, max_size=3).map(tuple),
    open_weights=st.sampled_from([None, True, False]),
    regions=st.lists(texts, max_size=3).map(tuple),
    availability=st.lists(st.sampled_from([*AVAILABILITIES, "gone"]), max_size=3).map(tuple),
    ranges=st.dictionaries(st.sampled_from([*RANGES, "license"]), st.tuples(_bound(), _bound()), max_size=4),
    search=st.text(max_size=250),
    sort=st.sampled_from([*SORTABLE, "input_modalities", "drop table"]),
    descending=st.booleans(),
    columns=st.lists(st.sampled_from([*COLUMNS, "nope"]), max_size=8).map(tuple),
)
garbage = st.dictionaries(
    st.one_of(
        st.sampled_from(
            [
                *("provider", "tier", "capability", "open_weights", "min_input_price", "max_context_window", "q"),
                *("sort", "desc", "columns", "min_availability_30d", "region", "availability", "input_modality"),
            ]
        ),
        texts,
    ),
    st.one_of(texts, st.lists(texts, max_size=3)),
    max_size=10,
)


@given(states)
def test_a_view_survives_its_url(state: FilterState) -> None:
    view = normalize(state)
    assert from_query_params(to_query_params(view)) == view
    assert normalize(view) == view


@given(garbage)
def test_any_url_gives_a_view_that_survives_its_own_url(params: dict[str, Any]) -> None:
    view = from_query_params(params)
    assert view.sort in SORTABLE and view.columns and set(view.columns) <= set(COLUMNS)
    assert from_query_params(to_query_params(view)) == view


def test_unknown_and_malformed_parameters_are_ignored() -> None:
    view = from_query_params(
        {
            "provider": ["openai", " anthropic ", "openai", ""],
            "tier": ["frontier", "legendary"],
            "capability": "supports_time_travel",
            "open_weights": "maybe",
            "min_input_price": "-1",
            "max_input_price": "1e400",
            "min_context_window": "128000",
            "max_output_price": "0.75",
            "sort": "provider; drop table marts.mart_model_comparison",
            "desc": "yes",
            "columns": "display_name,password,provider",
            "utm_source": "newsletter",
        }
    )
    assert view == FilterState(
        providers=("openai", "anthropic"),
        tiers=("frontier",),
        ranges={"context_window": (Decimal(128000), None), "output_price_per_mtok": (None, Decimal("0.75"))},
        columns=("display_name", "provider"),
    )
    assert from_query_params({}) == FilterState()
    assert to_query_params(FilterState()) == {}


def test_the_url_says_only_what_differs_from_the_defaults() -> None:
    view = FilterState(
        providers=("openai",),
        capabilities=("supports_vision",),
        open_weights=False,
        ranges={"context_window": (Decimal(200000), None)},
        sort="blended_price_per_mtok",
        descending=True,
    )
    assert to_query_params(view) == {
        "provider": ["openai"],
        "capability": ["supports_vision"],
        "open_weights": "no",
        "min_context_window": "200000",
        "sort": "blended_price_per_mtok",
        "desc": "1",
    }


def test_columns_are_the_documented_ones() -> None:
    documented = [
        line.strip().removeprefix("- name: ")
        for line in MART_YAML.read_text().split("unit_tests:")[0].splitlines()
        if line.startswith("      - name: ")
    ]
    assert list(COLUMNS) == documented
    assert set(DEFAULT_COLUMNS) <= set(COLUMNS) and DEFAULT_SORT in SORTABLE


def _parts(composed: sql.Composable) -> list[sql.Composable]:
    if isinstance(composed, sql.Composed):
        return [part for child in composed for part in _parts(child)]
    return [composed]


def _sql_text(composed: sql.Composable) -> str:
    """The statement's fixed text, identifiers as markers: no connection needed."""
    pieces = []
    for part in _parts(composed):
        if isinstance(part, sql.SQL):
            pieces.append(part.as_string())
        elif isinstance(part, sql.Identifier):
            pieces.append("<" + part.as_string().replace('"', "") + ">")
        else:
            raise AssertionError(f"a value is in the statement, not a parameter: {part!r}")
    return "".join(pieces)


HOSTILE = "x'); drop table marts.mart_model_comparison; --"


def test_every_value_a_user_gives_is_a_parameter() -> None:
    view = FilterState(
        providers=(HOSTILE, "openai"),
        tiers=("frontier",),
        capabilities=("supports_tools", "supports_vision"),
        input_modalities=(HOSTILE,),
        output_modalities=("text",),
        open_weights=True,
        regions=(HOSTILE,),
        availability=("available",),
        ranges={column: (Decimal(1), Decimal(2)) for column in RANGES},
        search=HOSTILE + "%_\\",
        sort="input_price_per_mtok",
        descending=True,
        columns=tuple(COLUMNS),
    )
    query, params = build_query(view, limit=50)
    text = _sql_text(query)
    assert "drop" not in text and "x'" not in text
    assert text.count("%s") == len(params)
    identifiers = {part.as_string() for part in _parts(query) if isinstance(part, sql.Identifier)}
    assert identifiers <= {*(f'"{column}"' for column in COLUMNS), f'"{MART_SCHEMA}"."{MART}"'}
    assert [HOSTILE, "openai"] in params and [HOSTILE] in params and params[-1] == 50
    # The search matches its text literally: LIKE's wildcards and escape are escaped.
    assert "%x'); drop table marts.mart\\_model\\_comparison; --\\%\\_\\\\%" in params
    assert "order by <input_price_per_mtok> desc nulls last" in text
    assert text.startswith("select <canonical_model_id>, <provider>, ")


def test_no_filters_select_everything_in_a_stable_order() -> None:
    query, params = build_query(FilterState(columns=("display_name",)))
    assert _sql_text(query) == (
        "select <display_name> from <marts.mart_model_comparison> where true "
        "order by <display_name> asc nulls last, <canonical_model_id>, <provider> limit %s"
    )
    assert params == [5000]


@pytest.mark.parametrize("sort", ["input_modalities", "price", "display_name; drop table x", ""])
def test_sorting_takes_only_a_sortable_column_of_the_mart(sort: str) -> None:
    with pytest.raises(ValueError, match="cannot sort by"):
        build_query(FilterState(sort=sort))


def test_columns_and_ranges_outside_the_mart_are_refused() -> None:
    with pytest.raises(ValueError, match="not a column"):
        build_query(FilterState(columns=("display_name", "pg_read_file('/etc/passwd')")))
    with pytest.raises(ValueError, match="no range"):
        build_query(FilterState(ranges={"license": (Decimal(1), None)}))
    with pytest.raises(ValueError, match="not a capability"):
        build_query(FilterState(capabilities=("is_admin",)))


def test_csv_has_exactly_the_columns_and_rows_shown() -> None:
    columns = ["display_name", "input_modalities", "input_price_per_mtok", "open_weights", "release_date"]
    rows = [
        ("Claude X, the big one", ["text", "image"], Decimal("3.000000000000000000"), False, date(2025, 1, 1)),
        ('GPT "Q"', None, Decimal("0.150000000000000000"), None, None),
        ("Zeta", [], Decimal("0E-18"), True, None),
    ]
    text = to_csv(columns, rows)
    assert list(csv.reader(io.StringIO(text))) == [
        columns,
        ["Claude X, the big one", "text, image", "3", "false", "2025-01-01"],
        ['GPT "Q"', "", "0.15", "", ""],
        ["Zeta", "", "0", "true", ""],
    ]
    assert to_csv(["provider"], []) == "provider\n"


@given(states)
def test_a_saved_view_keeps_the_view(state: FilterState) -> None:
    view = normalize(state)
    assert presets.state_from_json(presets.state_to_json(view)) == view


def test_a_stored_view_that_is_not_a_view_loads_the_defaults() -> None:
    assert presets.state_from_json(None) == FilterState()
    assert presets.state_from_json(["provider", "openai"]) == FilterState()
    assert presets.state_from_json({"provider": ["openai", 3], "desc": 1, "sort": {"x": 1}}) == FilterState(
        providers=("openai",)
    )


def test_view_names_are_trimmed_and_required() -> None:
    assert presets.clean_name("  cheap   vision ") == "cheap vision"
    with pytest.raises(ValueError, match="name"):
        presets.clean_name("   ")
    with pytest.raises(ValueError, match="at most"):
        presets.clean_name("x" * 101)


def test_dashboard_settings_and_command() -> None:
    settings = dashboard_settings({})
    assert (settings.host, settings.port, settings.refresh_s) == ("127.0.0.1", 8501, 30.0)
    custom = dashboard_settings(
        {
            "MODELATLAS_DASHBOARD_HOST": "0.0.0.0",
            "MODELATLAS_DASHBOARD_PORT": "9000",
            "MODELATLAS_DASHBOARD_REFRESH_S": "5",
        }
    )
    assert (custom.host, custom.port, custom.refresh_s) == ("0.0.0.0", 9000, 5.0)
    with pytest.raises(ConfigurationError, match="MODELATLAS_DASHBOARD_PORT"):
        dashboard_settings({"MODELATLAS_DASHBOARD_PORT": "web"})
    with pytest.raises(ConfigurationError, match="MODELATLAS_DASHBOARD_REFRESH_S"):
        dashboard_settings({"MODELATLAS_DASHBOARD_REFRESH_S": "0"})
    command = streamlit_command("127.0.0.1", 8600)
    assert command[1:3] == ["run", command[2]] and command[2].endswith("modelatlas/dashboard/app.py")
    assert command[3:] == [
        "--server.address",
        "127.0.0.1",
        "--server.port",
        "8600",
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
    ]
