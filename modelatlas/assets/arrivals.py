"""Sensors that start a source's job when files arrive in the folder it reads (the request-log folder).

The sensor looks at names, sizes and modification times only (never the content: the source hashes each file and
loads new content once); a change starts one run, skipped while a run of the source is still pending, and a file
still being written starts another run when it changes again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import dagster as dg

from modelatlas.assets.schedules import pending_runs, source_job
from modelatlas.errors import ConfigurationError
from modelatlas.pipelines.spec import SourceSpec
from modelatlas.settings import source_config

SENSOR_INTERVAL_S = 30


def folder_files(folder: Path) -> list[Path]:
    """The files of `folder` a source would read: visible files, not partial ones (`*.tmp`, `*.part`)."""
    if not folder.is_dir():
        return []
    return sorted(
        path
        for path in folder.iterdir()
        if path.is_file() and not path.name.startswith(".") and path.suffix not in (".tmp", ".part")
    )


def folder_fingerprint(files: Sequence[Path]) -> str:
    """A digest of the files' names, sizes and modification times."""
    digest = hashlib.sha256()
    for path in files:
        stat = path.stat()
        digest.update(f"{path.name}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def arrival_sensor(spec: SourceSpec) -> dg.SensorDefinition:
    """Starts `spec`'s job when the files of its watched folder change."""
    option = spec.watched_folder
    if option is None:
        raise ValueError(f"{spec.name} watches no folder")
    job_name = source_job(spec).name  # the job its schedule runs, defined once beside the schedule

    @dg.sensor(
        name=f"{spec.name}_arrivals",
        job_name=job_name,
        minimum_interval_seconds=SENSOR_INTERVAL_S,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Loads {spec.display_name} when files arrive in its folder (every {SENSOR_INTERVAL_S} s).",
    )
    def arrivals(context: dg.SensorEvaluationContext) -> dg.RunRequest | dg.SkipReason:
        try:
            config = source_config(spec)
        except ConfigurationError as exc:
            return dg.SkipReason(str(exc))
        if config.skip_reason is not None:
            return dg.SkipReason(config.skip_reason)
        files = folder_files(Path(str(config.options[option])).expanduser())
        if not files:
            return dg.SkipReason("no file in the folder")
        fingerprint = folder_fingerprint(files)
        if fingerprint == context.cursor:
            return dg.SkipReason("no file arrived or changed")
        if pending_runs(context.instance, job_name):
            return dg.SkipReason(f"a run of {job_name} is still queued or running: the new files wait for the next")
        context.update_cursor(fingerprint)
        return dg.RunRequest(run_key=fingerprint)

    return arrivals


def build_arrival_sensors(specs: Sequence[SourceSpec]) -> list[dg.SensorDefinition]:
    """One sensor per source that watches a folder."""
    return [arrival_sensor(spec) for spec in specs if spec.watched_folder is not None]
