"""The market, status and spend pages in Streamlit's AppTest: against the sample database filled by a sample-mode
run, a copy of its marts that the notification tests add rows to, a database with only part of the status marts,
and a database never built."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
import pytest
import streamlit as st
from psycopg import sql
from streamlit.testing.v1 import AppTest

from modelatlas.dashboard import live, market_data, spend_data, status_data
from modelatlas.dashboard.settings import APP_PATH
from modelatlas.warehouse import Warehouse
from modelatlas.warehouse.service import connect

TIMEOUT_S = 60
LIVE_DATABASE = "dashboard_live"
STATUS_ONLY_DATABASE = "dashboard_status_only"
ALL_MARTS = (*market_data.MARTS, *status_data.MARTS, *spend_data.MARTS)


def _clone(source: Warehouse, target: Warehouse, tables: Sequence[str]) -> None:
    """Copies of the source's marts (columns and rows) in the target database, readable by the reader."""
    target.ensure_ready()
    with connect(source.connection()) as reading, connect(target.connection(), autocommit=True) as writing:
        writing.execute("create schema if not exists marts")
        for name in tables:
            table = sql.Identifier("marts", name)
            columns = reading.execute(
                "select attname, format_type(atttypid, atttypmod) from pg_attribute "
                "where attrelid = %s::regclass and attnum > 0 and not attisdropped order by attnum",
                [f"marts.{name}"],
            ).fetchall()
            writing.execute(sql.SQL("drop table if exists {}").format(table))
            definition = sql.SQL(", ").join(
                sql.SQL("{} {}").format(sql.Identifier(column), sql.SQL(kind)) for column, kind in columns
            )
            writing.execute(sql.SQL("create table {} ({})").format(table, definition))
            with (
                reading.cursor().copy(sql.SQL("copy {} to stdout").format(table)) as rows_out,
                writing.cursor().copy(sql.SQL("copy {} from stdin").format(table)) as rows_in,
            ):
                for chunk in rows_out:
                    rows_in.write(chunk)
    target.ensure_roles()


@pytest.fixture(scope="module")
def live_copy(sample_marts: Warehouse) -> Warehouse:
    """A database of its own with a copy of every mart the three pages read: rows added here disturb no other test."""
    copy = Warehouse(replace(sample_marts.settings, database=LIVE_DATABASE))
    _clone(sample_marts, copy, ALL_MARTS)
    return copy


def _reading(warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch) -> Iterator[Warehouse]:
    monkeypatch.setenv("MODELATLAS_WAREHOUSE_DATABASE", warehouse.settings.database)
    st.cache_data.clear()
    yield warehouse
    st.cache_data.clear()


@pytest.fixture
def sample(sample_marts: Warehouse, monkeypatch: pytest.MonkeyPatch) -> Iterator[Warehouse]:
    """The pages read the sample database."""
    yield from _reading(sample_marts, monkeypatch)


@pytest.fixture
def copied(live_copy: Warehouse, monkeypatch: pytest.MonkeyPatch) -> Iterator[Warehouse]:
    """The pages read the copy."""
    yield from _reading(live_copy, monkeypatch)


@pytest.fixture
def never_built(empty_marts: Warehouse, monkeypatch: pytest.MonkeyPatch) -> Iterator[Warehouse]:
    """The pages read a database in which nothing was built."""
    yield from _reading(empty_marts, monkeypatch)


def _open(page: str) -> AppTest:
    app = AppTest.from_file(str(APP_PATH), default_timeout=TIMEOUT_S)
    app.run()
    app.switch_page(f"views/{page}.py").run()
    _no_exception(app)
    return app


def _no_exception(app: AppTest) -> None:
    assert not app.exception, [exception.value for exception in app.exception]


def _rows(warehouse: Warehouse, query: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """Rows as the owner reads them: what the pages should show."""
    with connect(warehouse.connection(), autocommit=True) as conn:
        return conn.execute(query, params).fetchall()


def _charts(app: AppTest) -> dict[str, dict[str, Any]]:
    return {chart.key: json.loads(chart.proto.spec) for chart in app.get("plotly_chart")}


def _values(encoded: Any) -> list[Any]:
    """A trace's array as plotly writes it: a list, or typed binary (`bdata`)."""
    if isinstance(encoded, dict) and "bdata" in encoded:
        array = np.frombuffer(base64.b64decode(encoded["bdata"]), dtype=encoded["dtype"])
        if "shape" in encoded:
            array = array.reshape([int(size) for size in str(encoded["shape"]).split(",")])
        return array.tolist()  # type: ignore[no-any-return]
    return list(encoded)


def _frame(app: AppTest, column: str) -> Any:
    """The one table shown with this column."""
    [table] = [table.value for table in app.dataframe if column in table.value.columns]
    return table


def _messages(elements: Any) -> str:
    return "\n".join(element.value for element in elements)


def test_the_market_page_shows_trends_the_index_and_the_feeds(sample: Warehouse) -> None:
    app = _open("market")
    assert app.title[0].value == "Market"
    assert not app.warning and not app.info and not app.error
    [(longest, months)] = _rows(
        sample,
        "select provider, count(distinct price_month) from marts.mart_price_trends "
        "group by provider order by 2 desc, provider limit 1",
    )
    assert app.selectbox(key="market_provider").value == longest and months > 1
    trend = _charts(app)["market_trends_chart"]
    tiers = _rows(
        sample,
        "select distinct capability_tier from marts.mart_price_trends where provider = %s and price_month > "
        "(select max(price_month) from marts.mart_price_trends where provider = %s) - interval '24 months'",
        [longest, longest],
    )
    assert {trace["name"] for trace in trend["data"]} == {tier for (tier,) in tiers}
    assert trend["layout"]["title"]["text"] == f"Median input price by capability tier: {longest}"

    app.selectbox(key="market_provider").set_value("openai").run()
    app.radio(key="market_price").set_value("output").run()
    _no_exception(app)
    trend = _charts(app)["market_trends_chart"]
    [frontier] = [trace for trace in trend["data"] if trace["name"] == "frontier"]
    expected = _rows(
        sample,
        "select median_output_price_per_mtok from marts.mart_price_trends "
        "where provider = 'openai' and capability_tier = 'frontier' order by price_month",
    )
    assert len(expected) > 1
    assert _values(frontier["y"]) == pytest.approx(
        [float(price) for (price,) in expected[-len(_values(frontier["y"])) :]]
    )

    index = _charts(app)["market_index_chart"]
    priced = _rows(sample, "select price_index from marts.mart_price_index where price_index is not null order by 1")
    assert sorted(_values(index["data"][0]["y"])) == pytest.approx([float(value) for (value,) in priced])
    assert 100.0 in _values(index["data"][0]["y"])

    changes = _frame(app, "detected_at")
    [(total, newest)] = _rows(sample, "select count(*), max(detected_at) from marts.fct_price_changes")
    assert len(changes) == min(total, market_data.FEED_ROWS) and total > 0
    assert changes["detected_at"].iloc[0] == newest
    assert list(changes["detected_at"]) == sorted(changes["detected_at"], reverse=True)

    models = _frame(app, "first_seen_at")
    assert len(models) == market_data.FEED_ROWS
    assert models["first_seen_at"].iloc[0] == _rows(sample, "select max(first_seen_at) from marts.dim_models")[0][0]
    retiring = _frame(app, "deprecation_date")
    expected_retiring = _rows(
        sample,
        "select canonical_model_id from marts.mart_model_comparison where deprecation_date >= "
        "(now() at time zone 'UTC')::date - 90 order by deprecation_date, provider, canonical_model_id",
    )
    assert list(retiring["canonical_model_id"]) == [model for (model,) in expected_retiring]
    assert (retiring["days_left"] >= -90).all()


def test_the_status_page_shows_status_incidents_uptime_latency_and_outages(sample: Warehouse) -> None:
    app = _open("status")
    assert app.title[0].value == "Provider status" and not app.warning and not app.error
    current = _frame(app, "status_observed_at")
    expected = dict(_rows(sample, "select provider, effective_status from marts.mart_status_current"))
    assert set(current["provider"]) == set(expected) and len(expected) >= 5
    for provider, shown in zip(current["provider"], current["status"], strict=True):
        assert shown.endswith(expected[provider].replace("_", " "))

    [(open_count,)] = _rows(sample, "select count(*) from marts.fct_incidents where is_open")
    if open_count:
        assert len(_frame(app, "last_update_at")) == open_count
    else:
        assert "No incident is open" in _messages(app.success)
    [(recent,)] = _rows(
        sample, "select count(*) from marts.fct_incidents where created_at >= now() - interval '30 days'"
    )
    assert len(_frame(app, "time_to_resolve_minutes")) == recent > 0

    heatmap = _charts(app)["status_uptime_chart"]["data"][0]
    probed = _rows(
        sample,
        "select provider, day, round(100.0 * sum(probes_ok) / sum(probes), 2) from marts.mart_provider_uptime_daily "
        "where probes > 0 and day > (now() at time zone 'UTC')::date - 30 group by 1, 2",
    )
    cells = {
        (provider, day): value
        for provider, row in zip(heatmap["y"], _values(heatmap["z"]), strict=True)
        for day, value in zip(heatmap["x"], row, strict=True)
        if value is not None
    }
    assert cells == {(provider, day.isoformat()): float(value) for provider, day, value in probed}
    assert len(heatmap["x"]) == 30

    app.radio(key="status_uptime_metric").set_value("outage_minutes").run()
    outage_minutes = _charts(app)["status_uptime_chart"]["data"][0]
    by_cell = {
        (provider, day): value
        for provider, row in zip(outage_minutes["y"], _values(outage_minutes["z"]), strict=True)
        for day, value in zip(outage_minutes["x"], row, strict=True)
        if value
    }
    expected_minutes = _rows(
        sample,
        "select provider, day, max(minutes_partial_outage + minutes_major_outage) "
        "from marts.mart_provider_uptime_daily where day > (now() at time zone 'UTC')::date - 30 "
        "group by 1, 2 having max(minutes_partial_outage + minutes_major_outage) > 0",
    )
    assert by_cell == {(provider, day.isoformat()): float(value) for provider, day, value in expected_minutes}

    latency = _charts(app)["status_probe_latency_chart"]
    series = _rows(
        sample,
        "select distinct provider || ' (' || region || ')' from marts.mart_provider_uptime_daily "
        "where probes_ok > 0 and day > (now() at time zone 'UTC')::date - 30",
    )
    assert {trace["name"] for trace in latency["data"]} == {name for (name,) in series}
    endpoints = _charts(app)["status_endpoint_latency_chart"]
    [(latest_endpoints,)] = _rows(
        sample,
        "select count(*) from marts.mart_model_endpoint_health_daily "
        "where day = (select max(day) from marts.mart_model_endpoint_health_daily)",
    )
    assert {trace["name"] for trace in endpoints["data"]} == {"p50", "p99"}
    assert len(endpoints["data"][0]["y"]) == latest_endpoints > 0

    def bars() -> int:
        timeline = _charts(app)["status_outages_chart"]
        return sum(len(trace["y"]) for trace in timeline["data"])

    within = "select count(*) from marts.fct_outages where is_open or started_at >= now() - %s::interval"
    assert bars() == _rows(sample, within, ["30 days"])[0][0] > 0
    app.selectbox(key="status_days").set_value(90).run()
    _no_exception(app)
    assert bars() == _rows(sample, within, ["90 days"])[0][0] > _rows(sample, within, ["30 days"])[0][0]


def test_the_spend_page_shows_cost_allocation_and_reconciliation(sample: Warehouse) -> None:
    app = _open("spend")
    assert app.title[0].value == "Spend" and not app.warning and not app.error
    window = "day > (select max(day) from marts.mart_usage_daily) - 90"
    [(total,)] = _rows(sample, f"select sum(cost_usd) from marts.mart_usage_daily where {window}")
    cost = _charts(app)["spend_cost_chart"]
    assert sum(sum(_values(trace["y"])) for trace in cost["data"]) == pytest.approx(float(total))

    app.radio(key="spend_split").set_value("model").run()
    models = _rows(sample, f"select distinct canonical_model_id from marts.mart_usage_daily where {window}")
    assert {trace["name"] for trace in _charts(app)["spend_cost_chart"]["data"]} == {model for (model,) in models}

    allocation = _frame(app, "share_of_month")
    latest = _rows(
        sample,
        "select team, spend_usd from marts.mart_cost_allocation "
        "where month = (select max(month) from marts.mart_cost_allocation)",
    )
    assert dict(zip(allocation["team"], allocation["spend_usd"], strict=True)) == pytest.approx(
        {team: float(spend) for team, spend in latest}
    )

    # The sample has no teams file: no budget, and the page says where budgets come from.
    assert _rows(sample, "select count(*) from marts.mart_budget_status") == [(0,)]
    assert "MODELATLAS_TEAMS_FILE" in _messages(app.info)

    reconciliation = _charts(app)["spend_reconciliation_chart"]
    billed = _rows(
        sample,
        "select sum(billed_cost_usd) from marts.mart_cost_reconciliation "
        "where day > (select max(day) from marts.mart_cost_reconciliation) - 90",
    )[0][0]
    billed_traces = [trace for trace in reconciliation["data"] if "billed" in trace["name"]]
    assert sum(np.nansum(_values(trace["y"])) for trace in billed_traces) == pytest.approx(float(billed))
    flags = _frame(app, "difference_share")
    [(flagged,)] = _rows(
        sample,
        "select count(*) from marts.mart_cost_reconciliation where exceeds_threshold "
        "and day > (select max(day) from marts.mart_cost_reconciliation) - 90",
    )
    assert len(flags) == min(flagged, spend_data.FLAG_ROWS) > 0

    assert _rows(sample, "select count(*) from marts.mart_price_change_impact") == [(0,)]
    assert "No price change touches what was used" in _messages(app.info)


def test_budgets_burn_toward_their_forecast_and_price_changes_show_their_impact(copied: Warehouse) -> None:
    [(latest_day,)] = _rows(copied, "select max(day) from marts.mart_usage_daily where team = 'unattributed'")
    month = latest_day.replace(day=1)
    # A day before the month's end, so the month has a forecast left to draw.
    through_day = min(latest_day, spend_data.month_end(month) - timedelta(days=1))
    [(spent,)] = _rows(
        copied,
        "select sum(cost_usd) from marts.mart_usage_daily where team = 'unattributed' and day between %s and %s",
        [month, through_day],
    )
    forecast = spent * 3
    with connect(copied.connection(), autocommit=True) as conn:
        conn.execute("delete from marts.mart_budget_status")
        conn.execute("delete from marts.mart_price_change_impact")
        conn.execute(
            "insert into marts.mart_budget_status (scope, subject, team, month, through_day, budget_usd, "
            "spend_to_date_usd, budget_used_share, linear_forecast_usd, forecast_usd, forecast_method, status, "
            "forecast_exceeds) values ('team', 'unattributed', 'unattributed', %s, %s, %s, %s, %s, %s, %s, "
            "'linear', 'warning', true)",
            [month, through_day, spent * 2, spent, Decimal("0.5"), forecast, forecast],
        )
        conn.execute(
            "insert into marts.mart_price_change_impact (price_change_id, source, provider, source_model_key, "
            "canonical_model_id, component, service_tier, condition, region, unit, old_price_usd, new_price_usd, "
            "price_change_pct, change_direction, changed_at, detected_at, window_start, window_end, usage_records, "
            "quantity, as_of_cost_usd, would_have_cost_usd, cost_difference_usd) values ('c1', 'genai-prices', "
            "'openai', 'gpt-4o', 'gpt-4o', 'input', 'standard', 'base', 'global', 'mtok', 2.5, 2, -20, 'decrease', "
            "now(), now(), %s, %s, 10, 1000000, 2.5, 2, -0.5)",
            [through_day - timedelta(days=29), through_day],
        )
    try:
        app = _open("spend")
        budgets = _frame(app, "budget_used_share")
        assert list(budgets["subject"]) == ["unattributed"] and list(budgets["status"]) == ["warning"]
        assert app.selectbox(key="spend_budget_subject").value == "team: unattributed"
        burn = _charts(app)["spend_burn_chart"]
        actual, projected = burn["data"]
        assert actual["name"] == "spend to date" and projected["name"] == "forecast (linear)"
        assert _values(actual["y"])[-1] == pytest.approx(float(spent))
        assert _values(projected["y"]) == pytest.approx([float(spent), float(forecast)])
        assert projected["x"][-1] == spend_data.month_end(month).isoformat()
        [budget_line] = burn["layout"]["shapes"]
        assert budget_line["y0"] == budget_line["y1"] == pytest.approx(float(spent * 2))

        impact = _charts(app)["spend_impact_chart"]
        assert list(impact["data"][0]["y"]) == ["openai gpt-4o input (standard)"]
        assert _values(impact["data"][0]["x"]) == pytest.approx([-0.5])
        assert len(_frame(app, "would_have_cost_usd")) == 1
        assert "No price change touches" not in _messages(app.info)
    finally:
        with connect(copied.connection(), autocommit=True) as conn:
            conn.execute("delete from marts.mart_budget_status")
            conn.execute("delete from marts.mart_price_change_impact")


def _add_price_change(warehouse: Warehouse, key: str) -> dict[str, Any]:
    """A new price change, detected now, copied from an existing one; its row as the notification reads it."""
    columns = ["price_change_id", "detected_at", *live.PRICE_CHANGES.columns]
    with connect(warehouse.connection(), autocommit=True) as conn:
        conn.execute(
            "insert into marts.fct_price_changes (price_change_id, source, provider, source_provider, "
            "source_model_key, provider_model_id, canonical_model_id, model_family, component, service_tier, "
            "condition, region, unit, old_price_usd, new_price_usd, price_change_usd, price_change_pct, "
            "change_direction, changed_at, detected_at, effective_from, old_price_history_id, new_price_history_id) "
            "select md5(%s), source, provider, source_provider, source_model_key, provider_model_id, "
            "canonical_model_id, model_family, component, service_tier, condition, region, unit, old_price_usd, "
            "new_price_usd, price_change_usd, price_change_pct, change_direction, changed_at, "
            "clock_timestamp(), effective_from, old_price_history_id, new_price_history_id "
            "from marts.fct_price_changes order by detected_at, price_change_id limit 1",
            [key],
        )
        query = sql.SQL("select {} from marts.fct_price_changes where price_change_id = md5(%s)").format(
            sql.SQL(", ").join(map(sql.Identifier, columns))
        )
        row = conn.execute(query, [key]).fetchone()
    assert row is not None
    return dict(zip(columns, row, strict=True))


def _add_outage(warehouse: Warehouse, key: str, region: str) -> dict[str, Any]:
    """A probe outage of OpenAI from `region` that started now and lasts; its row as the notification reads it."""
    started = datetime.now(UTC)
    with connect(warehouse.connection(), autocommit=True) as conn:
        conn.execute(
            "insert into marts.fct_outages (outage_id, source, provider, region, started_at, is_open, "
            "duration_minutes, severity, failed_observations, observations, first_error_class, linked_incident_ids, "
            "last_observed_at) values (md5(%s), 'probe', 'openai', %s, %s, true, 3, 'major_outage', 3, 3, "
            "'timeout', '{}', %s)",
            [key, region, started, started],
        )
    return {
        "source": "probe",
        "provider": "openai",
        "region": region,
        "model_id": None,
        "canonical_model_id": None,
        "severity": "major_outage",
        "started_at": started,
        "is_open": True,
        "duration_minutes": Decimal(3),
    }


@pytest.mark.parametrize("page", ["market", "status", "spend"])
def test_a_new_price_change_or_outage_pops_up_once_while_the_page_is_open(copied: Warehouse, page: str) -> None:
    app = _open(page)
    assert not app.toast, "the first look only remembers"
    app.run()
    assert not app.toast, "nothing new, nothing told"

    change = _add_price_change(copied, f"{page} change")
    outage = _add_outage(copied, f"{page} outage", f"{page}-test-region")
    app.run()
    _no_exception(app)
    assert [toast.value for toast in app.toast] == [live.price_change_text(change), live.outage_text(outage)]
    assert outage["provider"] in app.toast[1].value and "ongoing" in app.toast[1].value

    # What was announced is on the page at once, not after the cache's interval.
    if page == "market":
        assert _frame(app, "detected_at")["detected_at"].iloc[0] == change["detected_at"]
    if page == "status":
        timeline = _charts(app)["status_outages_chart"]
        assert f"openai (probes, {page}-test-region)" in [row for trace in timeline["data"] for row in trace["y"]]

    app.run()
    assert not app.toast, "each event is told once"


def test_many_new_price_changes_are_told_as_the_newest_few_and_a_count(copied: Warehouse) -> None:
    app = _open("market")
    added = [_add_price_change(copied, f"burst {number}") for number in range(live.MAX_TOASTS + 2)]
    app.run()
    newest_first = sorted(added, key=lambda row: (row["detected_at"], row["price_change_id"]), reverse=True)
    assert [toast.value for toast in app.toast] == [
        *(live.price_change_text(row) for row in newest_first[: live.MAX_TOASTS]),
        "2 more new price changes",
    ]


def test_the_live_part_redraws_on_the_configured_interval(sample: Warehouse, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELATLAS_DASHBOARD_REFRESH_S", "7")
    intervals: list[Any] = []
    fragment = st.fragment

    def recording(function: Any = None, **kwargs: Any) -> Any:
        intervals.append(kwargs.get("run_every"))
        return fragment(function, **kwargs)

    monkeypatch.setattr(st, "fragment", recording)
    for page in ("market", "status", "spend"):
        app = _open(page)
        assert "Redraws every 7 s" in app.caption[0].value
    assert intervals == [7.0, 7.0, 7.0]


@pytest.mark.parametrize(
    ("page", "says"),
    [
        ("market", ["price marts", "not built", "make run SAMPLE=1"]),
        ("status", ["no status data", "MODELATLAS_STATUS_PAGES", "MODELATLAS_OPENROUTER_WATCH", "make run SAMPLE=1"]),
        ("spend", ["no usage", "OPENAI_ADMIN_KEY", "MODELATLAS_USAGE_DIR", "make run SAMPLE=1"]),
    ],
)
def test_a_database_never_built_gets_an_explanation_instead_of_charts(
    never_built: Warehouse, page: str, says: list[str]
) -> None:
    app = _open(page)
    [warning] = app.warning
    for words in says:
        assert words in warning.value
    assert not _charts(app) and not app.dataframe and not app.error and not app.toast


def test_a_status_mart_missing_is_explained_in_its_own_section(
    sample_marts: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    partial = Warehouse(replace(sample_marts.settings, database=STATUS_ONLY_DATABASE))
    _clone(sample_marts, partial, [status_data.STATUS_CURRENT])
    for _ in _reading(partial, monkeypatch):
        app = _open("status")
        assert len(_frame(app, "status_observed_at")) > 0
        explained = _messages(app.info)
        for mart in (status_data.INCIDENTS, status_data.UPTIME_DAILY, status_data.OUTAGES):
            assert f"`marts.{mart}` does not exist in {STATUS_ONLY_DATABASE}" in explained
        assert "No latency measured yet" in explained
        assert not _charts(app) and not app.error
