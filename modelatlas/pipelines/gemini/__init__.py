"""dlt source for Google Gemini's model list: `GET /v1beta/models`, every page, key in `x-goog-api-key`."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

import dlt
import httpx
from dlt.sources import DltResource

from modelatlas.errors import ConfigurationError, SourceError
from modelatlas.pipelines.catalog import FetchStats, models_resource
from modelatlas.pipelines.coerce import as_nonempty_text, as_number
from modelatlas.pipelines.http import ApiClient, RetryPolicy

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com"
MODELS_PATH = "v1beta/models"
# The API's own default; it caps pageSize at 1000.
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
NAME_PREFIX = "models/"
# Gemini answers a key it does not know with 400 INVALID_ARGUMENT, not 401: this ErrorInfo reason says so.
INVALID_KEY_REASON = "API_KEY_INVALID"

MODEL_COLUMN_TYPES: dict[str, str] = {
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


def gemini_client(api_key: str, base_url: str = DEFAULT_BASE_URL, policy: RetryPolicy | None = None) -> ApiClient:
    """An API client authenticated the way Google's SDK is: the key in `x-goog-api-key`, never in `?key=`."""
    return ApiClient(
        "Gemini",
        base_url,
        headers={"x-goog-api-key": api_key},
        key_env="GEMINI_API_KEY",
        secrets=(api_key,),
        policy=policy,
        rejects_key=rejects_key,
    )


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


def model_id(name: str) -> str:
    """The model id of a resource name: `models/gemini-2.5-pro` -> `gemini-2.5-pro`."""
    return name.removeprefix(NAME_PREFIX)


def _integer(value: Any) -> int | None:
    # bool is an int subclass; int64 fields arrive as JSON strings in Google's proto3 JSON mapping.
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None


def _methods(value: Any) -> list[str] | None:
    if not isinstance(value, list):
        return None
    return [method for method in value if isinstance(method, str)]


def model_columns(item: Mapping[str, Any]) -> dict[str, Any]:
    """The columns ModelAtlas reads from one Gemini model object, typed; absent or malformed values are None."""
    thinking = item.get("thinking")
    return {
        "name": as_nonempty_text(item.get("name")),
        "base_model_id": as_nonempty_text(item.get("baseModelId")),
        "version": as_nonempty_text(item.get("version")),
        "display_name": as_nonempty_text(item.get("displayName")),
        "description": as_nonempty_text(item.get("description")),
        "input_token_limit": _integer(item.get("inputTokenLimit")),
        "output_token_limit": _integer(item.get("outputTokenLimit")),
        "supported_generation_methods": _methods(item.get("supportedGenerationMethods")),
        "temperature": as_number(item.get("temperature")),
        "top_p": as_number(item.get("topP")),
        "top_k": _integer(item.get("topK")),
        "max_temperature": as_number(item.get("maxTemperature")),
        "thinking": thinking if isinstance(thinking, bool) else None,
    }


def list_params(page_size: int, page_token: str | None) -> dict[str, Any]:
    """Query parameters of one `models.list` request."""
    params: dict[str, Any] = {"pageSize": page_size}
    if page_token:
        params["pageToken"] = page_token
    return params


def page_models(body: Any) -> list[dict[str, Any]]:
    """The model objects of one page; a page without `models` is empty (proto3 JSON omits empty lists)."""
    if not isinstance(body, dict):
        raise SourceError(f"Gemini: /{MODELS_PATH} returned {type(body).__name__}, not an object")
    models = body.get("models", [])
    if not isinstance(models, list):
        raise SourceError(f"Gemini: /{MODELS_PATH} returned a `models` that is not a list")
    for item in models:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not model_id(item["name"]):
            raise SourceError(f"Gemini: /{MODELS_PATH} returned a model without a `name`: {str(item)[:200]}")
    return models


def next_page_token(body: Mapping[str, Any]) -> str | None:
    """The token of the next page, or None on the last page (`nextPageToken` absent or empty)."""
    token = body.get("nextPageToken")
    return token if isinstance(token, str) and token else None


def fetch_models(client: ApiClient, stats: FetchStats, page_size: int = DEFAULT_PAGE_SIZE) -> Iterator[dict[str, Any]]:
    """Every model object of every page, following `nextPageToken` until it is absent."""
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ConfigurationError(f"Gemini: page_size must be between 1 and {MAX_PAGE_SIZE}, got {page_size}")
    token: str | None = None
    seen: set[str] = set()
    while True:
        body, _ = client.get_json(MODELS_PATH, list_params(page_size, token))
        stats.pages += 1
        stats.requests = client.requests_made
        yield from page_models(body)
        token = next_page_token(body)
        if token is None:
            return
        if token in seen:
            raise SourceError(f"Gemini: /{MODELS_PATH} returned the same nextPageToken twice; stopping")
        seen.add(token)


@dlt.source(name="gemini", max_table_nesting=0)
def gemini_source(
    api_key: str | None = None,
    base_url: str = DEFAULT_BASE_URL,
    region: str = "global",
    stats: FetchStats | None = None,
    policy: RetryPolicy | None = None,
    page_size: int = DEFAULT_PAGE_SIZE,
) -> DltResource:
    """Gemini's catalog as `raw_gemini.models`, merged on the model id (the name without `models/`)."""
    fetch_stats = stats if stats is not None else FetchStats()

    def items() -> Iterator[dict[str, Any]]:
        if not api_key:
            raise ConfigurationError("Gemini: GEMINI_API_KEY is not set")
        with gemini_client(api_key, base_url, policy) as client:
            yield from fetch_models(client, fetch_stats, page_size)

    return models_resource(
        items,
        identify=lambda item: model_id(item["name"]),
        extract=model_columns,
        column_types=MODEL_COLUMN_TYPES,
        region=region,
        stats=fetch_stats,
    )
