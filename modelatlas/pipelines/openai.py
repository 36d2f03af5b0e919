"""OpenAI's model list: `GET /v1/models` (one page), Bearer auth, each model's shutdown date."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from modelatlas.pipelines.catalog import models_table
from modelatlas.pipelines.coerce import as_date, as_text, as_timestamp
from modelatlas.pipelines.paginate import SinglePage
from modelatlas.pipelines.quality.suite import catalog_suite
from modelatlas.pipelines.spec import Catalog, Credential, Endpoint, Simulated, SourceSpec


def model_columns(item: Mapping[str, Any]) -> dict[str, Any]:
    """The columns ModelAtlas reads from one OpenAI model object."""
    return {
        "owned_by": as_text(item.get("owned_by")),
        "created_at": as_timestamp(item.get("created")),
        "shutdown_date": as_date(item.get("shutdown_date")),
    }


CATALOG = Catalog(
    endpoint=Endpoint("models", SinglePage()),
    identify=lambda item: as_text(item.get("id")),
    columns=model_columns,
    column_types={"owned_by": "text", "created_at": "timestamp", "shutdown_date": "date"},
)

SPEC = SourceSpec(
    name="openai",
    display_name="OpenAI",
    kind="catalog",
    description="OpenAI's model list (GET /v1/models): ids, owners, creation and shutdown dates.",
    tables=(
        models_table(
            CATALOG,
            "One row per model id OpenAI has listed; merged on `id`, never deleted.",
            catalog_suite("openai", not_in_future=("created_at",)),
        ),
    ),
    cadence="*/5 * * * *",
    credential=Credential("OPENAI_API_KEY"),
    base_url="https://api.openai.com/v1",
    catalog=CATALOG,
    simulator=Simulated("modelatlas.simulator.openai:OpenAIHandler", path="/v1"),
    endpoint_doc="`GET /models`, one list",
)
