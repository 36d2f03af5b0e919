"""The quality gate in Dagster: one blocking asset check per gated table, its results yielded by the asset body."""

import json
from collections.abc import Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from typing import Any

import dagster as dg

from modelatlas.assets.outcomes import OUTCOME_METADATA_KEY
from modelatlas.pipelines.quality.gate import GateResult
from modelatlas.pipelines.quality.suite import Suite
from modelatlas.pipelines.quality.validation import Verdict

CHECK_NAME = "quality_gate"
_VALUE_LIMIT = 160


def gate_check_specs(keys: Mapping[str, dg.AssetKey], suites: Mapping[str, Suite]) -> list[dg.AssetCheckSpec]:
    """A blocking check per table that has a suite: a failed batch stops the dbt models downstream of it."""
    return [
        dg.AssetCheckSpec(
            name=CHECK_NAME,
            asset=key,
            blocking=True,
            description=(
                f"Great Expectations suite {suites[table].name}, run on each extracted batch before it is merged: "
                "failing rows go to dq.quarantine; a shrunken or empty catalog, a mass 10x price move or a lost "
                "column blocks the batch."
            ),
        )
        for table, key in keys.items()
        if table in suites
    ]


def failing_rows_markdown(verdict: Verdict, rows: Sequence[tuple[str | None, Mapping[str, Any], list[str]]]) -> str:
    """A markdown table of the first quarantined rows: key, failed expectations, the values the suite reads."""
    lines = ["| row | failed expectations | values |", "|---|---|---|"]
    columns = sorted(verdict.suite.columns())
    for key, row, failed in rows:
        values = json.dumps({c: row.get(c) for c in columns if row.get(c) is not None}, default=str)
        if len(values) > _VALUE_LIMIT:
            values = values[: _VALUE_LIMIT - 1] + "…"
        cells = [str(key), "; ".join(failed), values]
        lines.append("| " + " | ".join(cell.replace("|", "\\|").replace("\n", " ") for cell in cells) + " |")
    return "\n".join(lines)


def check_results(
    result: GateResult,
    keys: Mapping[str, dg.AssetKey],
) -> Iterator[dg.AssetCheckResult]:
    """One result per gated table: ERROR when the batch was blocked, WARN when rows were quarantined."""
    for table, verdict in result.verdicts.items():
        failed = verdict.failed
        if result.blocked:
            severity = dg.AssetCheckSeverity.ERROR
            passed = False
        else:
            severity = dg.AssetCheckSeverity.WARN
            passed = not failed
        metadata: dict[str, Any] = {
            "batch_id": result.batch_id,
            "rows_in_batch": verdict.row_count,
            "rows_quarantined": result.quarantined.get(table, 0),
            "rows_loaded": result.loaded.get(table, 0),
            "expectations_evaluated": len(verdict.outcomes),
            "expectations_failed": len(failed),
            "failed_expectations": dg.MetadataValue.md(
                "\n".join(f"- **{o.level}** {o.description} (unexpected: {o.unexpected_count})" for o in failed)
                or "none"
            ),
            "blocked": result.blocked,
        }
        if result.blocked:
            metadata["block_reasons"] = "; ".join(verdict.block_reasons) or "another table of this batch was blocked"
        if result.samples.get(table):
            metadata["failing_rows_sample"] = dg.MetadataValue.md(failing_rows_markdown(verdict, result.samples[table]))
        yield dg.AssetCheckResult(
            asset_key=keys[table],
            check_name=CHECK_NAME,
            passed=passed,
            severity=severity,
            metadata=metadata,
            description=("blocked: " + "; ".join(verdict.block_reasons)) if verdict.blocked else None,
        )


def blocked_failure(source: str, result: GateResult) -> dg.Failure:
    """The asset's failure for a blocked batch: the reason in the run summary, the counts as metadata."""
    message = result.block_message(source)
    return dg.Failure(
        description=message,
        metadata={
            OUTCOME_METADATA_KEY: message,
            "batch_id": result.batch_id,
            "rows_in_batch": sum(v.row_count for v in result.verdicts.values()),
        },
    )


def gate_outcome(
    source: str,
    result: GateResult,
    keys: Mapping[str, dg.AssetKey],
    selected: AbstractSet[dg.AssetKey] | None = None,
) -> Iterator[dg.AssetCheckResult]:
    """What an asset yields after the gate: the check results of its `selected` tables (all by default), then
    its failure when the batch was blocked."""
    yield from (check for check in check_results(result, keys) if selected is None or check.asset_key in selected)
    if result.blocked:
        raise blocked_failure(source, result)
