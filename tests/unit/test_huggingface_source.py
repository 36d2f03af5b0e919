"""Hugging Face Hub source: settings, Link/cursor pagination, the per-organisation cap and column extraction."""

from __future__ import annotations

import string
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelatlas.errors import ConfigurationError, SourceError
from modelatlas.pipelines.catalog import FetchStats, catalog_row
from modelatlas.pipelines.http import RetryPolicy
from modelatlas.pipelines.huggingface import (
    DEFAULT_MAX_MODELS_PER_ORGANIZATION,
    DEFAULT_ORGANIZATIONS,
    EXPAND,
    VOLATILE_FIELDS,
    fetch_organization,
    first_page_params,
    gated_label,
    huggingface_client,
    huggingface_options,
    huggingface_source,
    license_of,
    model_columns,
    model_id,
    next_page_url,
    same_origin,
    stats_row,
)
from modelatlas.simulator.core import SimRequest, SimResponse, load_fixture
from modelatlas.simulator.huggingface import (
    DEFAULT_FIELDS,
    EXPANDABLE,
    HuggingFaceHandler,
    decode_cursor,
    encode_cursor,
)
from modelatlas.simulator.server import Simulator

FAST = RetryPolicy(attempts=2, initial_wait_s=0.01, max_wait_s=0.05, budget_s=10, read_timeout_s=2.0)
FIXTURE: list[dict[str, Any]] = load_fixture("huggingface")
ORG_NAME = st.text(alphabet=string.ascii_letters + string.digits + "-_.", min_size=1, max_size=20).filter(
    lambda name: name[0].isalnum()
)


# --- settings -----------------------------------------------------------------------------------------------------


def test_options_default_to_the_seven_organisations_and_a_thousand_models() -> None:
    assert huggingface_options({}) == {
        "organizations": DEFAULT_ORGANIZATIONS,
        "max_models_per_organization": DEFAULT_MAX_MODELS_PER_ORGANIZATION,
    }
    assert DEFAULT_ORGANIZATIONS == ("meta-llama", "mistralai", "google", "Qwen", "deepseek-ai", "microsoft", "nvidia")
    assert huggingface_options(
        {"MODELATLAS_HUGGINGFACE_ORGS": "  ", "MODELATLAS_HUGGINGFACE_MAX_MODELS_PER_ORG": ""}
    ) == (huggingface_options({}))


def test_options_read_the_organisations_and_the_cap() -> None:
    options = huggingface_options(
        {
            "MODELATLAS_HUGGINGFACE_ORGS": " meta-llama, Qwen ,,allenai, qwen",
            "MODELATLAS_HUGGINGFACE_MAX_MODELS_PER_ORG": " 250 ",
        }
    )
    assert options == {"organizations": ("meta-llama", "Qwen", "allenai"), "max_models_per_organization": 250}


@pytest.mark.parametrize("raw", ["0", "-5", "abc", "1.5", "1e3"])
def test_a_cap_that_is_not_a_positive_integer_is_a_configuration_error(raw: str) -> None:
    with pytest.raises(
        ConfigurationError, match="MODELATLAS_HUGGINGFACE_MAX_MODELS_PER_ORG must be a positive integer"
    ):
        huggingface_options({"MODELATLAS_HUGGINGFACE_MAX_MODELS_PER_ORG": raw})


@pytest.mark.parametrize("raw", [",", " , ,"])
def test_an_organisation_list_without_names_is_a_configuration_error(raw: str) -> None:
    with pytest.raises(ConfigurationError, match="MODELATLAS_HUGGINGFACE_ORGS lists no organisation"):
        huggingface_options({"MODELATLAS_HUGGINGFACE_ORGS": raw})


@pytest.mark.parametrize("name", ["meta llama", "org/name", "-dash", "a&b=c"])
def test_a_malformed_organisation_name_is_a_configuration_error(name: str) -> None:
    with pytest.raises(ConfigurationError, match="MODELATLAS_HUGGINGFACE_ORGS holds"):
        huggingface_options({"MODELATLAS_HUGGINGFACE_ORGS": f"google,{name}"})


@given(st.lists(ORG_NAME, min_size=1, max_size=8), st.sampled_from([",", ", ", " ,", " , "]))
def test_organisation_lists_round_trip_without_repeats(names: list[str], separator: str) -> None:
    parsed = huggingface_options({"MODELATLAS_HUGGINGFACE_ORGS": separator.join(names)})["organizations"]
    expected: list[str] = []
    for name in names:
        if name.lower() not in {known.lower() for known in expected}:
            expected.append(name)
    assert parsed == tuple(expected)


@given(st.integers(min_value=1, max_value=10**9))
def test_every_positive_cap_is_accepted(cap: int) -> None:
    assert (
        huggingface_options({"MODELATLAS_HUGGINGFACE_MAX_MODELS_PER_ORG": str(cap)})["max_models_per_organization"]
        == cap
    )


@given(st.integers(max_value=0))
def test_every_non_positive_cap_is_refused(cap: int) -> None:
    with pytest.raises(ConfigurationError):
        huggingface_options({"MODELATLAS_HUGGINGFACE_MAX_MODELS_PER_ORG": str(cap)})


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"page_size": 0}, "page_size must be between 1 and 1000"),
        ({"page_size": 1001}, "page_size must be between 1 and 1000"),
        ({"max_models_per_organization": 0}, "max_models_per_organization must be >= 1"),
        ({"organizations": ()}, "non-empty list"),
        ({"organizations": "google"}, "non-empty list"),
    ],
)
def test_the_source_refuses_impossible_arguments(arguments: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        huggingface_source(**arguments)


# --- the request --------------------------------------------------------------------------------------------------


def test_the_first_page_asks_for_the_most_downloaded_models_with_every_property_read() -> None:
    params = first_page_params("meta-llama", 100)
    assert params == {
        "author": "meta-llama",
        "sort": "downloads",
        "direction": "-1",
        "limit": 100,
        "expand[]": list(EXPAND),
    }
    assert set(EXPAND) <= EXPANDABLE
    assert set(EXPAND) >= {"author", "downloads", "likes", "trendingScore", "gated", "cardData", "lastModified"}


def test_the_token_travels_as_a_bearer_header_and_anonymous_sends_none() -> None:
    with huggingface_client("hf_secret_0123456789") as client:
        assert client._client.headers["Authorization"] == "Bearer hf_secret_0123456789"
    with huggingface_client(None) as client:
        assert "Authorization" not in client._client.headers


# --- Link header --------------------------------------------------------------------------------------------------


def response_with_link(
    link: str | None, url: str = "https://huggingface.co/api/models?author=google"
) -> httpx.Response:
    headers = {"link": link} if link is not None else {}
    return httpx.Response(200, headers=headers, json=[], request=httpx.Request("GET", url))


def test_the_next_page_is_the_rel_next_link() -> None:
    link = '<https://huggingface.co/api/models?author=google&limit=100&cursor=eyJvZmZzZXQiOiAxMDB9>; rel="next"'
    assert next_page_url(response_with_link(link)) == (
        "https://huggingface.co/api/models?author=google&limit=100&cursor=eyJvZmZzZXQiOiAxMDB9"
    )


def test_the_next_page_is_found_among_other_relations_and_resolved_when_relative() -> None:
    link = '</api/models?cursor=abc>; rel="prev", </api/models?author=google&cursor=def>; rel="next"'
    assert next_page_url(response_with_link(link)) == "https://huggingface.co/api/models?author=google&cursor=def"


@pytest.mark.parametrize("link", [None, "", '<https://huggingface.co/api/models?cursor=abc>; rel="prev"'])
def test_without_a_next_link_this_is_the_last_page(link: str | None) -> None:
    assert next_page_url(response_with_link(link)) is None


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://huggingface.co/api/models?cursor=x", True),
        ("https://huggingface.co:443/api/models?cursor=x", True),
        ("http://huggingface.co/api/models?cursor=x", False),
        ("https://evil.example/api/models?cursor=x", False),
        ("https://huggingface.co.evil.example/api/models", False),
    ],
)
def test_only_links_to_the_configured_origin_are_followed(url: str, expected: bool) -> None:
    assert same_origin(url, httpx.URL("https://huggingface.co")) is expected


@given(st.integers(min_value=0, max_value=10**12))
def test_simulator_cursors_round_trip(offset: int) -> None:
    assert decode_cursor(encode_cursor(offset)) == offset


@pytest.mark.parametrize("cursor", ["", "not-base64!", encode_cursor(0)[:-3] + "###", "eyJvZmZzZXQiOiAtMX0"])
def test_simulator_refuses_foreign_cursors(cursor: str) -> None:
    assert decode_cursor(cursor) is None


# --- pagination against the simulator ------------------------------------------------------------------------------


@pytest.fixture
def simulator() -> Iterator[Simulator]:
    with Simulator({"huggingface": HuggingFaceHandler(None)}) as server:
        yield server


def pages_of(
    simulator: Simulator, organization: str, max_models: int, page_size: int
) -> tuple[list[list[Any]], FetchStats]:
    stats = FetchStats()
    base_url = simulator.root_url("huggingface")
    with huggingface_client(None, base_url, FAST) as client:
        pages = list(
            fetch_organization(
                client, organization, max_models=max_models, page_size=page_size, stats=stats, base_url=base_url
            )
        )
    return pages, stats


def fixture_ids(organization: str) -> list[str]:
    models = [model for model in FIXTURE if model["author"] == organization]
    return [model["id"] for model in sorted(models, key=lambda model: model["downloads"], reverse=True)]


def test_every_page_is_followed_through_the_cursor_until_the_link_is_absent(simulator: Simulator) -> None:
    pages, stats = pages_of(simulator, "google", max_models=1000, page_size=4)
    expected = fixture_ids("google")
    assert [len(page) for page in pages] == [4, 4, len(expected) - 8]
    assert [item["id"] for page in pages for item in page] == expected
    assert stats.pages == stats.requests == 3
    requests = simulator.requests_to("huggingface")
    assert "cursor" not in requests[0].query
    assert all(request.query["author"] == ["google"] and request.query["limit"] == ["4"] for request in requests)
    assert all(request.query["expand[]"] == list(EXPAND) for request in requests)
    assert len({request.query["cursor"][0] for request in requests[1:]}) == 2


def test_the_cap_stops_early_and_truncates_the_last_page(simulator: Simulator) -> None:
    pages, stats = pages_of(simulator, "Qwen", max_models=5, page_size=2)
    assert [len(page) for page in pages] == [2, 2, 1]
    assert [item["id"] for page in pages for item in page] == fixture_ids("Qwen")[:5]
    assert stats.requests == 3


def test_a_cap_below_the_page_size_asks_for_no_more_than_the_cap(simulator: Simulator) -> None:
    pages, stats = pages_of(simulator, "nvidia", max_models=3, page_size=100)
    assert [len(page) for page in pages] == [3]
    assert simulator.requests_to("huggingface")[0].query["limit"] == ["3"]
    assert stats.requests == 1


def test_an_unknown_organisation_is_one_empty_page(simulator: Simulator) -> None:
    pages, stats = pages_of(simulator, "no-such-org", max_models=10, page_size=5)
    assert pages == [] and stats.requests == 1


class _ForeignLinkHandler(HuggingFaceHandler):
    def route(self, request: SimRequest) -> SimResponse:
        response = super().route(request)
        if "link" in response.headers:
            response.headers["link"] = '<https://elsewhere.example/api/models?cursor=abc>; rel="next"'
        return response


class _LoopingHandler(HuggingFaceHandler):
    def route(self, request: SimRequest) -> SimResponse:
        link = f'<{request.base_url}/api/models?author=google&limit=2&cursor=same>; rel="next"'
        return SimResponse(200, self.models[:2], {"link": link})


def test_a_next_link_to_another_host_is_not_followed_with_the_token() -> None:
    with Simulator({"huggingface": _ForeignLinkHandler("hf_token_abcdef0123")}) as server:
        base_url = server.root_url("huggingface")
        with (
            huggingface_client("hf_token_abcdef0123", base_url, FAST) as client,
            pytest.raises(SourceError, match=r"points at another host \(elsewhere.example\)") as raised,
        ):
            list(
                fetch_organization(client, "google", max_models=100, page_size=2, stats=FetchStats(), base_url=base_url)
            )
        assert len(server.requests_to("huggingface")) == 1
    assert "hf_token_abcdef0123" not in str(raised.value)


def test_pages_that_loop_back_are_an_error_not_an_endless_fetch() -> None:
    with Simulator({"huggingface": _LoopingHandler(None)}) as server:
        base_url = server.root_url("huggingface")
        with huggingface_client(None, base_url, FAST) as client, pytest.raises(SourceError, match="loop back"):
            list(
                fetch_organization(
                    client, "google", max_models=1000, page_size=2, stats=FetchStats(), base_url=base_url
                )
            )
        assert len(server.requests_to("huggingface")) == 2


def test_a_body_that_is_not_a_list_is_a_source_error() -> None:
    class _ObjectHandler(HuggingFaceHandler):
        def route(self, request: SimRequest) -> SimResponse:
            return SimResponse(200, {"models": []})

    with Simulator({"huggingface": _ObjectHandler(None)}) as server:
        base_url = server.root_url("huggingface")
        with huggingface_client(None, base_url, FAST) as client, pytest.raises(SourceError, match="list of models"):
            list(
                fetch_organization(client, "google", max_models=10, page_size=5, stats=FetchStats(), base_url=base_url)
            )


# --- the simulator's response shapes ------------------------------------------------------------------------------


def hub_request(**query: list[str]) -> SimRequest:
    return SimRequest("GET", "/api/models", query, {}, "http://sim/huggingface")


def test_with_expand_the_simulator_returns_exactly_the_expanded_properties() -> None:
    handler = HuggingFaceHandler(None)
    body = handler.route(hub_request(author=["meta-llama"], **{"expand[]": ["downloads", "gated"]})).body
    assert body and all(set(item) == {"_id", "id", "downloads", "gated"} for item in body)
    default = handler.route(hub_request(author=["meta-llama"])).body
    assert all(set(item) == set(DEFAULT_FIELDS) for item in default)
    assert handler.route(hub_request(**{"expand[]": ["nonsense"]})).status == 400


def test_the_simulator_rejects_a_wrong_token_and_serves_anonymous_requests() -> None:
    handler = HuggingFaceHandler("hf_right")
    anonymous = SimRequest("GET", "/api/models", {}, {}, "http://sim/huggingface")
    assert handler.authenticate(anonymous) is None
    assert handler.authenticate(SimRequest("GET", "/api/models", {}, {"Authorization": "Bearer hf_right"}, "")) is None
    denied = handler.authenticate(SimRequest("GET", "/api/models", {}, {"Authorization": "Bearer hf_wrong"}, ""))
    assert denied is not None and denied.status == 401
    assert denied.body == {"error": "Invalid credentials in Authorization header"}
    assert denied.headers["x-error-message"] == "Invalid credentials in Authorization header"


def test_the_simulator_rate_limit_carries_retry_after_and_the_ratelimit_header() -> None:
    response = HuggingFaceHandler(None).rate_limited(55)
    assert response.status == 429
    assert response.headers["retry-after"] == "55"
    assert response.headers["ratelimit"] == '"api";r=0;t=55'


def test_the_fixture_covers_every_default_organisation() -> None:
    by_org = {org: [model for model in FIXTURE if model["author"] == org] for org in DEFAULT_ORGANIZATIONS}
    assert all(len(models) >= 8 for models in by_org.values())
    assert len(FIXTURE) >= 60 and len({model["id"] for model in FIXTURE}) == len(FIXTURE)
    assert {model["gated"] for model in FIXTURE} == {False, "auto", "manual"}
    assert all(model["id"].startswith(model["author"] + "/") for model in FIXTURE)


# --- extraction ---------------------------------------------------------------------------------------------------

LLAMA = next(model for model in FIXTURE if model["id"] == "meta-llama/Llama-3.1-8B-Instruct")


def test_the_typed_columns_of_a_model() -> None:
    columns = model_columns(LLAMA)
    assert columns == {
        "author": "meta-llama",
        "downloads": LLAMA["downloads"],
        "likes": LLAMA["likes"],
        "trending_score": float(LLAMA["trendingScore"]),
        "pipeline_tag": "text-generation",
        "library_name": "transformers",
        "gated": "manual",
        "license": "llama3.1",
        "created_at": datetime(2024, 7, 18, 8, 56, tzinfo=UTC),
        "last_modified": datetime.fromisoformat(LLAMA["lastModified"].replace("Z", "+00:00")),
        "tags": LLAMA["tags"],
    }


def test_a_sparse_model_has_null_columns() -> None:
    columns = model_columns({"_id": "x", "id": "org/model"})
    assert set(columns.values()) == {None}


@pytest.mark.parametrize(
    ("value", "expected"),
    [(False, "false"), (True, "true"), ("auto", "auto"), ("manual", "manual"), ("MANUAL", "manual"), (None, None)],
)
def test_gated_is_kept_as_text(value: Any, expected: str | None) -> None:
    assert gated_label(value) == expected


@pytest.mark.parametrize(
    ("card", "expected"),
    [
        ({"license": "apache-2.0"}, "apache-2.0"),
        ({"license": ["mit", "apache-2.0"]}, "mit,apache-2.0"),
        ({"license": ""}, None),
        ({"language": ["en"]}, None),
        (None, None),
        ("not a card", None),
    ],
)
def test_the_license_comes_from_the_card(card: Any, expected: str | None) -> None:
    assert license_of(card) == expected


def test_counters_must_be_numbers_not_booleans_or_strings() -> None:
    columns = model_columns({"id": "a/b", "downloads": True, "likes": "12", "trendingScore": 3, "createdAt": "soon"})
    assert columns["downloads"] is None and columns["likes"] is None and columns["created_at"] is None
    assert columns["trending_score"] == 3.0


def test_the_id_falls_back_to_model_id_and_is_required() -> None:
    assert model_id({"modelId": "google/gemma-7b"}) == "google/gemma-7b"
    with pytest.raises(SourceError, match="without an `id`"):
        model_id({"_id": "65c4a3c9"})


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=10,
)


@given(st.dictionaries(st.sampled_from([*EXPAND, "_id", "id", "unannounced"]), JSON_VALUES))
def test_extraction_never_fails_on_whatever_the_hub_sends(item: dict[str, Any]) -> None:
    columns = model_columns(item)
    assert columns["gated"] is None or isinstance(columns["gated"], str)
    assert columns["downloads"] is None or isinstance(columns["downloads"], int)
    assert columns["created_at"] is None or columns["created_at"].tzinfo is not None


@given(st.integers(min_value=0, max_value=10**10), st.integers(min_value=0, max_value=10**6), st.integers(0, 1000))
def test_counters_do_not_change_the_content_hash(downloads: int, likes: int, trending: int) -> None:
    fetched_at = datetime(2026, 1, 1, tzinfo=UTC)
    changed = {**LLAMA, "downloads": downloads, "likes": likes, "trendingScore": trending}
    first = catalog_row(
        LLAMA["id"], LLAMA, {}, fetched_at=fetched_at, region="global", stats=FetchStats(), volatile=VOLATILE_FIELDS
    )
    second = catalog_row(
        LLAMA["id"], changed, {}, fetched_at=fetched_at, region="global", stats=FetchStats(), volatile=VOLATILE_FIELDS
    )
    assert first["content_hash"] == second["content_hash"]
    edited = {**LLAMA, "gated": "auto"}
    third = catalog_row(
        LLAMA["id"], edited, {}, fetched_at=fetched_at, region="global", stats=FetchStats(), volatile=VOLATILE_FIELDS
    )
    assert third["content_hash"] != first["content_hash"]


def test_a_stats_row_is_the_counters_at_the_fetch_time() -> None:
    fetched_at = datetime(2026, 3, 1, 12, tzinfo=UTC)
    row = catalog_row(
        LLAMA["id"], LLAMA, model_columns(LLAMA), fetched_at=fetched_at, region="global", stats=FetchStats()
    )
    assert stats_row(row) == {
        "id": LLAMA["id"],
        "downloads": LLAMA["downloads"],
        "likes": LLAMA["likes"],
        "trending_score": float(LLAMA["trendingScore"]),
        "observed_at": fetched_at,
        "batch_id": "20260301T120000.000000Z",
    }
