"""The simulator of every source, built from the source specs, serving the generated catalogs at any scale."""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any

from bench.generator import Catalogs
from modelatlas.pipelines.registry import source, sources
from modelatlas.simulator import Simulator, handler_for, sample_environment
from modelatlas.simulator.anthropic import AnthropicHandler
from modelatlas.simulator.core import ProviderHandler
from modelatlas.simulator.gemini import GeminiHandler
from modelatlas.simulator.genai_prices import RegistryHandler
from modelatlas.simulator.huggingface import HuggingFaceHandler
from modelatlas.simulator.litellm import LiteLLMHandler
from modelatlas.simulator.mistral import MistralHandler
from modelatlas.simulator.openai import OpenAIHandler
from modelatlas.simulator.openrouter import OpenRouterHandler

log = logging.getLogger("bench")
KEYED_HANDLERS = (OpenAIHandler, AnthropicHandler, GeminiHandler, MistralHandler)
# The registry's published JSON can be tens of megabytes at 10x: more than the source's default wait.
REGISTRY_TIMEOUT_S = 60


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


def serving(name: str, handler: ProviderHandler, catalogs: Catalogs) -> ProviderHandler:
    """`handler` (the spec's own) serving the generated catalog of source `name` instead of its fixtures."""
    if isinstance(handler, HuggingFaceHandler):
        return IndexedHuggingFaceHandler(handler.api_key, catalogs.huggingface)
    if isinstance(handler, KEYED_HANDLERS):
        handler.models = catalogs.keyed[name]
    elif isinstance(handler, OpenRouterHandler):
        handler.models = catalogs.openrouter
    elif isinstance(handler, RegistryHandler):
        handler.update(catalogs.registry)
    elif isinstance(handler, LiteLLMHandler):
        handler.entries = catalogs.litellm
    else:
        # A source the generator does not know yet still takes part in the cycle, at its fixtures' size.
        log.warning("bench: no generated catalog for source %s; its simulator serves its fixtures", name)
    return handler


def build_bench_simulator(catalogs: Catalogs, port: int = 0) -> Simulator:
    """A simulator serving every source with a simulator handler, each its generated catalog and its sample key."""
    handlers = {
        spec.name: serving(spec.name, handler_for(spec), catalogs) for spec in sources() if spec.simulator is not None
    }
    return Simulator(handlers, port=port)


def bench_environment(simulator: Simulator, catalogs: Catalogs) -> dict[str, str]:
    """The variables that point every source at the simulator, sized to serve the whole generated catalog."""
    env = sample_environment(simulator, sources())
    huggingface = source("huggingface")
    env[huggingface.variable("ORGS")] = ",".join(catalogs.organizations)
    env[huggingface.variable("MAX_MODELS_PER_ORG")] = str(catalogs.per_organization)
    env[source("genai_prices").variable("TIMEOUT")] = str(REGISTRY_TIMEOUT_S)
    return env
