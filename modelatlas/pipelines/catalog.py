"""What every provider catalog source shares: settings, raw rows with their payload, and fetch statistics."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import dlt
from dlt.sources import DltResource, DltSource

from modelatlas.errors import ConfigurationError
from modelatlas.pipelines.loading import column_hints as dlt_column_hints


@dataclass(frozen=True)
class ProviderSpec:
    """A provider ModelAtlas reads: where its API lives, which key it needs and how often it refreshes."""

    name: str
    display_name: str
    key_env: str | None
    key_required: bool
    default_base_url: str
    default_cron: str
    source: Callable[..., DltSource]
    tables: tuple[str, ...] = ("models",)
    description: str = ""
    # Extra source arguments read from the environment when a run starts (Hugging Face's organisations).
    options: Callable[[Mapping[str, str]], dict[str, Any]] | None = None

    @property
    def env_prefix(self) -> str:
        """The `MODELATLAS_<PREFIX>_*` part of this provider's settings."""
        return "HUGGINGFACE" if self.name == "huggingface" else self.name.upper()

    @property
    def dataset_name(self) -> str:
        """The raw schema this provider's dlt source writes."""
        return f"raw_{self.name}"


@dataclass(frozen=True)
class ProviderSettings:
    """One provider connection as the environment configures it when a run starts."""

    api_key: str | None
    base_url: str
    region: str
    skip_reason: str | None


def provider_settings(spec: ProviderSpec, env: Mapping[str, str] | None = None) -> ProviderSettings:
    """The key, base URL and region label of `spec`, and why it is skipped (a required key missing)."""
    env = os.environ if env is None else env
    api_key = (env.get(spec.key_env, "") if spec.key_env else "").strip() or None
    base_url = env.get(f"MODELATLAS_{spec.env_prefix}_BASE_URL", "").strip() or spec.default_base_url
    if not base_url.startswith(("http://", "https://")):
        raise ConfigurationError(f"MODELATLAS_{spec.env_prefix}_BASE_URL must be an http(s) URL, got {base_url!r}")
    region = env.get(f"MODELATLAS_{spec.env_prefix}_REGION", "").strip() or "global"
    skip_reason = f"skipped: {spec.key_env} is not set" if spec.key_required and api_key is None else None
    return ProviderSettings(api_key=api_key, base_url=base_url.rstrip("/"), region=region, skip_reason=skip_reason)


@dataclass
class FetchStats:
    """Filled in while a source fetches: pages and requests, for the asset's metadata."""

    pages: int = 0
    requests: int = 0
    items: int = 0
    ids: set[str] = field(default_factory=set)
    content_hashes: dict[str, str] = field(default_factory=dict)
    # Counters a source observes at each fetch (Hugging Face downloads and likes), by id, as text.
    observations: dict[str, str] = field(default_factory=dict)


def batch_id(fetched_at: datetime) -> str:
    """The identifier of one fetch: its UTC start time, sortable as text."""
    return fetched_at.astimezone(UTC).strftime("%Y%m%dT%H%M%S.%fZ")


def content_hash(payload: Mapping[str, Any], volatile: Iterable[str] = ()) -> str:
    """A stable hash of an item's payload, leaving out fields that change on every fetch (download counts)."""
    stable = {key: value for key, value in payload.items() if key not in set(volatile)}
    return hashlib.sha256(json.dumps(stable, sort_keys=True, default=str).encode()).hexdigest()[:16]


def catalog_row(
    provider_model_id: str,
    payload: Mapping[str, Any],
    extracted: Mapping[str, Any],
    *,
    fetched_at: datetime,
    region: str,
    stats: FetchStats,
    volatile: Iterable[str] = (),
) -> dict[str, Any]:
    """One raw catalog row: the provider's id, the extracted columns, the full payload and the fetch context."""
    digest = content_hash(payload, volatile)
    stats.items += 1
    stats.ids.add(provider_model_id)
    stats.content_hashes[provider_model_id] = digest
    return {
        "id": provider_model_id,
        **extracted,
        "payload": dict(payload),
        "content_hash": digest,
        "region": region,
        "batch_id": batch_id(fetched_at),
        "_fetched_at": fetched_at,
    }


CATALOG_COLUMNS: dict[str, dict[str, Any]] = {
    "id": {"data_type": "text", "nullable": False},
    "payload": {"data_type": "json"},
    "content_hash": {"data_type": "text"},
    "region": {"data_type": "text"},
    "batch_id": {"data_type": "text"},
    "_fetched_at": {"data_type": "timestamp"},
}


def column_hints(**types: str) -> dict[str, Any]:
    """dlt column hints: the catalog columns plus `name=data_type` pairs, a fresh dict per column."""
    hints = {name: {"name": name, **hint} for name, hint in CATALOG_COLUMNS.items()}
    # Per-token prices reach 1e-10 USD: 18 decimals keep them exact (prices per million need 12).
    return hints | dlt_column_hints(types, decimal_scale=18)


@dataclass(frozen=True)
class CatalogChanges:
    """How one fetch differs from what the warehouse held before it."""

    added: list[str]
    removed: list[str]
    changed: list[str]


def catalog_changes(previous: Mapping[str, str], current: Mapping[str, str]) -> CatalogChanges:
    """Ids added, removed and changed (content hash differs) between two {id: content_hash} maps."""
    return CatalogChanges(
        added=sorted(set(current) - set(previous)),
        removed=sorted(set(previous) - set(current)),
        changed=sorted(key for key in set(current) & set(previous) if current[key] != previous[key]),
    )


def models_resource(
    items: Callable[[], Iterable[Mapping[str, Any]]],
    *,
    identify: Callable[[Mapping[str, Any]], str],
    extract: Callable[[Mapping[str, Any]], Mapping[str, Any]],
    column_types: Mapping[str, str],
    region: str,
    stats: FetchStats,
    volatile: Iterable[str] = (),
) -> DltResource:
    """The `models` resource every catalog source shares: `items()` fetched lazily, rows merged on the id."""
    fetched_at = datetime.now(UTC)
    volatile_fields = tuple(volatile)

    @dlt.resource(name="models", primary_key="id", write_disposition="merge", columns=column_hints(**column_types))
    def models() -> Iterator[dict[str, Any]]:
        for item in items():
            yield catalog_row(
                identify(item),
                item,
                extract(item),
                fetched_at=fetched_at,
                region=region,
                stats=stats,
                volatile=volatile_fields,
            )

    return models
