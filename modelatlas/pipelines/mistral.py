"""Mistral's model list: `GET /v1/models`, one unpaginated list of base and fine-tuned model cards, Bearer auth."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from modelatlas.pipelines.catalog import models_table
from modelatlas.pipelines.coerce import as_bool, as_integer, as_mapping, as_number, as_strings, as_text, as_timestamp
from modelatlas.pipelines.paginate import SinglePage
from modelatlas.pipelines.quality.suite import CONTEXT_WINDOW_RANGE, catalog_suite
from modelatlas.pipelines.spec import Catalog, Credential, DataType, Endpoint, Simulated, SourceSpec

# The capabilities Mistral's model cards are known to carry, each flattened to a `capability_<name>` column.
# Others a newer API adds stay in the `capabilities` JSON column (and the payload) and get no column of their own.
KNOWN_CAPABILITIES = (
    "completion_chat",
    "completion_fim",
    "function_calling",
    "fine_tuning",
    "vision",
    "ocr",
    "classification",
    "moderation",
    "audio",
    "audio_transcription",
    "audio_speech",
    "reasoning",
)

COLUMN_TYPES: dict[str, DataType] = {
    "object": "text",
    "created_at": "timestamp",
    "owned_by": "text",
    "name": "text",
    "description": "text",
    "capabilities": "json",
    "max_context_length": "bigint",
    "aliases": "json",
    "deprecation": "timestamp",
    "deprecation_replacement_model": "text",
    "default_model_temperature": "double",
    "type": "text",
    "job": "text",
    "root": "text",
    "archived": "bool",
    **{f"capability_{name}": "bool" for name in KNOWN_CAPABILITIES},
}


def capability_flags(capabilities: Any) -> dict[str, bool | None]:
    """One `capability_<name>` flag per known capability: its boolean value, None when absent or not a boolean."""
    values: Mapping[str, Any] = capabilities if isinstance(capabilities, Mapping) else {}
    return {f"capability_{name}": as_bool(values.get(name)) for name in KNOWN_CAPABILITIES}


def model_columns(item: Mapping[str, Any]) -> dict[str, Any]:
    """The columns ModelAtlas reads from one Mistral model card (base or fine-tuned); wrong types become null."""
    capabilities = item.get("capabilities")
    return {
        "object": as_text(item.get("object")),
        "created_at": as_timestamp(item.get("created")),
        "owned_by": as_text(item.get("owned_by")),
        "name": as_text(item.get("name")),
        "description": as_text(item.get("description")),
        "capabilities": as_mapping(capabilities),
        "max_context_length": as_integer(item.get("max_context_length")),
        "aliases": as_strings(item.get("aliases")),
        "deprecation": as_timestamp(item.get("deprecation")),
        "deprecation_replacement_model": as_text(item.get("deprecation_replacement_model")),
        "default_model_temperature": as_number(item.get("default_model_temperature")),
        "type": as_text(item.get("type")),
        "job": as_text(item.get("job")),
        "root": as_text(item.get("root")),
        "archived": as_bool(item.get("archived")),
        **capability_flags(capabilities),
    }


CATALOG = Catalog(
    endpoint=Endpoint("v1/models", SinglePage()),
    identify=lambda item: as_text(item.get("id")),
    columns=model_columns,
    column_types=COLUMN_TYPES,
    # `created` is not a release date: the list endpoint stamps base cards with the time of the request, so it
    # changes on every fetch and must not make every model look changed.
    volatile=("created",),
)

SPEC = SourceSpec(
    name="mistral",
    display_name="Mistral",
    kind="catalog",
    description="Mistral's model cards (GET /v1/models): capabilities, context length, aliases, deprecations.",
    tables=(
        models_table(
            CATALOG,
            "One row per model card Mistral has listed (base and fine-tuned); merged on `id`, never deleted.",
            catalog_suite(
                "mistral",
                not_in_future=("created_at",),
                ranges={"max_context_length": CONTEXT_WINDOW_RANGE},
                known_values={"type": frozenset({"base", "fine-tuned"})},
            ),
        ),
    ),
    credential=Credential("MISTRAL_API_KEY"),
    base_url="https://api.mistral.ai",
    catalog=CATALOG,
    simulator=Simulated("modelatlas.simulator.mistral:MistralHandler"),
    endpoint_doc="`GET /v1/models`, one list",
)
