"""What a quality suite declares about one raw entity: the row rules and the batch guards, as plain data."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

# Plausible ranges of token limits: no model has a 1e9-token window, and 0 means a broken field, not "none".
CONTEXT_WINDOW_RANGE = (1, 100_000_000)
OUTPUT_LIMIT_RANGE = (1, 10_000_000)
# Sane ceilings per unit: the most expensive listed models cost about $600 per million output tokens.
MAX_USD_PER_TOKEN = 0.01
MAX_USD_PER_MTOK = 10_000
MAX_USD_PER_UNIT = 1_000
# Modalities the providers' catalogs use today; a new one is quarantined until the suite learns it.
KNOWN_MODALITIES = frozenset({"text", "image", "file", "audio", "video", "embeddings"})


@dataclass(frozen=True)
class RowCheck:
    """A rule over rows that one GX column expectation cannot state (across rows of a group, inside lists).

    `passes` gets the validation frame and returns one boolean per row: False marks the row as failing.
    """

    name: str
    description: str
    columns: tuple[str, ...]
    passes: Callable[[pd.DataFrame], pd.Series]


@dataclass(frozen=True)
class Suite:
    """The expectations of one raw entity (`raw_<source>.<entity>`) and the batch guards that protect it."""

    source: str
    entity: str
    key: tuple[str, ...]
    not_null: tuple[str, ...] = ()
    # column -> the highest sane price in that column's unit (every price must also be >= 0).
    prices: Mapping[str, float] = field(default_factory=dict)
    # (cache-read price column, input price column): a cache read never costs more than the input it replaces.
    cache_not_above_input: tuple[tuple[str, str], ...] = ()
    ranges: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    not_in_future: tuple[str, ...] = ()
    # column -> known values; for a column holding lists, every element must be known.
    known_values: Mapping[str, frozenset[str]] = field(default_factory=dict)
    row_checks: tuple[RowCheck, ...] = ()
    # Block a batch that lists far fewer rows than the warehouse's latest batch (or none at all).
    guard_shrink: bool = False
    # Price columns compared with the warehouse's current prices for the same key (10x moves).
    jump_columns: tuple[str, ...] = ()

    @property
    def optional_key(self) -> tuple[str, ...]:
        """The parts of the key that may be null (not declared not-null): a null one is part of the key."""
        return tuple(name for name in self.key if name not in self.not_null)

    @property
    def name(self) -> str:
        """`<source>.<entity>`, as the suite is named in dq tables and the UI."""
        return f"{self.source}.{self.entity}"

    def columns(self) -> set[str]:
        """Every column any rule of this suite reads."""
        names = {*self.key, *self.not_null, *self.prices, *self.ranges, *self.not_in_future, *self.known_values}
        names |= {column for pair in self.cache_not_above_input for column in pair}
        names |= {column for check in self.row_checks for column in check.columns}
        return names | set(self.jump_columns)


def catalog_suite(source: str, **rules: Any) -> Suite:
    """The suite of a provider's `models` table: ids present and unique, fetch time not in the future, no shrink."""
    not_null = ("id", "batch_id", "_fetched_at", *rules.pop("not_null", ()))
    not_in_future = ("_fetched_at", *rules.pop("not_in_future", ()))
    return Suite(
        source=source,
        entity="models",
        key=("id",),
        not_null=not_null,
        not_in_future=not_in_future,
        guard_shrink=True,
        **rules,
    )
