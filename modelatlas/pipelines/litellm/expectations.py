"""The quality suites of `raw_litellm.models` and `raw_litellm.loads` (its price points share the price suite)."""

from __future__ import annotations

from modelatlas.pipelines.quality.suite import CONTEXT_WINDOW_RANGE, OUTPUT_LIMIT_RANGE, Suite

SOURCE = "litellm"

SUITES = {
    suite.entity: suite
    for suite in (
        Suite(
            source=SOURCE,
            entity="models",
            key=("model_key",),
            not_null=("model_key", "litellm_provider", "provider_model_id", "payload", "batch_id", "_fetched_at"),
            ranges={"max_input_tokens": CONTEXT_WINDOW_RANGE, "max_output_tokens": OUTPUT_LIMIT_RANGE},
            not_in_future=("_fetched_at",),
            guard_shrink=True,
        ),
        Suite(
            source=SOURCE,
            entity="loads",
            key=("batch_id",),
            not_null=("batch_id", "fetched_at", "source_url"),
            not_in_future=("fetched_at",),
        ),
    )
}
