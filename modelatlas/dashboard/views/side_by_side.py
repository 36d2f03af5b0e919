"""Side by side: 2 to 4 offerings in one matrix (every attribute, price, tier and source), the differences highlighted.

The URL holds the choice as repeated `model` parameters (`<canonical_model_id>`, or `<canonical_model_id>@<provider>`
for a model several providers offer) and `diff=1` for only the rows that differ; the widgets mirror it.
"""

from __future__ import annotations

from datetime import UTC, datetime

import streamlit as st

from modelatlas.dashboard import models_data as md
from modelatlas.dashboard.offerings import catalog_or_explain
from modelatlas.errors import ModelAtlasError
from modelatlas.warehouse import ConnectionInfo

PICKER = "sbs_offerings"
ONLY_DIFFERENCES = "sbs_only_differences"
EXAMPLE = "?model=gpt-4o@openai&model=claude-sonnet-4-5@anthropic"


def _write_url(catalog: md.Catalog) -> None:
    """Put the widgets' choice into the URL (the widgets are set from it on the next run)."""
    chosen = [md.parse_offering(key, catalog) for key in st.session_state[PICKER]]
    offerings = [offering for offering in chosen if offering is not None]
    st.query_params.from_dict(md.side_by_side_params(offerings, catalog, bool(st.session_state[ONLY_DIFFERENCES])))


def _picker(catalog: md.Catalog, selection: md.Selection, only_differences: bool) -> None:
    labels = {
        choice.offering.key: f"{choice.label} ({choice.offering.canonical_model_id})" for choice in catalog.choices()
    }
    st.session_state[PICKER] = [offering.key for offering in selection.offerings]
    st.session_state[ONLY_DIFFERENCES] = only_differences
    st.multiselect(
        f"Models ({md.MIN_OFFERINGS} to {md.MAX_OFFERINGS}): a model at one provider each",
        list(labels),
        key=PICKER,
        format_func=lambda key: labels.get(key, key),
        max_selections=md.MAX_OFFERINGS,
        placeholder="Type a model or provider name",
        on_change=_write_url,
        args=(catalog,),
    )
    st.toggle("Only the rows that differ", key=ONLY_DIFFERENCES, on_change=_write_url, args=(catalog,))


def _notes(selection: md.Selection, catalog: md.Catalog) -> None:
    if selection.unknown:
        st.warning(
            "Not in the comparison mart, so left out: "
            + ", ".join(f"`{value}`" for value in selection.unknown)
            + ". Use a canonical model id, with `@<provider>` for one provider's offering."
        )
    if selection.over_limit:
        st.warning(
            f"At most {md.MAX_OFFERINGS} models fit side by side; left out: "
            + ", ".join(f"`{md.offering_param(offering, catalog)}`" for offering in selection.over_limit)
        )
    if catalog.truncated:
        st.caption(f"The picker lists the first {md.OPTION_LIMIT} offerings.")


def _matrix(info: ConnectionInfo, choices: list[md.OfferingChoice], present: frozenset[str]) -> md.Matrix:
    offerings = [choice.offering for choice in choices]
    attributes = md.comparison_attributes(info, offerings)
    points: list[md.PricePoint] = []
    if md.TIMELINE in present and md.HISTORY in present:
        points = md.to_price_points(md.price_points(info, offerings, current_only=True))
    else:
        st.info(
            f"The price history (`marts.{md.TIMELINE}`) is not built, so the price list is left out. {md.HOW_TO_BUILD}"
        )
    consensus: list[md.ConsensusPrice] = []
    if md.CONSENSUS in present:
        consensus = md.consensus_prices(info, offerings)
    else:
        st.info(
            f"The price consensus (`marts.{md.CONSENSUS}`) is not built, so the sources are left out. {md.HOW_TO_BUILD}"
        )
    return md.feature_matrix(choices, attributes, points, consensus, datetime.now(UTC))


def _show(matrix: md.Matrix, only_differences: bool) -> None:
    frame = md.matrix_frame(matrix, only_differences)
    differing = sum(row.differs for row in matrix.rows)
    st.caption(
        f"{differing} of {len(matrix.rows)} rows differ, highlighted. Prices are in USD; the price list shows every "
        "component, service tier, condition and region priced now or announced, and the source each price comes from."
    )
    st.dataframe(
        frame.style.apply(md.highlight_styles, axis=None),
        hide_index=True,
        height=min(38 + 35 * len(frame), 1600),
        column_config={
            "Differs": st.column_config.CheckboxColumn("Differs", help="The models' values are not all the same"),
        },
        key="sbs_matrix",
    )


def _links(choices: list[md.OfferingChoice], catalog: md.Catalog) -> None:
    columns = st.columns(len(choices))
    for column, choice in zip(columns, choices, strict=True):
        column.page_link(
            "views/model.py",
            label=f"{choice.label}: model page",
            icon=":material/insights:",
            query_params=md.model_page_params(choice.offering, catalog),
        )


def main() -> None:
    """Draw the page."""
    st.title("Side by side")
    loaded = catalog_or_explain()
    if loaded is None:
        return
    info, present, catalog = loaded.info, loaded.present, loaded.catalog
    selection = md.select_offerings(st.query_params.get_all("model"), catalog)
    only_differences = st.query_params.get("diff") == "1"
    _notes(selection, catalog)
    _picker(catalog, selection, only_differences)
    choices = [choice for offering in selection.offerings if (choice := catalog.choice(offering)) is not None]
    if len(choices) < md.MIN_OFFERINGS:
        st.info(
            f"Choose {md.MIN_OFFERINGS} to {md.MAX_OFFERINGS} models above to see them side by side "
            f"({len(choices)} chosen). A link can choose them too: `{EXAMPLE}`."
        )
        return
    try:
        matrix = _matrix(info, choices, present)
    except ModelAtlasError as exc:
        st.error(f"The warehouse cannot be read: {exc}")
        return
    _show(matrix, only_differences)
    _links(choices, catalog)


main()
