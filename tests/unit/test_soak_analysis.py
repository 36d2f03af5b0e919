"""The soak's checks over what it read back from Dagster: pure functions of runs and builds."""

from __future__ import annotations

import dataclasses

from bench.soak.analysis import (
    Build,
    RunInfo,
    changed_loads,
    fetches_per_state,
    first_runs,
    followed_since,
    fresh_during_failure,
    needless_builds,
    overlapping_builds,
    per_minute,
    queue_waits,
    run_counts,
    unexpected_failures,
)


def _run(run_id: str, job: str, status: str = "SUCCESS", created: float = 0.0, **kwargs: object) -> RunInfo:
    fields: dict[str, object] = {"started": None, "ended": None, **kwargs}
    return RunInfo(run_id=run_id, job=job, status=status, created=created, **fields)  # type: ignore[arg-type]


def _build(key: str, at: float, version: str = "v1", code: str = "c1", **inputs: str) -> Build:
    return Build(key=key, run_id=f"run-{at}", at=at, data_version=version, code_version=code, inputs=dict(inputs))


def test_runs_are_counted_per_job_and_outcome() -> None:
    runs = [
        _run("a", "refresh_openai"),
        _run("b", "refresh_openai", "FAILURE"),
        _run("c", "refresh_openai", "QUEUED"),
        _run("d", "__ASSET_JOB", "CANCELED"),
    ]
    counts = run_counts(runs)
    assert counts["refresh_openai"] == {"launched": 3, "succeeded": 1, "failed": 1, "canceled": 0, "unfinished": 1}
    assert counts["__ASSET_JOB"]["canceled"] == 1
    assert [run.run_id for run in unexpected_failures(runs, "refresh_mistral")] == ["b"]
    assert unexpected_failures(runs, "refresh_openai") == []
    assert first_runs(runs) == {"refresh_openai": "SUCCESS", "__ASSET_JOB": "CANCELED"}


def test_a_run_still_queued_counts_its_wait_so_far() -> None:
    started = _run("a", "refresh_openai", created=0.0)
    started.started = 10.0
    queued = _run("b", "refresh_openai", "QUEUED", created=50.0)
    waits = queue_waits([started, queued], now=130.0)
    assert waits == {"median_s": 45.0, "max_s": 80.0}
    assert queue_waits([], now=1.0) == {"median_s": 0.0, "max_s": 0.0}


def test_only_runs_whose_steps_overlap_and_share_a_model_overlap() -> None:
    first = _run("a", "__ASSET_JOB", planned=frozenset({"marts/dim_models", "staging/x"}))
    first.step_started, first.step_ended = 0.0, 10.0
    overlapping = _run("b", "__ASSET_JOB", planned=frozenset({"marts/dim_models"}))
    overlapping.step_started, overlapping.step_ended = 5.0, 20.0
    other_model = _run("c", "__ASSET_JOB", planned=frozenset({"staging/y"}))
    other_model.step_started, other_model.step_ended = 5.0, 20.0
    after = _run("d", "__ASSET_JOB", planned=frozenset({"marts/dim_models"}))
    after.step_started, after.step_ended = 20.0, 30.0
    assert overlapping_builds([first, overlapping, other_model, after]) == [("marts/dim_models", "a", "b")]


def test_a_build_is_needless_when_its_code_and_every_input_are_those_of_the_previous_one() -> None:
    history = [
        _build("marts/dim_models", 1.0, raw="1"),
        _build("marts/dim_models", 2.0, raw="2"),
        _build("marts/dim_models", 3.0, raw="2"),
        _build("marts/dim_models", 4.0, code="c2", raw="2"),
    ]
    assert [build.at for build in needless_builds({"marts/dim_models": history})] == [3.0]


def test_an_input_built_in_the_same_run_counts_at_the_version_that_run_gave_it() -> None:
    def patterns(at: float, run_id: str) -> Build:
        build = _build("marts/mart_usage_patterns", at, **{"marts/fct_usage": "a"})
        return dataclasses.replace(build, run_id=run_id)

    def usage(at: float, run_id: str, version: str) -> Build:
        return dataclasses.replace(_build("marts/fct_usage", at, version), run_id=run_id)

    # Its step started before fct_usage was built again in the same run: it recorded the older version, read the new.
    changed = {
        "marts/mart_usage_patterns": [patterns(2.0, "b"), patterns(3.0, "c")],
        "marts/fct_usage": [usage(2.5, "c", "b")],
    }
    assert needless_builds(changed) == []
    unchanged = {
        "marts/mart_usage_patterns": [patterns(2.0, "b"), patterns(3.0, "c")],
        "marts/fct_usage": [usage(2.5, "c", "a")],
    }
    assert [build.at for build in needless_builds(unchanged)] == [3.0]


def test_a_load_counts_as_a_change_only_when_its_data_version_differs() -> None:
    history = [
        _build("raw_openai/models", 1.0, "a"),
        _build("raw_openai/models", 2.0, "a"),
        _build("raw_openai/models", 3.0, "b"),
    ]
    assert [build.at for build in changed_loads({"raw_openai/models": history})] == [1.0, 3.0]


def test_changes_and_builds_are_counted_per_minute_of_the_soak() -> None:
    loads = [_build("raw_openai/models", 100.0 + 5), _build("raw_openai/models", 100.0 + 70)]
    dbt = [_build("marts/dim_models", 100.0 + 80), _build("marts/x", 100.0 + 90), _build("marts/x", 100.0 + 500)]
    rows = per_minute(100.0, 100.0 + 150, loads, dbt)
    assert rows == [
        {"minute": 0, "changed_source_tables": 1, "dbt_models_built": 0},
        {"minute": 1, "changed_source_tables": 1, "dbt_models_built": 2},
        {"minute": 2, "changed_source_tables": 0, "dbt_models_built": 0},
    ]


def test_a_mart_is_fresh_during_a_failure_when_built_between_the_change_and_the_recovery() -> None:
    builds = {"marts/a": [_build("marts/a", 5.0), _build("marts/a", 15.0)], "marts/b": [_build("marts/b", 25.0)]}
    assert fresh_during_failure(builds, ["marts/a", "marts/b", "marts/c"], 10.0, 20.0) == {
        "marts/a": 15.0,
        "marts/b": None,
        "marts/c": None,
    }


def test_marts_follow_the_first_load_whose_data_changed_not_the_latest_load() -> None:
    # The source loads every minute; its data changed at 60 only. Later loads of the same data build nothing.
    loads = {"raw_litellm/prices": [_build("raw_litellm/prices", 0, "v1"), _build("raw_litellm/prices", 60, "v2")]}
    loads["raw_litellm/prices"] += [_build("raw_litellm/prices", at, "v2") for at in (120, 180, 240)]
    built_after = {"marts/mart": [_build("marts/mart", 10), _build("marts/mart", 90)]}
    built_before = {"marts/mart": [_build("marts/mart", 10), _build("marts/mart", 50)]}
    assert followed_since(loads, built_after, since=30)
    assert not followed_since(loads, built_before, since=30)
    # No change since `since`: nothing to follow yet.
    assert not followed_since(loads, built_after, since=100)


def test_a_source_fetched_a_state_when_a_successful_run_of_its_job_started_in_it() -> None:
    runs = [
        _run("o1", "refresh_openrouter", started=150.0),  # state 1
        _run("o2", "refresh_openrouter", "FAILURE", started=50.0),  # failed: no fetch of state 0
        _run("o3", "refresh_openrouter", started=None),  # never started
        _run("e1", "refresh_openrouter_endpoints", started=60.0),  # another job asking the same API
        _run("l1", "refresh_litellm", started=10.0),  # state 0
        _run("l2", "refresh_litellm", started=200.0),  # state 2, its first instant
        _run("d1", "__ASSET_JOB", started=20.0),
    ]
    counts = fetches_per_state(runs, ["openrouter", "litellm", "openai"], [0.0, 100.0, 200.0])
    assert counts == {"openrouter": [0, 1, 0], "litellm": [1, 0, 1], "openai": [0, 0, 0]}


def test_a_run_started_before_the_first_state_counts_in_none() -> None:
    assert fetches_per_state([_run("a", "refresh_openai", started=5.0)], ["openai"], [10.0, 20.0]) == {"openai": [0, 0]}
