"""Anthropic's organisation usage and cost reports, legacy and analytics, with `x-api-key` admin auth.

Legacy: `GET /v1/organizations/usage_report/messages` and `GET /v1/organizations/cost_report`. Analytics (beta,
header `anthropic-beta`): `GET /v1/organizations/analytics/usage_report` and `.../analytics/cost_report`. Each
answers time buckets from `starting_at` to `ending_at`, `limit` buckets a page, `page`/`next_page`/`has_more`,
results grouped by the requested `group_by[]` dimensions (the others null) and costs as decimal strings in cents.

The organisation of `fixtures/anthropic_usage/organization.json` (two workspaces, three API keys, three models) uses
the API every hour for `days` days before the simulated clock, each hour's usage a pure function of the hour. Tests
move the clock with `advance` (the hours it passes get their usage) and change a past hour with `restate`, as
Anthropic restates recent buckets.
"""

from __future__ import annotations

import base64
import binascii
import random
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from modelatlas.simulator.anthropic import error_type
from modelatlas.simulator.core import ProviderHandler, SimRequest, SimResponse, load_fixture

USAGE_PATH = "/v1/organizations/usage_report/messages"
COST_PATH = "/v1/organizations/cost_report"
ANALYTICS_USAGE_PATH = "/v1/organizations/analytics/usage_report"
ANALYTICS_COST_PATH = "/v1/organizations/analytics/cost_report"
ANALYTICS_BETA = "analytics-usage-cost-2026-08-24"
WIDTHS = {"1m": timedelta(minutes=1), "1h": timedelta(hours=1), "1d": timedelta(days=1)}
# (default, maximum) buckets a page, per bucket width.
LIMITS = {"1m": (60, 1440), "1h": (24, 168), "1d": (7, 31)}
ANALYTICS_MAX_RANGE = timedelta(days=31)
DIMENSIONS = ("api_key_id", "workspace_id", "model", "service_tier", "context_window", "inference_geo")
COUNTS = (
    "uncached_input_tokens",
    "cache_creation_5m",
    "cache_creation_1h",
    "cache_read_input_tokens",
    "output_tokens",
    "web_search_requests",
)
# Anthropic's token types (cost reports) and the usage count each prices.
TOKEN_TYPES = {
    "uncached_input_tokens": "uncached_input_tokens",
    "output_tokens": "output_tokens",
    "cache_read_input_tokens": "cache_read_input_tokens",
    "cache_creation.ephemeral_5m_input_tokens": "cache_creation_5m",
    "cache_creation.ephemeral_1h_input_tokens": "cache_creation_1h",
}
TOKEN_LABELS = {
    "uncached_input_tokens": "Input Tokens",
    "output_tokens": "Output Tokens",
    "cache_read_input_tokens": "Input Tokens, Cache Read",
    "cache_creation.ephemeral_5m_input_tokens": "Input Tokens, Cache Write 5m",
    "cache_creation.ephemeral_1h_input_tokens": "Input Tokens, Cache Write 1h",
}
LEGACY_USAGE_GROUPS = frozenset(DIMENSIONS)
LEGACY_COST_GROUPS = frozenset({"workspace_id", "description"})
# The analytics group_by values of the official SDK's types; the simulator knows no product, team or Slack data.
ANALYTICS_USAGE_GROUPS = frozenset(
    {
        "claude_tag_category",
        "claude_tag_user_id",
        "context_window",
        "inference_geo",
        "model",
        "product",
        "rbac_group_id",
        "slack_channel_id",
        "speed",
    }
)
ANALYTICS_COST_GROUPS = ANALYTICS_USAGE_GROUPS | {"cost_type", "token_type"}
LEGACY_USAGE_FILTERS = {
    "api_key_ids[]": "api_key_id",
    "workspace_ids[]": "workspace_id",
    "models[]": "model",
    "service_tiers[]": "service_tier",
    "context_window[]": "context_window",
    "inference_geos[]": "inference_geo",
}
ANALYTICS_FILTERS = {"models[]": "model", "context_windows[]": "context_window", "inference_geos[]": "inference_geo"}
CENTS_PER_USD = Decimal(100)
TOKENS_PER_MTOK = Decimal(1_000_000)
OUTPUT_TOKENS_PER_REQUEST = 500


Item = TypeVar("Item")


class BadRequestError(Exception):
    """A request the API refuses with 400 and this message."""


@dataclass
class UsageRecord:
    """One hour of one API key's use of one model in one service tier, context window and region."""

    hour: datetime
    dimensions: dict[str, str]
    counts: dict[str, int]


@dataclass(frozen=True)
class CostLine:
    """What one usage record cost for one token type (or its web searches), in cents."""

    hour: datetime
    dimensions: dict[str, str | None]
    cents: Decimal
    requests: int


@dataclass(frozen=True)
class Report:
    """One report endpoint: where it is, what it may group and filter by, and how it renders a group."""

    path: str
    groups: frozenset[str]
    filters: Mapping[str, str]
    analytics: bool
    cost: bool


REPORTS = {
    report.path: report
    for report in (
        Report(USAGE_PATH, LEGACY_USAGE_GROUPS, LEGACY_USAGE_FILTERS, analytics=False, cost=False),
        Report(COST_PATH, LEGACY_COST_GROUPS, {}, analytics=False, cost=True),
        Report(ANALYTICS_USAGE_PATH, ANALYTICS_USAGE_GROUPS, ANALYTICS_FILTERS, analytics=True, cost=False),
        Report(ANALYTICS_COST_PATH, ANALYTICS_COST_GROUPS, ANALYTICS_FILTERS, analytics=True, cost=True),
    )
}


def rfc3339(at: datetime) -> str:
    """`2026-03-14T09:00:00Z`."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def floor_to(at: datetime, width: timedelta) -> datetime:
    """The start of the UTC bucket of `width` that holds `at`."""
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    return epoch + ((at.astimezone(UTC) - epoch) // width) * width


def page_token(bucket_start: datetime) -> str:
    """The opaque `next_page` of a page starting at `bucket_start` (like Anthropic's `page_<base64 time>`)."""
    return "page_" + base64.urlsafe_b64encode(rfc3339(bucket_start).encode()).decode()


def page_start(token: str) -> datetime:
    """The bucket start a `page` token names; BadRequestError when it names none."""
    try:
        raw = base64.urlsafe_b64decode(token.removeprefix("page_").encode()).decode()
        return parse_time(raw, "page")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise BadRequestError(f"page: invalid page token {token!r}") from exc


def parse_time(value: str, name: str) -> datetime:
    """An RFC 3339 parameter; BadRequestError when it is none or has no time zone."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise BadRequestError(f"{name}: Input should be a valid RFC 3339 datetime, got {value!r}") from exc
    if parsed.tzinfo is None:
        raise BadRequestError(f"{name}: a time zone is required (RFC 3339), got {value!r}")
    return parsed.astimezone(UTC)


def cents_text(cents: Decimal) -> str:
    """A decimal string in cents, as the cost reports write amounts."""
    return format(cents.normalize(), "f") if cents else "0"


class AnthropicUsageHandler(ProviderHandler):
    """Serves the organisation's usage and cost reports; `advance` and `restate` script changes across fetches."""

    name = "anthropic_usage"

    def __init__(self, api_key: str | None, now: datetime | None = None) -> None:
        super().__init__(api_key)
        self.organization: dict[str, Any] = load_fixture("anthropic_usage", "organization.json")
        self.workspace_of = {key["id"]: key["workspace_id"] for key in self.organization["api_keys"]}
        self.now = (now or datetime.now(UTC)).astimezone(UTC)
        self.records: dict[datetime, list[UsageRecord]] = {}
        first = floor_to(self.now, WIDTHS["1h"]) - timedelta(days=int(self.organization["days"]))
        self._generate(first, floor_to(self.now, WIDTHS["1h"]))

    # --- scripting for tests --------------------------------------------------------------------------------------

    def advance(self, hours: int = 1) -> None:
        """Move the clock `hours` forward: the hours that end on the way get their usage."""
        before = floor_to(self.now, WIDTHS["1h"])
        self.now += timedelta(hours=hours)
        self._generate(before, floor_to(self.now, WIDTHS["1h"]))

    def restate(self, hour: datetime, extra_output_tokens: int) -> None:
        """Anthropic restating a bucket: every record of `hour` gains output tokens (its costs follow).

        KeyError when the hour has no usage."""
        records = self.records.get(floor_to(hour, WIDTHS["1h"]), [])
        if not records:
            raise KeyError(f"no usage in the hour of {rfc3339(hour)}")
        for record in records:
            record.counts["output_tokens"] += extra_output_tokens

    def usage_totals(self, start: datetime, end: datetime) -> dict[str, int]:
        """Every usage count summed over the hours from `start` (inclusive) to `end` (exclusive)."""
        totals = dict.fromkeys(COUNTS, 0)
        for record in self._records_between(start, end):
            for name in COUNTS:
                totals[name] += record.counts[name]
        return totals

    def cost_cents(self, start: datetime, end: datetime) -> Decimal:
        """What the usage from `start` to `end` cost, in cents."""
        return sum((line.cents for line in self._cost_lines(start, end)), Decimal(0))

    def hours_with_usage(self) -> list[datetime]:
        """The hours that have usage, oldest first."""
        return sorted(hour for hour, records in self.records.items() if records)

    # --- the API --------------------------------------------------------------------------------------------------

    def authenticate(self, request: SimRequest) -> SimResponse | None:
        key = request.header("x-api-key")
        if key and (self.api_key is None or key == self.api_key):
            return None
        return self.error(401, "invalid x-api-key")

    def route(self, request: SimRequest) -> SimResponse:
        report = REPORTS.get(request.path.rstrip("/"))
        if request.method != "GET" or report is None:
            return self.not_found(request)
        if not request.header("anthropic-version"):
            return self.error(400, "anthropic-version: header is required")
        if report.analytics and ANALYTICS_BETA not in (request.header("anthropic-beta") or ""):
            return self.error(
                400, f"The analytics usage and cost API is in beta: send the header anthropic-beta: {ANALYTICS_BETA}"
            )
        try:
            return SimResponse(200, self._report(report, request))
        except BadRequestError as exc:
            return self.error(400, str(exc))

    def error(self, status: int, message: str, code: str | None = None) -> SimResponse:
        request_id = f"req_{uuid.uuid4().hex[:24]}"
        body = {"type": "error", "error": {"type": error_type(status), "message": message}, "request_id": request_id}
        return SimResponse(status, body, {"request-id": request_id})

    def rate_limited(self, retry_after_s: float) -> SimResponse:
        response = self.error(429, "Number of requests has exceeded your per-minute rate limit")
        response.headers["retry-after"] = f"{retry_after_s:g}"
        return response

    def _report(self, report: Report, request: SimRequest) -> dict[str, Any]:
        if "group_by" in request.query:
            raise BadRequestError("group_by: Use `group_by[]` for array parameters")
        width_name = request.param("bucket_width", "1d") or "1d"
        if width_name not in WIDTHS or (report.cost and not report.analytics and width_name != "1d"):
            allowed = "'1d'" if report.cost and not report.analytics else "'1d', '1h' or '1m'"
            raise BadRequestError(f"bucket_width: Input should be {allowed}, got {width_name!r}")
        width = WIDTHS[width_name]
        limit = self._limit(request, width_name)
        groups = request.query.get("group_by[]", [])
        unknown = [group for group in groups if group not in report.groups]
        if unknown:
            allowed = ", ".join(sorted(report.groups))
            raise BadRequestError(f"group_by[]: unknown value {unknown[0]!r}; allowed: {allowed}")
        raw_start = request.param("starting_at")
        if not raw_start:
            raise BadRequestError("starting_at: Field required")
        start = floor_to(parse_time(raw_start, "starting_at"), width)
        raw_end = request.param("ending_at")
        end = parse_time(raw_end, "ending_at") if raw_end else self._default_end(report, start)
        if end <= start:
            raise BadRequestError("ending_at must be after starting_at")
        if report.analytics and end - start > ANALYTICS_MAX_RANGE:
            raise BadRequestError("The range from starting_at to ending_at may span at most 31 days")
        token = request.param("page")
        first = page_start(token) if token else start
        bucket_starts = [at for at in _steps(start, end, width) if at >= first]
        shown, rest = bucket_starts[:limit], bucket_starts[limit:]
        filters = {dim: set(request.query[name]) for name, dim in report.filters.items() if name in request.query}
        render = self._cost_bucket if report.cost else self._usage_bucket
        return {
            "data": [render(report, at, min(at + width, end), at + width, groups, filters) for at in shown],
            "has_more": bool(rest),
            "next_page": page_token(rest[0]) if rest else None,
        }

    def _limit(self, request: SimRequest, width_name: str) -> int:
        default, maximum = LIMITS[width_name]
        raw = request.param("limit", str(default)) or ""
        try:
            limit = int(raw)
        except ValueError as exc:
            raise BadRequestError(f"limit: Input should be a valid integer, got {raw!r}") from exc
        if not 1 <= limit <= maximum:
            raise BadRequestError(f"limit: for bucket_width {width_name} the limit is 1 to {maximum}, got {limit}")
        return limit

    def _default_end(self, report: Report, start: datetime) -> datetime:
        if report.analytics:
            return min(self.now, start + ANALYTICS_MAX_RANGE)
        return max(self.now, start + timedelta(seconds=1))

    def _usage_bucket(
        self,
        report: Report,
        start: datetime,
        data_end: datetime,
        end: datetime,
        groups: Sequence[str],
        filters: Mapping[str, set[str]],
    ) -> dict[str, Any]:
        records = [r for r in self._records_between(start, data_end) if _matches(r.dimensions, filters)]
        grouped = _group(records, groups, lambda record: record.dimensions)
        results = [self._usage_result(report, key, members, groups) for key, members in grouped]
        return {"starting_at": rfc3339(start), "ending_at": rfc3339(end), "results": results}

    def _usage_result(
        self, report: Report, key: dict[str, str | None], records: list[UsageRecord], groups: Sequence[str]
    ) -> dict[str, Any]:
        total = {name: sum(record.counts[name] for record in records) for name in COUNTS}
        result: dict[str, Any] = {
            "uncached_input_tokens": total["uncached_input_tokens"],
            "cache_creation": {
                "ephemeral_1h_input_tokens": total["cache_creation_1h"],
                "ephemeral_5m_input_tokens": total["cache_creation_5m"],
            },
            "cache_read_input_tokens": total["cache_read_input_tokens"],
            "output_tokens": total["output_tokens"],
            "server_tool_use": {"web_search_requests": total["web_search_requests"]},
        }
        if report.analytics:
            result["requests"] = sum(_requests(record) for record in records)
            return result | _analytics_dimensions(key, groups)
        return result | {dim: key.get(dim) for dim in DIMENSIONS}

    def _cost_bucket(
        self,
        report: Report,
        start: datetime,
        data_end: datetime,
        end: datetime,
        groups: Sequence[str],
        filters: Mapping[str, set[str]],
    ) -> dict[str, Any]:
        lines = [line for line in self._cost_lines(start, data_end) if _matches(line.dimensions, filters)]
        grouped = _group(lines, groups, lambda line: line.dimensions)
        results = [self._cost_result(report, key, members, groups) for key, members in grouped]
        return {"starting_at": rfc3339(start), "ending_at": rfc3339(end), "results": results}

    def _cost_result(
        self, report: Report, key: dict[str, str | None], lines: list[CostLine], groups: Sequence[str]
    ) -> dict[str, Any]:
        amount = cents_text(sum((line.cents for line in lines), Decimal(0)))
        if report.analytics:
            per_component = "cost_type" in groups or "token_type" in groups
            requests = None if per_component else sum(line.requests for line in lines)
            dimensions = _analytics_dimensions(key, groups)
            component = {name: key.get(name) if name in groups else None for name in ("cost_type", "token_type")}
            return (
                {"amount": amount, "list_amount": amount, "currency": "USD", "requests": requests}
                | dimensions
                | (component)
            )
        # Grouped by description, the report also gives the fields the description names (alike in the group).
        named = lines[0].dimensions if "description" in groups else {}
        parsed = ("cost_type", "token_type", "model", "service_tier", "context_window", "inference_geo")
        return {
            "amount": amount,
            "currency": "USD",
            "workspace_id": key.get("workspace_id"),
            "description": key.get("description"),
            **{name: named.get(name) for name in parsed},
        }

    def _records_between(self, start: datetime, end: datetime) -> Iterable[UsageRecord]:
        for hour in _steps(floor_to(start, WIDTHS["1h"]), end, WIDTHS["1h"]):
            if hour >= start:
                yield from self.records.get(hour, [])

    def _cost_lines(self, start: datetime, end: datetime) -> list[CostLine]:
        return [line for record in self._records_between(start, end) for line in self._priced(record)]

    def _priced(self, record: UsageRecord) -> list[CostLine]:
        dims = record.dimensions
        model = self.organization["models"][dims["model"]]
        prices = model["usd_per_mtok"][dims["context_window"]]
        factor = Decimal(self.organization["batch_price_factor"]) if dims["service_tier"] == "batch" else Decimal(1)
        base: dict[str, str | None] = {name: dims[name] for name in DIMENSIONS if name != "api_key_id"}
        lines = []
        for token_type, count_name in TOKEN_TYPES.items():
            count = record.counts[count_name]
            if count:
                cents = count * Decimal(prices[token_type]) * factor * CENTS_PER_USD / TOKENS_PER_MTOK
                description = f"{model['name']} Usage - {TOKEN_LABELS[token_type]}{_qualifiers(dims)}"
                line = base | {"cost_type": "tokens", "token_type": token_type, "description": description}
                lines.append(CostLine(record.hour, line, cents, _requests(record)))
        searches = record.counts["web_search_requests"]
        if searches:
            cents = searches * Decimal(self.organization["web_search_usd_per_request"]) * CENTS_PER_USD
            line = base | {"cost_type": "web_search", "token_type": None, "description": "Web Search Usage"}
            lines.append(CostLine(record.hour, line, cents, 0))
        return lines

    def _generate(self, start: datetime, end: datetime) -> None:
        for hour in _steps(start, end, WIDTHS["1h"]):
            self.records[hour] = hourly_usage(self.organization, self.workspace_of, hour)


def hourly_usage(organization: Mapping[str, Any], workspace_of: Mapping[str, str], hour: datetime) -> list[UsageRecord]:
    """The usage of one hour: each profile active at that hour of the day, unless idle, around its hourly means."""
    records = []
    for index, profile in enumerate(organization["profiles"]):
        first, last = profile["hours"]
        if not first <= hour.hour < last:
            continue
        rng = random.Random(f"{rfc3339(hour)}|{index}")
        if rng.random() < float(organization["idle_share"]):
            continue
        scale = rng.uniform(0.4, 1.6)
        counts = {name: round(profile["hourly"][name] * scale * rng.uniform(0.8, 1.2)) for name in COUNTS}
        dimensions = {name: profile[name] for name in DIMENSIONS if name != "workspace_id"}
        dimensions["workspace_id"] = workspace_of[profile["api_key_id"]]
        records.append(UsageRecord(hour, dimensions, counts))
    return records


def _steps(start: datetime, end: datetime, width: timedelta) -> list[datetime]:
    steps = []
    at = start
    while at < end:
        steps.append(at)
        at += width
    return steps


def _matches(dimensions: Mapping[str, str | None], filters: Mapping[str, set[str]]) -> bool:
    return all(dimensions.get(dim) in values for dim, values in filters.items())


def _group(
    items: list[Item], groups: Sequence[str], dimensions: Callable[[Item], Mapping[str, str | None]]
) -> list[tuple[dict[str, str | None], list[Item]]]:
    """The items by their values of the grouped dimensions, in a stable order; one group of all when none."""
    grouped: dict[tuple[str | None, ...], list[Item]] = {}
    for item in items:
        values = dimensions(item)
        grouped.setdefault(tuple(values.get(group) for group in groups), []).append(item)
    ordered = sorted(grouped.items(), key=lambda entry: tuple(value or "" for value in entry[0]))
    return [(dict(zip(groups, key, strict=True)), members) for key, members in ordered]


def _analytics_dimensions(key: Mapping[str, str | None], groups: Sequence[str]) -> dict[str, Any]:
    """The analytics result's dimension fields: the grouped ones filled, the rest null (speed is always standard)."""
    values: dict[str, Any] = {
        "claude_tag_category": None,
        "claude_tag_user_id": None,
        "context_window": key.get("context_window"),
        "inference_geo": key.get("inference_geo"),
        "model": key.get("model"),
        "product": None,
        "rbac_group_id": None,
        "slack_channel_id": None,
        "speed": "standard",
    }
    return {name: value if name in groups else None for name, value in values.items()}


def _qualifiers(dimensions: Mapping[str, str]) -> str:
    parts = []
    if dimensions["service_tier"] == "batch":
        parts.append("Batch")
    if dimensions["context_window"] != "0-200k":
        parts.append("Long Context")
    if dimensions["inference_geo"] == "us":
        parts.append("US Inference")
    return "".join(f", {part}" for part in parts)


def _requests(record: UsageRecord) -> int:
    return max(1, record.counts["output_tokens"] // OUTPUT_TOKENS_PER_REQUEST)
