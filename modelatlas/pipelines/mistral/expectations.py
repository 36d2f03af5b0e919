"""The quality suite of `raw_mistral.models`."""

from __future__ import annotations

from modelatlas.pipelines.quality import catalog_suite
from modelatlas.pipelines.quality.suite import CONTEXT_WINDOW_RANGE

SUITES = (
    catalog_suite(
        "mistral",
        not_in_future=("created_at",),
        ranges={"max_context_length": CONTEXT_WINDOW_RANGE},
        known_values={"type": frozenset({"base", "fine-tuned"})},
        staging_columns=(
            "id",
            "created_at",
            "owned_by",
            "name",
            "description",
            "capabilities",
            "max_context_length",
            "deprecation",
            "deprecation_replacement_model",
            "type",
            "capability_completion_chat",
            "capability_completion_fim",
            "capability_function_calling",
            "capability_vision",
            "capability_ocr",
            "capability_audio",
            "capability_audio_transcription",
            "capability_audio_speech",
            "capability_reasoning",
            "region",
            "batch_id",
            "_fetched_at",
        ),
    ),
)
