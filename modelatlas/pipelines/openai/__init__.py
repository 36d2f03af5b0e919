"""dlt source for OpenAI's model list: `GET /v1/models` (one page), with each model's shutdown date."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime
from typing import Any

import dlt
from dlt.sources import DltResource

from modelatlas.errors import ConfigurationError, SourceError
from modelatlas.pipelines.catalog import FetchStats, models_resource
from modelatlas.pipelines.http import ApiClient, RetryPolicy

DEFAULT_BASE_URL = "https://api.openai.com/v1"


def openai_client(api_key: str, base_url: str = DEFAULT_BASE_URL, policy: RetryPolicy | None = None) -> ApiClient:
    """An API client authenticated the way OpenAI's SDK is: a Bearer token."""
    return ApiClient(
        "OpenAI",
        base_url,
        headers={"Authorization": f"Bearer {api_key}"},
        key_env="OPENAI_API_KEY",
        secrets=(api_key,),
        policy=policy,
    )


def model_columns(item: Mapping[str, Any]) -> dict[str, Any]:
    """The columns ModelAtlas reads from one OpenAI model object."""
    created = item.get("created")
    shutdown = item.get("shutdown_date")
    return {
        "owned_by": item.get("owned_by"),
        "created_at": datetime.fromtimestamp(created, UTC) if isinstance(created, int | float) else None,
        "shutdown_date": date.fromisoformat(shutdown[:10]) if isinstance(shutdown, str) and shutdown else None,
    }


def fetch_models(client: ApiClient, stats: FetchStats) -> Iterator[dict[str, Any]]:
    """Every model object of the list."""
    body, _ = client.get_json("models")
    stats.pages += 1
    stats.requests = client.requests_made
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list):
        raise SourceError("OpenAI: /v1/models returned no `data` list")
    yield from data


@dlt.source(name="openai", max_table_nesting=0)
def openai_source(
    api_key: str | None = None,
    base_url: str = DEFAULT_BASE_URL,
    region: str = "global",
    stats: FetchStats | None = None,
    policy: RetryPolicy | None = None,
) -> DltResource:
    """OpenAI's catalog as `raw_openai.models`, merged on the model id."""
    fetch_stats = stats if stats is not None else FetchStats()

    def items() -> Iterator[dict[str, Any]]:
        if not api_key:
            raise ConfigurationError("OpenAI: OPENAI_API_KEY is not set")
        with openai_client(api_key, base_url, policy) as client:
            yield from fetch_models(client, fetch_stats)

    return models_resource(
        items,
        identify=lambda item: str(item["id"]),
        extract=model_columns,
        column_types={"owned_by": "text", "created_at": "timestamp", "shutdown_date": "date"},
        region=region,
        stats=fetch_stats,
    )
