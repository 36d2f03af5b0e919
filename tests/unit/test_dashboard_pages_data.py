"""The market, status and spend pages' pure logic: their SQL as composed, the mart helper's messages, the uptime
grid, the outage timeline's rows and the budget burn."""

from __future__ import annotations

import inspect
import re
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from psycopg import sql

from modelatlas.dashboard import market_data, marts, spend_data, status_data
from modelatlas.dashboard.marts import MartState, absence, all_absent, bounded, query_name
from modelatlas.dashboard.spend_data import Burn, burn, month_end, next_month
from modelatlas.dashboard.status_data import Grid, as_of, day_range, outage_label, status_words, uptime_grid
from modelatlas.settings import PROJECT_ROOT

HOSTILE = "x'); drop table marts.fct_usage; --"
MODULES = (market_data, status_data, spend_data)
# A valid value for each parameter name the builders take.
ARGUMENTS: dict[str, Any] = {
    "provider": HOSTILE,
    "team": HOSTILE,
    "price": "output",
    "split": "model",
    "months": 24,
    "days": 30,
    "top": 5,
    "retired_within_days": 90,
    "month": date(2026, 2, 1),
}


def _builders() -> list[Any]:
    return [
        function
        for module in MODULES
        for function in vars(module).values()
        if inspect.isfunction(function) and query_name(function) in marts._QUERIES
    ]


def test_every_page_query_is_registered() -> None:
    names = {builder.__name__ for builder in _builders()}
    assert {"price_trends", "latest_price_changes", "retiring_models", "current_status", "outages"} <= names
    assert {"cost_over_time", "budgets", "team_daily_cost", "reconciliation_flags", "price_change_impact"} <= names


@pytest.mark.parametrize("builder", _builders(), ids=lambda builder: builder.__name__)
def test_a_page_query_binds_every_value_and_reads_only_marts(builder: Any) -> None:
    arguments = [ARGUMENTS[name] for name in inspect.signature(builder).parameters]
    statement, params = builder(*arguments)
    text = statement.as_string(None)
    assert HOSTILE not in text and "drop table" not in text
    for value in arguments:
        if value == HOSTILE:
            assert HOSTILE in params
    assert text.count("%s") == len(params)
    referenced = re.findall(r'"marts"\."(\w+)"', text)
    assert referenced and all(name in _documented_marts() for name in referenced)


def _documented_marts() -> set[str]:
    return {path.stem for path in (PROJECT_ROOT / "dbt_project/models/marts").glob("*.yml")}


def test_the_columns_a_query_takes_by_parameter_are_documented() -> None:
    """A column chosen by an argument (the price a trend follows, what the cost splits by, the status order) is one
    of the marts' documented columns."""
    import yaml

    documented: set[str] = set()
    for path in (PROJECT_ROOT / "dbt_project/models/marts").glob("*.yml"):
        for model in yaml.safe_load(path.read_text())["models"]:
            documented.update(column["name"] for column in model.get("columns", []))
    for builder in _builders():
        arguments = [ARGUMENTS[name] for name in inspect.signature(builder).parameters]
        statement, _ = builder(*arguments)
        names = [piece.as_string(None) for piece in _identifiers(statement)]
        # A qualified name ("marts"."x") is a table; a single one a column.
        quoted = {name.strip('"') for name in names if '"."' not in name}
        assert quoted <= documented, (builder.__name__, quoted - documented)


def _identifiers(composable: sql.Composable) -> list[sql.Identifier]:
    if isinstance(composable, sql.Identifier):
        return [composable]
    if isinstance(composable, sql.Composed):
        return [found for part in composable for found in _identifiers(part)]
    return []


def test_an_unknown_price_or_split_is_refused() -> None:
    with pytest.raises(KeyError):
        market_data.price_trends("openai", "reasoning", 12)
    with pytest.raises(KeyError):
        spend_data.cost_over_time("password", 30, 5)


def test_a_fetch_is_bounded_one_row_above_its_limit() -> None:
    statement, params = bounded(sql.SQL("select 1 where %s"), [True], 50)
    assert statement.as_string(None) == "select 1 where %s limit %s"
    assert params == [True, 51]
    with pytest.raises(ValueError, match="at least 1"):
        bounded(sql.SQL("select 1"), [], 0)


def test_a_missing_or_empty_mart_says_what_to_do() -> None:
    missing = absence("fct_outages", MartState.MISSING, "db", "Run `make run SAMPLE=1`.")
    assert missing == "`marts.fct_outages` does not exist in db yet. Run `make run SAMPLE=1`."
    empty = absence("fct_outages", MartState.EMPTY, "db", "Run it.")
    assert empty == "`marts.fct_outages` in db has no rows yet. Run it."
    assert absence("fct_outages", MartState.READY, "db", "Run it.") is None
    assert all_absent({"a": MartState.MISSING, "b": MartState.EMPTY})
    assert not all_absent({"a": MartState.MISSING, "b": MartState.READY})
    assert "make run SAMPLE=1" in marts.HOW_TO_BUILD


def test_the_uptime_grid_has_every_day_of_the_window_and_gaps_as_none() -> None:
    rows = [
        ("openai", date(2026, 3, 1), Decimal("99.50")),
        ("anthropic", date(2026, 3, 3), 100),
        ("anthropic", date(2026, 3, 1), None),
        ("gemini", date(2026, 2, 1), Decimal(1)),
    ]
    grid = uptime_grid(rows, date(2026, 3, 1), date(2026, 3, 3))
    assert grid == Grid(
        providers=["anthropic", "openai"],
        days=[date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 3)],
        values=[[None, None, 100.0], [99.5, None, None]],
    )
    assert uptime_grid([], date(2026, 3, 1), date(2026, 3, 1)) == Grid([], [date(2026, 3, 1)], [])
    assert day_range(date(2026, 2, 27), date(2026, 3, 1)) == [date(2026, 2, 27), date(2026, 2, 28), date(2026, 3, 1)]
    assert as_of(datetime(2026, 3, 30, 23, 0, tzinfo=UTC), 30) == date(2026, 3, 1)


def test_outage_rows_name_the_provider_and_who_saw_it() -> None:
    assert outage_label("probe", "openai", "eu-west", None) == "openai (probes, eu-west)"
    assert outage_label("probe", "openai", None, None) == "openai (probes)"
    assert outage_label("official", "openai", None, None) == "openai (status page)"
    assert outage_label("openrouter", "together", None, "kimi-k2") == "together (OpenRouter: kimi-k2)"
    assert status_words("partial_outage") == "partial outage" and status_words(None) == "unknown"


def test_the_status_order_is_worst_first() -> None:
    statement, _ = status_data.current_status()
    text = statement.as_string(None)
    assert "when 'major_outage' then 0" in text and "when 'operational' then 4" in text and "else 6 end" in text


def test_months_end_and_turn() -> None:
    assert next_month(date(2026, 12, 15)) == date(2027, 1, 1)
    assert next_month(date(2026, 1, 31)) == date(2026, 2, 1)
    assert month_end(date(2028, 2, 3)) == date(2028, 2, 29)
    assert month_end(date(2026, 4, 1)) == date(2026, 4, 30)


def test_the_burn_adds_up_the_days_and_forecasts_from_the_spend_to_date() -> None:
    daily = [
        (date(2026, 3, 2), Decimal(10)),
        (date(2026, 3, 1), Decimal(5)),
        (date(2026, 3, 4), None),
        (date(2026, 2, 28), Decimal(1000)),
    ]
    line = burn(date(2026, 3, 1), date(2026, 3, 5), Decimal(16), Decimal(100), daily)
    assert line == Burn(
        actual=[
            (date(2026, 3, 1), Decimal(0)),
            (date(2026, 3, 1), Decimal(5)),
            (date(2026, 3, 2), Decimal(15)),
            (date(2026, 3, 4), Decimal(15)),
            (date(2026, 3, 5), Decimal(15)),
        ],
        forecast=[(date(2026, 3, 5), Decimal(16)), (date(2026, 3, 31), Decimal(100))],
    )


def test_a_burn_without_daily_costs_is_a_straight_line_and_a_past_month_has_no_forecast() -> None:
    line = burn(date(2026, 3, 1), date(2026, 3, 10), Decimal(40), Decimal(124))
    assert line.actual == [(date(2026, 3, 1), Decimal(0)), (date(2026, 3, 10), Decimal(40))]
    assert line.forecast == [(date(2026, 3, 10), Decimal(40)), (date(2026, 3, 31), Decimal(124))]
    over = burn(date(2026, 2, 1), date(2026, 2, 28), Decimal(50), Decimal(50), [(date(2026, 2, 3), Decimal(50))])
    assert over.forecast == [] and over.actual[-1] == (date(2026, 2, 28), Decimal(50))
    unknown = burn(date(2026, 3, 1), date(2026, 3, 10), None, None)
    assert unknown.actual[-1] == (date(2026, 3, 10), Decimal(0)) and unknown.forecast == []
