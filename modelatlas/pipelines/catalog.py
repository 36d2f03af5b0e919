"""What every provider catalog shares: the `models` table, one row per item with its payload, and the fetch."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from dlt.common.json import json as fast_json

from modelatlas.pipelines.paginate import fetch_items
from modelatlas.pipelines.spec import Batch, Catalog, DataType, Request, TableSpec

if TYPE_CHECKING:
    from modelatlas.pipelines.quality.suite import Suite

CATALOG_COLUMNS: dict[str, DataType] = {
    "id": "text",
    "payload": "json",
    "content_hash": "text",
    "region": "text",
    "batch_id": "text",
    "_fetched_at": "timestamp",
}


def batch_id(fetched_at: datetime) -> str:
    """The identifier of one fetch: its UTC start time, sortable as text."""
    return fetched_at.astimezone(UTC).strftime("%Y%m%dT%H%M%S.%fZ")


def content_hash(payload: Mapping[str, Any], volatile: Iterable[str] = ()) -> str:
    """A stable hash of an item's payload without the fields that change on every fetch (counters, request time)."""
    left_out = set(volatile)
    stable = {key: value for key, value in payload.items() if key not in left_out}
    return hashlib.sha256(fast_json.dumpb(stable, sort_keys=True)).hexdigest()[:16]


def catalog_row(item: Any, catalog: Catalog, *, batch: str, fetched_at: datetime, region: str) -> dict[str, Any]:
    """One raw catalog row: the provider's id, the typed columns, the full payload and the fetch context.

    An item that is no JSON object, or has no id, still becomes a row (id null, the item as payload), so that the
    quality gate quarantines it where it can be looked at instead of it vanishing.
    """
    payload = dict(item) if isinstance(item, Mapping) else {"item": item}
    identifier = catalog.identify(item) if isinstance(item, Mapping) else None
    columns = dict(catalog.columns(payload)) if isinstance(item, Mapping) else dict.fromkeys(catalog.column_types)
    return {
        "id": identifier,
        **columns,
        "payload": payload,
        "content_hash": content_hash(payload, catalog.volatile),
        "region": region,
        "batch_id": batch,
        "_fetched_at": fetched_at,
    }


def catalog_rows(items: Iterable[Any], catalog: Catalog, *, fetched_at: datetime, region: str) -> list[dict[str, Any]]:
    """The `models` rows of one fetch."""
    batch = batch_id(fetched_at)
    return [catalog_row(item, catalog, batch=batch, fetched_at=fetched_at, region=region) for item in items]


def identify_or_none(catalog: Catalog) -> Any:
    """`catalog.identify` for any item: None for an item that is no JSON object."""
    return lambda item: catalog.identify(item) if isinstance(item, Mapping) else None


def fetch_catalog_items(request: Request, catalog: Catalog) -> list[Any]:
    """Every item the catalog lists, each id once."""
    with request.client() as client:
        return list(
            fetch_items(client, catalog.endpoint, request.stats, identify_or_none(catalog), page_size=request.page_size)
        )


def catalog_batch(request: Request) -> Batch:
    """The fetch of a plain catalog source: every item of every page, as `models` rows."""
    catalog = request.spec.catalog
    if catalog is None:
        raise TypeError(f"{request.spec.name} declares no catalog to fetch")
    items = fetch_catalog_items(request, catalog)
    rows = catalog_rows(items, catalog, fetched_at=request.fetched_at, region=request.region)
    return Batch(tables={catalog.table: rows}, origin=f"{request.base_url} [{request.region}]")


def models_table(catalog: Catalog, description: str, suite: Suite) -> TableSpec:
    """The items' table of a catalog source: merged on the provider's id, versioned by content and region."""
    return TableSpec(
        name=catalog.table,
        description=description,
        columns={"id": "text", **catalog.column_types, **{k: v for k, v in CATALOG_COLUMNS.items() if k != "id"}},
        version_columns=("id", "content_hash", "region"),
        primary_key=("id",),
        tracked_by=(("id",), "content_hash"),
        suite=suite,
    )
