"""OpenAI organisation usage and costs: hourly token, request and unit counts per endpoint from
`GET /organization/usage/{endpoint}`, and daily spend per project and line item from `GET /organization/costs`.

Both need an admin key (`OPENAI_ADMIN_KEY`). Each run reads from two buckets before the newest one the last run
loaded (the first run backfills `MODELATLAS_USAGE_BACKFILL_DAYS`), grouped by every field the endpoint can group by;
rows are merged on a key of the bucket and its group values, so a restated bucket replaces its row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from modelatlas.errors import ConfigurationError, SourceError
from modelatlas.pipelines.catalog import batch_id
from modelatlas.pipelines.coerce import as_bool, as_integer, as_mapping, as_text, as_timestamp
from modelatlas.pipelines.http import ApiClient
from modelatlas.pipelines.paginate import AfterId, PageSize, fetch_pages
from modelatlas.pipelines.spec import (
    Batch,
    Credential,
    DataType,
    Endpoint,
    Request,
    Setting,
    Simulated,
    SourceSpec,
)
from modelatlas.pipelines.usage_windows import (
    BACKFILL_SETTING,
    DAY,
    DEFAULT_BACKFILL_DAYS,
    HOUR,
    bucket_key,
    bucket_table,
    newest_cursor,
    rows_or_empty,
    unix_seconds,
    window_start,
)

SOURCE = "openai_usage"
USAGE_TABLE = "usage_buckets"
COST_TABLE = "cost_buckets"
IDENTITY = ("project_id", "user_id", "api_key_id", "model")
# The fields each usage endpoint can group by: every one is requested, so a row is the finest grain there is.
GROUP_BY: dict[str, tuple[str, ...]] = {
    "completions": (*IDENTITY, "batch", "service_tier"),
    "embeddings": IDENTITY,
    "images": (*IDENTITY, "size", "source"),
    "audio_speeches": IDENTITY,
    "audio_transcriptions": IDENTITY,
    "moderations": IDENTITY,
}
ENDPOINTS = tuple(GROUP_BY)
DEFAULT_ENDPOINTS = ("completions", "embeddings", "images", "audio_speeches", "audio_transcriptions")
COST_GROUP_BY = ("project_id", "line_item")
COST_PATH = "organization/costs"
# `limit` counts buckets: at most 168 one-hour buckets (a week) and 180 one-day cost buckets per page.
USAGE_PAGE = PageSize("limit", 168, 168)
COST_PAGE = PageSize("limit", 180, 180)
USAGE_BUCKET = HOUR
COST_BUCKET = DAY
BUCKET_WIDTHS: dict[timedelta, str] = {HOUR: "1h", DAY: "1d"}
# The counters of a usage result; each endpoint reports some of them, the others are null in its rows.
COUNTERS = (
    "input_tokens",
    "input_cached_tokens",
    "output_tokens",
    "input_audio_tokens",
    "output_audio_tokens",
    "num_model_requests",
    "images",
    "characters",
    "seconds",
)
# No organisation's hour holds a quadrillion tokens: a bigger count is a broken field.
COUNT_RANGE = (0, 10**15)
FETCH_COLUMNS: dict[str, DataType] = {"fetched_at": "timestamp", "batch_id": "text"}
USAGE_COLUMNS: dict[str, DataType] = {
    "bucket_key": "text",
    "endpoint": "text",
    "bucket_start": "timestamp",
    "bucket_end": "timestamp",
    "project_id": "text",
    "user_id": "text",
    "api_key_id": "text",
    "model": "text",
    "service_tier": "text",
    "batch": "bool",
    **dict.fromkeys(COUNTERS, "bigint"),
    "payload": "json",
    **FETCH_COLUMNS,
}
COST_COLUMNS: dict[str, DataType] = {
    "bucket_key": "text",
    "bucket_start": "timestamp",
    "bucket_end": "timestamp",
    "project_id": "text",
    "line_item": "text",
    "api_key_id": "text",
    "amount_usd": "decimal",
    "currency": "text",
    "payload": "json",
    **FETCH_COLUMNS,
}
USAGE_NOT_NULL = ("bucket_key", "endpoint", "bucket_start", "bucket_end", "fetched_at", "batch_id")
COST_NOT_NULL = ("bucket_key", "bucket_start", "bucket_end", "amount_usd", "fetched_at", "batch_id")


def parse_endpoints(raw: str, variable: str) -> tuple[str, ...]:
    """The usage endpoints to read, from a comma-separated list, in order without repeats; blank: the default."""
    names = tuple(dict.fromkeys(part.strip() for part in raw.split(",") if part.strip()))
    if not names:
        return DEFAULT_ENDPOINTS
    unknown = [name for name in names if name not in GROUP_BY]
    if unknown:
        raise ConfigurationError(
            f"{variable} holds {', '.join(map(repr, unknown))}, which is no OpenAI usage endpoint: "
            f"list some of {','.join(ENDPOINTS)}"
        )
    return names


def usage_endpoint(name: str) -> Endpoint:
    """The hourly usage list of one endpoint, grouped by every field it can group by (repeated `group_by=`)."""
    return Endpoint(
        path=f"organization/usage/{name}",
        # `has_more`, with the cursor in `next_page` sent back as `page`.
        paginator=AfterId(size=USAGE_PAGE, last="next_page", param="page"),
        params={"bucket_width": BUCKET_WIDTHS[USAGE_BUCKET], "group_by": list(GROUP_BY[name])},
    )


def cost_endpoint() -> Endpoint:
    """The daily costs list, grouped by project and line item."""
    return Endpoint(
        path=COST_PATH,
        paginator=AfterId(size=COST_PAGE, last="next_page", param="page"),
        params={"bucket_width": BUCKET_WIDTHS[COST_BUCKET], "group_by": list(COST_GROUP_BY)},
    )


def _group_text(value: Any) -> str | None:
    # A group value as given: an empty string stays one (its key differs from a null's).
    return value if isinstance(value, str) else None


def bucket_bounds(bucket: Mapping[str, Any]) -> tuple[datetime | None, datetime | None]:
    """A bucket's start and end (Unix seconds in the body)."""
    return as_timestamp(bucket.get("start_time")), as_timestamp(bucket.get("end_time"))


def bucket_results(bucket: Any, path: str) -> tuple[dict[str, Any], list[Any]]:
    """A bucket as an object and its results; a bucket without a results list is a SourceError."""
    body = as_mapping(bucket)
    results = body.get("results") if body is not None else None
    if body is None or not isinstance(results, list):
        raise SourceError(f"OpenAI usage: /{path} returned a bucket without a `results` list")
    return body, results


def usage_row(
    endpoint: str, bucket: Mapping[str, Any], result: Any, *, fetched_at: datetime, batch: str
) -> dict[str, Any]:
    """The row of one result of one usage bucket; counters the endpoint does not report are null."""
    item = as_mapping(result) or {}
    start, end = bucket_bounds(bucket)
    groups = [item.get(field) for field in GROUP_BY.get(endpoint, IDENTITY)]
    return {
        "bucket_key": bucket_key(endpoint, start, *groups),
        "endpoint": endpoint,
        "bucket_start": start,
        "bucket_end": end,
        "project_id": _group_text(item.get("project_id")),
        "user_id": _group_text(item.get("user_id")),
        "api_key_id": _group_text(item.get("api_key_id")),
        "model": _group_text(item.get("model")),
        "service_tier": _group_text(item.get("service_tier")),
        "batch": as_bool(item.get("batch")),
        # `input_tokens` counts every input token, the cached ones included; `input_cached_tokens` is that share.
        **{counter: as_integer(item.get(counter)) for counter in COUNTERS},
        "payload": item,
        "fetched_at": fetched_at,
        "batch_id": batch,
    }


def parse_amount(value: Any) -> Decimal | None:
    """An amount as an exact decimal: a JSON number through its shortest text (0.06 stays 0.06), or a string."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        amount = Decimal(repr(value) if isinstance(value, float) else str(value).strip())
    except InvalidOperation:
        return None
    return amount if amount.is_finite() else None


def cost_row(bucket: Mapping[str, Any], result: Any, *, fetched_at: datetime, batch: str) -> dict[str, Any]:
    """The row of one result of one cost bucket."""
    item = as_mapping(result) or {}
    amount = as_mapping(item.get("amount")) or {}
    start, end = bucket_bounds(bucket)
    project_id, line_item, api_key_id = (_group_text(item.get(f)) for f in ("project_id", "line_item", "api_key_id"))
    return {
        "bucket_key": bucket_key("costs", start, project_id, line_item, api_key_id),
        "bucket_start": start,
        "bucket_end": end,
        "project_id": project_id,
        "line_item": line_item,
        "api_key_id": api_key_id,
        "amount_usd": parse_amount(amount.get("value")),
        "currency": as_text(amount.get("currency")),
        "payload": item,
        "fetched_at": fetched_at,
        "batch_id": batch,
    }


def _read_buckets(client: ApiClient, endpoint: Endpoint, request: Request, start: datetime, end: datetime) -> list[Any]:
    """Every bucket of `endpoint` from `start` to `end` (now: the current bucket comes partly filled, and the next run
    reads it again), page after page until `has_more` is false."""
    params = {"start_time": unix_seconds(start), "end_time": unix_seconds(end)}
    buckets: list[Any] = []
    for _, items in fetch_pages(client, endpoint, request.stats, page_size=request.page_size, params=params):
        buckets.extend(items)
    return buckets


def usage_batch(request: Request) -> Batch:
    """The usage buckets of every configured endpoint and the cost buckets since the saved cursors (or the backfill)."""
    now = request.fetched_at
    backfill: int = request.options.get("backfill_days", DEFAULT_BACKFILL_DAYS)
    endpoints: Sequence[str] = request.options.get("endpoints", DEFAULT_ENDPOINTS)
    kept_usage = as_text(request.state.get("usage_cursor"))
    kept_cost = as_text(request.state.get("cost_cursor"))
    usage_from = window_start(kept_usage, now, USAGE_BUCKET, backfill)
    cost_from = window_start(kept_cost, now, COST_BUCKET, backfill)
    batch = batch_id(now)
    usage_rows: list[dict[str, Any]] = []
    cost_rows: list[dict[str, Any]] = []
    usage_starts: list[datetime | None] = []
    cost_starts: list[datetime | None] = []
    buckets_read: dict[str, int] = {}
    with request.client() as client:
        try:
            for name in endpoints:
                endpoint = usage_endpoint(name)
                buckets = _read_buckets(client, endpoint, request, usage_from, now)
                buckets_read[name] = len(buckets)
                for raw in buckets:
                    bucket, results = bucket_results(raw, endpoint.path)
                    usage_starts.append(bucket_bounds(bucket)[0])
                    usage_rows.extend(usage_row(name, bucket, r, fetched_at=now, batch=batch) for r in results)
            costs = cost_endpoint()
            buckets = _read_buckets(client, costs, request, cost_from, now)
            buckets_read["costs"] = len(buckets)
            for raw in buckets:
                bucket, results = bucket_results(raw, costs.path)
                cost_starts.append(bucket_bounds(bucket)[0])
                cost_rows.extend(cost_row(bucket, r, fetched_at=now, batch=batch) for r in results)
        finally:
            request.stats.requests = client.requests_made
    state = {
        "usage_cursor": newest_cursor(usage_starts, kept_usage, USAGE_BUCKET),
        "cost_cursor": newest_cursor(cost_starts, kept_cost, COST_BUCKET),
    }
    notes = () if kept_usage else (f"first run: read {backfill} days of usage and costs",)
    return Batch(
        tables={
            USAGE_TABLE: rows_or_empty(usage_rows, USAGE_COLUMNS),
            COST_TABLE: rows_or_empty(cost_rows, COST_COLUMNS),
        },
        origin=f"{request.base_url} [{request.region}]",
        notes=notes,
        metadata={
            "usage_from": usage_from.isoformat(),
            "costs_from": cost_from.isoformat(),
            "buckets_read": buckets_read,
            "usage_rows": len(usage_rows),
            "cost_rows": len(cost_rows),
            "spend_usd": float(sum((row["amount_usd"] or Decimal(0) for row in cost_rows), Decimal(0))),
        },
        state={key: value for key, value in state.items() if value is not None},
    )


SPEC = SourceSpec(
    name=SOURCE,
    display_name="OpenAI usage",
    description="The organisation's hourly usage per endpoint, key, model and tier, and its daily costs, from OpenAI.",
    kind="usage",
    group="usage",
    cadence="0 * * * *",
    tables=(
        bucket_table(
            SOURCE,
            USAGE_TABLE,
            "One row per hour, usage endpoint and group (project, user, key, model, batch, tier).",
            USAGE_COLUMNS,
            content=COUNTERS,
            not_null=USAGE_NOT_NULL,
            preview=("endpoint", "bucket_start", "project_id", "model", "input_tokens", "output_tokens"),
            ranges=dict.fromkeys(COUNTERS, COUNT_RANGE),
            known_values={"endpoint": frozenset(ENDPOINTS)},
        ),
        bucket_table(
            SOURCE,
            COST_TABLE,
            "One row per day, project and line item of the organisation's costs.",
            COST_COLUMNS,
            content=("amount_usd", "currency"),
            not_null=COST_NOT_NULL,
            preview=("bucket_start", "project_id", "line_item", "amount_usd"),
        ),
    ),
    credential=Credential("OPENAI_ADMIN_KEY"),
    base_url="https://api.openai.com/v1",
    extract=usage_batch,
    settings=(
        Setting(
            "ENDPOINTS",
            ",".join(DEFAULT_ENDPOINTS),
            f"the usage endpoints read, comma-separated (of {', '.join(ENDPOINTS)})",
            option="endpoints",
            parse=parse_endpoints,
        ),
        BACKFILL_SETTING,
    ),
    simulator=Simulated("modelatlas.simulator.openai_usage:OpenAIUsageHandler", path="/v1"),
    endpoint_doc=(
        "`GET /organization/usage/{endpoint}` hourly and `GET /organization/costs` daily, "
        "`page`/`next_page` until `has_more` is false"
    ),
    keeps_state=True,
)
