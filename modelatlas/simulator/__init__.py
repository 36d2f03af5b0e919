"""The local simulator of every source: each API from fixtures, for tests, benchmarks and sample mode.

Which handler serves a source, and which of its settings points at the simulator, is part of its spec.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable

from modelatlas.pipelines.spec import SourceSpec
from modelatlas.simulator.core import Fault, ProviderHandler
from modelatlas.simulator.server import Simulator

__all__ = ["Fault", "Simulator", "build_simulator", "handler_for", "sample_environment", "sample_key"]


def sample_key(source: str) -> str:
    """The dummy key sample mode sets for a source and its simulator accepts."""
    return f"sample-{source}-key-0000"


def sample_key_of(spec: SourceSpec) -> str:
    """The sample key of a source: that of the first source reading the same key variable (one key, one value)."""
    from modelatlas.pipelines.registry import sources

    assert spec.credential is not None
    env = spec.credential.env
    owner = next((other.name for other in sources() if other.credential and other.credential.env == env), spec.name)
    return sample_key(owner)


def handler_for(spec: SourceSpec, api_key: str | None = None) -> ProviderHandler:
    """A new handler of `spec`'s simulator, accepting `api_key` (its sample key by default, none when keyless)."""
    if spec.simulator is None:
        raise ValueError(f"{spec.name} has no simulator handler")
    module_name, _, class_name = spec.simulator.handler.partition(":")
    handler_class: type[ProviderHandler] = getattr(importlib.import_module(module_name), class_name)
    key = api_key if api_key is not None else (sample_key_of(spec) if spec.credential is not None else None)
    return handler_class(key)


def build_simulator(specs: Iterable[SourceSpec], port: int = 0) -> Simulator:
    """A simulator serving every source of `specs` that has a handler, each accepting its sample key."""
    return Simulator({spec.name: handler_for(spec) for spec in specs if spec.simulator is not None}, port=port)


def sample_environment(simulator: Simulator, specs: Iterable[SourceSpec]) -> dict[str, str]:
    """The variables that point every simulated source of `specs` at `simulator`, with its sample key."""
    env: dict[str, str] = {}
    for spec in specs:
        if spec.simulator is None or spec.name not in simulator.handlers:
            continue
        root = simulator.root_url(spec.name)
        value = spec.simulator.value
        env[spec.variable(spec.simulator.setting)] = value(root) if value is not None else root + spec.simulator.path
        if spec.base_url is not None:
            env[spec.variable("REGION")] = "sample"
        if spec.credential is not None:
            env[spec.credential.env] = sample_key_of(spec)
    return env
