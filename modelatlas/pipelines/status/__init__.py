"""Official status pages: every configured page polled, its indicator and components kept as a time series, its
incidents and maintenances merged on id with every update, so history outgrows each page's own short window.

One adapter per status platform (`adapters`); `MODELATLAS_STATUS_PAGES` lists the pages (`pages`). A page that
cannot be read costs only its own rows: the batch keeps the others and says which page failed and why.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import pyarrow as pa

from modelatlas.errors import SourceError
from modelatlas.pipelines.http import ApiClient
from modelatlas.pipelines.quality.suite import Suite
from modelatlas.pipelines.spec import Batch, DataType, Request, Rows, Setting, Simulated, SourceSpec, TableSpec
from modelatlas.pipelines.status.adapters import (
    BETTERSTACK_PATH,
    GCP_PATH,
    INCIDENTS_PATH,
    MAINTENANCES_PATH,
    SUMMARY_PATH,
    PageRows,
    parse_betterstack,
    parse_feed,
    parse_gcp,
    parse_incidentio,
    parse_statuspage,
)
from modelatlas.pipelines.status.normalise import STATUSES
from modelatlas.pipelines.status.pages import DEFAULT, Page, parse_pages, simulated_pages

__all__ = ["SPEC", "Page", "PageRows", "parse_pages", "status_batch"]

OBSERVATIONS = "status_observations"
INCIDENTS = "incidents"
UPDATES = "incident_updates"
# At most this many pages are polled at once: one slow page does not hold up the others.
MAX_CONCURRENT_PAGES = 8

OBSERVATION_COLUMNS: dict[str, DataType] = {
    "observed_at": "timestamp",
    "page": "text",
    "provider": "text",
    "platform": "text",
    "component_id": "text",
    "component_name": "text",
    "component_group": "text",
    "status": "text",
    "source_status": "text",
    "status_known": "bool",
    "description": "text",
}
INCIDENT_COLUMNS: dict[str, DataType] = {
    "page": "text",
    "provider": "text",
    "platform": "text",
    "incident_id": "text",
    "kind": "text",
    "title": "text",
    "status": "text",
    "impact": "text",
    "source_impact": "text",
    "created_at": "timestamp",
    "updated_at": "timestamp",
    "resolved_at": "timestamp",
    "scheduled_for": "timestamp",
    "scheduled_until": "timestamp",
    "shortlink": "text",
    "components": "json",
    "observed_at": "timestamp",
}
UPDATE_COLUMNS: dict[str, DataType] = {
    "page": "text",
    "incident_id": "text",
    "update_id": "text",
    "status": "text",
    "body": "text",
    "created_at": "timestamp",
    "display_at": "timestamp",
    "observed_at": "timestamp",
}
_ARROW_TYPES: dict[DataType, pa.DataType] = {
    "text": pa.string(),
    "json": pa.string(),
    "bool": pa.bool_(),
    "timestamp": pa.timestamp("us", tz="UTC"),
}


@dataclass(frozen=True)
class PagePoll:
    """One page's poll: its rows, or the error that lost them, and the requests it made."""

    page: Page
    rows: PageRows | None
    error: SourceError | None
    requests: int


def _is_not_found(error: SourceError) -> bool:
    return " answered HTTP 404" in str(error)


def _statuspage_like(parse: Callable[..., PageRows], maintenances_optional: bool) -> Callable[..., PageRows]:
    def fetch(client: ApiClient, page: Page, observed_at: datetime) -> PageRows:
        summary, _ = client.get_json(SUMMARY_PATH)
        incidents, _ = client.get_json(INCIDENTS_PATH)
        try:
            maintenances, _ = client.get_json(MAINTENANCES_PATH)
        except SourceError as error:
            # incident.io's compatible API serves no scheduled-maintenances.json.
            if not (maintenances_optional and _is_not_found(error)):
                raise
            maintenances = None
        return parse(page, summary, incidents, maintenances, observed_at)

    return fetch


def _fetch_betterstack(client: ApiClient, page: Page, observed_at: datetime) -> PageRows:
    index, _ = client.get_json(BETTERSTACK_PATH)
    return parse_betterstack(page, index, observed_at)


def _fetch_gcp(client: ApiClient, page: Page, observed_at: datetime) -> PageRows:
    incidents, _ = client.get_json(GCP_PATH)
    return parse_gcp(page, incidents, observed_at)


def _fetch_feed(client: ApiClient, page: Page, observed_at: datetime) -> PageRows:
    return parse_feed(page, client.get(feed_location(page.url)[1]).content, observed_at)


FETCHES: dict[str, Callable[[ApiClient, Page, datetime], PageRows]] = {
    "statuspage": _statuspage_like(parse_statuspage, maintenances_optional=False),
    "incidentio": _statuspage_like(parse_incidentio, maintenances_optional=True),
    "betterstack": _fetch_betterstack,
    "gcp": _fetch_gcp,
    "feed": _fetch_feed,
}


def feed_location(url: str) -> tuple[str, str]:
    """(base URL, path) of a feed URL: the client's base is a directory, the feed a file in it."""
    parsed = httpx.URL(url)
    directory, _, name = parsed.path.rpartition("/")
    base = str(parsed.copy_with(path=directory + "/", query=None, fragment=None))
    return base, name + (f"?{parsed.query.decode()}" if parsed.query else "")


def _page_error(request: Request, page: Page, error: SourceError) -> SourceError:
    message = str(error).removeprefix(f"{request.spec.display_name}: ")
    if not message.startswith(f"status page {page.name} "):
        message = f"status page {page.name} ({page.platform}): {message}"
    return type(error)(message)


def poll_page(request: Request, page: Page) -> PagePoll:
    """Fetch and parse one page; a failure is kept as the page's error, never raised."""
    base_url = feed_location(page.url)[0] if page.platform == "feed" else page.url
    with request.client(base_url=base_url) as client:
        try:
            rows = FETCHES[page.platform](client, page, request.fetched_at)
        except SourceError as error:
            return PagePoll(page, None, _page_error(request, page, error), client.requests_made)
        return PagePoll(page, rows, None, client.requests_made)


def empty_rows(columns: dict[str, DataType]) -> pa.Table:
    """No rows, but every declared column: the gate checks a batch's columns even when it holds nothing."""
    return pa.table({name: pa.array([], type=_ARROW_TYPES[kind]) for name, kind in columns.items()})


def _table(rows: list[dict[str, Any]], columns: dict[str, DataType]) -> Rows:
    return rows if rows else empty_rows(columns)


def status_batch(request: Request) -> Batch:
    """Every configured page, polled at once; the pages that answered, and a note for each that did not.

    Only when every page fails is the fetch an error (the first page's).
    """
    pages: Sequence[Page] = request.options["pages"]
    with ThreadPoolExecutor(max_workers=min(MAX_CONCURRENT_PAGES, len(pages)), thread_name_prefix="status") as pool:
        polls = list(pool.map(lambda page: poll_page(request, page), pages))
    request.stats.requests += sum(poll.requests for poll in polls)
    answered = [(poll.page, poll.rows) for poll in polls if poll.rows is not None]
    failed = [(poll.page, poll.error) for poll in polls if poll.error is not None]
    if not answered:
        raise failed[0][1]
    request.stats.pages += len(answered)
    observations = [row for _, rows in answered for row in rows.observations]
    incidents = [row for _, rows in answered for row in rows.incidents]
    updates = [row for _, rows in answered for row in rows.updates]
    return Batch(
        tables={
            OBSERVATIONS: _table(observations, OBSERVATION_COLUMNS),
            INCIDENTS: _table(incidents, INCIDENT_COLUMNS),
            UPDATES: _table(updates, UPDATE_COLUMNS),
        },
        origin=", ".join(page.url for page, _ in answered),
        notes=tuple(f"{page.name} not polled: {error}" for page, error in failed),
        metadata={
            "pages_polled": len(answered),
            "pages_failed": ", ".join(page.name for page, _ in failed) or "none",
            "indicators": ", ".join(f"{page.name}: {rows.indicator}" for page, rows in answered),
            "open_incidents": sum(rows.open_incidents for _, rows in answered),
        },
    )


def _content(columns: dict[str, DataType]) -> tuple[str, ...]:
    """The columns holding what a page says: an unchanged poll gives the same data version."""
    return tuple(name for name in columns if name != "observed_at")


SPEC = SourceSpec(
    name="status",
    display_name="Status pages",
    kind="status",
    description=(
        "Official status pages (Statuspage, incident.io, Better Stack, Google Cloud, RSS/Atom feeds): indicator and "
        "components each poll, incidents and maintenances with every update."
    ),
    group="status",
    cadence="*/2 * * * *",
    tables=(
        TableSpec(
            name=OBSERVATIONS,
            description=(
                "Each poll's page indicator (component_id null) and every component's status, normalised, the "
                "page's own value beside it; a time series."
            ),
            columns=OBSERVATION_COLUMNS,
            version_columns=tuple(OBSERVATION_COLUMNS),
            disposition="append",
            not_null=("observed_at", "page", "provider", "platform", "status"),
            dataset="ts",
            time_column="observed_at",
            suite=Suite(
                source="status",
                entity=OBSERVATIONS,
                key=("page", "component_id", "observed_at"),
                not_null=("observed_at", "page", "provider", "platform", "status", "status_known"),
                known_values={"status": STATUSES},
            ),
            preview=("page", "component_name", "status", "source_status", "observed_at"),
        ),
        TableSpec(
            name=INCIDENTS,
            description="Every incident and maintenance a page listed: merged on (page, incident_id), never deleted.",
            columns=INCIDENT_COLUMNS,
            version_columns=_content(INCIDENT_COLUMNS),
            primary_key=("page", "incident_id"),
            unique_rows=True,
            not_null=("page", "provider", "platform", "kind", "observed_at"),
            suite=Suite(
                source="status",
                entity=INCIDENTS,
                key=("page", "incident_id"),
                not_null=("page", "provider", "platform", "incident_id", "kind", "observed_at"),
                known_values={"kind": frozenset({"incident", "maintenance"}), "impact": STATUSES},
            ),
            preview=("page", "incident_id", "kind", "title", "status", "impact", "created_at", "resolved_at"),
        ),
        TableSpec(
            name=UPDATES,
            description="Every update of every incident and maintenance; merged on (page, incident_id, update_id).",
            columns=UPDATE_COLUMNS,
            version_columns=_content(UPDATE_COLUMNS),
            primary_key=("page", "incident_id", "update_id"),
            unique_rows=True,
            not_null=("page", "observed_at"),
            suite=Suite(
                source="status",
                entity=UPDATES,
                key=("page", "incident_id", "update_id"),
                not_null=("page", "incident_id", "update_id", "observed_at"),
            ),
            preview=("page", "incident_id", "status", "created_at", "body"),
        ),
    ),
    extract=status_batch,
    settings=(
        Setting(
            "PAGES",
            DEFAULT,
            "the status pages to poll, `name=platform:url` comma-separated (platforms: statuspage, incidentio, "
            "betterstack, gcp, feed); empty: poll none",
            option="pages",
            parse=parse_pages,
            empty_skips=True,
        ),
    ),
    simulator=Simulated("modelatlas.simulator.status:StatusPagesHandler", setting="PAGES", value=simulated_pages),
    endpoint_doc=(
        "Statuspage and incident.io `/api/v2/summary.json`, `incidents.json`, `scheduled-maintenances.json`; Better "
        "Stack `/index.json`; Google Cloud `/incidents.json` (Gemini, Vertex AI, Generative Language); RSS/Atom feeds"
    ),
)
