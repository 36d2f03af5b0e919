"""What every request handler shares: the settings, the warehouse pools, the rate limiter and what the process keeps
between requests."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fastapi import Request

from modelatlas.api.tokens import KeyCache, VerifiedKeys
from modelatlas.api.versions import MartVersions

if TYPE_CHECKING:
    from psycopg_pool import AsyncConnectionPool

    from modelatlas.api.ratelimit import RateLimiter
    from modelatlas.api.settings import ApiSettings


@dataclass
class RequestCounts:
    """Requests answered since the process started, by method, route and status: for the metrics endpoint."""

    counts: Counter[tuple[str, str, int]] = field(default_factory=Counter)
    seconds: dict[tuple[str, str], float] = field(default_factory=dict)

    def add(self, method: str, route: str, status: int, duration_s: float) -> None:
        self.counts[(method, route, status)] += 1
        self.seconds[(method, route)] = self.seconds.get((method, route), 0.0) + duration_s


@dataclass
class ApiContext:
    """Built once when the service starts (the app's lifespan) and kept in `app.state.context`.

    `marts` reads the `marts` schema as `modelatlas_reader`; `keys` is the API role's pool, which reads the API keys
    (and, with the warehouse storage, the rate limit buckets)."""

    settings: ApiSettings
    marts: AsyncConnectionPool[Any]
    keys: AsyncConnectionPool[Any]
    # The rate limiter the app's start made (`ratelimit.limiter_of` makes one on first use otherwise).
    limiter: RateLimiter | None = None
    counts: RequestCounts = field(default_factory=RequestCounts)
    # Answers about keys (accepted keys, the keys of tokens) and the marts' versions, reused for a few seconds.
    verified_keys: VerifiedKeys = field(default_factory=VerifiedKeys)
    key_cache: KeyCache = field(default_factory=KeyCache)
    mart_versions: MartVersions = field(default_factory=MartVersions)


def context_of(request: Request) -> ApiContext:
    """The request's application context."""
    context: ApiContext = request.app.state.context
    return context
