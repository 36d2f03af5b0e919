"""Anthropic's Models API: every page of `GET /v1/models` (`after_id` cursor), `x-api-key` auth, the capabilities
tree and token limits."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from modelatlas.pipelines.catalog import models_table
from modelatlas.pipelines.coerce import as_integer, as_mapping, as_text, as_timestamp
from modelatlas.pipelines.paginate import AfterId, PageSize
from modelatlas.pipelines.quality.suite import CONTEXT_WINDOW_RANGE, OUTPUT_LIMIT_RANGE, catalog_suite
from modelatlas.pipelines.spec import Catalog, Credential, DataType, Endpoint, Simulated, SourceSpec

API_VERSION = "2023-06-01"
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


def model_columns(item: Mapping[str, Any]) -> dict[str, Any]:
    """The columns ModelAtlas reads from one Anthropic model object; a flag is None when the payload does not say."""
    capabilities = as_mapping(item.get("capabilities"))
    flags = capability_flags(capabilities)
    return {
        "display_name": as_text(item.get("display_name")),
        "created_at": as_timestamp(item.get("created_at")),
        "max_input_tokens": as_integer(item.get("max_input_tokens")),
        "max_tokens": as_integer(item.get("max_tokens")),
        "capabilities": capabilities,
        **{f"supports_{name}": flags.get(name) for name in CAPABILITY_FLAGS},
    }


COLUMN_TYPES: dict[str, DataType] = {
    "display_name": "text",
    "created_at": "timestamp",
    "max_input_tokens": "bigint",
    "max_tokens": "bigint",
    "capabilities": "json",
    **{f"supports_{name}": "bool" for name in CAPABILITY_FLAGS},
}

CATALOG = Catalog(
    # The API's own default page size; a catalog of a few dozen models then spans several pages.
    endpoint=Endpoint("v1/models", AfterId(PageSize("limit", default=20, maximum=1000))),
    identify=lambda item: as_text(item.get("id")),
    columns=model_columns,
    column_types=COLUMN_TYPES,
)

SPEC = SourceSpec(
    name="anthropic",
    display_name="Anthropic",
    kind="catalog",
    description="Anthropic's Models API (GET /v1/models, every page): token limits and the capabilities tree.",
    tables=(
        models_table(
            CATALOG,
            "One row per model Anthropic has listed; merged on `id`, never deleted.",
            catalog_suite(
                "anthropic",
                not_in_future=("created_at",),
                ranges={"max_input_tokens": CONTEXT_WINDOW_RANGE, "max_tokens": OUTPUT_LIMIT_RANGE},
            ),
        ),
    ),
    credential=Credential("ANTHROPIC_API_KEY", header="x-api-key", scheme=""),
    base_url="https://api.anthropic.com",
    headers={"anthropic-version": API_VERSION},
    catalog=CATALOG,
    simulator=Simulated("modelatlas.simulator.anthropic:AnthropicHandler"),
    endpoint_doc="`GET /v1/models`, pages by `after_id` / `has_more`",
)
