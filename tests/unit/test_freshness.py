"""Freshness windows from the schedules, the policies on the source assets, and the sensor that reports staleness."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from modelatlas.assets.freshness import (
    build_freshness_sensor,
    group_crons,
    schedule_interval,
    stale_after,
    stale_assets,
    with_freshness,
)

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("cron", "interval"),
    [
        ("*/5 * * * *", timedelta(minutes=5)),
        ("*/10 * * * *", timedelta(minutes=10)),
        ("0 * * * *", timedelta(hours=1)),
        ("0 9 * * 1-5", timedelta(days=3)),  # Friday 09:00 to Monday 09:00 is the longest gap
    ],
)
def test_the_interval_is_the_longest_gap_between_ticks(cron: str, interval: timedelta) -> None:
    assert schedule_interval(cron) == interval
    assert stale_after(cron) == 3 * interval


def test_stale_assets_are_those_never_loaded_or_older_than_their_window() -> None:
    windows = {"a": timedelta(minutes=30), "b": timedelta(minutes=30), "c": timedelta(minutes=30)}
    last = {"a": NOW - timedelta(minutes=10), "b": NOW - timedelta(minutes=45)}
    stale = stale_assets(last, windows, NOW)
    assert [item.asset for item in stale] == ["b", "c"]
    assert stale[0].describe(NOW) == "b: last loaded 45 min ago (stale after 30 min)"
    assert stale[1].describe(NOW) == "c: never loaded (stale after 30 min)"


def test_every_source_asset_gets_a_policy_of_three_missed_intervals(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELATLAS_OPENAI_CRON", "0 * * * *")
    from modelatlas.assets.catalogs import build_catalog_assets
    from modelatlas.assets.genai_prices import genai_prices_registry
    from modelatlas.assets.litellm import litellm_prices

    crons = group_crons()
    assets = with_freshness([genai_prices_registry, litellm_prices, *build_catalog_assets()], crons)
    policies = {spec.key.to_user_string(): spec.freshness_policy for asset in assets for spec in asset.specs}
    # genai-prices' five tables, LiteLLM's three, six catalogs, Hugging Face's model_stats, OpenRouter's price points
    assert len(policies) == 5 + 3 + 6 + 1 + 1
    assert policies["raw_litellm/price_points"] is not None
    openai = policies["raw_openai/models"]
    assert isinstance(openai, dg.FreshnessPolicy)
    assert openai.fail_window.to_timedelta() == timedelta(hours=3)  # type: ignore[attr-defined]
    assert policies["raw_anthropic/models"].fail_window.to_timedelta() == timedelta(minutes=30)  # type: ignore[union-attr]


def test_the_sensor_reports_every_source_not_loaded_in_time() -> None:
    @dg.asset(group_name="openai", key=["raw_openai", "models"])
    def fresh() -> None: ...

    @dg.asset(group_name="anthropic", key=["raw_anthropic", "models"])
    def never() -> None: ...

    assets = with_freshness([fresh, never], {"openai": "*/5 * * * *", "anthropic": "*/10 * * * *"})
    sensor = build_freshness_sensor(assets)
    with dg.instance_for_test() as instance:
        dg.materialize([assets[0]], instance=instance)
        result = sensor(dg.build_sensor_context(instance=instance))
    assert isinstance(result, dg.SkipReason)
    assert result.skip_message == "1 stale: raw_anthropic/models: never loaded (stale after 30 min)"
