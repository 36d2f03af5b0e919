"""fct_usage builds incrementally, through the real path: request-log files, a teams file and a registry's prices
loaded by the engine, then real `dbt build`s.

After each change (a new file; a first price for a model that had none; a teams file that moves a member and
changes a cost centre; a table built by an earlier release, without the incremental columns), the
incremental build gives the rows a full refresh gives, and it rewrites only the records the change touches: a row
PostgreSQL did not write again keeps its transaction id (`xmin`).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from modelatlas.pipelines import genai_prices, teams, usage_files
from modelatlas.pipelines.engine import ensure_every_source_table, load_standalone
from modelatlas.simulator import Simulator, sample_environment
from modelatlas.simulator.genai_prices import RegistryHandler
from modelatlas.warehouse import ConnectionInfo, read_only_query
from modelatlas.warehouse.service import connect, ensure_database
from tests.dbt_cli import run_dbt

DATABASE = "modelatlas_usage_incremental_test"
PRICED_AT = datetime(2026, 1, 1, 0, 0, tzinfo=UTC)

ALPHA = {"id": "alpha", "name": "Alpha", "description": "-", "price_comments": "-"}
REGISTRY: list[dict[str, Any]] = [
    {
        "id": "acme",
        "name": "Acme AI",
        "api_pattern": "https://api\\.acme\\.test",
        "description": "A provider for tests.",
        "price_comments": "None.",
        "models": [{**ALPHA, "prices": {"input_mtok": "3", "output_mtok": "15"}}],
    }
]
OMEGA = {"id": "omega", "name": "Omega", "description": "-", "price_comments": "-", "prices": {"input_mtok": "1"}}

HEADER = "timestamp,provider,model,input_tokens,cached_input_tokens,output_tokens,team,request_id\n"
FIRST = HEADER + (
    "2026-01-02T10:00:00Z,acme,alpha,1000000,0,100000,search,r-1\n"
    "2026-01-02T11:00:00Z,acme,omega,2000000,0,0,search,r-2\n"
    "2026-01-03T10:00:00Z,acme,alpha,500000,0,0,ads,r-3\n"
)
SECOND = HEADER + "2026-01-04T10:00:00Z,acme,alpha,1000000,0,0,ads,r-4\n"

CENTRES = """
cost_centres:
  - id: cc-1
  - id: cc-2
  - id: cc-9
"""
TEAMS = (
    CENTRES
    + """
teams:
  - id: search
    cost_centre: cc-1
    members:
      file_teams: [search]
  - id: ads
    cost_centre: cc-2
    members:
      file_teams: [ads]
"""
)
# From now on, `ads` file values belong to search, whose cost centre changes.
TEAMS_MOVED = (
    CENTRES
    + """
teams:
  - id: search
    cost_centre: cc-9
    members:
      file_teams: [search, ads]
  - id: ads
    cost_centre: cc-2
    members:
      file_teams: [ads-team]
"""
)

ROWS = "select * from marts.fct_usage order by usage_id"
WRITES = "select record_id, xmin::text from marts.fct_usage order by record_id"
COSTS = "select record_id, team, cost_usd::text, pricing_status from marts.fct_usage order by record_id"
ATTRIBUTION = "select record_id, team, cost_centre from marts.fct_usage order by record_id"


def rows(info: ConnectionInfo, query: str) -> list[tuple[Any, ...]]:
    _, found = read_only_query(info, query)
    return [tuple(row) for row in found]


def registry_with(*extra: dict[str, Any]) -> list[dict[str, Any]]:
    registry = copy.deepcopy(REGISTRY)
    registry[0]["models"].extend(copy.deepcopy(list(extra)))
    return registry


def state(info: ConnectionInfo) -> dict[str, Any]:
    return {
        "rows": rows(info, ROWS),
        "writes": dict(rows(info, WRITES)),
        "costs": rows(info, COSTS),
        "attribution": rows(info, ATTRIBUTION),
    }


@pytest.fixture(scope="module")
def builds(connection: ConnectionInfo, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """fct_usage after each incremental build, and what a full refresh gave from the same sources."""
    ensure_database(connection, DATABASE)
    info = connection.with_database(DATABASE)
    work = tmp_path_factory.mktemp("usage-incremental")
    pipelines = work / "dlt"
    ensure_every_source_table(info, pipelines)
    folder = work / "logs"
    folder.mkdir()
    teams_file = work / "teams.yaml"

    def load(spec: Any, env: dict[str, str], at: datetime | None = None) -> None:
        loaded = load_standalone(spec, info, pipelines, env=env, fetched_at=at)
        assert not loaded.blocked, loaded.report()

    def dbt(*args: str) -> None:
        result = run_dbt(info, work / "dbt", *args)
        assert result.returncode == 0, result.stdout[-4000:]

    def after(change: Callable[[], None]) -> dict[str, Any]:
        change()
        dbt("build", "--select", "+fct_usage", "--indirect-selection", "cautious")
        incremental = state(info)
        dbt("run", "--select", "fct_usage", "--full-refresh")
        # The refresh writes every row again: the next step's rewrites are counted from here.
        return {**incremental, "full_refresh": rows(info, ROWS), "refreshed_writes": dict(rows(info, WRITES))}

    registry = RegistryHandler(None, registry_with())
    with Simulator({genai_prices.SPEC.name: registry}) as simulator:
        env = sample_environment(simulator, [genai_prices.SPEC])
        load(genai_prices.SPEC, env, PRICED_AT)
        teams_file.write_text(TEAMS)
        load(teams.SPEC, {teams.FILE_VARIABLE: str(teams_file)})
        (folder / "first.csv").write_text(FIRST)
        load(usage_files.SPEC, {usage_files.DIR_VARIABLE: str(folder)})
        dbt("build", "--select", "+fct_usage", "--indirect-selection", "cautious")
        first = state(info)
        first["refreshed_writes"] = first["writes"]

        def new_file() -> None:
            (folder / "second.csv").write_text(SECOND)
            load(usage_files.SPEC, {usage_files.DIR_VARIABLE: str(folder)})

        def first_price_for_omega() -> None:
            registry.update(registry_with(OMEGA))
            load(genai_prices.SPEC, env)

        def moved_member() -> None:
            teams_file.write_text(TEAMS_MOVED)
            load(teams.SPEC, {teams.FILE_VARIABLE: str(teams_file)})

        def built_by_an_earlier_release() -> None:
            with connect(info, autocommit=True) as conn:
                conn.execute(
                    "alter table marts.fct_usage"
                    " drop column fetched_at, drop column pricing_fingerprint, drop column teams_fingerprint"
                )

        yield {
            "first": first,
            "new_file": after(new_file),
            "omega_priced": after(first_price_for_omega),
            "member_moved": after(moved_member),
            "upgraded": after(built_by_an_earlier_release),
            "info": info,
        }


def test_each_incremental_build_gives_the_rows_of_a_full_refresh(builds: dict[str, Any]) -> None:
    for step in ("new_file", "omega_priced", "member_moved", "upgraded"):
        assert builds[step]["rows"] == builds[step]["full_refresh"], step


def test_a_new_file_adds_its_records_and_rewrites_none_of_the_others(builds: dict[str, Any]) -> None:
    before, after = builds["first"]["refreshed_writes"], builds["new_file"]["writes"]
    assert set(after) == {"r-1", "r-2", "r-3", "r-4"}
    assert {record: after[record] for record in before} == before
    assert ("r-4", "ads", "3.000000000000000000", "priced") in builds["new_file"]["costs"]


def test_a_first_price_for_a_model_prices_its_records_and_only_those(builds: dict[str, Any]) -> None:
    before, after = builds["new_file"], builds["omega_priced"]
    assert ("r-2", "search", None, "unpriced_model") in before["costs"]
    # The registry's price is undated: the earliest price the history holds, assumed back.
    assert ("r-2", "search", "2.000000000000000000", "priced_before_history") in after["costs"]
    rewritten = {record for record, xmin in after["writes"].items() if before["refreshed_writes"][record] != xmin}
    assert rewritten == {"r-2"}


def test_a_teams_file_change_attributes_every_record_again(builds: dict[str, Any]) -> None:
    before, after = builds["omega_priced"], builds["member_moved"]
    assert before["attribution"] == [
        ("r-1", "search", "cc-1"),
        ("r-2", "search", "cc-1"),
        ("r-3", "ads", "cc-2"),
        ("r-4", "ads", "cc-2"),
    ]
    # Teams are as of the time of use (the move applies from its load on); a team's cost centre is its current one.
    assert after["attribution"] == [
        ("r-1", "search", "cc-9"),
        ("r-2", "search", "cc-9"),
        ("r-3", "ads", "cc-2"),
        ("r-4", "ads", "cc-2"),
    ]
    assert all(after["writes"][record] != xmin for record, xmin in before["refreshed_writes"].items())


def test_a_table_without_the_incremental_columns_is_built_again_in_full(builds: dict[str, Any]) -> None:
    before, after = builds["member_moved"], builds["upgraded"]
    assert after["costs"] == before["costs"]
    assert all(after["writes"][record] != xmin for record, xmin in before["refreshed_writes"].items())
