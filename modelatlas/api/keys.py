"""API keys: `ma_<id>_<secret>`, kept in `ops.api_keys` only as a salted hash of the secret beside the id.

The id (8 lowercase letters and digits) is not secret: it finds the row, names the key in `modelatlas api-keys list`,
in logs and in the rate limiter. The secret is `secrets.token_urlsafe(32)`: 43 characters, 256 random bits. It is
shown once, when the key is created, and never stored.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import string
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg import AsyncConnection
from psycopg.rows import tuple_row

from modelatlas.errors import ConfigurationError

log = logging.getLogger(__name__)

KEY_PREFIX = "ma"
ID_LENGTH = 8
SECRET_BYTES = 32
# token_urlsafe(32) gives 43 characters; fewer than 32 is not a key ModelAtlas made.
MIN_SECRET_LENGTH = 32
SALT_BYTES = 16
_ID_ALPHABET = string.ascii_lowercase + string.digits
_KEY_PATTERN = re.compile(
    rf"{KEY_PREFIX}_(?P<id>[a-z0-9]{{{ID_LENGTH}}})_(?P<secret>[A-Za-z0-9_-]{{{MIN_SECRET_LENGTH},}})"
)

CATALOG_READ = "catalog:read"
USAGE_READ = "usage:read"
USAGE_ALL = "usage:all"
SCOPES = (CATALOG_READ, USAGE_READ, USAGE_ALL)
# A scope and the scopes it grants besides itself: every team's usage includes the key's own team's.
IMPLIED_SCOPES = {USAGE_ALL: frozenset({USAGE_READ})}

# `last_used_at` is written at most this often per key: a key making many requests a second writes once a minute.
TOUCH_INTERVAL = timedelta(minutes=1)
_CREATE_ATTEMPTS = 5
_COLUMNS = "id, name, team, scopes, created_at, expires_at, revoked_at, last_used_at"


@dataclass(frozen=True)
class KeyRecord:
    """One API key as ModelAtlas keeps it, without its salt or hash."""

    id: str
    name: str | None
    team: str
    scopes: frozenset[str]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None

    def refusal(self, now: datetime) -> str | None:
        """Why the key is no longer accepted at `now` ("revoked", "expired"), or None while it is valid."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return None

    def state(self, now: datetime) -> str:
        """active, revoked or expired, for listings."""
        return self.refusal(now) or "active"


@dataclass(frozen=True)
class KeyCheck:
    """What a presented key turned out to be: its record when accepted, else the reason for the log."""

    record: KeyRecord | None
    reason: str
    key_id: str | None = None


@dataclass(frozen=True)
class StoredSecret:
    """What is kept of a key's secret: a random salt and the HMAC-SHA256 of the key under it."""

    salt: bytes
    hash: bytes


def utc_now() -> datetime:
    """Now, in UTC."""
    return datetime.now(UTC)


def new_key_id() -> str:
    """A random lookup id: 8 lowercase letters and digits (36^8, about 2.8e12; the primary key catches a clash)."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(ID_LENGTH))


def generate_key(key_id: str | None = None) -> tuple[str, str]:
    """A new key's id and its full text `ma_<id>_<secret>`."""
    key_id = key_id or new_key_id()
    return key_id, f"{KEY_PREFIX}_{key_id}_{secrets.token_urlsafe(SECRET_BYTES)}"


def parse_key(presented: str) -> tuple[str, str] | None:
    """The (id, secret) of a key in ModelAtlas's format, or None for anything else."""
    match = _KEY_PATTERN.fullmatch(presented.strip())
    return (match["id"], match["secret"]) if match else None


def looks_like_key(presented: str) -> bool:
    """Whether a credential is meant as an API key (rather than a token), well-formed or not."""
    return presented.strip().startswith(f"{KEY_PREFIX}_")


def hash_key(key: str, salt: bytes) -> bytes:
    """HMAC-SHA256 of the whole key under its salt.

    Not scrypt or another slow password hash: those make guessing a low-entropy password expensive, but the secret is
    256 random bits, which no amount of guessing at any speed finds. A slow hash would only cost every request tens
    of milliseconds of CPU, and hand anyone sending made-up keys a way to load the service. The per-key salt keeps two
    rows from ever sharing a hash and makes a table of precomputed hashes useless.
    """
    return hmac.new(salt, key.encode(), hashlib.sha256).digest()


def store_secret(key: str) -> StoredSecret:
    """The salt and hash to keep for a new key."""
    salt = secrets.token_bytes(SALT_BYTES)
    return StoredSecret(salt, hash_key(key, salt))


def verify_key(key: str, stored: StoredSecret) -> bool:
    """Whether `key` is the key `stored` was made from (compared in constant time)."""
    return hmac.compare_digest(hash_key(key, stored.salt), stored.hash)


def effective_scopes(scopes: Iterable[str]) -> frozenset[str]:
    """`scopes` with those they imply: `usage:all` grants `usage:read`."""
    granted = set(scopes)
    for scope in list(granted):
        granted |= IMPLIED_SCOPES.get(scope, frozenset())
    return frozenset(granted)


def validate_scopes(scopes: Iterable[str]) -> frozenset[str]:
    """The scopes, each checked against the ones ModelAtlas knows; at least one."""
    chosen = frozenset(scope.strip() for scope in scopes if scope.strip())
    unknown = sorted(chosen - set(SCOPES))
    if unknown:
        raise ConfigurationError(
            f"unknown scope{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}: valid scopes are {', '.join(SCOPES)}"
        )
    if not chosen:
        raise ConfigurationError(f"an API key needs at least one scope: valid scopes are {', '.join(SCOPES)}")
    return chosen


def parse_scopes(text: str) -> frozenset[str]:
    """Comma-separated scopes (`catalog:read,usage:read`), validated."""
    return validate_scopes(text.split(","))


def _record(row: tuple[Any, ...]) -> KeyRecord:
    key_id, name, team, scopes, created_at, expires_at, revoked_at, last_used_at = row
    return KeyRecord(key_id, name, team, frozenset(scopes), created_at, expires_at, revoked_at, last_used_at)


def check_presented(
    presented: str, row: tuple[Any, ...] | None, stored: StoredSecret | None, now: datetime
) -> KeyCheck:
    """The verdict on a presented key given its row (None when no key has its id): accepted, or why not."""
    parsed = parse_key(presented)
    if parsed is None:
        return KeyCheck(None, "malformed")
    key_id = parsed[0]
    if row is None or stored is None:
        return KeyCheck(None, "unknown", key_id)
    if not verify_key(presented.strip(), stored):
        return KeyCheck(None, "wrong secret", key_id)
    record = _record(row)
    refusal = record.refusal(now)
    return KeyCheck(None if refusal else record, refusal or "accepted", key_id)


async def check_key(conn: AsyncConnection[Any], presented: str, now: datetime | None = None) -> KeyCheck:
    """Look up a presented key: its record when it exists, its secret matches, and it is neither revoked nor expired;
    otherwise the reason, for the log (the caller should tell the client no more than "not valid")."""
    parsed = parse_key(presented)
    if parsed is None:
        return KeyCheck(None, "malformed")
    # Rows by position whatever the connection's row factory: the API's pools hand out dict rows.
    cursor = conn.cursor(row_factory=tuple_row)
    await cursor.execute(f"select {_COLUMNS}, salt, hash from ops.api_keys where prefix = %s", [parsed[0]])
    found = await cursor.fetchone()
    row, stored = (found[:-2], StoredSecret(bytes(found[-2]), bytes(found[-1]))) if found else (None, None)
    return check_presented(presented, row, stored, now or utc_now())


async def lookup(conn: AsyncConnection[Any], presented_key: str, now: datetime | None = None) -> KeyRecord | None:
    """The record of a valid presented key; None for an unknown, wrong, revoked or expired one (the reason logged)."""
    check = await check_key(conn, presented_key, now)
    if check.record is None:
        log.info("API key %s refused: %s", check.key_id or "(malformed)", check.reason)
    return check.record


async def active_key(conn: AsyncConnection[Any], key_id: str, now: datetime | None = None) -> KeyRecord | None:
    """The record of key `key_id` while it is valid (a token's key is checked so); None when gone, revoked, expired."""
    cursor = conn.cursor(row_factory=tuple_row)
    await cursor.execute(f"select {_COLUMNS} from ops.api_keys where id = %s", [key_id])
    row = await cursor.fetchone()
    if row is None:
        return None
    record = _record(row)
    return None if record.refusal(now or utc_now()) else record


def due_for_touch(record: KeyRecord, now: datetime) -> bool:
    """Whether the key's `last_used_at` is older than the touch interval (or unset)."""
    return record.last_used_at is None or now - record.last_used_at >= TOUCH_INTERVAL


async def touch_last_used(conn: AsyncConnection[Any], record: KeyRecord, now: datetime | None = None) -> bool:
    """Note that the key was used, at most once a minute: True when a row was written."""
    now = now or utc_now()
    if not due_for_touch(record, now):
        return False
    # The condition again in SQL: other processes serving the same key may have written it since it was read.
    cursor = await conn.execute(
        "update ops.api_keys set last_used_at = %s where id = %s and (last_used_at is null or last_used_at <= %s)",
        [now, record.id, now - TOUCH_INTERVAL],
    )
    return cursor.rowcount > 0


def create_key(
    conn: psycopg.Connection[Any],
    team: str,
    scopes: Iterable[str],
    expires_at: datetime | None = None,
    name: str | None = None,
) -> tuple[KeyRecord, str]:
    """Create a key for `team` with `scopes`; its record and its plaintext, which exists only in what this returns."""
    team = team.strip()
    if not team:
        raise ConfigurationError("an API key belongs to a team: give one with --team")
    chosen = validate_scopes(scopes)
    if expires_at is not None and expires_at.tzinfo is None:
        raise ConfigurationError("the expiry needs a time zone (for example 2026-01-31T00:00:00+00:00)")
    for _ in range(_CREATE_ATTEMPTS):
        key_id, plaintext = generate_key()
        stored = store_secret(plaintext)
        try:
            with conn.transaction():
                row = conn.execute(
                    "insert into ops.api_keys (id, prefix, name, team, scopes, salt, hash, expires_at) "
                    f"values (%s, %s, %s, %s, %s, %s, %s, %s) returning {_COLUMNS}",
                    [key_id, key_id, name, team, sorted(chosen), stored.salt, stored.hash, expires_at],
                ).fetchone()
        except psycopg.errors.UniqueViolation:
            continue  # an id drawn twice: draw again
        assert row is not None
        return _record(row), plaintext
    raise RuntimeError(f"no free API key id after {_CREATE_ATTEMPTS} draws")  # pragma: no cover


def revoke_key(conn: psycopg.Connection[Any], key_id: str) -> bool:
    """Revoke key `key_id` now; False when no such key exists or it was revoked already."""
    with conn.transaction():
        cursor = conn.execute(
            "update ops.api_keys set revoked_at = now() where id = %s and revoked_at is null", [key_id.strip()]
        )
    return cursor.rowcount > 0


def find_key(conn: psycopg.Connection[Any], key_id: str) -> KeyRecord | None:
    """Key `key_id`, whatever its state."""
    row = conn.execute(f"select {_COLUMNS} from ops.api_keys where id = %s", [key_id.strip()]).fetchone()
    return _record(row) if row else None


def list_keys(conn: psycopg.Connection[Any]) -> list[KeyRecord]:
    """Every key, newest first (records only: never a salt or hash)."""
    return [_record(row) for row in conn.execute(f"select {_COLUMNS} from ops.api_keys order by created_at desc, id")]
