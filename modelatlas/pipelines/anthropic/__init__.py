"""dlt source for Anthropic's model catalog: every page of `GET /v1/models`, with limits and capability flags."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import dlt
from dlt.sources import DltResource

from modelatlas.errors import ConfigurationError, SourceError
from modelatlas.pipelines.anthropic.client import (
    API_VERSION,
    DEFAULT_BASE_URL,
    DEFAULT_PAGE_SIZE,
    anthropic_client,
    check_page_size,
    fetch_models,
    next_cursor,
    page_items,
)
from modelatlas.pipelines.catalog import FetchStats, models_resource
from modelatlas.pipelines.coerce import as_iso_timestamp
from modelatlas.pipelines.http import RetryPolicy

__all__ = [
    "API_VERSION",
    "CAPABILITY_FLAGS",
    "DEFAULT_BASE_URL",
    "DEFAULT_PAGE_SIZE",
    "anthropic_client",
    "anthropic_source",
    "capability_flags",
    "fetch_models",
    "model_columns",
    "model_id",
    "next_cursor",
    "page_items",
]

# Top-level capabilities that get a typed `supports_<name>` column; any other capability stays in `capabilities`.
CAPABILITY_FLAGS = (
    "batch",
    "citations",
    "code_execution",
    "context_management",
    "effort",
    "image_input",
    "pdf_input",
    "structured_outputs",
    "thinking",
)


def capability_flags(tree: Any, prefix: str = "") -> dict[str, bool]:
    """Every `{"supported": bool}` node of a capabilities tree by dotted path (`thinking`, `thinking.types.adaptive`).

    Nodes of any other shape are skipped, so capabilities Anthropic adds later never break the walk.
    """
    flags: dict[str, bool] = {}
    if not isinstance(tree, Mapping):
        return flags
    for key, node in tree.items():
        if not isinstance(node, Mapping):
            continue
        path = f"{prefix}{key}"
        supported = node.get("supported")
        if isinstance(supported, bool):
            flags[path] = supported
        flags.update(capability_flags({k: v for k, v in node.items() if k != "supported"}, f"{path}."))
    return flags


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def model_id(item: Mapping[str, Any]) -> str:
    """The model's id; an object without one is a SourceError, not a row keyed on nothing."""
    value = item.get("id")
    if not isinstance(value, str) or not value:
        raise SourceError(f"Anthropic: /v1/models returned a model without an `id` (keys: {sorted(item)[:10]})")
    return value


def model_columns(item: Mapping[str, Any]) -> dict[str, Any]:
    """The columns ModelAtlas reads from one Anthropic model object; a flag is None when the payload does not say."""
    capabilities = item.get("capabilities")
    flags = capability_flags(capabilities)
    display_name = item.get("display_name")
    return {
        "display_name": display_name if isinstance(display_name, str) else None,
        "created_at": as_iso_timestamp(item.get("created_at")),
        "max_input_tokens": _count(item.get("max_input_tokens")),
        "max_tokens": _count(item.get("max_tokens")),
        "capabilities": dict(capabilities) if isinstance(capabilities, Mapping) else None,
        **{f"supports_{name}": flags.get(name) for name in CAPABILITY_FLAGS},
    }


COLUMN_TYPES: dict[str, str] = {
    "display_name": "text",
    "created_at": "timestamp",
    "max_input_tokens": "bigint",
    "max_tokens": "bigint",
    "capabilities": "json",
    **{f"supports_{name}": "bool" for name in CAPABILITY_FLAGS},
}


@dlt.source(name="anthropic", max_table_nesting=0)
def anthropic_source(
    api_key: str | None = None,
    base_url: str = DEFAULT_BASE_URL,
    region: str = "global",
    stats: FetchStats | None = None,
    policy: RetryPolicy | None = None,
    page_size: int = DEFAULT_PAGE_SIZE,
) -> DltResource:
    """Anthropic's catalog as `raw_anthropic.models`, merged on the model id."""
    fetch_stats = stats if stats is not None else FetchStats()
    check_page_size(page_size)

    def items() -> Iterator[dict[str, Any]]:
        if not api_key:
            raise ConfigurationError("Anthropic: ANTHROPIC_API_KEY is not set")
        with anthropic_client(api_key, base_url, policy) as client:
            yield from fetch_models(client, fetch_stats, page_size)

    return models_resource(
        items,
        identify=model_id,
        extract=model_columns,
        column_types=COLUMN_TYPES,
        region=region,
        stats=fetch_stats,
    )
