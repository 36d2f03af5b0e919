"""Typed values from untrusted JSON: a field of the wrong type becomes None instead of a failed load."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def as_number(value: Any) -> float | None:
    """A JSON number as a float (booleans are not numbers)."""
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def as_integer(value: Any) -> int | None:
    """A JSON integer (booleans and floats are not)."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def as_nonempty_text(value: Any) -> str | None:
    """A non-empty JSON string."""
    return value if isinstance(value, str) and value else None


def as_iso_timestamp(value: Any) -> datetime | None:
    """An ISO-8601 string as an aware datetime; a naive one is taken as UTC."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
