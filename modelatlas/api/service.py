"""The API application: its warehouse pools, middleware (request log, CORS, rate limits), REST v2 and GraphQL."""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modelatlas.api.auth import caller_of, token_router
from modelatlas.api.context import ApiContext, RequestCounts
from modelatlas.api.problems import install_problem_handlers
from modelatlas.api.ratelimit import RateLimitMiddleware, close_limiter, limiter_from
from modelatlas.api.settings import MEMORY_STORAGE, ApiSettings, api_settings
from modelatlas.logs import configure_logging
from modelatlas.warehouse.connection import ConnectionInfo

log = logging.getLogger("modelatlas.api.requests")

API_VERSION = "2.0.0"
OPENAPI_PATH = "/v2/openapi.json"
DOCS_PATH = "/v2/docs"
APPLICATION_NAME = "modelatlas-api"
_POOL_OPEN_TIMEOUT_S = 30.0
_POOL_WAIT_S = 5.0


def marts_pool(info: ConnectionInfo, settings: ApiSettings) -> AsyncConnectionPool[Any]:
    """The marts' pool: read-only connections, each with the statement timeout, returning rows as dicts."""
    options = f"-c statement_timeout={settings.statement_timeout_ms} -c default_transaction_read_only=on"
    return _pool(info, settings, "marts", {"options": options, "row_factory": dict_row})


def keys_pool(info: ConnectionInfo, settings: ApiSettings) -> AsyncConnectionPool[Any]:
    """The API role's pool: key lookups (which note a key's last use) and the warehouse's rate limit buckets."""
    return _pool(info, settings, "keys", {"options": f"-c statement_timeout={settings.statement_timeout_ms}"})


def _pool(info: ConnectionInfo, settings: ApiSettings, name: str, extra: dict[str, Any]) -> AsyncConnectionPool[Any]:
    return AsyncConnectionPool(
        conninfo="",
        kwargs={
            "host": info.host,
            "port": info.port,
            "user": info.user,
            "password": info.password,
            "dbname": info.database,
            "application_name": APPLICATION_NAME,
            "autocommit": True,
            **extra,
        },
        min_size=settings.pool_min,
        max_size=settings.pool_max,
        timeout=_POOL_WAIT_S,
        open=False,
        name=name,
    )


def app_from_env() -> FastAPI:
    """The API over the warehouse the environment configures (uvicorn's factory, in each worker process)."""
    from modelatlas.warehouse import Warehouse

    # A worker process starts afresh: the request log needs the product's logging (and its redaction) again.
    configure_logging()
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


class RequestLogMiddleware:
    """One log line per request (method, route, status, duration, key id; never the key) and the counts kept for
    the metrics. Plain ASGI rather than Starlette's BaseHTTPMiddleware, which runs each request through a task and
    memory streams of its own: a quarter of the API's time per request under load."""

    def __init__(self, app: ASGIApp, counts: RequestCounts) -> None:
        self.app = app
        self.counts = counts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_noting_status)
        finally:
            self._log(Request(scope), status, time.perf_counter() - started)

    def _log(self, request: Request, status: int, duration: float) -> None:
        route = route_of(request)
        self.counts.add(request.method, route, status, duration)
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
        marts_connections = marts_pool(marts, settings)
        keys_connections = keys_pool(keys, settings)
        await marts_connections.open(wait=False)
        await keys_connections.open(wait=False)
        context = ApiContext(
            settings=settings,
            marts=marts_connections,
            keys=keys_connections,
            limiter=limiter_from(settings, keys_connections),
            counts=counts,
        )
        app.state.context = context
        # Everything loaded so far lives as long as the process: the collector leaves it alone from now on. A full
        # collection otherwise walked every object the imports made (Dagster's, dbt's) and stopped every request
        # for about 300 ms, several times a minute under load.
        gc.freeze()
        try:
            yield
        finally:
            await close_limiter(context)
            await marts_connections.close()
            await keys_connections.close()

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

    app.add_middleware(RequestLogMiddleware, counts=counts)

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
