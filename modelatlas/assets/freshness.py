"""Freshness of the source assets: a policy per source from its cadence, and a sensor that reports stale ones.

The sensor reads the freshness state Dagster's own freshness evaluation records for each asset, the state the UI's
badge shows, so the two never disagree.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta

import dagster as dg
from croniter import croniter

# Enough ticks to find the longest gap of a weekly pattern of any cron a user sets (weekdays only, hourly...).
_TICKS = 200
_EPOCH = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday: the gaps of a cron do not depend on where counting starts
# Freshness states, as Dagster records them.
STALE = "FAIL"
LATE = "WARN"


def schedule_interval(cron: str) -> timedelta:
    """The longest gap between two consecutive ticks of `cron` (UTC)."""
    ticks = croniter(cron, _EPOCH)
    previous = ticks.get_next(datetime)
    longest = timedelta(0)
    for _ in range(_TICKS):
        current = ticks.get_next(datetime)
        longest = max(longest, current - previous)
        previous = current
    return longest


def freshness_policy(cron: str, missed_intervals: int) -> dg.FreshnessPolicy:
    """Stale (failed) after `missed_intervals` schedule intervals without a load, late (warned) one interval earlier."""
    interval = schedule_interval(cron)
    return dg.FreshnessPolicy.time_window(
        fail_window=missed_intervals * interval, warn_window=(missed_intervals - 1) * interval
    )


def _minutes(delta: timedelta) -> str:
    minutes = delta.total_seconds() / 60
    return f"{minutes:.0f} min" if minutes < 120 else f"{minutes / 60:.1f} h"


def describe_states(states: Mapping[str, tuple[str, datetime]], now: datetime) -> tuple[list[str], list[str]]:
    """(stale, late) assets as readable lines, from {asset: (freshness state, since when)}."""
    stale, late = [], []
    for asset, (state, since) in sorted(states.items()):
        line = f"{asset} ({state.lower()} for {_minutes(now - since)})"
        if state == STALE:
            stale.append(line)
        elif state == LATE:
            late.append(line)
    return stale, late


def build_freshness_sensor(keys: Iterable[dg.AssetKey]) -> dg.SensorDefinition:
    """A sensor that reports, each minute, the source assets Dagster evaluates as stale (errors) or late."""
    watched = sorted(keys, key=str)

    @dg.sensor(
        name="source_freshness",
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Reports the source assets whose freshness policy (3 schedule intervals) failed or warned.",
    )
    def source_freshness(context: dg.SensorEvaluationContext) -> dg.SkipReason:
        records = context.instance.get_freshness_state_records(watched)
        states = {
            key.to_user_string(): (str(record.freshness_state.value), record.updated_at)
            for key, record in records.items()
        }
        stale, late = describe_states(states, datetime.now(UTC))
        for line in stale:
            context.log.error(f"stale source: {line}")
        for line in late:
            context.log.warning(f"late source: {line}")
        if not stale and not late:
            return dg.SkipReason(f"no stale source among {len(watched)} source assets")
        return dg.SkipReason(f"{len(stale)} stale, {len(late)} late: " + "; ".join(stale + late))

    return source_freshness
