"""`modelatlas run`: prepare the warehouse, the Dagster instance and the dbt manifest, then materialize."""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg
import psycopg

from modelatlas.alerts.routing import load_alert_config
from modelatlas.alerts.service import record_run_failures, run_alerts
from modelatlas.alerts.settings import alert_settings
from modelatlas.alerts.store import ensure_alert_tables
from modelatlas.assets.dbt import DBT_POOL, prepare_manifest
from modelatlas.assets.sources import GATE_CHECK, REPORT_METADATA_KEY, source_pool
from modelatlas.definitions import build_definitions
from modelatlas.errors import ConfigurationError, ModelAtlasError
from modelatlas.instance import initialize_pools, prepare_instance
from modelatlas.pipelines.engine import ensure_every_source_table
from modelatlas.pipelines.quality.validation import preload_engine
from modelatlas.pipelines.registry import sources
from modelatlas.redaction import redact
from modelatlas.sample import SAMPLE_DATABASE, sample_overrides, sample_warehouse
from modelatlas.settings import environment
from modelatlas.simulator import build_simulator, sample_environment
from modelatlas.warehouse import ConnectionInfo, Warehouse
from modelatlas.warehouse.service import connect, table_row_counts

log = logging.getLogger(__name__)
SUMMARY_SCHEMAS = ("raw\\_%", "marts")
# execute_in_process prints every Dagster event by default; the summary reports failures itself.
QUIET_RUN_CONFIG = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
INTERRUPTED_ERROR = "DagsterExecutionInterruptedError"
# Where `modelatlas run` keeps its evaluation of the build rule between runs (the daemon keeps its own).
RUN_CURSOR_FILE = "modelatlas-run-cursor.json"
# How long `modelatlas run` keeps retrying failed alert sends due soon after its runs.
RUN_ALERTS_BUDGET_S = 20.0


@dataclass
class RunSummary:
    """What one `modelatlas run` did."""

    run_id: str
    success: bool
    run_ids: list[str] = field(default_factory=list)
    materialized: list[str] = field(default_factory=list)
    failed_steps: list[str] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)
    # One line per source (and remarks of the run itself), as the assets report them.
    reports: list[str] = field(default_factory=list)
    checks_passed: int = 0
    checks_failed: list[str] = field(default_factory=list)
    # Passed gate checks whose batch loaded with some rows quarantined.
    checks_quarantined: list[str] = field(default_factory=list)
    row_counts: dict[str, int] = field(default_factory=dict)
    # (run id, job name, failed steps) of each Dagster run that failed.
    failed_runs: list[tuple[str, str, list[str]]] = field(default_factory=list)
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
    """The set-up step: start or reach the warehouse, create its read-only and app roles and every source's raw
    tables, write the Dagster instance
    config, give dbt the connection and where its artifacts go (this process's environment, which the services it
    starts inherit), and build the dbt manifest (parsed again when the project or the connection changed)."""
    info = warehouse.ensure_ready()
    warehouse.ensure_roles(info)
    prepare_instance(warehouse.settings.home, warehouse.dagster_connection())
    initialize_pools([DBT_POOL, *(source_pool(spec) for spec in sources())])
    os.environ.update(warehouse.dbt_environment())
    pipelines = warehouse.settings.home / "dlt" / info.database
    ensure_every_source_table(info, pipelines)
    with connect(info) as conn:
        ensure_alert_tables(conn)
    prepare_manifest()
    return info


def _load_cursor(path: Path) -> Any:
    if not path.exists():
        return None
    try:
        return dg.deserialize_value(path.read_text())
    except Exception:
        log.warning("the build rule's cursor in %s is unreadable: starting afresh", path)
        return None


def due(
    definitions: dg.Definitions,
    instance: dg.DagsterInstance,
    targets: dg.AssetSelection,
    cursor_file: Path,
) -> set[dg.AssetKey | dg.AssetCheckKey]:
    """The dbt models and tests the build rule says are due, evaluated as the daemon's sensor evaluates it, this
    run's evaluation kept for the next one."""
    result = dg.evaluate_automation_conditions(
        defs=definitions, instance=instance, asset_selection=targets, cursor=_load_cursor(cursor_file)
    )
    cursor_file.write_text(dg.serialize_value(result.cursor))
    return {entity.key for entity in result.results if entity.true_subset.size}


def gate_checks(graph: Any, keys: Iterable[dg.AssetKey]) -> list[dg.AssetCheckKey]:
    """The quality gate checks of `keys`: what runs with a source's load (its dbt tests run with the dbt build)."""
    return [check for key in keys for check in graph.get(key).check_keys if check.name == GATE_CHECK]


def source_tests(graph: Any, keys: Iterable[dg.AssetKey]) -> list[dg.AssetCheckKey]:
    """The dbt tests of the raw tables among `keys`."""
    return [check for key in keys for check in graph.get(key).check_keys if check.name != GATE_CHECK]


def _summarize(result: dg.ExecuteInProcessResult, earlier: RunSummary | None = None) -> RunSummary:
    summary = earlier or RunSummary(run_id=result.run_id, success=True)
    summary.run_ids.append(result.run_id)
    summary.success = summary.success and result.success
    steps_before = len(summary.failed_steps)
    for event in result.all_events:
        if event.event_type == dg.DagsterEventType.ASSET_OBSERVATION:
            observation = event.event_specific_data.asset_observation  # type: ignore[union-attr]
            _note_report(summary, observation.metadata)
        elif event.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION:
            key = event.asset_key
            if key is not None:
                summary.materialized.append(key.to_user_string())
            materialization = event.event_specific_data.materialization  # type: ignore[union-attr]
            _note_report(summary, materialization.metadata)
        elif event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
            evaluation = event.event_specific_data
            assert isinstance(evaluation, dg.AssetCheckEvaluation)
            name = f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"
            if not evaluation.passed:
                summary.checks_failed.append(name)
                continue
            summary.checks_passed += 1
            quarantined = evaluation.metadata.get("rows_quarantined")
            if quarantined is not None and quarantined.value:
                summary.checks_quarantined.append(name)
        elif event.event_type == dg.DagsterEventType.STEP_FAILURE and event.step_key:
            summary.failed_steps.append(event.step_key)
            error = event.event_specific_data.error  # type: ignore[union-attr]
            message = error.message.strip() if error else "failed"
            summary.failures[event.step_key] = "interrupted" if INTERRUPTED_ERROR in message else message
            user_failure = getattr(event.event_specific_data, "user_failure_data", None)
            if user_failure is not None:
                _note_report(summary, user_failure.metadata)
    if not result.success:
        summary.failed_runs.append((result.run_id, result.job_def.name, summary.failed_steps[steps_before:]))
    return summary


def _note_report(summary: RunSummary, metadata: Mapping[str, Any]) -> None:
    report = metadata.get(REPORT_METADATA_KEY)
    text = str(getattr(report, "value", report)) if report is not None else None
    if text and text not in summary.reports:
        summary.reports.append(text)


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
    simulator = build_simulator(sources()).start()
    try:
        with environment(sample_overrides(warehouse.settings.home, sample_environment(simulator, sources()))):
            yield sample_warehouse(warehouse)
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
    summary.reports.insert(0, f"sample mode: simulated sources, database {SAMPLE_DATABASE}")
    return summary


def _run(selection: str | None, warehouse: Warehouse, verbose: bool, rebuild: bool = False) -> RunSummary:
    """Extraction assets first, dbt second, as two Dagster runs: within one run a failed provider would stop every
    dbt model downstream of it, and one provider down must never stop the others. The second run builds only the
    models whose inputs changed: an unchanged cycle leaves the marts as they are."""
    started = time.monotonic()
    info = prepare(warehouse)
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

        run_config = None if verbose else QUIET_RUN_CONFIG

        def execute(phase: list[dg.AssetKey], checks: list[dg.AssetCheckKey]) -> dg.ExecuteInProcessResult:
            # The checks exactly: a source's load runs its gate, not the dbt tests of its tables.
            subset = job.get_subset(asset_selection=set(phase), asset_check_selection=set(checks))
            return subset.execute_in_process(instance=instance, run_config=run_config, raise_on_error=False)

        def build(to_build: list[dg.AssetKey]) -> dg.ExecuteInProcessResult:
            # Selected by the run itself (with every test of the models), as the sensor's runs are: each model's
            # build records the data versions of its inputs as its step starts, which the rule compares next time.
            return job.execute_in_process(
                instance=instance, run_config=run_config, raise_on_error=False, asset_selection=to_build
            )

        tests = source_tests(graph, extraction)
        if extraction:
            summary = _summarize(execute(extraction, gate_checks(graph, extraction)))
            summary.reports += last_good_build_reports(graph, summary.failed_steps, models)
        if summary is None or not summary.interrupted:
            cursor_file = Path(instance.root_directory) / RUN_CURSOR_FILE
            targets = dg.AssetSelection.assets(*models) | dg.AssetSelection.checks(*tests)
            requested = due(definitions, instance, targets, cursor_file) if models or tests else set()
            # An edited model is the rule's to see (its code version changed); a re-parse alone changes nothing.
            to_build = models if rebuild else [key for key in models if key in requested]
            to_test = tests if rebuild else [check for check in tests if check in requested]
            if skipped := len(models) - len(to_build):
                unchanged = f"{skipped} dbt models'" if to_build else "every dbt model's"
                summary = summary or RunSummary(run_id="", success=True)
                summary.reports.append(f"dbt: {unchanged} inputs unchanged since their last build: left as they are")
            if to_test:
                summary = _summarize(execute([], to_test), summary)
            if to_build:
                summary = _summarize(build(to_build), summary)
    assert summary is not None
    summary.run_id = summary.run_id or (summary.run_ids[0] if summary.run_ids else "")
    summary.output_log = output_log
    summary.row_counts = table_row_counts(info, SUMMARY_SCHEMAS)
    if line := alerts_pass(info, summary):
        summary.reports.append(line)
    summary.elapsed_s = time.monotonic() - started
    return summary


def alerts_pass(info: ConnectionInfo, summary: RunSummary) -> str | None:
    """Evaluate and deliver alerts once after the runs (a deployment run from cron alerts too), the failed runs
    included; a line for the summary, or None when no channel is configured."""
    try:
        settings = alert_settings()
        config = load_alert_config(settings)
        if not config.channels:
            return None
        failures = [
            (run_id, job, steps, None)
            for run_id, job, steps in summary.failed_runs
            if not steps or not all("unreachable" in summary.failures.get(step, "") for step in steps)
        ]
        record_run_failures(info, failures, settings, config)
        report = run_alerts(info, settings, config, budget_s=RUN_ALERTS_BUDGET_S)
    except (ModelAtlasError, psycopg.Error) as exc:
        return f"alerts: not evaluated: {redact(str(exc)).strip()}"
    return f"alerts: {report.describe()}" if report else None


def last_good_build_reports(graph: Any, failed_steps: Sequence[str], models: Sequence[dg.AssetKey]) -> list[str]:
    """One line per source that failed: the dbt models reading it build from its last good load."""
    reports = []
    for step in failed_steps:
        loaded = [key for key in graph.get_all_asset_keys() if key.path[0] == step]
        if not loaded:
            continue
        downstream = dg.AssetSelection.assets(*loaded).downstream().resolve(graph) & set(models)
        # In build order: the models reading the source first.
        readers = [key for key in graph.toposorted_asset_keys if key in downstream]
        if readers:
            reports.append(
                f"dbt: {len(readers)} models read {step}, which failed: they keep its last good load "
                f"({', '.join(key.path[-1] for key in readers[:5])}{', ...' if len(readers) > 5 else ''})"
            )
    return reports


def _status(summary: RunSummary) -> str:
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
        f"ModelAtlas run {summary.run_id[:8]}: {_status(summary)} in {summary.elapsed_s:.1f} s",
        f"  assets materialized: {len(summary.materialized)}",
        f"  checks: {summary.checks_passed} passed, {len(summary.checks_failed)} failed"
        + (f", {len(summary.checks_quarantined)} with rows quarantined" if summary.checks_quarantined else ""),
    ]
    lines += [f"    failed check {name}" for name in summary.checks_failed]
    lines += [
        f"    check {name} passed with rows quarantined (see dq.quarantine)" for name in summary.checks_quarantined
    ]
    lines += [f"  {report}" for report in summary.reports]
    lines += [f"  failed step {step}: {summary.failures.get(step, '')}" for step in summary.failed_steps]
    lines.append("  rows:")
    width = max((len(name) for name in summary.row_counts), default=0)
    lines += [f"    {name:<{width}}  {count:>9,}" for name, count in summary.row_counts.items()]
    if summary.output_log is not None:
        lines.append(f"  step output (dbt, Dagster): {summary.output_log}")
    lines.append('Open the Dagster UI with `make ui` (http://127.0.0.1:3000); query with `modelatlas sql "..."`.')
    return "\n".join(lines)
