"""`modelatlas api-keys create`'s expiry options."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from modelatlas.api.commands import expiry
from modelatlas.errors import ConfigurationError

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_an_expiry_is_days_from_now_an_iso_time_or_never() -> None:
    assert expiry(None, None, NOW) is None
    assert expiry(30, None, NOW) == NOW + timedelta(days=30)
    assert expiry(None, "2026-06-30", NOW) == datetime(2026, 6, 30, tzinfo=UTC)
    assert expiry(None, "2026-06-30T12:00:00+02:00", NOW) == datetime(
        2026, 6, 30, 12, tzinfo=timezone(timedelta(hours=2))
    )


@pytest.mark.parametrize(
    ("days", "at", "message"),
    [
        (0, None, "above 0"),
        (None, "next week", "not an ISO 8601 time"),
        (None, "2026-01-01", "in the past"),
        (1, "2027-01-01", "not both"),
    ],
)
def test_a_bad_expiry_says_what_to_give(days: float | None, at: str | None, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        expiry(days, at, NOW)
