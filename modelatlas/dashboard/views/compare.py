"""Compare: `mart_model_comparison` as a table with filters, sort, a column chooser, CSV export and saved views.

The URL's query parameters hold the whole view: the widgets start from them in a new session, and every change of
a widget is written back, so a copied link opens the same view.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

import pandas as pd
import streamlit as st

from modelatlas.dashboard import data, models_data, presets
from modelatlas.dashboard.queries import (
    AVAILABILITIES,
    CAPABILITY_FLAGS,
    COLUMNS,
    RANGES,
    ROW_LIMIT,
    SORTABLE,
    TIERS,
    FilterState,
    from_query_params,
    to_csv,
    to_query_params,
)
from modelatlas.errors import ModelAtlasError

# Widget keys of the list filters, and the state field each sets.
LIST_WIDGETS = {
    "f_provider": "providers",
    "f_tier": "tiers",
    "f_capability": "capabilities",
    "f_input_modality": "input_modalities",
    "f_output_modality": "output_modalities",
    "f_region": "regions",
    "f_availability": "availability",
}
OPEN_WEIGHTS = {"any": None, "open weights only": True, "closed weights only": False}
RANGE_LABELS = {
    "context_window": "Context window (tokens)",
    "input_price_per_mtok": "Input price (USD / Mtok)",
    "output_price_per_mtok": "Output price (USD / Mtok)",
    "blended_price_per_mtok": "Blended price (USD / Mtok)",
    "availability_30d_pct": "Availability, 30 days (%)",
}
INITIALISED = "compare_initialised"
PRESET_MESSAGE = "compare_preset_message"


def label(column: str) -> str:
    """A column's header: its name in words."""
    return column.replace("_per_mtok", " (USD/Mtok)").replace("_pct", " %").replace("_", " ").capitalize()


def _url_params() -> dict[str, list[str]]:
    return {name: st.query_params.get_all(name) for name in st.query_params}


def _same_params(current: dict[str, list[str]], wanted: dict[str, str | list[str]]) -> bool:
    return current == {name: [value] if isinstance(value, str) else value for name, value in wanted.items()}


def _set_widgets(state: FilterState) -> None:
    """Put a view's values into the widgets (before they are drawn: at the start of a session or in a callback)."""
    for key, state_field in LIST_WIDGETS.items():
        st.session_state[key] = list(getattr(state, state_field))
    st.session_state["f_open_weights"] = next(
        name for name, value in OPEN_WEIGHTS.items() if value == state.open_weights
    )
    for column in RANGES:
        low, high = state.ranges.get(column, (None, None))
        st.session_state[f"f_min_{column}"] = _widget_number(column, low)
        st.session_state[f"f_max_{column}"] = _widget_number(column, high)
    st.session_state["f_q"] = state.search
    st.session_state["f_sort"] = state.sort
    st.session_state["f_desc"] = state.descending
    st.session_state["f_columns"] = list(state.columns)


def _widget_number(column: str, value: Decimal | None) -> int | float | None:
    if value is None:
        return None
    return int(value) if COLUMNS[column] == "integer" else float(value)


def _bound(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def _multiselect(key: str, title: str, choices: list[str], **kwargs: Any) -> None:
    selected = st.session_state.get(key, [])
    st.multiselect(title, [*choices, *(value for value in selected if value not in choices)], key=key, **kwargs)


def _filters(options: data.FilterOptions) -> FilterState:
    """The filter widgets (in the sidebar) and the view they describe."""
    sidebar = st.sidebar
    with sidebar:
        st.text_input("Search model names", key="f_q", placeholder="e.g. claude, gpt-4o")
        _multiselect("f_provider", "Provider", options.providers)
        _multiselect("f_tier", "Capability tier", list(TIERS))
        _multiselect("f_capability", "Capabilities (all of)", list(CAPABILITY_FLAGS), format_func=label)
        _multiselect("f_input_modality", "Reads (all of)", options.input_modalities)
        _multiselect("f_output_modality", "Produces (all of)", options.output_modalities)
        st.selectbox("Weights", list(OPEN_WEIGHTS), key="f_open_weights")
        _multiselect("f_region", "Region", options.regions)
        _multiselect("f_availability", "Availability", list(AVAILABILITIES))
        for column, title in RANGE_LABELS.items():
            whole = COLUMNS[column] == "integer"
            low, high = st.columns(2)
            number: dict[str, Any] = {"min_value": 0, "step": 1000} if whole else {"min_value": 0.0, "format": "%.4f"}
            low.number_input(f"{title} from", value=None, key=f"f_min_{column}", **number)
            high.number_input("to", value=None, key=f"f_max_{column}", **number)
    ranges = {
        column: (_bound(st.session_state[f"f_min_{column}"]), _bound(st.session_state[f"f_max_{column}"]))
        for column in RANGES
    }
    return FilterState(
        **{state_field: tuple(st.session_state[key]) for key, state_field in LIST_WIDGETS.items()},
        open_weights=OPEN_WEIGHTS[st.session_state["f_open_weights"]],
        ranges=ranges,
        search=st.session_state["f_q"],
        sort=st.session_state["f_sort"],
        descending=st.session_state["f_desc"],
        columns=tuple(st.session_state["f_columns"]),
    )


def _table_controls() -> None:
    sort, direction, columns = st.columns([2, 1, 5])
    sort.selectbox("Sort by", list(SORTABLE), key="f_sort", format_func=label)
    direction.toggle("Descending", key="f_desc")
    columns.multiselect("Columns", list(COLUMNS), key="f_columns", format_func=label)


def _frame(table: data.Table) -> pd.DataFrame:
    """The rows as the table shows them: decimals as floats, arrays as lists."""
    rows = [[float(value) if isinstance(value, Decimal) else value for value in row] for row in table.rows]
    return pd.DataFrame(rows, columns=table.columns)


def _load(name: str) -> None:
    try:
        views = {view.name: view for view in presets.list_views(data.app_role())}
    except (ModelAtlasError, ValueError) as exc:
        st.session_state[PRESET_MESSAGE] = ("error", str(exc))
        return
    view = views.get(name)
    if view is None:
        st.session_state[PRESET_MESSAGE] = ("error", f"there is no saved view named {name!r} any more")
        return
    state = view.state()
    st.query_params.from_dict(to_query_params(state))
    _set_widgets(state)
    st.session_state[PRESET_MESSAGE] = ("success", f"loaded {name!r}")


def _save(state: FilterState) -> None:
    name = st.session_state.get("preset_name", "")
    try:
        created = presets.save_view(data.app_role(), name, state)
    except (ModelAtlasError, ValueError) as exc:
        st.session_state[PRESET_MESSAGE] = ("error", str(exc))
        return
    cleaned = presets.clean_name(name)
    st.session_state[PRESET_MESSAGE] = ("success", f"saved {cleaned!r}" if created else f"updated {cleaned!r}")


def _delete(name: str) -> None:
    try:
        deleted = presets.delete_view(data.app_role(), name)
    except ModelAtlasError as exc:
        st.session_state[PRESET_MESSAGE] = ("error", str(exc))
        return
    st.session_state[PRESET_MESSAGE] = ("success", f"deleted {name!r}") if deleted else ("error", f"no view {name!r}")


def _saved_views(state: FilterState) -> None:
    with st.expander("Saved views", expanded=PRESET_MESSAGE in st.session_state):
        message = st.session_state.pop(PRESET_MESSAGE, None)
        if message:
            (st.success if message[0] == "success" else st.error)(message[1])
        try:
            names = [view.name for view in presets.list_views(data.app_role())]
        except ModelAtlasError as exc:
            st.error(f"Saved views are not available: {exc}")
            return
        save, choose = st.columns(2)
        with save:
            st.text_input("Save this view as", key="preset_name", max_chars=presets.MAX_NAME_LENGTH)
            st.button("Save", key="preset_save", on_click=_save, args=(state,))
        with choose:
            if not names:
                st.caption("No saved views yet.")
                return
            choice = st.selectbox("Saved view", names, key="preset_choice")
            load, delete = st.columns(2)
            load.button("Load", key="preset_load", on_click=_load, args=(choice,))
            delete.button("Delete", key="preset_delete", on_click=_delete, args=(choice,))


def main() -> None:
    """Draw the page."""
    st.title("Compare models")
    try:
        info = data.reader()
        rows = data.cached_mart_rows(info)
    except ModelAtlasError as exc:
        st.error(f"The warehouse cannot be read: {exc}")
        return
    if rows is None:
        st.warning(
            f"The comparison mart (`marts.mart_model_comparison`) does not exist in {info.database} yet. "
            f"{models_data.HOW_TO_BUILD}"
        )
        return
    if rows == 0:
        st.info(
            f"The comparison mart (`marts.mart_model_comparison`) in {info.database} has no models yet. "
            f"{models_data.HOW_TO_BUILD}"
        )
        return
    if not st.session_state.get(INITIALISED):
        _set_widgets(from_query_params(_url_params()))
        st.session_state[INITIALISED] = True
    try:
        options = data.cached_filter_options(info)
    except ModelAtlasError as exc:
        st.error(f"The warehouse cannot be read: {exc}")
        return
    _table_controls()
    state = _filters(options)
    wanted = to_query_params(state)
    if not _same_params(_url_params(), wanted):
        st.query_params.from_dict(wanted)
    try:
        keyed = data.cached_view(info, replace(state, columns=models_data.with_link_keys(state.columns)))
        table, links = models_data.split_links(keyed, state.columns)
    except ModelAtlasError as exc:
        st.error(f"The warehouse cannot be read: {exc}")
        return
    shown = f"{len(table.rows)} of {rows} offerings"
    if table.truncated:
        shown = f"the first {ROW_LIMIT} matching offerings of {rows}: narrow the filters to see the others"
    st.caption(shown)
    st.dataframe(
        _frame(table).set_axis(links),
        column_config={
            "_index": st.column_config.LinkColumn("", display_text=":material/open_in_new:", help="The model's page"),
            **{column: st.column_config.Column(label(column)) for column in table.columns},
        },
    )
    st.download_button(
        "Download CSV",
        to_csv(table.columns, table.rows),
        file_name="model_comparison.csv",
        mime="text/csv",
        key="csv_download",
        on_click="ignore",
    )
    _saved_views(state)


main()
