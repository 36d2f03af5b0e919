"""The spend page's queries, and the budget burn's pure arithmetic: cost by team, provider and model over time, the
month's allocation, budgets with their forecast, the reconciliation with the providers' bills, and what the recent
price changes did to the bill."""

from __future__ import annotations

import calendar
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from psycopg import sql

from modelatlas.dashboard.marts import Query, query, table

USAGE_DAILY = "mart_usage_daily"
COST_ALLOCATION = "mart_cost_allocation"
BUDGET_STATUS = "mart_budget_status"
RECONCILIATION = "mart_cost_reconciliation"
PRICE_CHANGE_IMPACT = "mart_price_change_impact"
MARTS = (USAGE_DAILY, COST_ALLOCATION, BUDGET_STATUS, RECONCILIATION, PRICE_CHANGE_IMPACT)

# What the cost chart splits by, and the column of mart_usage_daily it groups on.
SPLITS = {"team": "team", "provider": "provider", "model": "canonical_model_id"}
WINDOWS_DAYS = (30, 90, 365)
# The most series the cost chart draws; the rest add up as `other`.
TOP_SERIES = 12
OTHER = "other"
ALLOCATION_MONTHS = 12
IMPACT_ROWS = 200
FLAG_ROWS = 200


@query
def cost_over_time(split: str, days: int, top: int) -> Query:
    """Cost per day and team, provider or model over the latest `days` of usage; beyond the `top` costliest, `other`."""
    statement = sql.SQL(
        "with windowed as ("
        " select day, coalesce({split}, '(none)') as series, cost_usd, requests from {usage}"
        " where day > (select max(day) from {usage}) - %s::integer),"
        " ranked as (select series, row_number() over (order by sum(cost_usd) desc nulls last, series) as position"
        " from windowed group by series) "
        "select day, case when position <= %s then series else {other} end as series, "
        "sum(cost_usd) as cost_usd, sum(requests) as requests "
        "from windowed join ranked using (series) group by 1, 2 order by 1, 2"
    ).format(split=sql.Identifier(SPLITS[split]), usage=table(USAGE_DAILY), other=sql.Literal(OTHER))
    return statement, [days, top]


@query
def cost_allocation(months: int) -> Query:
    """Each team's spend and share of its month, over the latest `months`."""
    statement = sql.SQL(
        "select month, team, cost_centre, spend_usd, requests, share_of_month, previous_month_spend_usd, change_usd, "
        "change_share from {allocation} "
        "where month > (select max(month) from {allocation}) - make_interval(months => %s::integer) "
        "order by month, spend_usd desc nulls last, team"
    ).format(allocation=table(COST_ALLOCATION))
    return statement, [months]


@query
def budgets() -> Query:
    """The budgets and key limits of the latest month, the most used first."""
    statement = sql.SQL(
        "select scope, subject, team, month, through_day, budget_usd, spend_to_date_usd, budget_used_share, "
        "forecast_usd, forecast_method, status, forecast_exceeds, request_limit, requests_to_date "
        "from {budgets} where month = (select max(month) from {budgets}) "
        "order by budget_used_share desc nulls last, scope, subject"
    ).format(budgets=table(BUDGET_STATUS))
    return statement, []


@query
def team_daily_cost(team: str, month: date) -> Query:
    """One team's cost per day of a month."""
    statement = sql.SQL(
        "select day, sum(cost_usd) as cost_usd from {} where team = %s and day >= %s and day < %s "
        "group by day order by day"
    ).format(table(USAGE_DAILY))
    return statement, [team, month, next_month(month)]


@query
def reconciliation_daily(days: int) -> Query:
    """Per provider and day of the latest `days`: our estimate, the bill, and how many models differ too much."""
    statement = sql.SQL(
        "select day, provider, sum(estimated_cost_usd) as estimated_cost_usd, "
        "sum(billed_cost_usd) as billed_cost_usd, count(*) filter (where exceeds_threshold) as flagged "
        "from {recon} where day > (select max(day) from {recon}) - %s::integer "
        "group by day, provider order by day, provider"
    ).format(recon=table(RECONCILIATION))
    return statement, [days]


@query
def reconciliation_flags(days: int) -> Query:
    """The days and models of the latest `days` whose estimate and bill differ past the threshold, largest first."""
    statement = sql.SQL(
        "select day, provider, canonical_model_id, estimated_cost_usd, billed_cost_usd, difference_usd, "
        "difference_share, records_not_fully_priced from {recon} "
        "where exceeds_threshold and day > (select max(day) from {recon}) - %s::integer "
        "order by day desc, abs(difference_usd) desc nulls last, provider, canonical_model_id"
    ).format(recon=table(RECONCILIATION))
    return statement, [days]


@query
def price_change_impact() -> Query:
    """The price changes that touch what was used in the last 30 days, the largest difference first."""
    statement = sql.SQL(
        "select provider, canonical_model_id, component, service_tier, condition, region, old_price_usd, "
        "new_price_usd, price_change_pct, changed_at, quantity, as_of_cost_usd, would_have_cost_usd, "
        "cost_difference_usd, window_start, window_end, source from {} "
        "order by abs(cost_difference_usd) desc nulls last, changed_at desc, price_change_id"
    ).format(table(PRICE_CHANGE_IMPACT))
    return statement, []


def next_month(month: date) -> date:
    """The first day of the month after `month`'s."""
    return (month.replace(day=1) + timedelta(days=32)).replace(day=1)


def month_end(month: date) -> date:
    """The last day of `month`'s month."""
    return month.replace(day=calendar.monthrange(month.year, month.month)[1])


@dataclass(frozen=True)
class Burn:
    """A budget's month as lines: the spend so far, cumulative by day, and the forecast on to the month's end."""

    actual: list[tuple[date, Decimal]]
    forecast: list[tuple[date, Decimal]]


def burn(
    month: date,
    through_day: date,
    spend_to_date: Decimal | None,
    forecast: Decimal | None,
    daily: Iterable[tuple[date, Decimal | None]] = (),
) -> Burn:
    """The month's spend as lines: cumulative daily cost up to through_day (a straight line to the spend to date when
    there are no daily costs), then the forecast from the spend to date to the forecast at the month's end."""
    start = month.replace(day=1)
    actual: list[tuple[date, Decimal]] = [(start, Decimal(0))]
    for day, cost in sorted((day, cost) for day, cost in daily if start <= day <= through_day):
        actual.append((day, actual[-1][1] + (cost or Decimal(0))))
    spent = actual[-1][1] if spend_to_date is None else spend_to_date
    if len(actual) == 1:
        actual.append((through_day, spent))
    elif actual[-1][0] < through_day:
        actual.append((through_day, actual[-1][1]))
    end = month_end(month)
    projected = [(through_day, spent), (end, forecast)] if forecast is not None and through_day < end else []
    return Burn(actual, projected)
