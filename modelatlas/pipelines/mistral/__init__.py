"""dlt source for Mistral's model list: `GET /v1/models` (one unpaginated list of base and fine-tuned cards)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import dlt
from dlt.sources import DltResource

from modelatlas.errors import ConfigurationError, SourceError
from modelatlas.pipelines.catalog import FetchStats, models_resource
from modelatlas.pipelines.coerce import as_integer, as_number
from modelatlas.pipelines.http import ApiClient, RetryPolicy

DEFAULT_BASE_URL = "https://api.mistral.ai"

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

# `created` is not a release date: the list endpoint stamps base cards with the time of the request, so it
# changes on every fetch and must not make every model look changed.
VOLATILE_FIELDS = ("created",)

MODEL_COLUMN_TYPES: dict[str, str] = {
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


def mistral_client(api_key: str, base_url: str = DEFAULT_BASE_URL, policy: RetryPolicy | None = None) -> ApiClient:
    """An API client authenticated the way Mistral's SDK is: a Bearer token."""
    return ApiClient(
        "Mistral",
        base_url,
        headers={"Authorization": f"Bearer {api_key}"},
        key_env="MISTRAL_API_KEY",
        secrets=(api_key,),
        policy=policy,
    )


def parse_timestamp(value: Any) -> datetime | None:
    """An aware UTC datetime from unix seconds or an ISO-8601 string (`Z`, offset, naive or date-only)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def capability_flags(capabilities: Any) -> dict[str, bool | None]:
    """One `capability_<name>` flag per known capability: its boolean value, None when absent or not a boolean."""
    values: Mapping[str, Any] = capabilities if isinstance(capabilities, Mapping) else {}
    return {
        f"capability_{name}": value if isinstance(value := values.get(name), bool) else None
        for name in KNOWN_CAPABILITIES
    }


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def model_columns(item: Mapping[str, Any]) -> dict[str, Any]:
    """The columns ModelAtlas reads from one Mistral model card (base or fine-tuned); wrong types become null."""
    capabilities = item.get("capabilities")
    aliases = item.get("aliases")
    archived = item.get("archived")
    return {
        "object": _text(item.get("object")),
        "created_at": parse_timestamp(item.get("created")),
        "owned_by": _text(item.get("owned_by")),
        "name": _text(item.get("name")),
        "description": _text(item.get("description")),
        "capabilities": dict(capabilities) if isinstance(capabilities, Mapping) else None,
        "max_context_length": as_integer(item.get("max_context_length")),
        "aliases": [alias for alias in aliases if isinstance(alias, str)] if isinstance(aliases, list) else None,
        "deprecation": parse_timestamp(item.get("deprecation")),
        "deprecation_replacement_model": _text(item.get("deprecation_replacement_model")),
        "default_model_temperature": as_number(item.get("default_model_temperature")),
        "type": _text(item.get("type")),
        "job": _text(item.get("job")),
        "root": _text(item.get("root")),
        "archived": archived if isinstance(archived, bool) else None,
        **capability_flags(capabilities),
    }


def fetch_models(client: ApiClient, stats: FetchStats) -> Iterator[dict[str, Any]]:
    """Every model card of the list (the endpoint is not paginated)."""
    body, _ = client.get_json("v1/models")
    stats.pages += 1
    stats.requests = client.requests_made
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list):
        raise SourceError("Mistral: /v1/models returned no `data` list")
    for item in data:
        if not isinstance(item, dict) or not isinstance(item.get("id"), str) or not item["id"]:
            raise SourceError(f"Mistral: /v1/models returned a model card without an id: {str(item)[:200]}")
        yield item


@dlt.source(name="mistral", max_table_nesting=0)
def mistral_source(
    api_key: str | None = None,
    base_url: str = DEFAULT_BASE_URL,
    region: str = "global",
    stats: FetchStats | None = None,
    policy: RetryPolicy | None = None,
) -> DltResource:
    """Mistral's catalog as `raw_mistral.models`, merged on the model id."""
    fetch_stats = stats if stats is not None else FetchStats()

    def items() -> Iterator[dict[str, Any]]:
        if not api_key:
            raise ConfigurationError("Mistral: MISTRAL_API_KEY is not set")
        with mistral_client(api_key, base_url, policy) as client:
            yield from fetch_models(client, fetch_stats)

    return models_resource(
        items,
        identify=lambda item: str(item["id"]),
        extract=model_columns,
        column_types=MODEL_COLUMN_TYPES,
        region=region,
        stats=fetch_stats,
        volatile=VOLATILE_FIELDS,
    )
