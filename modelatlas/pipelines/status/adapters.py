"""One pure parse per status platform: a page's bodies -> its observations, incidents and incident updates.

Every adapter keeps a value it does not know (status "unknown", `status_known` false, the page's own value beside
it) rather than dropping it, and says which page and URL sent a body it cannot read.
"""

from __future__ import annotations

import email.utils
import hashlib
import html
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from modelatlas.errors import SourceError
from modelatlas.pipelines.coerce import as_mapping, as_text, as_timestamp
from modelatlas.pipelines.status.normalise import (
    BETTERSTACK,
    BETTERSTACK_REPORT,
    GCP_IMPACT,
    IMPACT,
    INCIDENTIO_COMPONENT,
    INDICATOR,
    OPERATIONAL,
    SEVERITY,
    STATUSPAGE_COMPONENT,
    UNKNOWN,
    normalise,
)
from modelatlas.pipelines.status.pages import Page

Row = dict[str, Any]

SUMMARY_PATH = "api/v2/summary.json"
INCIDENTS_PATH = "api/v2/incidents.json"
MAINTENANCES_PATH = "api/v2/scheduled-maintenances.json"
BETTERSTACK_PATH = "index.json"
GCP_PATH = "incidents.json"
# Google Cloud incidents about Gemini: matched on the affected products' titles, case-insensitively.
GCP_PRODUCTS = ("gemini", "vertex ai", "generative language")
# Better Stack's public index.json names a report's updates `status_update`; `status_report_update` is read too.
BETTERSTACK_UPDATE_TYPES = frozenset({"status_update", "status_report_update"})
ATOM = "{http://www.w3.org/2005/Atom}"
# A status line of a feed item's text: "Resolved - ...", "Resolved: ...", "Status: Resolved", or the word alone.
_STATUS_LINE = re.compile(
    r"^\s*(?:status\s*[:\-–—]\s*)?(?P<status>resolved|monitoring|identified|investigating|update|postmortem"
    r"|scheduled|in progress|verifying|completed)\s*(?:[:\-–—]|$)",
    re.IGNORECASE,
)
_BLOCK_END = re.compile(r"<\s*(?:br\s*/?|/p|/div|/li|/h\d|/tr)\s*>", re.IGNORECASE)
_TAG = re.compile(r"<[^>]+>")


@dataclass
class PageRows:
    """What one poll of one page gave: rows of the three tables."""

    observations: list[Row] = field(default_factory=list)
    incidents: list[Row] = field(default_factory=list)
    updates: list[Row] = field(default_factory=list)

    @property
    def open_incidents(self) -> int:
        """Incidents (not maintenances) without a resolution time."""
        return sum(1 for row in self.incidents if row["kind"] == "incident" and row["resolved_at"] is None)

    @property
    def indicator(self) -> str:
        """The page row's normalised status."""
        return next((str(row["status"]) for row in self.observations if row["component_id"] is None), UNKNOWN)


def malformed(page: Page, url: str, what: str) -> SourceError:
    """The error for a body the adapter cannot read, naming the page and the URL."""
    return SourceError(f"status page {page.name} ({page.platform}): {url} returned {what}")


def page_url(page: Page, path: str) -> str:
    """The URL of `path` below a page's root."""
    return f"{page.url.rstrip('/')}/{path}"


def _identifier(value: Any) -> str | None:
    """An id as text: platforms send strings, some numbers."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    return as_text(value)


def _mappings(value: Any) -> list[Mapping[str, Any]]:
    return [item for item in value if isinstance(item, Mapping)] if isinstance(value, list) else []


def _lower(value: Any) -> str | None:
    text = as_text(value)
    return text.strip().lower() if text else None


def _object(body: Any, page: Page, path: str, expected: str) -> Mapping[str, Any]:
    if not isinstance(body, Mapping):
        raise malformed(page, page_url(page, path), f"{type(body).__name__} where {expected} was expected")
    return body


def _observation(
    page: Page,
    observed_at: datetime,
    source_status: Any,
    table: Mapping[str, str],
    *,
    component_id: str | None = None,
    component_name: str | None = None,
    component_group: str | None = None,
    description: str | None = None,
) -> Row:
    status, known = normalise(source_status, table)
    return {
        "observed_at": observed_at,
        "page": page.name,
        "provider": page.provider,
        "platform": page.platform,
        "component_id": component_id,
        "component_name": component_name,
        "component_group": component_group,
        "status": status,
        "source_status": as_text(source_status),
        "status_known": known,
        "description": description,
    }


def _incident(page: Page, observed_at: datetime, incident_id: str | None, **values: Any) -> Row:
    source_impact = values.pop("source_impact", None)
    impact_table = values.pop("impact_table", IMPACT)
    impact = values.pop("impact", None) or normalise(source_impact, impact_table)[0]
    return {
        "page": page.name,
        "provider": page.provider,
        "platform": page.platform,
        "incident_id": incident_id,
        "kind": values.get("kind", "incident"),
        "title": values.get("title"),
        "status": values.get("status"),
        "impact": impact,
        "source_impact": as_text(source_impact),
        "created_at": values.get("created_at"),
        "updated_at": values.get("updated_at"),
        "resolved_at": values.get("resolved_at"),
        "scheduled_for": values.get("scheduled_for"),
        "scheduled_until": values.get("scheduled_until"),
        "shortlink": values.get("shortlink"),
        "components": list(values.get("components") or []),
        "observed_at": observed_at,
    }


def _update(page: Page, observed_at: datetime, incident_id: str | None, update_id: str | None, **values: Any) -> Row:
    return {
        "page": page.name,
        "incident_id": incident_id,
        "update_id": update_id,
        "status": values.get("status"),
        "body": values.get("body"),
        "created_at": values.get("created_at"),
        "display_at": values.get("display_at"),
        "observed_at": observed_at,
    }


def _unique(rows: Iterable[Row], key: Sequence[str]) -> list[Row]:
    """One row per key, the last seen winning; rows missing a key part are kept for the gate to quarantine."""
    keyed: dict[tuple[Any, ...], Row] = {}
    unkeyed: list[Row] = []
    for row in rows:
        parts = tuple(row[name] for name in key)
        if any(part is None for part in parts):
            unkeyed.append(row)
        else:
            keyed[parts] = row
    return [*keyed.values(), *unkeyed]


def _rows(observations: list[Row], incidents: Iterable[Row], updates: Iterable[Row]) -> PageRows:
    return PageRows(
        observations=observations,
        incidents=_unique(incidents, ("incident_id",)),
        updates=_unique(updates, ("incident_id", "update_id")),
    )


# Atlassian Statuspage and incident.io's Statuspage-compatible API


def _statuspage_items(body: Any, page: Page, path: str, key: str) -> list[Mapping[str, Any]]:
    listing = _object(body, page, path, f"an object with {key}")
    if not isinstance(listing.get(key), list):
        raise malformed(page, page_url(page, path), f"no {key} list")
    return _mappings(listing[key])


def _statuspage_incident(
    page: Page, item: Mapping[str, Any], maintenance: bool, observed_at: datetime
) -> tuple[Row, list[Row]]:
    incident_id = _identifier(item.get("id"))
    scheduled_for = as_timestamp(item.get("scheduled_for"))
    is_maintenance = maintenance or scheduled_for is not None or _lower(item.get("impact")) == "maintenance"
    row = _incident(
        page,
        observed_at,
        incident_id,
        kind="maintenance" if is_maintenance else "incident",
        title=as_text(item.get("name")),
        status=_lower(item.get("status")),
        source_impact=item.get("impact"),
        created_at=as_timestamp(item.get("created_at")),
        updated_at=as_timestamp(item.get("updated_at")),
        resolved_at=as_timestamp(item.get("resolved_at")),
        scheduled_for=scheduled_for,
        scheduled_until=as_timestamp(item.get("scheduled_until")),
        shortlink=as_text(item.get("shortlink")),
        components=[name for c in _mappings(item.get("components")) if (name := as_text(c.get("name")))],
    )
    updates = [
        _update(
            page,
            observed_at,
            incident_id,
            _identifier(update.get("id")),
            status=_lower(update.get("status")),
            body=as_text(update.get("body")),
            created_at=as_timestamp(update.get("created_at")),
            display_at=as_timestamp(update.get("display_at")),
        )
        for update in _mappings(item.get("incident_updates"))
    ]
    return row, updates


def parse_statuspage(
    page: Page,
    summary: Any,
    incidents: Any,
    maintenances: Any | None,
    observed_at: datetime,
    component_table: Mapping[str, str] = STATUSPAGE_COMPONENT,
) -> PageRows:
    """A Statuspage v2 page: `summary.json`, `incidents.json` and `scheduled-maintenances.json` (None: not served).

    Group components are components too; their members carry the group's name.
    """
    body = _object(summary, page, SUMMARY_PATH, "the summary object")
    status = as_mapping(body.get("status"))
    if status is None and not isinstance(body.get("components"), list):
        raise malformed(page, page_url(page, SUMMARY_PATH), "no status and no components")
    status = status or {}
    components = _mappings(body.get("components"))
    groups = {
        _identifier(component.get("id")): as_text(component.get("name"))
        for component in components
        if component.get("group") is True
    }
    observations = [
        _observation(
            page, observed_at, status.get("indicator"), INDICATOR, description=as_text(status.get("description"))
        )
    ]
    for component in components:
        observations.append(
            _observation(
                page,
                observed_at,
                component.get("status"),
                component_table,
                component_id=_identifier(component.get("id")),
                component_name=as_text(component.get("name")),
                component_group=groups.get(_identifier(component.get("group_id"))),
            )
        )
    listed: list[tuple[Mapping[str, Any], bool]] = [(item, False) for item in _mappings(body.get("incidents"))]
    listed += [(item, True) for item in _mappings(body.get("scheduled_maintenances"))]
    listed += [(item, False) for item in _statuspage_items(incidents, page, INCIDENTS_PATH, "incidents")]
    if maintenances is not None:
        listed += [
            (item, True) for item in _statuspage_items(maintenances, page, MAINTENANCES_PATH, "scheduled_maintenances")
        ]
    incident_rows: list[Row] = []
    update_rows: list[Row] = []
    for item, maintenance in listed:
        row, updates = _statuspage_incident(page, item, maintenance, observed_at)
        incident_rows.append(row)
        update_rows.extend(updates)
    return _rows(observations, incident_rows, update_rows)


def parse_incidentio(
    page: Page, summary: Any, incidents: Any, maintenances: Any | None, observed_at: datetime
) -> PageRows:
    """An incident.io page through its Statuspage-compatible API (components may read `full_outage`)."""
    return parse_statuspage(page, summary, incidents, maintenances, observed_at, INCIDENTIO_COMPONENT)


# Better Stack


def _betterstack_related_id(item: Mapping[str, Any], name: str) -> str | None:
    attributes = as_mapping(item.get("attributes")) or {}
    direct = _identifier(attributes.get(f"{name}_id"))
    if direct is not None:
        return direct
    relationships = as_mapping(item.get("relationships")) or {}
    related = as_mapping((as_mapping(relationships.get(name)) or {}).get("data")) or {}
    return _identifier(related.get("id"))


def _affected(item: Mapping[str, Any]) -> list[tuple[str | None, Any]]:
    attributes = as_mapping(item.get("attributes")) or {}
    return [
        (_identifier(resource.get("status_page_resource_id")), resource.get("status"))
        for resource in _mappings(attributes.get("affected_resources"))
    ]


def _worst_raw(values: Iterable[Any], table: Mapping[str, str]) -> Any:
    """The raw value whose normalised status is the most severe (unknown ones count only when nothing else does)."""
    ranked = [(value, normalise(value, table)) for value in values if value is not None]
    known = [(value, status) for value, (status, is_known) in ranked if is_known] or [
        (value, status) for value, (status, _) in ranked
    ]
    if not known:
        return None
    return max(known, key=lambda pair: SEVERITY[pair[1]])[0]


def _betterstack_report(
    page: Page,
    report: Mapping[str, Any],
    updates: list[Mapping[str, Any]],
    resource_names: Mapping[str | None, str | None],
    observed_at: datetime,
) -> tuple[Row, list[Row]]:
    report_id = _identifier(report.get("id"))
    attributes = as_mapping(report.get("attributes")) or {}
    maintenance = _lower(attributes.get("report_type")) == "maintenance"
    starts = as_timestamp(attributes.get("starts_at"))
    ends = as_timestamp(attributes.get("ends_at"))
    affected = _affected(report) + [pair for update in updates for pair in _affected(update)]
    published = [as_timestamp((as_mapping(u.get("attributes")) or {}).get("published_at")) for u in updates]
    if maintenance:
        # A maintenance announces its end in advance: it is over once that time has passed.
        resolved_at = ends if ends is not None and ends <= observed_at else None
        if resolved_at is not None:
            status = "completed"
        elif starts is not None and starts > observed_at:
            status = "scheduled"
        else:
            status = "in_progress"
    else:
        resolved_at = ends
        status = "resolved" if ends is not None else "open"
    row = _incident(
        page,
        observed_at,
        report_id,
        kind="maintenance" if maintenance else "incident",
        title=as_text(attributes.get("title")),
        status=status,
        source_impact=_worst_raw([attributes.get("aggregate_state"), *(s for _, s in affected)], BETTERSTACK_REPORT),
        impact_table=BETTERSTACK_REPORT,
        created_at=starts,
        updated_at=max((at for at in published if at is not None), default=starts),
        resolved_at=resolved_at,
        scheduled_for=starts if maintenance else None,
        scheduled_until=ends if maintenance else None,
        shortlink=f"{page.url.rstrip('/')}/incidents/{report_id}" if report_id else None,
        components=list(dict.fromkeys(name for rid, _ in affected if (name := resource_names.get(rid)))),
    )
    update_rows = []
    for update in updates:
        update_attributes = as_mapping(update.get("attributes")) or {}
        update_at = as_timestamp(update_attributes.get("published_at"))
        update_rows.append(
            _update(
                page,
                observed_at,
                report_id,
                _identifier(update.get("id")),
                status=_lower(_worst_raw([s for _, s in _affected(update)], BETTERSTACK_REPORT)),
                body=as_text(update_attributes.get("message")),
                created_at=update_at,
                display_at=update_at,
            )
        )
    return row, update_rows


def parse_betterstack(page: Page, index: Any, observed_at: datetime) -> PageRows:
    """A Better Stack page's `index.json` (JSON:API): the page, its resources by section, its status reports."""
    body = _object(index, page, BETTERSTACK_PATH, "the JSON:API document")
    data = as_mapping(body.get("data"))
    if data is None:
        raise malformed(page, page_url(page, BETTERSTACK_PATH), "no data object")
    attributes = as_mapping(data.get("attributes")) or {}
    included = _mappings(body.get("included"))
    sections = {
        _identifier(item.get("id")): as_text((as_mapping(item.get("attributes")) or {}).get("name"))
        for item in included
        if item.get("type") == "status_page_section"
    }
    observations = [
        _observation(
            page,
            observed_at,
            attributes.get("aggregate_state"),
            BETTERSTACK,
            description=as_text(attributes.get("announcement")),
        )
    ]
    resource_names: dict[str | None, str | None] = {}
    for item in included:
        if item.get("type") != "status_page_resource":
            continue
        resource = as_mapping(item.get("attributes")) or {}
        resource_id = _identifier(item.get("id"))
        resource_names[resource_id] = as_text(resource.get("public_name"))
        observations.append(
            _observation(
                page,
                observed_at,
                resource.get("status"),
                BETTERSTACK,
                component_id=resource_id,
                component_name=resource_names[resource_id],
                component_group=sections.get(_identifier(resource.get("status_page_section_id"))),
            )
        )
    updates_by_report: dict[str | None, list[Mapping[str, Any]]] = {}
    for item in included:
        if item.get("type") in BETTERSTACK_UPDATE_TYPES:
            updates_by_report.setdefault(_betterstack_related_id(item, "status_report"), []).append(item)
    incident_rows: list[Row] = []
    update_rows: list[Row] = []
    for item in included:
        if item.get("type") == "status_report":
            updates = updates_by_report.get(_identifier(item.get("id")), [])
            row, rows = _betterstack_report(page, item, updates, resource_names, observed_at)
            incident_rows.append(row)
            update_rows.extend(rows)
    return _rows(observations, incident_rows, update_rows)


# Google Cloud


def gcp_products(incident: Mapping[str, Any]) -> list[str]:
    """The titles of the products an incident affects (its service name when it lists none)."""
    titles = [title for p in _mappings(incident.get("affected_products")) if (title := as_text(p.get("title")))]
    service = as_text(incident.get("service_name"))
    return titles or ([service] if service else [])


def is_gemini_incident(incident: Mapping[str, Any]) -> bool:
    """True when an incident affects Gemini, Vertex AI or the Generative Language API."""
    return any(product in title.lower() for title in gcp_products(incident) for product in GCP_PRODUCTS)


def parse_gcp(page: Page, incidents: Any, observed_at: datetime) -> PageRows:
    """Google Cloud's `incidents.json`, filtered to Gemini's products; the page's status is its worst open incident.

    Google's incidents carry no workflow status: an incident is "open" until it has an end, then "resolved".
    """
    if not isinstance(incidents, list):
        raise malformed(page, page_url(page, GCP_PATH), f"{type(incidents).__name__} where a list was expected")
    incident_rows: list[Row] = []
    update_rows: list[Row] = []
    for item in _mappings(incidents):
        if not is_gemini_incident(item):
            continue
        incident_id = _identifier(item.get("id"))
        uri = as_text(item.get("uri"))
        end = as_timestamp(item.get("end"))
        incident_rows.append(
            _incident(
                page,
                observed_at,
                incident_id,
                title=as_text(item.get("external_desc")),
                status="resolved" if end is not None else "open",
                source_impact=item.get("status_impact"),
                impact_table=GCP_IMPACT,
                created_at=as_timestamp(item.get("begin")) or as_timestamp(item.get("created")),
                updated_at=as_timestamp(item.get("modified")),
                resolved_at=end,
                shortlink=page_url(page, uri) if uri else None,
                components=gcp_products(item),
            )
        )
        for update in _mappings(item.get("updates")):
            # Google's updates have no id: the time each was created names it.
            update_rows.append(
                _update(
                    page,
                    observed_at,
                    incident_id,
                    as_text(update.get("created")) or as_text(update.get("when")),
                    status=_lower(update.get("status")),
                    body=as_text(update.get("text")),
                    created_at=as_timestamp(update.get("created")),
                    display_at=as_timestamp(update.get("when")),
                )
            )
    open_rows = [row for row in incident_rows if row["resolved_at"] is None]
    worst_open = max(open_rows, key=lambda row: SEVERITY[row["impact"]], default=None)
    if worst_open is None:
        observation = _observation(page, observed_at, None, {})
        observation.update(status=OPERATIONAL, status_known=True)
    else:
        observation = _observation(page, observed_at, worst_open["source_impact"], GCP_IMPACT)
        observation["description"] = worst_open["title"]
    return _rows([observation], incident_rows, update_rows)


# RSS 2.0 and Atom feeds


def plain_text(markup: str | None) -> str | None:
    """A feed item's HTML as plain text, one line per paragraph or break."""
    if not markup:
        return None
    text = html.unescape(_TAG.sub("", _BLOCK_END.sub("\n", markup)))
    lines = [" ".join(line.split()) for line in text.splitlines()]
    return "\n".join(line for line in lines if line) or None


def feed_statuses(text: str | None) -> list[str]:
    """The status lines of an item's text, in order (newest first on every platform seen)."""
    statuses = []
    for line in (text or "").splitlines():
        match = _STATUS_LINE.match(line)
        if match:
            statuses.append(match["status"].lower().replace(" ", "_"))
    return statuses


def _rfc822(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value.strip())
    except (TypeError, ValueError):
        return as_timestamp(value)
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass(frozen=True)
class FeedItem:
    """One RSS item or Atom entry, read."""

    item_id: str | None
    title: str | None
    link: str | None
    published: datetime | None
    updated: datetime | None
    text: str | None


def _child_text(element: ET.Element, tag: str) -> str | None:
    child = element.find(tag)
    return child.text.strip() if child is not None and child.text and child.text.strip() else None


def _rss_items(root: ET.Element) -> list[FeedItem]:
    items = []
    for item in root.iterfind("channel/item"):
        link = _child_text(item, "link")
        title = _child_text(item, "title")
        items.append(
            FeedItem(
                item_id=_child_text(item, "guid") or link or title,
                title=title,
                link=link,
                published=_rfc822(_child_text(item, "pubDate")),
                updated=_rfc822(_child_text(item, f"{ATOM}updated")),
                text=plain_text(_child_text(item, "description")),
            )
        )
    return items


def _atom_link(entry: ET.Element) -> str | None:
    links = entry.findall(f"{ATOM}link")
    preferred = [link for link in links if link.get("rel", "alternate") == "alternate"] or links
    return preferred[0].get("href") if preferred else None


def _atom_entries(root: ET.Element) -> list[FeedItem]:
    entries = []
    for entry in root.iterfind(f"{ATOM}entry"):
        link = _atom_link(entry)
        title = _child_text(entry, f"{ATOM}title")
        entries.append(
            FeedItem(
                item_id=_child_text(entry, f"{ATOM}id") or link or title,
                title=title,
                link=link,
                published=as_timestamp(_child_text(entry, f"{ATOM}published")),
                updated=as_timestamp(_child_text(entry, f"{ATOM}updated")),
                text=plain_text(_child_text(entry, f"{ATOM}summary") or _child_text(entry, f"{ATOM}content")),
            )
        )
    return entries


def feed_items(page: Page, body: bytes) -> list[FeedItem]:
    """The items of an RSS 2.0 or Atom body; a clear error for anything else."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise malformed(page, page.url, f"malformed XML ({exc})") from None
    if root.tag == "rss":
        return _rss_items(root)
    if root.tag == f"{ATOM}feed":
        return _atom_entries(root)
    raise malformed(page, page.url, f"<{root.tag}>, neither an RSS 2.0 nor an Atom feed")


def parse_feed(page: Page, body: bytes, observed_at: datetime) -> PageRows:
    """An RSS or Atom incident feed: each item one incident kept as one update, its text as the update's body.

    A title saying "resolved" is not trusted: an item is resolved only when its text has a "Resolved" status line,
    and then at the item's last update time (Atom `updated`, else the RSS `pubDate`). Feeds carry no impact and no
    components, so the page reads "operational" without an open item and "unknown" with one.
    """
    incident_rows: list[Row] = []
    update_rows: list[Row] = []
    for item in feed_items(page, body):
        statuses = feed_statuses(item.text)
        last_seen = item.updated or item.published
        incident_rows.append(
            _incident(
                page,
                observed_at,
                item.item_id,
                title=item.title,
                status=statuses[0] if statuses else None,
                created_at=item.published or item.updated,
                updated_at=last_seen,
                resolved_at=last_seen if "resolved" in statuses else None,
                shortlink=item.link,
            )
        )
        # Named by its content, so each version of an item's text the feed showed is kept.
        content = f"{item.title}\n{item.text or ''}".encode()
        update_rows.append(
            _update(
                page,
                observed_at,
                item.item_id,
                hashlib.sha256(content).hexdigest()[:16],
                status=statuses[0] if statuses else None,
                body=item.text,
                created_at=last_seen,
                display_at=last_seen,
            )
        )
    open_rows = [row for row in incident_rows if row["resolved_at"] is None]
    observation = _observation(page, observed_at, None, {})
    if open_rows:
        observation["description"] = open_rows[0]["title"]
    else:
        observation.update(status=OPERATIONAL, status_known=True)
    return _rows([observation], incident_rows, update_rows)
