"""The simulator's faults: which requests they hit, and what each does to an answer in every provider's own shape."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from modelatlas.pipelines.registry import sources
from modelatlas.simulator import Fault, Simulator, build_simulator, sample_key

# A first-page request of each provider that pages, with the key in the header that provider reads.
FIRST_PAGES = {
    "anthropic": ("/v1/models?limit=5", {"x-api-key": sample_key("anthropic"), "anthropic-version": "2023-06-01"}),
    "gemini": ("/v1beta/models?pageSize=5", {"x-goog-api-key": sample_key("gemini")}),
    "openrouter": ("/api/v1/models?offset=0&limit=5", {}),
    "huggingface": ("/api/models?author=meta-llama&limit=2", {}),
}
MISTRAL = ("/mistral/v1/models", {"Authorization": f"Bearer {sample_key('mistral')}"})
# The header that carries each source's sample key.
KEYS = {spec.name: spec.credential.headers(sample_key(spec.name)) for spec in sources() if spec.credential}


@pytest.fixture(scope="module")
def simulator() -> Iterator[Simulator]:
    with build_simulator(sources()) as server:
        yield server


@pytest.fixture
def sim(simulator: Simulator) -> Iterator[Simulator]:
    simulator.clear()
    yield simulator
    simulator.clear()


def items(simulator: Simulator, provider: str, body: object) -> list[dict[str, object]]:
    key = simulator.handlers[provider].items_key
    listed = body[key] if key is not None and isinstance(body, dict) else body
    assert isinstance(listed, list)
    return listed


@pytest.mark.parametrize("provider", sorted(FIRST_PAGES))
def test_a_vanished_page_comes_back_empty_without_a_next_page(sim: Simulator, provider: str) -> None:
    path, headers = FIRST_PAGES[provider]
    normal = sim.dispatch("GET", f"/{provider}{path}", headers)
    sim.inject(provider, Fault("page_vanishes"))
    vanished = sim.dispatch("GET", f"/{provider}{path}", headers)

    assert normal.status == vanished.status == 200
    assert items(sim, provider, normal.body), "the normal page has items"
    assert items(sim, provider, vanished.body) == []
    if provider == "anthropic":
        assert normal.body["has_more"] and not vanished.body["has_more"]
    if provider == "gemini":
        assert "nextPageToken" in normal.body and "nextPageToken" not in vanished.body
    if provider == "openrouter":
        assert normal.body["links"]["next"] and vanished.body["links"]["next"] is None
    if provider == "huggingface":
        assert "link" in {k.lower() for k in normal.headers} and "link" not in {k.lower() for k in vanished.headers}


def test_skip_lets_requests_through_and_count_hits_the_next_ones_in_order(sim: Simulator) -> None:
    sim.inject("mistral", Fault("status", skip=1, count=2, status=404))
    sim.inject("mistral", Fault("server_error", status=502))

    statuses = [sim.dispatch("GET", *MISTRAL).status for _ in range(5)]

    assert statuses == [200, 404, 404, 502, 200]


def test_a_rejected_key_is_answered_before_any_fault(sim: Simulator) -> None:
    sim.inject("mistral", Fault("server_error"))
    assert sim.dispatch("GET", MISTRAL[0], {"Authorization": "Bearer wrong"}).status == 401
    assert sim.dispatch("GET", *MISTRAL).status == 503  # the fault was still pending


def test_a_truncated_answer_is_the_first_half_of_its_json(sim: Simulator) -> None:
    whole = sim.dispatch("GET", *MISTRAL).encoded()
    sim.inject("mistral", Fault("truncated"))
    truncated = sim.dispatch("GET", *MISTRAL)
    assert truncated.status == 200 and truncated.encoded() == whole[: len(whole) // 2]
    with pytest.raises(json.JSONDecodeError):
        json.loads(truncated.encoded())


@pytest.mark.parametrize("provider", [*sorted(FIRST_PAGES), "mistral"])
def test_a_field_appears_on_or_vanishes_from_every_item_of_the_page(sim: Simulator, provider: str) -> None:
    path, headers = FIRST_PAGES.get(provider, (MISTRAL[0].removeprefix("/mistral"), MISTRAL[1]))
    sim.inject(provider, Fault("unknown_field", field_name="lifecycle"))
    added = items(sim, provider, sim.dispatch("GET", f"/{provider}{path}", headers).body)
    field = next(iter(added[0]))
    sim.inject(provider, Fault("missing_field", field_name=field))
    removed = items(sim, provider, sim.dispatch("GET", f"/{provider}{path}", headers).body)

    assert added and all(item["lifecycle"] == {"new": True} for item in added)
    assert removed and all(field not in item for item in removed)


@pytest.mark.parametrize("provider", [*sorted(FIRST_PAGES), "mistral", "openai"])
def test_a_status_fault_answers_that_status_in_the_providers_error_shape(sim: Simulator, provider: str) -> None:
    sim.inject(provider, Fault("status", status=404))
    answer = sim.dispatch("GET", f"/{provider}/anything", KEYS[provider])
    expected = sim.handlers[provider].error(404, "Simulated HTTP 404", "simulated")
    assert answer.status == 404
    assert {k: v for k, v in answer.body.items() if k != "request_id"} == {
        k: v
        for k, v in expected.body.items()
        if k != "request_id"  # Anthropic's differs per answer
    }
