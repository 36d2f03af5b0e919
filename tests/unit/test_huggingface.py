"""The Hugging Face Hub's quirks: the organisations and cap settings, one most-downloaded-first listing per
organisation with a per-organisation cap, `Link` header pages that must stay on the Hub, the counters outside the
content hash, and the simulator's shapes. The Arrow tables are in test_huggingface_arrow.py."""

from __future__ import annotations

import string
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelatlas.errors import ConfigurationError, SourceError
from modelatlas.pipelines.catalog import content_hash
from modelatlas.pipelines.huggingface import (
    CATALOG,
    DEFAULT_MAX_MODELS_PER_ORGANIZATION,
    DEFAULT_ORGANIZATIONS,
    EXPAND,
    SPEC,
    gated_label,
    license_of,
    model_columns,
    organization_params,
)
from modelatlas.settings import source_config
from modelatlas.simulator import Fault, Simulator, build_simulator, sample_key
from modelatlas.simulator.core import SimRequest, SimResponse, load_fixture
from modelatlas.simulator.huggingface import (
    DEFAULT_FIELDS,
    EXPANDABLE,
    HuggingFaceHandler,
    decode_cursor,
    encode_cursor,
)
from tests.unit.simulated import simulated_fetch

FIXTURE: list[dict[str, Any]] = load_fixture("huggingface")
LLAMA = next(model for model in FIXTURE if model["id"] == "meta-llama/Llama-3.1-8B-Instruct")
ORGS = "MODELATLAS_HUGGINGFACE_ORGS"
CAP = "MODELATLAS_HUGGINGFACE_MAX_MODELS_PER_ORG"
ORG_NAME = st.text(alphabet=string.ascii_letters + string.digits + "-_.", min_size=1, max_size=20).filter(
    lambda name: name[0].isalnum()
)


def options(env: dict[str, str]) -> dict[str, Any]:
    return dict(source_config(SPEC, env).options)


def most_downloaded(organization: str) -> list[str]:
    models = [model for model in FIXTURE if model["author"] == organization]
    return [model["id"] for model in sorted(models, key=lambda model: model["downloads"], reverse=True)]


def ids(batch: Any) -> list[str]:
    return list(batch.tables["models"].column("id").to_pylist())


@pytest.fixture(scope="module")
def simulator() -> Iterator[Simulator]:
    with build_simulator([SPEC]) as server:
        yield server


@pytest.fixture
def sim(simulator: Simulator) -> Iterator[Simulator]:
    handler = simulator.handlers["huggingface"]
    simulator.clear()
    yield simulator
    simulator.clear()
    simulator.handlers["huggingface"] = handler


# --- settings -------------------------------------------------------------------------------------------------------


def test_the_settings_default_to_seven_organisations_and_a_thousand_models_each() -> None:
    assert options({}) == {
        "organizations": DEFAULT_ORGANIZATIONS,
        "max_models_per_organization": DEFAULT_MAX_MODELS_PER_ORGANIZATION,
    }
    assert DEFAULT_ORGANIZATIONS == ("meta-llama", "mistralai", "google", "Qwen", "deepseek-ai", "microsoft", "nvidia")
    assert DEFAULT_MAX_MODELS_PER_ORGANIZATION == 1000
    assert options({ORGS: "  ", CAP: ""}) == options({})
    assert {ORGS, CAP} <= set(SPEC.variables())


def test_the_settings_read_the_organisations_in_order_without_repeats_and_the_cap() -> None:
    assert options({ORGS: " meta-llama, Qwen ,,allenai, qwen", CAP: " 250 "}) == {
        "organizations": ("meta-llama", "Qwen", "allenai"),
        "max_models_per_organization": 250,
    }


@pytest.mark.parametrize("raw", ["0", "-5", "abc", "1.5", "1e3"])
def test_a_cap_that_is_not_a_positive_integer_is_a_configuration_error(raw: str) -> None:
    with pytest.raises(ConfigurationError, match=f"^{CAP} must be a positive integer"):
        options({CAP: raw})


@pytest.mark.parametrize("raw", [",", " , ,"])
def test_an_organisation_list_without_names_is_a_configuration_error(raw: str) -> None:
    with pytest.raises(ConfigurationError, match=f"^{ORGS} lists no organisation"):
        options({ORGS: raw})


@pytest.mark.parametrize("name", ["meta llama", "org/name", "-dash", "a&b=c"])
def test_a_malformed_organisation_name_is_a_configuration_error(name: str) -> None:
    with pytest.raises(ConfigurationError, match=f"^{ORGS} holds '"):
        options({ORGS: f"google,{name}"})


@given(st.lists(ORG_NAME, min_size=1, max_size=8), st.sampled_from([",", ", ", " ,", " , "]))
def test_organisation_lists_round_trip_without_repeats(names: list[str], separator: str) -> None:
    expected: list[str] = []
    for name in names:
        if name.lower() not in {known.lower() for known in expected}:
            expected.append(name)
    assert options({ORGS: separator.join(names)})["organizations"] == tuple(expected)


@given(st.integers(min_value=1, max_value=10**9))
def test_every_positive_cap_is_accepted(cap: int) -> None:
    assert options({CAP: str(cap)})["max_models_per_organization"] == cap


@given(st.integers(max_value=0))
def test_every_non_positive_cap_is_refused(cap: int) -> None:
    with pytest.raises(ConfigurationError):
        options({CAP: str(cap)})


# --- listings -------------------------------------------------------------------------------------------------------


def test_a_listing_asks_for_the_most_downloaded_models_with_every_property_read() -> None:
    assert organization_params("meta-llama") == {
        "author": "meta-llama",
        "sort": "downloads",
        "direction": "-1",
        "expand[]": list(EXPAND),
    }
    assert set(EXPAND) <= EXPANDABLE
    assert set(EXPAND) >= {"author", "downloads", "likes", "trendingScore", "gated", "cardData", "lastModified"}


def test_each_default_organisation_is_one_listing(sim: Simulator) -> None:
    batch, request = simulated_fetch(SPEC, sim)
    requests = sim.requests_to("huggingface")
    assert [logged.query["author"] for logged in requests] == [[org] for org in DEFAULT_ORGANIZATIONS]
    assert all(logged.query["limit"] == ["1000"] and logged.query["sort"] == ["downloads"] for logged in requests)
    assert request.stats.pages == len(DEFAULT_ORGANIZATIONS)
    assert ids(batch) == [model for org in DEFAULT_ORGANIZATIONS for model in most_downloaded(org)]
    assert batch.metadata == {"organizations": ", ".join(DEFAULT_ORGANIZATIONS)}


def test_every_page_is_followed_through_the_link_until_it_is_absent(sim: Simulator) -> None:
    batch, request = simulated_fetch(SPEC, sim, page_size=4, env={ORGS: "google"})
    requests = sim.requests_to("huggingface")
    assert ids(batch) == most_downloaded("google")
    assert request.stats.pages == request.stats.requests == len(requests) == -(-len(most_downloaded("google")) // 4)
    assert "cursor" not in requests[0].query
    assert all(logged.query["author"] == ["google"] and logged.query["limit"] == ["4"] for logged in requests)
    assert all(logged.query["expand[]"] == list(EXPAND) for logged in requests)
    assert len({logged.query["cursor"][0] for logged in requests[1:]}) == len(requests) - 1


def test_the_cap_keeps_each_organisations_most_downloaded_and_stops_asking(sim: Simulator) -> None:
    batch, request = simulated_fetch(SPEC, sim, page_size=2, env={ORGS: "Qwen,nvidia", CAP: "5"})
    assert ids(batch) == most_downloaded("Qwen")[:5] + most_downloaded("nvidia")[:5]
    # Per organisation: pages of 2, 2 and 1, then no further request.
    assert request.stats.requests == 6
    assert [logged.query["limit"] for logged in sim.requests_to("huggingface")][:3] == [["2"]] * 3


def test_a_cap_below_the_page_size_asks_for_no_more_than_the_cap(sim: Simulator) -> None:
    batch, request = simulated_fetch(SPEC, sim, page_size=100, env={ORGS: "nvidia", CAP: "3"})
    assert ids(batch) == most_downloaded("nvidia")[:3]
    assert request.stats.requests == 1 and sim.requests_to("huggingface")[0].query["limit"] == ["3"]


@pytest.mark.parametrize("page_size", [0, 1001])
def test_the_page_size_rule_holds_under_the_cap(sim: Simulator, page_size: int) -> None:
    with pytest.raises(
        ConfigurationError, match=f"^Hugging Face: page size must be a whole number from 1 to 1000, got {page_size}$"
    ):
        simulated_fetch(SPEC, sim, page_size=page_size, env={CAP: "3"})
    assert sim.requests_to("huggingface") == []


def test_an_unknown_organisation_is_one_empty_page(sim: Simulator) -> None:
    batch, request = simulated_fetch(SPEC, sim, env={ORGS: "no-such-org"})
    assert ids(batch) == [] and request.stats.requests == 1


def test_a_model_listed_under_two_organisations_is_kept_once(sim: Simulator, monkeypatch: pytest.MonkeyPatch) -> None:
    handler = sim.handlers["huggingface"]
    monkeypatch.setattr(handler, "models", [*FIXTURE, {**LLAMA, "author": "google", "downloads": 10**12}])
    batch, _ = simulated_fetch(SPEC, sim, env={ORGS: "meta-llama,google"})
    listed = ids(batch)
    assert Counter(listed)[LLAMA["id"]] == 1
    assert len(listed) == len(most_downloaded("meta-llama")) + len(most_downloaded("google"))
    models = batch.tables["models"]
    assert isinstance(models, pa.Table)
    rows = models.to_pylist()
    assert next(row for row in rows if row["id"] == LLAMA["id"])["author"] == "meta-llama"  # the first listing's


class ForeignLinkHandler(HuggingFaceHandler):
    def route(self, request: SimRequest) -> SimResponse:
        response = super().route(request)
        if "link" in response.headers:
            response.headers["link"] = '<https://elsewhere.example/api/models?cursor=abc>; rel="next"'
        return response


def test_a_next_link_to_another_host_is_not_followed_with_the_token(sim: Simulator) -> None:
    sim.handlers["huggingface"] = ForeignLinkHandler(sample_key("huggingface"))
    with pytest.raises(SourceError, match=r"names a next page on another host \(elsewhere\.example\)") as raised:
        simulated_fetch(SPEC, sim, page_size=2, env={ORGS: "google"})
    assert len(sim.requests_to("huggingface")) == 1
    assert sample_key("huggingface") not in str(raised.value)


class LoopingHandler(HuggingFaceHandler):
    """New models on every page, but always the same next link."""

    served = 0

    def route(self, request: SimRequest) -> SimResponse:
        link = f'<{request.base_url}/api/models?author=google&limit=2&cursor=same>; rel="next"'
        self.served += 2
        return SimResponse(200, self.models[self.served - 2 : self.served], {"link": link})


def test_pages_that_loop_back_are_an_error_not_an_endless_fetch(sim: Simulator) -> None:
    sim.handlers["huggingface"] = LoopingHandler(sample_key("huggingface"))
    with pytest.raises(SourceError, match="came back to a page already fetched"):
        simulated_fetch(SPEC, sim, page_size=2, env={ORGS: "google"})
    assert len(sim.requests_to("huggingface")) == 2


def test_a_body_that_is_not_a_list_is_a_source_error(sim: Simulator) -> None:
    class ObjectHandler(HuggingFaceHandler):
        def route(self, request: SimRequest) -> SimResponse:
            return SimResponse(200, {"models": []})

    sim.handlers["huggingface"] = ObjectHandler(sample_key("huggingface"))
    with pytest.raises(SourceError, match=r"^Hugging Face: /api/models returned dict, not a list$"):
        simulated_fetch(SPEC, sim, env={ORGS: "google"})


# --- delays the Hub advertises --------------------------------------------------------------------------------------


class RateLimitHeaderOnly(HuggingFaceHandler):
    def rate_limited(self, retry_after_s: float) -> SimResponse:
        response = super().rate_limited(retry_after_s)
        del response.headers["retry-after"]
        return response


def test_a_429_with_only_the_ratelimit_header_waits_its_reset(sim: Simulator) -> None:
    sim.handlers["huggingface"] = RateLimitHeaderOnly(sample_key("huggingface"))
    sim.inject("huggingface", Fault("rate_limit", retry_after_s=1))
    simulated_fetch(SPEC, sim, env={ORGS: "google"})
    first, second = sim.requests_to("huggingface")
    assert second.at - first.at >= 1.0


class RetryAfterOn5xx(HuggingFaceHandler):
    def error(self, status: int, message: str, code: str | None = None) -> SimResponse:
        response = super().error(status, message, code)
        if status >= 500:
            response.headers["retry-after"] = "0.1"
        return response


def test_a_5xx_with_retry_after_waits_it(sim: Simulator) -> None:
    sim.handlers["huggingface"] = RetryAfterOn5xx(sample_key("huggingface"))
    sim.inject("huggingface", Fault("server_error", count=2, status=503))
    batch, request = simulated_fetch(SPEC, sim, env={ORGS: "google"})
    requests = sim.requests_to("huggingface")
    assert request.stats.requests == len(requests) == 3 and request.stats.pages == 1
    assert requests[2].at - requests[0].at >= 0.2
    assert ids(batch) == most_downloaded("google")


# --- columns and the content hash -----------------------------------------------------------------------------------


def test_the_typed_columns_of_a_model() -> None:
    assert model_columns(LLAMA) == {
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
    assert set(model_columns({"_id": "x", "id": "org/model"}).values()) == {None}


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


def test_counters_are_whole_numbers_by_the_shared_rule() -> None:
    columns = model_columns({"id": "a/b", "downloads": True, "likes": "12", "trendingScore": 3, "createdAt": "soon"})
    assert columns["downloads"] is None  # a bool is no count
    assert columns["likes"] == 12  # digits in a string are a whole number (as_integer)
    assert columns["trending_score"] == 3.0
    assert columns["created_at"] is None


def test_the_id_falls_back_to_model_id_and_a_model_without_either_has_none() -> None:
    assert CATALOG.identify({"modelId": "google/gemma-7b"}) == "google/gemma-7b"
    assert CATALOG.identify({"id": "google/gemma-2b", "modelId": "google/gemma-7b"}) == "google/gemma-2b"
    assert CATALOG.identify({"_id": "65c4a3c9"}) is None


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=10,
)


@given(st.dictionaries(st.sampled_from([*EXPAND, "_id", "id", "unannounced"]), JSON_VALUES))
def test_extraction_never_fails_on_whatever_the_hub_sends(item: dict[str, Any]) -> None:
    columns = model_columns(item)
    assert columns["gated"] is None or isinstance(columns["gated"], str)
    assert columns["downloads"] is None or type(columns["downloads"]) is int
    assert columns["created_at"] is None or columns["created_at"].tzinfo is not None


@given(st.integers(min_value=0, max_value=10**10), st.integers(min_value=0, max_value=10**6), st.integers(0, 1000))
def test_counters_do_not_change_the_content_hash(downloads: int, likes: int, trending: int) -> None:
    assert set(CATALOG.volatile) == {"downloads", "likes", "trendingScore"}
    busier = {**LLAMA, "downloads": downloads, "likes": likes, "trendingScore": trending}
    assert content_hash(busier, CATALOG.volatile) == content_hash(LLAMA, CATALOG.volatile)
    assert content_hash({**LLAMA, "gated": "auto"}, CATALOG.volatile) != content_hash(LLAMA, CATALOG.volatile)


# --- the simulator's shapes -----------------------------------------------------------------------------------------


def hub_request(**query: list[str]) -> SimRequest:
    return SimRequest("GET", "/api/models", query, {}, "http://sim/huggingface")


def test_with_expand_the_simulator_returns_exactly_the_expanded_properties() -> None:
    handler = HuggingFaceHandler(None)
    body = handler.route(hub_request(author=["meta-llama"], **{"expand[]": ["downloads", "gated"]})).body
    assert body and all(set(item) == {"_id", "id", "downloads", "gated"} for item in body)
    assert all(set(item) == set(DEFAULT_FIELDS) for item in handler.route(hub_request(author=["meta-llama"])).body)
    assert handler.route(hub_request(**{"expand[]": ["nonsense"]})).status == 400


def test_the_simulator_rejects_a_wrong_token_and_serves_anonymous_requests() -> None:
    handler = HuggingFaceHandler("hf_right")
    assert handler.authenticate(SimRequest("GET", "/api/models", {}, {}, "")) is None
    assert handler.authenticate(SimRequest("GET", "/api/models", {}, {"Authorization": "Bearer hf_right"}, "")) is None
    denied = handler.authenticate(SimRequest("GET", "/api/models", {}, {"Authorization": "Bearer hf_wrong"}, ""))
    assert denied is not None and denied.status == 401
    assert denied.body == {"error": "Invalid credentials in Authorization header"}
    assert denied.headers["x-error-message"] == "Invalid credentials in Authorization header"


def test_the_simulated_rate_limit_carries_retry_after_and_the_ratelimit_header() -> None:
    response = HuggingFaceHandler(None).rate_limited(55)
    assert response.status == 429
    assert response.headers["retry-after"] == "55"
    assert response.headers["ratelimit"] == '"api";r=0;t=55'


@given(st.integers(min_value=0, max_value=10**12))
def test_simulator_cursors_round_trip(offset: int) -> None:
    assert decode_cursor(encode_cursor(offset)) == offset


@pytest.mark.parametrize("cursor", ["", "not-base64!", encode_cursor(0)[:-3] + "###", "eyJvZmZzZXQiOiAtMX0"])
def test_simulator_refuses_foreign_cursors(cursor: str) -> None:
    assert decode_cursor(cursor) is None


def test_the_fixture_covers_every_default_organisation() -> None:
    by_org = Counter(model["author"] for model in FIXTURE)
    assert set(by_org) == set(DEFAULT_ORGANIZATIONS) and min(by_org.values()) >= 8
    assert len(FIXTURE) >= 60 and len({model["id"] for model in FIXTURE}) == len(FIXTURE)
    assert {model["gated"] for model in FIXTURE} == {False, "auto", "manual"}
    assert all(model["id"].startswith(model["author"] + "/") for model in FIXTURE)
