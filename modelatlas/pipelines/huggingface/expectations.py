"""The quality suites of `raw_huggingface.models` and `raw_huggingface.model_stats`."""

from __future__ import annotations

from modelatlas.pipelines.quality import Suite, catalog_suite

COUNTER_RANGE = (0, 10**13)

SUITES = (
    catalog_suite(
        "huggingface",
        not_in_future=("created_at", "last_modified"),
        ranges={"downloads": COUNTER_RANGE, "likes": COUNTER_RANGE},
        known_values={"gated": frozenset({"false", "true", "auto", "manual"})},
        staging_columns=("id", "author", "pipeline_tag", "license", "created_at", "region", "batch_id", "_fetched_at"),
    ),
    Suite(
        source="huggingface",
        entity="model_stats",
        key=("id", "batch_id"),
        not_null=("id", "batch_id", "observed_at"),
        ranges={"downloads": COUNTER_RANGE, "likes": COUNTER_RANGE},
        not_in_future=("observed_at",),
        staging_columns=("id", "downloads", "likes", "trending_score", "observed_at", "batch_id"),
    ),
)
