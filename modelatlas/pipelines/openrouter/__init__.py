"""dlt source for OpenRouter's model catalog: `GET /api/v1/models`, paged by offset, prices kept as exact decimals."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import dlt
from dlt.sources import DltResource

from modelatlas.errors import ConfigurationError, SourceError
from modelatlas.pipelines.catalog import FetchStats, models_resource
from modelatlas.pipelines.http import ApiClient, RetryPolicy
from modelatlas.pipelines.prices.model import MappingStats, PricePoint, unique_points
from modelatlas.pipelines.prices.openrouter import openrouter_price_points
from modelatlas.pipelines.prices.resource import price_points_resource

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://openrouter.ai/api/v1"
KEY_ENV = "OPENROUTER_API_KEY"
DEFAULT_PAGE_SIZE = 500
MAX_PAGE_SIZE = 1000
# Without `output_modalities`, OpenRouter lists text-output models only (no embedding or image-only models).
ALL_MODALITIES = "all"
# The largest price numeric(38, 12) holds; a larger string stays in `pricing` only, instead of failing the load.
_PRICE_LIMIT = Decimal(10) ** 26
# A plain non-negative decimal, exponent allowed: what OpenRouter sends and its price points accept.
_PRICE_TEXT = re.compile(r"\s*(\d+(\.\d*)?|\.\d+)([eE][-+]?\d{1,3})?\s*", re.ASCII)

# Typed price column -> key of OpenRouter's `pricing` object (USD per token, or per unit for the `_usd` ones).
PRICE_COLUMNS: dict[str, str] = {
    "price_prompt_usd_per_token": "prompt",
    "price_completion_usd_per_token": "completion",
    "price_request_usd": "request",
    "price_image_usd": "image",
    "price_input_cache_read_usd_per_token": "input_cache_read",
    "price_input_cache_write_usd_per_token": "input_cache_write",
    "price_internal_reasoning_usd_per_token": "internal_reasoning",
    "price_web_search_usd": "web_search",
}

COLUMN_TYPES: dict[str, str] = {
    "canonical_slug": "text",
    "hugging_face_id": "text",
    "name": "text",
    "description": "text",
    "created_at": "timestamp",
    "context_length": "bigint",
    "input_modalities": "json",
    "output_modalities": "json",
    "tokenizer": "text",
    "top_provider_context_length": "bigint",
    "max_completion_tokens": "bigint",
    "is_moderated": "bool",
    "supported_parameters": "json",
    "expiration_date": "date",
    "knowledge_cutoff": "text",
    "pricing": "json",
    **dict.fromkeys(PRICE_COLUMNS, "decimal"),
}


def openrouter_client(
    api_key: str | None, base_url: str = DEFAULT_BASE_URL, policy: RetryPolicy | None = None
) -> ApiClient:
    """An API client for OpenRouter: anonymous, or a Bearer token when a key is set."""
    return ApiClient(
        "OpenRouter",
        base_url,
        headers={"Authorization": f"Bearer {api_key}"} if api_key else None,
        key_env=KEY_ENV,
        secrets=(api_key,) if api_key else (),
        policy=policy,
    )


def parse_price(value: object) -> Decimal | None:
    """An OpenRouter price as an exact decimal; None when absent, not a number, or negative ("-1" means "varies")."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    text = value if isinstance(value, str) else str(value)
    if _PRICE_TEXT.fullmatch(text) is None:
        return None
    price = Decimal(text.strip())
    return price if price < _PRICE_LIMIT else None


def model_columns(item: Mapping[str, Any]) -> dict[str, Any]:
    """The typed columns ModelAtlas reads from one OpenRouter model object."""
    architecture = _mapping(item.get("architecture"))
    top_provider = _mapping(item.get("top_provider"))
    pricing = item.get("pricing")
    prices = pricing if isinstance(pricing, Mapping) else {}
    moderated = top_provider.get("is_moderated")
    return {
        "canonical_slug": _text(item.get("canonical_slug")),
        "hugging_face_id": _text(item.get("hugging_face_id")),
        "name": _text(item.get("name")),
        "description": _text(item.get("description")),
        "created_at": _timestamp(item.get("created")),
        "context_length": _integer(item.get("context_length")),
        "input_modalities": _strings(architecture.get("input_modalities")),
        "output_modalities": _strings(architecture.get("output_modalities")),
        "tokenizer": _text(architecture.get("tokenizer")),
        "top_provider_context_length": _integer(top_provider.get("context_length")),
        "max_completion_tokens": _integer(top_provider.get("max_completion_tokens")),
        "is_moderated": moderated if isinstance(moderated, bool) else None,
        "supported_parameters": _strings(item.get("supported_parameters")),
        "expiration_date": _date(item.get("expiration_date")),
        "knowledge_cutoff": _text(item.get("knowledge_cutoff")),
        # The strings exactly as given: "-1" and any new price key survive here even when no typed column holds them.
        "pricing": dict(prices) if isinstance(pricing, Mapping) else None,
        **{column: parse_price(prices.get(key)) for column, key in PRICE_COLUMNS.items()},
    }


def checked_page_size(page_size: int) -> int:
    """`page_size` within OpenRouter's bounds: at least 1, at most 1000 (larger asks are capped)."""
    if isinstance(page_size, bool) or not isinstance(page_size, int) or page_size < 1:
        raise ConfigurationError(f"OpenRouter: page_size must be a whole number from 1 to {MAX_PAGE_SIZE}")
    return min(page_size, MAX_PAGE_SIZE)


def next_offset(body: Mapping[str, Any], offset: int, limit: int, count: int) -> int | None:
    """The offset of the page after one of `count` items fetched at `offset`, or None when it was the last page."""
    if count == 0 or count > limit:
        # Empty: the end. More than asked for: an older server that ignores paging sent the whole list.
        return None
    total = body.get("total_count")
    if isinstance(total, int) and not isinstance(total, bool) and offset + count >= total:
        return None
    links = body.get("links")
    link = links.get("next") if isinstance(links, Mapping) else None
    if isinstance(link, str) and link:
        # Only the link's offset is used: its path is relative to the host, not to the base URL.
        linked = _query_int(link, "offset")
        return linked if linked is not None and linked > offset else offset + count
    return offset + count if count >= limit else None


def fetch_models(
    client: ApiClient,
    stats: FetchStats,
    page_size: int = DEFAULT_PAGE_SIZE,
    output_modalities: str | None = ALL_MODALITIES,
) -> Iterator[dict[str, Any]]:
    """Every model of the catalog, page after page, each id once."""
    limit = checked_page_size(page_size)
    offset = 0
    seen: set[str] = set()
    while True:
        params: dict[str, Any] = {"offset": offset, "limit": limit}
        if output_modalities:
            params["output_modalities"] = output_modalities
        body, _ = client.get_json("models", params)
        stats.pages += 1
        stats.requests = client.requests_made
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, list):
            raise SourceError(f"OpenRouter: /models (offset {offset}) returned no `data` list")
        fresh = 0
        for item in data:
            model_id = item.get("id") if isinstance(item, dict) else None
            if not isinstance(model_id, str) or not model_id:
                log.warning("OpenRouter: skipped a model without an id on the page at offset %d", offset)
                continue
            if model_id in seen:
                continue
            seen.add(model_id)
            fresh += 1
            yield item
        log.debug("OpenRouter: page at offset %d: %d models, %d new", offset, len(data), fresh)
        following = next_offset(body, offset, limit, len(data))
        if following is None or fresh == 0:
            return
        offset = following


@dlt.source(name="openrouter", max_table_nesting=0)
def openrouter_source(
    api_key: str | None = None,
    base_url: str = DEFAULT_BASE_URL,
    region: str = "global",
    stats: FetchStats | None = None,
    policy: RetryPolicy | None = None,
    page_size: int = DEFAULT_PAGE_SIZE,
    output_modalities: str | None = ALL_MODALITIES,
    observed_at: datetime | None = None,
    price_stats: MappingStats | None = None,
) -> list[DltResource]:
    """OpenRouter's catalog as `raw_openrouter.models` (merged on the model id) and its prices as `price_points`
    (scd2, bounded by `observed_at` when given); the key is optional."""
    limit = checked_page_size(page_size)  # a wrong setting fails here, before any request
    fetch_stats = stats if stats is not None else FetchStats()
    mapping = price_stats if price_stats is not None else MappingStats()
    fetched: dict[str, list[dict[str, Any]]] = {}

    def items() -> list[dict[str, Any]]:
        # Fetched once for both tables, so `price_points` is always the complete list the models came from.
        if "items" not in fetched:
            with openrouter_client(api_key, base_url, policy) as client:
                fetched["items"] = list(fetch_models(client, fetch_stats, limit, output_modalities))
        return fetched["items"]

    def points() -> Iterator[PricePoint]:
        yield from unique_points((p for item in items() for p in openrouter_price_points(item, mapping)), mapping)
        mapping.log_summary("OpenRouter")

    models = models_resource(
        items,
        identify=lambda item: str(item["id"]),
        extract=model_columns,
        column_types=COLUMN_TYPES,
        region=region,
        stats=fetch_stats,
    )
    return [models, price_points_resource(points, observed_at)]


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _text(value: object) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def _integer(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _strings(value: object) -> list[str] | None:
    return [str(element) for element in value] if isinstance(value, list) else None


def _timestamp(value: object) -> datetime | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _date(value: object) -> date | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def _query_int(link: str, name: str) -> int | None:
    values = parse_qs(urlsplit(link).query).get(name)
    try:
        return int(values[0]) if values else None
    except ValueError:
        return None
