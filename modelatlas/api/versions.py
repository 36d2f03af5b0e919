"""Entity tags from the marts a response reads: a poll after no build gets 304 Not Modified.

dbt builds a table mart as a new table and swaps it in, so its relation id changes with every build; an
incremental mart keeps its id, and its row counters (inserted, updated, deleted) change instead. The reader role
sees both in the catalog, so no table of build times is needed."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from typing import Any

from psycopg import AsyncConnection

from modelatlas.api.queries import MART_SCHEMA

# How long a version read from the catalog is used.
VERSION_TTL_S = 1.0
_VERSION_QUERY = """
select coalesce(string_agg(
    name || ':' || coalesce(
        relation::oid::text || '/' || pg_stat_get_tuples_inserted(relation) || '/'
        || pg_stat_get_tuples_updated(relation) || '/' || pg_stat_get_tuples_deleted(relation),
        'missing'),
    ',' order by name), '') as version
from (select name, to_regclass(%s || '.' || name) as relation from unnest(%s::text[]) as name) as marts
"""


async def marts_version(conn: AsyncConnection[Any], marts: Sequence[str]) -> str:
    """A text that changes whenever one of `marts` is built again (or created, or dropped)."""
    cursor = await conn.execute(_VERSION_QUERY, [MART_SCHEMA, sorted(marts)])
    row = await cursor.fetchone()
    # The marts' pool returns rows as dicts.
    return "" if row is None else str(row["version"])


class MartVersions:
    """`marts_version` of each set of marts, kept `ttl_s` seconds: under load the version is read from the catalog
    once a second instead of once per request. A build is then seen up to `ttl_s` late: a poll in that second may
    still get 304, never a stale body under a new tag (the data is read afresh every time)."""

    def __init__(self, ttl_s: float = VERSION_TTL_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self.clock = clock
        self._versions: dict[tuple[str, ...], tuple[float, str]] = {}

    async def get(self, conn: AsyncConnection[Any], marts: Sequence[str]) -> str:
        """The version of `marts`, read at most `ttl_s` seconds ago."""
        key = tuple(sorted(marts))
        kept = self._versions.get(key)
        if kept is not None and kept[0] > self.clock():
            return kept[1]
        version = await marts_version(conn, key)
        self._versions[key] = (self.clock() + self.ttl_s, version)
        return version


def entity_tag(version: str, *varies: str) -> str:
    """A strong entity tag of a response: the marts' version and what else selects the response (the request's
    path and query, the team its figures are limited to)."""
    digest = hashlib.sha256("\x1f".join((version, *varies)).encode()).hexdigest()[:32]
    return f'"{digest}"'


def matches(if_none_match: str | None, tag: str) -> bool:
    """Whether an `If-None-Match` header names `tag` (weak comparison, as RFC 9110 asks for this header)."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    return any(candidate.strip().removeprefix("W/") == tag for candidate in if_none_match.split(","))
