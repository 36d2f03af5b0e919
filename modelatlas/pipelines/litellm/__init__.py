"""dlt source for LiteLLM's `model_prices_and_context_window.json`: models, normalised price points, loads."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import dlt
import httpx
from dlt.sources import DltResource, DltSource

from modelatlas.errors import ConfigurationError, SourceError
from modelatlas.pipelines.catalog import batch_id
from modelatlas.pipelines.coerce import as_integer, as_nonempty_text
from modelatlas.pipelines.http import ApiClient, RetryPolicy
from modelatlas.pipelines.loading import column_hints
from modelatlas.pipelines.prices.litellm import entry_provider, litellm_price_points, split_model_key
from modelatlas.pipelines.prices.model import MappingStats, PricePoint, price_hash, unique_points
from modelatlas.pipelines.prices.resource import price_points_resource

__all__ = [
    "DATASET_NAME",
    "DEFAULT_TIMEOUT_S",
    "DEFAULT_URL",
    "URL_ENV",
    "LiteLLMDocument",
    "LiteLLMStats",
    "fetch_document",
    "litellm_source",
    "litellm_tables_source",
    "parse_document",
]

log = logging.getLogger(__name__)

DEFAULT_URL = "https://raw.githubusercontent.com/BerriAI/litellm/main/model_prices_and_context_window.json"
DEFAULT_TIMEOUT_S = 10.0
DATASET_NAME = "raw_litellm"
URL_ENV = "MODELATLAS_LITELLM_URL"
# The file documents its own fields in this entry; it is no model.
SKIPPED_ENTRIES = frozenset({"sample_spec"})
MODEL_COLUMNS = {
    "model_key": "text",
    "litellm_provider": "text",
    "provider_model_id": "text",
    "mode": "text",
    "max_input_tokens": "bigint",
    "max_output_tokens": "bigint",
    "max_tokens": "bigint",
    "supports": "json",
    "supported_regions": "json",
    "deprecation_date": "date",
    "payload": "json",
    "batch_id": "text",
    "_fetched_at": "timestamp",
}
LOAD_COLUMNS = {
    "batch_id": "text",
    "fetched_at": "timestamp",
    "source_url": "text",
    "source_version": "text",
    "model_count": "bigint",
    "price_point_count": "bigint",
    "unknown_price_key_count": "bigint",
}


@dataclass(frozen=True)
class LiteLLMDocument:
    """One read of the price file: its entries as JSON, the same entries with numbers kept as written, and when."""

    entries: Mapping[str, Mapping[str, Any]]
    exact_entries: Mapping[str, Mapping[str, Any]]
    url: str
    fetched_at: datetime
    version: str


@dataclass
class LiteLLMStats:
    """Filled in while the source builds its rows: models, price points, and the price keys it could not map."""

    models: int = 0
    price_points: int = 0
    requests: int = 0
    mapping: MappingStats = field(default_factory=MappingStats)
    # {natural key: price_hash} of the price list the source built, to tell what changed since the last load.
    price_hashes: dict[tuple[Any, ...], str] = field(default_factory=dict)


def _entries(payload: Any, url: str) -> dict[str, Mapping[str, Any]]:
    if not isinstance(payload, dict):
        raise SourceError(f"LiteLLM: {url} did not return a JSON object of models; nothing was loaded")
    entries: dict[str, Mapping[str, Any]] = {}
    for key, entry in payload.items():
        if key in SKIPPED_ENTRIES:
            continue
        if not isinstance(entry, dict):
            raise SourceError(
                f"LiteLLM: {url}: the entry {key!r} is not an object; the file is malformed, nothing loaded"
            )
        entries[key] = entry
    if not entries:
        raise SourceError(f"LiteLLM: {url} lists no models; nothing was loaded")
    return entries


def parse_document(body: bytes, url: str, fetched_at: datetime | None = None) -> LiteLLMDocument:
    """The price file from its bytes; a body that is not a JSON object of model entries is a clear error."""
    try:
        payload = json.loads(body)
        # Floats as the text the file writes them in (`3e-06`): exact prices and the original value, no binary float.
        exact = json.loads(body, parse_float=str)
    except ValueError:
        raise SourceError(
            f"LiteLLM: {url} returned malformed JSON ({len(body)} bytes; truncated?); nothing was loaded"
        ) from None
    return LiteLLMDocument(
        entries=_entries(payload, url),
        exact_entries=_entries(exact, url),
        url=url,
        fetched_at=fetched_at or datetime.now(UTC),
        version=f"sha256:{hashlib.sha256(body).hexdigest()[:16]}",
    )


def split_url(url: str) -> tuple[str, str, dict[str, str]]:
    """(base URL, file name, query) of the file's address, for the shared API client."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        parsed = None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host or parsed.path.endswith("/"):
        raise ConfigurationError(f"{URL_ENV} must be the http(s) address of the JSON file, got {url!r}")
    directory, _, name = parsed.path.rpartition("/")
    base = str(parsed.copy_with(path=directory + "/", query=None, fragment=None))
    return base, name, dict(parsed.params)


def fetch_document(
    url: str = DEFAULT_URL,
    timeout: float = DEFAULT_TIMEOUT_S,
    policy: RetryPolicy | None = None,
    stats: LiteLLMStats | None = None,
) -> LiteLLMDocument:
    """GET the price file (retrying 429, 5xx and connection failures) and parse it."""
    base, name, params = split_url(url)
    retry = policy or RetryPolicy(read_timeout_s=timeout, connect_timeout_s=timeout)
    with ApiClient("LiteLLM", base, policy=retry) as client:
        fetched_at = datetime.now(UTC)
        try:
            response = client.get(name, params or None)
        finally:
            if stats is not None:
                stats.requests = client.requests_made
    return parse_document(response.content, url, fetched_at)


def _date(value: Any) -> date | None:
    text = as_nonempty_text(value)
    try:
        return date.fromisoformat(text[:10]) if text else None
    except ValueError:
        return None


def model_row(model_key: str, entry: Mapping[str, Any], batch: str, fetched_at: datetime) -> dict[str, Any]:
    """The `models` row of one entry: identity, limits, flags, regions, deprecation and the whole entry."""
    provider = entry_provider(entry)
    regions = entry.get("supported_regions")
    return {
        "model_key": model_key,
        "litellm_provider": provider,
        "provider_model_id": split_model_key(model_key, provider)[0],
        "mode": as_nonempty_text(entry.get("mode")),
        "max_input_tokens": as_integer(entry.get("max_input_tokens")),
        "max_output_tokens": as_integer(entry.get("max_output_tokens")),
        "max_tokens": as_integer(entry.get("max_tokens")),
        "supports": {key: value for key, value in entry.items() if key.startswith("supports_")},
        "supported_regions": regions if isinstance(regions, list) else None,
        "deprecation_date": _date(entry.get("deprecation_date")),
        "payload": dict(entry),
        "batch_id": batch,
        "_fetched_at": fetched_at,
    }


def price_points(document: LiteLLMDocument, stats: MappingStats) -> list[PricePoint]:
    """Every price of every entry, one per natural key; a negative or non-numeric price is a SourceError."""
    points = (
        point
        for model_key, entry in document.exact_entries.items()
        for point in litellm_price_points(model_key, entry, stats)
    )
    result = list(unique_points(points, stats))
    stats.log_summary("LiteLLM")
    return result


def _resources(
    document: LiteLLMDocument | None, points: Sequence[PricePoint], observed_at: datetime | None, unknown: int
) -> list[DltResource]:
    entries = document.entries if document is not None else {}
    fetched_at = document.fetched_at if document is not None else datetime.now(UTC)
    batch = batch_id(fetched_at)

    @dlt.resource(
        name="models",
        primary_key="model_key",
        write_disposition="merge",
        columns=column_hints(MODEL_COLUMNS, decimal_scale=18),
    )
    def models() -> Iterator[dict[str, Any]]:
        for model_key, entry in entries.items():
            yield model_row(model_key, entry, batch, fetched_at)

    @dlt.resource(
        name="loads",
        primary_key="batch_id",
        write_disposition="merge",
        columns=column_hints(LOAD_COLUMNS, decimal_scale=18),
    )
    def loads() -> Iterator[dict[str, Any]]:
        if document is None:
            return
        yield {
            "batch_id": batch,
            "fetched_at": fetched_at,
            "source_url": document.url,
            "source_version": document.version,
            "model_count": len(entries),
            "price_point_count": len(points),
            "unknown_price_key_count": unknown,
        }

    return [models, price_points_resource(points, observed_at), loads]


@dlt.source(name="litellm", max_table_nesting=0)
def litellm_source(
    url: str = DEFAULT_URL,
    timeout: float = DEFAULT_TIMEOUT_S,
    document: LiteLLMDocument | None = None,
    observed_at: datetime | None = None,
    stats: LiteLLMStats | None = None,
    policy: RetryPolicy | None = None,
) -> list[DltResource]:
    """LiteLLM's price file as `models` (merged on the key), `price_points` (scd2) and `loads`; fetched unless given.

    Every price is mapped before anything loads, so a malformed file or a negative price loads nothing.
    """
    fetch_stats = stats if stats is not None else LiteLLMStats()
    read = document if document is not None else fetch_document(url, timeout, policy, fetch_stats)
    points = price_points(read, fetch_stats.mapping)
    fetch_stats.models = len(read.entries)
    fetch_stats.price_points = len(points)
    fetch_stats.price_hashes = {point.natural_key(): price_hash(point) for point in points}
    return _resources(read, points, observed_at, fetch_stats.mapping.unknown_count)


def litellm_tables_source() -> DltSource:
    """The source's tables with no rows, to create them before the first load (dbt reads them even then)."""
    return dlt.source(name="litellm", max_table_nesting=0)(lambda: _resources(None, [], None, 0))()
