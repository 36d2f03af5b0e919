"""Model: one offering's prices over time, the sources' agreement, its providers, the provider's status and the
organisation's usage of the model.

The URL holds the choice: `model=<canonical_model_id>` and, for a model several providers offer, `provider=<provider>`
(without it, the model's preferred offering). Each section whose mart is missing or holds nothing for the model says so
and how to fill it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from modelatlas.dashboard import models_data as md
from modelatlas.dashboard.offerings import catalog_or_explain
from modelatlas.dashboard.queries import ROW_LIMIT
from modelatlas.errors import ModelAtlasError
from modelatlas.warehouse import ConnectionInfo

MODEL = "mp_model"
PROVIDER = "mp_provider"
ONE_DAY = timedelta(days=1)
TIER = "mp_tier"
CONDITION = "mp_condition"
REGION = "mp_region"
STATUS_HOW_TO = (
    "ModelAtlas reads the official status pages of `MODELATLAS_STATUS_PAGES` and probes every provider catalog whose "
    "key is set (see docs/status.md): add the provider's page there, or set its API key, then `make run`."
)
USAGE_HOW_TO = (
    "Usage comes from the providers' usage APIs (`OPENAI_ADMIN_KEY`, `ANTHROPIC_ADMIN_KEY`), a LiteLLM proxy's spend "
    "log (`MODELATLAS_LITELLM_SPEND_DB_URL`) or request-log files (`MODELATLAS_USAGE_DIR`); set one, then `make run` "
    "(see docs/usage.md). `make run SAMPLE=1` fills the sample's."
)


def _write_url(catalog: md.Catalog, changed: str) -> None:
    """Put the chosen model (and provider) into the URL; choosing another model starts at its preferred offering."""
    model = st.session_state[MODEL]
    if model is None:
        st.query_params.clear()
        return
    offering = catalog.preferred(model)
    if changed == PROVIDER and st.session_state.get(PROVIDER):
        offering = md.Offering(model, st.session_state[PROVIDER])
    if offering is not None:
        st.query_params.from_dict(md.model_page_params(offering, catalog))


def _choose(catalog: md.Catalog, offering: md.Offering | None) -> None:
    names = {model: f"{catalog.offerings_of(model)[0].display_name} ({model})" for model in catalog.models()}
    st.session_state[MODEL] = offering.canonical_model_id if offering else None
    st.selectbox(
        "Model",
        list(names),
        index=None,
        key=MODEL,
        format_func=lambda model: names.get(model, model),
        placeholder="Choose a model",
        on_change=_write_url,
        args=(catalog, MODEL),
    )
    if offering is None:
        return
    offerings = catalog.offerings_of(offering.canonical_model_id)
    if len(offerings) > 1:
        providers = {choice.offering.provider: choice.label for choice in offerings}
        st.session_state[PROVIDER] = offering.provider
        st.selectbox(
            f"Provider ({len(offerings)} offer it)",
            list(providers),
            key=PROVIDER,
            format_func=lambda provider: providers.get(provider, provider),
            on_change=_write_url,
            args=(catalog, PROVIDER),
        )


def _header(info: ConnectionInfo, choice: md.OfferingChoice, catalog: md.Catalog) -> None:
    offering = choice.offering
    attributes = md.comparison_attributes(info, [offering]).get(offering, {})
    st.header(choice.display_name)
    st.caption(
        f"`{offering.canonical_model_id}` at **{offering.provider}** (as `{attributes.get('provider_model_id')}`) · "
        f"{attributes.get('availability') or md.MISSING}"
    )
    metrics: list[tuple[str, Any]] = [
        ("Input (USD / Mtok)", attributes.get("input_price_per_mtok")),
        ("Output (USD / Mtok)", attributes.get("output_price_per_mtok")),
        ("Context window", attributes.get("context_window")),
        ("Availability, 30 days (%)", attributes.get("availability_30d_pct")),
    ]
    for column, (title, value) in zip(st.columns(len(metrics)), metrics, strict=True):
        column.metric(title, md.format_value(value))
    offerings = [other.offering for other in catalog.offerings_of(offering.canonical_model_id)]
    if len(offerings) > 1:
        chosen = [offering, *(other for other in offerings if other != offering)][: md.MAX_OFFERINGS]
        st.page_link(
            "views/side_by_side.py",
            label="Compare its providers side by side",
            icon=":material/compare:",
            query_params=md.side_by_side_params(chosen, catalog, only_differences=False),
        )


def _default(options: list[str], key: str, preferred: str) -> None:
    if st.session_state.get(key) not in options:
        st.session_state[key] = preferred if preferred in options else options[0]


def _price_figure(series: list[md.StepSeries], unit: str) -> go.Figure:
    figure = go.Figure()
    for line in series:
        figure.add_trace(
            go.Scatter(
                x=list(line.x),
                y=list(line.y),
                name=line.component,
                mode="lines+markers",
                line={"shape": "hv"},
                marker={"size": list(line.marker_sizes)},
                text=list(line.hover),
                hovertemplate="%{text}<extra></extra>",
                connectgaps=False,
            )
        )
    figure.update_layout(
        title={"text": f"Price, USD per {md.unit_label(unit)}"},
        xaxis_title=None,
        yaxis_title=f"USD / {md.unit_label(unit)}",
        hovermode="closest",
        legend_title_text="component",
        yaxis_rangemode="tozero",
    )
    return figure


def _price_history(info: ConnectionInfo, offering: md.Offering, present: frozenset[str]) -> None:
    st.subheader("Price history")
    if md.TIMELINE not in present or md.HISTORY not in present:
        st.info(md.missing_mart(md.TIMELINE, "The price history", info.database))
        return
    table = md.price_points(info, [offering], current_only=False)
    points = md.to_price_points(table)
    if not points:
        st.info(
            f"No price source prices `{offering.canonical_model_id}` at {offering.provider}: genai-prices, LiteLLM and "
            "OpenRouter are read on every `make run`; an offering none of them lists has no price history."
        )
        return
    tiers, conditions, regions = md.series_choices(points)
    _default(tiers, TIER, "standard")
    _default(conditions, CONDITION, "base")
    _default(regions, REGION, "global")
    tier, condition, region = st.columns(3)
    tier.selectbox("Service tier", tiers, key=TIER)
    condition.selectbox("Condition", conditions, key=CONDITION)
    region.selectbox("Region", regions, key=REGION)
    chosen = [
        point
        for point in points
        if point.series[1:] == (st.session_state[TIER], st.session_state[CONDITION], st.session_state[REGION])
    ]
    if not chosen:
        st.info("No price of this offering has that tier, condition and region together: choose another.")
        return
    series = md.step_series(chosen, datetime.now(UTC))
    for unit in dict.fromkeys(line.unit for line in series):
        st.plotly_chart(_price_figure([line for line in series if line.unit == unit], unit), key=f"mp_price_{unit}")
    st.caption(
        "Each step is the price in effect, from the source that sets it for this provider (the provider's own price "
        "first). A marker is where a price started: a change of the price or of its source. Hover for the source."
    )
    if table.truncated:
        st.caption(f"The chart shows the first {ROW_LIMIT} price intervals.")


def _consensus(info: ConnectionInfo, offering: md.Offering, present: frozenset[str]) -> None:
    st.subheader("Do the sources agree?")
    if md.CONSENSUS not in present:
        st.info(md.missing_mart(md.CONSENSUS, "The price consensus", info.database))
        return
    consensus = md.consensus_prices(info, [offering])
    if not consensus:
        st.info(
            f"No price source prices `{offering.canonical_model_id}` at {offering.provider} now: nothing to compare."
        )
        return
    disagreeing = md.disagreements(consensus)
    if disagreeing:
        st.warning(
            "The sources disagree on "
            + ", ".join(
                f"{price.component} ({md.format_decimal((price.price_spread or Decimal(0)) * 100)}% apart"
                + (", a suspected unit error" if price.suspected_unit_error else "")
                + ")"
                for price in disagreeing
            )
            + ". The consensus takes the provider's own price first, else the registries' median."
        )
    else:
        st.success(f"The sources agree on all {len(consensus)} priced components (standard tier, base condition).")
    st.dataframe(
        md.consensus_frame(consensus),
        hide_index=True,
        column_config={"spread_pct": st.column_config.NumberColumn("spread %", format="%.2f")},
        key="mp_consensus",
    )


def _providers(info: ConnectionInfo, model: str, catalog: md.Catalog, present: frozenset[str]) -> None:
    st.subheader("Providers")
    offerings = md.frame(md.read(info, "model_offerings", model))
    links = [md.model_page_link(md.Offering(model, provider), catalog) for provider in offerings["provider"]]
    offerings.insert(0, "page", links)
    st.dataframe(
        offerings,
        hide_index=True,
        column_config={"page": st.column_config.LinkColumn("", display_text=":material/open_in_new:", width="small")},
        key="mp_offerings",
    )
    if md.CATALOG in present:
        entries = md.read(info, "catalog_entries", model)
        with st.expander(f"Catalog ids ({len(entries.rows)})"):
            if entries.rows:
                st.dataframe(md.frame(entries), hide_index=True, key="mp_catalog_ids")
            else:
                st.caption("No provider catalog lists this model: only the price sources know it.")


def _days_axis(uptime: list[dict[str, Any]]) -> dict[str, Any]:
    """The same x axis on both status charts: every day of the rows, a day's margin either side."""
    days = [row["day"] for row in uptime]
    return {"type": "date", "tickformat": "%b %d", "range": [min(days) - ONE_DAY, max(days) + ONE_DAY]}


def _status_figures(uptime: list[dict[str, Any]]) -> None:
    availability = md.availability_by_region(uptime)
    if availability:
        figure = go.Figure()
        for region, days in availability.items():
            figure.add_trace(
                go.Scatter(x=list(days), y=[float(value) for value in days.values()], name=region, mode="lines+markers")
            )
        figure.update_layout(
            title={"text": "Probe availability per day (%)"}, yaxis_range=[0, 100.5], xaxis=_days_axis(uptime)
        )
        st.plotly_chart(figure, key="mp_availability")
    minutes = md.official_minutes_by_day(uptime)
    if any(any(values.values()) for values in minutes.values()):
        figure = go.Figure()
        for column in md.OFFICIAL_MINUTES:
            figure.add_trace(
                go.Bar(
                    x=list(minutes),
                    y=[float(values[column]) for values in minutes.values()],
                    name=column.removeprefix("minutes_").replace("_", " "),
                )
            )
        figure.update_layout(
            barmode="stack",
            title={"text": "Minutes not operational per day (official status)"},
            xaxis=_days_axis(uptime),
        )
        st.plotly_chart(figure, key="mp_official_minutes")


def _status(info: ConnectionInfo, offering: md.Offering, present: frozenset[str]) -> None:
    provider = offering.provider
    st.subheader(f"Status of {provider}")
    if md.UPTIME not in present:
        st.info(md.missing_mart(md.UPTIME, "The status marts", info.database))
        return
    uptime = md.records(md.read(info, "uptime", provider, md.HISTORY_DAYS))
    if not uptime:
        if not md.has_rows(info, md.UPTIME):
            st.info(f"No status data is loaded. {STATUS_HOW_TO}")
        else:
            st.info(f"No status source speaks for {provider}: no status page and no probe. {STATUS_HOW_TO}")
        return
    st.caption(f"The last {md.HISTORY_DAYS} days (UTC), from `marts.{md.UPTIME}`.")
    _status_figures(uptime)
    with st.expander(f"Daily uptime ({len(uptime)} rows)"):
        st.dataframe(pd.DataFrame(uptime), hide_index=True, key="mp_uptime")
    if md.INCIDENTS in present:
        incidents = md.read(info, "incidents", provider)
        if incidents.rows:
            st.markdown(f"**Incidents** (the latest {len(incidents.rows)})")
            st.dataframe(
                md.frame(incidents),
                hide_index=True,
                column_config={"shortlink": st.column_config.LinkColumn("link", display_text="open")},
                key="mp_incidents",
            )
        else:
            st.caption(f"No status page has published an incident of {provider}.")
    if md.OUTAGES in present:
        outages = md.read(info, "outages", provider, offering.canonical_model_id)
        if outages.rows:
            st.markdown(f"**Outages** (the latest {len(outages.rows)})")
            st.dataframe(md.frame(outages), hide_index=True, key="mp_outages")
        else:
            st.caption(f"No outage of {provider} recorded.")


def _usage(info: ConnectionInfo, model: str, present: frozenset[str]) -> None:
    st.subheader("Usage and cost")
    if md.USAGE not in present:
        st.info(md.missing_mart(md.USAGE, "The usage mart", info.database))
        return
    usage = md.records(md.read(info, "usage", model, md.HISTORY_DAYS))
    if not usage:
        if not md.has_rows(info, md.USAGE):
            st.info(f"No usage is loaded. {USAGE_HOW_TO}")
        else:
            st.info(
                f"The organisation has not used `{model}` in the last {md.HISTORY_DAYS} days (in the loaded usage)."
            )
        return
    totals = md.usage_totals(usage)
    st.caption(f"The organisation's use of `{model}` at every provider, the last {md.HISTORY_DAYS} days (UTC).")
    metrics = [
        ("Cost (USD)", "cost_usd", ",.2f"),
        ("Requests", "requests", ",.0f"),
        ("Prompt tokens", "prompt_tokens", ",.0f"),
        ("Output tokens", "output_tokens", ",.0f"),
    ]
    for column, (title, measure, spec) in zip(st.columns(len(metrics)), metrics, strict=True):
        total = totals[measure]
        column.metric(title, md.MISSING if total is None else format(total, spec))
    figure = go.Figure()
    for provider, days in md.daily_cost(usage).items():
        figure.add_trace(go.Bar(x=list(days), y=[float(cost) for cost in days.values()], name=provider))
    figure.update_layout(barmode="stack", title={"text": "Cost per day (USD)"})
    st.plotly_chart(figure, key="mp_usage_cost")
    by_team = md.usage_by(usage, "team")
    st.dataframe(
        pd.DataFrame(by_team).map(lambda value: float(value) if isinstance(value, Decimal) else value),
        hide_index=True,
        key="mp_usage_teams",
    )


def main() -> None:
    """Draw the page."""
    st.title("Model")
    loaded = catalog_or_explain()
    if loaded is None:
        return
    info, present, catalog = loaded.info, loaded.present, loaded.catalog
    model_param = st.query_params.get("model")
    offering = md.offering_from_params(model_param, st.query_params.get("provider"), catalog)
    if model_param and offering is None:
        st.warning(f"`{model_param}` is not a model of the comparison mart: choose one below.")
    _choose(catalog, offering)
    choice = catalog.choice(offering) if offering else None
    if offering is None or choice is None:
        st.info("Choose a model to see its prices over time, its providers, their status and your usage of it.")
        return
    try:
        _header(info, choice, catalog)
        _price_history(info, offering, present)
        _consensus(info, offering, present)
        _providers(info, offering.canonical_model_id, catalog, present)
        _status(info, offering, present)
        _usage(info, offering.canonical_model_id, present)
    except ModelAtlasError as exc:
        st.error(f"The warehouse cannot be read: {exc}")


main()
