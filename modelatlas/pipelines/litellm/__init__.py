"""LiteLLM's `model_prices_and_context_window.json`: every entry, every price normalised (scd2), and each read."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from modelatlas.errors import ConfigurationError, SourceError
from modelatlas.pipelines.catalog import batch_id
from modelatlas.pipelines.coerce import as_date, as_integer, as_text
from modelatlas.pipelines.http import RetryPolicy
from modelatlas.pipelines.litellm.expectations import SUITES
from modelatlas.pipelines.prices.litellm import entry_provider, litellm_price_points, split_model_key
from modelatlas.pipelines.prices.model import MappingStats, PricePoint, unique_points
from modelatlas.pipelines.prices.table import price_points_table
from modelatlas.pipelines.spec import Batch, DataType, Request, Setting, Simulated, SourceSpec, TableSpec
from modelatlas.settings import parse_seconds

log = logging.getLogger(__name__)

DEFAULT_URL = "https://raw.githubusercontent.com/BerriAI/litellm/main/model_prices_and_context_window.json"
DEFAULT_TIMEOUT_S = 10.0
# The file documents its own fields in this entry; it is no model.
SKIPPED_ENTRIES = frozenset({"sample_spec"})
MODEL_COLUMNS: dict[str, DataType] = {
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
LOAD_COLUMNS: dict[str, DataType] = {
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


def split_url(url: str, variable: str = "MODELATLAS_LITELLM_URL") -> tuple[str, str, dict[str, str]]:
    """(base URL, file name, query) of the file's address, for the shared API client."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        parsed = None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host or parsed.path.endswith("/"):
        raise ConfigurationError(f"{variable} must be the http(s) address of the JSON file, got {url!r}")
    directory, _, name = parsed.path.rpartition("/")
    base = str(parsed.copy_with(path=directory + "/", query=None, fragment=None))
    return base, name, dict(parsed.params)


def fetch_document(request: Request, url: str, timeout: float = DEFAULT_TIMEOUT_S) -> LiteLLMDocument:
    """GET the price file (retrying 429, 5xx and connection failures) and parse it."""
    base, name, params = split_url(url)
    if request.policy is None:
        request = dataclasses.replace(request, policy=RetryPolicy(read_timeout_s=timeout, connect_timeout_s=timeout))
    with request.client(base) as client:
        try:
            response = client.get(name, params or None)
        finally:
            request.stats.requests = client.requests_made
    return parse_document(response.content, url, request.fetched_at)


def model_row(model_key: str, entry: Mapping[str, Any], batch: str, fetched_at: datetime) -> dict[str, Any]:
    """The `models` row of one entry: identity, limits, flags, regions, deprecation and the whole entry."""
    provider = entry_provider(entry)
    regions = entry.get("supported_regions")
    return {
        "model_key": model_key,
        "litellm_provider": provider,
        "provider_model_id": split_model_key(model_key, provider)[0],
        "mode": as_text(entry.get("mode")),
        "max_input_tokens": as_integer(entry.get("max_input_tokens")),
        "max_output_tokens": as_integer(entry.get("max_output_tokens")),
        "max_tokens": as_integer(entry.get("max_tokens")),
        "supports": {key: value for key, value in entry.items() if key.startswith("supports_")},
        "supported_regions": regions if isinstance(regions, list) else None,
        "deprecation_date": as_date(entry.get("deprecation_date")),
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


def parse_url(raw: str, variable: str) -> str:
    """The price file's address: an http(s) URL of a JSON file."""
    split_url(raw.strip(), variable)
    return raw.strip()


def parse_timeout(raw: str, variable: str) -> float:
    """Seconds each attempt to read the price file may take to connect and to answer."""
    return parse_seconds(raw, DEFAULT_TIMEOUT_S, variable)


def litellm_tables(document: LiteLLMDocument, stats: MappingStats) -> dict[str, list[dict[str, Any]]]:
    """The file's three tables: every entry, every price point (a bad price fails the whole read), and the read."""
    points = price_points(document, stats)
    batch = batch_id(document.fetched_at)
    return {
        "models": [model_row(key, entry, batch, document.fetched_at) for key, entry in document.entries.items()],
        "price_points": [point.row() for point in points],
        "loads": [
            {
                "batch_id": batch,
                "fetched_at": document.fetched_at,
                "source_url": document.url,
                "source_version": document.version,
                "model_count": len(document.entries),
                "price_point_count": len(points),
                "unknown_price_key_count": stats.unknown_count,
            }
        ],
    }


def litellm_batch(request: Request) -> Batch:
    """One read of the price file; every price is mapped before anything loads, so a bad file loads nothing."""
    url: str = request.options["url"]
    timeout: float = request.options.get("timeout", DEFAULT_TIMEOUT_S)
    document = fetch_document(request, url, timeout)
    stats = MappingStats()
    tables = litellm_tables(document, stats)
    return Batch(
        tables=dict(tables),
        origin=url,
        notes=(f"{stats.unknown_count} prices with unknown keys",) if stats.unknown_count else (),
        metadata={
            "source_version": document.version,
            "unknown_price_keys": stats.unknown_count,
            "unknown_keys": ", ".join(sorted(stats.unknown_keys)) or "none",
        },
    )


SPEC = SourceSpec(
    name="litellm",
    display_name="LiteLLM",
    kind="price registry",
    description="Loads LiteLLM's model_prices_and_context_window.json: models, normalised prices with history, loads.",
    tables=(
        TableSpec(
            name="models",
            description="Every model in LiteLLM's price file: provider, mode, limits, supports_* flags, deprecation.",
            columns=MODEL_COLUMNS,
            version_columns=("model_key", "payload"),
            primary_key=("model_key",),
            suite=SUITES["models"],
        ),
        price_points_table(
            "litellm",
            "Every LiteLLM price normalised (component, service tier, tier, USD per unit), with scd2 history.",
        ),
        TableSpec(
            name="loads",
            description="One row per read of LiteLLM's price file: when, from where, its content hash, what it held.",
            columns=LOAD_COLUMNS,
            version_columns=("source_version",),
            primary_key=("batch_id",),
            suite=SUITES["loads"],
        ),
    ),
    extract=litellm_batch,
    settings=(
        Setting(
            "URL",
            DEFAULT_URL,
            "the price file to read; empty: skip LiteLLM",
            option="url",
            parse=parse_url,
            empty_skips=True,
        ),
        Setting(
            "TIMEOUT",
            str(int(DEFAULT_TIMEOUT_S)),
            "seconds each attempt to read the price file may take to connect and to answer",
            option="timeout",
            parse=parse_timeout,
        ),
    ),
    simulator=Simulated(
        "modelatlas.simulator.litellm:LiteLLMHandler", path="/model_prices_and_context_window.json", setting="URL"
    ),
    endpoint_doc="`model_prices_and_context_window.json` (BerriAI/litellm on GitHub)",
)
