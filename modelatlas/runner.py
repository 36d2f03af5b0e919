"""`modelatlas run`: prepare the warehouse, the Dagster instance and the dbt manifest, then materialize."""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import dagster as dg

from modelatlas.assets.dbt import prepare_manifest
from modelatlas.assets.outcomes import OUTCOME_METADATA_KEY
from modelatlas.definitions import build_definitions
from modelatlas.errors import ConfigurationError
from modelatlas.instance import prepare_instance
from modelatlas.pipelines.providers import PROVIDERS
from modelatlas.pipelines.quality.validation import preload_engine
from modelatlas.settings import environment
from modelatlas.simulator import build_simulator, sample_environment
from modelatlas.warehouse import ConnectionInfo, Warehouse
from modelatlas.warehouse.service import table_row_counts

log = logging.getLogger(__name__)
SAMPLE_DATABASE = "modelatlas_sample"
SUMMARY_SCHEMAS = ("raw\\_%", "marts")
# execute_in_process prints every Dagster event by default; the summary reports failures itself.
QUIET_RUN_CONFIG = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
INTERRUPTED_ERROR = "DagsterExecutionInterruptedError"
CODE_VERSION_TAG = "dagster/code_version"
DATA_VERSION_TAG = "dagster/data_version"
INPUT_VERSION_TAG = "dagster/input_data_version/"


@dataclass
class RunSummary:
    """What one `modelatlas run` did."""

    run_id: str
    success: bool
    run_ids: list[str] = field(default_factory=list)
    materialized: list[str] = field(default_factory=list)
    failed_steps: list[str] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)
    outcomes: list[str] = field(default_factory=list)
    checks_passed: int = 0
    checks_failed: list[str] = field(default_factory=list)
    # Failed checks of WARN severity: rows the quality gate quarantined while the rest of the batch loaded.
    checks_warned: list[str] = field(default_factory=list)
    row_counts: dict[str, int] = field(default_factory=dict)
    elapsed_s: float = 0.0
    output_log: Path | None = None

    @property
    def tolerated_failures_only(self) -> bool:
        """True when every failure is a host that could not be reached (no network), which `run` tolerates."""
        return all("unreachable" in message for message in self.failures.values()) and not self.checks_failed

    @property
    def interrupted(self) -> bool:
        """True when a step stopped because the run was interrupted (Ctrl-C)."""
        return "interrupted" in self.failures.values()


def prepare(warehouse: Warehouse) -> tuple[ConnectionInfo, bool]:
    """Start or reach the warehouse, write the Dagster instance config and build the dbt manifest.

    Also says whether the dbt project changed since the last parse (then every model is rebuilt).
    """
    info = warehouse.ensure_ready()
    prepare_instance(warehouse.settings.home, warehouse.dagster_connection())
    os.environ.update(info.dbt_env())
    parsed = prepare_manifest()
    return info, parsed


@dataclass(frozen=True)
class Built:
    """What an asset's latest materialization recorded: its code version, data version and the inputs it read."""

    code_version: str | None
    data_version: str | None
    inputs: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_tags(cls, tags: Mapping[str, str]) -> Built:
        """From a materialization's tags (Dagster records the data version of every input it read)."""
        return cls(
            code_version=tags.get(CODE_VERSION_TAG),
            data_version=tags.get(DATA_VERSION_TAG),
            inputs={
                name.removeprefix(INPUT_VERSION_TAG): value
                for name, value in tags.items()
                if name.startswith(INPUT_VERSION_TAG)
            },
        )


def stale_models(
    order: Sequence[dg.AssetKey],
    parents: Mapping[dg.AssetKey, Sequence[dg.AssetKey]],
    code_versions: Mapping[dg.AssetKey, str | None],
    latest: Mapping[dg.AssetKey, Built | None],
) -> list[dg.AssetKey]:
    """The models (in dependency `order`) to build: never built, built from other code, built from an input whose
    data version differs from the one it read, or downstream of a model rebuilt now.

    Dagster gives an asset that does not version its data a new data version at every materialization, so its
    models are rebuilt every time; an input that has never materialized (a skipped provider) changes nothing.
    """
    stale: list[dg.AssetKey] = []
    for key in order:
        built = latest.get(key)
        if (
            built is None
            or (code_versions.get(key) is not None and built.code_version != code_versions[key])
            or any(
                parent in stale or built.inputs.get(parent.to_user_string()) != _data_version(latest.get(parent))
                for parent in parents.get(key, ())
            )
        ):
            stale.append(key)
    return stale


def _data_version(built: Built | None) -> str | None:
    return built.data_version if built is not None else None


def _latest_builds(instance: dg.DagsterInstance, keys: set[dg.AssetKey]) -> dict[dg.AssetKey, Built | None]:
    latest: dict[dg.AssetKey, Built | None] = {}
    for key in keys:
        event = instance.get_latest_materialization_event(key)
        materialization = event.asset_materialization if event is not None else None
        latest[key] = Built.from_tags(materialization.tags or {}) if materialization is not None else None
    return latest


def models_to_build(
    instance: dg.DagsterInstance, graph: Any, models: list[dg.AssetKey], rebuild: bool
) -> list[dg.AssetKey]:
    """The selected dbt models whose inputs changed since they were built (all of them with `rebuild`)."""
    if rebuild or not models:
        return models
    selected = set(models)
    order = [key for key in graph.toposorted_asset_keys if key in selected]
    parents = {key: sorted(graph.get(key).parent_keys, key=str) for key in order}
    code_versions = {key: graph.get(key).code_version for key in order}
    looked_up = selected | {parent for keys in parents.values() for parent in keys}
    return stale_models(order, parents, code_versions, _latest_builds(instance, looked_up))


def _summarize(result: dg.ExecuteInProcessResult, earlier: RunSummary | None = None) -> RunSummary:
    summary = earlier or RunSummary(run_id=result.run_id, success=True)
    summary.run_ids.append(result.run_id)
    summary.success = summary.success and result.success
    for event in result.all_events:
        if event.event_type == dg.DagsterEventType.ASSET_OBSERVATION:
            observation = event.event_specific_data.asset_observation  # type: ignore[union-attr]
            _note_outcome(summary, observation.metadata)
        elif event.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION:
            key = event.asset_key
            if key is not None:
                summary.materialized.append(key.to_user_string())
            materialization = event.event_specific_data.materialization  # type: ignore[union-attr]
            _note_outcome(summary, materialization.metadata)
        elif event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
            evaluation = event.event_specific_data
            assert isinstance(evaluation, dg.AssetCheckEvaluation)
            if evaluation.passed:
                summary.checks_passed += 1
            elif evaluation.severity == dg.AssetCheckSeverity.WARN:
                summary.checks_warned.append(f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}")
            else:
                summary.checks_failed.append(f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}")
        elif event.event_type == dg.DagsterEventType.STEP_FAILURE and event.step_key:
            summary.failed_steps.append(event.step_key)
            error = event.event_specific_data.error  # type: ignore[union-attr]
            message = error.message.strip() if error else "failed"
            summary.failures[event.step_key] = "interrupted" if INTERRUPTED_ERROR in message else message
            user_failure = getattr(event.event_specific_data, "user_failure_data", None)
            if user_failure is not None:
                _note_outcome(summary, user_failure.metadata)
    return summary


def _note_outcome(summary: RunSummary, metadata: Mapping[str, Any]) -> None:
    outcome = metadata.get(OUTCOME_METADATA_KEY)
    text = str(getattr(outcome, "value", outcome)) if outcome is not None else None
    if text and text not in summary.outcomes:
        summary.outcomes.append(text)


@contextlib.contextmanager
def _captured_output(log_path: Path | None) -> Iterator[None]:
    """Send step output (dbt's event stream) to `log_path`; `None` shows it."""
    if log_path is None:
        yield
        return
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("w") as sink, contextlib.redirect_stdout(sink):
        yield


def split_phases(graph: Any, keys: set[dg.AssetKey]) -> tuple[list[dg.AssetKey], list[dg.AssetKey]]:
    """The selected extraction assets, then the selected dbt models: dbt runs even when a provider failed."""
    extraction = sorted((key for key in keys if "dbt" not in graph.get(key).kinds), key=str)
    models = sorted((key for key in keys if "dbt" in graph.get(key).kinds), key=str)
    return extraction, models


@contextlib.contextmanager
def sample_mode(warehouse: Warehouse) -> Iterator[Warehouse]:
    """The simulator serving every provider, the environment pointing at it, and the sample database."""
    simulator = build_simulator(PROVIDERS).start()
    overrides = {
        **sample_environment(simulator, PROVIDERS),
        "MODELATLAS_WAREHOUSE_DATABASE": SAMPLE_DATABASE,
        # A Dagster instance of its own, so sample runs never enter the real assets' history.
        "DAGSTER_HOME": str(warehouse.settings.home / "dagster-sample"),
    }
    try:
        with environment(overrides):
            yield Warehouse(replace(warehouse.settings, database=SAMPLE_DATABASE))
    finally:
        simulator.stop()


def run(
    selection: str | None = None,
    warehouse: Warehouse | None = None,
    verbose: bool = False,
    sample: bool = False,
    rebuild: bool = False,
) -> RunSummary:
    """Materialize the selected assets (all by default) once, in this process, into the configured instance.

    dbt models whose inputs are unchanged since their last build are left as they are, unless `rebuild`.
    With `sample`, every provider is served by the simulator and everything loads into `modelatlas_sample`.
    """
    warehouse = warehouse or Warehouse.from_env()
    if not sample:
        return _run(selection, warehouse, verbose, rebuild)
    with sample_mode(warehouse) as sample_warehouse:
        summary = _run(selection, sample_warehouse, verbose, rebuild)
    summary.outcomes.insert(0, f"sample mode: simulated providers, database {SAMPLE_DATABASE}")
    return summary


def _run(selection: str | None, warehouse: Warehouse, verbose: bool, rebuild: bool = False) -> RunSummary:
    """Extraction assets first, dbt second, as two Dagster runs: within one run a failed provider would stop every
    dbt model downstream of it, and one provider down must never stop the others. The second run builds only the
    models whose inputs changed: an unchanged cycle leaves the marts as they are."""
    started = time.monotonic()
    info, project_changed = prepare(warehouse)
    definitions = build_definitions()
    # After the definitions' imports, so that the two threads never import the same modules at once.
    preload_engine()
    job = definitions.resolve_implicit_global_asset_job_def()
    graph = definitions.resolve_asset_graph()
    materializable = {key for key in graph.get_all_asset_keys() if graph.get(key).is_materializable}
    selected = materializable
    if selection:
        selected = set(dg.AssetSelection.from_string(selection).resolve(graph)) & materializable
        if not selected:
            raise ConfigurationError(f"--select {selection!r} matches no asset: see `dagster asset list`")
    output_log = None if verbose else warehouse.settings.home / "logs" / "last-run.log"
    summary: RunSummary | None = None
    with dg.DagsterInstance.get() as instance, _captured_output(output_log):
        # Every step runs in this process: pooled storage connections instead of a new, password-authenticated
        # connection for each of the hundreds of events a run writes (what Dagster does for its webserver).
        instance.optimize_for_webserver(statement_timeout=0, pool_recycle=3600, max_overflow=4)
        extraction, models = split_phases(graph, selected)

        def execute(phase: list[dg.AssetKey]) -> dg.ExecuteInProcessResult:
            return job.execute_in_process(
                instance=instance,
                asset_selection=phase,
                run_config=None if verbose else QUIET_RUN_CONFIG,
                raise_on_error=False,
            )

        if extraction:
            summary = _summarize(execute(extraction))
        if summary is None or not summary.interrupted:
            to_build = models_to_build(instance, graph, models, rebuild or project_changed)
            if skipped := len(models) - len(to_build):
                unchanged = f"{skipped} dbt models'" if to_build else "every dbt model's"
                summary = summary or RunSummary(run_id="", success=True)
                summary.outcomes.append(f"dbt: {unchanged} inputs unchanged since their last build: left as they are")
            if to_build:
                summary = _summarize(execute(to_build), summary)
    assert summary is not None
    summary.run_id = summary.run_id or (summary.run_ids[0] if summary.run_ids else "")
    summary.output_log = output_log
    summary.row_counts = table_row_counts(info, SUMMARY_SCHEMAS)
    summary.elapsed_s = time.monotonic() - started
    return summary


def _outcome(summary: RunSummary) -> str:
    if summary.success:
        return "succeeded"
    if summary.interrupted:
        return "INTERRUPTED (the next run completes any half-finished load)"
    if summary.tolerated_failures_only:
        return "completed; some hosts were unreachable (use --strict to fail on them)"
    return "FAILED"


def format_summary(summary: RunSummary) -> str:
    """The run summary as printed by the CLI."""
    lines = [
        f"ModelAtlas run {summary.run_id[:8]}: {_outcome(summary)} in {summary.elapsed_s:.1f} s",
        f"  assets materialized: {len(summary.materialized)}",
        f"  checks: {summary.checks_passed} passed, {len(summary.checks_failed)} failed"
        + (f", {len(summary.checks_warned)} warned" if summary.checks_warned else ""),
    ]
    lines += [f"    failed check {name}" for name in summary.checks_failed]
    lines += [f"    warned check {name} (rows quarantined: see dq.quarantine)" for name in summary.checks_warned]
    lines += [f"  {outcome}" for outcome in summary.outcomes]
    lines += [f"  failed step {step}: {summary.failures.get(step, '')}" for step in summary.failed_steps]
    lines.append("  rows:")
    width = max((len(name) for name in summary.row_counts), default=0)
    lines += [f"    {name:<{width}}  {count:>9,}" for name, count in summary.row_counts.items()]
    if summary.output_log is not None:
        lines.append(f"  step output (dbt, Dagster): {summary.output_log}")
    lines.append('Open the Dagster UI with `make ui` (http://127.0.0.1:3000); query with `modelatlas sql "..."`.')
    return "\n".join(lines)
