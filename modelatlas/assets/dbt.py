"""The dbt project as Dagster assets: each model downstream of the raw asset it reads, tests as checks, and the one
rule that decides when a model builds, under the daemon and `modelatlas run` alike."""

import json
import shutil
import sys
import tempfile
from collections.abc import Iterator, Mapping
from functools import cache, cached_property
from importlib.metadata import version as installed_version
from pathlib import Path
from typing import Any
from weakref import WeakKeyDictionary

import dagster as dg
import fasteners
from dagster._core.asset_graph_view.asset_graph_view import AssetGraphView
from dagster._core.definitions.data_version import CachingStaleStatusResolver, StaleStatus
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, DbtProject, dbt_assets

from modelatlas.pipelines.registry import dbt_vars
from modelatlas.settings import (
    DBT_PROJECT_DIR,
    dbt_connection_settings,
    dbt_target_path,
    model_cadence_cron,
    modelatlas_home,
    outage_min_failures,
    tool_path,
    usage_variables,
)
from modelatlas.warehouse.timeseries import TIME_SERIES_SCHEMA

KEPT_DBT_INVOCATIONS = 5
# One dbt build at a time, whoever starts it (a schedule's run, the automation sensor, `modelatlas run`).
DBT_POOL = "dbt"
DBT_ASSETS_NAME = "modelatlas_dbt_models"
# The run queue starts runs of a higher dagster/priority first.
DBT_RUN_PRIORITY_TAG = "dagster/priority"
DBT_RUN_PRIORITY = 1
# What `dbt parse` reads: a manifest newer than all of it, parsed for the same connection, is still current.
PARSED_INPUTS = (
    "dbt_project.yml",
    "profiles.yml",
    "packages.yml",
    "models",
    "macros",
    "seeds",
    "snapshots",
    "tests",
    "analyses",
)
PARSE_STAMP = "modelatlas-parse.stamp"
# dagster-dbt copies this file of the project's target folder into each build's own, so a build parses partially.
PARTIAL_PARSE_FILE = "partial_parse.msgpack"
# The key of a dbt model's `meta` naming its cadence (settings.MODEL_CADENCES).
CADENCE_META_KEY = "modelatlas_cadence"


def dbt_project() -> DbtProject:
    """The dbt project, its artifacts under `MODELATLAS_HOME` (`dbt_target_path`)."""
    return _dbt_project(dbt_target_path(modelatlas_home()))


@cache
def _dbt_project(target_path: Path) -> DbtProject:
    return DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR, target_path=target_path)


def vars_arguments() -> list[str]:
    """`--vars` with the source lists the union models read, derived from the source specs."""
    return ["--vars", json.dumps(dbt_variables(), sort_keys=True)]


def dbt_variables() -> dict[str, Any]:
    """The vars every dbt invocation gets: the source lists from the specs and the settings models read."""
    return {**dbt_vars(), "outage_min_failures": outage_min_failures(), **usage_variables()}


class ModelAtlasDbtCliResource(DbtCliResource):
    """dagster-dbt's CLI resource, knowing the dbt version without starting `dbt --version` every invocation."""

    @cached_property
    def _cli_version(self) -> Any:
        # The dbt beside this interpreter is the dbt-core package installed here: read its version instead of
        # paying a second dbt start (seconds) on every cycle. Any other executable is asked as usual.
        if Path(self.dbt_executable).parent == Path(sys.executable).parent:
            from packaging import version

            return version.parse(installed_version("dbt-core"))
        return super()._cli_version


def dbt_resource() -> DbtCliResource:
    """The dbt CLI resource for this project."""
    # The pydantic plugin types project_dir as the field (str); dagster-dbt accepts a DbtProject there too.
    return ModelAtlasDbtCliResource(project_dir=dbt_project(), dbt_executable=tool_path("dbt"))  # type: ignore[arg-type]


def parse_stamp(project_dir: Path, connection: Mapping[str, str], variables: Mapping[str, Any]) -> str:
    """What a manifest depends on: the newest file or folder dbt parses, how many there are, the connection, vars."""
    newest = 0
    entries = 0
    for name in PARSED_INPUTS:
        path = project_dir / name
        if not path.exists():
            continue
        # Folders count too: adding, removing or renaming a file changes its folder's time.
        for entry in [path, *path.rglob("*")] if path.is_dir() else [path]:
            newest = max(newest, entry.stat().st_mtime_ns)
            entries += 1
    return json.dumps(
        {"newest": newest, "entries": entries, "env": dict(connection), "vars": variables}, sort_keys=True
    )


def prepare_manifest(force: bool = False) -> bool:
    """Build `target/manifest.json` with `dbt parse` when missing or out of date (always with `force`).

    True when it parsed. Several processes may ask at once (the webserver, the daemon, each run): one parses while
    the others wait, and the new manifest replaces the old in one rename, so nobody reads half of one. The parse's
    partial-parse state is kept beside it: every `dbt build` then re-reads only what changed since (dbt itself
    parses everything again when the vars, the connection or a file differ), about 3 s less per build.
    """
    project = dbt_project()
    manifest = project.manifest_path
    stamp_file = manifest.with_name(PARSE_STAMP)
    manifest.parent.mkdir(parents=True, exist_ok=True)
    stamp = parse_stamp(project.project_dir, dbt_connection_settings(), dbt_variables())
    if not force and manifest.exists() and stamp_file.exists() and stamp_file.read_text() == stamp:
        return False
    with fasteners.InterProcessLock(str(manifest.with_name(".parse.lock"))):
        if not force and manifest.exists() and stamp_file.exists() and stamp_file.read_text() == stamp:
            return False
        with tempfile.TemporaryDirectory(prefix="parse-", dir=manifest.parent) as scratch:
            dbt_resource().cli(["parse", "--quiet", *vars_arguments()], target_path=Path(scratch)).wait()
            Path(scratch, "manifest.json").replace(manifest)
            Path(scratch, PARTIAL_PARSE_FILE).replace(manifest.with_name(PARTIAL_PARSE_FILE))
        stamp_file.write_text(stamp)
    return True


def prune_invocation_folders(target: Path, keep: int = KEPT_DBT_INVOCATIONS) -> list[Path]:
    """Remove all but the newest `keep` per-invocation target folders; return what was removed.

    dagster-dbt gives every `dbt build` its own folder under target/; on a schedule they would pile up.
    """
    folders = sorted(target.glob(f"{DBT_ASSETS_NAME}-*"), key=lambda path: path.stat().st_mtime, reverse=True)
    removed = folders[keep:]
    for folder in removed:
        shutil.rmtree(folder, ignore_errors=True)
    return removed


class InputsOrCodeChanged(dg.AutomationCondition[dg.AssetKey]):
    """True for a built model whose code changed or one of whose inputs has a data version other than the one its
    latest build read (Dagster's stale status: the versions a build records are read when its step starts), unless
    this evaluation's records of it may miss a build by a run that just ended (`records_may_miss_a_build`)."""

    @property
    def name(self) -> str:
        return "inputs_or_code_changed"

    def evaluate(self, context: dg.AutomationContext[dg.AssetKey]) -> dg.AutomationResult[dg.AssetKey]:
        view = context.asset_graph_view
        if stale_status(view, context.key) == StaleStatus.STALE and not records_may_miss_a_build(view, context.key):
            return dg.AutomationResult(context, true_subset=context.candidate_subset)
        return dg.AutomationResult(context, true_subset=context.get_empty_subset())


def records_may_miss_a_build(view: AssetGraphView, key: dg.AssetKey) -> bool:
    """Whether this evaluation's records of `key` may miss its build by a run that ended while it evaluated.

    The evaluation reads every asset's records once, as it starts, and whether the run that planned a model is in
    progress later, when it evaluates the model. A run that builds the model in between ends before that check: the
    model looks neither in progress nor built, its inputs look changed (that run built them too), and it would be
    built again for nothing. Such a model waits for the next evaluation, which reads records the run has finished.
    """
    record = view.get_inner_queryer_for_back_compat().get_asset_record(key)
    latest = record.asset_entry.last_materialization_record if record is not None else None
    # As the in-progress check does: the records as read, against the run that plans the model now.
    planned = view.instance.event_log_storage.get_latest_planned_materialization_info(key)
    if planned is None or (latest is not None and planned.run_id == latest.run_id):
        return False
    run = view.instance.get_run_record_by_id(planned.run_id)
    if run is None:
        return False
    # The records were read after the evaluation's time was taken: a run that ended before it wrote all it built.
    return run.end_time is None or run.end_time >= view.effective_dt.timestamp()


# One stale-status resolver per evaluation, shared by every model it evaluates (it caches versions per asset).
_resolvers: "WeakKeyDictionary[AssetGraphView, CachingStaleStatusResolver]" = WeakKeyDictionary()


def stale_status(view: AssetGraphView, key: dg.AssetKey) -> StaleStatus:
    """Whether a model is missing, stale or fresh, as of the evaluation that `view` belongs to."""
    resolver = _resolvers.get(view)
    if resolver is None:
        resolver = CachingStaleStatusResolver(
            view.instance,
            view.asset_graph,
            loading_context=view,
            instance_queryer=view.get_inner_queryer_for_back_compat(),
        )
        _resolvers[view] = resolver
    return resolver.get_status(key)


def build_condition(cron: str | None = None) -> dg.AutomationCondition[Any]:
    """When a dbt model builds: it was never built, its code changed, or the data of one of its inputs changed; with
    a `cron`, no more than once per tick of it.

    "Changed" is measured against what the model's latest build read: each build records its code version and its
    inputs' data versions as its step starts. A change that lands before the step starts is read by that build and
    builds nothing more; one that lands while it builds leaves the model due once more, so nothing is lost and
    nothing is built twice for one change. A model whose latest build failed waits for new input data or code
    rather than failing again every tick. A model builds with any dbt model it reads that builds in the same run.
    Nothing builds while it or one of its inputs is building or queued, nor while a dbt model it reads does not
    exist yet (unless that one builds in the same run); what became due meanwhile builds once that is over.
    """
    due = (dg.AutomationCondition.missing() | InputsOrCodeChanged()).with_label(
        "never built, code changed, or an input's data changed"
    )
    changed_since_request = (
        dg.AutomationCondition.any_deps_match(dg.AutomationCondition.data_version_changed())
        | dg.AutomationCondition.code_version_changed()
    ).since(dg.AutomationCondition.newly_requested())
    retry_allowed = (~dg.AutomationCondition.execution_failed() | changed_since_request).with_label(
        "its latest build did not fail, or something changed since"
    )
    with_an_input = dg.AutomationCondition.any_deps_match(dg.AutomationCondition.will_be_requested()).with_label(
        "a dbt model it reads builds"
    )
    # Raw tables exist from the set-up step on, loaded or not; a dbt model another one reads must exist first.
    inputs_missing = (
        dg.AutomationCondition.any_deps_match(
            dg.AutomationCondition.missing() & ~dg.AutomationCondition.will_be_requested()
        )
        .allow(dg.AssetSelection.kind("dbt"))
        .with_label("a dbt model it reads does not exist")
    )
    condition = (
        ((due & retry_allowed) | with_an_input)
        & ~dg.AutomationCondition.in_progress()
        & ~dg.AutomationCondition.any_deps_in_progress()
        & ~inputs_missing
    )
    if cron is not None:
        # A model on a cadence (the status marts over the 1-minute probes) builds at most once per cron interval,
        # with whatever changed meanwhile; one never built does not wait for a tick.
        on_cadence = (
            dg.AutomationCondition.cron_tick_passed(cron, "UTC").since(dg.AutomationCondition.newly_requested())
            | dg.AutomationCondition.missing()
        ).with_label(f"a tick of {cron} passed since its latest build")
        condition = condition & on_cadence
    return condition.with_label("never built, code changed, or an input's data changed")


def source_test_condition() -> dg.AutomationCondition[Any]:
    """When a dbt source test runs: the raw table it tests has new data (it runs with the dbt build, in its run)."""
    new_data = dg.AutomationCondition.any_deps_match(dg.AutomationCondition.data_version_changed())
    return (new_data & ~dg.AutomationCondition.in_progress()).with_label("its raw table has new data")


def is_source_test(check: dg.AssetCheckKey) -> bool:
    """Whether a check is a dbt test of a raw or time-series table (a dbt source) rather than of a dbt model."""
    schema = check.asset_key.path[0]
    return schema.startswith("raw_") or schema == TIME_SERIES_SCHEMA


def model_cadence(dbt_resource_props: Mapping[str, Any]) -> str | None:
    """The cadence a dbt model's `meta` gives it (`modelatlas_cadence`), if any."""
    meta = dbt_resource_props.get("config", {}).get("meta") or dbt_resource_props.get("meta") or {}
    cadence = meta.get(CADENCE_META_KEY)
    return str(cadence) if cadence is not None else None


class ModelAtlasDbtTranslator(DagsterDbtTranslator):
    """Asset keys `[schema, model]`, one group per layer (staging, intermediate, marts), one build rule; the dbt
    tests of raw tables run when their table has new data, not with every load of it."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] in ("model", "snapshot", "seed"):
            return dg.AssetKey([dbt_resource_props["schema"], dbt_resource_props["name"]])
        return super().get_asset_key(dbt_resource_props)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        fqn = dbt_resource_props.get("fqn", [])
        return str(fqn[1]) if len(fqn) > 2 else "dbt"

    def get_automation_condition(self, dbt_resource_props: Mapping[str, Any]) -> dg.AutomationCondition[Any] | None:
        cadence = model_cadence(dbt_resource_props)
        return build_condition(model_cadence_cron(cadence) if cadence is not None else None)

    def get_asset_check_spec(
        self, asset_spec: dg.AssetSpec, manifest: Mapping[str, Any], unique_id: str, project: DbtProject | None
    ) -> dg.AssetCheckSpec | None:
        spec = super().get_asset_check_spec(asset_spec, manifest, unique_id, project)
        if spec is None or not is_source_test(spec.key):
            return spec
        return dg.AssetCheckSpec(
            spec.name,
            asset=spec.asset_key,
            description=spec.description,
            additional_deps=spec.additional_deps,
            blocking=spec.blocking,
            metadata=spec.metadata,
            automation_condition=source_test_condition(),
        )


translator = ModelAtlasDbtTranslator(
    settings=DagsterDbtTranslatorSettings(enable_asset_checks=True, enable_source_tests_as_checks=True)
)


def build_dbt_assets() -> dg.AssetsDefinition:
    """The @dbt_assets definition, reading the manifest (parsed first when missing or out of date)."""
    prepare_manifest()
    project = dbt_project()

    @dbt_assets(
        manifest=project.manifest_path,
        project=project,
        dagster_dbt_translator=translator,
        name=DBT_ASSETS_NAME,
        pool=DBT_POOL,
    )
    def modelatlas_dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource) -> Iterator[Any]:
        """Build the selected dbt models and run their tests."""
        yield from dbt.cli(["build", *vars_arguments()], context=context).stream()
        prune_invocation_folders(project.target_path)

    return modelatlas_dbt_models


def dbt_selection(dbt: dg.AssetsDefinition) -> dg.AssetSelection:
    """Every dbt model and every dbt test, those of raw tables included."""
    return dg.AssetSelection.assets(dbt) | dg.AssetSelection.checks(*dbt.check_keys)


def dbt_automation_sensor(dbt: dg.AssetsDefinition, interval_s: int) -> dg.AutomationConditionSensorDefinition:
    """The sensor that evaluates the build rule of every dbt model and launches one run for what is due."""
    return dg.AutomationConditionSensorDefinition(
        "dbt_automation",
        target=dbt_selection(dbt),
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=interval_s,
        emit_backfills=False,
        # The build rule holds a condition written in Python (InputsOrCodeChanged): it is evaluated where the
        # definitions are loaded, in the code server, not in the daemon.
        use_user_code_server=True,
        # Ahead of the source loads in the run queue: otherwise the marts follow a change only after every load
        # queued before the build, and builds pile up behind them.
        run_tags={DBT_RUN_PRIORITY_TAG: str(DBT_RUN_PRIORITY)},
        description="Builds the dbt models never built, whose code changed, or an input of which has new data.",
    )
