"""When each source refreshes, and what happens when a run fails.

A source's schedule loads that source only; the dbt models downstream of it are built by the dbt automation sensor
when the data of one of their inputs changed (see `assets/dbt.py`). A schedule skips its tick while a run of its
source is still queued or running, so a slow source never piles up a backlog.
"""

from __future__ import annotations

from collections.abc import Sequence

import dagster as dg

from modelatlas.alerts.service import record_run_failures
from modelatlas.assets.sources import asset_key, gate_check_specs
from modelatlas.instance import SOURCE_TAG
from modelatlas.pipelines.spec import SourceSpec
from modelatlas.resources import WarehouseResource
from modelatlas.settings import source_cron

WAITING_OR_RUNNING = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


def source_job(spec: SourceSpec) -> dg.UnresolvedAssetJobDefinition:
    """A job that loads one source's raw tables and runs its quality gate.

    The dbt source tests, checks on the same assets, are left out: they run in the dbt op, and a source's run would
    otherwise start dbt and wait for the dbt pool behind every model build.
    """
    gate_checks = [check.key for check in gate_check_specs(spec)]
    return dg.define_asset_job(
        name=f"refresh_{spec.name}",
        selection=dg.AssetSelection.assets(*(asset_key(spec, table) for table in spec.tables)).without_checks()
        | dg.AssetSelection.checks(*gate_checks),
        description=(
            f"Load {spec.display_name} into {', '.join(spec.datasets())}; "
            "the dbt models reading it follow on their own."
        ),
        tags={SOURCE_TAG: spec.name},
    )


def pending_runs(instance: dg.DagsterInstance, job_name: str) -> int:
    """Runs of `job_name` queued, starting or running."""
    return len(instance.get_run_ids(dg.RunsFilter(job_name=job_name, statuses=WAITING_OR_RUNNING), limit=1))


def source_schedule(spec: SourceSpec) -> dg.ScheduleDefinition:
    """The schedule of one source, at its cadence (`MODELATLAS_<PREFIX>_CRON`, read when the code location loads)."""
    job = source_job(spec)
    cron = source_cron(spec)

    @dg.schedule(
        name=f"{spec.name}_schedule",
        job=job,
        cron_schedule=cron,
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=f"Loads {spec.display_name} ({cron}); skips a tick while its previous run is still pending.",
    )
    def refresh(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
        if pending_runs(context.instance, job.name):
            return dg.SkipReason(f"a run of {job.name} is still queued or running: this tick is skipped")
        return dg.RunRequest()

    return refresh


def build_schedules(specs: Sequence[SourceSpec]) -> list[dg.ScheduleDefinition]:
    """One schedule per source."""
    return [source_schedule(spec) for spec in specs]


@dg.run_failure_sensor(
    name="log_failed_runs",
    description="Writes every failed run, with the step that failed, to the ModelAtlas log.",
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def log_failed_runs(context: dg.RunFailureSensorContext, warehouse: WarehouseResource) -> None:
    """Log the failed run, its failing steps, and that the models reading a failed source keep their last build;
    raise a `run.failed` alert when alerts are configured."""
    step_keys = [event.step_key or "?" for event in context.get_step_failure_events()]
    steps = ", ".join(step_keys) or "no step"
    run = context.dagster_run
    message = f"run {run.run_id} of {run.job_name} failed in {steps}"
    source = run.tags.get(SOURCE_TAG)
    if source:
        message += f"; the dbt models reading {source} keep their last good build until it loads again"
    context.log.error(message)
    if record_run_failures(warehouse.connection(), [(run.run_id, run.job_name, step_keys, source)]):
        context.log.info(f"run.failed alert recorded for run {run.run_id}")
