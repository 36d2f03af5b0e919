"""Cursor pagination by keyset: a page ends at a row, and the next starts after it in the listing's own order, so a
page never repeats or skips a row when rows are added before it. Cursors are opaque to clients (base64url JSON)
and bound to the listing and order they came from."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from psycopg import sql

from modelatlas.api.problems import Problem

CURSOR_COLUMN = "_cursor"


@dataclass(frozen=True)
class Keyset:
    """The order of a listing: SQL expressions that are never null and whose values, together, are unique."""

    name: str
    # (expression, PostgreSQL type its text form is cast back to)
    expressions: tuple[tuple[str, str], ...]
    descending: bool = False

    def order_by(self) -> sql.Composable:
        direction = sql.SQL(" desc" if self.descending else "")
        return sql.SQL(", ").join(sql.Composed([sql.SQL(expression), direction]) for expression, _ in self.expressions)

    def cursor_column(self) -> sql.Composable:
        """The row's position as a text array, selected beside the row to make the next cursor from."""
        parts = sql.SQL(", ").join(sql.SQL(f"({expression})::text") for expression, _ in self.expressions)
        return sql.SQL("array[{}] as {}").format(parts, sql.Identifier(CURSOR_COLUMN))

    def after(self, values: Sequence[str]) -> tuple[sql.Composable, list[Any]]:
        """The condition of rows after the position `values`."""
        left = sql.SQL(", ").join(sql.SQL(expression) for expression, _ in self.expressions)
        right = sql.SQL(", ").join(sql.SQL(f"%s::{kind}") for _, kind in self.expressions)
        operator = sql.SQL("<" if self.descending else ">")
        return sql.SQL("({}) {} ({})").format(left, operator, right), list(values)


def encode_cursor(keyset: Keyset, values: Sequence[str]) -> str:
    """An opaque cursor of the position `values` in `keyset`'s order."""
    payload = json.dumps([keyset.name, list(values)], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(payload).decode().rstrip("=")


def decode_cursor(keyset: Keyset, cursor: str) -> list[str]:
    """The position a cursor names; a 400 problem when it is not a cursor of this listing and order."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        name, values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise _bad_cursor() from None
    valid = isinstance(values, list) and all(isinstance(value, str) for value in values)
    if name != keyset.name or not valid or len(values) != len(keyset.expressions):
        raise _bad_cursor()
    return [str(value) for value in values]


def _bad_cursor() -> Problem:
    return Problem(
        400,
        "Invalid cursor",
        "the cursor is not one this listing gave with the same sort: pass `next_cursor` from the previous page "
        "unchanged, with the same sort, or leave it out for the first page",
    )


def split_page(rows: list[dict[str, Any]], limit: int, keyset: Keyset) -> tuple[list[dict[str, Any]], str | None]:
    """The first `limit` of `rows` (a query asked for one more) and the cursor after them, if more follow."""
    page = rows[:limit]
    following = encode_cursor(keyset, page[-1][CURSOR_COLUMN]) if len(rows) > limit and page else None
    return page, following
