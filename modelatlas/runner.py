"""`modelatlas run`: prepare the warehouse, the Dagster instance and the dbt manifest, then materialize."""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterator, Mapping
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
from modelatlas.simulator import build_simulator, sample_environment
from modelatlas.warehouse import ConnectionInfo, Warehouse
from modelatlas.warehouse.service import table_row_counts

log = logging.getLogger(__name__)
SAMPLE_DATABASE = "modelatlas_sample"
SUMMARY_SCHEMAS = ("raw\\_%", "marts")
# execute_in_process prints every Dagster event by default; the summary reports failures itself.
QUIET_RUN_CONFIG = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
INTERRUPTED_ERROR = "DagsterExecutionInterruptedError"


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


def prepare(warehouse: Warehouse) -> ConnectionInfo:
    """Start or reach the warehouse, write the Dagster instance config and build the dbt manifest."""
    info = warehouse.ensure_ready()
    prepare_instance(warehouse.settings.home, warehouse.dagster_connection())
    os.environ.update(info.dbt_env())
    prepare_manifest(force=True)
    return info


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
def _environment(overrides: Mapping[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in overrides}
    os.environ.update(overrides)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


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
        with _environment(overrides):
            yield Warehouse(replace(warehouse.settings, database=SAMPLE_DATABASE))
    finally:
        simulator.stop()


def run(
    selection: str | None = None, warehouse: Warehouse | None = None, verbose: bool = False, sample: bool = False
) -> RunSummary:
    """Materialize the selected assets (all by default) once, in this process, into the configured instance.

    With `sample`, every provider is served by the simulator and everything loads into `modelatlas_sample`.
    """
    warehouse = warehouse or Warehouse.from_env()
    if not sample:
        return _run(selection, warehouse, verbose)
    with sample_mode(warehouse) as sample_warehouse:
        summary = _run(selection, sample_warehouse, verbose)
    summary.outcomes.insert(0, f"sample mode: simulated providers, database {SAMPLE_DATABASE}")
    return summary


def _run(selection: str | None, warehouse: Warehouse, verbose: bool) -> RunSummary:
    """Extraction assets first, dbt second, as two Dagster runs: within one run a failed provider would stop every
    dbt model downstream of it, and one provider down must never stop the others."""
    started = time.monotonic()
    info = prepare(warehouse)
    definitions = build_definitions()
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
        for phase in split_phases(graph, selected):
            if not phase:
                continue
            result = job.execute_in_process(
                instance=instance,
                asset_selection=phase,
                run_config=None if verbose else QUIET_RUN_CONFIG,
                raise_on_error=False,
            )
            summary = _summarize(result, summary)
            if summary.interrupted:
                break
    assert summary is not None
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
