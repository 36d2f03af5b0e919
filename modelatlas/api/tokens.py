"""Short-lived access tokens: JWTs (HS256) that a client gets for its API key at `POST /v2/token`.

A token names its key (`sub`), the key's team and scopes, and lives `MODELATLAS_API_JWT_TTL_S` seconds. It is signed
with `MODELATLAS_API_JWT_SECRET`, which never reaches a log. A token is only as good as its key: each use checks that
the key still exists and is neither revoked nor expired (the answer kept a few seconds, so a busy client costs one
lookup per key every few seconds, and a revocation takes effect that quickly).
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jwt

from modelatlas.api.keys import SCOPES, KeyRecord
from modelatlas.api.settings import ENV_PREFIX, ApiSettings
from modelatlas.redaction import register_secret

ALGORITHM = "HS256"
AUDIENCE = "modelatlas-api"
ISSUER = "modelatlas"
REQUIRED_CLAIMS = ("exp", "iat", "iss", "aud", "sub", "jti", "team", "scopes")
SECRET_VARIABLE = f"{ENV_PREFIX}JWT_SECRET"
# RFC 7518 §3.2: an HS256 key has at least 256 bits; 32 characters of a random secret is the floor accepted.
MIN_SECRET_LENGTH = 32
# Clocks of the processes signing and checking may differ by this much.
LEEWAY_S = 5
# How long a key's validity, checked for a token, is trusted before it is looked up again.
KEY_CACHE_S = 5.0
# Beyond this many kept keys, the expired ones are dropped.
_VERIFIED_KEYS_MAX = 10_000


class TokenConfigurationError(Exception):
    """Tokens cannot be issued or checked: the secret is missing or too short (the message says which)."""


class TokenError(Exception):
    """A presented token is not accepted; the message says why (safe to show: it holds no part of the token)."""


@dataclass(frozen=True)
class TokenClaims:
    """What a verified token says."""

    key_id: str
    team: str
    scopes: frozenset[str]
    jti: str
    issued_at: int
    expires_at: int


@dataclass(frozen=True)
class IssuedToken:
    """A new token and the seconds it lives."""

    access_token: str
    expires_in: int


def signing_secret(settings: ApiSettings) -> str:
    """The configured signing secret, registered for redaction; raises when it is missing or too short."""
    configured = settings.jwt_secret.get_secret_value().strip() if settings.jwt_secret else ""
    if not configured:
        raise TokenConfigurationError(
            f"this API issues no access tokens: {SECRET_VARIABLE} is not set (set it to a random secret of "
            f"{MIN_SECRET_LENGTH} characters or more), or send the API key itself as `Authorization: Bearer <key>`"
        )
    register_secret(configured)
    if len(configured) < MIN_SECRET_LENGTH:
        raise TokenConfigurationError(
            f"{SECRET_VARIABLE} is shorter than {MIN_SECRET_LENGTH} characters: set a longer random secret, "
            "for example the output of `python -c 'import secrets; print(secrets.token_urlsafe(48))'`"
        )
    return configured


def issue_token(
    key_id: str, team: str, scopes: Iterable[str], secret: str, ttl_s: int, now: float | None = None
) -> IssuedToken:
    """A token for key `key_id` of `team` with `scopes`, valid `ttl_s` seconds from `now`."""
    issued_at = int(time.time() if now is None else now)
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": key_id,
        "team": team,
        "scopes": sorted(scopes),
        "iat": issued_at,
        "exp": issued_at + ttl_s,
        "jti": secrets.token_urlsafe(16),
    }
    return IssuedToken(jwt.encode(claims, secret, algorithm=ALGORITHM), ttl_s)


def verify_token(token: str, secret: str) -> TokenClaims:
    """The claims of a token signed with `secret` for this API, unexpired and complete; raises TokenError otherwise."""
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            issuer=ISSUER,
            leeway=LEEWAY_S,
            options={"require": list(REQUIRED_CLAIMS)},
        )
    except jwt.ExpiredSignatureError:
        raise TokenError("the access token has expired: get a new one from POST /v2/token") from None
    except jwt.InvalidTokenError as exc:
        raise TokenError(f"the access token is not valid ({exc}): get a new one from POST /v2/token") from None
    return _claims(claims)


def _claims(claims: dict[str, Any]) -> TokenClaims:
    scopes = claims["scopes"]
    if not isinstance(scopes, list) or not all(isinstance(scope, str) and scope in SCOPES for scope in scopes):
        raise TokenError("the access token's scopes are not valid: get a new one from POST /v2/token")
    if not isinstance(claims["sub"], str) or not isinstance(claims["team"], str):
        raise TokenError("the access token's subject or team is not valid: get a new one from POST /v2/token")
    return TokenClaims(
        claims["sub"], claims["team"], frozenset(scopes), str(claims["jti"]), int(claims["iat"]), int(claims["exp"])
    )


class KeyCache:
    """Answers to "is key X still valid?", each kept `ttl_s` seconds, shared by the requests of one process."""

    def __init__(self, ttl_s: float = KEY_CACHE_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self.clock = clock
        self._entries: dict[str, tuple[float, KeyRecord | None]] = {}

    async def get(self, key_id: str, load: Callable[[str], Awaitable[KeyRecord | None]]) -> KeyRecord | None:
        """The key's record while valid (None when not), from the cache or else from `load`."""
        entry = self._entries.get(key_id)
        if entry is not None and entry[0] > self.clock():
            return entry[1]
        # Unlocked: two requests loading the same key at once both get the same answer.
        record = await load(key_id)
        now = self.clock()
        self._entries = {k: v for k, v in self._entries.items() if v[0] > now}
        self._entries[key_id] = (now + self.ttl_s, record)
        return record


def token_key_scopes(claims: TokenClaims, record: KeyRecord) -> frozenset[str]:
    """The scopes a token grants: those it names that its key still holds."""
    return claims.scopes & record.scopes


class VerifiedKeys:
    """Keys verified lately, by a digest of the key as presented, each kept `ttl_s` seconds: a client sending its
    key with every request is checked against the warehouse once per interval, not once per request. Only accepted
    keys are kept (a refusal is checked, and logged, every time), and a kept key still expires on time; a revocation
    reaches every process within the interval, as it does for tokens."""

    def __init__(self, ttl_s: float = KEY_CACHE_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self.clock = clock
        self._entries: dict[bytes, tuple[float, KeyRecord]] = {}

    @staticmethod
    def _digest(credential: str) -> bytes:
        return hashlib.sha256(credential.encode()).digest()

    def get(self, credential: str) -> KeyRecord | None:
        """The record of a key verified within the interval and not expired since, else None."""
        entry = self._entries.get(self._digest(credential))
        if entry is None or entry[0] <= self.clock() or entry[1].refusal(datetime.now(UTC)) is not None:
            return None
        return entry[1]

    def keep(self, credential: str, record: KeyRecord) -> None:
        now = self.clock()
        if len(self._entries) >= _VERIFIED_KEYS_MAX:
            self._entries = {digest: entry for digest, entry in self._entries.items() if entry[0] > now}
        self._entries[self._digest(credential)] = (now + self.ttl_s, record)
