"""Anthropic's Models API client: `x-api-key` auth as the SDK sends it, and cursor pagination over `/v1/models`."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from modelatlas.errors import ConfigurationError, SourceError
from modelatlas.pipelines.catalog import FetchStats
from modelatlas.pipelines.http import ApiClient, RetryPolicy

DEFAULT_BASE_URL = "https://api.anthropic.com"
API_VERSION = "2023-06-01"
# The API's own default; a catalog of a few dozen models then spans several pages.
DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 1000


def anthropic_client(api_key: str, base_url: str = DEFAULT_BASE_URL, policy: RetryPolicy | None = None) -> ApiClient:
    """An API client authenticated the way Anthropic's SDK is: `x-api-key` plus a pinned `anthropic-version`."""
    return ApiClient(
        "Anthropic",
        base_url,
        headers={"x-api-key": api_key, "anthropic-version": API_VERSION},
        key_env="ANTHROPIC_API_KEY",
        secrets=(api_key,),
        policy=policy,
    )


def check_page_size(page_size: int) -> int:
    """`page_size` when Anthropic accepts it as `limit` (1 to 1000), else a ConfigurationError."""
    if isinstance(page_size, bool) or not isinstance(page_size, int) or not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ConfigurationError(
            f"Anthropic: page size must be an integer from 1 to {MAX_PAGE_SIZE}, got {page_size!r}"
        )
    return page_size


def page_items(body: Any) -> list[dict[str, Any]]:
    """The model objects of one page body; a body without a `data` list is a SourceError."""
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list):
        raise SourceError("Anthropic: /v1/models returned no `data` list")
    return [item for item in data if isinstance(item, dict)]


def next_cursor(body: Mapping[str, Any], seen: set[str]) -> str | None:
    """The `after_id` of the next page, or None on the last page.

    A page that says `has_more` without a new `last_id` is an error rather than the end: stopping there would load
    a partial catalog and report every model after it as removed.
    """
    if body.get("has_more") is not True:
        return None
    last_id = body.get("last_id")
    if not isinstance(last_id, str) or not last_id:
        raise SourceError("Anthropic: /v1/models says `has_more` but gives no `last_id` to continue from")
    if last_id in seen:
        raise SourceError(f"Anthropic: /v1/models pagination repeated the cursor {last_id!r}")
    return last_id


def fetch_models(client: ApiClient, stats: FetchStats, page_size: int = DEFAULT_PAGE_SIZE) -> Iterator[dict[str, Any]]:
    """Every model object of every page, newest first, following `after_id=<last_id>` while `has_more`."""
    params: dict[str, Any] = {"limit": check_page_size(page_size)}
    seen: set[str] = set()
    while True:
        body, _ = client.get_json("v1/models", params)
        stats.pages += 1
        stats.requests = client.requests_made
        yield from page_items(body)
        cursor = next_cursor(body, seen)
        if cursor is None:
            return
        seen.add(cursor)
        params = {"limit": page_size, "after_id": cursor}
