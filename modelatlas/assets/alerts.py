"""The alerts sensor: each tick evaluates the marts into the outbox and delivers what is due (`alerts/service.py`).

Exactly-once does not depend on the tick: events are keyed by their content and deliveries are claimed in the
warehouse, so a restarted daemon, a second daemon or `modelatlas alerts deliver` running alongside repeat nothing.
The cursor keeps the outbox's position at the last tick, so the UI shows how far alerts have got.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime

import dagster as dg

from modelatlas.alerts.service import run_alerts
from modelatlas.alerts.settings import alert_settings
from modelatlas.assets.freshness import STALE
from modelatlas.errors import ModelAtlasError
from modelatlas.resources import WarehouseResource

# A tick keeps retrying sends due within this long; later retries wait for the next tick.
DELIVERY_BUDGET_S = 5.0
DEFAULT_INTERVAL_S = 30


def alerts_interval_s() -> int:
    """The sensor's interval (`MODELATLAS_ALERTS_INTERVAL_S`, read when the code location loads); a bad setting
    leaves the default here and fails the sensor's ticks, with its message, rather than the whole code location."""
    try:
        return alert_settings().alerts_interval_s
    except ModelAtlasError:
        return DEFAULT_INTERVAL_S


def stale_assets(instance: dg.DagsterInstance, keys: Iterable[dg.AssetKey]) -> dict[str, datetime]:
    """Source assets whose freshness Dagster evaluates as failed, with when that state was recorded."""
    records = instance.get_freshness_state_records(list(keys))
    return {
        key.to_user_string(): record.updated_at
        for key, record in records.items()
        if str(record.freshness_state.value) == STALE
    }


def build_alerts_sensor(source_keys: Iterable[dg.AssetKey], interval_s: int) -> dg.SensorDefinition:
    """The sensor that raises and delivers alerts every `interval_s` seconds (`MODELATLAS_ALERTS_INTERVAL_S`)."""
    watched = sorted(source_keys, key=str)

    @dg.sensor(
        name="alerts",
        minimum_interval_seconds=interval_s,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            "Reads the marts for new events (catalog, prices, outages, status, budgets, quality, stale sources), "
            "records them in ops.alert_outbox and delivers each once to its channels (Slack, Discord, email, "
            "signed webhooks)."
        ),
    )
    def alerts(context: dg.SensorEvaluationContext, warehouse: WarehouseResource) -> dg.SkipReason:
        report = run_alerts(
            warehouse.connection(),
            alert_settings(),
            stale_assets=stale_assets(context.instance, watched),
            budget_s=DELIVERY_BUDGET_S,
        )
        if report is None:
            return dg.SkipReason("no alert channel is configured (see docs/alerts.md)")
        if report.last_sequence is not None:
            context.update_cursor(json.dumps({"outbox_sequence": report.last_sequence}))
        for error in report.errors:
            context.log.warning(f"alert detector failed, retried next tick: {error}")
        for channel in report.disabled_channels:
            context.log.error(f"alert channel {channel} disabled: its receiver said the endpoint is gone")
        return dg.SkipReason(report.describe())

    return alerts
