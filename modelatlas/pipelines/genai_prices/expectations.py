"""The quality suites of the four `raw_genai_prices` tables: identities, limits, prices, tiers and components."""

from __future__ import annotations

import pandas as pd

from modelatlas.pipelines.quality import RowCheck, Suite
from modelatlas.pipelines.quality.suite import CONTEXT_WINDOW_RANGE, MAX_USD_PER_MTOK

SOURCE = "genai_prices"
_BATCH = ("batch_id", "source_origin", "source_version", "fetched_at")
# The components the registry's unit table knows today (a test keeps this in step with the installed package).
KNOWN_COMPONENTS = frozenset(
    {
        "audio_seconds",
        "cache_audio_read",
        "cache_audio_write",
        "cache_audio_write_1h",
        "cache_audio_write_5m",
        "cache_image_read",
        "cache_image_write",
        "cache_image_write_1h",
        "cache_image_write_5m",
        "cache_read",
        "cache_text_read",
        "cache_text_write",
        "cache_text_write_1h",
        "cache_text_write_5m",
        "cache_video_read",
        "cache_video_write",
        "cache_video_write_1h",
        "cache_video_write_5m",
        "cache_write",
        "cache_write_1h",
        "cache_write_5m",
        "code_executions",
        "input",
        "input_annotated_document_pages",
        "input_audio",
        "input_audio_seconds",
        "input_audio_tool",
        "input_characters",
        "input_document_pages",
        "input_image",
        "input_image_tool",
        "input_pixels",
        "input_text",
        "input_text_messages",
        "input_text_tool",
        "input_tool",
        "input_video",
        "input_video_tool",
        "output",
        "output_audio",
        "output_audio_citation",
        "output_audio_reasoning",
        "output_audio_seconds",
        "output_citation",
        "output_image",
        "output_image_citation",
        "output_image_reasoning",
        "output_reasoning",
        "output_text",
        "output_text_citation",
        "output_text_reasoning",
        "output_video",
        "output_video_citation",
        "output_video_reasoning",
        "requests",
        "rerank_searches",
        "social_searches",
        "storage_searches",
        "web_searches",
    }
)
# The columns that tell tiers of one price apart from other conditions.
_TIER_GROUP = ("provider_id", "model_id", "component", "effective_from", "window_start_utc", "variant")


def cache_read_not_above_input(frame: pd.DataFrame) -> pd.Series:
    """False for a `cache_read` price above the `input` price of the same model and condition."""
    group = ["provider_id", "model_id", "condition"]
    inputs = frame.loc[frame["component"] == "input", [*group, "price_usd"]].drop_duplicates(group)
    merged = frame[group].merge(inputs.rename(columns={"price_usd": "input_price"}), on=group, how="left")
    above = (frame["component"].to_numpy() == "cache_read") & (frame["price_usd"].to_numpy() > merged["input_price"])
    return pd.Series(~above, index=frame.index)


def tier_thresholds_increasing(frame: pd.DataFrame) -> pd.Series:
    """False for a tier whose threshold is not above every earlier tier's of the same price (in registry order)."""
    # One integer per distinct group, computed column-wise: joining each row's values took most of a batch's time.
    keys = frame[list(_TIER_GROUP)].astype(object).fillna("").map(str)
    group = keys.groupby(list(_TIER_GROUP), sort=False).ngroup()
    thresholds = frame["above_input_tokens"]
    running = thresholds.groupby(group).cummax().groupby(group).ffill()
    previous_max = running.groupby(group).shift(1)
    return ~(thresholds.notna() & previous_max.notna() & (thresholds <= previous_max))


SUITES = {
    suite.entity: suite
    for suite in (
        Suite(
            source=SOURCE,
            entity="providers",
            key=("provider_id",),
            not_null=("provider_id", *_BATCH),
            not_in_future=("fetched_at",),
            guard_shrink=True,
        ),
        Suite(
            source=SOURCE,
            entity="models",
            key=("provider_id", "model_id"),
            not_null=("provider_id", "model_id", *_BATCH),
            ranges={"context_window": CONTEXT_WINDOW_RANGE},
            not_in_future=("fetched_at",),
            guard_shrink=True,
        ),
        Suite(
            source=SOURCE,
            entity="prices",
            key=("provider_id", "model_id", "component", "condition"),
            not_null=("provider_id", "model_id", "component", "condition", "price_usd", "unit", *_BATCH),
            # price_usd is per the row's unit (1M tokens, 1K requests, 1 hour): the per-million-token ceiling holds all.
            prices={"price_usd": MAX_USD_PER_MTOK, "price_usd_per_mtok": MAX_USD_PER_MTOK},
            ranges={"above_input_tokens": CONTEXT_WINDOW_RANGE},
            not_in_future=("fetched_at",),
            known_values={"component": KNOWN_COMPONENTS},
            row_checks=(
                RowCheck(
                    name="cache_read_not_above_input",
                    description="a cache_read price is not above the input price of the same model and condition",
                    columns=("provider_id", "model_id", "condition", "component", "price_usd"),
                    passes=cache_read_not_above_input,
                ),
                RowCheck(
                    name="tier_thresholds_increasing",
                    description="tier thresholds (above_input_tokens) increase within one price",
                    columns=(*_TIER_GROUP, "above_input_tokens"),
                    passes=tier_thresholds_increasing,
                ),
            ),
            guard_shrink=True,
            jump_columns=("price_usd",),
        ),
        Suite(
            source=SOURCE,
            entity="loads",
            key=("batch_id",),
            not_null=_BATCH,
            not_in_future=("fetched_at",),
            known_values={"source_origin": frozenset({"published", "package"})},
        ),
    )
}
