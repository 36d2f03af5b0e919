"""One fetch of a source against its simulator (or another local server), without a warehouse."""

from __future__ import annotations

from collections.abc import Mapping

from modelatlas.pipelines import engine
from modelatlas.pipelines.http import RetryPolicy
from modelatlas.pipelines.spec import Batch, Request, SourceSpec
from modelatlas.settings import source_config
from modelatlas.simulator import Simulator, sample_environment

FAST = RetryPolicy(attempts=4, initial_wait_s=0.01, max_wait_s=0.05, budget_s=10, read_timeout_s=2.0)


def fetch_with(
    spec: SourceSpec, env: Mapping[str, str], *, page_size: int | None = None, policy: RetryPolicy = FAST
) -> tuple[Batch, Request]:
    """The batch of one fetch of `spec` as the settings in `env` configure it, and its request."""
    request = engine.request_for(spec, source_config(spec, env), policy=policy, page_size=page_size)
    return engine.fetch(request), request


def simulated_fetch(
    spec: SourceSpec,
    simulator: Simulator,
    *,
    page_size: int | None = None,
    env: Mapping[str, str] | None = None,
    policy: RetryPolicy = FAST,
) -> tuple[Batch, Request]:
    """One fetch of `spec` from `simulator` with its sample key, `env` on top."""
    settings = {**sample_environment(simulator, [spec]), **(env or {})}
    return fetch_with(spec, settings, page_size=page_size, policy=policy)
