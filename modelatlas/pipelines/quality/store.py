"""The `dq` schema: validation results and quarantined rows, written with psycopg by the load path."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import psycopg

from modelatlas.errors import WarehouseError
from modelatlas.pipelines.quality.suite import Suite
from modelatlas.pipelines.quality.validation import Baseline, Verdict
from modelatlas.redaction import redact
from modelatlas.warehouse.connection import ConnectionInfo
from modelatlas.warehouse.service import connect

DQ_SCHEMA = "dq"
DDL = (
    f"create schema if not exists {DQ_SCHEMA}",
    f"""create table if not exists {DQ_SCHEMA}.validation_results (
        source text not null,
        entity text not null,
        batch_id text not null,
        expectation text not null,
        column_name text,
        description text not null,
        level text not null,
        success boolean not null,
        observed_value jsonb,
        element_count bigint,
        unexpected_count bigint,
        unexpected_percent double precision,
        run_id text,
        validated_at timestamptz not null
    )""",
    f"""create table if not exists {DQ_SCHEMA}.quarantine (
        source text not null,
        entity text not null,
        row_key text,
        row_payload jsonb not null,
        failed_expectations jsonb not null,
        batch_id text not null,
        run_id text,
        quarantined_at timestamptz not null
    )""",
    f"create index if not exists validation_results_batch on {DQ_SCHEMA}.validation_results (source, entity, batch_id)",
    f"create index if not exists quarantine_batch on {DQ_SCHEMA}.quarantine (source, entity, batch_id)",
)


def _json(value: Any) -> str:
    return json.dumps(value, default=_json_default, sort_keys=True)


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def ensure_dq_tables(conn: psycopg.Connection[Any]) -> None:
    """Create the dq schema and its tables when they do not exist yet."""
    for statement in DDL:
        conn.execute(statement)


def record(
    info: ConnectionInfo,
    verdicts: Sequence[Verdict],
    quarantined: Mapping[str, Sequence[tuple[str | None, Mapping[str, Any], list[str]]]],
    *,
    batch_id: str,
    run_id: str | None,
) -> None:
    """Write every outcome to dq.validation_results and the failing rows to dq.quarantine, in one transaction."""
    now = datetime.now(UTC)
    results = [
        (
            verdict.suite.source,
            verdict.suite.entity,
            batch_id,
            outcome.expectation,
            outcome.column,
            outcome.description,
            outcome.level,
            outcome.success,
            _json(outcome.observed_value),
            outcome.element_count,
            outcome.unexpected_count,
            outcome.unexpected_percent,
            run_id,
            now,
        )
        for verdict in verdicts
        for outcome in verdict.outcomes
    ]
    rows = [
        (verdict.suite.source, verdict.suite.entity, key, _json(payload), _json(failed), batch_id, run_id, now)
        for verdict in verdicts
        for key, payload, failed in quarantined.get(verdict.suite.entity, ())
    ]
    try:
        with connect(info) as conn:
            ensure_dq_tables(conn)
            with conn.cursor() as cursor:
                cursor.executemany(
                    f"insert into {DQ_SCHEMA}.validation_results values "
                    "(%s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s, %s, %s, %s, %s)",
                    results,
                )
                cursor.executemany(
                    f"insert into {DQ_SCHEMA}.quarantine values (%s, %s, %s, %s::jsonb, %s::jsonb, %s, %s, %s)", rows
                )
    except psycopg.Error as exc:
        raise WarehouseError(redact(f"writing data quality results failed: {exc}").strip()) from None


def baseline(info: ConnectionInfo, dataset: str, suite: Suite) -> Baseline:
    """The row count and prices of the latest batch the warehouse holds for `suite`'s table (empty before any)."""
    table = f"{dataset}.{suite.entity}"
    with connect(info) as conn:
        conn.read_only = True
        exists = conn.execute("select to_regclass(%s) is not null", [table]).fetchone()
        if not exists or not exists[0]:
            return Baseline()
        columns = {
            row[0]
            for row in conn.execute(
                "select column_name from information_schema.columns where table_schema = %s and table_name = %s",
                [dataset, suite.entity],
            )
        }
        if "_dlt_valid_to" in columns:
            # An scd2 table: its current rows are the open versions, whatever load wrote them.
            latest = current = f"from {table} where _dlt_valid_to is null"
        elif "batch_id" in columns:
            latest = f"from {table} where batch_id = (select max(batch_id) from {table})"
            current = f"from {table}"
        else:
            return Baseline()
        count_row = conn.execute(f"select count(*) {latest}").fetchone()
        count = int(count_row[0]) if count_row else 0
        jump = [c for c in suite.jump_columns if c in columns]
        prices: dict[tuple[str, ...], dict[str, float]] = {}
        if jump and all(k in columns for k in suite.key):
            selected = ", ".join([*suite.key, *jump])
            # Every current row, not only the latest batch: a price is current until a batch replaces it.
            for row in conn.execute(f"select {selected} {current}"):
                key = tuple(str(v) for v in row[: len(suite.key)])
                values = {c: float(v) for c, v in zip(jump, row[len(suite.key) :], strict=True) if v is not None}
                if values:
                    prices[key] = values
    return Baseline(row_count=count, prices=prices)
