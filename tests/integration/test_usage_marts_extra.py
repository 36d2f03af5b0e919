"""The usage-pattern and price-change-impact marts through the real path: a registry's price snapshots (a price
change of a used model and of one nobody used), LiteLLM's model map (retirement dates), a teams file and a
request-log file loaded by the engine, then a real `dbt build` as of 2026-01-31 (window 2026-01-02..2026-01-31).

Prices (USD per million tokens), all of provider `acme`: alpha input 2 then 3 from T2, cache reads 0.5, output 10;
beta (deprecated in the registry) 1 / 5; gamma (LiteLLM: retires 2026-03-15, within 90 days) 1 / 5; delta (LiteLLM:
retires 2026-12-31, beyond) 0.2 / 0.2; zeta, never used, input 1 then 2 from T2.

The team `search`, in the window (Monday 5, 12 and 19 January, Wednesday 7 and 14):
    s-1 Mon 09:00 alpha  1,000,000 in (200,000 cached) 100,000 out  0.8*2 + 0.2*0.5 + 0.1*10 = 2.7
    s-2 Mon 09:00 alpha  the same after the change                   0.8*3 + 0.1 + 1.0       = 3.5
    s-3 Wed 23:00 beta   1,000,000 in, 200,000 out                   1 + 1                   = 2.0
    s-4 Mon 09:00 gamma  1,000,000 in, 100,000 out (as gamma-20260101) 1 + 0.5               = 1.5
    s-5 Wed 00:00 delta  1,000,000 in, 500,000 out                   0.2 + 0.1               = 0.3
Requests 5, tokens 6,000,000 (1.1 + 1.1 + 1.2 + 1.1 + 1.5 million), cost 10; one request before the window and one
after it count nowhere.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from modelatlas.pipelines import genai_prices, litellm, teams, usage_files
from modelatlas.pipelines.engine import ensure_every_source_table, load_standalone
from modelatlas.simulator import Simulator, sample_environment
from modelatlas.simulator.genai_prices import RegistryHandler
from modelatlas.simulator.litellm import LiteLLMHandler
from modelatlas.warehouse import ConnectionInfo, read_only_query
from modelatlas.warehouse.service import ensure_database
from tests.dbt_cli import run_dbt

D = Decimal
DATABASE = "modelatlas_usage_marts_extra_test"
T1, T2 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC), datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
AS_OF = "2026-01-31"


def model(model_id: str, prices: dict[str, str], **extra: Any) -> dict[str, Any]:
    return {
        "id": model_id,
        "name": model_id.title(),
        "description": "-",
        "price_comments": "-",
        "prices": prices,
        **extra,
    }


def snapshot(alpha_input: str, zeta_input: str) -> list[dict[str, Any]]:
    return copy.deepcopy(
        [
            {
                "id": "acme",
                "name": "Acme AI",
                "api_pattern": "https://api\\.acme\\.test",
                "description": "A provider for tests.",
                "price_comments": "None.",
                "models": [
                    model("alpha", {"input_mtok": alpha_input, "output_mtok": "10", "cache_read_mtok": "0.5"}),
                    model("beta", {"input_mtok": "1", "output_mtok": "5"}, deprecated=True),
                    model("gamma", {"input_mtok": "1", "output_mtok": "5"}),
                    model("delta", {"input_mtok": "0.2", "output_mtok": "0.2"}),
                    model("zeta", {"input_mtok": zeta_input, "output_mtok": "5"}),
                ],
            }
        ]
    )


# Retirement dates; the entries used carry no price, so the timeline's prices are the registry's. The gate wants at
# least one price point in a batch: omega, which nobody uses, has it.
LITELLM = {
    "omega": {"litellm_provider": "acme", "mode": "chat", "input_cost_per_token": 1e-6},
    "gamma": {"litellm_provider": "acme", "mode": "chat", "deprecation_date": "2026-03-15"},
    "delta": {"litellm_provider": "acme", "mode": "chat", "deprecation_date": "2026-12-31"},
}

USAGE = """timestamp,provider,model,input_tokens,cached_input_tokens,output_tokens,team,request_id
2026-01-01T18:00:00Z,acme,alpha,1000000,0,0,search,s-0
2026-01-05T09:00:00Z,acme,alpha,1000000,200000,100000,search,s-1
2026-01-12T09:00:00Z,acme,alpha,1000000,200000,100000,search,s-2
2026-01-07T23:00:00Z,acme,beta,1000000,0,200000,search,s-3
2026-01-19T09:00:00Z,acme,gamma-20260101,1000000,0,100000,search,s-4
2026-01-14T00:00:00Z,acme,delta,1000000,0,500000,search,s-5
2026-02-01T00:00:00Z,acme,alpha,1000000,0,0,search,s-6
2026-01-20T10:00:00Z,acme,beta,500000,0,0,ads,a-1
2026-01-21T10:00:00Z,acme,delta,1000000,0,0,nobody,u-1
"""

TEAMS = """
teams:
  - id: search
    members:
      file_teams: [search]
  - id: ads
    members:
      file_teams: [ads]
"""

PATTERNS = (
    "select team, window_start, window_end, usage_records, requests, prompt_tokens, cache_read_tokens, output_tokens,"
    " cost_usd, unpriced_records, hour_of_day_request_shares, hour_of_day_token_shares, weekday_request_shares,"
    " weekday_token_shares, cache_hit_share, output_to_input_ratio, top_models, retiring_cost_usd,"
    " retiring_cost_share from marts.mart_usage_patterns order by team"
)
IMPACT = (
    "select canonical_model_id, component, service_tier, condition, region, old_price_usd, new_price_usd, changed_at,"
    " usage_records, quantity, as_of_cost_usd, would_have_cost_usd, cost_difference_usd"
    " from marts.mart_price_change_impact order by 1, 2"
)


def rows(info: ConnectionInfo, query: str) -> list[tuple[Any, ...]]:
    _, found = read_only_query(info, query)
    return [tuple(row) for row in found]


def profile(length: int, shares: dict[int, float]) -> list[float]:
    return [shares.get(slot, 0.0) for slot in range(length)]


@pytest.fixture(scope="module")
def marts(connection: ConnectionInfo, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The warehouse's marts after one build as of AS_OF."""
    ensure_database(connection, DATABASE)
    info = connection.with_database(DATABASE)
    work = tmp_path_factory.mktemp("usage_marts")
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
    registry = RegistryHandler(None, snapshot("2", "1"))
    lifecycle = LiteLLMHandler(None)
    lifecycle.entries = copy.deepcopy(LITELLM)
    with Simulator({genai_prices.SPEC.name: registry, litellm.SPEC.name: lifecycle}) as simulator:
        env = sample_environment(simulator, [genai_prices.SPEC, litellm.SPEC])
        loaded = load_standalone(litellm.SPEC, info, pipelines, env=env, fetched_at=T1)
        assert not loaded.blocked, loaded.report()
        for at, alpha_input, zeta_input in ((T1, "2", "1"), (T2, "3", "2")):
            registry.update(snapshot(alpha_input, zeta_input))
            loaded = load_standalone(genai_prices.SPEC, info, pipelines, env=env, fetched_at=at)
            assert not loaded.blocked, loaded.report()
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("MODELATLAS_USAGE_AS_OF", AS_OF)
            result = run_dbt(info, work / "dbt", "build")
            assert result.returncode == 0, result.stdout[-6000:]
    found = {"patterns": {row[0]: row for row in rows(info, PATTERNS)}, "impact": rows(info, IMPACT)}
    found["changes"] = rows(
        info,
        "select canonical_model_id, component, old_price_usd, new_price_usd from marts.fct_price_changes order by 1, 2",
    )
    found["costs"] = rows(info, "select record_id, cost_usd from marts.fct_usage order by 1")
    yield found


def test_the_usage_is_priced_as_designed(marts: dict[str, Any]) -> None:
    assert marts["costs"] == [
        ("a-1", D("0.5")),
        ("s-0", D("2")),
        ("s-1", D("2.7")),
        ("s-2", D("3.5")),
        ("s-3", D("2")),
        ("s-4", D("1.5")),
        ("s-5", D("0.3")),
        ("s-6", D("3")),
        ("u-1", D("0.2")),
    ]


def test_one_row_per_team_with_usage_in_the_window(marts: dict[str, Any]) -> None:
    assert list(marts["patterns"]) == ["ads", "search", "unattributed"]
    search = marts["patterns"]["search"]
    assert search[1:10] == (
        datetime(2026, 1, 2).date(),
        datetime(2026, 1, 31).date(),
        5,
        5,
        5_000_000,
        400_000,
        1_000_000,
        D("10"),
        0,
    )


def test_the_hour_and_weekday_profiles_are_shares_of_requests_and_tokens(marts: dict[str, Any]) -> None:
    hours_requests, hours_tokens, weekday_requests, weekday_tokens = marts["patterns"]["search"][10:14]
    # 00:00 s-5 (1.5M tokens), 09:00 s-1, s-2, s-4 (3.3M), 23:00 s-3 (1.2M) of 5 requests and 6M tokens
    assert hours_requests == profile(24, {0: 0.2, 9: 0.6, 23: 0.2})
    assert hours_tokens == profile(24, {0: 0.25, 9: 0.55, 23: 0.2})
    # Monday (index 0) s-1, s-2, s-4; Wednesday (index 2) s-3, s-5
    assert weekday_requests == profile(7, {0: 0.6, 2: 0.4})
    assert weekday_tokens == profile(7, {0: 0.55, 2: 0.45})


def test_cache_hits_output_ratio_and_top_models(marts: dict[str, Any]) -> None:
    search = marts["patterns"]["search"]
    # 400,000 cache reads and 1,000,000 output tokens of 5,000,000 prompt tokens
    assert search[14:16] == (D("0.08"), D("0.2"))
    assert search[16] == [
        {"model": "alpha", "provider": "acme", "cost_usd": 6.2, "share": 0.62},
        {"model": "beta", "provider": "acme", "cost_usd": 2.0, "share": 0.2},
        {"model": "gamma", "provider": "acme", "cost_usd": 1.5, "share": 0.15},
    ]


def test_the_spend_on_deprecated_or_soon_retired_models(marts: dict[str, Any]) -> None:
    # beta (deprecated) 2.0 + gamma (retires 2026-03-15, within 90 days of 2026-01-31) 1.5 of 10; delta retires
    # after 2026-05-01 and does not count, nor does alpha.
    assert marts["patterns"]["search"][17:19] == (D("3.5"), D("0.35"))
    assert marts["patterns"]["ads"][17:19] == (D("0.5"), D("1"))
    assert marts["patterns"]["unattributed"][17:19] == (D("0"), D("0"))


def test_a_change_of_a_used_price_shows_what_the_window_would_have_cost(marts: dict[str, Any]) -> None:
    # alpha's input in the window: s-1 800,000 at 2 (before T2) and s-2 800,000 at 3; at the new price 3 throughout
    # it would have cost 1,600,000 * 3 / 1e6 = 4.8.
    assert marts["impact"] == [
        ("alpha", "input", "standard", "base", "global", D("2"), D("3"), T2, 2, 1_600_000, D("4"), D("4.8"), D("0.8"))
    ]


def test_a_change_of_a_model_nobody_used_is_not_listed(marts: dict[str, Any]) -> None:
    assert ("zeta", "input", D("1"), D("2")) in marts["changes"]
    assert all(row[0] != "zeta" for row in marts["impact"])
