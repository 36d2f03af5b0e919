"""Typed values from untrusted JSON, one rule each: a field of the wrong type becomes None instead of a failed load."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

# bigint's range: a larger whole number fails the load (PostgreSQL) or the Arrow conversion instead of being null.
_BIGINT_MIN, _BIGINT_MAX = -(2**63), 2**63 - 1
# ASCII digits only (str.isdigit also takes '²', which int() refuses); 19 digits hold every bigint.
_DIGITS = re.compile(r"-?[0-9]{1,19}")


def as_integer(value: Any) -> int | None:
    """A whole number that fits a bigint: a JSON integer, an integral float, or a string of digits (Google's int64)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float):
        value = int(value) if value.is_integer() else None
    elif isinstance(value, str):
        text = value.strip()
        value = int(text) if _DIGITS.fullmatch(text) else None
    return value if isinstance(value, int) and _BIGINT_MIN <= value <= _BIGINT_MAX else None


def as_number(value: Any) -> float | None:
    """A finite JSON number as a float (booleans are not numbers; NaN and infinities are no JSON numbers)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:  # an integer beyond the float range
        return None
    return number if math.isfinite(number) else None


def as_text(value: Any) -> str | None:
    """A non-empty JSON string."""
    return value if isinstance(value, str) and value else None


def as_bool(value: Any) -> bool | None:
    """A JSON boolean."""
    return value if isinstance(value, bool) else None


def as_strings(value: Any) -> list[str] | None:
    """The string elements of a JSON list (others are dropped); None when it is no list."""
    return [element for element in value if isinstance(element, str)] if isinstance(value, list) else None


def as_mapping(value: Any) -> dict[str, Any] | None:
    """A JSON object as a plain dict."""
    return dict(value) if isinstance(value, Mapping) else None


def as_timestamp(value: Any) -> datetime | None:
    """An aware UTC datetime from unix seconds or an ISO-8601 string (`Z`, an offset, naive as UTC, date only)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def as_date(value: Any) -> date | None:
    """The calendar date an ISO-8601 date or timestamp string starts with."""
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None
