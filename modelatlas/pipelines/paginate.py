"""Pagination, once for every source: how the next page follows, page sizes, and the page and request accounting.

A paginator says where the first page is and, given a page, where the next one is (None after the last). The
fetch loop around it counts pages and requests, refuses a page it has already fetched (a server that loops), and
stops when a page brings nothing new (a server that ignores the paging parameters).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

import httpx

from modelatlas.errors import ConfigurationError, SourceError
from modelatlas.pipelines.http import ApiClient
from modelatlas.pipelines.spec import Endpoint, FetchStats


class PaginationError(Exception):
    """A page that says there is more without saying where: the fetch names the source and path."""


@dataclass(frozen=True)
class PageRequest:
    """Where one page is: a path below the base URL (or an absolute URL from a Link header) and its query."""

    target: str
    params: Mapping[str, Any] | None = None

    def identity(self) -> str:
        """The page's address as one text, to notice a page fetched twice."""
        return self.target + "?" + json.dumps(self.params or {}, sort_keys=True, default=str)


@dataclass(frozen=True)
class Page:
    """One fetched page: its decoded body, the response (headers, URL) and how many items it held."""

    body: Any
    response: httpx.Response
    request: PageRequest
    item_count: int
    # The API's base URL: the only origin its key may travel to.
    base_url: httpx.URL


@dataclass(frozen=True)
class PageSize:
    """The query parameter that sets a page's size, the API's default and its maximum."""

    param: str
    default: int
    maximum: int

    def checked(self, requested: int | None, source: str) -> int:
        """`requested` (or the default) when the API accepts it: a whole number from 1 to the maximum."""
        size = self.default if requested is None else requested
        if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= self.maximum:
            raise ConfigurationError(
                f"{source}: page size must be a whole number from 1 to {self.maximum}, got {size!r}"
            )
        return size


class Paginator(Protocol):
    """Where the first page is, and the page after a given one."""

    @property
    def size(self) -> PageSize | None:
        """How a page's size is asked for, when the API lets it be."""
        ...

    def first(self, endpoint: Endpoint, size: int | None) -> PageRequest:
        """The first page's request."""
        ...

    def following(self, page: Page, size: int | None) -> PageRequest | None:
        """The next page's request, or None when `page` was the last."""
        ...


def _first(endpoint: Endpoint, size_param: PageSize | None, size: int | None) -> PageRequest:
    params = dict(endpoint.params)
    if size_param is not None and size is not None:
        params[size_param.param] = size
    return PageRequest(endpoint.path, params)


@dataclass(frozen=True)
class SinglePage:
    """The whole list in one response."""

    size: PageSize | None = None

    def first(self, endpoint: Endpoint, size: int | None) -> PageRequest:
        return _first(endpoint, self.size, size)

    def following(self, page: Page, size: int | None) -> PageRequest | None:
        return None


@dataclass(frozen=True)
class BodyCursor:
    """A cursor in the body names the next page (`nextPageToken` -> `pageToken`); absent or empty on the last."""

    cursor: str
    param: str
    size: PageSize | None = None

    def first(self, endpoint: Endpoint, size: int | None) -> PageRequest:
        return _first(endpoint, self.size, size)

    def following(self, page: Page, size: int | None) -> PageRequest | None:
        token = page.body.get(self.cursor) if isinstance(page.body, dict) else None
        if not isinstance(token, str) or not token:
            return None
        return PageRequest(page.request.target, {**(page.request.params or {}), self.param: token})


@dataclass(frozen=True)
class AfterId:
    """`has_more` with the page's `last_id`, sent back as `after_id` (Anthropic's lists)."""

    size: PageSize | None = None
    more: str = "has_more"
    last: str = "last_id"
    param: str = "after_id"

    def first(self, endpoint: Endpoint, size: int | None) -> PageRequest:
        return _first(endpoint, self.size, size)

    def following(self, page: Page, size: int | None) -> PageRequest | None:
        body = page.body if isinstance(page.body, dict) else {}
        if body.get(self.more) is not True:
            return None
        last_id = body.get(self.last)
        if not isinstance(last_id, str) or not last_id:
            # Stopping here would load a partial catalog and report every later model as removed.
            raise PaginationError(f"says `{self.more}` but gives no `{self.last}` to continue from")
        return PageRequest(page.request.target, {**(page.request.params or {}), self.param: last_id})


@dataclass(frozen=True)
class LinkHeader:
    """`Link: <...>; rel="next"` names the next page's absolute URL, query included (the Hugging Face Hub)."""

    size: PageSize | None = None

    def first(self, endpoint: Endpoint, size: int | None) -> PageRequest:
        return _first(endpoint, self.size, size)

    def following(self, page: Page, size: int | None) -> PageRequest | None:
        target = page.response.links.get("next", {}).get("url")
        if not target or page.item_count == 0:
            return None
        url = page.response.url.join(target)
        home = page.base_url
        if (url.scheme, url.host, url.port) != (home.scheme, home.host, home.port):
            raise PaginationError(f"names a next page on another host ({url.host}); not following it with the key")
        return PageRequest(str(url))


@dataclass(frozen=True)
class Offset:
    """`offset` and `limit`, ending at `total_count`, at a short page, or where the body's next link says."""

    size: PageSize | None = None
    offset_param: str = "offset"
    total: str = "total_count"

    def first(self, endpoint: Endpoint, size: int | None) -> PageRequest:
        request = _first(endpoint, self.size, size)
        return PageRequest(request.target, {**(request.params or {}), self.offset_param: 0})

    def following(self, page: Page, size: int | None) -> PageRequest | None:
        params = dict(page.request.params or {})
        offset = int(params.get(self.offset_param, 0))
        count = page.item_count
        limit = size or count
        if count == 0 or count > limit:
            # Empty: the end. More than asked for: a server that ignores paging sent the whole list.
            return None
        body = page.body if isinstance(page.body, dict) else {}
        total = body.get(self.total)
        if isinstance(total, int) and not isinstance(total, bool) and offset + count >= total:
            return None
        links = body.get("links")
        link = links.get("next") if isinstance(links, Mapping) else None
        if isinstance(link, str) and link:
            # Only the link's offset is used: its path is relative to the host, not to the base URL.
            linked = _query_int(link, self.offset_param)
            # A link that skips ahead would leave items out: it may only repeat what the count says.
            following = linked if linked is not None and offset < linked <= offset + count else offset + count
        elif count >= limit:
            following = offset + count
        else:
            return None
        return PageRequest(page.request.target, {**params, self.offset_param: following})


def _query_int(link: str, name: str) -> int | None:
    values = parse_qs(urlsplit(link).query).get(name)
    try:
        return int(values[0]) if values else None
    except ValueError:
        return None


def page_items(body: Any, endpoint: Endpoint) -> list[Any]:
    """The items of one page body; a body without its item list is a clear error."""
    if endpoint.items is None:
        if not isinstance(body, list):
            raise PaginationError(f"returned {type(body).__name__}, not a list")
        return body
    if not isinstance(body, dict):
        raise PaginationError(f"returned {type(body).__name__}, not an object")
    if endpoint.items not in body and endpoint.items_optional:
        return []
    items = body.get(endpoint.items)
    if not isinstance(items, list):
        raise PaginationError(f"returned no `{endpoint.items}` list")
    return items


def fetch_pages(
    client: ApiClient,
    endpoint: Endpoint,
    stats: FetchStats,
    *,
    page_size: int | None = None,
    params: Mapping[str, Any] | None = None,
) -> Iterator[tuple[Page, list[Any]]]:
    """Every page of `endpoint` with its items, counting pages and requests in `stats`."""
    paginator = endpoint.paginator
    size = paginator.size.checked(page_size, client.provider) if paginator.size is not None else None
    request: PageRequest | None = paginator.first(endpoint, size)
    if params and request is not None:
        request = PageRequest(request.target, {**(request.params or {}), **params})
    fetched: set[str] = set()
    while request is not None:
        if request.identity() in fetched:
            raise SourceError(f"{client.provider}: /{endpoint.path} pagination came back to a page already fetched")
        fetched.add(request.identity())
        body, response = client.get_json(request.target, request.params)
        stats.pages += 1
        stats.requests = client.requests_made
        try:
            items = page_items(body, endpoint)
            page = Page(body, response, request, len(items), client.base_url)
            yield page, items
            request = paginator.following(page, size)
        except PaginationError as exc:
            raise SourceError(f"{client.provider}: /{endpoint.path} {exc}") from None


def _seen_key(item: Any, identity: str | None) -> str:
    # An item without an id is known by its whole content: a page that repeats it brings nothing new.
    if identity is not None:
        return "id:" + identity
    return "item:" + json.dumps(item, sort_keys=True, default=str)


def fetch_items(
    client: ApiClient,
    endpoint: Endpoint,
    stats: FetchStats,
    identify: Callable[[Any], str | None],
    *,
    page_size: int | None = None,
    params: Mapping[str, Any] | None = None,
    limit: int | None = None,
) -> Iterator[Any]:
    """Every item of every page, each id (or item without one) once, at most `limit`; a page of nothing new ends it."""
    seen: set[str] = set()
    taken = 0
    size = endpoint.paginator.size
    if limit is not None and size is not None:
        # The page size rule holds before the limit shortens the page: a size the API refuses is no less an error.
        page_size = min(size.checked(page_size, client.provider), limit)
    for _, items in fetch_pages(client, endpoint, stats, page_size=page_size, params=params):
        fresh = 0
        for item in items:
            key = _seen_key(item, identify(item))
            if key in seen:
                continue
            seen.add(key)
            fresh += 1
            yield item
            taken += 1
            if limit is not None and taken >= limit:
                return
        if items and fresh == 0:
            return
