"""The one-shot reference: the soak's source states served again in order, each loaded by `modelatlas run` into a
fresh database, and every mart compared with the soak's as a multiset of rows."""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from psycopg import sql

from modelatlas.warehouse import ConnectionInfo
from modelatlas.warehouse.service import connect

REPLAY_DATABASE = "modelatlas_replay"
MARTS = "marts"
# Columns that record when something was observed differ between any two runs: left out of the comparison. They are
# the timestamptz columns, dlt's load ids (load times), and the surrogate keys hashed with either (md5 digests).
OBSERVATION_TYPES = ("timestamp with time zone",)
LOAD_ID_COLUMNS = ("load_id", "_dlt_load_id")
DIGEST = "^[0-9a-f]{32}$"
# Marts whose past rows are cut at the moments each source was observed: a soak observes the sources minutes apart,
# a one-shot run all at once, so only their current rows can be equal (each source's own history, which they are
# resolved from, is compared whole in fct_price_history).
CURRENT_ROWS_ONLY = {"fct_price_timeline": "is_current"}
# What the time series say (probe results, status polls, endpoint health) depends on when and how often each was
# polled, which a soak and a one-shot run never share: these marts and columns are left out of the comparison.
TIME_SERIES_MARTS = frozenset(
    {"mart_status_current", "fct_outages", "mart_provider_uptime_daily", "mart_model_endpoint_health_daily"}
)
TIME_SERIES_COLUMNS = frozenset({"availability_30d_pct"})
# The organisation's usage reports grow with the clock and load hourly: a soak of minutes and a one-shot run read
# them at different times (or the soak not at all), so the marts built on them are left out too.
USAGE_MARTS = frozenset(
    {
        "fct_usage",
        "mart_usage_daily",
        "mart_cost_reconciliation",
        "mart_cost_allocation",
        "mart_budget_status",
        "mart_usage_patterns",
        "mart_price_change_impact",
    }
)


@dataclass(frozen=True)
class ReplayRun:
    """One `modelatlas run` of the replay."""

    state: int
    seconds: float
    exit_code: int
    summary: str


def replay(
    states: int, serve: Callable[[int], None], env: Mapping[str, str], log: Callable[[str], None]
) -> list[ReplayRun]:
    """For each state in order: serve it, then `modelatlas run` (its summary kept, its exit code checked)."""
    runs = []
    command = [str(Path(sys.executable).parent / "modelatlas"), "run"]
    for state in range(states):
        serve(state)
        started = time.monotonic()
        completed = subprocess.run(command, env=dict(env), capture_output=True, text=True, check=False)
        run = ReplayRun(state, time.monotonic() - started, completed.returncode, completed.stdout.strip())
        log(f"replay of state {state}: modelatlas run exited {run.exit_code} in {run.seconds:.0f} s")
        if completed.returncode != 0:
            log(completed.stdout[-2000:] + completed.stderr[-2000:])
        runs.append(run)
    return runs


def mart_rows(info: ConnectionInfo) -> dict[str, tuple[list[str], Counter[tuple[str | None, ...]]]]:
    """Every table of the marts schema: its compared columns and its rows (as text) counted."""
    tables: dict[str, tuple[list[str], Counter[tuple[str | None, ...]]]] = {}
    with connect(info) as conn:
        conn.read_only = True
        columns = conn.execute(
            "select table_name, column_name, data_type from information_schema.columns "
            "where table_schema = %s order by table_name, ordinal_position",
            (MARTS,),
        ).fetchall()
        by_table: dict[str, list[str]] = {}
        for table, column, data_type in columns:
            kept = by_table.setdefault(table, [])
            if data_type in OBSERVATION_TYPES or column in LOAD_ID_COLUMNS or column in TIME_SERIES_COLUMNS:
                continue
            if column.endswith("_id") and data_type == "text" and _digests(conn, table, column):
                continue
            kept.append(column)
        for table, kept in by_table.items():
            if table in TIME_SERIES_MARTS | USAGE_MARTS:
                continue
            selected = sql.SQL(", ").join(sql.SQL("{}::text").format(sql.Identifier(column)) for column in kept)
            query = sql.SQL("select {} from {}.{}").format(selected, sql.Identifier(MARTS), sql.Identifier(table))
            if table in CURRENT_ROWS_ONLY:
                query += sql.SQL(" where {}").format(sql.Identifier(CURRENT_ROWS_ONLY[table]))
            tables[table] = (kept, Counter(tuple(row) for row in conn.execute(query).fetchall()))
    return tables


def _digests(conn: Any, table: str, column: str) -> bool:
    """Whether every value of a column is an md5 digest (and there is at least one)."""
    query = sql.SQL("select count(*), count(*) filter (where {column} ~ %s) from {table} where {column} is not null")
    total, digests = conn.execute(
        query.format(column=sql.Identifier(column), table=sql.Identifier(MARTS, table)), (DIGEST,)
    ).fetchone()
    return bool(total) and total == digests


@dataclass(frozen=True)
class MartDifference:
    """How one mart differs between the soak and the replay."""

    mart: str
    soak_rows: int
    replay_rows: int
    only_in_soak: int
    only_in_replay: int
    example: str = ""


def compare_marts(soak: ConnectionInfo, reference: ConnectionInfo) -> tuple[list[str], list[MartDifference]]:
    """(marts compared, the ones that differ) between two databases."""
    left, right = mart_rows(soak), mart_rows(reference)
    differences = []
    for mart in sorted(set(left) | set(right)):
        left_columns, left_rows = left.get(mart, ([], Counter()))
        right_columns, right_rows = right.get(mart, ([], Counter()))
        if left_columns != right_columns:
            differences.append(MartDifference(mart, left_rows.total(), right_rows.total(), 0, 0, "columns differ"))
            continue
        only_left, only_right = left_rows - right_rows, right_rows - left_rows
        if only_left or only_right:
            sample = next(iter(only_left or only_right))
            example = ", ".join(f"{c}={v}" for c, v in zip(left_columns, sample, strict=True))[:400]
            side = "soak" if only_left else "replay"
            differences.append(
                MartDifference(
                    mart,
                    left_rows.total(),
                    right_rows.total(),
                    only_left.total(),
                    only_right.total(),
                    f"only in the {side}: {example}",
                )
            )
    return sorted(set(left) | set(right)), differences
