"""Where the genai-prices data comes from: the published JSON when reachable, else the installed package."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time
from decimal import Decimal
from importlib.metadata import version
from typing import Any, Literal

import httpx

from modelatlas.errors import SourceError
from modelatlas.pipelines.genai_prices.normalize import check_registry_shape
from modelatlas.pipelines.http import build_client, describe_failure

log = logging.getLogger(__name__)

# The address the genai-prices package's own updater fetches (genai_prices.update_prices.DEFAULT_UPDATE_URL).
PUBLISHED_URL = "https://raw.githubusercontent.com/pydantic/genai-prices/refs/heads/main/prices/new_data/v2/data.json"
DEFAULT_TIMEOUT_S = 5.0
# Usage extractors describe API responses, not prices; they are not loaded.
_SKIPPED_FIELDS = frozenset({"extractors"})
Origin = Literal["published", "package"]


@dataclasses.dataclass(frozen=True)
class RegistrySnapshot:
    """One read of the registry: its providers (in the published JSON shape) and where they came from."""

    providers: Sequence[Mapping[str, Any]]
    origin: Origin
    version: str
    url: str | None
    fetched_at: datetime
    fallback_reason: str | None = None


def to_raw(value: Any) -> Any:
    """The package's dataclasses as the published JSON shape: plain dicts, lists and strings."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            field.name.rstrip("_"): to_raw(getattr(value, field.name))
            for field in dataclasses.fields(value)
            if field.init and field.name not in _SKIPPED_FIELDS and getattr(value, field.name) is not None
        }
    if type(value).__name__ == "ModelPrice":
        return {k: to_raw(v) for k, v in vars(value).items() if not k.startswith("_") and v is not None}
    if isinstance(value, list | tuple):
        return [to_raw(item) for item in value]
    if isinstance(value, dict):
        return {str(k): to_raw(v) for k, v in value.items()}
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date | time | datetime):
        return value.isoformat()
    return value


def packaged_snapshot(fallback_reason: str | None = None) -> RegistrySnapshot:
    """The data the installed genai-prices package ships."""
    from genai_prices.data import providers

    return RegistrySnapshot(
        providers=check_registry_shape(to_raw(providers)),
        origin="package",
        version=f"genai-prices {version('genai-prices')}",
        url=None,
        fetched_at=datetime.now(UTC),
        fallback_reason=fallback_reason,
    )


def published_snapshot(url: str = PUBLISHED_URL, timeout: float = DEFAULT_TIMEOUT_S) -> RegistrySnapshot:
    """The current published registry JSON; its version is the content's SHA-256."""
    with build_client(connect_timeout=timeout, read_timeout=timeout) as client:
        try:
            response = client.get(url)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise describe_failure("genai-prices", url, exc) from None
        except httpx.InvalidURL:
            raise SourceError(f"genai-prices: {url!r} is not a valid URL: check MODELATLAS_GENAI_PRICES_URL") from None
    try:
        payload = json.loads(response.content)
    except ValueError:
        raise SourceError(f"genai-prices: {url} did not return JSON") from None
    digest = hashlib.sha256(response.content).hexdigest()[:16]
    return RegistrySnapshot(
        providers=check_registry_shape(payload),
        origin="published",
        version=f"sha256:{digest}",
        url=url,
        fetched_at=datetime.now(UTC),
    )


def load_snapshot(url: str | None = PUBLISHED_URL, timeout: float = DEFAULT_TIMEOUT_S) -> RegistrySnapshot:
    """The published data when `url` is set and answers in time, otherwise the packaged data."""
    if not url:
        return packaged_snapshot("the published registry is switched off (MODELATLAS_GENAI_PRICES_URL is empty)")
    try:
        return published_snapshot(url, timeout)
    except SourceError as exc:
        log.debug("using the packaged genai-prices data: %s", exc)
        return packaged_snapshot(str(exc))
