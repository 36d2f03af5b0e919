"""The Hugging Face Hub's open-weight models: `GET /api/models` per tracked organisation, most downloaded first.

Two tables: `models` (the catalog, merged on the repository id) and `model_stats` (downloads, likes and trending
score of every model at every fetch, appended: the time series behind popularity trends).

The rows travel as Arrow tables through dlt's `csv` file format (PostgreSQL COPY): the Hub lists hundreds of
thousands of models, and dicts through dlt's normalizer were several times slower than that.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pyarrow as pa
from dlt.common.json import json as fast_json

from modelatlas.errors import ConfigurationError
from modelatlas.pipelines.catalog import CATALOG_COLUMNS, batch_id, catalog_row, identify_or_none
from modelatlas.pipelines.coerce import as_integer, as_number, as_text, as_timestamp
from modelatlas.pipelines.paginate import LinkHeader, PageSize, fetch_items
from modelatlas.pipelines.quality.suite import Suite, catalog_suite
from modelatlas.pipelines.spec import (
    Batch,
    Catalog,
    Credential,
    DataType,
    Endpoint,
    Request,
    Setting,
    Simulated,
    SourceSpec,
    TableSpec,
)

log = logging.getLogger(__name__)

DEFAULT_ORGANIZATIONS: tuple[str, ...] = (
    "meta-llama",
    "mistralai",
    "google",
    "Qwen",
    "deepseek-ai",
    "microsoft",
    "nvidia",
)
DEFAULT_MAX_MODELS_PER_ORGANIZATION = 1000
# With expand[] the Hub returns exactly these properties (plus `_id` and `id`), nothing of its default set.
EXPAND = (
    "author",
    "downloads",
    "likes",
    "trendingScore",
    "pipeline_tag",
    "library_name",
    "gated",
    "cardData",
    "createdAt",
    "lastModified",
    "private",
    "tags",
)
COUNTER_RANGE = (0, 10**13)
_ORGANIZATION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")

COLUMN_TYPES: dict[str, DataType] = {
    "author": "text",
    "downloads": "bigint",
    "likes": "bigint",
    "trending_score": "double",
    "pipeline_tag": "text",
    "library_name": "text",
    "gated": "text",
    "license": "text",
    "created_at": "timestamp",
    "last_modified": "timestamp",
    "tags": "json",
}
_TIMESTAMP = pa.timestamp("us", tz="UTC")
_ARROW_TYPES: dict[str, pa.DataType] = {
    "text": pa.string(),
    "json": pa.string(),  # JSON travels as text; PostgreSQL parses it into jsonb
    "bigint": pa.int64(),
    "double": pa.float64(),
    "timestamp": _TIMESTAMP,
}
MODELS_COLUMNS: dict[str, DataType] = {
    "id": "text",
    **COLUMN_TYPES,
    **{k: v for k, v in CATALOG_COLUMNS.items() if k != "id"},
}
MODEL_SCHEMA = pa.schema([(name, _ARROW_TYPES[data_type]) for name, data_type in MODELS_COLUMNS.items()])
STATS_COLUMNS: dict[str, DataType] = {
    "id": "text",
    "downloads": "bigint",
    "likes": "bigint",
    "trending_score": "double",
    "observed_at": "timestamp",
    "batch_id": "text",
}
# The stats columns as they are named in a `models` table.
_STATS_FROM_MODELS = ("id", "downloads", "likes", "trending_score", "_fetched_at", "batch_id")


def parse_organizations(raw: str, variable: str) -> tuple[str, ...]:
    """The organisations of a comma-separated list, in order and without repeats; blank means the defaults."""
    if not raw.strip():
        return DEFAULT_ORGANIZATIONS
    names: list[str] = []
    for part in raw.split(","):
        name = part.strip()
        if not name:
            continue
        if not _ORGANIZATION.match(name):
            raise ConfigurationError(
                f"{variable} holds {name!r}, which is not a Hugging Face organisation name "
                "(letters, digits, '-', '_' and '.'): list names like meta-llama,mistralai"
            )
        if name.lower() not in {known.lower() for known in names}:
            names.append(name)
    if not names:
        raise ConfigurationError(f"{variable} lists no organisation: give names like meta-llama,mistralai or unset it")
    return tuple(names)


def parse_max_models(raw: str, variable: str) -> int:
    """The per-organisation cap from its setting; blank means the default."""
    if not raw.strip():
        return DEFAULT_MAX_MODELS_PER_ORGANIZATION
    try:
        value = int(raw.strip())
    except ValueError:
        value = 0
    if value < 1:
        raise ConfigurationError(f"{variable} must be a positive integer (models per organisation), got {raw!r}")
    return value


def gated_label(value: Any) -> str | None:
    """The gating mode as text: 'false' (open), 'auto' or 'manual' (approval), 'true' from older responses."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value.lower() if isinstance(value, str) and value else None


def license_of(card_data: Any) -> str | None:
    """The license id a model card declares (`cardData.license`); a list of licenses is joined with commas."""
    if not isinstance(card_data, Mapping):
        return None
    value = card_data.get("license")
    if isinstance(value, list):
        names = [str(name) for name in value if isinstance(name, str) and name]
        return ",".join(names) or None
    return as_text(value)


def model_id(item: Mapping[str, Any]) -> str | None:
    """The repository id (`org/name`) of a model object; older responses also carry it as `modelId`."""
    return as_text(item.get("id")) or as_text(item.get("modelId"))


def model_columns(item: Mapping[str, Any]) -> dict[str, Any]:
    """The typed columns ModelAtlas reads from one Hub model object."""
    tags = item.get("tags")
    return {
        "author": as_text(item.get("author")),
        "downloads": as_integer(item.get("downloads")),
        "likes": as_integer(item.get("likes")),
        "trending_score": as_number(item.get("trendingScore")),
        "pipeline_tag": as_text(item.get("pipeline_tag")),
        "library_name": as_text(item.get("library_name")),
        "gated": gated_label(item.get("gated")),
        "license": license_of(item.get("cardData")),
        "created_at": as_timestamp(item.get("createdAt")),
        "last_modified": as_timestamp(item.get("lastModified")),
        "tags": tags if isinstance(tags, list) else None,
    }


CATALOG = Catalog(
    endpoint=Endpoint("api/models", LinkHeader(PageSize("limit", default=1000, maximum=1000)), items=None),
    identify=model_id,
    columns=model_columns,
    column_types=COLUMN_TYPES,
    # Counters change on every fetch: left out of the content hash so only real catalog changes count.
    volatile=("downloads", "likes", "trendingScore"),
)


def organization_params(organization: str) -> dict[str, Any]:
    """The query of an organisation's listing: most downloaded first, with every property ModelAtlas reads."""
    return {"author": organization, "sort": "downloads", "direction": "-1", "expand[]": list(EXPAND)}


def models_table(rows: Iterable[Mapping[str, Any]]) -> pa.Table:
    """Catalog rows as one Arrow table of `MODEL_SCHEMA` (JSON columns as text)."""
    columns: dict[str, list[Any]] = {name: [] for name in MODEL_SCHEMA.names}
    for row in rows:
        for name, values in columns.items():
            value = row[name]
            if MODELS_COLUMNS[name] == "json" and value is not None:
                value = fast_json.dumps(value)
            values.append(value)
    arrays = [pa.array(values, type=MODEL_SCHEMA.field(name).type) for name, values in columns.items()]
    return pa.Table.from_arrays(arrays, schema=MODEL_SCHEMA)


def stats_table(models: pa.Table) -> pa.Table:
    """The counters of every model in a `models` table, observed at its fetch time."""
    return models.select(list(_STATS_FROM_MODELS)).rename_columns(list(STATS_COLUMNS))


def huggingface_batch(request: Request) -> Batch:
    """The tracked organisations' models, each organisation's most downloaded first, up to the cap per organisation."""
    organizations: Sequence[str] = request.options.get("organizations", DEFAULT_ORGANIZATIONS)
    cap: int = request.options.get("max_models_per_organization", DEFAULT_MAX_MODELS_PER_ORGANIZATION)
    batch = batch_id(request.fetched_at)
    rows: list[dict[str, Any]] = []
    listed: set[str] = set()
    with request.client() as client:
        for organization in organizations:
            for item in fetch_items(
                client,
                CATALOG.endpoint,
                request.stats,
                identify_or_none(CATALOG),
                page_size=request.page_size,
                params=organization_params(organization),
                limit=cap,
            ):
                row = catalog_row(item, CATALOG, batch=batch, fetched_at=request.fetched_at, region=request.region)
                # The ranking can shift between pages and organisations: a model listed twice is kept once.
                if row["id"] is not None and row["id"] in listed:
                    continue
                listed.add(row["id"])
                rows.append(row)
    log.info(
        "Hugging Face: %d models of %d organisations in %d pages", len(rows), len(organizations), request.stats.pages
    )
    models = models_table(rows)
    return Batch(
        tables={"models": models, "model_stats": stats_table(models)},
        origin=f"{request.base_url} [{request.region}]",
        metadata={"organizations": ", ".join(organizations)},
    )


def _models_suite() -> Suite:
    return catalog_suite(
        "huggingface",
        not_in_future=("created_at", "last_modified"),
        ranges={"downloads": COUNTER_RANGE, "likes": COUNTER_RANGE},
        known_values={"gated": frozenset({"false", "true", "auto", "manual"})},
    )


SPEC = SourceSpec(
    name="huggingface",
    display_name="Hugging Face",
    kind="catalog",
    description="Open-weight models of tracked Hugging Face organisations, with downloads and likes over time.",
    tables=(
        TableSpec(
            name="models",
            description="One row per model repository of a tracked organisation; merged on `id`, never deleted.",
            columns=MODELS_COLUMNS,
            version_columns=("id", "content_hash", "region"),
            primary_key=("id",),
            unique_rows=True,
            file_format="csv",
            tracked_by=(("id",), "content_hash"),
            suite=_models_suite(),
        ),
        TableSpec(
            name="model_stats",
            description="Downloads, likes and trending score of every model at every fetch (appended).",
            columns=STATS_COLUMNS,
            version_columns=("id", "downloads", "likes", "trending_score"),
            primary_key=("id", "batch_id"),
            disposition="append",
            not_null=("observed_at",),
            file_format="csv",
            suite=Suite(
                source="huggingface",
                entity="model_stats",
                key=("id", "batch_id"),
                not_null=("id", "batch_id", "observed_at"),
                ranges={"downloads": COUNTER_RANGE, "likes": COUNTER_RANGE},
                not_in_future=("observed_at",),
            ),
        ),
    ),
    credential=Credential("HF_TOKEN", required=False),
    base_url="https://huggingface.co",
    catalog=CATALOG,
    extract=huggingface_batch,
    settings=(
        Setting(
            "ORGS",
            ",".join(DEFAULT_ORGANIZATIONS),
            "the organisations tracked, comma-separated",
            option="organizations",
            parse=parse_organizations,
        ),
        Setting(
            "MAX_MODELS_PER_ORG",
            str(DEFAULT_MAX_MODELS_PER_ORGANIZATION),
            "the most downloaded models kept per organisation",
            option="max_models_per_organization",
            parse=parse_max_models,
        ),
    ),
    simulator=Simulated("modelatlas.simulator.huggingface:HuggingFaceHandler"),
    endpoint_doc="`GET /api/models?author=...`, pages by `Link` cursor",
)
