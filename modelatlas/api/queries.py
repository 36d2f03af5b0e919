"""Every read the API makes, REST and GraphQL alike: each function takes a connection (as `modelatlas_reader`) and
typed arguments, binds every user value, and returns the schemas' rows. Column and sort names come from whitelists.
The batch functions (`..._of`) answer many parents in one statement, for GraphQL's DataLoaders and REST alike."""

from __future__ import annotations

import functools
import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Hashable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import StrEnum
from operator import itemgetter
from typing import Any, TypeVar

import psycopg
from psycopg import AsyncConnection, sql
from psycopg_pool import AsyncConnectionPool, PoolTimeout
from pydantic import BaseModel, TypeAdapter

from modelatlas.api.pages import Keyset, decode_cursor, split_page
from modelatlas.api.problems import Problem
from modelatlas.api.schemas import (
    Budget,
    Incident,
    ModelPage,
    Offering,
    Outage,
    OutagePage,
    PriceChange,
    PriceChangePage,
    PriceConsensus,
    PricePage,
    PricePoint,
    ProviderStatus,
    ProviderStatusDetail,
    UptimeDay,
    Usage,
    UsageGroup,
    UsageRow,
)

log = logging.getLogger(__name__)

MART_SCHEMA = "marts"
Connection = AsyncConnection[dict[str, Any]]
RowType = TypeVar("RowType", bound=BaseModel)
KeyType = TypeVar("KeyType", bound=Hashable)
UPTIME_DAYS = 30
USAGE_GROUPS_MAX = 10_000


class Capability(StrEnum):
    """A capability flag of `mart_model_comparison`."""

    vision = "vision"
    tools = "tools"
    reasoning = "reasoning"
    structured_output = "structured_output"
    batch = "batch"


# Sortable columns of the model listing and the type their text form is read back as.
MODEL_SORTS: dict[str, str] = {
    "canonical_model_id": "text",
    "provider": "text",
    "display_name": "text",
    "context_window": "numeric",
    "max_output_tokens": "numeric",
    "input_price_per_mtok": "numeric",
    "output_price_per_mtok": "numeric",
    "blended_price_per_mtok": "numeric",
    "release_date": "date",
    "availability_30d_pct": "numeric",
}
# What a null sorts as, so that a number or date left unknown comes last either way (NaN is above every numeric);
# an unknown text comes first ascending.
_NULL_LAST_ASCENDING = {"text": "''", "numeric": "'NaN'::numeric", "date": "'infinity'::date"}
_NULL_LAST_DESCENDING = {"text": "''", "numeric": "'-Infinity'::numeric", "date": "'-infinity'::date"}
_OFFERING_COLUMNS = tuple(Offering.model_fields)


@dataclass(frozen=True)
class ModelFilters:
    """The filters of `GET /v2/models` (every one optional; lists match any of their values)."""

    providers: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    capabilities: tuple[Capability, ...] = ()
    input_modalities: tuple[str, ...] = ()
    output_modalities: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    min_context: int | None = None
    max_input_price: float | None = None
    max_output_price: float | None = None
    max_blended_price: float | None = None
    open_weights: bool | None = None
    available: bool | None = None


@dataclass(frozen=True)
class PageRequest:
    """Which page: its size, and the cursor of the page before (none for the first)."""

    limit: int
    cursor: str | None = None


@dataclass
class Where:
    """Conditions joined by `and`, with their parameters in order."""

    conditions: list[sql.Composable] = field(default_factory=list)
    params: list[Any] = field(default_factory=list)

    def add(self, condition: str | sql.Composable, *params: Any) -> None:
        self.conditions.append(sql.SQL(condition) if isinstance(condition, str) else condition)
        self.params.extend(params)

    def add_any(self, column: str, values: Sequence[Any]) -> None:
        if values:
            self.add(sql.SQL("{} = any(%s)").format(sql.Identifier(column)), list(values))

    def sql(self) -> sql.Composable:
        if not self.conditions:
            return sql.SQL("true")
        return sql.SQL(" and ").join(sql.SQL("({})").format(condition) for condition in self.conditions)


def model_keyset(sort: str) -> Keyset:
    """The order of the model listing by `sort` (a column of `MODEL_SORTS`, `-` before it for descending); the
    offering's key breaks ties."""
    descending = sort.startswith("-")
    column = sort.removeprefix("-")
    kind = MODEL_SORTS[column]
    stand_in = (_NULL_LAST_DESCENDING if descending else _NULL_LAST_ASCENDING)[kind]
    expression = f"coalesce({column}, {stand_in})"
    key = (("canonical_model_id", "text"), ("provider", "text"))
    expressions = key if column in ("canonical_model_id",) else ((expression, kind), *key)
    return Keyset(f"models:{sort}", expressions, descending)


def model_filters_where(filters: ModelFilters) -> Where:
    """`filters` as SQL over `mart_model_comparison`."""
    where = Where()
    where.add_any("provider", filters.providers)
    where.add_any("canonical_model_id", filters.models)
    where.add_any("region", filters.regions)
    for capability in filters.capabilities:
        where.add(sql.SQL("{}").format(sql.Identifier(f"supports_{capability.value}")))
    if filters.input_modalities:
        where.add("input_modalities @> %s::text[]", list(filters.input_modalities))
    if filters.output_modalities:
        where.add("output_modalities @> %s::text[]", list(filters.output_modalities))
    if filters.min_context is not None:
        where.add("context_window >= %s", filters.min_context)
    for column, bound in (
        ("input_price_per_mtok", filters.max_input_price),
        ("output_price_per_mtok", filters.max_output_price),
        ("blended_price_per_mtok", filters.max_blended_price),
    ):
        if bound is not None:
            where.add(sql.SQL("{} <= %s").format(sql.Identifier(column)), bound)
    if filters.open_weights is not None:
        where.add("open_weights = %s", filters.open_weights)
    if filters.available is not None:
        where.add("is_available = %s", filters.available)
    return where


def _columns(names: Sequence[str]) -> sql.Composable:
    return sql.SQL(", ").join(sql.Identifier(name) for name in names)


def as_utc(moment: datetime | None) -> datetime | None:
    """A moment from a request in UTC: one given without a zone is taken as UTC."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


@asynccontextmanager
async def reading(pool: AsyncConnectionPool[Any], marts: Sequence[str] = ()) -> AsyncIterator[Connection]:
    """A reader connection from `pool`, for REST and GraphQL alike: the warehouse's troubles while it is used
    (every connection busy, a mart not built yet, a query past the timeout, the server gone) become 503 problems
    that say what to do; `marts` names what the reads need, for the not-built message."""
    try:
        async with pool.connection() as conn:
            yield conn
    except PoolTimeout:
        detail = "every warehouse connection is in use: retry shortly"
        raise Problem(503, "Busy", detail, {"Retry-After": "1"}) from None
    except psycopg.errors.UndefinedTable:
        needed = f" ({', '.join(marts)})" if marts else ""
        raise Problem(
            503,
            "Not built yet",
            f"a mart this answer reads{needed} is not built yet: run `make run` (or `make run SAMPLE=1`)",
            {"Retry-After": "60"},
        ) from None
    except psycopg.errors.QueryCanceled:
        raise Problem(503, "Too slow", "the query ran past MODELATLAS_API_STATEMENT_TIMEOUT_MS: narrow it") from None
    except psycopg.OperationalError:
        log.warning("the warehouse could not be reached", exc_info=True)
        raise Problem(503, "Warehouse unavailable", "the warehouse could not be reached: retry shortly") from None


async def _rows(conn: Connection, statement: sql.SQL | sql.Composed, params: Sequence[Any]) -> list[dict[str, Any]]:
    try:
        cursor = await conn.execute(statement, list(params))
    except psycopg.DataError:
        # A value PostgreSQL cannot take (text holding a NUL byte, say) is the request's fault, not the API's. The
        # error's own message may quote the value, so it is not passed on.
        raise Problem(
            422, "Invalid request", "a parameter holds a value the warehouse cannot compare (a NUL byte?): remove it"
        ) from None
    rows: list[dict[str, Any]] = await cursor.fetchall()
    return rows


def _grouped(
    rows: list[dict[str, Any]],
    model: type[RowType],
    keys: Sequence[KeyType],
    key_of: Callable[[dict[str, Any]], KeyType],
) -> dict[KeyType, list[RowType]]:
    """`rows` as `model`s under the key each belongs to, in their order: every key of `keys` present, with none for
    a key no row has (what a DataLoader batch answers)."""
    found: dict[KeyType, list[RowType]] = defaultdict(list)
    for row in rows:
        found[key_of(row)].append(model.model_validate(row))
    return {key: found.get(key, []) for key in keys}


def _page_statement(
    columns: Sequence[str], relation: str, where: Where, keyset: Keyset, page: PageRequest
) -> tuple[sql.Composed, list[Any]]:
    """A page of `relation` in `keyset`'s order: one row more than asked, to know whether another page follows."""
    if page.cursor is not None:
        condition, params = keyset.after(decode_cursor(keyset, page.cursor))
        where.add(condition, *params)
    statement = sql.SQL("select {}, {} from {} where {} order by {} limit %s").format(
        _columns(columns), keyset.cursor_column(), sql.SQL(relation), where.sql(), keyset.order_by()
    )
    return statement, [*where.params, page.limit + 1]


async def _page(
    conn: Connection, model: type[RowType], relation: str, where: Where, keyset: Keyset, page: PageRequest
) -> tuple[list[RowType], str | None]:
    statement, params = _page_statement(tuple(model.model_fields), relation, where, keyset, page)
    rows, following = split_page(await _rows(conn, statement, params), page.limit, keyset)
    return validate_rows(model, rows), following


@functools.cache
def _list_of(model: type[BaseModel]) -> TypeAdapter[list[Any]]:
    return TypeAdapter(list[model])  # type: ignore[valid-type]


def validate_rows(model: type[RowType], rows: list[dict[str, Any]]) -> list[RowType]:
    """`rows` as `model`s, validated in one call (the cursor column and any other extra is ignored): a page of 50
    validated row by row took a tenth of a request's time."""
    validated: list[RowType] = _list_of(model).validate_python(rows)
    return validated


# Models


async def models_page(conn: Connection, filters: ModelFilters, sort: str, page: PageRequest) -> ModelPage:
    """A page of offerings matching `filters`, in `sort`'s order."""
    keyset = model_keyset(sort)
    data, following = await _page(
        conn, Offering, "marts.mart_model_comparison", model_filters_where(filters), keyset, page
    )
    return ModelPage(data=data, next_cursor=following)


async def offerings_of(conn: Connection, model_ids: Sequence[str]) -> dict[str, list[Offering]]:
    """Each model's offerings, by provider."""
    statement = sql.SQL(
        "select {} from marts.mart_model_comparison where canonical_model_id = any(%s) order by provider"
    ).format(_columns(_OFFERING_COLUMNS))
    rows = await _rows(conn, statement, [list(model_ids)])
    return _grouped(rows, Offering, model_ids, itemgetter("canonical_model_id"))


async def prices_of(conn: Connection, model_ids: Sequence[str]) -> dict[str, list[PriceConsensus]]:
    """Each model's current prices per source and the consensus, by provider, component and unit."""
    statement = sql.SQL(
        "select {} from marts.mart_price_consensus where canonical_model_id = any(%s) "
        "order by provider, component, unit"
    ).format(_columns(tuple(PriceConsensus.model_fields)))
    rows = await _rows(conn, statement, [list(model_ids)])
    return _grouped(rows, PriceConsensus, model_ids, itemgetter("canonical_model_id"))


# Prices


@dataclass(frozen=True)
class PriceFilters:
    """Which prices: every one optional."""

    models: tuple[str, ...] = ()
    providers: tuple[str, ...] = ()
    components: tuple[str, ...] = ()


_TIMELINE_KEY = (
    ("provider", "text"),
    ("canonical_model_id", "text"),
    ("component", "text"),
    ("service_tier", "text"),
    ("condition", "text"),
    ("region", "text"),
)
PRICES_KEYSET = Keyset("prices", _TIMELINE_KEY)
HISTORY_KEYSET = Keyset("prices-history", (*_TIMELINE_KEY, ("coalesce(valid_from, '-infinity')", "timestamptz")))


def _price_where(filters: PriceFilters) -> Where:
    where = Where()
    where.add_any("canonical_model_id", filters.models)
    where.add_any("provider", filters.providers)
    where.add_any("component", filters.components)
    return where


def in_force_at(where: Where, moment: datetime) -> None:
    """Intervals in force at `moment`: valid_from <= moment < valid_to, a null bound being open."""
    where.add("(valid_from is null or valid_from <= %s) and (valid_to is null or %s < valid_to)", moment, moment)


async def prices_at(conn: Connection, filters: PriceFilters, moment: datetime, page: PageRequest) -> PricePage:
    """The prices in force at `moment`, from the timeline."""
    where = _price_where(filters)
    in_force_at(where, moment)
    data, following = await _page(conn, PricePoint, "marts.fct_price_timeline", where, PRICES_KEYSET, page)
    return PricePage(data=data, next_cursor=following)


async def prices_at_of(
    conn: Connection, offerings: Sequence[tuple[str, str]], moment: datetime
) -> dict[tuple[str, str], list[PricePoint]]:
    """The prices of each (canonical model, provider) in force at `moment`."""
    where = Where()
    where.add(
        "(canonical_model_id, provider) in (select * from unnest(%s::text[], %s::text[]))",
        [model for model, _ in offerings],
        [provider for _, provider in offerings],
    )
    in_force_at(where, moment)
    statement = sql.SQL("select {} from marts.fct_price_timeline where {} order by {}").format(
        _columns(tuple(PricePoint.model_fields)), where.sql(), PRICES_KEYSET.order_by()
    )
    rows = await _rows(conn, statement, where.params)
    return _grouped(rows, PricePoint, offerings, itemgetter("canonical_model_id", "provider"))


async def price_history(
    conn: Connection, filters: PriceFilters, start: datetime | None, end: datetime | None, page: PageRequest
) -> PricePage:
    """The intervals of the timeline that overlap [start, end) (an open bound when not given)."""
    where = _price_where(filters)
    if end is not None:
        where.add("valid_from is null or valid_from < %s", end)
    if start is not None:
        where.add("valid_to is null or valid_to > %s", start)
    data, following = await _page(conn, PricePoint, "marts.fct_price_timeline", where, HISTORY_KEYSET, page)
    return PricePage(data=data, next_cursor=following)


CHANGES_KEYSET = Keyset("price-changes", (("changed_at", "timestamptz"), ("price_change_id", "text")), descending=True)


async def price_changes(
    conn: Connection,
    since: datetime | None,
    providers: Sequence[str],
    min_pct: float | None,
    page: PageRequest,
    models: Sequence[str] = (),
) -> PriceChangePage:
    """Price changes since `since`, newest first; at least `min_pct` percent either way when given."""
    where = Where()
    if since is not None:
        where.add("changed_at >= %s", since)
    where.add_any("provider", providers)
    where.add_any("canonical_model_id", models)
    if min_pct is not None:
        where.add("abs(price_change_pct) >= %s", min_pct)
    data, following = await _page(conn, PriceChange, "marts.fct_price_changes", where, CHANGES_KEYSET, page)
    return PriceChangePage(data=data, next_cursor=following)


# Status


async def statuses(conn: Connection, providers: Sequence[str] = ()) -> list[ProviderStatus]:
    """Each provider's current status, open incidents and uptime over the last 30 days."""
    where = Where()
    where.add_any("provider", providers)
    status_columns = [name for name in ProviderStatus.model_fields if name not in ("uptime_30d_pct", "open_incidents")]
    statement = sql.SQL(
        "select {columns}, uptime.uptime_30d_pct from marts.mart_status_current as status "
        "left join lateral ("
        "  select (100.0 * sum(probes_ok) / nullif(sum(probes), 0))::float8 as uptime_30d_pct "
        "  from marts.mart_provider_uptime_daily as daily "
        "  where daily.provider = status.provider and daily.day > current_date - %s"
        ") as uptime on true where {where} order by provider"
    ).format(
        columns=sql.SQL(", ").join(sql.SQL("status.{}").format(sql.Identifier(name)) for name in status_columns),
        where=where.sql(),
    )
    rows = await _rows(conn, statement, [UPTIME_DAYS, *where.params])
    incidents = await open_incidents_of(conn, [row["provider"] for row in rows])
    return [ProviderStatus.model_validate({**row, "open_incidents": incidents[row["provider"]]}) for row in rows]


async def open_incidents_of(conn: Connection, providers: Sequence[str]) -> dict[str, list[Incident]]:
    """Each provider's open incidents, newest first."""
    statement = sql.SQL(
        "select {} from marts.fct_incidents where is_open and provider = any(%s) order by created_at desc nulls last"
    ).format(_columns(tuple(Incident.model_fields)))
    rows = await _rows(conn, statement, [list(providers)])
    return _grouped(rows, Incident, providers, itemgetter("provider"))


async def uptime_days_of(conn: Connection, providers: Sequence[str]) -> dict[str, list[UptimeDay]]:
    """Each provider's last 30 days, all regions together, oldest first."""
    statement = sql.SQL(
        "select provider, day, sum(probes)::bigint as probes, "
        "(100.0 * sum(probes_ok) / nullif(sum(probes), 0))::float8 as availability_pct, "
        "max(latency_p50_ms)::float8 as latency_p50_ms, max(latency_p95_ms)::float8 as latency_p95_ms, "
        "max(minutes_major_outage)::float8 as minutes_major_outage, max(incidents)::bigint as incidents "
        "from marts.mart_provider_uptime_daily where provider = any(%s) and day > current_date - %s "
        "group by provider, day order by provider, day"
    )
    rows = await _rows(conn, statement, [list(providers), UPTIME_DAYS])
    return _grouped(rows, UptimeDay, providers, itemgetter("provider"))


async def status_detail(conn: Connection, provider: str) -> ProviderStatusDetail | None:
    """One provider's status with its last 30 days; None when the status mart does not know it."""
    found = await statuses(conn, [provider])
    if not found:
        return None
    days = await uptime_days_of(conn, [provider])
    return ProviderStatusDetail.model_validate({**found[0].model_dump(), "uptime_days": days[provider]})


OUTAGES_KEYSET = Keyset("outages", (("started_at", "timestamptz"), ("outage_id", "text")), descending=True)


async def outages(conn: Connection, since: datetime | None, providers: Sequence[str], page: PageRequest) -> OutagePage:
    """Outages that started since `since` or are still open, newest first."""
    where = Where()
    if since is not None:
        where.add("started_at >= %s or is_open", since)
    where.add_any("provider", providers)
    data, following = await _page(conn, Outage, "marts.fct_outages", where, OUTAGES_KEYSET, page)
    return OutagePage(data=data, next_cursor=following)


# Usage

_USAGE_GROUP_EXPRESSIONS: dict[str, str] = {
    "team": "team",
    "provider": "provider",
    "model": "coalesce(canonical_model_id, 'unknown')",
    "day": "to_char(day, 'YYYY-MM-DD')",
}


async def usage(conn: Connection, start: date, end: date, group_by: UsageGroup, team: str | None) -> Usage:
    """Requests, tokens and cost over [start, end] by `group_by`; one team's only when `team` is given."""
    where = Where()
    where.add("day between %s and %s", start, end)
    if team is not None:
        where.add("team = %s", team)
    group = sql.SQL(_USAGE_GROUP_EXPRESSIONS[group_by])
    statement = sql.SQL(
        # A day with costs but no usage records (a bill line) has null counts: they add nothing.
        "select {group} as group, coalesce(sum(requests), 0)::bigint as requests, "
        "coalesce(sum(prompt_tokens), 0)::bigint as prompt_tokens, "
        "coalesce(sum(output_tokens), 0)::bigint as output_tokens, coalesce(sum(cost_usd), 0)::float8 as cost_usd "
        "from marts.mart_usage_daily where {where} group by 1 order by 1 limit %s"
    ).format(group=group, where=where.sql())
    rows = await _rows(conn, statement, [*where.params, USAGE_GROUPS_MAX])
    return Usage(
        group_by=group_by,
        date_from=start,
        date_to=end,
        team=team,
        data=[UsageRow.model_validate(row) for row in rows],
    )


async def budgets(conn: Connection, month: date | None, team: str | None) -> list[Budget]:
    """The budgets of `month` (default the current UTC month); one team's only when `team` is given."""
    where = Where()
    if month is None:
        where.add("month = date_trunc('month', (now() at time zone 'utc'))::date")
    else:
        where.add("month = date_trunc('month', %s::date)::date", month)
    if team is not None:
        where.add("team = %s", team)
    statement = sql.SQL("select {} from marts.mart_budget_status where {} order by scope, subject").format(
        _columns(tuple(Budget.model_fields)), where.sql()
    )
    return [Budget.model_validate(row) for row in await _rows(conn, statement, where.params)]
