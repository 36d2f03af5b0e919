"""Usage priced as of the time of use, through the real path: a registry's price snapshots (a price change, then
another), a teams file and a request-log file loaded by the engine, then a real `dbt build`.

The team `search` used `alpha` across the first price change: fct_usage.cost_usd equals the hand-computed cost to
the cent, and stays so after a later price change is loaded and the marts rebuilt. The teams `ads` and `growth`
are the budget cases: `ads` has spent 85% of its budget (a warning), `growth` 40% by the tenth of the month, on
course for 124%.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from modelatlas.pipelines import genai_prices, teams, usage_files
from modelatlas.pipelines.engine import ensure_every_source_table, load_standalone
from modelatlas.simulator import Simulator, sample_environment
from modelatlas.simulator.genai_prices import RegistryHandler
from modelatlas.warehouse import ConnectionInfo, read_only_query
from modelatlas.warehouse.service import ensure_database
from tests.dbt_cli import run_dbt

D = Decimal
DATABASE = "modelatlas_usage_costs_test"
T1, T2, T3 = (datetime(2026, 1, day, 12, 0, tzinfo=UTC) for day in (1, 2, 20))
AS_OF = "2026-01-10"

REGISTRY: list[dict[str, Any]] = [
    {
        "id": "acme",
        "name": "Acme AI",
        "api_pattern": "https://api\\.acme\\.test",
        "description": "A provider for tests.",
        "price_comments": "None.",
        "models": [
            {
                "id": "alpha",
                "name": "Alpha",
                "description": "-",
                "price_comments": "-",
                "prices": {"input_mtok": "3", "output_mtok": "15", "cache_read_mtok": "0.3"},
            }
        ],
    }
]

USAGE = """timestamp,provider,model,input_tokens,cached_input_tokens,output_tokens,team,request_id
2026-01-01T13:00:00Z,ACME,alpha-20260101,1000000,200000,100000,search,r-1
2026-01-02T13:00:00+00:00,acme,alpha,1000000,200000,100000,search,r-2
2025-12-20T00:00:00,acme,alpha,1000,0,0,search,r-3
2026-01-03T00:00:00Z,acme,omega,10,0,0,search,r-4
2026-01-03T00:00:00Z,acme,alpha,abc,0,0,search,r-5
2026-01-05T00:00:00Z,acme,alpha,4250000,0,0,ads,r-6
2026-01-08T00:00:00Z,acme,alpha,200000000,0,0,growth,r-7
"""

TEAMS = """
teams:
  - id: search
    monthly_budget_usd: 100
    members:
      file_teams: [search]
  - id: ads
    monthly_budget_usd: 10
    members:
      file_teams: [ads]
  - id: growth
    monthly_budget_usd: 1000
    members:
      file_teams: [growth]
"""


def snapshot(input_mtok: str) -> list[dict[str, Any]]:
    registry = copy.deepcopy(REGISTRY)
    registry[0]["models"][0]["prices"]["input_mtok"] = input_mtok
    return registry


def rows(info: ConnectionInfo, query: str) -> list[tuple[Any, ...]]:
    _, found = read_only_query(info, query)
    return [tuple(row) for row in found]


COSTS = "select record_id, team, cost_usd, pricing_status, price_version is not null from marts.fct_usage order by 1"


@pytest.fixture(scope="module")
def usage(connection: ConnectionInfo, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The warehouse after the first build, with what a later price change and rebuild gave."""
    ensure_database(connection, DATABASE)
    info = connection.with_database(DATABASE)
    work = tmp_path_factory.mktemp("usage")
    pipelines = work / "dlt"
    ensure_every_source_table(info, pipelines)
    folder = work / "logs"
    folder.mkdir()
    (folder / "requests-2026-01.csv").write_text(USAGE)
    (work / "teams.yaml").write_text(TEAMS)
    for spec, env in (
        (teams.SPEC, {"MODELATLAS_TEAMS_FILE": str(work / "teams.yaml")}),
        (usage_files.SPEC, {"MODELATLAS_USAGE_DIR": str(folder)}),
    ):
        loaded = load_standalone(spec, info, pipelines, env=env)
        assert not loaded.blocked, loaded.report()
    registry = RegistryHandler(None, snapshot("3"))
    with Simulator({genai_prices.SPEC.name: registry}) as simulator:
        env = sample_environment(simulator, [genai_prices.SPEC])

        def load_prices(at: datetime, input_mtok: str) -> None:
            registry.update(snapshot(input_mtok))
            loaded = load_standalone(genai_prices.SPEC, info, pipelines, env=env, fetched_at=at)
            assert not loaded.blocked, loaded.report()

        def build() -> None:
            result = run_dbt(info, work / "dbt", "build")
            assert result.returncode == 0, result.stdout[-4000:]

        load_prices(T1, "3")
        load_prices(T2, "2")
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("MODELATLAS_USAGE_AS_OF", AS_OF)
            build()
            first = {"costs": rows(info, COSTS)}
            first["budgets"] = rows(
                info,
                "select subject, budget_usd, spend_to_date_usd, budget_used_share, linear_forecast_usd, status,"
                " forecast_exceeds from marts.mart_budget_status where scope = 'team' and month = '2026-01-01'"
                " order by subject",
            )
            first["daily"] = rows(
                info, "select day, team, canonical_model_id, cost_usd from marts.mart_usage_daily order by 1, 2, 3"
            )
            load_prices(T3, "5")
            build()
            first["costs_after_change"] = rows(info, COSTS)
    first["info"] = info
    yield first


def test_costs_are_priced_as_of_the_time_of_use_to_the_cent(usage: dict[str, Any]) -> None:
    # search before the change: 800,000 uncached input at 3, 200,000 cache reads at 0.3, 100,000 output at 15 (USD
    # per million tokens); after it, the input at 2. Before any price was seen: the earliest price, flagged.
    assert usage["costs"] == [
        ("r-1", "search", D("3.96"), "priced", True),
        ("r-2", "search", D("3.16"), "priced", True),
        ("r-3", "search", D("0.003"), "priced_before_history", True),
        ("r-4", "search", None, "unpriced_model", False),
        ("r-6", "ads", D("8.5"), "priced", True),
        ("r-7", "growth", D("400"), "priced", True),
    ]


def test_a_later_price_change_leaves_past_costs_unchanged(usage: dict[str, Any]) -> None:
    assert usage["costs_after_change"] == usage["costs"]


def test_the_team_past_80_percent_warns_and_the_team_on_course_is_forecast_to_exceed(usage: dict[str, Any]) -> None:
    assert usage["budgets"] == [
        ("ads", D("10"), D("8.5"), D("0.85"), D("8.5") / 10 * 31, "warning", True),
        ("growth", D("1000"), D("400"), D("0.4"), D("400") / 10 * 31, "ok", True),
        ("search", D("100"), D("7.12"), D("0.0712"), D("7.12") / 10 * 31, "ok", False),
    ]


def test_the_daily_mart_sums_costs_per_day_team_and_model(usage: dict[str, Any]) -> None:
    daily = usage["daily"]
    assert (datetime(2026, 1, 1).date(), "search", "alpha", D("3.96")) in daily
    assert (datetime(2026, 1, 3).date(), "search", "omega", None) in daily
    assert sum(row[3] or 0 for row in daily) == D("3.96") + D("3.16") + D("0.003") + D("8.5") + D("400")


def test_the_malformed_line_is_quarantined_and_its_neighbours_priced(usage: dict[str, Any]) -> None:
    quarantined = rows(
        usage["info"],
        "select row_payload ->> 'line_number', row_payload ->> 'parse_error' from dq.quarantine"
        " where source = 'usage_files'",
    )
    assert quarantined == [("6", "input_tokens 'abc' is not a whole number")]
