"""Anthropic's organisation usage and cost: hourly token usage and daily costs from the Admin API, read incrementally.

Two APIs report them (`MODELATLAS_ANTHROPIC_USAGE_API`): the legacy reports (`/v1/organizations/usage_report/messages`
and `/v1/organizations/cost_report`, grouped by API key, workspace and the rest) and the analytics API in beta
(`/v1/organizations/analytics/usage_report` and `.../cost_report`, grouped by model, context window and region;
ranges of at most 31 days). Every row says which one it came from. Costs come as decimal strings in cents and are
kept as exact US dollars.

Each run reads from two buckets before the newest bucket the last run read (Anthropic restates recent buckets), the
first run `MODELATLAS_USAGE_BACKFILL_DAYS` back; rows merge on a key of their bucket and groups, never their counts.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from modelatlas.errors import ConfigurationError, SourceError
from modelatlas.pipelines.catalog import batch_id
from modelatlas.pipelines.coerce import as_integer, as_mapping, as_text, as_timestamp
from modelatlas.pipelines.http import ApiClient
from modelatlas.pipelines.spec import (
    Batch,
    Credential,
    DataType,
    FetchStats,
    Request,
    Setting,
    Simulated,
    SourceSpec,
)
from modelatlas.pipelines.usage_windows import (
    BACKFILL_SETTING,
    DAY,
    HOUR,
    bucket_key,
    bucket_table,
    newest_cursor,
    rows_or_empty,
    window_start,
)

SOURCE = "anthropic_usage"
USAGE_TABLE = "usage_buckets"
COST_TABLE = "cost_buckets"
API_VERSION = "2023-06-01"
API_VARIABLE = "MODELATLAS_ANTHROPIC_USAGE_API"
APIS = ("legacy", "analytics")
ANALYTICS_BETA = "analytics-usage-cost-2026-08-24"
# The analytics API answers no range starting before this (its documented floor) nor spanning more than 31 days.
ANALYTICS_EARLIEST = datetime(2026, 1, 1, tzinfo=UTC)
ANALYTICS_MAX_SPAN = timedelta(days=31)
CENTS_PER_USD = Decimal(100)
TOKEN_RANGE = (0, 10**15)

USAGE_DIMENSIONS = ("api_key_id", "workspace_id", "model", "service_tier", "context_window", "inference_geo")
COST_DIMENSIONS = ("workspace_id", "description", "cost_type", "token_type", "model", "service_tier", "context_window")
TOKEN_COLUMNS = (
    "uncached_input_tokens",
    "cache_creation_5m_tokens",
    "cache_creation_1h_tokens",
    "cache_read_input_tokens",
    "output_tokens",
    "web_search_requests",
)
BUCKET_COLUMNS: dict[str, DataType] = {
    "bucket_key": "text",
    "api": "text",
    "bucket_start": "timestamp",
    "bucket_end": "timestamp",
}
FETCH_COLUMNS: dict[str, DataType] = {"payload": "json", "fetched_at": "timestamp", "batch_id": "text"}
USAGE_COLUMNS: dict[str, DataType] = {
    **BUCKET_COLUMNS,
    **dict.fromkeys(USAGE_DIMENSIONS, "text"),
    **dict.fromkeys(TOKEN_COLUMNS, "bigint"),
    **FETCH_COLUMNS,
}
COST_COLUMNS: dict[str, DataType] = {
    **BUCKET_COLUMNS,
    **dict.fromkeys(COST_DIMENSIONS, "text"),
    "amount_usd": "decimal",
    "currency": "text",
    **FETCH_COLUMNS,
}
USAGE_NOT_NULL = ("bucket_key", "api", "bucket_start", "bucket_end", "fetched_at", "batch_id")
COST_NOT_NULL = (*USAGE_NOT_NULL, "amount_usd")


@dataclass(frozen=True)
class Report:
    """One report endpoint as this source asks it: its path, bucket width, page size and groupings."""

    path: str
    bucket: timedelta
    bucket_width: str
    # Buckets a page: the API's maximum for the bucket width.
    limit: int
    group_by: tuple[str, ...]
    # The longest range one request may span (None: any).
    max_span: timedelta | None = None
    # The earliest start the API answers (None: any).
    earliest: datetime | None = None
    params: Mapping[str, str] = dataclasses.field(default_factory=dict)


@dataclass(frozen=True)
class Api:
    """One of Anthropic's two usage APIs: its usage and cost reports and the headers it needs besides the key."""

    name: str
    usage: Report
    cost: Report
    headers: Mapping[str, str]


LEGACY = Api(
    name="legacy",
    usage=Report("v1/organizations/usage_report/messages", HOUR, "1h", 168, USAGE_DIMENSIONS),
    cost=Report("v1/organizations/cost_report", DAY, "1d", 31, ("workspace_id", "description")),
    headers={},
)
# The SDK's beta resources add `beta=true`; the analytics reports have no API key, workspace or tier dimension.
ANALYTICS = Api(
    name="analytics",
    usage=Report(
        "v1/organizations/analytics/usage_report",
        HOUR,
        "1h",
        168,
        ("model", "context_window", "inference_geo"),
        ANALYTICS_MAX_SPAN,
        ANALYTICS_EARLIEST,
        {"beta": "true"},
    ),
    cost=Report(
        "v1/organizations/analytics/cost_report",
        DAY,
        "1d",
        31,
        ("model", "context_window", "cost_type", "token_type"),
        ANALYTICS_MAX_SPAN,
        ANALYTICS_EARLIEST,
        {"beta": "true"},
    ),
    headers={"anthropic-beta": ANALYTICS_BETA},
)
API_BY_NAME = {api.name: api for api in (LEGACY, ANALYTICS)}


def parse_api(raw: str, variable: str) -> str:
    """The usage API `legacy` (default when blank) or `analytics`; anything else names the variable and the choices."""
    name = raw.strip().lower() or LEGACY.name
    if name not in API_BY_NAME:
        raise ConfigurationError(f"{variable} is {raw.strip()!r}: use legacy or analytics")
    return name


def rfc3339(at: datetime) -> str:
    """`2026-03-14T09:00:00Z`, as the reports take times."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def spans(start: datetime, end: datetime, longest: timedelta | None) -> Iterator[tuple[datetime, datetime]]:
    """[start, end) cut into consecutive ranges no longer than `longest` (one range when there is no limit)."""
    if longest is None:
        yield start, end
        return
    at = start
    while at < end:
        yield at, min(at + longest, end)
        at += longest


def report_params(report: Report, start: datetime, end: datetime, page: str | None) -> dict[str, Any]:
    """The query of one page of a report."""
    params: dict[str, Any] = {
        "starting_at": rfc3339(start),
        "ending_at": rfc3339(end),
        "bucket_width": report.bucket_width,
        "limit": report.limit,
        "group_by[]": list(report.group_by),
        **report.params,
    }
    if page:
        params["page"] = page
    return params


def read_buckets(
    client: ApiClient, report: Report, start: datetime, end: datetime, stats: FetchStats
) -> list[dict[str, Any]]:
    """Every time bucket of `report` from `start` to `end`, page after page until `has_more` is false."""
    if report.earliest is not None:
        start = max(start, report.earliest)
    buckets: list[dict[str, Any]] = []
    if start >= end:
        return buckets
    for span_start, span_end in spans(start, end, report.max_span):
        page: str | None = None
        seen: set[str] = set()
        while True:
            body, _ = client.get_json(report.path, report_params(report, span_start, span_end, page))
            stats.pages += 1
            data = body.get("data") if isinstance(body, Mapping) else None
            if not isinstance(data, list):
                raise SourceError(f"Anthropic usage: {report.path} returned no `data` list of buckets")
            buckets.extend(dict(bucket) for bucket in data if isinstance(bucket, Mapping))
            next_page = as_text(body.get("next_page"))
            if body.get("has_more") is False or not next_page:
                break
            if next_page in seen:
                raise SourceError(f"Anthropic usage: {report.path} returned the page {next_page!r} twice")
            seen.add(next_page)
            page = next_page
    return buckets


def bucket_results(bucket: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The results of one bucket (none when it has no list)."""
    results = bucket.get("results")
    return [result for result in results if isinstance(result, Mapping)] if isinstance(results, list) else []


def usage_row(api: Api, bucket: Mapping[str, Any], result: Mapping[str, Any], fetched_at: datetime) -> dict[str, Any]:
    """The row of one usage result: its bucket, its groups, its token counts (null where the API gave none)."""
    start, end = as_timestamp(bucket.get("starting_at")), as_timestamp(bucket.get("ending_at"))
    dimensions = {name: as_text(result.get(name)) for name in USAGE_DIMENSIONS}
    cache_creation = as_mapping(result.get("cache_creation")) or {}
    server_tools = as_mapping(result.get("server_tool_use")) or {}
    return {
        "bucket_key": bucket_key(api.usage.path, start, *dimensions.values()),
        "api": api.name,
        "bucket_start": start,
        "bucket_end": end,
        **dimensions,
        "uncached_input_tokens": as_integer(result.get("uncached_input_tokens")),
        "cache_creation_5m_tokens": as_integer(cache_creation.get("ephemeral_5m_input_tokens")),
        "cache_creation_1h_tokens": as_integer(cache_creation.get("ephemeral_1h_input_tokens")),
        "cache_read_input_tokens": as_integer(result.get("cache_read_input_tokens")),
        "output_tokens": as_integer(result.get("output_tokens")),
        "web_search_requests": as_integer(server_tools.get("web_search_requests")),
        "payload": dict(result),
        "fetched_at": fetched_at,
        "batch_id": batch_id(fetched_at),
    }


def usd_of_cents(amount: Any) -> Decimal | None:
    """US dollars, exactly, of an amount in cents given as a decimal string (`"123.45"` is 1.2345); None if no
    finite number."""
    if not isinstance(amount, str | int) or isinstance(amount, bool):
        return None
    try:
        cents = Decimal(str(amount).strip())
    except InvalidOperation:
        return None
    return cents / CENTS_PER_USD if cents.is_finite() else None


def cost_row(api: Api, bucket: Mapping[str, Any], result: Mapping[str, Any], fetched_at: datetime) -> dict[str, Any]:
    """The row of one cost result: its day, its groups and its amount in exact US dollars."""
    start, end = as_timestamp(bucket.get("starting_at")), as_timestamp(bucket.get("ending_at"))
    dimensions = {name: as_text(result.get(name)) for name in COST_DIMENSIONS}
    # A region can split a cost line without being a column: it stays in the key and the payload.
    region = as_text(result.get("inference_geo"))
    return {
        "bucket_key": bucket_key(api.cost.path, start, *dimensions.values(), region),
        "api": api.name,
        "bucket_start": start,
        "bucket_end": end,
        **dimensions,
        "amount_usd": usd_of_cents(result.get("amount")),
        "currency": as_text(result.get("currency")),
        "payload": dict(result),
        "fetched_at": fetched_at,
        "batch_id": batch_id(fetched_at),
    }


def table_rows(api: Api, buckets: list[dict[str, Any]], fetched_at: datetime, *, cost: bool) -> list[dict[str, Any]]:
    """The rows of every result of every bucket; an empty bucket gives none."""
    make = cost_row if cost else usage_row
    return [make(api, bucket, result, fetched_at) for bucket in buckets for result in bucket_results(bucket)]


def bucket_starts(buckets: list[dict[str, Any]]) -> list[datetime | None]:
    """The start of every bucket read, empty ones included: the next run continues from the newest."""
    return [as_timestamp(bucket.get("starting_at")) for bucket in buckets]


def usage_batch(request: Request) -> Batch:
    """One run: the usage and cost buckets since the saved cursors (or the backfill), and the cursors to save."""
    api = API_BY_NAME[request.options.get("api", LEGACY.name)]
    backfill_days: int = request.options["backfill_days"]
    now = request.fetched_at
    usage_cursor, cost_cursor = request.state.get("usage_cursor"), request.state.get("cost_cursor")
    usage_start = window_start(usage_cursor, now, api.usage.bucket, backfill_days)
    cost_start = window_start(cost_cursor, now, api.cost.bucket, backfill_days)
    spec = dataclasses.replace(request.spec, headers={**request.spec.headers, **api.headers})
    with dataclasses.replace(request, spec=spec).client() as client:
        try:
            usage = read_buckets(client, api.usage, usage_start, now, request.stats)
            costs = read_buckets(client, api.cost, cost_start, now, request.stats)
        finally:
            request.stats.requests = client.requests_made
    usage_rows = table_rows(api, usage, request.fetched_at, cost=False)
    cost_rows = table_rows(api, costs, request.fetched_at, cost=True)
    return Batch(
        tables={
            USAGE_TABLE: rows_or_empty(usage_rows, USAGE_COLUMNS),
            COST_TABLE: rows_or_empty(cost_rows, COST_COLUMNS),
        },
        origin=f"{request.base_url} [{request.region}], {api.name} API",
        metadata={
            "api": api.name,
            "usage_from": usage_start.isoformat(),
            "cost_from": cost_start.isoformat(),
            "usage_buckets": len(usage),
            "cost_buckets": len(costs),
            "cost_usd": str(sum((row["amount_usd"] or Decimal(0) for row in cost_rows), Decimal(0))),
        },
        state={
            "usage_cursor": newest_cursor(bucket_starts(usage), usage_cursor, api.usage.bucket),
            "cost_cursor": newest_cursor(bucket_starts(costs), cost_cursor, api.cost.bucket),
        },
    )


SPEC = SourceSpec(
    name=SOURCE,
    display_name="Anthropic usage",
    description="The organisation's Claude API usage (hourly tokens) and costs (daily, in USD) from the Admin API.",
    kind="usage",
    group="usage",
    cadence="0 * * * *",
    tables=(
        bucket_table(
            SOURCE,
            USAGE_TABLE,
            "One row per hour bucket and group of the messages usage report (tokens by kind).",
            USAGE_COLUMNS,
            content=TOKEN_COLUMNS,
            not_null=USAGE_NOT_NULL,
            preview=("bucket_start", "api", "workspace_id", "model", "uncached_input_tokens", "output_tokens"),
            ranges=dict.fromkeys(TOKEN_COLUMNS, TOKEN_RANGE),
            known_values={"api": frozenset(APIS)},
        ),
        bucket_table(
            SOURCE,
            COST_TABLE,
            "One row per day bucket and group of the cost report, in US dollars.",
            COST_COLUMNS,
            content=("amount_usd",),
            not_null=COST_NOT_NULL,
            preview=("bucket_start", "api", "workspace_id", "description", "amount_usd"),
            known_values={"api": frozenset(APIS)},
        ),
    ),
    credential=Credential(env="ANTHROPIC_ADMIN_KEY", header="x-api-key", scheme=""),
    base_url="https://api.anthropic.com",
    headers={"anthropic-version": API_VERSION},
    extract=usage_batch,
    settings=(
        Setting(
            "API",
            LEGACY.name,
            "the usage API to read: legacy (usage and cost reports) or analytics (beta)",
            option="api",
            parse=parse_api,
            variable=API_VARIABLE,
        ),
        BACKFILL_SETTING,
    ),
    simulator=Simulated(handler="modelatlas.simulator.anthropic_usage:AnthropicUsageHandler"),
    endpoint_doc=(
        "`GET /v1/organizations/usage_report/messages` (1h buckets) and `/v1/organizations/cost_report` (1d), or the "
        "analytics `usage_report`/`cost_report`; `page`/`next_page` until `has_more` is false"
    ),
    keeps_state=True,
)
