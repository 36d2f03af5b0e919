"""Pagination, once for every source: each paginator's first and following page, the page size rule, and the fetch
loops' accounting, refusals and stops, against a real local HTTP server and the simulator."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

import httpx
import pytest

from modelatlas.errors import ConfigurationError, SourceError
from modelatlas.pipelines import gemini
from modelatlas.pipelines.http import ApiClient, RetryPolicy
from modelatlas.pipelines.paginate import (
    AfterId,
    BodyCursor,
    LinkHeader,
    Offset,
    Page,
    PageRequest,
    PageSize,
    PaginationError,
    SinglePage,
    fetch_items,
    fetch_pages,
    page_items,
)
from modelatlas.pipelines.spec import Endpoint, FetchStats
from modelatlas.simulator import Fault, build_simulator, sample_key
from tests.unit.conftest import LocalServer

FAST = RetryPolicy(attempts=3, initial_wait_s=0.01, max_wait_s=0.02, budget_s=5, read_timeout_s=2.0)
SIZE = PageSize("limit", default=20, maximum=100)


def page(
    request: PageRequest,
    body: Any = None,
    *,
    items: int | None = None,
    url: str = "https://api.example/v1/models",
    headers: Mapping[str, str] | None = None,
) -> Page:
    """A fetched page as a paginator sees it."""
    response = httpx.Response(200, headers=dict(headers or {}), json=body, request=httpx.Request("GET", url))
    count = items if items is not None else len(page_items(body, Endpoint("models", SinglePage())))
    return Page(body, response, request, count, httpx.URL(url).copy_with(path="/", query=None))


# --- PageSize ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("requested", "expected"), [(None, 20), (1, 1), (57, 57), (100, 100)])
def test_a_page_size_from_one_to_the_maximum_is_taken_and_none_is_the_default(
    requested: int | None, expected: int
) -> None:
    assert SIZE.checked(requested, "Toy") == expected


@pytest.mark.parametrize("requested", [0, -1, 101, 5000, True, 2.0, "5"])
def test_any_other_page_size_is_a_configuration_error(requested: Any) -> None:
    with pytest.raises(ConfigurationError, match=r"^Toy: page size must be a whole number from 1 to 100, got "):
        SIZE.checked(requested, "Toy")


# --- first pages ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "paginator", [SinglePage(SIZE), BodyCursor("next", "token", SIZE), AfterId(SIZE), LinkHeader(SIZE)]
)
def test_the_first_page_carries_the_endpoints_params_and_the_size(paginator: Any) -> None:
    endpoint = Endpoint("v1/models", paginator, params={"output": "all"})
    assert paginator.first(endpoint, 7) == PageRequest("v1/models", {"output": "all", "limit": 7})


def test_a_paginator_without_a_page_size_sends_none() -> None:
    endpoint = Endpoint("models", SinglePage())
    assert SinglePage().first(endpoint, 7) == PageRequest("models", {})
    assert SinglePage().following(page(PageRequest("models"), {"data": [{"id": "a"}]}), 7) is None


def test_offset_paging_starts_at_offset_zero() -> None:
    endpoint = Endpoint("models", Offset(SIZE), params={"output_modalities": "all"})
    assert Offset(SIZE).first(endpoint, 5) == PageRequest(
        "models", {"output_modalities": "all", "limit": 5, "offset": 0}
    )


# --- BodyCursor -------------------------------------------------------------------------------------------------------

CURSOR = BodyCursor("nextPageToken", "pageToken", SIZE)


def test_the_body_cursor_is_sent_back_with_the_other_params() -> None:
    first = PageRequest("models", {"pageSize": 2})
    following = CURSOR.following(page(first, {"data": [], "nextPageToken": "CiRt"}), 2)
    assert following == PageRequest("models", {"pageSize": 2, "pageToken": "CiRt"})
    again = CURSOR.following(page(following, {"data": [], "nextPageToken": "ZZ"}), 2)
    assert again == PageRequest("models", {"pageSize": 2, "pageToken": "ZZ"})


@pytest.mark.parametrize(
    "body", [{"data": []}, {"nextPageToken": ""}, {"nextPageToken": None}, {"nextPageToken": 7}, []]
)
def test_without_a_cursor_the_page_is_the_last(body: Any) -> None:
    assert CURSOR.following(page(PageRequest("models"), body, items=0), 2) is None


# --- AfterId ----------------------------------------------------------------------------------------------------------


def test_after_id_follows_the_last_id_while_there_is_more() -> None:
    first = PageRequest("v1/models", {"limit": 2})
    body = {"data": [{"id": "a"}, {"id": "b"}], "has_more": True, "first_id": "a", "last_id": "b"}
    assert AfterId(SIZE).following(page(first, body), 2) == PageRequest("v1/models", {"limit": 2, "after_id": "b"})


@pytest.mark.parametrize("more", [False, None, "true", 1])
def test_after_id_stops_unless_has_more_is_true(more: Any) -> None:
    body = {"data": [{"id": "a"}], "has_more": more, "last_id": "a"}
    assert AfterId(SIZE).following(page(PageRequest("v1/models"), body), 2) is None


@pytest.mark.parametrize("last_id", [None, "", 7])
def test_has_more_without_a_last_id_is_an_error_not_a_short_catalog(last_id: Any) -> None:
    body = {"data": [{"id": "a"}], "has_more": True, "last_id": last_id}
    with pytest.raises(PaginationError, match="says `has_more` but gives no `last_id`"):
        AfterId(SIZE).following(page(PageRequest("v1/models"), body), 2)


# --- LinkHeader -------------------------------------------------------------------------------------------------------

HUB = "https://huggingface.co/api/models?author=google&limit=2"


def linked(link: str | None, items: int = 2, url: str = HUB) -> Page:
    headers = {"link": link} if link is not None else {}
    return page(PageRequest(url), [{"id": "x"}] * items, items=items, url=url, headers=headers)


def test_the_next_link_is_the_whole_next_request() -> None:
    link = '<https://huggingface.co/api/models?author=google&limit=2&cursor=eyJv>; rel="next"'
    assert LinkHeader(SIZE).following(linked(link), 2) == PageRequest(
        "https://huggingface.co/api/models?author=google&limit=2&cursor=eyJv"
    )


def test_a_relative_next_link_among_other_relations_resolves_against_the_page() -> None:
    link = '</api/models?cursor=abc>; rel="prev", </api/models?author=google&cursor=def>; rel="next"'
    assert LinkHeader(SIZE).following(linked(link), 2) == PageRequest(
        "https://huggingface.co/api/models?author=google&cursor=def"
    )


@pytest.mark.parametrize("link", [None, "", '<https://huggingface.co/api/models?cursor=abc>; rel="prev"'])
def test_without_a_next_link_the_page_is_the_last(link: str | None) -> None:
    assert LinkHeader(SIZE).following(linked(link), 2) is None


def test_an_empty_page_is_the_last_whatever_its_link_says() -> None:
    assert LinkHeader(SIZE).following(linked('<https://huggingface.co/api/models?c=1>; rel="next"', items=0), 2) is None


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/api/models?cursor=x",
        "https://huggingface.co.evil.example/api/models",
        "http://huggingface.co/api/models?cursor=x",
        "https://huggingface.co:8443/api/models?cursor=x",
    ],
)
def test_a_next_link_to_another_origin_is_refused(target: str) -> None:
    with pytest.raises(PaginationError, match="on another host"):
        LinkHeader(SIZE).following(linked(f'<{target}>; rel="next"'), 2)


def test_after_a_redirect_the_next_link_must_still_be_on_the_base_url_s_origin() -> None:
    # The page came from another host (a redirect); its link to that host is no page of the configured API.
    elsewhere = "https://mirror.example/api/models?author=google&limit=2"
    redirected = page(
        PageRequest(elsewhere),
        [{"id": "x"}] * 2,
        items=2,
        url=elsewhere,
        headers={"link": '<https://mirror.example/api/models?cursor=2>; rel="next"'},
    )
    redirected = Page(redirected.body, redirected.response, redirected.request, 2, httpx.URL("https://huggingface.co/"))
    with pytest.raises(PaginationError, match="on another host"):
        LinkHeader(SIZE).following(redirected, 2)


# --- Offset -----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "offset", "count", "expected"),
    [
        # An empty page ends the listing, whatever its link says.
        ({"data": [], "links": {"next": "/api/v1/models?offset=10&limit=10"}}, 0, 0, None),
        ({"links": {"next": "/api/v1/models?offset=10&limit=10"}, "total_count": 25}, 0, 10, 10),
        ({"links": {"next": "https://openrouter.ai/api/v1/models?limit=10&offset=20"}}, 10, 10, 20),
        # Only the link's offset is read: its path is from the host root, not from the base URL.
        ({"links": {"next": "/api/v1/models?offset=15&limit=10"}}, 10, 10, 15),
        # A link that skips ahead of what was counted would leave items out: the count wins.
        ({"links": {"next": "/api/v1/models?offset=30&limit=10"}}, 10, 10, 20),
        # A next link beyond total_count (as in the reference's own example): total_count wins.
        ({"links": {"next": "/api/v1/models?offset=10&limit=10"}, "total_count": 10}, 0, 10, None),
        ({"links": {"next": None}, "total_count": 25}, 20, 5, None),
        # A link that goes back, or has no usable offset, is read as "the next offset".
        ({"links": {"next": "/api/v1/models?offset=0"}}, 10, 10, 20),
        ({"links": {"next": "/api/v1/models?offset=next"}}, 10, 10, 20),
        ({"links": {"next": "/api/v1/models?cursor=abc"}}, 10, 10, 20),
        # A plain {data} body: a short page is the last, a full one may have a successor.
        ({}, 0, 7, None),
        ({}, 0, 10, 10),
        ({"total_count": True}, 0, 10, 10),
        # More than asked for: a server that ignores paging sent the whole list.
        ({"links": {"next": "/api/v1/models?offset=10"}}, 0, 11, None),
    ],
)
def test_the_offset_of_the_next_page(body: dict[str, Any], offset: int, count: int, expected: int | None) -> None:
    request = PageRequest("models", {"limit": 10, "offset": offset, "output_modalities": "all"})
    following = Offset(SIZE).following(page(request, body, items=count), 10)
    if expected is None:
        assert following is None
    else:
        assert following == PageRequest("models", {"limit": 10, "offset": expected, "output_modalities": "all"})


# --- page_items -------------------------------------------------------------------------------------------------------


def test_page_items_reads_the_declared_list() -> None:
    assert page_items({"data": [{"id": "a"}, "junk"]}, Endpoint("m", SinglePage())) == [{"id": "a"}, "junk"]
    assert page_items([{"id": "a"}], Endpoint("m", SinglePage(), items=None)) == [{"id": "a"}]
    assert page_items({}, Endpoint("m", SinglePage(), items="models", items_optional=True)) == []


@pytest.mark.parametrize(
    ("body", "endpoint", "message"),
    [
        ({"type": "error"}, Endpoint("m", SinglePage()), "returned no `data` list"),
        ({"data": {"id": "a"}}, Endpoint("m", SinglePage()), "returned no `data` list"),
        ({"models": None}, Endpoint("m", SinglePage(), items="models", items_optional=True), "no `models` list"),
        ([{"id": "a"}], Endpoint("m", SinglePage()), "returned list, not an object"),
        ({"data": []}, Endpoint("m", SinglePage(), items=None), "returned dict, not a list"),
    ],
)
def test_a_body_without_its_item_list_is_an_error(body: Any, endpoint: Endpoint, message: str) -> None:
    with pytest.raises(PaginationError, match=message):
        page_items(body, endpoint)


# --- fetch_pages and fetch_items against a real server ----------------------------------------------------------------


@pytest.fixture
def client(local_server: LocalServer) -> Iterator[ApiClient]:
    with ApiClient("Toy", local_server.base_url, policy=FAST) as api:
        yield api


def serve(server: LocalServer, path: str, body: Any, **options: Any) -> None:
    server.serve(path, json.dumps(body), **options)


CURSOR_ENDPOINT = Endpoint("models", BodyCursor("next", "token", SIZE), items="models")


def items(*ids: str | None) -> list[dict[str, Any]]:
    return [
        {"id": identifier, "n": position} if identifier else {"n": position} for position, identifier in enumerate(ids)
    ]


def identify(item: Any) -> str | None:
    return item.get("id") if isinstance(item, dict) else None


def test_fetch_pages_counts_each_page_and_request_once(local_server: LocalServer, client: ApiClient) -> None:
    serve(local_server, "/models?limit=2", {"models": items("a", "b"), "next": "p2"})
    serve(local_server, "/models?limit=2&token=p2", {"models": items("c", "d"), "next": "p3"})
    serve(local_server, "/models?limit=2&token=p3", {"models": items("e")})
    stats = FetchStats()

    pages = list(fetch_pages(client, CURSOR_ENDPOINT, stats, page_size=2))

    assert [[item["id"] for item in listed] for _, listed in pages] == [["a", "b"], ["c", "d"], ["e"]]
    assert [page.item_count for page, _ in pages] == [2, 2, 1]
    assert stats.pages == stats.requests == 3
    assert [path for path, _ in local_server.requests] == [
        "/models?limit=2",
        "/models?limit=2&token=p2",
        "/models?limit=2&token=p3",
    ]


def test_fetch_pages_adds_the_callers_params_to_the_first_page(local_server: LocalServer, client: ApiClient) -> None:
    serve(local_server, "/models?limit=20&author=google", {"models": items("a")})
    pages = list(fetch_pages(client, CURSOR_ENDPOINT, FetchStats(), params={"author": "google"}))
    assert len(pages) == 1 and local_server.requests[0][0] == "/models?limit=20&author=google"


def test_fetch_pages_refuses_a_page_it_has_already_fetched(local_server: LocalServer, client: ApiClient) -> None:
    serve(local_server, "/models?limit=2", {"models": items("a", "b"), "next": "same"})
    serve(local_server, "/models?limit=2&token=same", {"models": items("c", "d"), "next": "same"})
    stats = FetchStats()

    with pytest.raises(SourceError, match=r"^Toy: /models pagination came back to a page already fetched$"):
        list(fetch_pages(client, CURSOR_ENDPOINT, stats, page_size=2))

    assert len(local_server.requests) == stats.pages == 2


def test_fetch_pages_names_the_source_and_path_of_a_malformed_page(
    local_server: LocalServer, client: ApiClient
) -> None:
    serve(local_server, "/models?limit=2", {"models": items("a", "b"), "next": "p2"})
    serve(local_server, "/models?limit=2&token=p2", {"error": "gone"})
    with pytest.raises(SourceError, match=r"^Toy: /models returned no `models` list$"):
        list(fetch_pages(client, CURSOR_ENDPOINT, FetchStats(), page_size=2))


def test_fetch_pages_checks_the_page_size_before_any_request(local_server: LocalServer, client: ApiClient) -> None:
    with pytest.raises(ConfigurationError, match="from 1 to 100, got 0"):
        list(fetch_pages(client, CURSOR_ENDPOINT, FetchStats(), page_size=0))
    assert local_server.requests == []


def test_fetch_items_keeps_the_first_of_a_repeated_id(local_server: LocalServer, client: ApiClient) -> None:
    serve(local_server, "/models?limit=2", {"models": items("a", "b"), "next": "p2"})
    serve(local_server, "/models?limit=2&token=p2", {"models": items("b", "c")})

    listed = list(fetch_items(client, CURSOR_ENDPOINT, FetchStats(), identify, page_size=2))

    assert [(item["id"], item["n"]) for item in listed] == [("a", 0), ("b", 1), ("c", 1)]


def test_fetch_items_yields_items_without_an_id_for_the_gate(local_server: LocalServer, client: ApiClient) -> None:
    serve(local_server, "/models?limit=20", {"models": [*items("a", None, None), "junk"]})
    listed = list(fetch_items(client, CURSOR_ENDPOINT, FetchStats(), identify))
    assert listed == [{"id": "a", "n": 0}, {"n": 1}, {"n": 2}, "junk"]


def test_fetch_items_stops_at_the_limit_without_asking_for_more(local_server: LocalServer, client: ApiClient) -> None:
    serve(local_server, "/models?limit=2", {"models": items("a", "b"), "next": "p2"})
    serve(local_server, "/models?limit=2&token=p2", {"models": items("c", "d"), "next": "p3"})
    stats = FetchStats()

    listed = list(fetch_items(client, CURSOR_ENDPOINT, stats, identify, page_size=2, limit=3))

    assert [item["id"] for item in listed] == ["a", "b", "c"]
    assert stats.requests == 2


def test_a_limit_below_the_page_size_asks_for_the_limit(local_server: LocalServer, client: ApiClient) -> None:
    serve(local_server, "/models?limit=3", {"models": items("a", "b", "c"), "next": "p2"})
    listed = list(fetch_items(client, CURSOR_ENDPOINT, FetchStats(), identify, page_size=50, limit=3))
    assert [item["id"] for item in listed] == ["a", "b", "c"]
    assert [path for path, _ in local_server.requests] == ["/models?limit=3"]


@pytest.mark.parametrize("page_size", [0, 101])
def test_a_limit_does_not_hide_a_page_size_the_api_refuses(
    local_server: LocalServer, client: ApiClient, page_size: int
) -> None:
    with pytest.raises(ConfigurationError, match=f"from 1 to 100, got {page_size}"):
        list(fetch_items(client, CURSOR_ENDPOINT, FetchStats(), identify, page_size=page_size, limit=3))
    assert local_server.requests == []


def test_a_page_that_brings_nothing_new_ends_the_listing(local_server: LocalServer, client: ApiClient) -> None:
    # A server that ignores offset and limit: every offset answers the same full page.
    endpoint = Endpoint("models", Offset(SIZE))
    body = {"data": items("a", "b")}
    serve(local_server, "/models?limit=2&offset=0", body)
    serve(local_server, "/models?limit=2&offset=2", body)
    stats = FetchStats()

    listed = list(fetch_items(client, endpoint, stats, identify, page_size=2))

    assert [item["id"] for item in listed] == ["a", "b"]
    assert stats.pages == stats.requests == 2


def test_a_page_that_repeats_an_item_without_an_id_brings_nothing_new(
    local_server: LocalServer, client: ApiClient
) -> None:
    # The same server, its page holding an item without an id: that item is no news the second time either.
    endpoint = Endpoint("models", Offset(SIZE))
    body = {"data": [*items("a", "b"), {"name": "no id"}]}
    for offset in (0, 3, 6):
        serve(local_server, f"/models?limit=3&offset={offset}", body)
    stats = FetchStats()

    listed = list(fetch_items(client, endpoint, stats, identify, page_size=3))

    assert listed == body["data"]
    assert stats.requests == 2


# --- the accounting through retries, against the simulator ----------------------------------------------------------


def test_retried_requests_count_as_requests_not_as_pages() -> None:
    with build_simulator([gemini.SPEC]) as simulator:
        simulator.inject("gemini", Fault("server_error", skip=1, count=2, status=503))
        headers = {"x-goog-api-key": sample_key("gemini")}
        stats = FetchStats()
        with ApiClient("Gemini", simulator.root_url("gemini"), headers=headers, policy=FAST) as api:
            pages = list(fetch_pages(api, gemini.CATALOG.endpoint, stats, page_size=30))
        requests = simulator.requests_to("gemini")

    fixture = len(simulator.handlers["gemini"].models)  # type: ignore[attr-defined]
    assert len(pages) == stats.pages == -(-fixture // 30) == 3
    assert stats.requests == len(requests) == 5
    # The failed second page was asked again, cursor and all, before the third.
    assert requests[1].query == requests[2].query == requests[3].query
    assert "pageToken" in requests[1].query and requests[4].query["pageToken"] != requests[1].query["pageToken"]
