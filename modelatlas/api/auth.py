"""Who is calling and what they may read: API keys and access tokens in, a `Principal` out, scopes checked per route.

A caller sends `Authorization: Bearer <API key or access token>` or `X-API-Key: <API key>`. Without either, the
caller is anonymous, which is accepted only when `MODELATLAS_API_PUBLIC_READ` is true, and then only for the catalog,
prices and status (`catalog:read`); usage and spend always need a key. Errors follow RFC 6750: 401 with
`WWW-Authenticate: Bearer` for missing or bad credentials, 403 for a valid key without the route's scope.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request, Response, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from modelatlas.api.context import ApiContext, context_of
from modelatlas.api.keys import (
    CATALOG_READ,
    SCOPES,
    USAGE_ALL,
    KeyRecord,
    active_key,
    check_key,
    effective_scopes,
    looks_like_key,
    touch_last_used,
)
from modelatlas.api.problems import Problem
from modelatlas.api.tokens import (
    TokenConfigurationError,
    TokenError,
    issue_token,
    signing_secret,
    token_key_scopes,
    verify_token,
)

log = logging.getLogger(__name__)

API_KEY_HEADER = "X-API-Key"
# Where one request's resolved caller is kept: the rate limiter and the route's dependency share one lookup.
_STATE_ATTRIBUTE = "modelatlas_caller"
# Keys whose secret matched may be told why they are refused; anything else only hears "not valid".
_TOLD_REASONS = frozenset({"revoked", "expired"})
_HOW_TO_AUTHENTICATE = (
    f"send `Authorization: Bearer <API key or access token>` or `{API_KEY_HEADER}: <API key>`; "
    "an administrator creates keys with `modelatlas api-keys create`"
)


@dataclass(frozen=True)
class Principal:
    """The caller of one request: a key (directly or through a token) or anonymous, with what it may read."""

    key_id: str | None
    team: str | None
    scopes: frozenset[str]
    anonymous: bool
    # The client's address (as the server saw it: behind a proxy, run uvicorn with --proxy-headers).
    client: str

    def has(self, scope: str) -> bool:
        """Whether the caller holds `scope` (`usage:all` holds `usage:read` too)."""
        return scope in effective_scopes(self.scopes)


def unauthorized(detail: str, invalid: bool = False) -> Problem:
    """A 401 asking for (valid) credentials."""
    challenge = 'Bearer error="invalid_token"' if invalid else "Bearer"
    return Problem(401, "Unauthorized", detail, {"WWW-Authenticate": challenge})


def credential_from(headers: Mapping[str, str]) -> str | None:
    """The API key or token a request presents, or None; a non-Bearer `Authorization` is refused."""
    authorization = headers.get("authorization", "").strip()
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise unauthorized(f"the Authorization header is not `Bearer <credential>`: {_HOW_TO_AUTHENTICATE}", True)
        return value.strip()
    key = headers.get(API_KEY_HEADER.lower(), "").strip()
    return key or None


def client_of(request: Request) -> str:
    """The client's address, or "unknown" when the server does not say."""
    return request.client.host if request.client else "unknown"


def anonymous(request: Request, public_read: bool) -> Principal:
    """The caller without credentials: reads the catalog when the API is public, nothing otherwise."""
    scopes = frozenset({CATALOG_READ}) if public_read else frozenset()
    return Principal(None, None, scopes, anonymous=True, client=client_of(request))


def key_principal(record: KeyRecord, scopes: frozenset[str], client: str) -> Principal:
    """The caller behind a valid key."""
    return Principal(record.id, record.team, effective_scopes(scopes), anonymous=False, client=client)


async def _from_key(context: ApiContext, credential: str, client: str) -> Principal:
    recent = context.verified_keys
    known = recent.get(credential)
    if known is not None:
        return key_principal(known, known.scopes, client)
    async with context.keys.connection() as conn:
        check = await check_key(conn, credential)
        if check.record is not None:
            await touch_last_used(conn, check.record)
    if check.record is not None:
        recent.keep(credential, check.record)
    if check.record is None:
        log.info("API key %s from %s refused: %s", check.key_id or "(malformed)", client, check.reason)
        told = f" (it is {check.reason})" if check.reason in _TOLD_REASONS else ""
        raise unauthorized(f"the API key is not valid{told}: {_HOW_TO_AUTHENTICATE}", invalid=True)
    return key_principal(check.record, check.record.scopes, client)


async def _load_active(context: ApiContext, key_id: str) -> KeyRecord | None:
    async with context.keys.connection() as conn:
        return await active_key(conn, key_id)


async def _from_token(context: ApiContext, credential: str, client: str) -> Principal:
    try:
        claims = verify_token(credential, signing_secret(context.settings))
    except TokenConfigurationError as exc:
        raise Problem(503, "Access tokens unavailable", str(exc)) from None
    except TokenError as exc:
        raise unauthorized(str(exc), invalid=True) from None
    record = await context.key_cache.get(claims.key_id, lambda key_id: _load_active(context, key_id))
    if record is None:
        log.info("token %s of API key %s from %s refused: the key is gone", claims.jti, claims.key_id, client)
        raise unauthorized(
            "the API key this access token was issued for is revoked, expired or deleted: use a valid key",
            invalid=True,
        )
    return key_principal(record, token_key_scopes(claims, record), client)


async def resolve(request: Request) -> Principal:
    """The request's caller from its credentials (anonymous without any); raises 401 (or 503 for tokens without a
    configured secret). Resolved once per request: later calls give the same answer."""
    cached: Principal | Problem | None = getattr(request.state, _STATE_ATTRIBUTE, None)
    if cached is None:
        try:
            cached = await _resolve(request)
        except Problem as problem:
            cached = problem
        setattr(request.state, _STATE_ATTRIBUTE, cached)
    if isinstance(cached, Problem):
        raise cached
    return cached


async def _resolve(request: Request) -> Principal:
    context = context_of(request)
    credential = credential_from(request.headers)
    if credential is None:
        return anonymous(request, context.settings.public_read)
    if looks_like_key(credential):
        return await _from_key(context, credential, client_of(request))
    return await _from_token(context, credential, client_of(request))


async def principal(request: Request) -> Principal:
    """FastAPI dependency: the authenticated caller, or the anonymous one when the API is public; 401 otherwise."""
    caller = await resolve(request)
    if caller.anonymous and not context_of(request).settings.public_read:
        raise unauthorized(f"this API needs credentials: {_HOW_TO_AUTHENTICATE}")
    return caller


# How to authenticate, as the OpenAPI document says it (the docs page's "Authorize"); the credentials themselves are
# read by `resolve`, so these never refuse a request.
BEARER = HTTPBearer(
    auto_error=False, description="an API key (ma_...) or an access token from POST /v2/token", scheme_name="bearer"
)
API_KEY = APIKeyHeader(name=API_KEY_HEADER, auto_error=False, description="an API key", scheme_name="apiKey")


def require(scope: str) -> Callable[..., Awaitable[Principal]]:
    """FastAPI dependency factory: the caller, when it holds `scope` (`Depends(require("usage:read"))`).

    Anonymous callers hold `catalog:read` only when the API is public and never anything else: they get 401 (send a
    key); a key without the scope gets 403."""
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}: valid scopes are {', '.join(SCOPES)}")

    async def dependency(
        request: Request,
        _bearer: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)],
        _key: Annotated[str | None, Security(API_KEY)],
    ) -> Principal:
        caller = await resolve(request)
        authorize(caller, scope)
        return caller

    dependency.__name__ = f"require_{scope.replace(':', '_')}"
    return dependency


def authorize(caller: Principal, scope: str) -> None:
    """Raise 401 (anonymous) or 403 (a key without it) unless the caller holds `scope`: REST's `require` and each
    GraphQL field check callers with this."""
    if caller.has(scope):
        return
    if caller.anonymous:
        raise unauthorized(f"reading this needs an API key with the scope {scope}: {_HOW_TO_AUTHENTICATE}")
    raise Problem(
        403,
        "Forbidden",
        f"the API key {caller.key_id} does not have the scope {scope}: ask for a key that has it",
        {"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{scope}"'},
    )


def caller_of(request: Request) -> Principal | None:
    """The caller already resolved for this request, if any (for the request log)."""
    cached = getattr(request.state, _STATE_ATTRIBUTE, None)
    return cached if isinstance(cached, Principal) else None


def team_scope(caller: Principal, asked: str | None) -> str | None:
    """The team usage figures are limited to: the key's own, or the one asked for (or every team) with usage:all;
    403 when a key without usage:all asks for another team."""
    own = usage_team_filter(caller)
    if own is None:
        return asked
    if asked is not None and asked != own:
        raise Problem(403, "Forbidden", f"this key reads its own team's usage ({own}) only: usage:all reads others")
    return own


def usage_team_filter(caller: Principal) -> str | None:
    """The team whose usage the caller may read: None (every team) with `usage:all`, else its key's team."""
    if caller.has(USAGE_ALL):
        return None
    if caller.team is None:
        # Never None by accident: None would mean every team.
        raise Problem(403, "Forbidden", "usage is read with an API key of a team: ask for a key with usage:read")
    return caller.team


class TokenResponse(BaseModel):
    """A new access token (RFC 6749 §5.1)."""

    access_token: str = Field(description="send it as `Authorization: Bearer <access_token>`")
    token_type: Literal["Bearer"] = Field("Bearer", description="always Bearer")
    expires_in: int = Field(description="seconds the token is valid")


_PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
    },
    "required": ["title", "status", "detail"],
}


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/problem+json": {"schema": _PROBLEM_SCHEMA}}}


token_router = APIRouter(tags=["authentication"])


@token_router.post(
    "/v2/token",
    response_model=TokenResponse,
    summary="Exchange an API key for a short-lived access token",
    responses={
        401: _problem("no API key, or not a valid one (unknown, revoked or expired)"),
        503: _problem("the API issues no tokens: MODELATLAS_API_JWT_SECRET is not set"),
    },
)
async def create_token(
    request: Request,
    response: Response,
    _bearer: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)],
    _key: Annotated[str | None, Security(API_KEY)],
) -> TokenResponse:
    """Send the API key as `Authorization: Bearer <key>` or `X-API-Key: <key>`; the token carries its team and scopes
    and is refused as soon as the key is revoked or expires."""
    context = context_of(request)
    try:
        secret = signing_secret(context.settings)
    except TokenConfigurationError as exc:
        raise Problem(503, "Access tokens unavailable", str(exc)) from None
    credential = credential_from(request.headers)
    if credential is None or not looks_like_key(credential):
        raise unauthorized(f"a token is issued for an API key (not for a token): {_HOW_TO_AUTHENTICATE}")
    caller = await resolve(request)
    assert caller.key_id is not None and caller.team is not None
    token = issue_token(caller.key_id, caller.team, caller.scopes, secret, context.settings.jwt_ttl_s)
    # Tokens are credentials: no cache on the way may keep them.
    response.headers["Cache-Control"] = "no-store"
    return TokenResponse(access_token=token.access_token, expires_in=token.expires_in)
