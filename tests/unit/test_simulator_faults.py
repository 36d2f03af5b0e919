"""The `page_vanishes` fault: an empty page that says it is the last, in every paging provider's own shape."""

from __future__ import annotations

import pytest

from modelatlas.pipelines.providers import PROVIDERS
from modelatlas.simulator import Fault, build_simulator, sample_key

# A first-page request of each provider that pages, with the key in the header that provider reads.
FIRST_PAGES = {
    "anthropic": ("/v1/models?limit=5", {"x-api-key": sample_key("anthropic"), "anthropic-version": "2023-06-01"}),
    "gemini": ("/v1beta/models?pageSize=5", {"x-goog-api-key": sample_key("gemini")}),
    "openrouter": ("/api/v1/models?offset=0&limit=5", {}),
    "huggingface": ("/api/models?author=meta-llama&limit=2", {}),
}


@pytest.mark.parametrize("provider", sorted(FIRST_PAGES))
def test_the_page_comes_back_empty_without_a_next_page(provider: str) -> None:
    path, headers = FIRST_PAGES[provider]
    with build_simulator(PROVIDERS) as simulator:
        normal = simulator.dispatch("GET", f"/{provider}{path}", headers)
        simulator.inject(provider, Fault("page_vanishes"))
        vanished = simulator.dispatch("GET", f"/{provider}{path}", headers)
    assert normal.status == vanished.status == 200
    items_key = simulator.handlers[provider].items_key
    assert normal.body[items_key] if items_key else normal.body, "the normal page has items"
    assert (vanished.body[items_key] if items_key else vanished.body) == []
    if provider == "anthropic":
        assert normal.body["has_more"] and not vanished.body["has_more"]
    if provider == "gemini":
        assert "nextPageToken" in normal.body and "nextPageToken" not in vanished.body
    if provider == "openrouter":
        assert normal.body["links"]["next"] and vanished.body["links"]["next"] is None
    if provider == "huggingface":
        assert "link" in {k.lower() for k in normal.headers} and "link" not in {k.lower() for k in vanished.headers}
