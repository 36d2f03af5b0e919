"""The start shared by the pages of one offering or a few (Model, Side by side): the reader and the catalog of
offerings, or the reason the page cannot draw."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from modelatlas.dashboard import data
from modelatlas.dashboard import models_data as md
from modelatlas.errors import ModelAtlasError
from modelatlas.warehouse import ConnectionInfo


@dataclass(frozen=True)
class Offerings:
    """What a page of offerings starts from: the read-only connection, the marts that exist, the offerings."""

    info: ConnectionInfo
    present: frozenset[str]
    catalog: md.Catalog


def catalog_or_explain() -> Offerings | None:
    """The read-only connection, the marts there are and the comparison mart's offerings; None once the page said
    why it cannot draw."""
    try:
        info = data.reader()
        present = md.existing_marts(info)
        if md.COMPARISON not in present:
            st.warning(md.missing_mart(md.COMPARISON, "The comparison mart", info.database))
            return None
        catalog = md.catalog(info)
    except ModelAtlasError as exc:
        st.error(f"The warehouse cannot be read: {exc}")
        return None
    if not catalog.by_model:
        st.info(
            f"The comparison mart (`marts.{md.COMPARISON}`) in {info.database} has no models yet. {md.HOW_TO_BUILD}"
        )
        return None
    return Offerings(info, present, catalog)
