"""Typed values from untrusted JSON: one rule per coercion, and whatever arrives, a value of the type or None."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelatlas.pipelines.coerce import (
    as_bool,
    as_date,
    as_integer,
    as_mapping,
    as_number,
    as_strings,
    as_text,
    as_timestamp,
)

BIGINT_MAX = 2**63 - 1
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=8,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (7, 7),
        (-7, -7),
        (0, 0),
        (7.0, 7),  # an integral float is a whole number
        (-0.0, 0),
        ("2097152", 2097152),  # Google sends int64 fields as strings of digits
        (" 42 ", 42),
        ("-3", -3),
        (str(BIGINT_MAX), BIGINT_MAX),
        (BIGINT_MAX, BIGINT_MAX),
        (-(2**63), -(2**63)),
        (True, None),  # a bool is not a number
        (False, None),
        (7.5, None),
        (float("inf"), None),
        (float("nan"), None),
        ("7.0", None),
        ("1e3", None),
        ("+5", None),
        ("--5", None),
        ("-", None),
        ("", None),
        ("²", None),  # str.isdigit says yes; it is no number
        ("٣", None),
        ("1_000", None),
        (BIGINT_MAX + 1, None),  # beyond bigint: the load would fail
        (str(BIGINT_MAX + 1), None),
        ("9" * 5000, None),
        (1e300, None),
        (None, None),
        ([1], None),
        ({"value": 1}, None),
    ],
)
def test_as_integer(value: Any, expected: int | None) -> None:
    result = as_integer(value)
    assert result == expected
    assert result is None or type(result) is int


@given(JSON_VALUES)
def test_as_integer_never_raises_and_fits_a_bigint(value: Any) -> None:
    result = as_integer(value)
    assert result is None or (type(result) is int and -(2**63) <= result <= BIGINT_MAX)


@given(st.integers(min_value=-(2**63), max_value=BIGINT_MAX))
def test_every_bigint_survives_as_itself_and_as_its_digits(number: int) -> None:
    assert as_integer(number) == as_integer(str(number)) == number


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (3, 3.0),
        (0.5, 0.5),
        (-2, -2.0),
        (10**30, 1e30),
        (True, None),
        (False, None),
        ("3", None),  # a string is no number, even of digits
        (None, None),
        (float("nan"), None),  # no JSON number
        (float("inf"), None),
        (10**400, None),  # beyond the float range
        ([1.0], None),
    ],
)
def test_as_number(value: Any, expected: float | None) -> None:
    result = as_number(value)
    assert result == expected
    assert result is None or type(result) is float


@given(JSON_VALUES)
def test_as_number_never_raises(value: Any) -> None:
    result = as_number(value)
    assert result is None or type(result) is float


@pytest.mark.parametrize(
    ("value", "expected"),
    [("gpt-4o", "gpt-4o"), (" padded ", " padded "), ("", None), (4, None), (None, None), (["a"], None)],
)
def test_as_text_is_a_non_empty_string_as_given(value: Any, expected: str | None) -> None:
    assert as_text(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"), [(True, True), (False, False), (1, None), (0, None), ("true", None), (None, None)]
)
def test_as_bool_is_a_json_boolean_only(value: Any, expected: bool | None) -> None:
    assert as_bool(value) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (["generateContent", 7, None, "countTokens"], ["generateContent", "countTokens"]),
        ([], []),
        ("generateContent", None),  # a string is no list of strings
        ({"a": "b"}, None),
        (None, None),
    ],
)
def test_as_strings_keeps_the_string_elements_of_a_list(value: Any, expected: list[str] | None) -> None:
    assert as_strings(value) == expected


def test_as_mapping_is_a_plain_copy_of_an_object() -> None:
    source = {"thinking": {"supported": True}}
    copied = as_mapping(source)
    assert copied == source and copied is not source and type(copied) is dict
    assert as_mapping([("a", 1)]) is None and as_mapping("{}") is None and as_mapping(None) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2025-09-29T00:00:00Z", datetime(2025, 9, 29, tzinfo=UTC)),
        ("2025-09-29T02:00:00+02:00", datetime(2025, 9, 29, tzinfo=UTC)),
        ("2025-09-29T00:00:00.123456Z", datetime(2025, 9, 29, 0, 0, 0, 123456, tzinfo=UTC)),
        ("2025-09-29T17:30:00", datetime(2025, 9, 29, 17, 30, tzinfo=UTC)),  # naive is UTC
        ("2025-09-29", datetime(2025, 9, 29, tzinfo=UTC)),  # a date is its midnight UTC
        (" 2025-09-29T00:00:00Z ", datetime(2025, 9, 29, tzinfo=UTC)),
        (1715684400, datetime(2024, 5, 14, 11, tzinfo=UTC)),  # unix seconds
        (1715684400.5, datetime(2024, 5, 14, 11, 0, 0, 500000, tzinfo=UTC)),
        (0, datetime(1970, 1, 1, tzinfo=UTC)),
        (True, None),  # a bool is no time
        ("1715684400", None),  # digits in a string are no ISO timestamp
        ("yesterday", None),
        ("", None),
        ("   ", None),
        (None, None),
        (10**20, None),  # beyond the calendar
        (float("inf"), None),
        (float("nan"), None),
        ({"date": "2025-09-29"}, None),
    ],
)
def test_as_timestamp(value: Any, expected: datetime | None) -> None:
    result = as_timestamp(value)
    assert result == expected
    if result is not None:
        assert result.tzinfo is UTC  # aware, and in UTC itself, not only an equal instant


@given(
    st.datetimes(
        min_value=datetime(1970, 1, 2),
        max_value=datetime(2100, 1, 1),
        timezones=st.sampled_from([UTC, timezone(timedelta(hours=-5)), timezone(timedelta(hours=5, minutes=30))]),
    )
)
def test_an_iso_timestamp_round_trips_to_the_same_instant_in_utc(moment: datetime) -> None:
    parsed = as_timestamp(moment.isoformat())
    assert parsed == moment and parsed is not None and parsed.tzinfo is UTC


@given(JSON_VALUES)
def test_as_timestamp_never_raises(value: Any) -> None:
    result = as_timestamp(value)
    assert result is None or result.tzinfo is UTC


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-02-17", date(2026, 2, 17)),
        ("2026-02-17T00:00:00Z", date(2026, 2, 17)),  # a timestamp's date prefix
        ("2026-02-17T23:30:00-08:00", date(2026, 2, 17)),  # the date as written, not converted to UTC
        ("2026-02-17 and more", date(2026, 2, 17)),
        ("2026-02-1", None),
        ("2026-13-01", None),
        ("17/02/2026", None),
        ("soon", None),
        (20260217, None),
        (None, None),
    ],
)
def test_as_date_is_the_iso_date_a_string_starts_with(value: Any, expected: date | None) -> None:
    assert as_date(value) == expected


@given(JSON_VALUES)
def test_as_date_never_raises(value: Any) -> None:
    result = as_date(value)
    assert result is None or type(result) is date
