"""Freshness of the source assets: stale after 3 missed schedule intervals, and a sensor that reports stale ones."""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import dagster as dg
from croniter import croniter

from modelatlas.assets.genai_prices import GROUP as GENAI_PRICES_GROUP
from modelatlas.assets.litellm import DEFAULT_CRON as DEFAULT_LITELLM_CRON
from modelatlas.assets.litellm import GROUP as LITELLM_GROUP
from modelatlas.assets.schedules import DEFAULT_GENAI_PRICES_CRON, cron_for
from modelatlas.pipelines.providers import PROVIDERS

MISSED_INTERVALS = 3
# Enough ticks to find the longest gap of a weekly pattern of any cron a user sets (weekdays only, hourly...).
_TICKS = 200
_EPOCH = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday: the gaps of a cron do not depend on where counting starts


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


def stale_after(cron: str, missed: int = MISSED_INTERVALS) -> timedelta:
    """How old a source's last load may be before it counts as stale: `missed` schedule intervals."""
    return missed * schedule_interval(cron)


def group_crons() -> dict[str, str]:
    """{source group: cron} for every source, from `MODELATLAS_<P>_CRON` (read when the code location loads)."""
    crons = {
        GENAI_PRICES_GROUP: cron_for("GENAI_PRICES", DEFAULT_GENAI_PRICES_CRON),
        LITELLM_GROUP: cron_for("LITELLM", DEFAULT_LITELLM_CRON),
    }
    crons |= {spec.name: cron_for(spec.env_prefix, spec.default_cron) for spec in PROVIDERS}
    return crons


def with_freshness(assets: Sequence[dg.AssetsDefinition], crons: Mapping[str, str]) -> list[dg.AssetsDefinition]:
    """The source assets with a freshness policy (fail after 3 missed intervals, warn after 2); others unchanged."""

    def attach(spec: dg.AssetSpec) -> dg.AssetSpec:
        cron = crons.get(spec.group_name or "")
        if cron is None:
            return spec
        interval = schedule_interval(cron)
        policy = dg.FreshnessPolicy.time_window(
            fail_window=MISSED_INTERVALS * interval, warn_window=(MISSED_INTERVALS - 1) * interval
        )
        return spec.replace_attributes(freshness_policy=policy)

    return [asset.map_asset_specs(attach) if _is_source(asset, crons) else asset for asset in assets]


def _is_source(asset: dg.AssetsDefinition, crons: Mapping[str, str]) -> bool:
    return any(spec.group_name in crons for spec in asset.specs)


@dataclass(frozen=True)
class Staleness:
    """One source asset whose last load is older than its freshness window."""

    asset: str
    last_loaded: datetime | None
    window: timedelta

    def describe(self, now: datetime) -> str:
        """`raw_openai/models: last loaded 42 min ago (stale after 15 min)`."""
        window = _minutes(self.window)
        if self.last_loaded is None:
            return f"{self.asset}: never loaded (stale after {window})"
        return f"{self.asset}: last loaded {_minutes(now - self.last_loaded)} ago (stale after {window})"


def _minutes(delta: timedelta) -> str:
    minutes = delta.total_seconds() / 60
    return f"{minutes:.0f} min" if minutes < 120 else f"{minutes / 60:.1f} h"


def stale_assets(
    last_loaded: Mapping[str, datetime | None], windows: Mapping[str, timedelta], now: datetime
) -> list[Staleness]:
    """The assets whose last load is missing or older than their window."""
    stale = []
    for asset, window in sorted(windows.items()):
        loaded = last_loaded.get(asset)
        if loaded is None or now - loaded > window:
            stale.append(Staleness(asset, loaded, window))
    return stale


def freshness_windows(assets: Iterable[dg.AssetsDefinition]) -> dict[dg.AssetKey, timedelta]:
    """{asset key: fail window} of every asset spec that carries a time-window freshness policy."""
    windows: dict[dg.AssetKey, timedelta] = {}
    for asset in assets:
        for spec in asset.specs:
            policy = spec.freshness_policy
            fail_window = getattr(policy, "fail_window", None)
            if fail_window is not None:
                windows[spec.key] = fail_window.to_timedelta()
    return windows


def build_freshness_sensor(assets: Sequence[dg.AssetsDefinition]) -> dg.SensorDefinition:
    """A sensor that evaluates every source asset's freshness each minute and logs the stale ones as errors."""
    windows = freshness_windows(assets)

    @dg.sensor(
        name="source_freshness",
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Reports every source asset not loaded within 3 schedule intervals (its freshness policy).",
    )
    def source_freshness(context: dg.SensorEvaluationContext) -> dg.SkipReason:
        now = datetime.now(UTC)
        last: dict[str, datetime | None] = {}
        for key in windows:
            event = context.instance.get_latest_materialization_event(key)
            last[key.to_user_string()] = datetime.fromtimestamp(event.timestamp, UTC) if event else None
        stale = stale_assets(last, {key.to_user_string(): window for key, window in windows.items()}, now)
        for item in stale:
            context.log.error(f"stale source: {item.describe(now)}")
        if not stale:
            return dg.SkipReason(f"all {len(windows)} source assets are fresh")
        return dg.SkipReason(f"{len(stale)} stale: " + "; ".join(item.describe(now) for item in stale))

    return source_freshness
