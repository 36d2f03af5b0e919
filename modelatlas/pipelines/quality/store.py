"""The `dq` schema: validation results and quarantined rows, written with psycopg by the load path."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import psycopg
from psycopg import sql

from modelatlas.errors import WarehouseError
from modelatlas.pipelines.quality.validation import Verdict
from modelatlas.redaction import redact
from modelatlas.warehouse.connection import ConnectionInfo
from modelatlas.warehouse.service import connect

DQ_SCHEMA = "dq"
_VALIDATION_RESULTS = sql.Identifier(DQ_SCHEMA, "validation_results")
_QUARANTINE = sql.Identifier(DQ_SCHEMA, "quarantine")
DDL = (
    sql.SQL("create schema if not exists {}").format(sql.Identifier(DQ_SCHEMA)),
    sql.SQL(
        """create table if not exists {} (
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
    )"""
    ).format(_VALIDATION_RESULTS),
    sql.SQL(
        """create table if not exists {} (
        source text not null,
        entity text not null,
        row_key text,
        row_payload jsonb not null,
        failed_expectations jsonb not null,
        batch_id text not null,
        run_id text,
        quarantined_at timestamptz not null
    )"""
    ).format(_QUARANTINE),
    sql.SQL("create index if not exists validation_results_batch on {} (source, entity, batch_id)").format(
        _VALIDATION_RESULTS
    ),
    sql.SQL("create index if not exists quarantine_batch on {} (source, entity, batch_id)").format(_QUARANTINE),
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
    """Write every expectation result to dq.validation_results and the failing rows to dq.quarantine, at once."""
    now = datetime.now(UTC)
    results = [
        (
            verdict.suite.source,
            verdict.suite.entity,
            batch_id,
            result.expectation,
            result.column,
            result.description,
            result.level,
            result.success,
            _json(result.observed_value),
            result.element_count,
            result.unexpected_count,
            result.unexpected_percent,
            run_id,
            now,
        )
        for verdict in verdicts
        for result in verdict.results
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
                    sql.SQL(
                        "insert into {} values (%s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s, %s, %s, %s, %s)"
                    ).format(_VALIDATION_RESULTS),
                    results,
                )
                cursor.executemany(
                    sql.SQL("insert into {} values (%s, %s, %s, %s::jsonb, %s::jsonb, %s, %s, %s)").format(_QUARANTINE),
                    rows,
                )
    except psycopg.Error as exc:
        raise WarehouseError(redact(f"writing data quality results failed: {exc}").strip()) from None
