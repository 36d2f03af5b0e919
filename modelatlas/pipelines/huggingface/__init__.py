"""dlt source for the Hugging Face Hub's open-weight models: `GET /api/models` per tracked organisation.

Two tables: `models` (the catalog, merged on the repository id) and `model_stats` (downloads, likes and trending
score of every model at every fetch, appended: the time series behind popularity trends).

Each page becomes one Arrow table loaded through dlt's `csv` file format (PostgreSQL COPY): the Hub lists hundreds
of thousands of models, and dicts through dlt's normalizer were several times slower than that.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import dlt
import httpx
import pyarrow as pa
from dlt.common.json import json as fast_json
from dlt.sources import DltResource

from modelatlas.errors import ConfigurationError, SourceError
from modelatlas.pipelines.catalog import FetchStats, batch_id, column_hints
from modelatlas.pipelines.coerce import as_integer, as_iso_timestamp, as_nonempty_text, as_number
from modelatlas.pipelines.http import ApiClient, RetryPolicy

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://huggingface.co"
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
MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = MAX_PAGE_SIZE
# Rows per Arrow table handed to dlt: dlt's cost per table is fixed, so a few large tables beat many pages.
ARROW_BATCH_ROWS = 20_000
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
# Counters that change on every fetch: left out of the content hash so only real catalog changes count.
VOLATILE_FIELDS = ("downloads", "likes", "trendingScore")
ORGS_ENV = "MODELATLAS_HUGGINGFACE_ORGS"
MAX_MODELS_ENV = "MODELATLAS_HUGGINGFACE_MAX_MODELS_PER_ORG"
_ORGANIZATION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")

MODEL_COLUMNS = column_hints(
    author="text",
    downloads="bigint",
    likes="bigint",
    trending_score="double",
    pipeline_tag="text",
    library_name="text",
    gated="text",
    license="text",
    created_at="timestamp",
    last_modified="timestamp",
    tags="json",
)
_TIMESTAMP = pa.timestamp("us", tz="UTC")
# The Arrow types of the `models` columns; JSON columns travel as text and PostgreSQL parses them into jsonb.
MODEL_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("author", pa.string()),
        ("downloads", pa.int64()),
        ("likes", pa.int64()),
        ("trending_score", pa.float64()),
        ("pipeline_tag", pa.string()),
        ("library_name", pa.string()),
        ("gated", pa.string()),
        ("license", pa.string()),
        ("created_at", _TIMESTAMP),
        ("last_modified", _TIMESTAMP),
        ("tags", pa.string()),
        ("payload", pa.string()),
        ("content_hash", pa.string()),
        ("region", pa.string()),
        ("batch_id", pa.string()),
        ("_fetched_at", _TIMESTAMP),
    ]
)
STATS_SOURCE_COLUMNS = ("id", "downloads", "likes", "trending_score", "_fetched_at", "batch_id")
STATS_COLUMNS: dict[str, Any] = {
    "id": {"name": "id", "data_type": "text", "nullable": False},
    "downloads": {"name": "downloads", "data_type": "bigint"},
    "likes": {"name": "likes", "data_type": "bigint"},
    "trending_score": {"name": "trending_score", "data_type": "double"},
    "observed_at": {"name": "observed_at", "data_type": "timestamp", "nullable": False},
    "batch_id": {"name": "batch_id", "data_type": "text", "nullable": False},
}


def parse_organizations(raw: str | None) -> tuple[str, ...]:
    """The organisations of a comma-separated list, in order and without repeats; blank means the defaults."""
    if raw is None or not raw.strip():
        return DEFAULT_ORGANIZATIONS
    names: list[str] = []
    for part in raw.split(","):
        name = part.strip()
        if not name:
            continue
        if not _ORGANIZATION.match(name):
            raise ConfigurationError(
                f"{ORGS_ENV} holds {name!r}, which is not a Hugging Face organisation name "
                "(letters, digits, '-', '_' and '.'): list names like meta-llama,mistralai"
            )
        if name.lower() not in {known.lower() for known in names}:
            names.append(name)
    if not names:
        raise ConfigurationError(f"{ORGS_ENV} lists no organisation: give names like meta-llama,mistralai or unset it")
    return tuple(names)


def parse_max_models(raw: str | None) -> int:
    """The per-organisation cap from its setting; blank means the default."""
    if raw is None or not raw.strip():
        return DEFAULT_MAX_MODELS_PER_ORGANIZATION
    try:
        value = int(raw.strip())
    except ValueError:
        value = 0
    if value < 1:
        raise ConfigurationError(f"{MAX_MODELS_ENV} must be a positive integer (models per organisation), got {raw!r}")
    return value


def huggingface_options(env: Mapping[str, str]) -> dict[str, Any]:
    """The source's `organizations` and `max_models_per_organization` arguments from the environment."""
    return {
        "organizations": parse_organizations(env.get(ORGS_ENV)),
        "max_models_per_organization": parse_max_models(env.get(MAX_MODELS_ENV)),
    }


def huggingface_client(
    api_key: str | None = None, base_url: str = DEFAULT_BASE_URL, policy: RetryPolicy | None = None
) -> ApiClient:
    """An API client for the Hub: anonymous, or with the token as a Bearer header when one is set."""
    return ApiClient(
        "Hugging Face",
        base_url,
        headers={"Authorization": f"Bearer {api_key}"} if api_key else None,
        key_env="HF_TOKEN",
        secrets=(api_key,) if api_key else (),
        policy=policy,
    )


def first_page_params(organization: str, limit: int) -> dict[str, Any]:
    """The query of an organisation's first page: most downloaded first, with every property ModelAtlas reads."""
    return {
        "author": organization,
        "sort": "downloads",
        "direction": "-1",
        "limit": limit,
        "expand[]": list(EXPAND),
    }


def next_page_url(response: httpx.Response) -> str | None:
    """The absolute URL of the next page from the `Link: <...>; rel="next"` header, or None on the last page."""
    target = response.links.get("next", {}).get("url")
    if not target:
        return None
    return str(response.url.join(target))


def same_origin(url: str, base: httpx.URL) -> bool:
    """True when `url` is on the scheme, host and port of `base`, so the token may travel there."""
    candidate = httpx.URL(url)
    return (candidate.scheme, candidate.host, candidate.port) == (base.scheme, base.host, base.port)


def fetch_organization(
    client: ApiClient,
    organization: str,
    *,
    max_models: int,
    page_size: int,
    stats: FetchStats,
    base_url: str,
) -> Iterator[list[dict[str, Any]]]:
    """The pages of one organisation's models, most downloaded first, stopping once `max_models` are listed."""
    origin = httpx.URL(base_url)
    target = "api/models"
    params: dict[str, Any] | None = first_page_params(organization, min(page_size, max_models))
    seen_urls: set[str] = set()
    remaining = max_models
    while remaining > 0:
        body, response = client.get_json(target, params)
        stats.pages += 1
        stats.requests = client.requests_made
        if not isinstance(body, list):
            raise SourceError(f"Hugging Face: /api/models?author={organization} did not return a list of models")
        page = [item for item in body if isinstance(item, dict)][:remaining]
        if page:
            yield page
        remaining -= len(page)
        following = next_page_url(response)
        if not body or following is None or remaining <= 0:
            return
        if not same_origin(following, origin):
            raise SourceError(
                f"Hugging Face: the next page of {organization} points at another host "
                f"({httpx.URL(following).host}); not following it with the token"
            )
        if following in seen_urls:
            raise SourceError(f"Hugging Face: the pages of {organization} loop back to one already fetched")
        seen_urls.add(following)
        # The Link URL already carries the query (author, sort, limit, expand[] and the cursor).
        target, params = following, None


def gated_label(value: Any) -> str | None:
    """The gating mode as text: 'false' (open), 'auto' or 'manual' (approval), 'true' from older responses."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value.lower() if isinstance(value, str) and value else None


def license_of(card_data: Any) -> str | None:
    """The license id a model card declares (`cardData.license`); a list of licenses is joined with commas."""
    if not isinstance(card_data, dict):
        return None
    value = card_data.get("license")
    if isinstance(value, list):
        names = [str(name) for name in value if isinstance(name, str) and name]
        return ",".join(names) or None
    return as_nonempty_text(value)


def model_id(item: Mapping[str, Any]) -> str:
    """The repository id (`org/name`) of a model object; older responses also carry it as `modelId`."""
    value = item.get("id") or item.get("modelId")
    if not isinstance(value, str) or not value:
        raise SourceError("Hugging Face: /api/models returned a model without an `id`")
    return value


def model_columns(item: Mapping[str, Any]) -> dict[str, Any]:
    """The typed columns ModelAtlas reads from one Hub model object."""
    tags = item.get("tags")
    return {
        "author": as_nonempty_text(item.get("author")),
        "downloads": as_integer(item.get("downloads")),
        "likes": as_integer(item.get("likes")),
        "trending_score": as_number(item.get("trendingScore")),
        "pipeline_tag": as_nonempty_text(item.get("pipeline_tag")),
        "library_name": as_nonempty_text(item.get("library_name")),
        "gated": gated_label(item.get("gated")),
        "license": license_of(item.get("cardData")),
        "created_at": as_iso_timestamp(item.get("createdAt")),
        "last_modified": as_iso_timestamp(item.get("lastModified")),
        "tags": tags if isinstance(tags, list) else None,
    }


def stats_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """One observation of a model's counters, from its catalog row."""
    return {
        "id": row["id"],
        "downloads": row["downloads"],
        "likes": row["likes"],
        "trending_score": row["trending_score"],
        "observed_at": row["_fetched_at"],
        "batch_id": row["batch_id"],
    }


def stable_hash(item: Mapping[str, Any]) -> str:
    """A hash of a model object without its counters: it changes only when the catalog entry does."""
    stable = dict(item)
    for name in VOLATILE_FIELDS:
        stable.pop(name, None)
    return hashlib.sha256(fast_json.dumpb(stable, sort_keys=True)).hexdigest()[:16]


def page_rows(
    page: Sequence[Mapping[str, Any]],
    *,
    fetched_at: datetime,
    region: str,
    stats: FetchStats,
    listed: set[str],
) -> list[dict[str, Any]]:
    """The catalog rows of one page, JSON columns as text; models already listed in this fetch are left out."""
    batch = batch_id(fetched_at)
    rows = []
    for item in page:
        identifier = model_id(item)
        # The ranking can shift between pages: a model seen twice is kept once.
        if identifier in listed:
            continue
        listed.add(identifier)
        digest = stable_hash(item)
        stats.items += 1
        stats.ids.add(identifier)
        stats.content_hashes[identifier] = digest
        columns = model_columns(item)
        stats.observations[identifier] = f"{columns['downloads']}:{columns['likes']}:{columns['trending_score']}"
        tags = columns["tags"]
        columns["tags"] = None if tags is None else fast_json.dumps(tags)
        rows.append(
            {
                "id": identifier,
                **columns,
                "payload": fast_json.dumps(item),
                "content_hash": digest,
                "region": region,
                "batch_id": batch,
                "_fetched_at": fetched_at,
            }
        )
    return rows


class ModelRows:
    """Catalog rows gathered column by column until they are taken as one Arrow table of `MODEL_SCHEMA`."""

    def __init__(self) -> None:
        self.columns: dict[str, list[Any]] = {name: [] for name in MODEL_SCHEMA.names}

    def __len__(self) -> int:
        return len(self.columns["id"])

    def extend(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Add rows (dicts with every `MODEL_SCHEMA` column)."""
        for row in rows:
            for name, values in self.columns.items():
                values.append(row[name])

    def take(self) -> pa.Table:
        """The gathered rows as one table; the gatherer is empty afterwards."""
        arrays = [pa.array(values, type=MODEL_SCHEMA.field(name).type) for name, values in self.columns.items()]
        self.columns = {name: [] for name in MODEL_SCHEMA.names}
        return pa.Table.from_arrays(arrays, schema=MODEL_SCHEMA)


def models_table(rows: Iterable[Mapping[str, Any]]) -> pa.Table:
    """Catalog rows as one Arrow table of `MODEL_SCHEMA`."""
    gathered = ModelRows()
    gathered.extend(rows)
    return gathered.take()


def stats_table(models: pa.Table) -> pa.Table:
    """The counters of every model in a `models` table, observed at its fetch time."""
    return models.select(list(STATS_SOURCE_COLUMNS)).rename_columns(list(STATS_COLUMNS))


def _check_arguments(organizations: Sequence[str], max_models_per_organization: int, page_size: int) -> None:
    if isinstance(organizations, str) or not organizations:
        raise ConfigurationError("Hugging Face: `organizations` must be a non-empty list of organisation names")
    if max_models_per_organization < 1:
        raise ConfigurationError(
            f"Hugging Face: max_models_per_organization must be >= 1, got {max_models_per_organization}"
        )
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ConfigurationError(f"Hugging Face: page_size must be between 1 and {MAX_PAGE_SIZE}, got {page_size}")


@dlt.source(name="huggingface", max_table_nesting=0)
def huggingface_source(
    api_key: str | None = None,
    base_url: str = DEFAULT_BASE_URL,
    region: str = "global",
    stats: FetchStats | None = None,
    policy: RetryPolicy | None = None,
    organizations: Sequence[str] = DEFAULT_ORGANIZATIONS,
    max_models_per_organization: int = DEFAULT_MAX_MODELS_PER_ORGANIZATION,
    page_size: int = DEFAULT_PAGE_SIZE,
) -> tuple[DltResource, DltResource]:
    """The tracked organisations' models as `raw_huggingface.models` (merged) and `model_stats` (appended)."""
    _check_arguments(organizations, max_models_per_organization, page_size)
    fetch_stats = stats if stats is not None else FetchStats()
    fetched_at = datetime.now(UTC)

    # Ids are unique within a fetch (see page_rows), so the merge skips dlt's deduplication of the staged rows.
    @dlt.resource(
        name="models",
        primary_key="id",
        write_disposition={"disposition": "merge", "strategy": "delete-insert", "deduplicated": True},
        columns=MODEL_COLUMNS,
        file_format="csv",
    )
    def models() -> Iterator[pa.Table]:
        with huggingface_client(api_key, base_url, policy) as client:
            listed: set[str] = set()
            gathered = ModelRows()
            for organization in organizations:
                for page in fetch_organization(
                    client,
                    organization,
                    max_models=max_models_per_organization,
                    page_size=page_size,
                    stats=fetch_stats,
                    base_url=base_url,
                ):
                    gathered.extend(
                        page_rows(page, fetched_at=fetched_at, region=region, stats=fetch_stats, listed=listed)
                    )
                    if len(gathered) >= ARROW_BATCH_ROWS:
                        yield gathered.take()
            if len(gathered):
                yield gathered.take()
            log.info(
                "Hugging Face: %d models of %d organisations in %d pages",
                len(listed),
                len(organizations),
                fetch_stats.pages,
            )

    @dlt.transformer(
        data_from=models,
        name="model_stats",
        primary_key=("id", "batch_id"),
        write_disposition="append",
        columns=STATS_COLUMNS,
        file_format="csv",
    )
    def model_stats(table: pa.Table) -> Iterator[pa.Table]:
        yield stats_table(table)

    return models, model_stats
