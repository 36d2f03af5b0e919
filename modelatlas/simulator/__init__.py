"""The local provider simulator: every provider's API from fixtures, for tests, benchmarks and sample mode."""

from __future__ import annotations

import importlib
from collections.abc import Iterable

from modelatlas.pipelines.catalog import ProviderSpec
from modelatlas.simulator.core import Fault, ProviderHandler
from modelatlas.simulator.server import Simulator

__all__ = ["API_ROOTS", "REGISTRIES", "Fault", "Simulator", "build_simulator", "sample_environment"]

# The handler class of each provider, imported when a simulator is built.
HANDLERS = {
    "openai": "modelatlas.simulator.openai:OpenAIHandler",
    "anthropic": "modelatlas.simulator.anthropic:AnthropicHandler",
    "gemini": "modelatlas.simulator.gemini:GeminiHandler",
    "mistral": "modelatlas.simulator.mistral:MistralHandler",
    "huggingface": "modelatlas.simulator.huggingface:HuggingFaceHandler",
    "openrouter": "modelatlas.simulator.openrouter:OpenRouterHandler",
    "litellm": "modelatlas.simulator.litellm:LiteLLMHandler",
}
# Price registries the simulator always serves besides the providers it is built for: no key, one file each.
REGISTRIES = ("litellm",)
REGISTRY_URL_VARIABLES = {"litellm": ("MODELATLAS_LITELLM_URL", "/model_prices_and_context_window.json")}
# What follows the host in each provider's SDK base URL: the simulator serves the same paths below its prefix.
API_ROOTS = {"openai": "/v1", "openrouter": "/api/v1"}


def sample_key(provider: str) -> str:
    """The dummy key sample mode sets for a provider and its simulator accepts."""
    return f"sample-{provider}-key-0000"


def _handler(provider: str, api_key: str | None) -> ProviderHandler:
    module_name, _, class_name = HANDLERS[provider].partition(":")
    handler_class: type[ProviderHandler] = getattr(importlib.import_module(module_name), class_name)
    return handler_class(api_key)


def build_simulator(providers: Iterable[ProviderSpec], port: int = 0) -> Simulator:
    """A simulator serving `providers`, each accepting its sample key, and the price registries."""
    handlers = {spec.name: _handler(spec.name, sample_key(spec.name)) for spec in providers}
    handlers.update({name: _handler(name, None) for name in REGISTRIES})
    return Simulator(handlers, port=port)


def sample_environment(simulator: Simulator, providers: Iterable[ProviderSpec]) -> dict[str, str]:
    """The variables that point every provider at the simulator, with its sample key."""
    env: dict[str, str] = {}
    for spec in providers:
        env[f"MODELATLAS_{spec.env_prefix}_BASE_URL"] = simulator.root_url(spec.name) + API_ROOTS.get(spec.name, "")
        env[f"MODELATLAS_{spec.env_prefix}_REGION"] = "sample"
        if spec.key_env:
            env[spec.key_env] = sample_key(spec.name)
    for name, (variable, path) in REGISTRY_URL_VARIABLES.items():
        if name in simulator.handlers:
            env[variable] = simulator.root_url(name) + path
    return env
