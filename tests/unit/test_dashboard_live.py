"""The live pages' pure logic: what is new since a session last looked, and how it is told."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from modelatlas.dashboard.live import (
    FEEDS,
    FETCH_LIMIT,
    LOOKBACK,
    OUTAGES,
    PRICE_CHANGES,
    Event,
    Seen,
    events,
    feed_query,
    look,
    notifications,
    outage_text,
    price_change_text,
    remember,
    since,
    unseen,
    usd,
)

NOON = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def event(key: str, minutes: float = 0) -> Event:
    return Event(key, NOON + timedelta(minutes=minutes), f"event {key}")


def test_the_first_look_remembers_and_notifies_nothing() -> None:
    new, seen = look(None, [event("a", -5), event("b")])
    assert new == []
    assert seen.newest == NOON and set(seen.keys) == {"a", "b"}


def test_a_newer_event_is_new_once() -> None:
    _, seen = look(None, [event("a"), event("b", -1)])
    new, seen = look(seen, [event("c", 3), event("a"), event("b", -1)])
    assert [item.key for item in new] == ["c"]
    assert seen.newest == NOON + timedelta(minutes=3)
    again, _ = look(seen, [event("c", 3), event("a")])
    assert again == []


def test_an_event_at_the_same_time_as_the_newest_seen_is_new_when_its_key_is() -> None:
    _, seen = look(None, [event("a")])
    new, _ = look(seen, [event("a"), event("b")])
    assert [item.key for item in new] == ["b"]


def test_a_late_event_within_the_lookback_is_new_and_one_before_it_is_not() -> None:
    _, seen = look(None, [event("a")])
    late = Event("late", NOON - LOOKBACK + timedelta(seconds=1), "late")
    too_late = Event("too late", NOON - LOOKBACK - timedelta(seconds=1), "too late")
    new, _ = look(seen, [late, too_late, event("a")])
    assert [item.key for item in new] == ["late"]


def test_a_feed_empty_at_first_announces_everything_that_arrives() -> None:
    _, seen = look(None, [])
    assert seen == Seen() and since(seen) is None
    new, seen = look(seen, [event("old", -600), event("new")])
    assert [item.key for item in new] == ["new", "old"]
    assert seen.newest == NOON


def test_new_events_come_newest_first_and_once_per_key() -> None:
    new = unseen(Seen(NOON, {}), [event("b", 1), event("a", 2), event("b", 1), event("c", 1)])
    assert [item.key for item in new] == ["a", "c", "b"]


def test_the_next_look_reads_from_the_lookback_before_the_newest_seen() -> None:
    assert since(None) is None
    assert since(Seen(NOON, {"a": NOON})) == NOON - LOOKBACK
    assert since(Seen(NOON, {}), timedelta(minutes=5)) == NOON - timedelta(minutes=5)


def test_remembering_forgets_keys_older_than_the_lookback_and_keeps_the_newest_keys() -> None:
    seen = remember(None, [event("old", -10), event("a", -1)], lookback=timedelta(minutes=5))
    assert set(seen.keys) == {"a"}
    later = remember(seen, [event("b", 3)], lookback=timedelta(minutes=5))
    assert later.newest == NOON + timedelta(minutes=3) and set(later.keys) == {"a", "b"}
    capped = remember(None, [event(str(minute), minute) for minute in range(10)], max_keys=3)
    assert set(capped.keys) == {"7", "8", "9"}
    # An empty look keeps the newest time seen.
    assert remember(later, []).newest == later.newest


@given(
    st.lists(
        st.lists(st.tuples(st.integers(0, 40), st.integers(-30, 30)), max_size=6),
        min_size=1,
        max_size=8,
    )
)
def test_every_event_is_announced_at_most_once_and_none_of_the_first_look(
    batches: list[list[tuple[int, int]]],
) -> None:
    """Batches of events appear one refresh after another; each look reads what `since` asks for."""
    lookback = timedelta(minutes=10)
    appeared: dict[str, Event] = {}
    seen: Seen | None = None
    announced: list[str] = []
    first_look: set[str] = set()
    for position, batch in enumerate(batches):
        for key, minutes in batch:
            appeared.setdefault(str(key), event(str(key), minutes))
        floor = since(seen, lookback)
        readable = [item for item in appeared.values() if floor is None or item.at >= floor]
        newest_before = seen.newest if seen else None
        new = unseen(seen, readable, lookback) if seen is not None else []
        seen = remember(seen, readable, lookback)
        if position == 0:
            first_look = {item.key for item in readable}
        announced.extend(item.key for item in new)
        # Nothing at or after the newest seen before is missed.
        for item in readable:
            if newest_before is not None and item.at > newest_before:
                assert item.key in announced
    assert len(announced) == len(set(announced))
    assert not first_look & set(announced)


def test_notifications_say_each_of_the_newest_and_count_the_rest() -> None:
    few = [event("a"), event("b")]
    assert notifications(few, "price changes") == ["event a", "event b"]
    many = [event(str(number)) for number in range(7)]
    assert notifications(many, "outages", max_toasts=3) == ["event 0", "event 1", "event 2", "4 more new outages"]
    assert notifications([], "outages") == []


def test_prices_are_written_in_dollars_with_every_significant_digit() -> None:
    assert usd(Decimal("2.500000000000000000")) == "$2.50"
    assert usd(Decimal("0.037500000000000000")) == "$0.0375"
    assert usd(Decimal("1234.5")) == "$1,234.50"
    assert usd(3) == "$3.00"
    assert usd(Decimal("0")) == "$0.00"


CHANGE = {
    "provider": "openai",
    "canonical_model_id": "gpt-4o",
    "component": "input",
    "service_tier": "standard",
    "unit": "mtok",
    "old_price_usd": Decimal("2.500000000000000000"),
    "new_price_usd": Decimal("2.000000000000000000"),
    "price_change_pct": Decimal("-20.000000"),
    "changed_at": datetime(2026, 3, 1, tzinfo=UTC),
}


def test_a_price_change_is_told_with_its_model_prices_and_date() -> None:
    assert price_change_text(CHANGE) == "Price change: openai gpt-4o input $2.50 → $2.00/Mtok (-20%), from 2026-03-01"
    batch = {**CHANGE, "service_tier": "batch", "price_change_pct": None, "unit": "request", "changed_at": None}
    assert price_change_text(batch) == "Price change: openai gpt-4o input (batch) $2.50 → $2.00/request"


OUTAGE = {
    "source": "probe",
    "provider": "anthropic",
    "region": "eu-west",
    "model_id": None,
    "canonical_model_id": None,
    "severity": "major_outage",
    "started_at": datetime(2026, 3, 2, 11, 58, tzinfo=UTC),
    "is_open": True,
    "duration_minutes": Decimal("2.00"),
}


def test_an_outage_is_told_with_who_saw_it_and_whether_it_lasts() -> None:
    assert outage_text(OUTAGE) == (
        "Outage: anthropic major outage (probes from eu-west) since 2026-03-02 11:58 UTC, ongoing"
    )
    official = {**OUTAGE, "source": "official", "region": None, "severity": "partial_outage", "is_open": False}
    assert outage_text(official) == ("Outage: anthropic partial outage (status page) since 2026-03-02 11:58 UTC, 2 min")
    openrouter = {**OUTAGE, "source": "openrouter", "provider": "together", "canonical_model_id": "kimi-k2"}
    assert "(OpenRouter, kimi-k2)" in outage_text(openrouter)


def test_the_feed_query_binds_its_time_and_limit_and_orders_newest_first() -> None:
    after = NOON - LOOKBACK
    statement, params = feed_query(PRICE_CHANGES, after)
    text = statement.as_string(None)
    assert params == [after, FETCH_LIMIT + 1]
    assert str(NOON.year) not in text
    assert text.startswith('select "price_change_id", "detected_at", "provider"')
    assert 'from "marts"."fct_price_changes"' in text
    assert text.endswith('order by "detected_at" desc, "price_change_id" limit %s')
    newest, params = feed_query(OUTAGES, None, limit=10)
    assert params == [None, 11] and 'from "marts"."fct_outages"' in newest.as_string(None)


def test_rows_become_events_keyed_and_timed_by_their_feed() -> None:
    columns = ["outage_id", "started_at", *OUTAGES.columns]
    row = ["x1", OUTAGE["started_at"], *(OUTAGE[column] for column in OUTAGES.columns)]
    [found] = events(columns, [row], OUTAGES)
    assert found == Event("x1", OUTAGE["started_at"], outage_text(OUTAGE))
    assert {feed.name for feed in FEEDS} == {"price_changes", "outages"}
