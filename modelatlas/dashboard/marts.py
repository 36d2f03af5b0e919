"""Any mart as the live pages read it: whether it exists and has rows, and bounded SELECTs cached by name.

A query is a registered builder (`@query`) returning composed SQL and its bound parameters; `cached_fetch` runs it
through the read-only role with a row limit, and keeps the result for the refresh interval keyed by the database,
the builder's name and its arguments (which are therefore plain hashable values).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any, Protocol, TypeVar, cast

import pandas as pd
import streamlit as st
from psycopg import sql

from modelatlas.dashboard.data import Table, cached, fetch_limited, read_only, refresh_interval
from modelatlas.dashboard.queries import MART_SCHEMA
from modelatlas.warehouse import ConnectionInfo

HOW_TO_BUILD = (
    "Build the marts with `make run` (every source you have keys for), or fill the sample database without keys: "
    "`make run SAMPLE=1`, then open it with `make dashboard SAMPLE=1`."
)

Query = tuple[sql.Composed, list[Any]]
Builder = TypeVar("Builder", bound=Callable[..., Query])

_QUERIES: dict[str, Callable[..., Query]] = {}


class _Clearable(Protocol):
    def clear(self) -> None: ...


class MartState(StrEnum):
    """Whether a mart can be shown."""

    MISSING = "missing"
    EMPTY = "empty"
    READY = "ready"


def table(name: str) -> sql.Identifier:
    """A mart's qualified name."""
    return sql.Identifier(MART_SCHEMA, name)


def query_name(builder: Callable[..., Query]) -> str:
    """The name a query builder is registered and cached under."""
    return f"{builder.__module__}.{builder.__qualname__}"


def query(builder: Builder) -> Builder:
    """Register a query builder, so `cached_fetch` can run it by name."""
    _QUERIES[query_name(builder)] = builder
    return builder


def bounded(statement: sql.Composed, params: Sequence[Any], limit: int) -> Query:
    """The statement with a LIMIT one row above `limit` (to tell whether more matched)."""
    if limit < 1:
        raise ValueError(f"the row limit must be at least 1, not {limit}")
    return sql.SQL("{} limit %s").format(statement), [*params, limit + 1]


def fetch(info: ConnectionInfo, statement: sql.Composed, params: Sequence[Any], limit: int) -> Table:
    """The rows of a SELECT, at most `limit`, and whether more matched."""
    limited, values = bounded(statement, params, limit)
    return fetch_limited(info, limited, values, limit)


def mart_states(info: ConnectionInfo, names: Iterable[str]) -> dict[str, MartState]:
    """For each mart: missing, empty or ready (it has a row)."""
    states: dict[str, MartState] = {}
    with read_only(info) as conn:
        for name in names:
            found = conn.execute("select to_regclass(%s) is not null", [table(name).as_string(conn)]).fetchone()
            if not (found and found[0]):
                states[name] = MartState.MISSING
                continue
            row = conn.execute(sql.SQL("select exists (select 1 from {})").format(table(name))).fetchone()
            states[name] = MartState.READY if row and row[0] else MartState.EMPTY
    return states


def _cached_states(_info: ConnectionInfo, database: str, names: tuple[str, ...]) -> dict[str, MartState]:
    return mart_states(_info, names)


def _cached_fetch(_info: ConnectionInfo, database: str, name: str, args: tuple[Any, ...], limit: int) -> Table:
    statement, params = _QUERIES[name](*args)
    return fetch(_info, statement, params, limit)


def cached_mart_states(info: ConnectionInfo, names: Sequence[str]) -> dict[str, MartState]:
    """`mart_states`, reused for the refresh interval."""
    states: dict[str, MartState] = cached(_cached_states, refresh_interval())(info, info.display_url(), tuple(names))
    return states


def cached_fetch(info: ConnectionInfo, builder: Callable[..., Query], *args: Any, limit: int) -> Table:
    """A registered query's rows (at most `limit`), reused for the refresh interval."""
    name = query_name(builder)
    if _QUERIES.get(name) is not builder:
        raise ValueError(f"{name} is not a registered query (decorate it with @query)")
    result: Table = cached(_cached_fetch, refresh_interval())(info, info.display_url(), name, args, limit)
    return result


def forget_fetches() -> None:
    """Drop every cached query result, so the next read shows what the warehouse holds now."""
    for function in (_cached_fetch, _cached_states):
        cast(_Clearable, cached(function, refresh_interval())).clear()


def absence(mart: str, state: MartState, database: str, remedy: str) -> str | None:
    """What to say instead of a chart when a mart is missing or empty; None when it has rows."""
    if state is MartState.MISSING:
        return f"`{MART_SCHEMA}.{mart}` does not exist in {database} yet. {remedy}"
    if state is MartState.EMPTY:
        return f"`{MART_SCHEMA}.{mart}` in {database} has no rows yet. {remedy}"
    return None


def section(title: str, mart: str, states: Mapping[str, MartState], database: str, remedy: str) -> bool:
    """A section's heading, and whether to draw it: when its mart has no rows, what to do is shown instead."""
    st.subheader(title)
    message = absence(mart, states[mart], database, remedy)
    if message:
        st.info(message)
        return False
    return True


def all_absent(states: Mapping[str, MartState]) -> bool:
    """Whether none of the marts has a row."""
    return all(state is not MartState.READY for state in states.values())


def plain(value: Any) -> Any:
    """A value as a chart or table takes it: decimals as floats."""
    return float(value) if isinstance(value, Decimal) else value


def frame(result: Table) -> pd.DataFrame:
    """The rows as a DataFrame, decimals as floats."""
    return pd.DataFrame([[plain(value) for value in row] for row in result.rows], columns=result.columns)


def day_axis(first: date, last: date, pad_days: float = 0.5) -> list[str]:
    """A date axis's range from `first` to `last`, padded: a single day or month shows as a date, not as hours."""
    pad = timedelta(days=pad_days)
    return [(first - pad).isoformat(), (last + pad).isoformat()]
