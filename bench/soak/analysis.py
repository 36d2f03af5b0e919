"""What the soak reads back from the Dagster instance, and the checks over it: runs per job, queue waits, dbt builds
per minute, overlapping builds, builds whose inputs had not changed, and the marts' freshness while a source fails.

Reading Dagster's tags (data versions of each materialization and of its inputs) is this checker's business only.
"""

from __future__ import annotations

import bisect
import itertools
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

DATA_VERSION_TAG = "dagster/data_version"
CODE_VERSION_TAG = "dagster/code_version"
INPUT_VERSION_PREFIX = "dagster/input_data_version/"
DBT_JOB = "__ASSET_JOB"


@dataclass
class RunInfo:
    """One run: its job, outcome, times and what it planned to materialize."""

    run_id: str
    job: str
    status: str
    created: float
    started: float | None
    ended: float | None
    planned: frozenset[str] = frozenset()
    step_started: float | None = None
    step_ended: float | None = None
    failure: str = ""

    @property
    def queue_wait_s(self) -> float | None:
        """From creation to start (None while queued)."""
        return None if self.started is None else self.started - self.created


@dataclass
class Build:
    """One materialization of one asset, with the data versions it recorded."""

    key: str
    run_id: str
    at: float
    data_version: str | None
    code_version: str | None
    inputs: dict[str, str] = field(default_factory=dict)


def read_runs(instance: Any, since: float) -> list[RunInfo]:
    """Every run created since `since` (epoch seconds), oldest first, with its step times and planned assets."""
    import dagster as dg

    runs = []
    for record in instance.get_run_records(filters=dg.RunsFilter(created_after=_datetime(since))):
        run = record.dagster_run
        info = RunInfo(
            run_id=run.run_id,
            job=run.job_name,
            status=run.status.value,
            created=record.create_timestamp.timestamp(),
            started=record.start_time,
            ended=record.end_time,
        )
        planned = set()
        for entry in instance.all_logs(run.run_id):
            event = entry.dagster_event
            if event is None:
                continue
            kind = event.event_type
            if kind == dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED and event.asset_key is not None:
                planned.add(event.asset_key.to_user_string())
            elif kind == dg.DagsterEventType.STEP_START:
                info.step_started = min(filter(None, [info.step_started, entry.timestamp]), default=entry.timestamp)
            elif kind in (dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE):
                info.step_ended = max(filter(None, [info.step_ended, entry.timestamp]), default=entry.timestamp)
            if kind in (dg.DagsterEventType.STEP_FAILURE, dg.DagsterEventType.RUN_FAILURE) and not info.failure:
                error = getattr(event.event_specific_data, "error", None)
                info.failure = (error.message if error else entry.message or "").strip()[:300]
        info.planned = frozenset(planned)
        runs.append(info)
    return sorted(runs, key=lambda run: run.created)


def _datetime(epoch: float) -> Any:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(epoch, UTC)


def read_builds(instance: Any, keys: Iterable[Any]) -> dict[str, list[Build]]:
    """Every materialization of each asset key, oldest first."""
    import dagster as dg

    builds: dict[str, list[Build]] = {}
    for key in keys:
        events: list[Build] = []
        cursor = None
        while True:
            result = instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=key), limit=500, cursor=cursor)
            for record in result.records:
                materialization = record.asset_materialization
                tags = (materialization.tags or {}) if materialization is not None else {}
                events.append(
                    Build(
                        key=key.to_user_string(),
                        run_id=record.run_id,
                        at=record.timestamp,
                        data_version=tags.get(DATA_VERSION_TAG),
                        code_version=tags.get(CODE_VERSION_TAG),
                        inputs={
                            name.removeprefix(INPUT_VERSION_PREFIX): value
                            for name, value in tags.items()
                            if name.startswith(INPUT_VERSION_PREFIX)
                        },
                    )
                )
            if not result.has_more:
                break
            cursor = result.cursor
        builds[key.to_user_string()] = sorted(events, key=lambda build: build.at)
    return builds


# The checks: pure functions of what was read.


def run_counts(runs: Sequence[RunInfo]) -> dict[str, dict[str, int]]:
    """Per job: runs launched, and how many succeeded, failed, were canceled or had not finished."""
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for run in runs:
        outcome = {"SUCCESS": "succeeded", "FAILURE": "failed", "CANCELED": "canceled"}.get(run.status, "unfinished")
        counts[run.job]["launched"] += 1
        counts[run.job][outcome] += 1
    order = ("launched", "succeeded", "failed", "canceled", "unfinished")
    return {job: {name: counts[job][name] for name in order} for job in sorted(counts)}


def unexpected_failures(runs: Sequence[RunInfo], failing_job: str) -> list[RunInfo]:
    """Failed runs, the injected source's aside."""
    return [run for run in runs if run.status == "FAILURE" and run.job != failing_job]


def first_runs(runs: Sequence[RunInfo]) -> dict[str, str]:
    """The outcome of each job's first run."""
    first: dict[str, str] = {}
    for run in runs:
        first.setdefault(run.job, run.status)
    return first


def queue_waits(runs: Sequence[RunInfo], now: float) -> dict[str, float]:
    """Median and longest wait in the queue (a run still queued counts its wait so far)."""
    waits = [run.queue_wait_s if run.started is not None else now - run.created for run in runs]
    waits = [wait for wait in waits if wait is not None]
    if not waits:
        return {"median_s": 0.0, "max_s": 0.0}
    return {"median_s": statistics.median(waits), "max_s": max(waits)}


def overlapping_builds(runs: Sequence[RunInfo]) -> list[tuple[str, str, str]]:
    """(model, run, run) for two runs whose steps overlapped in time and both planned to build the model."""
    building = [run for run in runs if run.step_started is not None and run.planned]
    found = []
    for position, first in enumerate(building):
        for second in building[position + 1 :]:
            assert first.step_started is not None and second.step_started is not None
            first_end = first.step_ended or float("inf")
            second_end = second.step_ended or float("inf")
            if first.step_started < second_end and second.step_started < first_end:
                found += [(model, first.run_id, second.run_id) for model in sorted(first.planned & second.planned)]
    return found


def fetches_per_state(
    runs: Sequence[RunInfo], names: Iterable[str], state_starts: Sequence[float]
) -> dict[str, list[int]]:
    """Per source, how many successful runs of its job started in each state (`state_starts`: when each began,
    epoch seconds, in order). A run reads its source as it starts. Requests to the simulated API are no measure of
    this: the probes and the endpoint job ask the same APIs, so a source may have been asked in a state it never
    loaded."""
    counts = {name: [0] * len(state_starts) for name in names}
    for run in runs:
        name = run.job.removeprefix("refresh_")
        if name not in counts or run.status != "SUCCESS" or run.started is None:
            continue
        state = bisect.bisect_right(state_starts, run.started) - 1
        if state >= 0:
            counts[name][state] += 1
    return counts


def versions_read(build: Build, built_in_run: Mapping[tuple[str, str], str | None]) -> dict[str, str | None]:
    """The data versions a build read. A model builds with the dbt models it reads that build in the same run (one
    dbt invocation, one step): those it read at the version that run gave them, not the one recorded as the step
    started."""
    return {key: built_in_run.get((build.run_id, key), version) for key, version in build.inputs.items()}


def needless_builds(builds: Mapping[str, Sequence[Build]]) -> list[Build]:
    """Builds of a model whose code version and every input's data version read equal those of its previous build."""
    built_in_run = {(build.run_id, build.key): build.data_version for history in builds.values() for build in history}
    found = []
    for history in builds.values():
        for previous, build in itertools.pairwise(history):
            same_inputs = versions_read(build, built_in_run) == versions_read(previous, built_in_run)
            if build.code_version == previous.code_version and same_inputs:
                found.append(build)
    return found


def changed_loads(builds: Mapping[str, Sequence[Build]]) -> list[Build]:
    """Materializations of the source tables whose data version differs from the one before (the first counts)."""
    found = []
    for history in builds.values():
        previous_version = None
        for build in history:
            if build.data_version != previous_version:
                found.append(build)
            previous_version = build.data_version
    return found


def followed_since(
    source_builds: Mapping[str, Sequence[Build]], mart_builds: Mapping[str, Sequence[Build]], since: float
) -> bool:
    """Whether a source table's data changed at or after `since` and every mart was built after the first such load."""
    changed = [build.at for build in changed_loads(source_builds) if build.at >= since]
    if not changed:
        return False
    first = min(changed)
    return all(any(build.at > first for build in builds) for builds in mart_builds.values())


def per_minute(start: float, end: float, loads: Sequence[Build], dbt: Sequence[Build]) -> list[dict[str, int]]:
    """For each minute (schedule tick) of the soak: source tables whose data changed, and dbt models built."""
    minutes = max(1, int((end - start) // 60) + 1)
    rows = [{"minute": minute, "changed_source_tables": 0, "dbt_models_built": 0} for minute in range(minutes)]
    for build in loads:
        if start <= build.at < end:
            rows[int((build.at - start) // 60)]["changed_source_tables"] += 1
    for build in dbt:
        if start <= build.at < end:
            rows[int((build.at - start) // 60)]["dbt_models_built"] += 1
    return rows


def fresh_during_failure(
    builds: Mapping[str, Sequence[Build]], models: Iterable[str], changed_at: float, failure_ended: float
) -> dict[str, float | None]:
    """For each model: when it was first built after `changed_at` and before `failure_ended` (None: not built)."""
    fresh: dict[str, float | None] = {}
    for model in models:
        times = [build.at for build in builds.get(model, []) if changed_at <= build.at <= failure_ended]
        fresh[model] = min(times) if times else None
    return fresh
