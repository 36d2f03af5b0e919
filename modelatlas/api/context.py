"""What every request handler shares: the settings, the warehouse pools and the rate limiter."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fastapi import Request

if TYPE_CHECKING:
    from psycopg_pool import AsyncConnectionPool

    from modelatlas.api.settings import ApiSettings


@dataclass
class ApiContext:
    """Built once when the service starts (the app's lifespan) and kept in `app.state.context`.

    `marts` reads the `marts` schema as `modelatlas_reader`; `keys` is the API role's pool, which reads the API keys
    (and, with the warehouse storage, the rate limit buckets)."""

    settings: ApiSettings
    marts: AsyncConnectionPool[Any]
    keys: AsyncConnectionPool[Any]
    # Filled by the auth and rate limit modules when the app is built.
    extras: dict[str, Any] = field(default_factory=dict)


def context_of(request: Request) -> ApiContext:
    """The request's application context."""
    context: ApiContext = request.app.state.context
    return context
