"""What a raw table holds now: its current rows (open scd2 versions, else the latest batch), read before a load.

The gate compares a batch with them (shrink and price-jump guards) and the load reports what changed against them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from psycopg import sql

from modelatlas.pipelines.quality.validation import Baseline, key_part
from modelatlas.pipelines.spec import TableSpec
from modelatlas.warehouse.connection import ConnectionInfo
from modelatlas.warehouse.service import connect


@dataclass(frozen=True)
class CurrentRows:
    """A raw table's current rows, as far as the gate and the change report read them."""

    row_count: int = 0
    # key (its parts as texts, `key_part`) -> {price column: price}, for the price-jump guard
    prices: Mapping[tuple[str, ...], Mapping[str, float]] = field(default_factory=dict)
    # tracked key -> content, for the change report
    contents: Mapping[tuple[Any, ...], str] = field(default_factory=dict)

    def baseline(self) -> Baseline:
        """What the gate compares a batch with."""
        return Baseline(row_count=self.row_count, prices=self.prices)


@dataclass(frozen=True)
class Changes:
    """How a batch differs from the current rows, by tracked key."""

    added: list[str]
    removed: list[str]
    changed: list[str]


def changes(previous: Mapping[tuple[Any, ...], str], current: Mapping[tuple[Any, ...], str]) -> Changes:
    """Keys added, removed and changed (other content) between two {key: content} maps, as sorted texts."""

    def text(key: tuple[Any, ...]) -> str:
        return "/".join("" if part is None else str(part) for part in key)

    return Changes(
        added=sorted(text(key) for key in set(current) - set(previous)),
        removed=sorted(text(key) for key in set(previous) - set(current)),
        changed=sorted(text(key) for key in set(current) & set(previous) if current[key] != previous[key]),
    )


def _needs_reading(table: TableSpec) -> bool:
    suite = table.suite
    return table.tracked_by is not None or (suite is not None and (suite.guard_shrink or bool(suite.jump_columns)))


def current_rows(info: ConnectionInfo, dataset: str, table: TableSpec) -> CurrentRows:
    """The current rows of `dataset.table` (empty before its first load, or when nothing reads them)."""
    if not _needs_reading(table):
        return CurrentRows()
    with connect(info) as conn:
        conn.read_only = True
        columns = {
            row[0]
            for row in conn.execute(
                "select column_name from information_schema.columns where table_schema = %s and table_name = %s",
                [dataset, table.name],
            )
        }
        if not columns:
            return CurrentRows()
        relation = sql.Identifier(dataset, table.name)
        suite = table.suite
        key = list(suite.key) if suite is not None else []
        jump = [c for c in (suite.jump_columns if suite is not None else ()) if c in columns]
        if not all(k in columns for k in key):
            key, jump = [], []
        tracked_key, content = table.tracked_by or ((), "")
        tracked = [*list(tracked_key), content] if content in columns else []
        # Which rows are current: an scd2 table's open versions, whatever load wrote them; a merged table's latest
        # batch for its size and what it listed, but every row for prices: a price is current until a batch
        # replaces it (a model quarantined last time keeps its price to compare with).
        latest_only = "batch_id" in columns and "_dlt_valid_to" not in columns
        if "_dlt_valid_to" in columns:
            where: sql.Composable = sql.SQL("_dlt_valid_to is null")
        elif latest_only and not jump:
            where = sql.SQL("batch_id = (select max(batch_id) from {})").format(relation)
        else:
            where = sql.SQL("true")
        selected = list(dict.fromkeys([*key, *jump, *tracked, *(["batch_id"] if latest_only else [])]))
        selected = selected or ["_dlt_id"]
        query = sql.SQL("select {} from {} where {}").format(
            sql.SQL(", ").join(sql.Identifier(name) for name in selected), relation, where
        )
        rows = [dict(zip(selected, record, strict=True)) for record in conn.execute(query)]
    latest = max((str(row["batch_id"]) for row in rows), default=None) if latest_only else None
    count = 0
    prices: dict[tuple[str, ...], dict[str, float]] = {}
    contents: dict[tuple[Any, ...], str] = {}
    for row in rows:
        in_latest = latest is None or str(row["batch_id"]) == latest
        if jump:
            values = {c: float(row[c]) for c in jump if row[c] is not None}
            if values:
                prices[tuple(key_part(row[k]) for k in key)] = values
        if not in_latest:
            continue
        count += 1
        if tracked:
            contents[tuple(row[k] for k in tracked_key)] = str(row[content])
    return CurrentRows(row_count=count, prices=prices, contents=contents)


def empty_tables(info: ConnectionInfo, dataset: str, tables: list[str]) -> set[str]:
    """The tables of `dataset` among `tables` that hold no row (or do not exist yet)."""
    empty = set()
    with connect(info) as conn:
        conn.read_only = True
        existing = {
            row[0]
            for row in conn.execute(
                "select table_name from information_schema.tables where table_schema = %s", [dataset]
            )
        }
        for table in tables:
            if table not in existing:
                empty.add(table)
                continue
            query = sql.SQL("select 1 from {} limit 1").format(sql.Identifier(dataset, table))
            if conn.execute(query).fetchone() is None:
                empty.add(table)
    return empty
