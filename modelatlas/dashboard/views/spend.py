"""Spend: cost by team, provider and model over time, the month's allocation, budget burn with its forecast, the
reconciliation with the providers' bills, and what recent price changes did to the bill. Redraws every refresh
interval."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from modelatlas.dashboard import live, marts, spend_data
from modelatlas.dashboard.marts import MartState
from modelatlas.dashboard.spend_data import (
    ALLOCATION_MONTHS,
    BUDGET_STATUS,
    COST_ALLOCATION,
    FLAG_ROWS,
    IMPACT_ROWS,
    PRICE_CHANGE_IMPACT,
    RECONCILIATION,
    SPLITS,
    TOP_SERIES,
    USAGE_DAILY,
    WINDOWS_DAYS,
)
from modelatlas.errors import ModelAtlasError
from modelatlas.warehouse import ConnectionInfo

HOW_TO_LOAD_USAGE = (
    "Usage comes from the providers' usage APIs (`OPENAI_ADMIN_KEY`, `ANTHROPIC_ADMIN_KEY`), a LiteLLM proxy's spend "
    "log (`MODELATLAS_LITELLM_SPEND_DB_URL`) and request-log files (`MODELATLAS_USAGE_DIR`): set at least one, then "
    "`make run`. `make run SAMPLE=1` fills the sample database with simulated usage. docs/usage.md has the details."
)
HOW_TO_BUDGET = (
    "Budgets come from the teams file (`MODELATLAS_TEAMS_FILE`): give a team `monthly_budget_usd`, or an API key a "
    "monthly limit, then `make run` (docs/teams.md)."
)
HOW_TO_RECONCILE = (
    "The reconciliation compares the providers' own usage and cost reports: it needs `OPENAI_ADMIN_KEY` or "
    "`ANTHROPIC_ADMIN_KEY` (docs/usage.md#reconciliation)."
)
NO_IMPACT = (
    "No price change touches what was used in the 30 days ending with the as-of day (today, or "
    "`MODELATLAS_USAGE_AS_OF`): a change shows here once it moves a price of a model, component and tier that was "
    "paid for."
)
ROW_LIMIT = 20_000
USD = st.column_config.NumberColumn(format="$%.2f")


def _cost(info: ConnectionInfo, days: int) -> None:
    st.subheader("Cost over time")
    split = st.radio("Split by", list(SPLITS), horizontal=True, key="spend_split")
    costs = marts.cached_fetch(info, spend_data.cost_over_time, split, days, TOP_SERIES, limit=ROW_LIMIT)
    frame = marts.frame(costs)
    figure = px.bar(
        frame,
        x="day",
        y="cost_usd",
        color="series",
        labels={"day": "Day", "cost_usd": "Cost (USD, as of the time of use)", "series": split.capitalize()},
        title=f"Cost per day by {split}, the latest {days} days of usage",
    )
    figure.update_layout(barmode="stack")
    st.plotly_chart(figure, key="spend_cost_chart")
    total = sum(Decimal(str(value)) for value in frame["cost_usd"].dropna())
    st.caption(
        f"${total:,.2f} in the window. Beyond the {TOP_SERIES} costliest, the others add up as “other”. "
        "Traffic two sources both report counts twice (docs/usage.md)."
    )


def _allocation(info: ConnectionInfo) -> None:
    allocation = marts.frame(marts.cached_fetch(info, spend_data.cost_allocation, ALLOCATION_MONTHS, limit=ROW_LIMIT))
    figure = px.bar(
        allocation.assign(month=[f"{month:%Y-%m}" for month in allocation["month"]]),
        x="month",
        y="spend_usd",
        color="team",
        hover_data=["cost_centre", "share_of_month", "change_share"],
        labels={"month": "Month", "spend_usd": "Spend (USD)", "team": "Team", "share_of_month": "Share of month"},
        title="Spend per team and month",
    )
    figure.update_layout(barmode="stack")
    figure.update_xaxes(type="category")
    st.plotly_chart(figure, key="spend_allocation_chart")
    latest = allocation[allocation["month"] == allocation["month"].max()]
    st.dataframe(
        latest,
        hide_index=True,
        key="spend_allocation",
        column_config={
            "spend_usd": USD,
            "previous_month_spend_usd": USD,
            "change_usd": USD,
            "share_of_month": st.column_config.NumberColumn(format="percent"),
            "change_share": st.column_config.NumberColumn(format="percent"),
        },
    )


def _budgets(info: ConnectionInfo) -> None:
    budgets = marts.cached_fetch(info, spend_data.budgets, limit=ROW_LIMIT)
    frame = marts.frame(budgets)
    at_risk = frame[(frame["status"] != "ok") | frame["forecast_exceeds"].fillna(False).astype(bool)]
    month: date = budgets.rows[0][budgets.columns.index("month")]
    st.caption(
        f"{month:%B %Y}: {len(frame)} budgets and key limits, {len(at_risk)} over, near, or forecast to cross theirs."
    )
    st.dataframe(
        frame,
        hide_index=True,
        key="spend_budgets",
        column_config={
            "budget_usd": USD,
            "spend_to_date_usd": USD,
            "forecast_usd": USD,
            "budget_used_share": st.column_config.ProgressColumn("Used", format="percent", min_value=0, max_value=1),
        },
    )
    subjects = [f"{scope}: {subject}" for scope, subject in frame[["scope", "subject"]].itertuples(index=False)]
    chosen = st.selectbox("Burn of", subjects, key="spend_budget_subject")
    if chosen is None:
        return
    row = dict(zip(budgets.columns, budgets.rows[subjects.index(chosen)], strict=True))
    daily: list[tuple[date, Decimal | None]] = []
    if row["scope"] == "team":
        spent = marts.cached_fetch(info, spend_data.team_daily_cost, row["subject"], row["month"], limit=40)
        daily = [(day, cost) for day, cost in spent.rows]
    line = spend_data.burn(row["month"], row["through_day"], row["spend_to_date_usd"], row["forecast_usd"], daily)
    figure = go.Figure()
    figure.add_scatter(
        x=[day for day, _ in line.actual], y=[float(v) for _, v in line.actual], name="spend to date", mode="lines"
    )
    if line.forecast:
        figure.add_scatter(
            x=[day for day, _ in line.forecast],
            y=[float(v) for _, v in line.forecast],
            name=f"forecast ({row['forecast_method']})",
            mode="lines",
            line={"dash": "dash"},
        )
    if row["budget_usd"] is not None:
        figure.add_hline(y=float(row["budget_usd"]), line_dash="dot", line_color="#d62728", annotation_text="budget")
    figure.update_layout(
        title=f"Budget burn, {chosen}, {row['month']:%B %Y} (status {row['status']})",
        xaxis_title="Day",
        yaxis_title="Spend this month (USD)",
    )
    st.plotly_chart(figure, key="spend_burn_chart")


def _reconciliation(info: ConnectionInfo, days: int) -> None:
    daily = marts.frame(marts.cached_fetch(info, spend_data.reconciliation_daily, days, limit=ROW_LIMIT))
    long = daily.melt(
        id_vars=["day", "provider"],
        value_vars=["estimated_cost_usd", "billed_cost_usd"],
        var_name="measure",
        value_name="usd",
    )
    long["measure"] = long["measure"].map({"estimated_cost_usd": "our estimate", "billed_cost_usd": "billed"})
    figure = px.line(
        long,
        x="day",
        y="usd",
        color="provider",
        line_dash="measure",
        markers=True,
        labels={"day": "Day", "usd": "Cost (USD)", "measure": ""},
        title=f"Our estimate against the provider's bill, per day, the latest {days} days",
    )
    st.plotly_chart(figure, key="spend_reconciliation_chart")
    flags = marts.cached_fetch(info, spend_data.reconciliation_flags, days, limit=FLAG_ROWS)
    if not flags.rows:
        st.success("Every day and model agrees with the bill within the threshold.")
        return
    st.caption(
        f"{len(flags.rows)}{'+' if flags.truncated else ''} days and models differ from the bill by more than the "
        "threshold (`MODELATLAS_COST_RECONCILIATION_THRESHOLD`, 2% by default); `records_not_fully_priced` above 0 "
        "means a missing price keeps our estimate low."
    )
    st.dataframe(
        marts.frame(flags),
        hide_index=True,
        key="spend_reconciliation_flags",
        column_config={
            "estimated_cost_usd": USD,
            "billed_cost_usd": USD,
            "difference_usd": USD,
            "difference_share": st.column_config.NumberColumn(format="percent"),
        },
    )


def _impact(info: ConnectionInfo) -> None:
    impact = marts.cached_fetch(info, spend_data.price_change_impact, limit=IMPACT_ROWS)
    frame = marts.frame(impact)
    frame["change"] = (
        frame["provider"] + " " + frame["canonical_model_id"] + " " + frame["component"] + " (" + frame["service_tier"]
    ) + ")"
    figure = px.bar(
        frame.head(20),
        x="cost_difference_usd",
        y="change",
        orientation="h",
        color="cost_difference_usd",
        color_continuous_scale="RdYlGn_r",
        color_continuous_midpoint=0,
        hover_data=["old_price_usd", "new_price_usd", "price_change_pct", "changed_at", "quantity"],
        labels={"cost_difference_usd": "Difference over the window (USD)", "change": "Price change"},
        title="What the price changes would have done to the last 30 days' cost",
    )
    figure.update_layout(yaxis={"autorange": "reversed"})
    st.plotly_chart(figure, key="spend_impact_chart")
    st.dataframe(
        frame.drop(columns=["change"]),
        hide_index=True,
        key="spend_impact",
        column_config={"as_of_cost_usd": USD, "would_have_cost_usd": USD, "cost_difference_usd": USD},
    )


def draw(info: ConnectionInfo) -> None:
    """The page's live part."""
    try:
        states = marts.cached_mart_states(info, spend_data.MARTS)
    except ModelAtlasError as exc:
        st.error(f"The warehouse cannot be read: {exc}")
        return
    usage = states[USAGE_DAILY]
    if usage is not MartState.READY:
        built = "is not built" if usage is MartState.MISSING else "holds no usage"
        st.warning(f"There is no usage in {info.database} yet: `marts.{USAGE_DAILY}` {built}. {HOW_TO_LOAD_USAGE}")
        return
    days = st.selectbox(
        "Window", WINDOWS_DAYS, index=1, key="spend_days", format_func=lambda days: f"latest {days} days"
    )
    try:
        _cost(info, days)
        if marts.section("Allocation by team", COST_ALLOCATION, states, info.database, marts.HOW_TO_BUILD):
            _allocation(info)
        if marts.section("Budgets", BUDGET_STATUS, states, info.database, HOW_TO_BUDGET):
            _budgets(info)
        if marts.section("Reconciliation with the bill", RECONCILIATION, states, info.database, HOW_TO_RECONCILE):
            _reconciliation(info, days)
        if states[PRICE_CHANGE_IMPACT] is MartState.EMPTY:
            st.subheader("Price-change impact")
            st.info(NO_IMPACT)
        elif marts.section("Price-change impact", PRICE_CHANGE_IMPACT, states, info.database, marts.HOW_TO_BUILD):
            _impact(info)
    except ModelAtlasError as exc:
        st.error(f"The warehouse cannot be read: {exc}")


def main() -> None:
    """Draw the page."""
    live.page("Spend", draw)


main()
