"""The market page's queries: price trends by capability tier, the price index, the latest price changes, and the
models that arrived or are retiring."""

from __future__ import annotations

from psycopg import sql

from modelatlas.dashboard.marts import Query, query, table

PRICE_TRENDS = "mart_price_trends"
PRICE_INDEX = "mart_price_index"
PRICE_CHANGES = "fct_price_changes"
MODELS = "dim_models"
COMPARISON = "mart_model_comparison"
MARTS = (PRICE_TRENDS, PRICE_INDEX, PRICE_CHANGES, MODELS, COMPARISON)

# The price a trend line follows, and the columns of its median, lowest and highest.
TREND_PRICES: dict[str, tuple[str, str, str]] = {
    "input": ("median_input_price_per_mtok", "min_input_price_per_mtok", "max_input_price_per_mtok"),
    "output": ("median_output_price_per_mtok", "min_output_price_per_mtok", "max_output_price_per_mtok"),
}
TREND_MONTHS = (12, 24, 60)
# A retirement this long ago still belongs in the feed.
RETIRED_WITHIN_DAYS = 90
FEED_ROWS = 50
RETIRING_ROWS = 200


@query
def trend_providers() -> Query:
    """The providers of the price trends, those with the longest history first."""
    statement = sql.SQL(
        "select provider, count(distinct price_month) as months from {} group by provider "
        "order by months desc, provider"
    ).format(table(PRICE_TRENDS))
    return statement, []


@query
def price_trends(provider: str, price: str, months: int) -> Query:
    """One provider's monthly median, lowest and highest price per capability tier over its latest `months`."""
    median, lowest, highest = TREND_PRICES[price]
    statement = sql.SQL(
        "select price_month, capability_tier, model_count, {median} as median_price_per_mtok, "
        "{lowest} as min_price_per_mtok, {highest} as max_price_per_mtok, cheapest_model_id, "
        "cheapest_blended_price_per_mtok "
        "from {trends} where provider = %s and price_month > "
        "(select max(price_month) from {trends} where provider = %s) - make_interval(months => %s::integer) "
        "order by capability_tier, price_month"
    ).format(
        median=sql.Identifier(median),
        lowest=sql.Identifier(lowest),
        highest=sql.Identifier(highest),
        trends=table(PRICE_TRENDS),
    )
    return statement, [provider, provider, months]


@query
def price_index() -> Query:
    """The basket price index, month by month."""
    statement = sql.SQL(
        "select price_month, price_index, items_priced, basket_item_count, basket_cost_usd, is_base_month "
        "from {} order by price_month"
    ).format(table(PRICE_INDEX))
    return statement, []


@query
def latest_price_changes() -> Query:
    """The price changes most recently detected, newest first."""
    statement = sql.SQL(
        "select detected_at, provider, canonical_model_id, component, service_tier, condition, region, unit, "
        "old_price_usd, new_price_usd, price_change_pct, change_direction, changed_at, source "
        "from {} order by detected_at desc, changed_at desc, price_change_id"
    ).format(table(PRICE_CHANGES))
    return statement, []


@query
def new_models() -> Query:
    """The models ModelAtlas saw first most recently, newest first."""
    statement = sql.SQL(
        "select first_seen_at, provider, display_name, provider_model_id, canonical_model_id, context_window, "
        "release_date, is_available from {} order by first_seen_at desc, provider, provider_model_id"
    ).format(table(MODELS))
    return statement, []


@query
def retiring_models(retired_within_days: int) -> Query:
    """Offerings with a retirement date not more than `retired_within_days` ago, the soonest first."""
    statement = sql.SQL(
        "select deprecation_date, deprecation_date - (now() at time zone 'UTC')::date as days_left, provider, "
        "display_name, canonical_model_id, capability_tier, availability from {} "
        "where deprecation_date >= (now() at time zone 'UTC')::date - %s::integer "
        "order by deprecation_date, provider, canonical_model_id"
    ).format(table(COMPARISON))
    return statement, [retired_within_days]
