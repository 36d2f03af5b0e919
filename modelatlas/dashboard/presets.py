"""Saved views ("presets"): a compare view's state kept under a name in `app.saved_views`, through the app role."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb

from modelatlas.dashboard.queries import FilterState, from_query_params, to_query_params
from modelatlas.warehouse.connection import ConnectionInfo
from modelatlas.warehouse.service import connect

MAX_NAME_LENGTH = 100


@dataclass(frozen=True)
class SavedView:
    """One saved view as the table keeps it."""

    id: int
    name: str
    page: str
    query: dict[str, Any]
    created_at: datetime
    updated_at: datetime

    def state(self) -> FilterState:
        """The compare view it holds."""
        return state_from_json(self.query)


def state_to_json(state: FilterState) -> dict[str, str | list[str]]:
    """The jsonb a view is kept as: its URL's query parameters (what differs from the defaults)."""
    return to_query_params(state)


def state_from_json(value: Any) -> FilterState:
    """The view a stored jsonb holds; anything unknown or malformed in it is ignored."""
    if not isinstance(value, Mapping):
        return FilterState()
    params: dict[str, str | Sequence[str]] = {}
    for name, raw in value.items():
        if isinstance(raw, str):
            params[str(name)] = raw
        elif isinstance(raw, list):
            params[str(name)] = [item for item in raw if isinstance(item, str)]
    return from_query_params(params)


def clean_name(name: str) -> str:
    """A view's name as kept: trimmed; raises ValueError when empty or too long."""
    name = " ".join(name.split())
    if not name:
        raise ValueError("give the view a name")
    if len(name) > MAX_NAME_LENGTH:
        raise ValueError(f"a view's name has at most {MAX_NAME_LENGTH} characters")
    return name


def save_view(info: ConnectionInfo, name: str, state: FilterState, page: str = "compare") -> bool:
    """Save `state` under `name`, replacing the view of that name; True when it is new."""
    with connect(info, autocommit=True) as conn:
        row = conn.execute(
            "insert into app.saved_views (name, page, query) values (%s, %s, %s) "
            "on conflict (name) do update set page = excluded.page, query = excluded.query, updated_at = now() "
            "returning (xmax = 0)",
            [clean_name(name), page, Jsonb(state_to_json(state))],
        ).fetchone()
    return bool(row and row[0])


def list_views(info: ConnectionInfo, page: str = "compare") -> list[SavedView]:
    """The page's saved views, by name."""
    with connect(info, autocommit=True) as conn:
        rows = conn.execute(
            "select id, name, page, query, created_at, updated_at from app.saved_views where page = %s order by name",
            [page],
        ).fetchall()
    return [SavedView(*row) for row in rows]


def delete_view(info: ConnectionInfo, name: str) -> bool:
    """Delete the view of that name; False when there was none."""
    with connect(info, autocommit=True) as conn:
        cursor = conn.execute("delete from app.saved_views where name = %s", [name])
    return cursor.rowcount > 0
