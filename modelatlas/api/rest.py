"""REST v2: the routes, each a thin layer over one function of `queries` (GraphQL calls the same ones)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel

from modelatlas.api import queries
from modelatlas.api.auth import Principal, require, team_scope
from modelatlas.api.context import context_of
from modelatlas.api.keys import CATALOG_READ, USAGE_READ
from modelatlas.api.problems import Problem, problem_responses
from modelatlas.api.queries import MODEL_SORTS, Capability, Connection, ModelFilters, PageRequest, PriceFilters, as_utc
from modelatlas.api.schemas import (
    Budget,
    ModelDetail,
    ModelPage,
    OutagePage,
    PriceChangePage,
    PricePage,
    ProviderStatus,
    ProviderStatusDetail,
    Usage,
    UsageGroup,
)
from modelatlas.api.versions import entity_tag, matches

DEFAULT_PAGE_SIZE = 100
DEFAULT_USAGE_DAYS = 30
# Clients may keep a response, and must ask again (with If-None-Match) before using it.
CACHE_CONTROL = "private, no-cache"
VARY = "Authorization, X-API-Key"
_SORTS = sorted([*MODEL_SORTS, *(f"-{name}" for name in MODEL_SORTS)])
_READ_ERRORS = problem_responses(400, 401, 403, 422, 429, 503)

router = APIRouter(prefix="/v2")
Catalog = Annotated[Principal, Depends(require(CATALOG_READ))]
UsageReader = Annotated[Principal, Depends(require(USAGE_READ))]
Limit = Annotated[int, Query(ge=1, description="rows per page (default 100; at most MODELATLAS_API_PAGE_SIZE_MAX)")]
Cursor = Annotated[str | None, Query(description="`next_cursor` of the previous page", max_length=2000)]
Names = Annotated[list[str], Query(max_length=200)]
Moment = Annotated[
    datetime | None, Query(description="an ISO 8601 date and time (UTC when no zone is given); default now")
]


def default_usage_start(end: date) -> date:
    """The first day of the default usage period ending on `end`: 30 days, fewer near the first day a date holds
    (`to=0001-01-05` would otherwise overflow)."""
    days = DEFAULT_USAGE_DAYS - 1
    return end - timedelta(days=days) if end.toordinal() > days else date.min


def _page(request: Request, limit: int, cursor: str | None) -> PageRequest:
    most = context_of(request).settings.page_size_max
    if limit > most:
        raise Problem(422, "Invalid request", f"limit is at most {most} (MODELATLAS_API_PAGE_SIZE_MAX)")
    return PageRequest(limit=limit, cursor=cursor)


async def answer(
    request: Request,
    marts: Sequence[str],
    produce: Callable[[Connection], Awaitable[BaseModel | list[Any]]],
    team: str | None = None,
    clock: str = "",
) -> Response:
    """Run `produce` on a reader connection and answer its result as JSON with an entity tag from `marts`'
    builds; 304 without running it when the client's copy is current. Warehouse trouble becomes a 503 problem.

    `clock` is the part of the current time the answer depends on (today's date for the last 30 days, the minute
    for the prices in force now): the tag changes with it even when no mart was built."""
    context = context_of(request)
    async with queries.reading(context.marts, marts) as conn:
        version = await context.mart_versions.get(conn, marts)
        tag = entity_tag(version, request.url.path, str(request.url.query), team or "", clock)
        headers = {"ETag": tag, "Cache-Control": CACHE_CONTROL, "Vary": VARY}
        if matches(request.headers.get("if-none-match"), tag):
            return Response(status_code=304, headers=headers)
        result = await produce(conn)
    body = result.model_dump_json(by_alias=True) if isinstance(result, BaseModel) else _dump_list(result)
    return Response(body, media_type="application/json", headers=headers)


def today() -> str:
    """The UTC date, for answers whose window ends today."""
    return datetime.now(UTC).date().isoformat()


def this_minute() -> str:
    """The UTC minute, for answers about now."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M")


def _dump_list(rows: list[Any]) -> str:
    return "[" + ",".join(row.model_dump_json(by_alias=True) for row in rows) + "]"


@router.get("/models", response_model=ModelPage, responses=_READ_ERRORS, tags=["catalog"])
async def list_models(
    request: Request,
    _: Catalog,
    provider: Names = [],  # noqa: B006 - FastAPI copies list defaults per request
    model: Annotated[list[str], Query(max_length=200, description="canonical model ids")] = [],  # noqa: B006
    capability: Annotated[list[Capability], Query(max_length=5)] = [],  # noqa: B006
    input_modality: Names = [],  # noqa: B006
    output_modality: Names = [],  # noqa: B006
    region: Names = [],  # noqa: B006
    min_context: Annotated[int | None, Query(ge=0, le=2**62)] = None,
    max_input_price: Annotated[float | None, Query(ge=0, le=1e12, description="USD per 1M tokens")] = None,
    max_output_price: Annotated[float | None, Query(ge=0, le=1e12)] = None,
    max_blended_price: Annotated[float | None, Query(ge=0, le=1e12)] = None,
    open_weights: bool | None = None,
    available: bool | None = None,
    sort: Annotated[
        str, Query(description="a column, `-` before for descending", json_schema_extra={"enum": _SORTS})
    ] = ("canonical_model_id"),
    limit: Limit = DEFAULT_PAGE_SIZE,
    cursor: Cursor = None,
) -> Response:
    """Offerings (a model at a provider) with their capabilities, prices and availability, filtered and sorted."""
    if sort not in _SORTS:
        raise Problem(422, "Invalid request", f"sort must be one of {', '.join(_SORTS)}")
    filters = ModelFilters(
        providers=tuple(provider),
        models=tuple(model),
        capabilities=tuple(capability),
        input_modalities=tuple(input_modality),
        output_modalities=tuple(output_modality),
        regions=tuple(region),
        min_context=min_context,
        max_input_price=max_input_price,
        max_output_price=max_output_price,
        max_blended_price=max_blended_price,
        open_weights=open_weights,
        available=available,
    )
    page = _page(request, limit, cursor)
    return await answer(request, ["mart_model_comparison"], lambda conn: queries.models_page(conn, filters, sort, page))


@router.get(
    "/models/{canonical_model_id}",
    response_model=ModelDetail,
    responses={**_READ_ERRORS, **problem_responses(404)},
    tags=["catalog"],
)
async def get_model(request: Request, _: Catalog, canonical_model_id: Annotated[str, Path(max_length=300)]) -> Response:
    """A model: its offerings with their attributes, and its current prices per source with the consensus."""

    async def produce(conn: Connection) -> ModelDetail:
        offerings = (await queries.offerings_of(conn, [canonical_model_id]))[canonical_model_id]
        if not offerings:
            raise Problem(404, "Not found", f"no model {canonical_model_id!r}: list them with GET /v2/models")
        prices = (await queries.prices_of(conn, [canonical_model_id]))[canonical_model_id]
        return ModelDetail(canonical_model_id=canonical_model_id, offerings=offerings, prices=prices)

    return await answer(request, ["mart_model_comparison", "mart_price_consensus"], produce)


def _price_filters(model: list[str], provider: list[str], component: list[str]) -> PriceFilters:
    return PriceFilters(models=tuple(model), providers=tuple(provider), components=tuple(component))


@router.get("/prices", response_model=PricePage, responses=_READ_ERRORS, tags=["prices"])
async def list_prices(
    request: Request,
    _: Catalog,
    model: Names = [],  # noqa: B006
    provider: Names = [],  # noqa: B006
    component: Names = [],  # noqa: B006
    as_of: Moment = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
    cursor: Cursor = None,
) -> Response:
    """The prices in force at `as_of` (default now), from the price timeline."""
    filters = _price_filters(model, provider, component)
    moment = as_utc(as_of) or datetime.now(UTC)
    page = _page(request, limit, cursor)
    return await answer(
        request,
        ["fct_price_timeline"],
        lambda conn: queries.prices_at(conn, filters, moment, page),
        clock=this_minute() if as_of is None else "",
    )


@router.get("/prices/history", response_model=PricePage, responses=_READ_ERRORS, tags=["prices"])
async def list_price_history(
    request: Request,
    _: Catalog,
    model: Names = [],  # noqa: B006
    provider: Names = [],  # noqa: B006
    component: Names = [],  # noqa: B006
    from_: Annotated[datetime | None, Query(alias="from", description="start (inclusive); default open")] = None,
    to: Annotated[datetime | None, Query(description="end (exclusive); default open")] = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
    cursor: Cursor = None,
) -> Response:
    """Every price interval of the timeline overlapping [from, to), by offering and component, oldest first."""
    start, end = as_utc(from_), as_utc(to)
    if start is not None and end is not None and end <= start:
        raise Problem(422, "Invalid request", "`to` must be after `from`")
    filters = _price_filters(model, provider, component)
    page = _page(request, limit, cursor)
    return await answer(
        request, ["fct_price_timeline"], lambda conn: queries.price_history(conn, filters, start, end, page)
    )


@router.get("/price-changes", response_model=PriceChangePage, responses=_READ_ERRORS, tags=["prices"])
async def list_price_changes(
    request: Request,
    _: Catalog,
    since: Moment = None,
    provider: Names = [],  # noqa: B006
    model: Names = [],  # noqa: B006
    min_pct: Annotated[float | None, Query(ge=0, le=1e9, description="the least change, in percent either way")] = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
    cursor: Cursor = None,
) -> Response:
    """Price changes, newest first."""
    moment = as_utc(since)
    page = _page(request, limit, cursor)
    return await answer(
        request,
        ["fct_price_changes"],
        lambda conn: queries.price_changes(conn, moment, provider, min_pct, page, model),
    )


_STATUS_MARTS = ("mart_status_current", "mart_provider_uptime_daily", "fct_incidents")


@router.get("/status", response_model=list[ProviderStatus], responses=_READ_ERRORS, tags=["status"])
async def list_status(request: Request, _: Catalog) -> Response:
    """Every provider's current status, open incidents and uptime over the last 30 days."""
    return await answer(request, _STATUS_MARTS, lambda conn: queries.statuses(conn), clock=today())


@router.get(
    "/status/{provider}",
    response_model=ProviderStatusDetail,
    responses={**_READ_ERRORS, **problem_responses(404)},
    tags=["status"],
)
async def get_status(request: Request, _: Catalog, provider: Annotated[str, Path(max_length=200)]) -> Response:
    """One provider's current status, open incidents and last 30 days, day by day."""

    async def produce(conn: Connection) -> ProviderStatusDetail:
        found = await queries.status_detail(conn, provider)
        if found is None:
            raise Problem(404, "Not found", f"no status for provider {provider!r}: list them with GET /v2/status")
        return found

    return await answer(request, _STATUS_MARTS, produce, clock=today())


@router.get("/outages", response_model=OutagePage, responses=_READ_ERRORS, tags=["status"])
async def list_outages(
    request: Request,
    _: Catalog,
    since: Moment = None,
    provider: Names = [],  # noqa: B006
    limit: Limit = DEFAULT_PAGE_SIZE,
    cursor: Cursor = None,
) -> Response:
    """Outages that started since `since` (or are still open), newest first."""
    moment = as_utc(since)
    page = _page(request, limit, cursor)
    return await answer(request, ["fct_outages"], lambda conn: queries.outages(conn, moment, provider, page))


@router.get("/usage", response_model=Usage, responses=_READ_ERRORS, tags=["usage"])
async def get_usage(
    request: Request,
    principal: UsageReader,
    from_: Annotated[date | None, Query(alias="from", description="first day (UTC); default 30 days ago")] = None,
    to: Annotated[date | None, Query(description="last day (UTC), inclusive; default today")] = None,
    group_by: UsageGroup = "team",
    team: Annotated[str | None, Query(max_length=200, description="one team (keys with usage:all)")] = None,
) -> Response:
    """Requests, tokens and cost by team, provider, model or day; the caller's team only unless its key has
    usage:all."""
    end = to or datetime.now(UTC).date()
    start = from_ or default_usage_start(end)
    if end < start:
        raise Problem(422, "Invalid request", "`to` must not be before `from`")
    scope = team_scope(principal, team)
    return await answer(
        request,
        ["mart_usage_daily"],
        lambda conn: queries.usage(conn, start, end, group_by, scope),
        scope,
        clock=today(),
    )


@router.get("/budgets", response_model=list[Budget], responses=_READ_ERRORS, tags=["usage"])
async def list_budgets(
    request: Request,
    principal: UsageReader,
    month: Annotated[date | None, Query(description="any day of the month; default the current UTC month")] = None,
    team: Annotated[str | None, Query(max_length=200, description="one team (keys with usage:all)")] = None,
) -> Response:
    """Budgets, spend to date and forecast of a month; the caller's team only unless its key has usage:all."""
    scope = team_scope(principal, team)
    return await answer(
        request, ["mart_budget_status"], lambda conn: queries.budgets(conn, month, scope), scope, clock=today()
    )
