"""`modelatlas api-keys ...`: create a key (shown once), revoke one, list them (never a key or hash)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from modelatlas.api import keys
from modelatlas.errors import ConfigurationError
from modelatlas.warehouse import ConnectionInfo
from modelatlas.warehouse.service import connect


def expiry(expires_in_days: float | None, expires_at: str | None, now: datetime) -> datetime | None:
    """When a new key expires: `expires_in_days` from `now`, or the ISO 8601 time `expires_at` (UTC unless it says
    otherwise), or never; a time already past is refused."""
    if expires_in_days is not None and expires_at is not None:
        raise ConfigurationError("give --expires-in-days or --expires-at, not both")
    if expires_in_days is not None:
        if expires_in_days <= 0:
            raise ConfigurationError(f"--expires-in-days must be above 0 (got {expires_in_days:g})")
        return now + timedelta(days=expires_in_days)
    if expires_at is None:
        return None
    try:
        moment = datetime.fromisoformat(expires_at.strip())
    except ValueError:
        raise ConfigurationError(
            f"--expires-at {expires_at!r} is not an ISO 8601 time such as 2026-06-30 or 2026-06-30T12:00:00+02:00"
        ) from None
    moment = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    if moment <= now:
        raise ConfigurationError(f"--expires-at {expires_at} is in the past: give a later time")
    return moment


def _when(moment: datetime | None, never: str = "never") -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if moment else never


def create(
    info: ConnectionInfo,
    team: str,
    scopes: str,
    expires_in_days: float | None = None,
    expires_at: str | None = None,
    name: str | None = None,
) -> str:
    """Create a key; a summary, then the key alone on the last line (the only time it is shown)."""
    chosen = keys.parse_scopes(scopes)
    expires = expiry(expires_in_days, expires_at, keys.utc_now())
    with connect(info) as conn:
        record, plaintext = keys.create_key(conn, team, chosen, expires, name)
    return "\n".join(
        [
            f"created API key {record.id}" + (f" ({record.name})" if record.name else ""),
            f"  team:    {record.team}",
            f"  scopes:  {', '.join(sorted(record.scopes))}",
            f"  expires: {_when(record.expires_at)}",
            "the key is shown only now (ModelAtlas keeps a hash of it): store it where its users read secrets",
            plaintext,
        ]
    )


def revoke(info: ConnectionInfo, key_id: str) -> str:
    """Revoke a key: it is refused from now on, and so are the access tokens issued for it (within seconds)."""
    with connect(info) as conn:
        if keys.revoke_key(conn, key_id):
            return f"API key {key_id} revoked"
        record = keys.find_key(conn, key_id)
    if record is None:
        raise ConfigurationError(f"no API key has the id {key_id!r}: `modelatlas api-keys list` shows them")
    return f"API key {key_id} was revoked already ({_when(record.revoked_at)})"


_LIST_COLUMNS = (("id", 8), ("state", 7), ("team", 16), ("scopes", 34), ("created", 20), ("expires", 20))


def _row(values: list[str]) -> str:
    widths = [width for _, width in _LIST_COLUMNS]
    return "  ".join(value.ljust(width) for value, width in zip(values, [*widths, 20, 0], strict=False)).rstrip()


def list_all(info: ConnectionInfo) -> str:
    """Every key: id, state, team, scopes, dates and name; never a key or its hash."""
    with connect(info) as conn:
        records = keys.list_keys(conn)
    if not records:
        return "no API keys yet: create one with `modelatlas api-keys create --team TEAM --scopes catalog:read`"
    now = keys.utc_now()
    lines = [_row([*(name for name, _ in _LIST_COLUMNS), "last used", "name"])]
    for record in records:
        lines.append(
            _row(
                [
                    record.id,
                    record.state(now),
                    record.team,
                    ",".join(sorted(record.scopes)),
                    _when(record.created_at),
                    _when(record.expires_at),
                    _when(record.last_used_at),
                    record.name or "",
                ]
            )
        )
    return "\n".join(lines)
