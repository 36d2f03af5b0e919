"""Official status pages: every page of the default configuration under `/<page>/...`, in its platform's format.

Steady by default: each poll reads the same fixtures (a few historical incidents with their updates). The scripted
scenario moves only when `advance()` is called, one step a call, on every page at once:

1. an incident opens ("investigating"; on component pages, one component reads degraded),
2. it gets an update ("identified"),
3. it resolves ("resolved"; the component is operational again). Further calls change nothing.

`set_component`, `open_incident` and `update_incident` script other stories; `fail_page` and `malform_page` break
one page while the others keep answering.
"""

from __future__ import annotations

import copy
import email.utils
import itertools
import json
import threading
import xml.etree.ElementTree as ET
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from typing import Any

from modelatlas.pipelines.status.pages import DEFAULT_PAGES, FEED_FILE
from modelatlas.simulator.core import ProviderHandler, SimRequest, SimResponse

ATOM_NAMESPACE = "http://www.w3.org/2005/Atom"
ET.register_namespace("atom", ATOM_NAMESPACE)
PLATFORMS = {name: platform for name, platform, _url in DEFAULT_PAGES}
STATUSPAGE_FILES = ("summary.json", "incidents.json", "scheduled-maintenances.json")
FIXTURES: dict[str, tuple[str, ...]] = {
    "statuspage": STATUSPAGE_FILES,
    "incidentio": ("summary.json", "incidents.json"),
    "betterstack": ("index.json",),
    "gcp": ("incidents.json",),
    "feed": (FEED_FILE,),
}
# Each page's scripted incident: its title and the component it degrades (none on Google Cloud and feeds).
SCRIPTED: dict[str, tuple[str, str | None]] = {
    "anthropic": ("Elevated errors on the Messages API", "Messages"),
    "openai": ("Increased latency for Chat Completions", "Chat Completions"),
    "huggingface": ("Inference Providers degraded", "Inference Providers"),
    "gemini": ("Elevated error rates for Gemini on Vertex AI", None),
    "openrouter": ("Elevated error rates on chat completions", None),
}
SCRIPT = (
    ("investigating", "We are investigating elevated error rates."),
    ("identified", "The issue has been identified and a fix is being implemented."),
    ("resolved", "This incident has been resolved."),
)
DEGRADED = {"statuspage": "degraded_performance", "incidentio": "degraded_performance", "betterstack": "degraded"}
GCP_PRODUCT = "Vertex Gemini API"
GCP_IMPACT = {"none": "SERVICE_INFORMATION", "minor": "SERVICE_INFORMATION", "major": "SERVICE_DISRUPTION"}
RESOLVING = frozenset({"resolved", "completed", "postmortem"})
# How each platform's component values rank, to derive the page's overall status from its components.
STATUSPAGE_RANK = {
    "operational": 0,
    "under_maintenance": 1,
    "degraded_performance": 2,
    "partial_outage": 3,
    "major_outage": 4,
    "full_outage": 4,
}
INDICATORS = (
    ("none", "All Systems Operational"),
    ("maintenance", "Service Under Maintenance"),
    ("minor", "Partially Degraded Service"),
    ("major", "Partial System Outage"),
    ("critical", "Major System Outage"),
)
IMPACT_RANK = {"none": 0, "maintenance": 1, "minor": 2, "major": 3, "critical": 4}
BETTERSTACK_RANK = {"operational": 0, "maintenance": 1, "degraded": 2, "downtime": 3}


@dataclass
class SimUpdate:
    """One update of a scripted incident."""

    update_id: str
    status: str
    body: str
    at: datetime


@dataclass
class SimIncident:
    """A scripted incident, rendered in each platform's own shape."""

    incident_id: str
    title: str
    impact: str
    component: str | None
    created_at: datetime
    updates: list[SimUpdate] = field(default_factory=list)
    resolved_at: datetime | None = None

    @property
    def status(self) -> str:
        """The status of its latest update."""
        return self.updates[-1].status


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def fixture_bytes(page: str, name: str) -> bytes:
    """A status page fixture as served."""
    return resources.files("modelatlas.simulator").joinpath("fixtures", "status", page, name).read_bytes()


def _iso_millis(at: datetime) -> str:
    """Statuspage's and Better Stack's timestamps: `2026-11-18T14:02:11.512Z`."""
    at = at.astimezone(UTC)
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def _iso_offset(at: datetime) -> str:
    """Google Cloud's timestamps: `2026-11-21T10:12:00+00:00`."""
    return at.astimezone(UTC).replace(microsecond=0).isoformat()


# Statuspage and incident.io


def _statuspage_incident(incident: SimIncident, summary: dict[str, Any], page_url: str) -> dict[str, Any]:
    components = [
        {key: value for key, value in component.items() if key != "components"}
        for component in summary.get("components", [])
        if component.get("name") == incident.component
    ]
    monitoring = next((u.at for u in incident.updates if u.status == "monitoring"), None)
    return {
        "id": incident.incident_id,
        "name": incident.title,
        "status": incident.status,
        "created_at": _iso_millis(incident.created_at),
        "updated_at": _iso_millis(incident.updates[-1].at),
        "monitoring_at": _iso_millis(monitoring) if monitoring else None,
        "resolved_at": _iso_millis(incident.resolved_at) if incident.resolved_at else None,
        "impact": incident.impact,
        "shortlink": f"{page_url}/incidents/{incident.incident_id}",
        "started_at": _iso_millis(incident.created_at),
        "page_id": summary.get("page", {}).get("id"),
        "incident_updates": [
            {
                "id": update.update_id,
                "status": update.status,
                "body": update.body,
                "incident_id": incident.incident_id,
                "created_at": _iso_millis(update.at),
                "updated_at": _iso_millis(update.at),
                "display_at": _iso_millis(update.at),
                "affected_components": None,
                "deliver_notifications": True,
            }
            for update in reversed(incident.updates)
        ],
        "components": components,
    }


def render_summary(
    base: dict[str, Any], overrides: dict[str, str], incidents: list[SimIncident], page_url: str
) -> dict[str, Any]:
    """`summary.json`: the fixture with component overrides, open scripted incidents and the indicator they imply."""
    body = copy.deepcopy(base)
    components = body.get("components", [])
    for component in components:
        if component.get("name") in overrides:
            component["status"] = overrides[component["name"]]
    by_id = {component.get("id"): component for component in components}
    for group in components:
        if group.get("group") is True and group.get("components"):
            members = [by_id[cid]["status"] for cid in group["components"] if cid in by_id]
            group["status"] = max(members, key=lambda status: STATUSPAGE_RANK.get(status, 0), default="operational")
    open_incidents = [incident for incident in incidents if incident.resolved_at is None]
    body["incidents"] = [_statuspage_incident(i, body, page_url) for i in reversed(open_incidents)] + body.get(
        "incidents", []
    )
    if overrides or incidents:
        rank = max(
            [STATUSPAGE_RANK.get(str(c.get("status")), 0) for c in components if c.get("group") is not True]
            + [IMPACT_RANK.get(incident.impact, 0) for incident in open_incidents],
            default=0,
        )
        indicator, description = INDICATORS[rank]
        body["status"] = {"indicator": indicator, "description": description}
    return body


def render_incidents(base: dict[str, Any], summary: dict[str, Any], incidents: list[SimIncident], page_url: str) -> Any:
    """`incidents.json`: the 50 most recent incidents, scripted ones first."""
    body = copy.deepcopy(base)
    scripted = [_statuspage_incident(incident, summary, page_url) for incident in reversed(incidents)]
    body["incidents"] = (scripted + body.get("incidents", []))[:50]
    return body


# Better Stack


def render_betterstack(
    base: dict[str, Any], overrides: dict[str, str], incidents: list[SimIncident], page_url: str
) -> dict[str, Any]:
    """`index.json`: resources with overrides, scripted incidents as status reports with their status updates."""
    body = copy.deepcopy(base)
    included: list[dict[str, Any]] = body.setdefault("included", [])
    resources_by_name = {
        item["attributes"].get("public_name"): item for item in included if item.get("type") == "status_page_resource"
    }
    for name, status in overrides.items():
        if name in resources_by_name:
            resources_by_name[name]["attributes"]["status"] = status
    page_id = int(body["data"]["id"])
    for incident in incidents:
        resource = resources_by_name.get(incident.component)
        resource_id = resource["id"] if resource else None

        def affected(status: str, resource_id: str | None = resource_id) -> list[dict[str, str]]:
            return [{"status_page_resource_id": resource_id, "status": status}] if resource_id else []

        final = "resolved" if incident.resolved_at else "degraded"
        included.append(
            {
                "id": incident.incident_id,
                "type": "status_report",
                "attributes": {
                    "title": incident.title,
                    "report_type": "manual",
                    "starts_at": _iso_millis(incident.created_at),
                    "ends_at": _iso_millis(incident.resolved_at) if incident.resolved_at else None,
                    "status_page_id": page_id,
                    "affected_resources": affected(final),
                    "aggregate_state": "operational" if incident.resolved_at else "degraded",
                },
            }
        )
        for update in incident.updates:
            included.append(
                {
                    "id": update.update_id,
                    "type": "status_update",
                    "attributes": {
                        "message": update.body,
                        "published_at": _iso_millis(update.at),
                        "notify_subscribers": True,
                        "status_report_id": int(incident.incident_id),
                        "affected_resources": affected("resolved" if update.status in RESOLVING else "degraded"),
                    },
                }
            )
    if overrides or incidents:
        states = [str(item["attributes"].get("status")) for item in resources_by_name.values()]
        body["data"]["attributes"]["aggregate_state"] = max(
            states, key=lambda state: BETTERSTACK_RANK.get(state, 0), default="operational"
        )
    return body


# Google Cloud


def _gcp_incident(incident: SimIncident) -> dict[str, Any]:
    impact = GCP_IMPACT.get(incident.impact, "SERVICE_OUTAGE")
    locations = [{"title": "Global", "id": "global"}]
    product = incident.component or GCP_PRODUCT
    updates = [
        {
            "created": _iso_offset(update.at),
            "modified": _iso_offset(update.at),
            "when": _iso_offset(update.at),
            "text": f"Summary: {incident.title}\nDescription: {update.body}",
            "status": "AVAILABLE" if update.status in RESOLVING else impact,
            "affected_locations": locations,
        }
        for update in reversed(incident.updates)
    ]
    return {
        "id": incident.incident_id,
        "number": str(zlib.crc32(incident.incident_id.encode())),
        "begin": _iso_offset(incident.created_at),
        "created": _iso_offset(incident.updates[0].at),
        "end": _iso_offset(incident.resolved_at) if incident.resolved_at else None,
        "modified": _iso_offset(incident.updates[-1].at),
        "external_desc": incident.title,
        "updates": updates,
        "most_recent_update": updates[0],
        "status_impact": impact,
        "severity": {"SERVICE_INFORMATION": "low", "SERVICE_DISRUPTION": "medium"}.get(impact, "high"),
        "service_key": "SimulatedGeminiProduct",
        "service_name": product,
        "affected_products": [{"title": product, "id": "SimulatedGeminiProduct"}],
        "uri": f"incidents/{incident.incident_id}",
        "currently_affected_locations": [] if incident.resolved_at else locations,
        "previously_affected_locations": locations if incident.resolved_at else [],
    }


def render_gcp(base: list[dict[str, Any]], incidents: list[SimIncident]) -> list[dict[str, Any]]:
    """`incidents.json`: every Google Cloud incident, scripted ones first."""
    return [_gcp_incident(incident) for incident in reversed(incidents)] + copy.deepcopy(base)


# RSS


def _rss_item(incident: SimIncident, link_root: str) -> ET.Element:
    item = ET.Element("item")
    link = f"{link_root}/incidents/{incident.incident_id}"
    description = "".join(
        f"<p><strong>{update.status.replace('_', ' ').capitalize()}</strong> - {update.body}</p>"
        for update in reversed(incident.updates)
    )
    ET.SubElement(item, "title").text = incident.title
    ET.SubElement(item, "link").text = link
    ET.SubElement(item, "guid", isPermaLink="false").text = incident.incident_id
    ET.SubElement(item, "pubDate").text = email.utils.format_datetime(incident.created_at.astimezone(UTC), usegmt=True)
    ET.SubElement(item, "description").text = description
    return item


def render_feed(base: bytes, incidents: list[SimIncident], link_root: str) -> bytes:
    """The RSS feed: the fixture's items after the scripted ones, newest first."""
    if not incidents:
        return base
    root = ET.fromstring(base)
    channel = root.find("channel")
    if channel is None:
        return base
    children = list(channel)
    first_item = next((i for i, child in enumerate(children) if child.tag == "item"), len(children))
    for offset, incident in enumerate(reversed(incidents)):
        channel.insert(first_item + offset, _rss_item(incident, link_root))
    return bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True))


class StatusPagesHandler(ProviderHandler):
    """Serves every default status page below its name: `/anthropic/api/v2/summary.json`, `/huggingface/index.json`,
    `/gemini/incidents.json`, `/openrouter/incidents.rss`, ... Public pages: no key is checked."""

    name = "status"
    items_key = None

    def __init__(self, api_key: str | None) -> None:
        super().__init__(api_key)
        self.step = 0
        self._fixtures = {
            (page, name): fixture_bytes(page, name)
            for page, platform in PLATFORMS.items()
            for name in FIXTURES[platform]
        }
        self._json = {key: json.loads(raw) for key, raw in self._fixtures.items() if key[1].endswith(".json")}
        self._overrides: dict[str, dict[str, str]] = {page: {} for page in PLATFORMS}
        self._incidents: dict[str, list[SimIncident]] = {page: [] for page in PLATFORMS}
        self._scripted: dict[str, str] = {}
        self._failures: dict[str, int | None] = {}
        self._ids = itertools.count(1)
        self._lock = threading.RLock()

    # Scripting

    def advance(self, at: datetime | None = None) -> int:
        """One step of the scripted incident on every page (open, update, resolve); the step reached."""
        with self._lock:
            if self.step >= len(SCRIPT):
                return self.step
            status, body = SCRIPT[self.step]
            self.step += 1
            for page, (title, component) in SCRIPTED.items():
                if self.step == 1:
                    self._scripted[page] = self.open_incident(
                        page, title, component=component, status=status, body=body, at=at
                    )
                    if component is not None:
                        self.set_component(page, component, DEGRADED[PLATFORMS[page]])
                else:
                    self.update_incident(page, self._scripted[page], status, body, at=at)
                    if status in RESOLVING and component is not None:
                        self._overrides[page].pop(component, None)
            return self.step

    def set_component(self, page: str, component_name: str, status: str) -> None:
        """Give a component of `page` a status in the page's own vocabulary (any value, known or not)."""
        with self._lock:
            if component_name not in self.component_names(page):
                raise ValueError(f"status page {page!r} has no component {component_name!r}")
            self._overrides[page][component_name] = status

    def open_incident(
        self,
        page: str,
        title: str,
        *,
        component: str | None = None,
        impact: str = "minor",
        status: str = "investigating",
        body: str = "We are investigating.",
        at: datetime | None = None,
    ) -> str:
        """Open an incident on `page` (affecting `component`, whose status it leaves alone); its id."""
        platform = self._platform(page)
        with self._lock:
            number = next(self._ids)
            incident_id = _incident_id(platform, number)
            moment = at or _now()
            incident = SimIncident(incident_id, title, impact, component, moment)
            self._incidents[page].append(incident)
            self._add_update(platform, incident, status, body, moment)
            return incident_id

    def update_incident(
        self, page: str, incident_id: str, status: str, body: str | None = None, *, at: datetime | None = None
    ) -> None:
        """Add an update to an incident of `page`; "resolved" (or "completed", "postmortem") resolves it."""
        platform = self._platform(page)
        with self._lock:
            incident = next((i for i in self._incidents[page] if i.incident_id == incident_id), None)
            if incident is None:
                raise ValueError(f"status page {page!r} has no scripted incident {incident_id!r}")
            moment = at or _now()
            self._add_update(platform, incident, status, body or f"Status: {status}.", moment)
            if status in RESOLVING and incident.resolved_at is None:
                incident.resolved_at = moment

    def fail_page(self, page: str, status: int = 503) -> None:
        """Answer every request for `page` with HTTP `status` until `restore_page`."""
        self._platform(page)
        with self._lock:
            self._failures[page] = status

    def malform_page(self, page: str) -> None:
        """Answer every request for `page` with a truncated body until `restore_page`."""
        self._platform(page)
        with self._lock:
            self._failures[page] = None

    def restore_page(self, page: str) -> None:
        """Serve `page` normally again."""
        with self._lock:
            self._failures.pop(page, None)

    def component_names(self, page: str) -> list[str]:
        """The components `page` lists (none on Google Cloud and feeds)."""
        platform = self._platform(page)
        if platform in ("statuspage", "incidentio"):
            return [str(c.get("name")) for c in self._json[(page, "summary.json")].get("components", [])]
        if platform == "betterstack":
            included = self._json[(page, "index.json")].get("included", [])
            return [
                str(i["attributes"].get("public_name")) for i in included if i.get("type") == "status_page_resource"
            ]
        return []

    # Serving

    def authenticate(self, request: SimRequest) -> SimResponse | None:
        return None

    def error(self, status: int, message: str, code: str | None = None) -> SimResponse:
        return SimResponse(status, {"error": {"code": code or str(status), "message": message}})

    def route(self, request: SimRequest) -> SimResponse:
        page, _, path = request.path.lstrip("/").partition("/")
        if request.method != "GET" or page not in PLATFORMS:
            return self.not_found(request)
        with self._lock:
            failing = page in self._failures
            failure = self._failures.get(page)
            response = self._serve(page, path, f"{request.base_url}/{page}")
        if not failing or response.status >= 400:
            return response
        if failure is not None:
            return self.error(failure, f"Simulated HTTP {failure} for status page {page}", "simulated")
        body = response.encoded()
        return SimResponse(200, body[: max(1, len(body) // 2)], response.headers)

    def _serve(self, page: str, path: str, page_url: str) -> SimResponse:
        platform = PLATFORMS[page]
        overrides, incidents = self._overrides[page], self._incidents[page]
        if platform in ("statuspage", "incidentio"):
            summary = render_summary(self._json[(page, "summary.json")], overrides, incidents, page_url)
            bodies: dict[str, Any] = {
                "api/v2/summary.json": summary,
                "api/v2/status.json": {"page": summary.get("page"), "status": summary.get("status")},
                "api/v2/components.json": {"page": summary.get("page"), "components": summary.get("components")},
                "api/v2/incidents/unresolved.json": {"page": summary.get("page"), "incidents": summary["incidents"]},
            }
            if path == "api/v2/incidents.json":
                return SimResponse(
                    200, render_incidents(self._json[(page, "incidents.json")], summary, incidents, page_url)
                )
            if path == "api/v2/scheduled-maintenances.json" and platform == "statuspage":
                return SimResponse(200, self._json[(page, "scheduled-maintenances.json")])
            if path in bodies:
                return SimResponse(200, bodies[path])
        elif platform == "betterstack" and path == "index.json":
            return SimResponse(
                200, render_betterstack(self._json[(page, "index.json")], overrides, incidents, page_url)
            )
        elif platform == "gcp" and path == "incidents.json":
            return SimResponse(200, render_gcp(self._json[(page, "incidents.json")], incidents))
        elif platform == "feed" and path == FEED_FILE:
            body = render_feed(self._fixtures[(page, FEED_FILE)], incidents, page_url)
            return SimResponse(200, body, {"content-type": "application/rss+xml; charset=utf-8"})
        return self.error(404, f"Unknown path /{page}/{path}", "not_found")

    def _platform(self, page: str) -> str:
        if page not in PLATFORMS:
            raise ValueError(f"no simulated status page {page!r}; the pages are {', '.join(PLATFORMS)}")
        return PLATFORMS[page]

    def _add_update(self, platform: str, incident: SimIncident, status: str, body: str, at: datetime) -> None:
        number = len(incident.updates) + 1
        incident.updates.append(SimUpdate(_update_id(platform, incident.incident_id, number), status, body, at))


def _incident_id(platform: str, number: int) -> str:
    """A scripted incident's id, shaped like the platform's own."""
    if platform == "betterstack":
        return str(9_900_000 + number)
    if platform == "incidentio":
        return f"01SIMULATED{number:015d}"
    return f"sim{number:09d}"


def _update_id(platform: str, incident_id: str, number: int) -> str:
    if platform == "betterstack":
        return str(int(incident_id) * 100 + number)
    return f"{incident_id}u{number}"
