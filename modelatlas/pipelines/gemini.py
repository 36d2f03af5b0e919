"""Google Gemini's model list: every page of `GET /v1beta/models` (`pageToken`), the key in `x-goog-api-key`."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import httpx

from modelatlas.pipelines.catalog import models_table
from modelatlas.pipelines.coerce import as_bool, as_integer, as_number, as_strings, as_text
from modelatlas.pipelines.paginate import BodyCursor, PageSize
from modelatlas.pipelines.quality.suite import CONTEXT_WINDOW_RANGE, OUTPUT_LIMIT_RANGE, catalog_suite
from modelatlas.pipelines.spec import Catalog, Credential, DataType, Endpoint, Simulated, SourceSpec

NAME_PREFIX = "models/"
# Gemini answers a key it does not know with 400 INVALID_ARGUMENT, not 401: this ErrorInfo reason says so.
INVALID_KEY_REASON = "API_KEY_INVALID"

COLUMN_TYPES: dict[str, DataType] = {
    "name": "text",
    "base_model_id": "text",
    "version": "text",
    "display_name": "text",
    "description": "text",
    "input_token_limit": "bigint",
    "output_token_limit": "bigint",
    "supported_generation_methods": "json",
    "temperature": "double",
    "top_p": "double",
    "top_k": "bigint",
    "max_temperature": "double",
    "thinking": "bool",
}


def is_invalid_key_error(body: Any) -> bool:
    """Whether a Google error body says the API key is not valid (an ErrorInfo with reason API_KEY_INVALID)."""
    error = body.get("error") if isinstance(body, dict) else None
    details = error.get("details") if isinstance(error, dict) else None
    if not isinstance(details, list):
        return False
    return any(isinstance(detail, dict) and detail.get("reason") == INVALID_KEY_REASON for detail in details)


def rejects_key(response: httpx.Response) -> bool:
    """Whether Gemini's response means a bad key: HTTP 400 with reason API_KEY_INVALID."""
    if response.status_code != 400:
        return False
    try:
        return is_invalid_key_error(response.json())
    except (ValueError, json.JSONDecodeError):
        return False


def model_id(item: Mapping[str, Any]) -> str | None:
    """The model id of a resource name: `models/gemini-2.5-pro` -> `gemini-2.5-pro`."""
    name = as_text(item.get("name"))
    return (name.removeprefix(NAME_PREFIX) or None) if name else None


def model_columns(item: Mapping[str, Any]) -> dict[str, Any]:
    """The columns ModelAtlas reads from one Gemini model object, typed; absent or malformed values are None."""
    return {
        "name": as_text(item.get("name")),
        "base_model_id": as_text(item.get("baseModelId")),
        "version": as_text(item.get("version")),
        "display_name": as_text(item.get("displayName")),
        "description": as_text(item.get("description")),
        "input_token_limit": as_integer(item.get("inputTokenLimit")),
        "output_token_limit": as_integer(item.get("outputTokenLimit")),
        "supported_generation_methods": as_strings(item.get("supportedGenerationMethods")),
        "temperature": as_number(item.get("temperature")),
        "top_p": as_number(item.get("topP")),
        "top_k": as_integer(item.get("topK")),
        "max_temperature": as_number(item.get("maxTemperature")),
        "thinking": as_bool(item.get("thinking")),
    }


CATALOG = Catalog(
    # The API's own default page size; it caps pageSize at 1000. Proto3 JSON omits an empty `models` list.
    endpoint=Endpoint(
        "v1beta/models",
        BodyCursor("nextPageToken", "pageToken", PageSize("pageSize", default=50, maximum=1000)),
        items="models",
        items_optional=True,
    ),
    identify=model_id,
    columns=model_columns,
    column_types=COLUMN_TYPES,
)

SPEC = SourceSpec(
    name="gemini",
    display_name="Gemini",
    kind="catalog",
    description="Google Gemini's model list (GET /v1beta/models, every page): token limits, methods, thinking.",
    tables=(
        models_table(
            CATALOG,
            "One row per model the Gemini API has listed; merged on `id` (the name without `models/`), never deleted.",
            catalog_suite(
                "gemini", ranges={"input_token_limit": CONTEXT_WINDOW_RANGE, "output_token_limit": OUTPUT_LIMIT_RANGE}
            ),
        ),
    ),
    credential=Credential("GEMINI_API_KEY", header="x-goog-api-key", scheme=""),
    base_url="https://generativelanguage.googleapis.com",
    rejects_key=rejects_key,
    catalog=CATALOG,
    simulator=Simulated("modelatlas.simulator.gemini:GeminiHandler"),
    endpoint_doc="`GET /v1beta/models`, pages by `pageToken`",
)
