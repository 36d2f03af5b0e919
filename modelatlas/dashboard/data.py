"""What the pages read, through the read-only role, and the caches that keep it for the refresh interval."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
import streamlit as st
from psycopg import sql

from modelatlas.dashboard.queries import (
    MART,
    MART_SCHEMA,
    ROW_LIMIT,
    FilterState,
    build_query,
    from_query_params,
    to_query_params,
)
from modelatlas.dashboard.settings import dashboard_settings
from modelatlas.errors import WarehouseError
from modelatlas.redaction import redact
from modelatlas.warehouse import ConnectionInfo, Warehouse
from modelatlas.warehouse.service import connect

# A page waits at most this long for one query.
QUERY_TIMEOUT_MS = 30_000


@dataclass(frozen=True)
class Table:
    """Rows of a view: the columns selected, at most the row limit of rows, and whether more matched."""

    columns: list[str]
    rows: list[tuple[Any, ...]]
    truncated: bool


@dataclass(frozen=True)
class FilterOptions:
    """The values the mart holds for the list filters whose choices are not fixed."""

    providers: list[str]
    regions: list[str]
    input_modalities: list[str]
    output_modalities: list[str]


def reader() -> ConnectionInfo:
    """The warehouse database as the read-only role."""
    return Warehouse.from_env().reader_connection()


def app_role() -> ConnectionInfo:
    """The warehouse database as the app role (saved views)."""
    return Warehouse.from_env().app_connection()


@contextmanager
def read_only(info: ConnectionInfo) -> Iterator[psycopg.Connection[Any]]:
    """A read-only connection with the page's query timeout; a failed query raises a WarehouseError, redacted."""
    with connect(info) as conn:
        conn.read_only = True
        try:
            conn.execute(sql.SQL("set statement_timeout = {}").format(sql.Literal(QUERY_TIMEOUT_MS)))
            yield conn
        except psycopg.errors.InsufficientPrivilege as exc:
            raise WarehouseError(
                f"{info.user} may not read {MART_SCHEMA}: {redact(str(exc)).strip()} (run `modelatlas dashboard` or "
                "any modelatlas command once as the owner: its set-up grants the read-only role)"
            ) from None
        except psycopg.Error as exc:
            raise WarehouseError(f"the query failed: {redact(str(exc)).strip()}") from None


def mart_rows(info: ConnectionInfo) -> int | None:
    """How many rows the comparison mart has; None when it does not exist (or the role cannot see it)."""
    with read_only(info) as conn:
        row = conn.execute("select to_regclass(%s)", [f"{MART_SCHEMA}.{MART}"]).fetchone()
        if row is None or row[0] is None:
            return None
        counted = conn.execute(sql.SQL("select count(*) from {}").format(sql.Identifier(MART_SCHEMA, MART))).fetchone()
    return int(counted[0]) if counted else 0


def filter_options(info: ConnectionInfo) -> FilterOptions:
    """The providers, regions and modalities the mart holds, sorted."""
    table = sql.Identifier(MART_SCHEMA, MART)

    def distinct(expression: str) -> list[str]:
        query = sql.SQL("select distinct v from {}, " + expression + " where v is not null order by v").format(table)
        return [str(value) for (value,) in conn.execute(query).fetchall()]

    with read_only(info) as conn:
        return FilterOptions(
            providers=distinct("lateral (select provider) as s(v)"),
            regions=distinct("lateral (select region) as s(v)"),
            input_modalities=distinct("unnest(input_modalities) as s(v)"),
            output_modalities=distinct("unnest(output_modalities) as s(v)"),
        )


def fetch_limited(info: ConnectionInfo, statement: Any, params: Sequence[Any], limit: int | None) -> Table:
    """The rows of a statement that fetches at most one row over `limit` (None: no limit), at most `limit` of them,
    and whether more matched."""
    with read_only(info) as conn:
        cursor = conn.execute(statement, params)
        columns = [column.name for column in cursor.description or []]
        rows = cursor.fetchall()
    if limit is None:
        return Table(columns, rows, truncated=False)
    return Table(columns, rows[:limit], truncated=len(rows) > limit)


def fetch_view(info: ConnectionInfo, state: FilterState, limit: int = ROW_LIMIT) -> Table:
    """The rows of a compare view, at most `limit`."""
    query, params = build_query(state, limit + 1)
    return fetch_limited(info, query, params, limit)


def _cached_mart_rows(_info: ConnectionInfo, database: str) -> int | None:
    return mart_rows(_info)


def _cached_filter_options(_info: ConnectionInfo, database: str) -> FilterOptions:
    return filter_options(_info)


Params = tuple[tuple[str, str | tuple[str, ...]], ...]


def _cached_view(_info: ConnectionInfo, database: str, params: Params) -> Table:
    return fetch_view(
        _info, from_query_params({name: list(value) if isinstance(value, tuple) else value for name, value in params})
    )


@functools.cache
def cached(function: Callable[..., Any], ttl: float) -> Callable[..., Any]:
    """`function` with its results kept for `ttl` seconds (one Streamlit cache per function and interval)."""
    return st.cache_data(ttl=ttl, show_spinner=False)(function)


def refresh_interval() -> float:
    """Seconds a query result is reused, and the live pages' redraw interval."""
    return dashboard_settings().refresh_s


def cached_mart_rows(info: ConnectionInfo) -> int | None:
    """`mart_rows`, reused for the refresh interval."""
    rows: int | None = cached(_cached_mart_rows, refresh_interval())(info, info.display_url())
    return rows


def cached_filter_options(info: ConnectionInfo) -> FilterOptions:
    """`filter_options`, reused for the refresh interval."""
    options: FilterOptions = cached(_cached_filter_options, refresh_interval())(info, info.display_url())
    return options


def cached_view(info: ConnectionInfo, state: FilterState) -> Table:
    """`fetch_view`, reused for the refresh interval (keyed by the database and the view's URL parameters)."""
    params: Params = tuple(
        sorted(
            (name, tuple(value) if isinstance(value, list) else value) for name, value in to_query_params(state).items()
        )
    )
    table: Table = cached(_cached_view, refresh_interval())(info, info.display_url(), params)
    return table


def clear_caches() -> None:
    """Forget every cached result (the next read queries the warehouse)."""
    st.cache_data.clear()
