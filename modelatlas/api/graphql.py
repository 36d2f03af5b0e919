"""GraphQL at /graphql: the same rows as REST v2, read by the same functions of `queries`. Nested fields are batched
by DataLoaders (one statement for the prices of every offering on a page, not one per offering), and a query is
refused when it is too deep, too long, has too many aliases, or would read too many rows (its complexity)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Annotated, Any, NewType, TypeVar, cast

import strawberry
from fastapi import Depends, Request
from graphql import FieldNode, GraphQLError, IntValueNode, ListValueNode, ValidationRule
from pydantic import BaseModel
from strawberry.dataloader import DataLoader
from strawberry.extensions import (
    AddValidationRules,
    MaskErrors,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
)
from strawberry.fastapi import BaseContext, GraphQLRouter
from strawberry.schema.config import StrawberryConfig
from strawberry.types import Info
from strawberry.types.scalar import ScalarDefinition

from modelatlas.api import queries, schemas
from modelatlas.api.auth import Principal, authorize, principal, team_scope
from modelatlas.api.context import ApiContext, context_of
from modelatlas.api.keys import CATALOG_READ, USAGE_READ
from modelatlas.api.problems import Problem
from modelatlas.api.queries import Capability, ModelFilters, PageRequest, PriceFilters, as_utc
from modelatlas.api.rest import default_usage_start
from modelatlas.api.settings import ApiSettings

DEFAULT_LIMIT = 100
UNEXPECTED_MESSAGE = "the API failed to answer; the error is in its log"
GraphType = TypeVar("GraphType")

BigInt = NewType("BigInt", int)
SCALARS: dict[object, ScalarDefinition] = {
    BigInt: strawberry.scalar(
        name="BigInt",
        serialize=int,
        parse_value=int,
        description="A whole number beyond GraphQL's 32-bit Int (token and request counts).",
    )
}
# The same capability names as REST, as a GraphQL enum.
strawberry.enum(Capability)


def rows(found: Sequence[BaseModel], graph_type: type[GraphType]) -> list[GraphType]:
    """The schema's rows as `graph_type` objects: a type derived from a pydantic model accepts that model's instances
    and reads their attributes, so the rows are served as they are. Converting each with `from_pydantic` resolved
    every field's type per row, which cost ten times the query itself."""
    return cast(list[GraphType], list(found))


@strawberry.experimental.pydantic.type(model=schemas.PricePoint, all_fields=True)
class PricePoint:
    pass


@strawberry.experimental.pydantic.type(model=schemas.PriceConsensus, all_fields=True)
class PriceConsensus:
    pass


@strawberry.experimental.pydantic.type(model=schemas.Offering, all_fields=True)
class Offering:
    canonical_model_id: strawberry.auto
    provider: strawberry.auto

    @strawberry.field(description="Its prices in force at `asOf` (default now), from the price timeline.")
    async def prices(self, info: Info, as_of: datetime | None = None) -> list[PricePoint]:
        moment = as_utc(as_of) or info.context.now
        points = await info.context.loaders.prices_at.load((self.canonical_model_id, self.provider, moment))
        return rows(points, PricePoint)


@strawberry.type(description="A model: its offerings and its current prices per source with the consensus.")
class Model:
    canonical_model_id: str

    @strawberry.field(description="The model at each provider.")
    async def offerings(self, info: Info) -> list[Offering]:
        found = await info.context.loaders.offerings.load(self.canonical_model_id)
        return rows(found, Offering)

    @strawberry.field(description="Each source's current price and the consensus, by provider and component.")
    async def prices(self, info: Info) -> list[PriceConsensus]:
        found = await info.context.loaders.consensus.load(self.canonical_model_id)
        return rows(found, PriceConsensus)


@strawberry.type
class OfferingPage:
    data: list[Offering]
    next_cursor: str | None


@strawberry.type
class PricePage:
    data: list[PricePoint]
    next_cursor: str | None


@strawberry.experimental.pydantic.type(model=schemas.PriceChange, all_fields=True)
class PriceChange:
    pass


@strawberry.type
class PriceChangePage:
    data: list[PriceChange]
    next_cursor: str | None


@strawberry.experimental.pydantic.type(model=schemas.Incident, all_fields=True)
class Incident:
    pass


@strawberry.experimental.pydantic.type(model=schemas.ProviderStatus, all_fields=True)
class ProviderStatus:
    pass


@strawberry.experimental.pydantic.type(model=schemas.Outage, all_fields=True)
class Outage:
    pass


@strawberry.type
class OutagePage:
    data: list[Outage]
    next_cursor: str | None


@strawberry.experimental.pydantic.type(model=schemas.UsageRow)
class UsageRow:
    group: strawberry.auto
    requests: BigInt | None
    prompt_tokens: BigInt
    output_tokens: BigInt
    cost_usd: strawberry.auto


@strawberry.type
class Usage:
    group_by: str
    date_from: date
    date_to: date
    team: str | None
    data: list[UsageRow]


@strawberry.experimental.pydantic.type(model=schemas.Budget, all_fields=True)
class Budget:
    pass


@dataclass
class Loaders:
    """The request's DataLoaders: each batches the keys one resolver pass asks for into one statement."""

    offerings: DataLoader[str, list[schemas.Offering]]
    consensus: DataLoader[str, list[schemas.PriceConsensus]]
    prices_at: DataLoader[tuple[str, str, datetime], list[schemas.PricePoint]]


class GraphContext(BaseContext):
    """One request's context: the caller, the API's context, its loaders and the moment it started."""

    def __init__(self, api: ApiContext, caller: Principal) -> None:
        super().__init__()
        self.api = api
        self.caller = caller
        self.now = datetime.now(UTC)
        self.loaders = Loaders(
            offerings=DataLoader(load_fn=self._batch(queries.offerings_of)),
            consensus=DataLoader(load_fn=self._batch(queries.prices_of)),
            prices_at=DataLoader(load_fn=self._prices_at),
        )

    def _batch(self, read: Any) -> Any:
        async def load(keys: Sequence[Any]) -> list[Any]:
            found = await self.read(lambda conn: read(conn, list(keys)))
            return [found[key] for key in keys]

        return load

    async def _prices_at(self, keys: Sequence[tuple[str, str, datetime]]) -> list[list[schemas.PricePoint]]:
        by_moment: dict[datetime, list[tuple[str, str]]] = defaultdict(list)
        for model, provider, moment in keys:
            by_moment[moment].append((model, provider))
        found: dict[tuple[str, str, datetime], list[schemas.PricePoint]] = {}

        async def read_all(conn: queries.Connection) -> None:
            for moment, offerings in by_moment.items():
                for offering, points in (await queries.prices_at_of(conn, offerings, moment)).items():
                    found[(*offering, moment)] = points

        await self.read(read_all)
        return [found[key] for key in keys]

    def allow(self, scope: str) -> None:
        """Raise a GraphQL error unless the caller holds `scope`."""
        try:
            authorize(self.caller, scope)
        except Problem as problem:
            raise graphql_error(problem) from None

    def team(self, asked: str | None) -> str | None:
        """The team the caller's usage figures are limited to (see `auth.team_scope`)."""
        try:
            return team_scope(self.caller, asked)
        except Problem as problem:
            raise graphql_error(problem) from None

    def page(self, limit: int | None, cursor: str | None) -> PageRequest:
        size = DEFAULT_LIMIT if limit is None else limit
        if not 1 <= size <= self.api.settings.page_size_max:
            raise bad_input(f"limit must be between 1 and {self.api.settings.page_size_max}")
        return PageRequest(limit=size, cursor=cursor)

    async def read(self, produce: Any) -> Any:
        """Run `produce` on a reader connection; a problem (a bad cursor, a mart not built yet, say) becomes a GraphQL
        error."""
        try:
            async with queries.reading(self.api.marts) as conn:
                return await produce(conn)
        except Problem as problem:
            raise graphql_error(problem) from None


# Error codes as Apollo Server names them, which GraphQL clients and tools read to tell a refused request from a
# failure of the server (an error without a code).
BAD_USER_INPUT = "BAD_USER_INPUT"
_CODES = {401: "UNAUTHENTICATED", 403: "FORBIDDEN", 503: "SERVICE_UNAVAILABLE"}


def bad_input(message: str) -> GraphQLError:
    """A GraphQL error for arguments the API refuses, marked as the caller's to fix."""
    return GraphQLError(message, extensions={"code": BAD_USER_INPUT})


def graphql_error(problem: Problem) -> GraphQLError:
    """A problem as a GraphQL error, its status and code kept in the extensions."""
    code = _CODES.get(problem.status, BAD_USER_INPUT if problem.status < 500 else "INTERNAL_SERVER_ERROR")
    return GraphQLError(problem.detail, extensions={"code": code, "status": problem.status, "title": problem.title})


GraphInfo = Info


@strawberry.type
class Query:
    @strawberry.field(description="Offerings (a model at a provider), filtered and sorted, a page at a time.")
    async def offerings(
        self,
        info: GraphInfo,
        provider: list[str] | None = None,
        model: list[str] | None = None,
        capability: list[Capability] | None = None,
        input_modality: list[str] | None = None,
        output_modality: list[str] | None = None,
        region: list[str] | None = None,
        min_context: int | None = None,
        max_input_price: float | None = None,
        max_output_price: float | None = None,
        max_blended_price: float | None = None,
        open_weights: bool | None = None,
        available: bool | None = None,
        sort: str = "canonical_model_id",
        limit: int | None = None,
        cursor: str | None = None,
    ) -> OfferingPage:
        info.context.allow(CATALOG_READ)
        if sort.removeprefix("-") not in queries.MODEL_SORTS:
            raise bad_input(f"sort must be one of {', '.join(queries.MODEL_SORTS)}, `-` before it for descending")
        filters = ModelFilters(
            providers=tuple(provider or ()),
            models=tuple(model or ()),
            capabilities=tuple(capability or ()),
            input_modalities=tuple(input_modality or ()),
            output_modalities=tuple(output_modality or ()),
            regions=tuple(region or ()),
            min_context=min_context,
            max_input_price=max_input_price,
            max_output_price=max_output_price,
            max_blended_price=max_blended_price,
            open_weights=open_weights,
            available=available,
        )
        page = info.context.page(limit, cursor)
        found = await info.context.read(lambda conn: queries.models_page(conn, filters, sort, page))
        return OfferingPage(data=rows(found.data, Offering), next_cursor=found.next_cursor)

    @strawberry.field(description="Models by canonical id, each with its offerings and prices.")
    async def models(self, info: GraphInfo, ids: list[str]) -> list[Model]:
        info.context.allow(CATALOG_READ)
        if len(ids) > info.context.api.settings.page_size_max:
            raise bad_input(f"ask for at most {info.context.api.settings.page_size_max} models at once")
        found = await info.context.loaders.offerings.load_many(ids)
        return [Model(canonical_model_id=model_id) for model_id, offerings in zip(ids, found, strict=True) if offerings]

    @strawberry.field(description="The prices in force at `asOf` (default now).")
    async def prices(
        self,
        info: GraphInfo,
        model: list[str] | None = None,
        provider: list[str] | None = None,
        component: list[str] | None = None,
        as_of: datetime | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> PricePage:
        info.context.allow(CATALOG_READ)
        filters = PriceFilters(tuple(model or ()), tuple(provider or ()), tuple(component or ()))
        moment = as_utc(as_of) or info.context.now
        page = info.context.page(limit, cursor)
        found = await info.context.read(lambda conn: queries.prices_at(conn, filters, moment, page))
        return PricePage(data=rows(found.data, PricePoint), next_cursor=found.next_cursor)

    @strawberry.field(description="Price intervals overlapping [from, to).")
    async def price_history(
        self,
        info: GraphInfo,
        model: list[str] | None = None,
        provider: list[str] | None = None,
        component: list[str] | None = None,
        start: Annotated[datetime | None, strawberry.argument(name="from")] = None,
        end: Annotated[datetime | None, strawberry.argument(name="to")] = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> PricePage:
        info.context.allow(CATALOG_READ)
        filters = PriceFilters(tuple(model or ()), tuple(provider or ()), tuple(component or ()))
        page = info.context.page(limit, cursor)
        found = await info.context.read(
            lambda conn: queries.price_history(conn, filters, as_utc(start), as_utc(end), page)
        )
        return PricePage(data=rows(found.data, PricePoint), next_cursor=found.next_cursor)

    @strawberry.field(description="Price changes, newest first.")
    async def price_changes(
        self,
        info: GraphInfo,
        since: datetime | None = None,
        provider: list[str] | None = None,
        model: list[str] | None = None,
        min_pct: float | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> PriceChangePage:
        info.context.allow(CATALOG_READ)
        page = info.context.page(limit, cursor)
        found = await info.context.read(
            lambda conn: queries.price_changes(conn, as_utc(since), provider or [], min_pct, page, model or [])
        )
        return PriceChangePage(data=rows(found.data, PriceChange), next_cursor=found.next_cursor)

    @strawberry.field(description="Each provider's current status, open incidents and 30-day uptime.")
    async def status(self, info: GraphInfo, provider: list[str] | None = None) -> list[ProviderStatus]:
        info.context.allow(CATALOG_READ)
        found = await info.context.read(lambda conn: queries.statuses(conn, provider or []))
        return rows(found, ProviderStatus)

    @strawberry.field(description="Outages since `since` or still open, newest first.")
    async def outages(
        self,
        info: GraphInfo,
        since: datetime | None = None,
        provider: list[str] | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> OutagePage:
        info.context.allow(CATALOG_READ)
        page = info.context.page(limit, cursor)
        found = await info.context.read(lambda conn: queries.outages(conn, as_utc(since), provider or [], page))
        return OutagePage(data=rows(found.data, Outage), next_cursor=found.next_cursor)

    @strawberry.field(description="Usage and cost by team, provider, model or day; the caller's team unless usage:all.")
    async def usage(
        self,
        info: GraphInfo,
        start: Annotated[date | None, strawberry.argument(name="from")] = None,
        end: Annotated[date | None, strawberry.argument(name="to")] = None,
        group_by: str = "team",
        team: str | None = None,
    ) -> Usage:
        info.context.allow(USAGE_READ)
        if group_by not in ("team", "provider", "model", "day"):
            raise bad_input("groupBy must be team, provider, model or day")
        last = end or info.context.now.date()
        first = start or default_usage_start(last)
        if last < first:
            raise bad_input("`to` must not be before `from`")
        scope = info.context.team(team)
        found = await info.context.read(lambda conn: queries.usage(conn, first, last, group_by, scope))  # type: ignore[arg-type]
        return Usage(
            group_by=found.group_by,
            date_from=found.date_from,
            date_to=found.date_to,
            team=found.team,
            data=rows(found.data, UsageRow),
        )

    @strawberry.field(description="Budgets of a month; the caller's team unless usage:all.")
    async def budgets(self, info: GraphInfo, month: date | None = None, team: str | None = None) -> list[Budget]:
        info.context.allow(USAGE_READ)
        scope = info.context.team(team)
        found = await info.context.read(lambda conn: queries.budgets(conn, month, scope))
        return rows(found, Budget)


# List fields that return a page, or every row of their parent, when the query gives no `limit`: up to a page.
_LIST_FIELDS = frozenset({"offerings", "models", "prices", "priceHistory", "priceChanges", "outages"})


def complexity_rule(most: int, page_max: int, default_limit: int = DEFAULT_LIMIT) -> type[ValidationRule]:
    """A validation rule refusing a query whose estimated rows exceed `most`: each field costs one, times what every
    list field above it may return: its `limit` (the largest page when the limit is a variable), the length of its
    `ids`, or else a default page."""

    class Complexity(ValidationRule):
        def enter_operation_definition(self, node: Any, *_: Any) -> None:
            total = _cost(node.selection_set, 1, page_max, default_limit)
            if total > most:
                self.report_error(
                    GraphQLError(f"the query would read about {total} rows, more than {most}: ask for less")
                )

    return Complexity


def _cost(selection_set: Any, multiplier: int, page_max: int, default_limit: int) -> int:
    if selection_set is None:
        return 0
    total = 0
    for selection in selection_set.selections:
        if not isinstance(selection, FieldNode):
            total += _cost(getattr(selection, "selection_set", None), multiplier, page_max, default_limit)
            continue
        total += multiplier
        if selection.selection_set is not None:
            fan_out = _fan_out(selection, page_max, default_limit)
            total += _cost(selection.selection_set, multiplier * fan_out, page_max, default_limit)
    return total


def _fan_out(node: FieldNode, page_max: int, default_limit: int) -> int:
    """How many rows a field may return, from its arguments as written in the query."""
    for argument in node.arguments or ():
        value = argument.value
        if argument.name.value == "limit":
            return max(1, int(value.value)) if isinstance(value, IntValueNode) else page_max
        if argument.name.value == "ids":
            return max(1, len(value.values)) if isinstance(value, ListValueNode) else page_max
    return default_limit if node.name.value in _LIST_FIELDS else 1


def unexpected(error: GraphQLError) -> bool:
    """Whether an error is a failure of the API (its message is kept from the client, as REST's 500 is; Strawberry
    logs it) rather than a refusal the API meant: a GraphQLError raised on purpose, or a query that is not valid."""
    return error.original_error is not None and not isinstance(error.original_error, GraphQLError)


def build_schema(settings: ApiSettings) -> strawberry.Schema:
    """The schema with the depth, token, alias and complexity limits of `settings`."""
    return strawberry.Schema(
        query=Query,
        config=StrawberryConfig(scalar_map=SCALARS),
        extensions=[
            lambda: QueryDepthLimiter(max_depth=settings.graphql_max_depth),
            lambda: MaxTokensLimiter(max_token_count=settings.graphql_max_tokens),
            lambda: MaxAliasesLimiter(max_alias_count=settings.graphql_max_aliases),
            lambda: AddValidationRules([complexity_rule(settings.graphql_max_complexity, settings.page_size_max)]),
            lambda: MaskErrors(should_mask_error=unexpected, error_message=UNEXPECTED_MESSAGE),
        ],
    )


def graphql_router(settings: ApiSettings) -> GraphQLRouter[GraphContext, None]:
    """`/graphql`: POST queries (and GET for the GraphiQL page); the caller is found as for REST."""

    async def context(request: Request, caller: Principal = Depends(principal)) -> GraphContext:  # noqa: B008
        return GraphContext(context_of(request), caller)

    return GraphQLRouter(build_schema(settings), context_getter=context, prefix="/graphql")
