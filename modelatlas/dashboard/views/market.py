"""Market: monthly price trends by capability tier, the basket price index, and a live feed of the latest price
changes and of the models that arrived or are retiring. Redraws every refresh interval."""

from __future__ import annotations

import plotly.express as px
import streamlit as st

from modelatlas.dashboard import live, market_data, marts
from modelatlas.dashboard.market_data import (
    COMPARISON,
    FEED_ROWS,
    MODELS,
    PRICE_CHANGES,
    PRICE_INDEX,
    PRICE_TRENDS,
    RETIRED_WITHIN_DAYS,
    RETIRING_ROWS,
    TREND_MONTHS,
    TREND_PRICES,
)
from modelatlas.dashboard.marts import HOW_TO_BUILD
from modelatlas.dashboard.queries import TIERS
from modelatlas.errors import ModelAtlasError
from modelatlas.warehouse import ConnectionInfo

TIER_ORDER = [*TIERS, "unclassified"]


def _trends(info: ConnectionInfo) -> None:
    providers = [row[0] for row in marts.cached_fetch(info, market_data.trend_providers, limit=1000).rows]
    provider_column, price_column, months_column = st.columns([3, 2, 2])
    provider = provider_column.selectbox("Provider", providers, key="market_provider")
    price = price_column.radio("Price", list(TREND_PRICES), key="market_price", horizontal=True)
    months = months_column.selectbox(
        "Months", TREND_MONTHS, index=1, key="market_months", format_func=lambda months: f"last {months}"
    )
    if provider is None:
        return
    trends = marts.frame(marts.cached_fetch(info, market_data.price_trends, provider, price, months, limit=5000))
    figure = px.line(
        trends,
        x="price_month",
        y="median_price_per_mtok",
        color="capability_tier",
        markers=True,
        category_orders={"capability_tier": TIER_ORDER},
        hover_data=["min_price_per_mtok", "max_price_per_mtok", "model_count", "cheapest_model_id"],
        labels={
            "price_month": "Month",
            "median_price_per_mtok": f"Median {price} price (USD / Mtok)",
            "capability_tier": "Capability tier",
            "min_price_per_mtok": "Lowest",
            "max_price_per_mtok": "Highest",
            "model_count": "Models",
            "cheapest_model_id": "Cheapest model",
        },
        title=f"Median {price} price by capability tier: {provider}",
    )
    st.plotly_chart(figure, key="market_trends_chart")


def _index(info: ConnectionInfo) -> None:
    index = marts.frame(marts.cached_fetch(info, market_data.price_index, limit=1200))
    priced = index[index["price_index"].notna()]
    if priced.empty:
        st.info(
            "No month prices enough of the basket yet for an index: it needs the price history of the basket's "
            "models (the `price_index_basket` seed)."
        )
        return
    figure = px.line(
        priced,
        x="price_month",
        y="price_index",
        markers=True,
        hover_data=["items_priced", "basket_item_count", "basket_cost_usd"],
        labels={
            "price_month": "Month",
            "price_index": "Price index (base month = 100)",
            "items_priced": "Basket items priced",
            "basket_item_count": "Basket items",
            "basket_cost_usd": "Basket cost (USD)",
        },
        title="Basket price index",
    )
    figure.update_xaxes(
        range=marts.day_axis(priced["price_month"].min(), priced["price_month"].max(), pad_days=15),
        tickformat="%b %Y",
        dtick="M1",
    )
    st.plotly_chart(figure, key="market_index_chart")


def _price_changes(info: ConnectionInfo) -> None:
    changes = marts.cached_fetch(info, market_data.latest_price_changes, limit=FEED_ROWS)
    st.caption(f"The {len(changes.rows)} price changes detected most recently, newest first.")
    st.dataframe(
        marts.frame(changes),
        hide_index=True,
        key="market_price_changes",
        column_config={
            "detected_at": st.column_config.DatetimeColumn("Detected", format="YYYY-MM-DD HH:mm"),
            "changed_at": st.column_config.DatetimeColumn("In effect from", format="YYYY-MM-DD"),
            "old_price_usd": st.column_config.NumberColumn("Old (USD)", format="%.4f"),
            "new_price_usd": st.column_config.NumberColumn("New (USD)", format="%.4f"),
            "price_change_pct": st.column_config.NumberColumn("Change %", format="%+.1f"),
        },
    )


def _new_models(info: ConnectionInfo) -> None:
    models = marts.cached_fetch(info, market_data.new_models, limit=FEED_ROWS)
    st.caption(f"The {len(models.rows)} models ModelAtlas saw first most recently in a provider catalog.")
    st.dataframe(
        marts.frame(models),
        hide_index=True,
        key="market_new_models",
        column_config={"first_seen_at": st.column_config.DatetimeColumn("First seen", format="YYYY-MM-DD HH:mm")},
    )


def _retiring(info: ConnectionInfo) -> None:
    retiring = marts.cached_fetch(info, market_data.retiring_models, RETIRED_WITHIN_DAYS, limit=RETIRING_ROWS)
    if not retiring.rows:
        st.info(f"No offering retires from now on, and none retired in the last {RETIRED_WITHIN_DAYS} days.")
        return
    st.caption(
        f"Offerings with a retirement date from {RETIRED_WITHIN_DAYS} days ago on, the soonest first "
        "(days left below 0: retired that many days ago)."
    )
    st.dataframe(
        marts.frame(retiring),
        hide_index=True,
        key="market_retiring",
        column_config={"days_left": st.column_config.NumberColumn("Days left")},
    )


def draw(info: ConnectionInfo) -> None:
    """The page's live part."""
    try:
        states = marts.cached_mart_states(info, market_data.MARTS)
    except ModelAtlasError as exc:
        st.error(f"The warehouse cannot be read: {exc}")
        return
    if marts.all_absent(states):
        st.warning(
            f"The price marts ({', '.join(f'`{mart}`' for mart in market_data.MARTS)}) are not built in "
            f"{info.database} yet, or hold no rows. {HOW_TO_BUILD}"
        )
        return
    sections = (
        ("Price trends by capability tier", PRICE_TRENDS, _trends),
        ("Price index", PRICE_INDEX, _index),
        ("Latest price changes", PRICE_CHANGES, _price_changes),
        ("New models", MODELS, _new_models),
        ("Retiring models", COMPARISON, _retiring),
    )
    for title, mart, section in sections:
        if not marts.section(title, mart, states, info.database, HOW_TO_BUILD):
            continue
        try:
            section(info)
        except ModelAtlasError as exc:
            st.error(f"The warehouse cannot be read: {exc}")


def main() -> None:
    """Draw the page."""
    live.page("Market", draw)


main()
