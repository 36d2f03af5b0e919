"""Price history marts through the real path: registry snapshots loaded by dlt at fixed times, then a real dbt build.

Six genai-prices snapshots (a change and its revert, a change that stays, a removal, a new tier, a backdated dated
price) and a LiteLLM price file (agreeing on some prices, a unit error on one, a model only it prices) are loaded
into a database of their own; `dbt build` then builds every price mart, and the tests assert exact rows.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from modelatlas.pipelines import genai_prices, litellm
from modelatlas.pipelines.engine import ensure_every_source_table, load_standalone
from modelatlas.simulator import Simulator, sample_environment
from modelatlas.simulator.genai_prices import RegistryHandler
from modelatlas.simulator.litellm import LiteLLMHandler
from modelatlas.warehouse import ConnectionInfo, read_only_query
from modelatlas.warehouse.service import ensure_database
from tests.dbt_cli import run_dbt

D = Decimal
DATABASE = "modelatlas_price_history_test"
T1, T2, T3, T4, T5, T6 = (datetime(2026, 1, day, 12, 0, tzinfo=UTC) for day in range(1, 7))
BACKDATED_CHANGE = date(2025, 12, 15)
MIDNIGHT_OF_CHANGE = datetime(2025, 12, 15, tzinfo=UTC)

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
                "prices": {"input_mtok": "3", "output_mtok": "15"},
                "price_variants": [{"when": {"processing": "batch"}, "prices": {"input_mtok": "1.5"}}],
            },
            {
                "id": "beta",
                "name": "Beta",
                "description": "-",
                "price_comments": "-",
                "prices": {"input_mtok": "1", "output_mtok": "2"},
            },
            {
                "id": "delta",
                "name": "Delta",
                "description": "-",
                "price_comments": "-",
                "prices": {"input_mtok": "1", "output_mtok": "4"},
            },
            {
                "id": "epsilon",
                "name": "Epsilon",
                "description": "-",
                "price_comments": "-",
                "prices": {"input_mtok": "2", "output_mtok": "8"},
            },
            {
                "id": "gamma",
                "name": "Gamma",
                "description": "-",
                "price_comments": "-",
                "prices": [
                    {"prices": {"input_mtok": "1", "output_mtok": "3"}},
                    {
                        "constraint": {"start_date": BACKDATED_CHANGE.isoformat()},
                        "prices": {"input_mtok": "0.8", "output_mtok": "3"},
                    },
                ],
            },
        ],
    }
]
# LiteLLM prices per token; epsilon's input is written per thousand tokens (a unit error: 1,000 times too high).
LITELLM_FILE = {
    "acme/alpha": {"litellm_provider": "acme", "mode": "chat", "max_input_tokens": 128000, "max_output_tokens": 8192,
                   "input_cost_per_token": 3e-06, "output_cost_per_token": 1.5e-05, "supports_vision": True},
    "acme/delta": {"litellm_provider": "acme", "mode": "chat", "input_cost_per_token": 5e-07,
                   "output_cost_per_token": 4e-06, "deprecation_date": "2027-06-30"},
    "acme/epsilon": {"litellm_provider": "acme", "mode": "chat", "input_cost_per_token": 0.002,
                     "output_cost_per_token": 8e-06},
    "acme/zeta": {"litellm_provider": "acme", "mode": "chat", "input_cost_per_token": 1e-06,
                  "output_cost_per_token": 2e-06},
}  # fmt: skip


def _model(registry: list[dict[str, Any]], model_id: str) -> dict[str, Any]:
    return next(model for model in registry[0]["models"] if model["id"] == model_id)


def registry_snapshots() -> list[tuple[datetime, list[dict[str, Any]]]]:
    """T2: alpha's and delta's input change; T3: alpha's reverts; T4: beta is removed; T5: alpha gets a tier."""
    first = copy.deepcopy(REGISTRY)
    changed = copy.deepcopy(first)
    _model(changed, "alpha")["prices"]["input_mtok"] = "2.5"
    _model(changed, "delta")["prices"]["input_mtok"] = "0.5"
    reverted = copy.deepcopy(changed)
    _model(reverted, "alpha")["prices"]["input_mtok"] = "3"
    removed = copy.deepcopy(reverted)
    removed[0]["models"] = [model for model in removed[0]["models"] if model["id"] != "beta"]
    tiered = copy.deepcopy(removed)
    _model(tiered, "alpha")["prices"]["input_mtok"] = {"base": "3", "tiers": [{"start": 200000, "price": "6"}]}
    return [(T1, first), (T2, changed), (T3, reverted), (T4, removed), (T5, tiered), (T6, copy.deepcopy(tiered))]


@pytest.fixture(scope="module")
def built(connection: ConnectionInfo, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConnectionInfo]:
    """Every snapshot and the price file fetched at each time, then one `dbt build` of the whole project, in a
    database of its own."""
    ensure_database(connection, DATABASE)
    info = connection.with_database(DATABASE)
    pipelines_dir = tmp_path_factory.mktemp("dlt")
    ensure_every_source_table(info, pipelines_dir)
    registry = RegistryHandler(None, REGISTRY)
    price_file = LiteLLMHandler(None)
    price_file.entries = LITELLM_FILE
    specs = [genai_prices.SPEC, litellm.SPEC]
    with Simulator({genai_prices.SPEC.name: registry, litellm.SPEC.name: price_file}) as simulator:
        env = sample_environment(simulator, specs)
        for at, providers in registry_snapshots():
            registry.update(providers)
            for spec in specs:
                loaded = load_standalone(spec, info, pipelines_dir, env=env, fetched_at=at)
                assert not loaded.blocked and not any(loaded.gate.quarantined_counts().values()), loaded.report()
    result = run_dbt(info, tmp_path_factory.mktemp("dbt"), "build")
    assert result.returncode == 0, result.stdout[-4000:]
    yield info


def _rows(info: ConnectionInfo, query: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    _, rows = read_only_query(info, query, params or [])
    return [tuple(row) for row in rows]


def test_history_holds_exact_intervals_for_a_change_its_revert_a_removal_and_a_new_tier(built: ConnectionInfo) -> None:
    rows = _rows(
        built,
        "select provider_model_id, component, service_tier, condition, price_usd, valid_from, valid_to, is_current, "
        "first_seen_at, last_seen_at from marts.fct_price_history where source = 'genai-prices' "
        "and provider_model_id in ('alpha', 'beta') order by 1, 2, 3, 4, 6",
    )
    assert rows == [
        ("alpha", "input", "batch", "base", Decimal("1.5"), T1, None, True, T1, T6),
        ("alpha", "input", "standard", "base", Decimal("3"), T1, T2, False, T1, T2),
        ("alpha", "input", "standard", "base", Decimal("2.5"), T2, T3, False, T2, T3),
        ("alpha", "input", "standard", "base", Decimal("3"), T3, None, True, T3, T6),
        ("alpha", "input", "standard", "input > 200000 tokens", Decimal("6"), T5, None, True, T5, T6),
        ("alpha", "output", "standard", "base", Decimal("15"), T1, None, True, T1, T6),
        # Removed at T4: closed, never deleted.
        ("beta", "input", "standard", "base", Decimal("1"), T1, T4, False, T1, T4),
        ("beta", "output", "standard", "base", Decimal("2"), T1, T4, False, T1, T4),
    ]
    assert _rows(built, "select distinct provider, canonical_model_id from marts.fct_price_history order by 2") == [
        ("acme", name) for name in ("alpha", "beta", "delta", "epsilon", "gamma", "zeta")
    ]


def test_dated_prices_are_backdated_validity(built: ConnectionInfo) -> None:
    rows = _rows(
        built,
        "select price_usd, valid_from, valid_to, effective_from, effective_until, is_current "
        "from marts.fct_price_history where provider_model_id = 'gamma' and component = 'input' order by 2 nulls first",
    )
    # The price that ended before the registry was first read has an unknown start.
    assert rows == [
        (Decimal("1"), None, MIDNIGHT_OF_CHANGE, None, BACKDATED_CHANGE, False),
        (Decimal("0.8"), MIDNIGHT_OF_CHANGE, None, BACKDATED_CHANGE, None, True),
    ]


def test_the_fixture_change_has_two_intervals_and_exactly_one_change_row(built: ConnectionInfo) -> None:
    assert _rows(
        built,
        "select source, price_usd, valid_from, valid_to from marts.fct_price_history "
        "where provider_model_id = 'delta' and component = 'input' order by 1, 3",
    ) == [
        ("genai-prices", Decimal("1"), T1, T2),
        ("genai-prices", Decimal("0.5"), T2, None),
        ("litellm", Decimal("0.5"), T1, None),
    ]
    assert _rows(
        built,
        "select old_price_usd, new_price_usd, price_change_usd, price_change_pct, change_direction, changed_at, "
        "detected_at from marts.fct_price_changes where canonical_model_id = 'delta'",
    ) == [(Decimal("1"), Decimal("0.5"), Decimal("-0.5"), Decimal("-50"), "decrease", T2, T2)]


def test_changes_are_every_change_and_revert_but_no_appearance_removal_or_new_tier(built: ConnectionInfo) -> None:
    rows = _rows(
        built,
        "select source, provider_model_id, component, condition, old_price_usd, new_price_usd, changed_at, "
        "detected_at, effective_from from marts.fct_price_changes order by 2, 7",
    )
    assert rows == [
        ("genai-prices", "alpha", "input", "base", Decimal("3"), Decimal("2.5"), T2, T2, None),
        ("genai-prices", "alpha", "input", "base", Decimal("2.5"), Decimal("3"), T3, T3, None),
        ("genai-prices", "delta", "input", "base", Decimal("1"), Decimal("0.5"), T2, T2, None),
        # A backdated change: in effect from its date, known from the first read.
        (
            "genai-prices",
            "gamma",
            "input",
            "base",
            Decimal("1"),
            Decimal("0.8"),
            MIDNIGHT_OF_CHANGE,
            T1,
            BACKDATED_CHANGE,
        ),
    ]


def test_the_as_of_macro_returns_the_old_price_before_the_change_and_the_new_after(
    built: ConnectionInfo, tmp_path: Path
) -> None:
    def as_of(model: str, at: str, sources: str = "") -> str:
        return f"{{{{ price_as_of(canonical_model_id=\"'{model}'\", at=\"timestamptz '{at}'\"{sources}) }}}}"

    lookups = {
        "delta_before": as_of("delta", "2026-01-02 11:59:59+00"),
        "delta_after": as_of("delta", "2026-01-02 12:00:00+00"),
        "alpha_during_change": as_of("alpha", "2026-01-02 18:00:00+00"),
        "gamma_before_backdated_change": as_of("gamma", "2025-12-01 00:00:00+00"),
        "gamma_after_backdated_change": as_of("gamma", "2025-12-20 00:00:00+00"),
        "epsilon_litellm_preferred": as_of(
            "epsilon", "2026-01-05 00:00:00+00", ", sources=['litellm', 'genai-prices']"
        ),
        "beta_after_removal": as_of("beta", "2026-01-05 00:00:00+00"),
    }
    query = "select " + ", ".join(f"{lookup}::text as {name}" for name, lookup in lookups.items())
    result = run_dbt(built, tmp_path, "show", "--inline", query, "--output", "json", "--log-format", "json")
    assert result.returncode == 0, result.stdout[-4000:]
    shown = next(json.loads(line)["data"]["preview"] for line in result.stdout.splitlines() if '"preview"' in line)
    values = json.loads(shown)[0] if isinstance(shown, str) else shown[0]
    assert {name: None if value is None else Decimal(value) for name, value in values.items()} == {
        "delta_before": Decimal("1"),
        "delta_after": Decimal("0.5"),
        "alpha_during_change": Decimal("2.5"),
        "gamma_before_backdated_change": Decimal("1"),
        "gamma_after_backdated_change": Decimal("0.8"),
        "epsilon_litellm_preferred": Decimal("2000"),
        "beta_after_removal": None,
    }


def test_the_readme_as_of_pattern_prices_usage_rows(built: ConnectionInfo) -> None:
    rows = _rows(
        built,
        """
        with usage (model, used_at) as (
            values ('delta', timestamptz '2026-01-01 18:00+00'), ('delta', timestamptz '2026-01-03 00:00+00')
        )
        select usage.model, usage.used_at, price.price_usd
        from usage
        left join lateral (
            select h.price_usd
            from marts.fct_price_history as h
            where h.canonical_model_id = usage.model and h.component = 'input'
              and h.service_tier = 'standard' and h.condition = 'base' and h.region = 'global'
              and coalesce(h.valid_from, '-infinity') <= usage.used_at
              and (h.valid_to is null or usage.used_at < h.valid_to)
            order by array_position(array['genai-prices', 'litellm', 'openrouter'], h.source),
                     h.is_canonical_alias desc, h.first_seen_at desc
            limit 1
        ) as price on true
        order by usage.used_at
        """,
    )
    assert rows == [
        ("delta", datetime(2026, 1, 1, 18, tzinfo=UTC), Decimal("1")),
        ("delta", datetime(2026, 1, 3, tzinfo=UTC), Decimal("0.5")),
    ]


def _readme_sql_block(marker: str) -> str:
    """The SQL block of docs/prices.md (the as-of lookups) that contains `marker`, without its closing semicolon."""
    page = (Path(__file__).parents[2] / "docs" / "prices.md").read_text()
    blocks = re.findall(r"```sql\n(.*?)```", page, flags=re.S)
    return next(block for block in blocks if marker in block).strip().rstrip(";")


def test_the_timeline_resolves_each_offering_into_one_price_at_a_time(built: ConnectionInfo) -> None:
    rows = _rows(
        built,
        "select canonical_model_id, source, price_usd, valid_from, valid_to from marts.fct_price_timeline "
        "where component = 'input' and service_tier = 'standard' and condition = 'base' order by 1, 4 nulls first",
    )
    # genai-prices wins wherever it prices; LiteLLM's agreeing or differing prices show only for zeta, which only
    # LiteLLM prices. Beta's removal leaves a gap, not a LiteLLM price.
    assert rows == [
        ("alpha", "genai-prices", D("3"), T1, T2),
        ("alpha", "genai-prices", D("2.5"), T2, T3),
        ("alpha", "genai-prices", D("3"), T3, None),
        ("beta", "genai-prices", D("1"), T1, T4),
        ("delta", "genai-prices", D("1"), T1, T2),
        ("delta", "genai-prices", D("0.5"), T2, None),
        ("epsilon", "genai-prices", D("2"), T1, None),
        ("gamma", "genai-prices", D("1"), None, MIDNIGHT_OF_CHANGE),
        ("gamma", "genai-prices", D("0.8"), MIDNIGHT_OF_CHANGE, None),
        ("zeta", "litellm", D("1"), T1, None),
    ]


def test_the_timeline_returns_the_as_of_rule_s_price_at_every_boundary(built: ConnectionInfo) -> None:
    offering = ("provider", "canonical_model_id", "component", "service_tier", "condition", "region")
    same_offering = " and ".join(f"{{alias}}.{column} = probe.{column}" for column in offering)
    rows = _rows(
        built,
        f"""
        with probes as (
            select distinct {", ".join(f"h.{column}" for column in offering)}, moment
            from marts.fct_price_history as h
            cross join lateral (values
                (coalesce(h.valid_from, timestamptz '2020-01-01')),
                (coalesce(h.valid_from, timestamptz '2020-01-01') + interval '1 second'),
                (coalesce(h.valid_to, timestamptz '2030-01-01')),
                (coalesce(h.valid_to, timestamptz '2030-01-01') - interval '1 second')
            ) as moments (moment)
        )
        select count(*), count(by_rule.price_history_id),
            count(*) filter (where by_rule.price_history_id is distinct from by_timeline.price_history_id)
        from probes as probe
        left join lateral (
            select h.price_history_id from marts.fct_price_history as h
            where {same_offering.format(alias="h")}
                and coalesce(h.valid_from, '-infinity') <= probe.moment
                and (h.valid_to is null or probe.moment < h.valid_to)
            order by array_position(array['genai-prices', 'litellm', 'openrouter'], h.source),
                h.is_canonical_alias desc, h.first_seen_at desc, h.provider_model_id desc, h.price_history_id
            limit 1
        ) as by_rule on true
        left join lateral (
            select t.price_history_id from marts.fct_price_timeline as t
            where {same_offering.format(alias="t")}
                and coalesce(t.valid_from, '-infinity') <= probe.moment
                and (t.valid_to is null or probe.moment < t.valid_to)
            order by coalesce(t.valid_from, '-infinity') desc
            limit 1
        ) as by_timeline on true
        """,
    )
    probes, priced, differing = rows[0]
    assert probes > 50 and 0 < priced < probes
    assert differing == 0


def test_the_readme_bulk_as_of_pattern_prices_usage_rows_through_the_timeline(built: ConnectionInfo) -> None:
    pattern = _readme_sql_block("marts.fct_price_timeline as t")
    rows = _rows(
        built,
        "with my_usage (provider, model, used_at) as (values "
        "('acme', 'delta', timestamptz '2026-01-01 18:00+00'), ('acme', 'delta', timestamptz '2026-01-03 00:00+00'), "
        "('acme', 'beta', timestamptz '2026-01-05 00:00+00'), ('acme', 'gamma', timestamptz '2025-12-01 00:00+00'), "
        "('other', 'delta', timestamptz '2026-01-03 00:00+00')) "
        f"{pattern} order by 1, 2, 3",
    )
    assert rows == [
        ("acme", "beta", datetime(2026, 1, 5, tzinfo=UTC), None, None),
        ("acme", "delta", datetime(2026, 1, 1, 18, tzinfo=UTC), D("1"), "genai-prices"),
        ("acme", "delta", datetime(2026, 1, 3, tzinfo=UTC), D("0.5"), "genai-prices"),
        ("acme", "gamma", datetime(2025, 12, 1, tzinfo=UTC), D("1"), "genai-prices"),
        ("other", "delta", datetime(2026, 1, 3, tzinfo=UTC), None, None),
    ]


def test_consensus_flags_agreement_a_unit_error_and_single_sources(built: ConnectionInfo) -> None:
    rows = _rows(
        built,
        "select canonical_model_id, genai_prices_price_usd, litellm_price_usd, consensus_price_usd, consensus_rule, "
        "source_count, price_spread, sources_disagree, suspected_unit_error, single_source "
        "from marts.mart_price_consensus where component = 'input' order by 1",
    )
    assert rows == [
        ("alpha", D("3"), D("3"), D("3"), "registry_median", 2, D("0"), False, False, False),
        ("delta", D("0.5"), D("0.5"), D("0.5"), "registry_median", 2, D("0"), False, False, False),
        ("epsilon", D("2"), D("2000"), D("1001"), "registry_median", 2, D("999"), True, True, False),
        ("gamma", D("0.8"), None, D("0.8"), "registry_median", 1, D("0"), False, False, True),
        ("zeta", None, D("1"), D("1"), "registry_median", 1, D("0"), False, False, True),
    ]  # fmt: skip


def test_comparison_has_one_row_per_offering_with_both_prices(built: ConnectionInfo) -> None:
    rows = _rows(
        built,
        "select canonical_model_id, provider, input_price_per_mtok, output_price_per_mtok, blended_price_per_mtok, "
        "batch_input_price_per_mtok, context_window, supports_vision, deprecation_date, availability "
        "from marts.mart_model_comparison order by 1",
    )
    assert rows == [
        ("alpha", "acme", D("3"), D("15"), D("6"), D("1.5"), 128000, True, None, "priced_only"),
        ("delta", "acme", D("0.5"), D("4"), D("1.375"), None, None, None, date(2027, 6, 30), "priced_only"),
        ("epsilon", "acme", D("1001"), D("8"), D("752.75"), None, None, None, None, "priced_only"),
        ("gamma", "acme", D("0.8"), D("3"), D("1.35"), None, None, None, None, "priced_only"),
        ("zeta", "acme", D("1"), D("2"), D("1.25"), None, None, None, None, "priced_only"),
    ]  # fmt: skip


def test_trends_and_the_index_are_built_from_the_history(built: ConnectionInfo) -> None:
    rows = _rows(
        built,
        "select price_month, capability_tier, model_count, median_input_price_per_mtok, min_input_price_per_mtok, "
        "max_input_price_per_mtok, cheapest_model_id from marts.mart_price_trends where provider = 'acme' order by 1",
    )
    months = [row[0] for row in rows]
    assert months[0] == date(2025, 12, 1) and months == sorted(set(months))
    # At December's end only gamma was priced (its backdated interval); the months since hold every current model.
    assert rows[0] == (date(2025, 12, 1), "unclassified", 1, Decimal("0.8"), Decimal("0.8"), Decimal("0.8"), "gamma")
    assert rows[-1][2:] == (5, Decimal("1"), Decimal("0.5"), Decimal("1001"), "zeta")
    index = _rows(built, "select count(*), count(price_index) from marts.mart_price_index")
    # No basket model is priced in this database: every month is there, none has an index.
    assert index == [(len(months), 0)]
