"""Status pages: the pages setting, and each platform's adapter on its fixture (normalisation, unknown values kept and
flagged, Google Cloud's product filter, RSS and Atom feeds, malformed bodies named with their page and URL)."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from modelatlas.errors import ConfigurationError, SourceError
from modelatlas.pipelines.status import SPEC
from modelatlas.pipelines.status.adapters import (
    PageRows,
    feed_statuses,
    parse_betterstack,
    parse_feed,
    parse_gcp,
    parse_incidentio,
    parse_statuspage,
    plain_text,
)
from modelatlas.pipelines.status.normalise import (
    BETTERSTACK,
    GCP_IMPACT,
    IMPACT,
    INCIDENTIO_COMPONENT,
    INDICATOR,
    STATUSES,
    STATUSPAGE_COMPONENT,
    normalise,
)
from modelatlas.pipelines.status.pages import DEFAULT, PLATFORMS, Page, parse_pages
from modelatlas.settings import source_config
from modelatlas.simulator.status import fixture_bytes

VARIABLE = "MODELATLAS_STATUS_PAGES"
OBSERVED = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
ANTHROPIC = Page("anthropic", "statuspage", "https://status.claude.com")
OPENAI = Page("openai", "incidentio", "https://status.openai.com")
HUGGINGFACE = Page("huggingface", "betterstack", "https://status.huggingface.co")
GEMINI = Page("gemini", "gcp", "https://status.cloud.google.com")
OPENROUTER = Page("openrouter", "feed", "https://status.openrouter.ai/incidents.rss")


def fixture(page: str, name: str) -> Any:
    return json.loads(fixture_bytes(page, name))


def statuspage_rows(summary: Any = None, incidents: Any = None, maintenances: Any = None) -> PageRows:
    return parse_statuspage(
        ANTHROPIC,
        summary if summary is not None else fixture("anthropic", "summary.json"),
        incidents if incidents is not None else fixture("anthropic", "incidents.json"),
        maintenances if maintenances is not None else fixture("anthropic", "scheduled-maintenances.json"),
        OBSERVED,
    )


def page_row(rows: PageRows) -> dict[str, Any]:
    [row] = [row for row in rows.observations if row["component_id"] is None]
    return row


def by_name(rows: PageRows) -> dict[str, dict[str, Any]]:
    return {row["component_name"]: row for row in rows.observations if row["component_id"] is not None}


def incident(rows: PageRows, incident_id: str) -> dict[str, Any]:
    [row] = [row for row in rows.incidents if row["incident_id"] == incident_id]
    return row


def assert_unique_keys(rows: PageRows) -> None:
    observation_keys = [(r["page"], r["component_id"], r["observed_at"]) for r in rows.observations]
    incident_keys = [(r["page"], r["incident_id"]) for r in rows.incidents]
    update_keys = [(r["page"], r["incident_id"], r["update_id"]) for r in rows.updates]
    for keys in (observation_keys, incident_keys, update_keys):
        assert len(keys) == len(set(keys))
    assert {row["status"] for row in rows.observations} <= STATUSES
    assert {row["impact"] for row in rows.incidents} <= STATUSES


# MODELATLAS_STATUS_PAGES


def test_the_default_pages_cover_every_tracked_provider_on_its_platform() -> None:
    pages = source_config(SPEC, {}).options["pages"]
    assert pages == parse_pages(DEFAULT, VARIABLE)
    assert [(page.name, page.platform) for page in pages] == [
        ("anthropic", "statuspage"),
        ("openai", "incidentio"),
        ("huggingface", "betterstack"),
        ("gemini", "gcp"),
        ("openrouter", "feed"),
    ]
    assert pages[0].url == "https://status.claude.com"
    assert pages[-1].url == "https://status.openrouter.ai/incidents.rss"
    assert all(page.provider == page.name for page in pages)


def test_a_page_is_one_line_of_configuration() -> None:
    pages = parse_pages(
        " groq = Statuspage : https://groqstatus.com/ , deepseek=feed:https://status.deepseek.com/feed", VARIABLE
    )
    assert pages == (
        Page("groq", "statuspage", "https://groqstatus.com"),
        Page("deepseek", "feed", "https://status.deepseek.com/feed"),
    )


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("anthropic", "'anthropic' is not name=platform:url"),
        ("anthropic=statuspage", "is not name=platform:url"),
        ("anthropic=atlassian:https://status.claude.com", "unknown status platform 'atlassian'"),
        ("anthropic=statuspage:ftp://status.claude.com", "needs an http(s) URL"),
        ("Anthropic Inc=statuspage:https://status.claude.com", "page name 'anthropic inc'"),
        ("a=gcp:https://x.example,a=feed:https://y.example/feed", "names the page a more than once"),
        (" , ,", "lists no status page"),
    ],
)
def test_a_bad_pages_setting_names_the_variable_and_what_to_fix(raw: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=VARIABLE) as raised:
        source_config(SPEC, {VARIABLE: raw})
    assert message in str(raised.value)


def test_an_unknown_platform_lists_the_platforms() -> None:
    with pytest.raises(ConfigurationError) as raised:
        parse_pages("mistral=checkly:https://status.mistral.ai", VARIABLE)
    assert all(platform in str(raised.value) for platform in PLATFORMS)


def test_an_empty_pages_setting_switches_the_source_off() -> None:
    assert source_config(SPEC, {VARIABLE: ""}).skip_reason == f"skipped: {VARIABLE} is empty"


def test_sample_mode_points_every_default_page_below_the_simulator() -> None:
    assert SPEC.simulator is not None and SPEC.simulator.value is not None
    pages = parse_pages(SPEC.simulator.value("http://127.0.0.1:8765/status"), VARIABLE)
    defaults = parse_pages(DEFAULT, VARIABLE)
    assert [(p.name, p.platform) for p in pages] == [(p.name, p.platform) for p in defaults]
    assert pages[0].url == "http://127.0.0.1:8765/status/anthropic"
    assert pages[-1].url == "http://127.0.0.1:8765/status/openrouter/incidents.rss"


# Normalisation


@pytest.mark.parametrize(
    ("value", "table", "expected"),
    [
        ("none", INDICATOR, ("operational", True)),
        ("minor", INDICATOR, ("degraded", True)),
        ("major", IMPACT, ("partial_outage", True)),
        ("critical", IMPACT, ("major_outage", True)),
        ("maintenance", IMPACT, ("maintenance", True)),
        ("degraded_performance", STATUSPAGE_COMPONENT, ("degraded", True)),
        ("under_maintenance", STATUSPAGE_COMPONENT, ("maintenance", True)),
        ("full_outage", STATUSPAGE_COMPONENT, ("unknown", False)),
        ("full_outage", INCIDENTIO_COMPONENT, ("major_outage", True)),
        ("downtime", BETTERSTACK, ("major_outage", True)),
        ("not_monitored", BETTERSTACK, ("unknown", True)),
        ("SERVICE_OUTAGE", GCP_IMPACT, ("major_outage", True)),
        ("Degraded_Performance ", STATUSPAGE_COMPONENT, ("degraded", True)),
        ("melting", STATUSPAGE_COMPONENT, ("unknown", False)),
        (None, INDICATOR, ("unknown", False)),
        (3, INDICATOR, ("unknown", False)),
    ],
)
def test_each_platform_value_maps_onto_one_vocabulary(value: Any, table: dict[str, str], expected: Any) -> None:
    assert normalise(value, table) == expected


# Atlassian Statuspage


def test_statuspage_page_components_and_groups() -> None:
    rows = statuspage_rows()
    page = page_row(rows)
    assert page | {"observed_at": None} == {
        "observed_at": None,
        "page": "anthropic",
        "provider": "anthropic",
        "platform": "statuspage",
        "component_id": None,
        "component_name": None,
        "component_group": None,
        "status": "operational",
        "source_status": "none",
        "status_known": True,
        "description": "All Systems Operational",
    }
    components = by_name(rows)
    assert len(components) == 8
    group = components["Claude API (api.anthropic.com)"]
    assert group["component_group"] is None and group["component_id"] == "k8w3r06qmzrp"
    assert components["Messages"]["component_group"] == "Claude API (api.anthropic.com)"
    assert components["claude.ai"]["component_group"] is None
    assert {row["observed_at"] for row in rows.observations} == {OBSERVED}
    assert all(row["description"] is None for row in components.values())
    assert_unique_keys(rows)


def test_statuspage_incidents_maintenances_and_every_update() -> None:
    rows = statuspage_rows()
    assert len(rows.incidents) == 4
    opus = incident(rows, "x4n1tq7bdl0v")
    assert opus["kind"] == "incident"
    assert (opus["status"], opus["impact"], opus["source_impact"]) == ("resolved", "partial_outage", "major")
    assert opus["created_at"] == datetime(2026, 11, 18, 14, 2, 11, 512000, tzinfo=UTC)
    assert opus["resolved_at"] == datetime(2026, 11, 18, 15, 31, 47, 902000, tzinfo=UTC)
    assert opus["components"] == ["Messages", "Message Batches"]
    assert opus["shortlink"] == "https://stspg.io/x4n1tq7b"
    assert incident(rows, "q7y2d4s9m1kb")["status"] == "postmortem"
    assert incident(rows, "q7y2d4s9m1kb")["impact"] == "major_outage"
    maintenance = incident(rows, "n3v8b1c6x9ze")
    assert (maintenance["kind"], maintenance["status"], maintenance["impact"]) == (
        "maintenance",
        "completed",
        "maintenance",
    )
    assert maintenance["scheduled_for"] == datetime(2026, 11, 5, 6, 0, tzinfo=UTC)
    assert maintenance["scheduled_until"] == datetime(2026, 11, 5, 7, 0, tzinfo=UTC)
    opus_updates = [row for row in rows.updates if row["incident_id"] == "x4n1tq7bdl0v"]
    assert [row["status"] for row in opus_updates] == ["resolved", "monitoring", "identified", "investigating"]
    assert len(rows.updates) == 13
    assert_unique_keys(rows)


def test_an_incident_listed_twice_is_one_row() -> None:
    summary = fixture("anthropic", "summary.json")
    incidents = fixture("anthropic", "incidents.json")
    summary["incidents"] = [copy.deepcopy(incidents["incidents"][0])]
    rows = statuspage_rows(summary=summary, incidents=incidents)
    assert len(rows.incidents) == 4
    assert_unique_keys(rows)


def test_unknown_statuspage_values_are_kept_and_flagged() -> None:
    summary = fixture("anthropic", "summary.json")
    summary["status"]["indicator"] = "catastrophic"
    summary["components"][0]["status"] = "melting"
    incidents = fixture("anthropic", "incidents.json")
    incidents["incidents"][0]["impact"] = "apocalyptic"
    rows = statuspage_rows(summary=summary, incidents=incidents)
    assert (page_row(rows)["status"], page_row(rows)["status_known"], page_row(rows)["source_status"]) == (
        "unknown",
        False,
        "catastrophic",
    )
    melting = by_name(rows)["claude.ai"]
    assert (melting["status"], melting["status_known"], melting["source_status"]) == ("unknown", False, "melting")
    assert len(by_name(rows)) == 8
    opus = incident(rows, "x4n1tq7bdl0v")
    assert (opus["impact"], opus["source_impact"]) == ("unknown", "apocalyptic")


@pytest.mark.parametrize(
    ("part", "body", "path"),
    [
        ("summary", [], "https://status.claude.com/api/v2/summary.json returned list"),
        ("summary", {"page": {}}, "https://status.claude.com/api/v2/summary.json returned no status and no components"),
        ("incidents", {"page": {}}, "https://status.claude.com/api/v2/incidents.json returned no incidents list"),
        ("maintenances", {"x": 1}, "scheduled-maintenances.json returned no scheduled_maintenances list"),
    ],
)
def test_a_malformed_statuspage_body_names_the_page_and_url(part: str, body: Any, path: str) -> None:
    with pytest.raises(SourceError) as raised:
        statuspage_rows(**{part: body})
    assert str(raised.value).startswith("status page anthropic (statuspage): ")
    assert path in str(raised.value)


# incident.io


def test_incidentio_reads_full_outage_and_incidents_without_components() -> None:
    summary = fixture("openai", "summary.json")
    summary["components"][1]["status"] = "full_outage"
    rows = parse_incidentio(OPENAI, summary, fixture("openai", "incidents.json"), None, OBSERVED)
    chat = by_name(rows)["Chat Completions"]
    assert (chat["status"], chat["status_known"], chat["source_status"]) == ("major_outage", True, "full_outage")
    assert len(by_name(rows)) == 11
    batch = incident(rows, "01K9Z3F8H1K4M7P0R3T6W9Y2AD")
    assert batch["components"] == []
    assert (batch["platform"], batch["impact"]) == ("incidentio", "degraded")
    assert len(rows.incidents) == 3 and len(rows.updates) == 8
    assert_unique_keys(rows)


# Better Stack


def betterstack_rows(index: Any = None) -> PageRows:
    return parse_betterstack(
        HUGGINGFACE, index if index is not None else fixture("huggingface", "index.json"), OBSERVED
    )


def test_betterstack_page_and_resources_by_section() -> None:
    rows = betterstack_rows()
    page = page_row(rows)
    assert (page["status"], page["source_status"], page["platform"]) == ("operational", "operational", "betterstack")
    resources = by_name(rows)
    assert len(resources) == 7
    assert resources["Hub API"]["component_group"] == "Hub"
    assert resources["Inference Providers"]["component_group"] == "Inference"
    assert resources["Spaces Proxy"]["component_id"] == "8123407"
    assert_unique_keys(rows)


def test_betterstack_status_reports_with_their_updates() -> None:
    rows = betterstack_rows()
    hub = incident(rows, "1893322")
    assert (hub["kind"], hub["status"], hub["impact"], hub["source_impact"]) == (
        "incident",
        "resolved",
        "degraded",
        "degraded",
    )
    assert hub["resolved_at"] == datetime(2026, 10, 14, 10, 15, tzinfo=UTC)
    assert hub["created_at"] == datetime(2026, 10, 14, 9, 2, tzinfo=UTC)
    assert hub["components"] == ["Hub API"]
    assert hub["shortlink"] == "https://status.huggingface.co/incidents/1893322"
    assert (incident(rows, "1901457")["impact"], incident(rows, "1901457")["source_impact"]) == (
        "major_outage",
        "downtime",
    )
    maintenance = incident(rows, "1910022")
    assert (maintenance["kind"], maintenance["status"], maintenance["impact"]) == (
        "maintenance",
        "completed",
        "maintenance",
    )
    assert maintenance["scheduled_for"] == datetime(2026, 11, 20, 7, 0, tzinfo=UTC)
    assert maintenance["resolved_at"] == datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
    hub_updates = [row for row in rows.updates if row["incident_id"] == "1893322"]
    assert [(row["update_id"], row["status"]) for row in hub_updates] == [
        ("4410981", "degraded"),
        ("4411007", "degraded"),
        ("4411052", "resolved"),
    ]
    assert len(rows.updates) == 6
    assert_unique_keys(rows)


def test_betterstack_open_report_upcoming_maintenance_and_unknown_states() -> None:
    index = fixture("huggingface", "index.json")
    index["data"]["attributes"]["aggregate_state"] = "degraded"
    for item in index["included"]:
        attributes = item["attributes"]
        if item["type"] == "status_page_resource" and attributes["public_name"] == "Spaces":
            attributes["status"] = "not_monitored"
        if item["type"] == "status_page_resource" and attributes["public_name"] == "Website":
            attributes["status"] = "flaky"
        if item["id"] == "1901457":
            attributes["ends_at"] = None
        if item["id"] == "1910022":
            attributes.update(starts_at="2026-12-10T07:00:00.000Z", ends_at="2026-12-10T08:00:00.000Z")
    rows = betterstack_rows(index)
    assert page_row(rows)["status"] == "degraded"
    spaces, website = by_name(rows)["Spaces"], by_name(rows)["Website"]
    assert (spaces["status"], spaces["status_known"]) == ("unknown", True)
    assert (website["status"], website["status_known"], website["source_status"]) == ("unknown", False, "flaky")
    open_report = incident(rows, "1901457")
    assert (open_report["status"], open_report["resolved_at"]) == ("open", None)
    upcoming = incident(rows, "1910022")
    assert (upcoming["status"], upcoming["resolved_at"]) == ("scheduled", None)
    assert rows.open_incidents == 1


def test_betterstack_reads_status_report_update_linked_by_relationship() -> None:
    index = fixture("huggingface", "index.json")
    for item in index["included"]:
        if item["type"] == "status_update":
            item["type"] = "status_report_update"
            report_id = item["attributes"].pop("status_report_id")
            item["relationships"] = {"status_report": {"data": {"id": str(report_id), "type": "status_report"}}}
    rows = betterstack_rows(index)
    assert len(rows.updates) == 6
    assert {row["incident_id"] for row in rows.updates} == {"1893322", "1901457", "1910022"}


def test_a_betterstack_body_without_data_names_the_page_and_url() -> None:
    with pytest.raises(SourceError, match=r"huggingface .*https://status\.huggingface\.co/index\.json.*no data"):
        betterstack_rows({"included": []})


# Google Cloud


def gcp_rows(incidents: Any = None) -> PageRows:
    return parse_gcp(GEMINI, incidents if incidents is not None else fixture("gemini", "incidents.json"), OBSERVED)


def test_gcp_keeps_only_gemini_vertex_and_generative_language_incidents() -> None:
    rows = gcp_rows()
    assert {row["incident_id"] for row in rows.incidents} == {
        "Hc8wE3rT6yU1iO4pA7sD",
        "kL2mN5bV8cX1zA4sD7fG",
        "yT6uI9oP2aS5dF8gH1jK",
    }
    # The open Compute Engine incident is someone else's: the page stays operational.
    assert rows.observations == [page_row(rows)]
    assert (page_row(rows)["status"], page_row(rows)["status_known"]) == ("operational", True)
    gemini = incident(rows, "Hc8wE3rT6yU1iO4pA7sD")
    assert (gemini["status"], gemini["impact"], gemini["source_impact"]) == (
        "resolved",
        "partial_outage",
        "SERVICE_DISRUPTION",
    )
    assert gemini["created_at"] == datetime(2026, 11, 21, 10, 12, tzinfo=UTC)
    assert gemini["resolved_at"] == datetime(2026, 11, 21, 12, 48, tzinfo=UTC)
    assert gemini["shortlink"] == "https://status.cloud.google.com/incidents/Hc8wE3rT6yU1iO4pA7sD"
    assert incident(rows, "kL2mN5bV8cX1zA4sD7fG")["components"] == [
        "Vertex AI Online Prediction",
        "Vertex AI Batch Prediction",
    ]
    updates = [row for row in rows.updates if row["incident_id"] == "Hc8wE3rT6yU1iO4pA7sD"]
    assert [(row["update_id"], row["status"]) for row in updates] == [
        ("2026-11-21T12:51:30+00:00", "available"),
        ("2026-11-21T11:30:02+00:00", "service_disruption"),
        ("2026-11-21T10:31:47+00:00", "service_disruption"),
    ]
    assert_unique_keys(rows)


def test_gcp_page_reads_its_worst_open_incident_matched_case_insensitively() -> None:
    incidents = fixture("gemini", "incidents.json")
    gemini = next(item for item in incidents if item["id"] == "Hc8wE3rT6yU1iO4pA7sD")
    gemini["end"] = None
    gemini["affected_products"] = [{"title": "VERTEX GEMINI API", "id": "x"}]
    language = next(item for item in incidents if item["id"] == "yT6uI9oP2aS5dF8gH1jK")
    language["end"] = None
    rows = gcp_rows(incidents)
    page = page_row(rows)
    assert (page["status"], page["source_status"], page["status_known"]) == (
        "partial_outage",
        "SERVICE_DISRUPTION",
        True,
    )
    assert page["description"] == "Elevated error rates for Gemini 2.5 Pro on Vertex AI"
    assert rows.open_incidents == 2


def test_gcp_unknown_impact_is_kept_and_flagged() -> None:
    incidents = fixture("gemini", "incidents.json")
    gemini = next(item for item in incidents if item["id"] == "Hc8wE3rT6yU1iO4pA7sD")
    gemini.update(end=None, status_impact="SERVICE_MELTDOWN")
    rows = gcp_rows(incidents)
    assert (incident(rows, gemini["id"])["impact"], incident(rows, gemini["id"])["source_impact"]) == (
        "unknown",
        "SERVICE_MELTDOWN",
    )
    assert (page_row(rows)["status"], page_row(rows)["status_known"]) == ("unknown", False)


def test_a_gcp_body_that_is_no_list_names_the_page_and_url() -> None:
    with pytest.raises(SourceError, match=r"gemini .*https://status\.cloud\.google\.com/incidents\.json returned dict"):
        gcp_rows({"incidents": []})


# RSS and Atom feeds


def test_the_rss_feed_gives_one_incident_and_one_update_per_item() -> None:
    rows = parse_feed(OPENROUTER, fixture_bytes("openrouter", "incidents.rss"), OBSERVED)
    assert len(rows.incidents) == 3 and len(rows.updates) == 3
    latency = incident(rows, "cmi3k8fz20001l70b6q2h9xra")
    assert latency["title"] == "Elevated latency on chat completions"
    assert latency["status"] == "resolved"
    assert latency["created_at"] == datetime(2026, 11, 17, 14, 5, tzinfo=UTC)
    assert latency["resolved_at"] == latency["created_at"]
    assert latency["shortlink"] == "https://status.openrouter.ai/incidents/cmi3k8fz20001l70b6q2h9xra"
    assert (latency["impact"], latency["source_impact"], latency["components"]) == ("unknown", None, [])
    [update] = [row for row in rows.updates if row["incident_id"] == latency["incident_id"]]
    assert update["body"] is not None and update["body"].splitlines()[0].startswith("Resolved - Latency is back")
    assert (page_row(rows)["status"], page_row(rows)["status_known"]) == ("operational", True)
    assert_unique_keys(rows)


RSS_TITLE_ONLY = b"""<?xml version="1.0"?>
<rss version="2.0"><channel><title>Example</title>
<item><title>[Resolved] Login errors</title><link>https://status.example.com/incidents/1</link>
<guid>https://status.example.com/incidents/1</guid><pubDate>Mon, 30 Nov 2026 10:00:00 +0000</pubDate>
<description>We resolved a configuration issue. Logins are back to normal.</description></item>
</channel></rss>"""


def test_a_title_saying_resolved_does_not_resolve_a_feed_item() -> None:
    rows = parse_feed(OPENROUTER, RSS_TITLE_ONLY, OBSERVED)
    [row] = rows.incidents
    assert (row["incident_id"], row["resolved_at"], row["status"]) == (
        "https://status.example.com/incidents/1",
        None,
        None,
    )
    page = page_row(rows)
    assert (page["status"], page["status_known"], page["description"]) == ("unknown", False, "[Resolved] Login errors")


ATOM_CONTENT = (
    b"&lt;p&gt;&lt;strong&gt;Resolved&lt;/strong&gt; - Search is fast again.&lt;/p&gt;"
    b"&lt;p&gt;&lt;strong&gt;Investigating&lt;/strong&gt; - Search is slow.&lt;/p&gt;"
)
ATOM_FEED = (
    b"""<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="en-US">
  <id>tag:status.example.com,2005:/history</id>
  <title>Example Status - Incident History</title>
  <updated>2026-11-30T11:00:00Z</updated>
  <entry>
    <id>tag:status.example.com,2005:Incident/2001</id>
    <published>2026-11-30T09:00:00Z</published>
    <updated>2026-11-30T10:30:00Z</updated>
    <link rel="alternate" type="text/html" href="https://status.example.com/incidents/2001"/>
    <title>Degraded search</title>
    <content type="html">"""
    + ATOM_CONTENT
    + b"""</content>
  </entry>
  <entry>
    <id>tag:status.example.com,2005:Incident/2002</id>
    <published>2026-11-30T10:50:00Z</published>
    <updated>2026-11-30T10:55:00Z</updated>
    <link rel="alternate" type="text/html" href="https://status.example.com/incidents/2002"/>
    <title>Webhooks delayed</title>
    <summary>Status: Monitoring
A fix is rolling out.
Status: Investigating
Webhooks are delayed.</summary>
  </entry>
</feed>"""
)


def test_an_atom_feed_reads_published_updated_and_resolution() -> None:
    rows = parse_feed(OPENROUTER, ATOM_FEED, OBSERVED)
    search = incident(rows, "tag:status.example.com,2005:Incident/2001")
    assert search["created_at"] == datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    assert search["updated_at"] == search["resolved_at"] == datetime(2026, 11, 30, 10, 30, tzinfo=UTC)
    assert search["shortlink"] == "https://status.example.com/incidents/2001"
    webhooks = incident(rows, "tag:status.example.com,2005:Incident/2002")
    assert (webhooks["status"], webhooks["resolved_at"]) == ("monitoring", None)
    assert rows.open_incidents == 1
    assert page_row(rows)["description"] == "Webhooks delayed"


def test_feed_text_and_status_lines() -> None:
    text = plain_text("<p><strong>Resolved</strong> - Done &amp; dusted.</p><p>Update: still <em>fine</em></p>")
    assert text == "Resolved - Done & dusted.\nUpdate: still fine"
    assert feed_statuses(text) == ["resolved", "update"]
    assert feed_statuses("Resolved the flaky test\nIn progress - moving racks") == ["in_progress"]


@pytest.mark.parametrize(
    ("body", "what"),
    [(b"<rss><channel><item>", "malformed XML"), (b"<html><body>Not here</body></html>", "<html>, neither")],
)
def test_a_body_that_is_no_feed_names_the_page_and_url(body: bytes, what: str) -> None:
    with pytest.raises(SourceError) as raised:
        parse_feed(OPENROUTER, body, OBSERVED)
    assert str(raised.value).startswith(
        "status page openrouter (feed): https://status.openrouter.ai/incidents.rss returned "
    )
    assert what in str(raised.value)
