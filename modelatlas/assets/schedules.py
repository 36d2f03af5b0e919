"""Schedules and sensors: when each source refreshes, and what happens when a run fails."""

from __future__ import annotations

import os

import dagster as dg

from modelatlas.assets.genai_prices import GROUP as GENAI_PRICES_GROUP
from modelatlas.assets.litellm import DEFAULT_CRON as DEFAULT_LITELLM_CRON
from modelatlas.assets.litellm import GROUP as LITELLM_GROUP
from modelatlas.pipelines.providers import PROVIDERS

DEFAULT_GENAI_PRICES_CRON = "*/10 * * * *"


def source_job(group: str) -> dg.UnresolvedAssetJobDefinition:
    """A job that refreshes one source group and every dbt model downstream of it."""
    selection = dg.AssetSelection.groups(group)
    return dg.define_asset_job(
        name=f"refresh_{group}",
        selection=selection | selection.downstream(),
        description=f"Load {group} and rebuild the dbt models that read it.",
    )


def cron_for(env_prefix: str, default: str) -> str:
    """A source's cadence: `MODELATLAS_<PREFIX>_CRON`, else its default."""
    return os.environ.get(f"MODELATLAS_{env_prefix}_CRON", "").strip() or default


def build_schedules() -> list[dg.ScheduleDefinition]:
    """One schedule per source; cadences come from `MODELATLAS_*_CRON` when the code location loads."""
    cadences = [
        (GENAI_PRICES_GROUP, cron_for("GENAI_PRICES", DEFAULT_GENAI_PRICES_CRON), "the genai-prices registry"),
        (LITELLM_GROUP, cron_for("LITELLM", DEFAULT_LITELLM_CRON), "LiteLLM's price file"),
    ]
    cadences += [
        (spec.name, cron_for(spec.env_prefix, spec.default_cron), f"{spec.display_name}'s catalog")
        for spec in PROVIDERS
    ]
    return [
        dg.ScheduleDefinition(
            name=f"{group}_schedule",
            job=source_job(group),
            cron_schedule=cron,
            execution_timezone="UTC",
            default_status=dg.DefaultScheduleStatus.RUNNING,
            description=f"Reads {what} ({cron}) and rebuilds the dbt models downstream of it.",
        )
        for group, cron, what in cadences
    ]


@dg.run_failure_sensor(
    name="log_failed_runs",
    description="Writes every failed run, with the step that failed, to the ModelAtlas log.",
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def log_failed_runs(context: dg.RunFailureSensorContext) -> None:
    """Log the failed run and its failing steps."""
    steps = ", ".join(event.step_key or "?" for event in context.get_step_failure_events()) or "no step"
    context.log.error(f"run {context.dagster_run.run_id} of {context.dagster_run.job_name} failed in {steps}")
