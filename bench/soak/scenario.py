"""What the sources serve during a soak: a sequence of states of the simulator, and one source failing for a while.

Each state is the fixtures with the changes of every state up to it applied, so any state can be served again from
scratch (the one-shot replay serves them in order).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from modelatlas.simulator import Fault, Simulator

FAILING_SOURCE = "mistral"
# As many failures as the soak can ask for: the fault stays until the soak clears it.
FOREVER = 10**9


def _scaled(value: str | float, factor: str) -> str | float:
    """A price scaled exactly: OpenRouter's decimal strings stay strings, LiteLLM's floats stay floats."""
    if isinstance(value, str):
        return format(Decimal(value) * Decimal(factor), "f")
    return float(Decimal(str(value)) * Decimal(factor))


def openrouter_price_change(handlers: dict[str, Any]) -> None:
    """OpenRouter lowers the prompt price of its first model by 20%."""
    models = handlers["openrouter"].models
    pricing = models[0]["pricing"]
    pricing["prompt"] = _scaled(pricing["prompt"], "0.8")


def litellm_price_change(entry_index: int, factor: str) -> Callable[[dict[str, Any]], None]:
    """LiteLLM scales the input price of one of its entries."""

    def change(handlers: dict[str, Any]) -> None:
        entries = handlers["litellm"].entries
        priced = [name for name, entry in entries.items() if entry.get("input_cost_per_token")]
        key = priced[entry_index]
        entries[key]["input_cost_per_token"] = _scaled(entries[key]["input_cost_per_token"], factor)

    return change


def openai_model_appears(handlers: dict[str, Any]) -> None:
    """OpenAI lists a new model."""
    handlers["openai"].models.append(
        {"id": "gpt-soak-1", "object": "model", "created": 1767225600, "owned_by": "system", "shutdown_date": None}
    )


def openrouter_model_appears(handlers: dict[str, Any]) -> None:
    """OpenRouter lists a new model, priced like its second one."""
    models = handlers["openrouter"].models
    new = copy.deepcopy(models[1])
    new.update(id="soak/new-model-1", canonical_slug="soak/new-model-1", name="Soak: New Model 1", created=1767225600)
    models.append(new)


@dataclass(frozen=True)
class Change:
    """One state after the first: what changed, in which sources."""

    name: str
    sources: tuple[str, ...]
    apply: Callable[[dict[str, Any]], None]
    # Served while the failing source fails: the marts that do not read it must still follow it.
    during_failure: bool = False


CHANGES = (
    Change(
        "a price changes",
        ("openrouter", "litellm"),
        lambda h: (openrouter_price_change(h), litellm_price_change(0, "0.8")(h)),
    ),
    Change("models appear", ("openai", "openrouter"), lambda h: (openai_model_appears(h), openrouter_model_appears(h))),
    Change("a price changes while a source fails", ("litellm",), litellm_price_change(1, "1.25"), during_failure=True),
)
# What each handler serves that a change may edit.
EDITABLE = {"openai": "models", "openrouter": "models", "litellm": "entries"}


@dataclass
class Served:
    """When one state (or the failure) began and ended on the simulator's clock (time.monotonic)."""

    name: str
    started: float
    wall_started: float
    ended: float | None = None


@dataclass
class Scenario:
    """The soak's simulator: serves state 0 (the fixtures), then each change in turn; fails one source on demand."""

    simulator: Simulator
    failing: str = FAILING_SOURCE
    states: list[Served] = field(default_factory=list)
    failure: Served | None = None
    _pristine: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        handlers = self.simulator.handlers
        self._pristine = {name: copy.deepcopy(getattr(handlers[name], attr)) for name, attr in EDITABLE.items()}
        self.states.append(Served("initial", time.monotonic(), time.time()))

    @property
    def state(self) -> int:
        """The index of the state served now (0: the fixtures)."""
        return len(self.states) - 1

    def serve(self, index: int) -> None:
        """Serve state `index`: the fixtures with changes 1..index applied, each handler's data swapped at once."""
        handlers = self.simulator.handlers
        edited = {name: copy.deepcopy(self._pristine[name]) for name in EDITABLE}
        views = {name: SimpleNamespace(**{attr: edited[name]}) for name, attr in EDITABLE.items()}
        for change in CHANGES[:index]:
            change.apply(views)
        for name, attr in EDITABLE.items():
            setattr(handlers[name], attr, edited[name])

    def advance(self) -> Change:
        """Serve the next state; return its change."""
        change = CHANGES[self.state]
        self.serve(self.state + 1)
        now = time.monotonic()
        self.states[-1].ended = now
        self.states.append(Served(change.name, now, time.time()))
        return change

    def fail(self) -> None:
        """The failing source answers 503 to every request until `recover`."""
        self.simulator.inject(self.failing, Fault("server_error", count=FOREVER))
        self.failure = Served(f"{self.failing} failing", time.monotonic(), time.time())

    def recover(self) -> None:
        """The failing source answers again (the simulator forgets its faults)."""
        self.simulator.clear()
        if self.failure is not None:
            self.failure.ended = time.monotonic()
