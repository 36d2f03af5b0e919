"""Status: every provider's status now, the open incidents, daily uptime per provider, latency percentiles and the
outages on a timeline. Redraws every refresh interval."""

from __future__ import annotations

from datetime import UTC, datetime

import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from modelatlas.dashboard import live, marts, status_data
from modelatlas.dashboard.marts import MartState
from modelatlas.dashboard.status_data import (
    ENDPOINT_HEALTH,
    INCIDENT_ROWS,
    INCIDENTS,
    LATENCY_PERCENTILES,
    OUTAGE_ROWS,
    OUTAGES,
    STATUS_COLOURS,
    STATUS_CURRENT,
    UPTIME_DAILY,
    UPTIME_METRICS,
    WINDOWS_DAYS,
)
from modelatlas.errors import ModelAtlasError
from modelatlas.warehouse import ConnectionInfo

HOW_TO_GET_STATUS = (
    "Status comes from the official status pages (`MODELATLAS_STATUS_PAGES`, five pages by default), the probes "
    "(every provider catalog whose key is set, plus Hugging Face and OpenRouter, which need none; "
    "`MODELATLAS_PROBE_TARGETS` narrows them) and OpenRouter's endpoints of the models in "
    "`MODELATLAS_OPENROUTER_WATCH`. Run `make run` (or `make run SAMPLE=1` for the sample database) to poll them and "
    "build the status marts; docs/status.md has the details."
)
STATUS_ICONS = {
    "major_outage": "🔴",
    "partial_outage": "🟠",
    "degraded": "🟡",
    "maintenance": "🔵",
    "operational": "🟢",
    "unknown": "⚪",
}
ROW_LIMIT = 5000


def _current(info: ConnectionInfo) -> None:
    current = marts.frame(marts.cached_fetch(info, status_data.current_status, limit=1000))
    current.insert(
        1,
        "status",
        [
            f"{STATUS_ICONS.get(status, '⚪')} {status_data.status_words(status)}"
            for status in current["effective_status"]
        ],
    )
    troubled = int((~current["effective_status"].isin(["operational", "unknown"])).sum())
    st.caption(
        f"{len(current)} providers; {troubled} not operational."
        if troubled
        else f"{len(current)} providers; none reports a problem."
    )
    st.dataframe(
        current.drop(columns=["effective_status"]),
        hide_index=True,
        key="status_current",
        column_config={
            "latest_probe_total_ms": st.column_config.NumberColumn("Latest probe (ms)", format="%.0f"),
            "openrouter_endpoints_up_pct": st.column_config.NumberColumn("OpenRouter endpoints up %", format="%.1f"),
            "latest_probe_at": st.column_config.DatetimeColumn("Probed at", format="YYYY-MM-DD HH:mm:ss"),
            "status_observed_at": st.column_config.DatetimeColumn("Page polled at", format="YYYY-MM-DD HH:mm:ss"),
        },
    )


def _incidents(info: ConnectionInfo, days: int) -> None:
    open_now = marts.cached_fetch(info, status_data.open_incidents, limit=INCIDENT_ROWS)
    if open_now.rows:
        st.dataframe(marts.frame(open_now), hide_index=True, key="status_open_incidents")
    else:
        st.success("No incident is open on any status page.")
    recent = marts.cached_fetch(info, status_data.recent_incidents, days, limit=INCIDENT_ROWS)
    with st.expander(f"Incidents of the last {days} days ({len(recent.rows)})"):
        st.dataframe(marts.frame(recent), hide_index=True, key="status_recent_incidents")


def _uptime(info: ConnectionInfo, days: int) -> None:
    metric = st.radio(
        "Show",
        list(UPTIME_METRICS),
        format_func=lambda name: UPTIME_METRICS[name][1],
        horizontal=True,
        key="status_uptime_metric",
    )
    column, title, more_is_worse = UPTIME_METRICS[metric]
    daily = marts.frame(marts.cached_fetch(info, status_data.uptime_daily, days, limit=ROW_LIMIT))
    today = datetime.now(UTC).date()
    grid = status_data.uptime_grid(
        daily[["provider", "day", column]].itertuples(index=False), status_data.as_of(datetime.now(UTC), days), today
    )
    if not any(value is not None for row in grid.values for value in row):
        st.info(f"No provider has a value of “{title}” in the last {days} days. {_why_empty(metric)}")
        return
    figure = go.Figure(
        go.Heatmap(
            z=grid.values,
            x=grid.days,
            y=grid.providers,
            colorscale="Reds" if more_is_worse else "RdYlGn",
            zmin=0
            if more_is_worse
            else min(99.0, *(value for row in grid.values for value in row if value is not None)),
            zmax=None if more_is_worse else 100,
            hoverongaps=False,
            colorbar={"title": title},
        )
    )
    figure.update_layout(title=f"{title} per provider and day, last {days} days", yaxis={"autorange": "reversed"})
    st.plotly_chart(figure, key="status_uptime_chart")


def _why_empty(metric: str) -> str:
    if metric == "availability":
        return "Probes measure it: they run every minute under the Dagster daemon (`make up`)."
    return "The status pages report them; none had an outage or incident in this window."


def _latency(info: ConnectionInfo, days: int, probe_state: MartState, endpoint_state: MartState) -> None:
    if probe_state is MartState.READY:
        _probe_latency(info, days)
    if endpoint_state is MartState.READY:
        _endpoint_latency(info)


def _probe_latency(info: ConnectionInfo, days: int) -> None:
    percentile = st.radio("Percentile", list(LATENCY_PERCENTILES), horizontal=True, key="status_latency_percentile")
    probes = marts.frame(marts.cached_fetch(info, status_data.probe_latency, days, limit=ROW_LIMIT))
    if probes.empty:
        st.info(f"No successful probe in the last {days} days, so no probe latency.")
    else:
        probes["series"] = probes["provider"] + " (" + probes["region"] + ")"
        figure = px.line(
            probes,
            x="day",
            y=LATENCY_PERCENTILES[percentile],
            color="series",
            markers=True,
            labels={"day": "Day", LATENCY_PERCENTILES[percentile]: f"{percentile} (ms)", "series": "Provider"},
            title=f"Probe latency {percentile} per provider (the providers' models list, timed)",
        )
        today = datetime.now(UTC).date()
        figure.update_xaxes(range=marts.day_axis(status_data.as_of(datetime.now(UTC), days), today))
        st.plotly_chart(figure, key="status_probe_latency_chart")


def _endpoint_latency(info: ConnectionInfo) -> None:
    endpoints = marts.frame(marts.cached_fetch(info, status_data.endpoint_latency, limit=ROW_LIMIT))
    endpoints["endpoint"] = endpoints["canonical_model_id"] + " · " + endpoints["provider_name"]
    long = endpoints.melt(
        id_vars=["endpoint"],
        value_vars=["latency_p50_ms_median", "latency_p99_ms_median"],
        var_name="percentile",
        value_name="milliseconds",
    )
    long["percentile"] = long["percentile"].map({"latency_p50_ms_median": "p50", "latency_p99_ms_median": "p99"})
    day = endpoints["day"].iloc[0]
    figure = px.bar(
        long,
        x="milliseconds",
        y="endpoint",
        color="percentile",
        barmode="group",
        orientation="h",
        labels={"endpoint": "Model · upstream provider", "milliseconds": "Time to first token (ms)"},
        title=f"OpenRouter latency per model and upstream provider, {day}",
    )
    figure.update_layout(height=max(400, 28 * len(endpoints)), yaxis={"autorange": "reversed"})
    st.plotly_chart(figure, key="status_endpoint_latency_chart")


def _outages(info: ConnectionInfo, days: int) -> None:
    episodes = marts.cached_fetch(info, status_data.outages, days, limit=OUTAGE_ROWS)
    if not episodes.rows:
        st.success(f"No outage in the last {days} days, and none is going on.")
        return
    frame = marts.frame(episodes)
    frame["row"] = [
        status_data.outage_label(source, provider, region, model)
        for source, provider, region, model in frame[["source", "provider", "region", "canonical_model_id"]].itertuples(
            index=False
        )
    ]
    frame["severity"] = frame["severity"].map(status_data.status_words)
    figure = px.timeline(
        frame,
        x_start="started_at",
        x_end="shown_until",
        y="row",
        color="severity",
        color_discrete_map={
            status_data.status_words(status): colour
            for status, colour in STATUS_COLOURS.items()
            if status.endswith("outage")
        },
        hover_data=["source", "duration_minutes", "is_open", "upstream_provider", "first_error_class"],
        labels={"row": "Provider (seen by)", "duration_minutes": "Minutes", "is_open": "Ongoing"},
        title=f"Outages of the last {days} days ({len(frame)}{', more not shown' if episodes.truncated else ''})",
    )
    st.plotly_chart(figure, key="status_outages_chart")


def draw(info: ConnectionInfo) -> None:
    """The page's live part."""
    try:
        states = marts.cached_mart_states(info, status_data.MARTS)
    except ModelAtlasError as exc:
        st.error(f"The warehouse cannot be read: {exc}")
        return
    if marts.all_absent(states):
        st.warning(
            f"There is no status data in {info.database} yet: the status marts are not built or hold no rows. "
            f"{HOW_TO_GET_STATUS}"
        )
        return
    days = st.selectbox(
        "Window", WINDOWS_DAYS, index=1, key="status_days", format_func=lambda days: f"last {days} days"
    )
    try:
        if marts.section("Status now", STATUS_CURRENT, states, info.database, HOW_TO_GET_STATUS):
            _current(info)
        if marts.section("Incidents", INCIDENTS, states, info.database, HOW_TO_GET_STATUS):
            _incidents(info, days)
        if marts.section("Uptime", UPTIME_DAILY, states, info.database, HOW_TO_GET_STATUS):
            _uptime(info, days)
        st.subheader("Latency")
        if states[UPTIME_DAILY] is MartState.READY or states[ENDPOINT_HEALTH] is MartState.READY:
            _latency(info, days, states[UPTIME_DAILY], states[ENDPOINT_HEALTH])
        else:
            st.info(f"No latency measured yet. {HOW_TO_GET_STATUS}")
        if marts.section("Outages", OUTAGES, states, info.database, HOW_TO_GET_STATUS):
            _outages(info, days)
    except ModelAtlasError as exc:
        st.error(f"The warehouse cannot be read: {exc}")


def main() -> None:
    """Draw the page."""
    live.page("Provider status", draw)


main()
