"""Typed values from untrusted JSON."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from modelatlas.pipelines.coerce import as_integer, as_iso_timestamp, as_nonempty_text, as_number


def test_numbers_and_integers_refuse_booleans_and_strings() -> None:
    assert as_number(3) == 3.0 and as_number(0.5) == 0.5
    assert as_number(True) is None and as_number("3") is None
    assert as_integer(7) == 7
    assert as_integer(True) is None and as_integer(7.0) is None and as_integer("7") is None


def test_text_must_be_a_non_empty_string() -> None:
    assert as_nonempty_text("gpt-4o") == "gpt-4o"
    assert as_nonempty_text("") is None and as_nonempty_text(4) is None


def test_iso_timestamps_are_aware() -> None:
    assert as_iso_timestamp("2025-09-29T00:00:00Z") == datetime(2025, 9, 29, tzinfo=UTC)
    assert as_iso_timestamp("2025-09-29T02:00:00+02:00") == datetime(2025, 9, 29, tzinfo=UTC)
    assert as_iso_timestamp("2025-09-29T02:00:00+02:00").utcoffset() == timedelta(hours=2)  # type: ignore[union-attr]
    assert as_iso_timestamp("2025-09-29") == datetime(2025, 9, 29, tzinfo=UTC)
    assert as_iso_timestamp("yesterday") is None and as_iso_timestamp(1_700_000_000) is None
