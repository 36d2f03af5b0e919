"""The provider simulator serving generated catalogs, and a genai-prices registry at any scale."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from bench.generator import Catalogs
from modelatlas.pipelines.providers import PROVIDERS
from modelatlas.simulator import Simulator, sample_environment, sample_key
from modelatlas.simulator.anthropic import AnthropicHandler
from modelatlas.simulator.core import ProviderHandler, SimRequest, SimResponse
from modelatlas.simulator.gemini import GeminiHandler
from modelatlas.simulator.huggingface import HuggingFaceHandler
from modelatlas.simulator.litellm import LiteLLMHandler
from modelatlas.simulator.mistral import MistralHandler
from modelatlas.simulator.openai import OpenAIHandler
from modelatlas.simulator.openrouter import OpenRouterHandler

REGISTRY = "genai_prices"


class IndexedHuggingFaceHandler(HuggingFaceHandler):
    """The Hub handler with models indexed by author, so a million-model catalog pages in constant time."""

    def __init__(self, api_key: str | None, models: list[dict[str, Any]]) -> None:
        super().__init__(api_key)
        self.models = models
        self._by_author: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for model in models:
            self._by_author[str(model.get("author", "")).lower()].append(model)
        for group in self._by_author.values():
            # Pre-sorted the way the client asks (downloads, descending): the handler's sort is then linear.
            group.sort(key=lambda model: model.get("downloads") or 0, reverse=True)

    def _matching(self, author: str | None, search: str | None) -> list[dict[str, Any]]:
        if author and not search:
            return list(self._by_author.get(author.lower(), []))
        return super()._matching(author, search)


class RegistryHandler(ProviderHandler):
    """Serves a genai-prices registry as the published `data.json`, encoded once."""

    name = REGISTRY

    def __init__(self, providers: list[dict[str, Any]]) -> None:
        super().__init__(None)
        self.body = json.dumps(providers).encode()

    def authenticate(self, request: SimRequest) -> SimResponse | None:
        return None

    def route(self, request: SimRequest) -> SimResponse:
        if request.path != "/data.json":
            return self.not_found(request)
        return SimResponse(200, self.body)

    def error(self, status: int, message: str, code: str | None = None) -> SimResponse:
        return SimResponse(status, {"error": message})


def build_bench_simulator(catalogs: Catalogs, port: int = 0) -> Simulator:
    """A simulator serving every provider's generated catalog and the registry, each accepting its sample key."""
    handlers: dict[str, ProviderHandler] = {}
    keyed = {"openai": OpenAIHandler, "anthropic": AnthropicHandler, "gemini": GeminiHandler, "mistral": MistralHandler}
    for name, handler_class in keyed.items():
        handler = handler_class(sample_key(name))
        handler.models = catalogs.keyed[name]  # type: ignore[attr-defined]
        handlers[name] = handler
    openrouter = OpenRouterHandler(sample_key("openrouter"))
    openrouter.models = catalogs.openrouter
    handlers["openrouter"] = openrouter
    handlers["huggingface"] = IndexedHuggingFaceHandler(sample_key("huggingface"), catalogs.huggingface)
    handlers[REGISTRY] = RegistryHandler(catalogs.registry)
    litellm = LiteLLMHandler(None)
    litellm.entries = catalogs.litellm
    handlers["litellm"] = litellm
    return Simulator(handlers, port=port)


def bench_environment(simulator: Simulator, catalogs: Catalogs) -> dict[str, str]:
    """The variables that point every source at the simulator, sized to serve the whole generated catalog."""
    env = sample_environment(simulator, PROVIDERS)
    env["MODELATLAS_HUGGINGFACE_ORGS"] = ",".join(catalogs.organizations)
    env["MODELATLAS_HUGGINGFACE_MAX_MODELS_PER_ORG"] = str(catalogs.per_organization)
    env["MODELATLAS_GENAI_PRICES_URL"] = simulator.root_url(REGISTRY) + "/data.json"
    env["MODELATLAS_GENAI_PRICES_TIMEOUT"] = "60"
    return env
