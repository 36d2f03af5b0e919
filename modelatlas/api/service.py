"""The API application: its warehouse pools, middleware (request log, CORS, rate limits), REST v2 and GraphQL."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Request, Response
from fastapi.middleware.cors import CORSMiddleware
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from modelatlas.api.auth import caller_of, token_router
from modelatlas.api.context import ApiContext
from modelatlas.api.problems import install_problem_handlers
from modelatlas.api.ratelimit import RATE_LIMITER, RateLimitMiddleware, close_limiter, limiter_from
from modelatlas.api.settings import MEMORY_STORAGE, ApiSettings, api_settings
from modelatlas.warehouse.connection import ConnectionInfo

log = logging.getLogger("modelatlas.api.requests")

API_VERSION = "2.0.0"
OPENAPI_PATH = "/v2/openapi.json"
DOCS_PATH = "/v2/docs"
APPLICATION_NAME = "modelatlas-api"
_POOL_OPEN_TIMEOUT_S = 30.0
_POOL_WAIT_S = 5.0


@dataclass
class RequestCounts:
    """Requests answered since the process started, by method, route and status: for the metrics endpoint."""

    counts: Counter[tuple[str, str, int]] = field(default_factory=Counter)
    seconds: dict[tuple[str, str], float] = field(default_factory=dict)

    def add(self, method: str, route: str, status: int, duration_s: float) -> None:
        self.counts[(method, route, status)] += 1
        self.seconds[(method, route)] = self.seconds.get((method, route), 0.0) + duration_s


def reader_pool(info: ConnectionInfo, settings: ApiSettings, read_only: bool = True) -> AsyncConnectionPool[Any]:
    """A pool of connections, each with the statement timeout, returning rows as dicts; read-only unless told (the
    keys' pool writes a key's last use and the warehouse rate limit's buckets)."""
    options = f"-c statement_timeout={settings.statement_timeout_ms}"
    if read_only:
        options += " -c default_transaction_read_only=on"
    return AsyncConnectionPool(
        conninfo="",
        kwargs={
            "host": info.host,
            "port": info.port,
            "user": info.user,
            "password": info.password,
            "dbname": info.database,
            "application_name": APPLICATION_NAME,
            "options": options,
            "autocommit": True,
            "row_factory": dict_row,
        },
        min_size=settings.pool_min,
        max_size=settings.pool_max,
        timeout=_POOL_WAIT_S,
        open=False,
        name="marts",
    )


def app_from_env() -> FastAPI:
    """The API over the warehouse the environment configures (uvicorn's factory, in each worker process)."""
    from modelatlas.warehouse import Warehouse

    warehouse = Warehouse.from_env()
    return create_app(api_settings(), warehouse.reader_connection(), warehouse.api_connection())


def serve(settings: ApiSettings, workers: int = 1) -> None:
    """Serve the API with uvicorn until stopped; several workers share the port, each with its own pools."""
    if workers > 1 and settings.rate_limit_store == MEMORY_STORAGE:
        log.warning(
            "%s workers each keep their own rate limit buckets in memory: a key gets %s times its limit; set "
            "MODELATLAS_API_RATE_LIMIT_STORAGE to warehouse or a redis:// URL",
            workers,
            workers,
        )
    uvicorn.run(
        "modelatlas.api.service:app_from_env",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=workers,
        log_config=None,
        access_log=False,
        server_header=False,
    )


def route_of(request: Request) -> str:
    """The route template a request matched (`/v2/models/{canonical_model_id}`), so logs and counts group by route,
    not by every id asked for; `unmatched` when none did."""
    route = request.scope.get("route")
    return str(getattr(route, "path", "unmatched"))


def create_app(
    settings: ApiSettings,
    marts: ConnectionInfo,
    keys: ConnectionInfo,
) -> FastAPI:
    """The API over the warehouse: `marts` is the reader's connection, `keys` the API role's."""
    counts = RequestCounts()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        marts_pool = reader_pool(marts, settings)
        keys_pool = reader_pool(keys, settings, read_only=False)
        await marts_pool.open(wait=False)
        await keys_pool.open(wait=False)
        context = ApiContext(settings=settings, marts=marts_pool, keys=keys_pool, extras={"counts": counts})
        context.extras[RATE_LIMITER] = limiter_from(settings, keys_pool)
        app.state.context = context
        try:
            yield
        finally:
            await close_limiter(context)
            await marts_pool.close()
            await keys_pool.close()

    app = FastAPI(
        title="ModelAtlas API",
        version=API_VERSION,
        summary="The AI model market (models, prices, status) and the organisation's own usage, with history.",
        openapi_url=OPENAPI_PATH,
        docs_url=DOCS_PATH,
        redoc_url=None,
        lifespan=lifespan,
    )
    install_problem_handlers(app)
    # Outermost last: CORS wraps everything, the request log sees refusals of the rate limit too.
    app.add_middleware(RateLimitMiddleware, exempt_paths=(OPENAPI_PATH, DOCS_PATH))

    @app.middleware("http")
    async def log_request(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        started = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            return response
        finally:
            duration = time.perf_counter() - started
            route = route_of(request)
            counts.add(request.method, route, status, duration)
            caller = caller_of(request)
            key_id = caller.key_id if caller is not None else None
            fields = {
                "method": request.method,
                "route": route,
                "status": status,
                "duration_ms": round(duration * 1000, 2),
                "key_id": key_id,
            }
            log.info(
                "%s %s %s %.1f ms key=%s",
                request.method,
                route,
                status,
                duration * 1000,
                key_id or "-",
                extra={"fields": fields},
            )

    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "X-API-Key", "If-None-Match", "Content-Type"],
            expose_headers=["ETag", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "Retry-After"],
        )

    from modelatlas.api.graphql import graphql_router
    from modelatlas.api.rest import router

    app.include_router(router)
    app.include_router(token_router)
    app.include_router(graphql_router(settings))
    return app
