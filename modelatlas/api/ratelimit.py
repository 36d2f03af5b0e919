"""Rate limits: a token bucket per caller, kept in memory, in the warehouse or in Redis, announced in headers.

Each caller has a bucket of `MODELATLAS_API_RATE_LIMIT_BURST` tokens that refills at
`MODELATLAS_API_RATE_LIMIT_PER_S` tokens a second; a request takes one, and is refused (429) when none is left. The
bucket is the key's (`key:<id>`) for callers with an API key or token and the address's (`ip:<address>`) for the
others, invalid credentials included. Written here rather than taken from slowapi: slowapi (through `limits`) offers
fixed and moving windows, not a token bucket whose burst is set apart from its rate.

Every response carries the fields of draft-ietf-httpapi-ratelimit-headers-06 (the last draft with separate fields):
`RateLimit-Limit` (the burst), `RateLimit-Remaining` (requests that may be made now) and `RateLimit-Reset` (seconds
until the bucket is full again); a 429 adds `Retry-After` (seconds until one token is back, rounded up).

The stores (`memory` for one process; `warehouse` and Redis shared by every process) keep (tokens, updated_at) per
bucket and apply the same arithmetic, each in one atomic step. Time comes from the serving process's clock: the
processes sharing a store are assumed to keep their clocks in step (NTP), and a bucket never refills backwards.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from psycopg.rows import tuple_row
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modelatlas.api.auth import client_of, resolve
from modelatlas.api.context import ApiContext, context_of
from modelatlas.api.settings import MEMORY_STORAGE, WAREHOUSE_STORAGE, ApiSettings
from modelatlas.redaction import register_secret

if TYPE_CHECKING:
    from psycopg_pool import AsyncConnectionPool
    from redis.asyncio import Redis

log = logging.getLogger(__name__)

# Full buckets are forgotten (a missing bucket is a full one) this often, so a store does not grow with every address.
PRUNE_EVERY_S = 300.0
# A store that fails is reported at most this often; requests pass meanwhile (see `RateLimiter.hit`).
_WARN_EVERY_S = 60.0
REDIS_PREFIX = "modelatlas:ratelimit:"


@dataclass(frozen=True)
class Bucket:
    """One caller's bucket: the tokens it held at `updated_at` (seconds since the epoch)."""

    tokens: float
    updated_at: float


@dataclass(frozen=True)
class Decision:
    """The answer to one request: whether it may proceed, and what the headers tell the caller."""

    allowed: bool
    limit: int
    remaining: int
    # Seconds until one token is back (0 when allowed), and until the bucket is full.
    retry_after_s: float
    reset_s: float

    def headers(self) -> dict[str, str]:
        """The RateLimit fields (draft-ietf-httpapi-ratelimit-headers-06), and Retry-After on a refusal."""
        fields = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(math.ceil(self.reset_s)),
        }
        if not self.allowed:
            fields["Retry-After"] = str(retry_after_header(self.retry_after_s))
        return fields


def retry_after_header(seconds: float) -> int:
    """Retry-After in whole seconds, rounded up and never 0 (a client retrying at once would be refused again)."""
    return max(1, math.ceil(seconds))


def available(bucket: Bucket | None, rate: float, burst: int, now: float) -> float:
    """The tokens a bucket holds at `now`: refilled at `rate` a second up to `burst`; a new bucket is full."""
    if bucket is None:
        return float(burst)
    # A clock behind the bucket's (another process's, or a request that waited on a lock) refills nothing.
    return min(float(burst), bucket.tokens + max(0.0, now - bucket.updated_at) * rate)


def decide(tokens: float, allowed: bool, rate: float, burst: int) -> Decision:
    """The decision once a bucket holds `tokens` after the request (one fewer when it was allowed)."""
    retry_after = 0.0 if allowed else (1.0 - tokens) / rate
    return Decision(
        allowed, burst, max(0, math.floor(tokens)), max(0.0, retry_after), max(0.0, (burst - tokens) / rate)
    )


def token_bucket(bucket: Bucket | None, rate: float, burst: int, now: float) -> tuple[Bucket, Decision]:
    """One request against a bucket: its new state and the decision."""
    tokens = available(bucket, rate, burst, now)
    allowed = tokens >= 1.0
    if allowed:
        tokens -= 1.0
    updated_at = now if bucket is None else max(bucket.updated_at, now)
    return Bucket(tokens, updated_at), decide(tokens, allowed, rate, burst)


def idle_after_s(rate: float, burst: int) -> float:
    """Seconds after which an untouched bucket is full again, and may as well be forgotten."""
    return burst / rate


class BucketStore(Protocol):
    """Where the buckets are kept: one atomic take per request."""

    async def take(self, key: str, rate: float, burst: int, now: float) -> Decision:
        """Take a token from bucket `key` at `now`, if it holds one."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


class MemoryStore:
    """Buckets in this process's memory: for one process (each process of several would allow the full rate)."""

    def __init__(self) -> None:
        self._buckets: dict[str, Bucket] = {}
        self._lock = asyncio.Lock()
        self._pruned_at = 0.0

    async def take(self, key: str, rate: float, burst: int, now: float) -> Decision:
        """Take a token from bucket `key` at `now`, if it holds one."""
        async with self._lock:
            bucket, decision = token_bucket(self._buckets.get(key), rate, burst, now)
            self._buckets[key] = bucket
            if now - self._pruned_at >= PRUNE_EVERY_S:
                idle = idle_after_s(rate, burst)
                self._buckets = {k: b for k, b in self._buckets.items() if now - b.updated_at < idle}
                self._pruned_at = now
            return decision

    def __len__(self) -> int:
        return len(self._buckets)

    async def aclose(self) -> None:
        """Nothing to release."""


def _refilled(rate: str, burst: str) -> str:
    return (
        f"least({burst}, b.tokens + greatest(0, extract(epoch from excluded.updated_at - b.updated_at))::float8 "
        f"* {rate})"
    )


_AVAILABLE = _refilled("%(rate)s::float8", "%(burst)s::float8")
# One statement: the row is locked from the conflict to the commit, so concurrent requests on one bucket queue there.
# Every expression of SET reads the row as it was, so last_allowed judges the same refill as tokens.
WAREHOUSE_TAKE = f"""
insert into ops.api_rate_limits as b (key, tokens, updated_at, last_allowed)
values (%(key)s, %(burst)s::float8 - 1, to_timestamp(%(now)s), true)
on conflict (key) do update set
    tokens = case when {_AVAILABLE} >= 1 then {_AVAILABLE} - 1 else {_AVAILABLE} end,
    updated_at = greatest(b.updated_at, excluded.updated_at),
    last_allowed = {_AVAILABLE} >= 1
returning tokens, last_allowed
"""
WAREHOUSE_PRUNE = "delete from ops.api_rate_limits where updated_at < to_timestamp(%(before)s)"


class WarehouseStore:
    """Buckets in `ops.api_rate_limits`, through the API role's pool: shared by every process of the API."""

    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        self.pool = pool
        self._pruned_at = 0.0

    async def take(self, key: str, rate: float, burst: int, now: float) -> Decision:
        """Take a token from bucket `key` at `now`, if it holds one."""
        async with self.pool.connection() as conn:
            # Rows by position whatever the pool's row factory (the API's pools hand out dict rows).
            cursor = conn.cursor(row_factory=tuple_row)
            await cursor.execute(WAREHOUSE_TAKE, {"key": key, "rate": rate, "burst": burst, "now": now})
            row = await cursor.fetchone()
            if now - self._pruned_at >= PRUNE_EVERY_S:
                self._pruned_at = now
                await conn.execute(WAREHOUSE_PRUNE, {"before": now - idle_after_s(rate, burst)})
        assert row is not None
        return decide(float(row[0]), bool(row[1]), rate, burst)

    async def aclose(self) -> None:
        """The pool is the API's: it closes it."""


# The same arithmetic as `token_bucket`. Numbers go back as strings: Redis turns Lua numbers into integers.
REDIS_TAKE = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'updated_at')
local tokens = tonumber(state[1])
local updated_at = tonumber(state[2])
if tokens == nil or updated_at == nil then
  tokens = burst
  updated_at = now
end
tokens = math.min(burst, tokens + math.max(0, now - updated_at) * rate)
local allowed = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'updated_at', tostring(math.max(updated_at, now)))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return {allowed, tostring(tokens)}
"""


class RedisStore:
    """Buckets in Redis, one hash per bucket, changed by one Lua script (EVALSHA), expiring once full again."""

    def __init__(self, client: Redis) -> None:
        self.client = client
        self._script = client.register_script(REDIS_TAKE)

    @classmethod
    def from_url(cls, url: str) -> RedisStore:
        """A store on the Redis server at `url` (which may hold a password: it is registered as a secret)."""
        from redis.asyncio import Redis

        register_secret(url)
        return cls(Redis.from_url(url))

    async def take(self, key: str, rate: float, burst: int, now: float) -> Decision:
        """Take a token from bucket `key` at `now`, if it holds one."""
        allowed, tokens = await self._script(keys=[REDIS_PREFIX + key], args=[repr(rate), burst, repr(now)])
        return decide(float(tokens), bool(int(allowed)), rate, burst)

    async def aclose(self) -> None:
        """Close the connections to Redis."""
        await self.client.aclose()


class RateLimiter:
    """The API's limiter: one rate and burst for every caller, over one store."""

    def __init__(self, store: BucketStore, rate: float, burst: int, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self._warned_at = -_WARN_EVERY_S

    async def hit(self, key: str) -> Decision | None:
        """Take a token for `key`; None when the store failed (the request passes: an unreachable Redis or warehouse
        must not take the API down with it; the failure is logged)."""
        try:
            return await self.store.take(key, self.rate, self.burst, self.clock())
        except Exception as exc:  # a store's own errors (psycopg's, redis's): the API keeps serving
            now = time.monotonic()
            if now - self._warned_at >= _WARN_EVERY_S:
                self._warned_at = now
                log.warning("rate limits are not applied: the %s store failed (%s)", type(self.store).__name__, exc)
            return None

    async def aclose(self) -> None:
        """Release the store's connections."""
        await self.store.aclose()


def limiter_from(settings: ApiSettings, keys_pool: AsyncConnectionPool[Any]) -> RateLimiter:
    """The limiter `MODELATLAS_API_RATE_LIMIT_STORAGE` configures: memory, warehouse (through `keys_pool`, the API
    role's) or a Redis URL."""
    storage = settings.rate_limit_store
    store: BucketStore
    if storage == MEMORY_STORAGE:
        store = MemoryStore()
    elif storage == WAREHOUSE_STORAGE:
        store = WarehouseStore(keys_pool)
    else:
        store = RedisStore.from_url(storage)
    return RateLimiter(store, settings.rate_limit_per_s, settings.rate_limit_burst)


def limiter_of(context: ApiContext) -> RateLimiter:
    """The app's limiter, made from its settings on first use unless the app's start put one in the context."""
    if context.limiter is None:
        context.limiter = limiter_from(context.settings, context.keys)
    return context.limiter


async def close_limiter(context: ApiContext) -> None:
    """Release the limiter's connections (Redis), when the app stops."""
    limiter, context.limiter = context.limiter, None
    if limiter is not None:
        await limiter.aclose()


async def limiter_key(request: Request) -> str:
    """The bucket of a request's caller: its key's, or its address's when anonymous or its credentials are refused."""
    try:
        caller = await resolve(request)
    except Exception:  # refused credentials, or keys that cannot be checked now: the route's dependency answers
        return f"ip:{client_of(request)}"
    return f"ip:{caller.client}" if caller.anonymous or caller.key_id is None else f"key:{caller.key_id}"


def refusal_body(decision: Decision, path: str, rate: float) -> bytes:
    """The 429's problem details (RFC 9457)."""
    wait = retry_after_header(decision.retry_after_s)
    return json.dumps(
        {
            "type": "about:blank",
            "title": "Too many requests",
            "status": 429,
            "detail": f"more than {rate:g} requests a second (bursts of {decision.limit}) from this caller: "
            f"retry after {wait} s, and pace requests by the RateLimit-Remaining and RateLimit-Reset headers",
            "instance": path,
        }
    ).encode()


class RateLimitMiddleware:
    """ASGI middleware: every HTTP request takes a token from its caller's bucket; every response gets the RateLimit
    headers; a refused request is answered 429 (problem details with Retry-After) without reaching the app.

    Install with `app.add_middleware(RateLimitMiddleware, exempt_paths=(...))`, added before CORSMiddleware so that
    CORS wraps it (and lists the RateLimit headers in `expose_headers` for browsers). A middleware rather than a
    dependency: requests no route matches, and responses of every error, are counted and labelled too. The caller is
    resolved once: the routes' `require(...)` reuse it."""

    def __init__(self, app: ASGIApp, exempt_paths: Iterable[str] = ()) -> None:
        self.app = app
        self.exempt_paths = frozenset(exempt_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Apply the caller's bucket, then serve the request or refuse it."""
        if scope["type"] != "http" or scope["path"] in self.exempt_paths:
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        limiter = limiter_of(context_of(request))
        decision = await limiter.hit(await limiter_key(request))
        if decision is None:
            await self.app(scope, receive, send)
            return
        headers = [(name.lower().encode(), value.encode()) for name, value in decision.headers().items()]
        if not decision.allowed:
            body = refusal_body(decision, scope["path"], limiter.rate)
            await send(
                {
                    "type": "http.response.start",
                    "status": 429,
                    "headers": [
                        (b"content-type", b"application/problem+json"),
                        (b"content-length", str(len(body)).encode()),
                        *headers,
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *headers]}
            await send(message)

        await self.app(scope, receive, send_with_headers)
