"""The one rule that decides when a dbt model builds, evaluated as the daemon's sensor and `modelatlas run` do."""

# No `from __future__ import annotations`: Dagster reads the context annotation of an asset function at runtime.
import threading
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg
import pytest
from dagster._utils.caching_instance_queryer import CachingInstanceQueryer

from modelatlas.assets.dbt import build_condition

VERSIONS = {"raw_x": "x1", "raw_y": "y1"}
CODE = {"stg_x": "1", "stg_y": "1", "mart": "1"}
# Models whose build fails (a broken SQL, say).
BROKEN: set[str] = set()
# Raw tables that get new data while a given model builds: {model: (raw table, new version)}.
LANDS_DURING: dict[str, tuple[str, str]] = {}
# Models on a cadence: {model: cron}.
CADENCES: dict[str, str] = {}
# Models whose build signals the first event once it starts and waits for the second before it ends.
HOLDS: dict[str, tuple[threading.Event, threading.Event]] = {}


def source(name: str) -> dg.AssetsDefinition:
    @dg.asset(key=[name, "models"])
    def load() -> dg.MaterializeResult[Any]:
        return dg.MaterializeResult(data_version=dg.DataVersion(VERSIONS[name]))

    return load


def model(name: str, deps: list[dg.AssetKey]) -> dg.AssetsDefinition:
    @dg.asset(
        key=["dbt", name],
        deps=deps,
        code_version=CODE[name],
        automation_condition=build_condition(CADENCES.get(name)),
        kinds={"dbt"},
    )
    def build(context: dg.AssetExecutionContext) -> None:
        if name in BROKEN:
            raise RuntimeError(f"{name} does not build")
        if name in HOLDS:
            started, may_finish = HOLDS.pop(name)
            started.set()
            if not may_finish.wait(60):
                raise TimeoutError(f"{name} was never let finish")
        if name in LANDS_DURING:
            # A source's load lands while this build runs (its step has started and recorded its inputs).
            raw, version = LANDS_DURING.pop(name)
            VERSIONS[raw] = version
            context.instance.report_runless_asset_event(
                dg.AssetMaterialization(asset_key=[raw, "models"], tags={"dagster/data_version": version})
            )

    return build


def graph() -> list[dg.AssetsDefinition]:
    raw_x, raw_y = source("raw_x"), source("raw_y")
    stg_x, stg_y = model("stg_x", [raw_x.key]), model("stg_y", [raw_y.key])
    return [raw_x, raw_y, stg_x, stg_y, model("mart", [stg_x.key, stg_y.key])]


class Daemon:
    """Ticks of the rule over a graph, in one instance, materializing what each tick requests (one run)."""

    def __init__(self, instance: dg.DagsterInstance) -> None:
        self.instance = instance
        self.cursor: Any = None

    def tick(self, at: datetime | None = None) -> set[str]:
        assets = graph()
        requested = self.request(assets, at)
        if requested:
            self.execute(assets, requested)
        return {key.path[-1] for key in requested}

    def request(self, assets: list[dg.AssetsDefinition], at: datetime | None = None) -> set[dg.AssetKey]:
        """One evaluation of the rule (at `at`, else now): what it requests (not yet run)."""
        result = dg.evaluate_automation_conditions(
            defs=assets, instance=self.instance, cursor=self.cursor, evaluation_time=at
        )
        self.cursor = result.cursor
        return {a.key for a in assets if result.get_num_requested(a.key)}

    def load(self, *names: str) -> None:
        self.execute(graph(), {dg.AssetKey([name, "models"]) for name in names})

    def execute(self, assets: list[dg.AssetsDefinition], keys: set[dg.AssetKey]) -> None:
        # As the runner and the daemon's runs do: one run of the selected assets, recording its selection.
        job = dg.Definitions(assets=assets).resolve_implicit_global_asset_job_def()
        job.execute_in_process(instance=self.instance, asset_selection=sorted(keys, key=str), raise_on_error=False)


@pytest.fixture
def daemon() -> Iterator[Daemon]:
    VERSIONS.update(raw_x="x1", raw_y="y1")
    CODE.update(stg_x="1", stg_y="1", mart="1")
    BROKEN.clear()
    LANDS_DURING.clear()
    CADENCES.clear()
    HOLDS.clear()
    # On disk, not in memory: a test runs a run in a thread of its own.
    with dg.instance_for_test() as instance:
        yield Daemon(instance)


def test_every_model_builds_on_the_first_tick_even_before_any_source_loaded(daemon: Daemon) -> None:
    assert daemon.tick() == {"stg_x", "stg_y", "mart"}
    assert daemon.tick() == set()


def test_a_source_loaded_with_the_same_data_builds_nothing(daemon: Daemon) -> None:
    daemon.load("raw_x", "raw_y")
    daemon.tick()
    daemon.load("raw_x", "raw_y")
    assert daemon.tick() == set()


def test_new_data_builds_the_models_that_read_it_and_what_follows_once(daemon: Daemon) -> None:
    daemon.load("raw_x", "raw_y")
    daemon.tick()
    VERSIONS["raw_x"] = "x2"
    daemon.load("raw_x")
    assert daemon.tick() == {"stg_x", "mart"}
    # The mart read stg_x's new data in the same run: that is no change to build again for.
    assert daemon.tick() == set()


def test_changed_code_builds_that_model_and_what_follows(daemon: Daemon) -> None:
    daemon.tick()
    CODE["stg_y"] = "2"
    assert daemon.tick() == {"stg_y", "mart"}
    assert daemon.tick() == set()


def test_a_source_that_fails_or_is_skipped_stops_nothing_else(daemon: Daemon) -> None:
    daemon.tick()
    # raw_y never loads (its key is missing, or it fails): raw_x's new data still builds all that reads it.
    VERSIONS["raw_x"] = "x2"
    daemon.load("raw_x")
    assert daemon.tick() == {"stg_x", "mart"}


def test_nothing_builds_while_it_or_an_input_is_in_progress_and_it_builds_after(daemon: Daemon) -> None:
    daemon.tick()
    VERSIONS["raw_x"] = "x2"
    daemon.load("raw_x")
    assets = graph()
    # A run that will build stg_x is queued: stg_x and the mart wait for it instead of building twice at once.
    queued = daemon.instance.create_run_for_job(
        dg.Definitions(assets=assets).resolve_implicit_global_asset_job_def(),
        asset_selection=frozenset({dg.AssetKey(["dbt", "stg_x"])}),
        status=dg.DagsterRunStatus.STARTED,
    )
    assert daemon.tick() == set()
    daemon.instance.report_run_canceled(queued)
    assert daemon.tick() == {"stg_x", "mart"}


def test_a_change_that_lands_before_the_build_starts_is_read_by_it_and_builds_nothing_more(daemon: Daemon) -> None:
    daemon.tick()
    VERSIONS["raw_x"] = "x2"
    daemon.load("raw_x")
    assets = graph()
    requested = daemon.request(assets)
    # New data lands between the request and its run: the build reads it (its step records x3 as it starts).
    VERSIONS["raw_x"] = "x3"
    daemon.load("raw_x")
    daemon.execute(assets, requested)
    assert daemon.tick() == set()


def test_a_change_that_lands_while_a_model_builds_is_built_once_more_never_lost(daemon: Daemon) -> None:
    daemon.tick()
    VERSIONS["raw_x"] = "x2"
    daemon.load("raw_x")
    LANDS_DURING["stg_x"] = ("raw_x", "x3")
    # stg_x read x2; x3 landed while it built: it is due again, and the mart with it, then nothing more.
    assert daemon.tick() == {"stg_x", "mart"}
    assert daemon.tick() == {"stg_x", "mart"}
    assert daemon.tick() == set()


def test_a_model_waits_while_a_dbt_model_it_reads_does_not_exist(daemon: Daemon) -> None:
    BROKEN.add("stg_y")
    # stg_y fails its first build and the mart, which reads it, is skipped: neither exists.
    assert daemon.tick() == {"stg_x", "stg_y", "mart"}
    # A failed first build is not retried every tick; the mart would read a relation that does not exist: it waits.
    VERSIONS["raw_x"] = "x2"
    daemon.load("raw_x")
    assert daemon.tick() == {"stg_x"}
    # New data for stg_y builds it again, and the mart with it once it builds.
    BROKEN.clear()
    VERSIONS["raw_y"] = "y2"
    daemon.load("raw_y")
    assert daemon.tick() == {"stg_y", "mart"}
    assert daemon.tick() == set()


def test_a_model_on_a_cadence_builds_at_most_once_per_tick_with_what_changed_meanwhile(daemon: Daemon) -> None:
    CADENCES["mart"] = "*/10 * * * *"
    start = datetime(2026, 12, 4, 10, 1, tzinfo=UTC)
    daemon.load("raw_x", "raw_y")
    # Never built: it does not wait for a tick.
    assert daemon.tick(start) == {"stg_x", "stg_y", "mart"}
    for minute, version in ((2, "x2"), (5, "x3")):
        VERSIONS["raw_x"] = version
        daemon.load("raw_x")
        assert daemon.tick(start + timedelta(minutes=minute)) == {"stg_x"}
    # 10:10 passed: the mart builds once, reading both changes.
    assert daemon.tick(start + timedelta(minutes=9, seconds=30)) == {"mart"}
    assert daemon.tick(start + timedelta(minutes=10)) == set()
    # Nothing changed by the next tick: nothing builds.
    assert daemon.tick(start + timedelta(minutes=19, seconds=30)) == set()


def test_a_model_built_by_a_run_that_ends_while_the_rule_evaluates_is_not_built_again(
    daemon: Daemon, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rule reads every record as it starts and whether a run is in progress later: a run ending in between
    built the mart after the records were read. The mart waits for the next evaluation instead of building again."""
    mart_building, mart_may_finish = threading.Event(), threading.Event()
    daemon.tick()
    VERSIONS["raw_x"] = "x2"
    daemon.load("raw_x")
    assets = graph()
    requested = daemon.request(assets)
    assert {key.path[-1] for key in requested} == {"stg_x", "mart"}
    HOLDS["mart"] = (mart_building, mart_may_finish)
    run = threading.Thread(target=daemon.execute, args=(assets, requested))
    run.start()
    # The run has built stg_x and is building the mart.
    assert mart_building.wait(60)
    read_records = CachingInstanceQueryer.prefetch_asset_records

    def read_then_let_the_run_end(queryer: CachingInstanceQueryer, keys: Iterable[dg.AssetKey]) -> None:
        read_records(queryer, keys)
        mart_may_finish.set()
        run.join(60)

    with monkeypatch.context() as patched:
        patched.setattr(CachingInstanceQueryer, "prefetch_asset_records", read_then_let_the_run_end)
        assert daemon.request(assets) == set()
    assert not run.is_alive()
    # The mart read stg_x's new data in that run: nothing is due.
    assert daemon.tick() == set()
