"""The one Definitions object of the ModelAtlas code location, derived from the source specs."""

from __future__ import annotations

from collections.abc import Sequence

import dagster as dg

from modelatlas.assets.alerts import alerts_interval_s, build_alerts_sensor
from modelatlas.assets.arrivals import build_arrival_sensors
from modelatlas.assets.dbt import build_dbt_assets, dbt_automation_sensor, dbt_resource
from modelatlas.assets.freshness import build_freshness_sensor, freshness_policy
from modelatlas.assets.maintenance import time_series_maintenance, time_series_maintenance_schedule
from modelatlas.assets.schedules import build_schedules, log_failed_runs
from modelatlas.assets.sources import source_assets
from modelatlas.pipelines.registry import sources
from modelatlas.pipelines.spec import SourceSpec
from modelatlas.resources import QualityGateResource, WarehouseResource
from modelatlas.settings import automation_interval_s, source_cron


def build_definitions(specs: Sequence[SourceSpec] | None = None) -> dg.Definitions:
    """Assets, checks, schedules, sensors and resources of every source; settings are read when runs start."""
    specs = sources() if specs is None else specs
    loads = [source_assets(spec, freshness_policy(source_cron(spec), spec.missed_intervals)) for spec in specs]
    dbt = build_dbt_assets()
    return dg.Definitions(
        assets=[*loads, dbt],
        jobs=[time_series_maintenance],
        schedules=[*build_schedules(specs), time_series_maintenance_schedule],
        sensors=[
            log_failed_runs,
            build_freshness_sensor(key for load in loads for key in load.keys),
            dbt_automation_sensor(dbt, automation_interval_s()),
            *build_arrival_sensors(specs),
            build_alerts_sensor((key for load in loads for key in load.keys), alerts_interval_s()),
        ],
        resources={"warehouse": WarehouseResource(), "quality": QualityGateResource(), "dbt": dbt_resource()},
        # Steps run in the run's own process: a run of one source or one dbt build gains nothing from a process
        # per step, and on a small machine every process start counts.
        executor=dg.in_process_executor,
    )


@dg.definitions
def defs() -> dg.Definitions:
    """Loaded by Dagster when the code location starts, not when this module is imported."""
    return build_definitions()
