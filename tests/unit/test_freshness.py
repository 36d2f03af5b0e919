"""Freshness windows from the schedules, the policies on the source assets, and the sensor that reports staleness."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest
from dagster._core.definitions.freshness import FreshnessState, FreshnessStateChange

from modelatlas.assets.freshness import build_freshness_sensor, describe_states, freshness_policy, schedule_interval

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


def test_a_policy_fails_after_the_missed_intervals_and_warns_one_earlier() -> None:
    policy = freshness_policy("*/10 * * * *", missed_intervals=3)
    assert policy.fail_window.to_timedelta() == timedelta(minutes=30)  # type: ignore[attr-defined]
    assert policy.warn_window.to_timedelta() == timedelta(minutes=20)  # type: ignore[attr-defined]


def test_stale_and_late_assets_are_described_with_how_long_and_fresh_ones_not() -> None:
    states = {
        "raw_a/models": ("FAIL", NOW - timedelta(minutes=45)),
        "raw_b/models": ("WARN", NOW - timedelta(hours=3)),
        "raw_c/models": ("PASS", NOW - timedelta(minutes=1)),
    }
    stale, late = describe_states(states, NOW)
    assert stale == ["raw_a/models (fail for 45 min)"]
    assert late == ["raw_b/models (warn for 3.0 h)"]


def test_the_sensor_reports_what_dagster_evaluated_as_stale() -> None:
    keys = [dg.AssetKey(["raw_a", "models"]), dg.AssetKey(["raw_b", "models"])]
    sensor = build_freshness_sensor(keys)
    with dg.DagsterInstance.ephemeral() as instance:
        assert sensor(dg.build_sensor_context(instance=instance)).skip_message == (  # type: ignore[union-attr]
            "no stale source among 2 source assets"
        )
        # What Dagster's freshness evaluation records when a policy fails (the UI's badge reads the same record).
        instance.report_runless_asset_event(
            FreshnessStateChange(
                key=keys[1],
                previous_state=FreshnessState.PASS,
                new_state=FreshnessState.FAIL,
                state_change_timestamp=datetime.now(UTC).timestamp(),
            )
        )
        result = sensor(dg.build_sensor_context(instance=instance))
    assert isinstance(result, dg.SkipReason)
    assert result.skip_message is not None
    assert result.skip_message.startswith("1 stale, 0 late: raw_b/models (fail for 0 min)")
