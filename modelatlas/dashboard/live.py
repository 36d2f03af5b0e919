"""The live pages: their part that redraws every refresh interval without reloading the page, and the notifications
of price changes and outages that appear while a page is open.

A session remembers, per feed, the newest event it has been shown and the keys of the events close to it (`Seen`).
Each refresh reads the events from a lookback window before that newest one (a build can add an event dated a little
earlier than one it added before: a price source whose load took longer, an outage seen by a slower poll), and
notifies those whose key it has not seen. The first look of a session only remembers: a page never opens with a
burst of old news.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import streamlit as st
from psycopg import sql

from modelatlas.dashboard import data, marts
from modelatlas.dashboard.settings import dashboard_settings
from modelatlas.errors import ModelAtlasError
from modelatlas.warehouse import ConnectionInfo

# How far before the newest event seen a newly built event may be dated and still be news.
LOOKBACK = timedelta(hours=24)
# The most events one look reads, and the most keys a session keeps per feed.
FETCH_LIMIT = 1000
MAX_KEYS = 5000
# The most notifications one feed shows at once; beyond them, one more says how many others there are.
MAX_TOASTS = 3


@dataclass(frozen=True)
class Event:
    """One row of a feed: its key, when it happened (the time the feed is ordered by) and its notification."""

    key: str
    at: datetime
    text: str


@dataclass(frozen=True)
class Seen:
    """What a session has been shown of a feed: the newest event's time (None while the feed was empty) and the time
    of each event seen within the lookback before it."""

    newest: datetime | None = None
    keys: Mapping[str, datetime] = field(default_factory=dict)


def since(seen: Seen | None, lookback: timedelta = LOOKBACK) -> datetime | None:
    """From when the next look reads the feed; None reads its newest events."""
    if seen is None or seen.newest is None:
        return None
    return seen.newest - lookback


def unseen(seen: Seen, events: Iterable[Event], lookback: timedelta = LOOKBACK) -> list[Event]:
    """The events not shown yet, newest first: keys not seen, and not older than the lookback before the newest."""
    floor = since(seen, lookback)
    new: dict[str, Event] = {}
    for event in events:
        if event.key in seen.keys or event.key in new:
            continue
        if floor is None or event.at >= floor:
            new[event.key] = event
    return sorted(new.values(), key=lambda event: (event.at, event.key), reverse=True)


def remember(
    seen: Seen | None, events: Iterable[Event], lookback: timedelta = LOOKBACK, max_keys: int = MAX_KEYS
) -> Seen:
    """What has been shown once these events are: the newest time, and the keys within the lookback before it."""
    keys = dict(seen.keys) if seen else {}
    keys.update((event.key, event.at) for event in events)
    times = [*keys.values(), *([seen.newest] if seen and seen.newest else [])]
    if not times:
        return Seen()
    newest = max(times)
    kept = sorted(
        ((key, at) for key, at in keys.items() if at >= newest - lookback), key=lambda item: (item[1], item[0])
    )
    return Seen(newest, dict(kept[-max_keys:]))


def look(seen: Seen | None, events: Sequence[Event]) -> tuple[list[Event], Seen]:
    """The events to notify and what is seen afterwards; the first look (no `seen`) notifies nothing."""
    if seen is None:
        return [], remember(None, events)
    return unseen(seen, events), remember(seen, events)


def notifications(new: Sequence[Event], plural: str, max_toasts: int = MAX_TOASTS) -> list[str]:
    """The notifications of new events: each of the newest few, then how many more there are."""
    shown = [event.text for event in new[:max_toasts]]
    if len(new) > max_toasts:
        shown.append(f"{len(new) - max_toasts} more new {plural}")
    return shown


def usd(value: Decimal | float | int) -> str:
    """A price in dollars: cents at least, and every significant digit below them."""
    exact = Decimal(str(value))
    if exact == exact.quantize(Decimal("0.01")):
        return f"${exact:,.2f}"
    return f"${exact.normalize():,f}"


def _unit(unit: str | None) -> str:
    return "/Mtok" if unit in (None, "mtok") else f"/{unit}"


def price_change_text(row: Mapping[str, Any]) -> str:
    """A price change as a notification."""
    tier = row.get("service_tier")
    what = f"{row['component']}{f' ({tier})' if tier and tier != 'standard' else ''}"
    percent = row.get("price_change_pct")
    change = f" ({float(percent):+.0f}%)" if percent is not None else ""
    unit = _unit(row.get("unit"))
    changed_at = row.get("changed_at")
    when = f", from {changed_at:%Y-%m-%d}" if isinstance(changed_at, datetime) else ""
    return (
        f"Price change: {row['provider']} {row['canonical_model_id']} {what} "
        f"{usd(row['old_price_usd'])} → {usd(row['new_price_usd'])}{unit}{change}{when}"
    )


def outage_text(row: Mapping[str, Any]) -> str:
    """An outage episode as a notification."""
    severity = str(row.get("severity") or "outage").replace("_", " ")
    source = row.get("source")
    if source == "probe":
        region = row.get("region")
        seen_by = f"probes from {region}" if region else "probes"
    elif source == "openrouter":
        model = row.get("canonical_model_id") or row.get("model_id")
        seen_by = f"OpenRouter{f', {model}' if model else ''}"
    else:
        seen_by = "status page"
    started = row["started_at"]
    state = "ongoing" if row.get("is_open") else f"{float(row.get('duration_minutes') or 0):.0f} min"
    return f"Outage: {row['provider']} {severity} ({seen_by}) since {started:%Y-%m-%d %H:%M} UTC, {state}"


@dataclass(frozen=True)
class Feed:
    """A mart whose new rows are news: the columns it reads, its key and time, and how a row is told."""

    name: str
    mart: str
    key_column: str
    time_column: str
    columns: tuple[str, ...]
    describe: Callable[[Mapping[str, Any]], str]
    plural: str
    icon: str


PRICE_CHANGES = Feed(
    name="price_changes",
    mart="fct_price_changes",
    key_column="price_change_id",
    # When the change became known: a change dated in the past or the future is news when it is detected.
    time_column="detected_at",
    columns=(
        "provider",
        "canonical_model_id",
        "component",
        "service_tier",
        "unit",
        "old_price_usd",
        "new_price_usd",
        "price_change_pct",
        "changed_at",
    ),
    describe=price_change_text,
    plural="price changes",
    icon=":material/sell:",
)
OUTAGES = Feed(
    name="outages",
    mart="fct_outages",
    key_column="outage_id",
    time_column="started_at",
    columns=(
        "source",
        "provider",
        "region",
        "model_id",
        "canonical_model_id",
        "severity",
        "is_open",
        "duration_minutes",
    ),
    describe=outage_text,
    plural="outages",
    icon=":material/warning:",
)
FEEDS = (PRICE_CHANGES, OUTAGES)


def feed_query(feed: Feed, after: datetime | None, limit: int = FETCH_LIMIT) -> marts.Query:
    """The SELECT of a feed's events from `after` on (its newest when None), newest first, at most `limit`."""
    key, time = sql.Identifier(feed.key_column), sql.Identifier(feed.time_column)
    columns = sql.SQL(", ").join(
        sql.Identifier(column) for column in (feed.key_column, feed.time_column, *feed.columns)
    )
    statement = sql.SQL("select {columns} from {table} where {time} >= coalesce(%s, '-infinity'::timestamptz) ").format(
        columns=columns, table=marts.table(feed.mart), time=time
    )
    statement += sql.SQL("order by {} desc, {}").format(time, key)
    return marts.bounded(statement, [after], limit)


def events(columns: Sequence[str], rows: Iterable[Sequence[Any]], feed: Feed) -> list[Event]:
    """A feed's rows as events."""
    found = []
    for row in rows:
        record = dict(zip(columns, row, strict=True))
        found.append(Event(str(record[feed.key_column]), record[feed.time_column], feed.describe(record)))
    return found


def read_feeds(info: ConnectionInfo, after: Mapping[str, datetime | None]) -> dict[str, list[Event]]:
    """Each feed's events from its time in `after` on; a feed whose mart does not exist has none."""
    found: dict[str, list[Event]] = {}
    with data.read_only(info) as conn:
        for feed in FEEDS:
            exists = conn.execute("select to_regclass(%s) is not null", [marts.table(feed.mart).as_string(conn)])
            row = exists.fetchone()
            if not (row and row[0]):
                found[feed.name] = []
                continue
            statement, params = feed_query(feed, after.get(feed.name))
            cursor = conn.execute(statement, params)
            columns = [column.name for column in cursor.description or []]
            found[feed.name] = events(columns, cursor.fetchall()[:FETCH_LIMIT], feed)
    return found


def _state_key(feed: Feed, info: ConnectionInfo) -> str:
    return f"live_seen_{feed.name}_{info.database}"


def notify(info: ConnectionInfo) -> list[Event]:
    """Toast the price changes and outages that appeared since this session last looked; the events toasted."""
    state = st.session_state
    try:
        found = read_feeds(info, {feed.name: since(state.get(_state_key(feed, info))) for feed in FEEDS})
    except ModelAtlasError:
        # The page reads the same warehouse and says what is wrong.
        return []
    toasted: list[Event] = []
    for feed in FEEDS:
        new, state[_state_key(feed, info)] = look(state.get(_state_key(feed, info)), found[feed.name])
        for text in notifications(new, feed.plural):
            st.toast(text, icon=feed.icon, duration="long")
        toasted.extend(new)
    if toasted:
        # What the page draws next should hold what was just announced.
        marts.forget_fetches()
    return toasted


def refresh_seconds() -> float:
    """How often the live part of a page redraws: MODELATLAS_DASHBOARD_REFRESH_S."""
    return dashboard_settings().refresh_s


def caption() -> str:
    """The line under a live page's title that says how it stays current."""
    return (
        f"Redraws every {refresh_seconds():g} s (MODELATLAS_DASHBOARD_REFRESH_S); a price change or an outage that "
        "appears meanwhile pops up as a notification."
    )


def live(draw: Callable[[ConnectionInfo], None], info: ConnectionInfo) -> None:
    """Draw `draw` now and again every refresh interval, without reloading the page, after notifying what is new."""

    def refreshed() -> None:
        notify(info)
        draw(info)

    st.fragment(refreshed, run_every=refresh_seconds())()


def page(title: str, draw: Callable[[ConnectionInfo], None]) -> None:
    """A live page: its title, how it stays current, and `draw` redrawn every refresh interval."""
    st.title(title)
    try:
        info = data.reader()
        st.caption(caption())
    except ModelAtlasError as exc:
        st.error(f"The warehouse cannot be read: {exc}")
        return
    live(draw, info)
