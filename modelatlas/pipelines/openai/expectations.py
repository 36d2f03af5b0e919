"""The quality suite of `raw_openai.models`."""

from __future__ import annotations

from modelatlas.pipelines.quality import catalog_suite

SUITES = (
    catalog_suite(
        "openai",
        not_in_future=("created_at",),
        staging_columns=("id", "created_at", "shutdown_date", "region", "batch_id", "_fetched_at"),
    ),
)
