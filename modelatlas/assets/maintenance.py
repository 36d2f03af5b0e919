"""The daily maintenance of the time series: next month's partitions made ahead, those past retention dropped."""

# No `from __future__ import annotations`: Dagster reads the context annotation of an op at runtime.

from datetime import UTC, datetime

import dagster as dg

from modelatlas.pipelines.registry import sources
from modelatlas.pipelines.spec import TableSpec
from modelatlas.resources import WarehouseResource
from modelatlas.warehouse.timeseries import maintain, retention_days

MAINTENANCE_CRON = "17 3 * * *"


def time_series_tables() -> list[TableSpec]:
    """Every time-series table a source writes."""
    return [table for spec in sources() for table in spec.tables if table.time_column is not None]


@dg.op(
    description="Partitions of the ts tables: next month's made ahead, those past MODELATLAS_TS_RETENTION_DAYS dropped."
)
def maintain_time_series(context: dg.OpExecutionContext, warehouse: WarehouseResource) -> None:
    """Run the idempotent maintenance step and log what it created and dropped."""
    report = maintain(
        warehouse.connection(), time_series_tables(), now=datetime.now(UTC), retention_days=retention_days()
    )
    context.log.info(
        f"time series on {report.backend}: {len(report.created)} partitions created, "
        f"{len(report.dropped)} dropped ({', '.join(report.dropped) or 'none'})"
    )


@dg.job(description="Keeps the time-series partitions ahead of the clock and within retention.")
def time_series_maintenance() -> None:
    """The maintenance job."""
    maintain_time_series()


time_series_maintenance_schedule = dg.ScheduleDefinition(
    name="time_series_maintenance_schedule",
    job=time_series_maintenance,
    cron_schedule=MAINTENANCE_CRON,
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Daily: next month's partitions exist, partitions past retention are dropped.",
)
