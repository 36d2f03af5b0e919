"""OpenAI's organisation usage and costs API: GET /v1/organization/usage/{endpoint} and GET /v1/organization/costs,
Bearer auth with an admin key, time buckets, `limit`/`page`/`next_page`/`has_more` paging and `group_by`.

The organisation of `fixtures/openai_usage/organization.json` (3 projects, 2 users, 3 keys, one a service account's)
uses its models in streams: each stream is one key's use of one model (batch or not, one service tier) at given UTC
hours, its hourly counts the fixture's figures times a factor from 0.5 to 1.5 drawn from the hour (the same on every
read). Usage starts `history_days` before the simulator's clock and grows as the clock moves; the current hour is
filled in proportion to its elapsed part. Costs are the day's usage at the fixture's prices, one line item per model
and token kind ("gpt-4o-mini, cached input").

The clock follows the wall clock unless a test sets it (`now=`, `set_clock`, `advance`); `restate` changes the
counts of an hour (or the amounts of a day of costs) that was already served, as OpenAI restates recent buckets.
"""

from __future__ import annotations

import base64
import hashlib
import re
import struct
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from modelatlas.pipelines.usage_windows import DAY, HOUR, as_utc, bucket_floor, unix_seconds
from modelatlas.simulator.core import ProviderHandler, SimRequest, SimResponse, load_fixture

_USAGE_PATH = re.compile(r"^/v1/organization/usage/(?P<endpoint>[a-z_]+)/?$")
COSTS_PATH = "/v1/organization/costs"
IDENTITY = ("project_id", "user_id", "api_key_id", "model")
# What each usage endpoint groups by and counts, as OpenAI's API reference lists them.
GROUPS: dict[str, tuple[str, ...]] = {
    "completions": (*IDENTITY, "batch", "service_tier"),
    "embeddings": IDENTITY,
    "moderations": IDENTITY,
    "images": (*IDENTITY, "size", "source"),
    "audio_speeches": IDENTITY,
    "audio_transcriptions": IDENTITY,
}
COUNTS: dict[str, tuple[str, ...]] = {
    "completions": (
        "input_tokens",
        "input_cached_tokens",
        "output_tokens",
        "input_audio_tokens",
        "output_audio_tokens",
        "num_model_requests",
    ),
    "embeddings": ("input_tokens", "num_model_requests"),
    "moderations": ("input_tokens", "num_model_requests"),
    "images": ("images", "num_model_requests"),
    "audio_speeches": ("characters", "num_model_requests"),
    "audio_transcriptions": ("seconds", "num_model_requests"),
}
COST_GROUPS = ("project_id", "line_item", "api_key_id")
# bucket_width -> (width, default limit, highest limit) of the usage endpoints; costs only take 1d.
WIDTHS: dict[str, tuple[timedelta, int, int]] = {
    "1m": (timedelta(minutes=1), 60, 1440),
    "1h": (HOUR, 24, 168),
    "1d": (DAY, 7, 31),
}
COST_LIMITS = (7, 180)
# A page token: the next bucket's start and the query's start, as Unix seconds (16 bytes, like OpenAI's).
_TOKEN = struct.Struct(">qq")
_PAGE_PREFIX = "page_"


class BadRequestError(Exception):
    """A query OpenAI answers with 400: the message and the parameter at fault."""

    def __init__(self, message: str, param: str | None) -> None:
        super().__init__(message)
        self.param = param


def _jitter(stream: int, hour: datetime) -> float:
    """A factor from 0.5 to 1.5 that depends only on the stream and the hour."""
    digest = hashlib.sha256(f"{stream}:{unix_seconds(hour)}".encode()).digest()
    return 0.5 + int.from_bytes(digest[:4], "big") % 1000 / 1000


def _active(stream: Mapping[str, Any], hour: datetime) -> bool:
    if stream.get("weekdays_only") and hour.weekday() >= 5:
        return False
    return any(start <= hour.hour < end for start, end in stream["hours"])


class OpenAIUsageHandler(ProviderHandler):
    """Serves the organisation of `fixtures/openai_usage/organization.json`; see the module docstring."""

    name = "openai_usage"

    def __init__(self, api_key: str | None, now: datetime | None = None) -> None:
        super().__init__(api_key)
        self.organization: dict[str, Any] = load_fixture("openai_usage", "organization.json")
        self._clock = as_utc(now) if now is not None else None
        self.history_start = bucket_floor(self.now(), HOUR) - timedelta(days=self.organization["history_days"])
        self._keys = {key["id"]: key for key in self.organization["api_keys"]}
        self._restated: dict[tuple[str, datetime], float] = {}
        self._lock = threading.Lock()

    # --- the clock and scripted changes ----------------------------------------------------------------------------

    def now(self) -> datetime:
        """The simulator's time: the one set, else the wall clock's."""
        return self._clock if self._clock is not None else datetime.now(UTC)

    def set_clock(self, at: datetime) -> None:
        """Stop the clock at `at`: usage up to then is served, none after."""
        self._clock = as_utc(at)

    def advance(self, hours: float = 1) -> datetime:
        """Move the clock `hours` on (usage of those hours appears); the new time."""
        self.set_clock(self.now() + timedelta(hours=hours))
        return self.now()

    def restate(self, endpoint: str, bucket_start: datetime, factor: float) -> None:
        """Serve an hour's usage of `endpoint` (or, for `costs`, a day's amounts) multiplied by `factor` from now on."""
        width = DAY if endpoint == "costs" else HOUR
        if endpoint != "costs" and endpoint not in GROUPS:
            raise KeyError(f"no usage endpoint {endpoint!r}")
        with self._lock:
            self._restated[(endpoint, bucket_floor(bucket_start, width))] = factor

    # --- what is served --------------------------------------------------------------------------------------------

    def usage(self, endpoint: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
        """Every stream's usage of `endpoint` in the hours from `start` to `end`, ungrouped, as served now."""
        records: list[dict[str, Any]] = []
        hour = max(bucket_floor(start, HOUR), self.history_start)
        now = self.now()
        while hour < min(as_utc(end), now):
            records.extend(self._hour_usage(endpoint, hour, now))
            hour += HOUR
        return records

    def total(self, endpoint: str, field: str, start: datetime, end: datetime) -> int:
        """One count of `endpoint` summed over the hours from `start` to `end`."""
        return sum(record[field] for record in self.usage(endpoint, start, end))

    def cost_lines(self, start: datetime, end: datetime) -> list[dict[str, Any]]:
        """The cost of each key's line items per day from `start` to `end`, unrounded (`day`, `project_id`,
        `api_key_id`, `line_item`, `value`)."""
        lines = []
        day = bucket_floor(start, DAY)
        while day < as_utc(end):
            factor = self._restated.get(("costs", day), 1.0)
            for line in self._day_costs(day):
                lines.append({**line, "day": day, "value": line["value"] * factor})
            day += DAY
        return lines

    def _hour_usage(self, endpoint: str, hour: datetime, now: datetime) -> Iterator[dict[str, Any]]:
        elapsed = min(1.0, (now - hour) / HOUR)
        factor = self._restated.get((endpoint, hour), 1.0) * elapsed
        for index, stream in enumerate(self.organization["streams"]):
            if stream["endpoint"] != endpoint or not _active(stream, hour):
                continue
            counts = self._full_counts(index, stream, hour)
            scaled = {name: round(value * factor) for name, value in counts.items()}
            if scaled["num_model_requests"] == 0:
                continue
            key = self._keys[stream["api_key_id"]]
            groups = {
                "project_id": key["project_id"],
                "user_id": key["user_id"],
                "api_key_id": key["id"],
                "model": stream["model"],
                "batch": stream.get("batch"),
                "service_tier": stream.get("service_tier"),
                "size": stream.get("size"),
                "source": stream.get("source"),
            }
            yield {"hour": hour, **{name: groups[name] for name in GROUPS[endpoint]}, **scaled}

    def _full_counts(self, index: int, stream: Mapping[str, Any], hour: datetime) -> dict[str, int]:
        jitter = _jitter(index, hour)
        counts = dict.fromkeys(COUNTS[stream["endpoint"]], 0)
        counts |= {name: round(value * jitter) for name, value in stream["per_hour"].items()}
        if "input_cached_tokens" in counts:
            counts["input_cached_tokens"] = round(counts["input_tokens"] * stream.get("cached_share", 0.0))
        return counts

    def _day_costs(self, day: datetime) -> list[dict[str, Any]]:
        prices = self.organization["prices_usd_per_million_tokens"]
        factors = self.organization["price_factors"]
        lines = []
        for endpoint in ("completions", "embeddings"):
            for record in self.usage(endpoint, day, day + DAY):
                uncached = record["input_tokens"] - record.get("input_cached_tokens", 0)
                tokens = {"input": uncached, "cached input": record.get("input_cached_tokens", 0)}
                tokens["output"] = record.get("output_tokens", 0)
                factor = factors["batch"] if record.get("batch") else factors[record.get("service_tier") or "default"]
                for kind, count in tokens.items():
                    price = prices[record["model"]].get(kind)
                    if not count or price is None:
                        continue
                    lines.append(
                        {
                            "project_id": record["project_id"],
                            "api_key_id": record["api_key_id"],
                            "line_item": f"{record['model']}, {kind}",
                            "value": count * price * factor / 1_000_000,
                        }
                    )
        return lines

    # --- HTTP ------------------------------------------------------------------------------------------------------

    def authenticate(self, request: SimRequest) -> SimResponse | None:
        authorization = request.header("authorization") or ""
        if authorization == f"Bearer {self.api_key}" or (self.api_key is None and authorization.startswith("Bearer ")):
            return None
        return self.error(
            401,
            "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.",
            "invalid_api_key",
        )

    def route(self, request: SimRequest) -> SimResponse:
        if request.method != "GET":
            return self.not_found(request)
        match = _USAGE_PATH.match(request.path)
        try:
            if match is not None and match["endpoint"] in GROUPS:
                return SimResponse(200, self._usage_page(match["endpoint"], request), self._headers())
            if request.path.rstrip("/") == COSTS_PATH:
                return SimResponse(200, self._costs_page(request), self._headers())
        except BadRequestError as exc:
            response = self.error(400, str(exc))
            response.body["error"]["param"] = exc.param
            return response
        return self.not_found(request)

    def error(self, status: int, message: str, code: str | None = None) -> SimResponse:
        kind = "requests" if status == 429 else "invalid_request_error" if status < 500 else "server_error"
        body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
        return SimResponse(status, body, self._headers())

    def rate_limited(self, retry_after_s: float) -> SimResponse:
        response = self.error(429, "Rate limit reached for requests", "rate_limit_exceeded")
        response.headers["retry-after-ms"] = str(int(retry_after_s * 1000))
        return response

    @staticmethod
    def _headers() -> dict[str, str]:
        return {"x-request-id": f"req_{uuid.uuid4().hex[:24]}", "openai-processing-ms": "9"}

    def _usage_page(self, endpoint: str, request: SimRequest) -> dict[str, Any]:
        width_name = request.param("bucket_width", "1d") or "1d"
        if width_name not in WIDTHS:
            raise BadRequestError(f"Invalid bucket_width '{width_name}': use 1m, 1h or 1d.", "bucket_width")
        if width_name == "1m":
            raise BadRequestError("bucket_width 1m is not served by the simulator: use 1h or 1d.", "bucket_width")
        width, default_limit, max_limit = WIDTHS[width_name]
        groups = _group_by(request, GROUPS[endpoint])
        filters = _filters(request)

        def results(start: datetime) -> list[dict[str, Any]]:
            records = [r for r in self.usage(endpoint, start, start + width) if _passes(r, filters)]
            kind = f"organization.usage.{endpoint}.result"
            return _grouped(records, groups, GROUPS[endpoint], COUNTS[endpoint], kind)

        return self._page(request, width, default_limit, max_limit, results)

    def _costs_page(self, request: SimRequest) -> dict[str, Any]:
        width_name = request.param("bucket_width", "1d")
        if width_name != "1d":
            raise BadRequestError(f"Invalid bucket_width '{width_name}': costs only support 1d.", "bucket_width")
        groups = _group_by(request, COST_GROUPS)
        projects = request.query.get("project_ids")

        def results(start: datetime) -> list[dict[str, Any]]:
            sums: dict[tuple[Any, ...], float] = {}
            for line in self.cost_lines(start, start + DAY):
                if projects and line["project_id"] not in projects:
                    continue
                group = tuple(line[name] if name in groups else None for name in COST_GROUPS)
                sums[group] = sums.get(group, 0.0) + line["value"]
            return [
                {
                    "object": "organization.costs.result",
                    "amount": {"value": round(value, 10), "currency": "usd"},
                    **dict(zip(COST_GROUPS, group, strict=True)),
                    "quantity": None,
                    "quantity_unit": None,
                }
                for group, value in sorted(sums.items(), key=lambda item: [str(part) for part in item[0]])
            ]

        low, high = COST_LIMITS
        return self._page(request, DAY, low, high, results)

    def _page(
        self,
        request: SimRequest,
        width: timedelta,
        default_limit: int,
        max_limit: int,
        results: Callable[[datetime], list[dict[str, Any]]],
    ) -> dict[str, Any]:
        start_param = request.param("start_time")
        if start_param is None:
            raise BadRequestError("Missing required parameter: 'start_time'.", "start_time")
        query_start = _unix(start_param, "start_time")
        end = _unix(request.param("end_time"), "end_time") if request.param("end_time") else self.now()
        limit = _int(request.param("limit", str(default_limit)), "limit")
        if not 1 <= limit <= max_limit:
            raise BadRequestError(f"Invalid limit {limit}: it must be from 1 to {max_limit}.", "limit")
        page = request.param("page")
        first = _page_start(page) if page else query_start
        bucket = bucket_floor(first, width)
        stop = min(end, self.now())
        data: list[dict[str, Any]] = []
        while bucket < stop and len(data) < limit:
            data.append(
                {
                    "object": "bucket",
                    "start_time": unix_seconds(bucket),
                    "end_time": unix_seconds(bucket + width),
                    "results": results(bucket),
                }
            )
            bucket += width
        has_more = bucket < stop
        token = _page_token(bucket, query_start) if has_more else None
        return {"object": "page", "data": data, "has_more": has_more, "next_page": token}


def _unix(value: str | None, param: str) -> datetime:
    return datetime.fromtimestamp(_int(value, param), UTC)


def _int(value: str | None, param: str) -> int:
    try:
        return int(value or "")
    except ValueError:
        raise BadRequestError(f"Invalid value for '{param}': expected an integer.", param) from None


def _page_token(next_start: datetime, query_start: datetime) -> str:
    packed = _TOKEN.pack(unix_seconds(next_start), unix_seconds(query_start))
    return _PAGE_PREFIX + base64.b64encode(packed).decode()


def _page_start(token: str) -> datetime:
    try:
        next_start, _ = _TOKEN.unpack(base64.b64decode(token.removeprefix(_PAGE_PREFIX), validate=True))
    except (ValueError, struct.error):
        raise BadRequestError(f"Invalid page cursor '{token}'.", "page") from None
    return datetime.fromtimestamp(next_start, UTC)


def _group_by(request: SimRequest, allowed: Sequence[str]) -> set[str]:
    """The requested grouping: `group_by` repeated once per field (an array parameter)."""
    requested = request.query.get("group_by", [])
    unknown = [name for name in requested if name not in allowed]
    if unknown:
        raise BadRequestError(f"Invalid group_by value '{unknown[0]}': use {', '.join(allowed)}.", "group_by")
    return set(requested)


_FILTERS = {"project_ids": "project_id", "user_ids": "user_id", "api_key_ids": "api_key_id", "models": "model"}


def _filters(request: SimRequest) -> dict[str, set[str]]:
    return {field: set(request.query[param]) for param, field in _FILTERS.items() if request.query.get(param)}


def _passes(record: Mapping[str, Any], filters: Mapping[str, set[str]]) -> bool:
    return all(record.get(field) in values for field, values in filters.items())


def _grouped(
    records: Sequence[Mapping[str, Any]], groups: set[str], fields: Sequence[str], counts: Sequence[str], kind: str
) -> list[dict[str, Any]]:
    """The results of one bucket: counts summed per value of the requested groups, the other group fields null."""
    sums: dict[tuple[Any, ...], dict[str, int]] = {}
    for record in records:
        group = tuple(record[name] if name in groups else None for name in fields)
        totals = sums.setdefault(group, dict.fromkeys(counts, 0))
        for name in counts:
            totals[name] += record[name]
    return [
        {"object": kind, **totals, **dict(zip(fields, group, strict=True))}
        for group, totals in sorted(sums.items(), key=lambda item: [str(part) for part in item[0]])
    ]
