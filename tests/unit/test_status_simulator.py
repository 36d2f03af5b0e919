"""The status pages simulator through the real HTTP server and the real extract function: steady polls, an incident
that opens, updates and resolves across three polls on every platform, and pages that fail alone."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pyarrow as pa
import pytest

from modelatlas.errors import SourceError
from modelatlas.pipelines import engine
from modelatlas.pipelines.quality.gate import gate_batch
from modelatlas.pipelines.spec import Batch
from modelatlas.pipelines.status import INCIDENT_COLUMNS, SPEC, UPDATE_COLUMNS
from modelatlas.settings import GateSettings, source_config
from modelatlas.simulator import Simulator
from modelatlas.simulator.status import SCRIPTED, StatusPagesHandler
from tests.unit.conftest import PROXY_ENV_VARS, LocalServer
from tests.unit.simulated import FAST

START = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
POLL = timedelta(minutes=2)
PAGES = ("anthropic", "openai", "huggingface", "gemini", "openrouter")


@pytest.fixture(scope="module")
def simulator() -> Iterator[Simulator]:
    with Simulator({"status": StatusPagesHandler(None)}) as server:
        yield server


@pytest.fixture
def handler(simulator: Simulator, monkeypatch: pytest.MonkeyPatch) -> StatusPagesHandler:
    """A fresh handler (steady pages, no scripted step taken) for each test."""
    for name in PROXY_ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    fresh = StatusPagesHandler(None)
    simulator.handlers["status"] = fresh
    simulator.clear()
    return fresh


def pages_setting(simulator: Simulator) -> str:
    assert SPEC.simulator is not None and SPEC.simulator.value is not None
    return SPEC.simulator.value(simulator.root_url("status"))


def poll(simulator: Simulator, at: datetime) -> Batch:
    """One fetch through the source's own extract function, the pages pointing at the simulator."""
    config = source_config(SPEC, {SPEC.variable("PAGES"): pages_setting(simulator)})
    request = engine.request_for(SPEC, config, fetched_at=at, policy=FAST)
    assert SPEC.extract is not None
    return SPEC.extract(request)


def rows(batch: Batch, table: str, page: str | None = None) -> list[dict[str, Any]]:
    listed = batch.tables[table]
    assert isinstance(listed, list)
    return [dict(row) for row in listed if page is None or row["page"] == page]


def page_status(batch: Batch, page: str) -> tuple[str, str | None]:
    [row] = [row for row in rows(batch, "status_observations", page) if row["component_id"] is None]
    return row["status"], row["source_status"]


def component(batch: Batch, page: str, name: str) -> dict[str, Any]:
    [row] = [row for row in rows(batch, "status_observations", page) if row["component_name"] == name]
    return row


def scripted_incident(batch: Batch, page: str) -> dict[str, Any]:
    title = SCRIPTED[page][0]
    [row] = [row for row in rows(batch, "incidents", page) if row["title"] == title]
    return row


def updates_of(batch: Batch, page: str, incident_id: str) -> list[dict[str, Any]]:
    return sorted(
        (row for row in rows(batch, "incident_updates", page) if row["incident_id"] == incident_id),
        key=lambda row: row["created_at"],
    )


def test_steady_polls_load_unchanged_incidents(simulator: Simulator, handler: StatusPagesHandler) -> None:
    first, second = poll(simulator, START), poll(simulator, START + POLL)
    assert first.notes == second.notes == ()
    assert {row["page"] for row in rows(first, "status_observations")} == set(PAGES)
    assert all(page_status(first, page)[0] == "operational" for page in PAGES)
    for table in SPEC.tables:
        versions = {engine.data_version(table, batch.tables[table.name]) for batch in (first, second)}
        # The time series changes with each poll's time; what the pages say about incidents does not.
        assert len(versions) == (2 if table.name == "status_observations" else 1)
    assert first.metadata["open_incidents"] == 0
    assert handler.step == 0


def test_an_incident_opens_updates_and_resolves_across_three_polls(
    simulator: Simulator, handler: StatusPagesHandler
) -> None:
    polls = []
    for step in (1, 2, 3):
        at = START + step * POLL
        assert handler.advance(at=at - timedelta(seconds=40)) == step
        polls.append(poll(simulator, at))
    opened, updated, resolved = polls
    incident_id = scripted_incident(opened, "anthropic")["incident_id"]

    first = scripted_incident(opened, "anthropic")
    assert (first["status"], first["impact"], first["resolved_at"]) == ("investigating", "degraded", None)
    assert first["created_at"] == START + POLL - timedelta(seconds=40)
    assert first["components"] == ["Messages"]
    messages = component(opened, "anthropic", "Messages")
    assert (messages["status"], messages["source_status"]) == ("degraded", "degraded_performance")
    assert component(opened, "anthropic", "Claude API (api.anthropic.com)")["status"] == "degraded"
    assert page_status(opened, "anthropic") == ("degraded", "minor")
    assert opened.metadata["open_incidents"] == len(PAGES)

    assert scripted_incident(updated, "anthropic")["status"] == "identified"
    assert len(updates_of(updated, "anthropic", incident_id)) == 2

    last = scripted_incident(resolved, "anthropic")
    assert (last["incident_id"], last["status"]) == (incident_id, "resolved")
    assert last["created_at"] == first["created_at"]
    assert last["resolved_at"] == START + 3 * POLL - timedelta(seconds=40)
    assert [row["status"] for row in updates_of(resolved, "anthropic", incident_id)] == [
        "investigating",
        "identified",
        "resolved",
    ]
    assert component(resolved, "anthropic", "Messages")["status"] == "operational"
    assert page_status(resolved, "anthropic") == ("operational", "none")
    assert resolved.metadata["open_incidents"] == 0


@pytest.mark.parametrize("page", PAGES)
def test_every_platform_plays_the_scripted_incident(
    simulator: Simulator, handler: StatusPagesHandler, page: str
) -> None:
    statuses = []
    for step in (1, 2, 3):
        handler.advance(at=START + step * POLL)
        batch = poll(simulator, START + step * POLL + timedelta(seconds=5))
        incident = scripted_incident(batch, page)
        statuses.append((incident["resolved_at"] is None, page_status(batch, page)[0]))
        component_name = SCRIPTED[page][1]
        if component_name is not None:
            expected = "operational" if step == 3 else "degraded"
            assert component(batch, page, component_name)["status"] == expected
    assert [still_open for still_open, _ in statuses] == [True, True, False]
    assert statuses[0][1] != "operational"
    assert statuses[2][1] == "operational"
    assert handler.advance() == 3


def test_the_feed_is_served_as_rss(simulator: Simulator, handler: StatusPagesHandler) -> None:
    response = httpx.get(f"{simulator.root_url('status')}/openrouter/incidents.rss")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/rss+xml")
    assert response.content.startswith(b"<?xml")


def test_incidentio_serves_no_maintenances_and_the_page_still_loads(
    simulator: Simulator, handler: StatusPagesHandler
) -> None:
    missing = httpx.get(f"{simulator.root_url('status')}/openai/api/v2/scheduled-maintenances.json")
    assert missing.status_code == 404
    batch = poll(simulator, START)
    assert batch.notes == ()
    assert len(rows(batch, "incidents", "openai")) == 3
    asked = [request.path for request in simulator.requests_to("status")]
    assert asked.count("/openai/api/v2/scheduled-maintenances.json") == 2  # the GET above, then the poll's one


def test_one_failing_page_keeps_the_others_with_a_note(simulator: Simulator, handler: StatusPagesHandler) -> None:
    handler.fail_page("huggingface", 503)
    batch = poll(simulator, START)
    assert {row["page"] for row in rows(batch, "status_observations")} == set(PAGES) - {"huggingface"}
    assert not rows(batch, "incidents", "huggingface")
    [note] = batch.notes
    assert note.startswith("huggingface not polled: status page huggingface (betterstack): ")
    assert "/status/huggingface/index.json answered HTTP 503" in note
    assert batch.metadata["pages_failed"] == "huggingface"
    handler.restore_page("huggingface")
    assert poll(simulator, START + POLL).notes == ()


def test_a_malformed_page_is_named_with_its_url(simulator: Simulator, handler: StatusPagesHandler) -> None:
    handler.malform_page("gemini")
    handler.malform_page("openrouter")
    batch = poll(simulator, START)
    notes = dict(note.split(" not polled: ", 1) for note in batch.notes)
    assert set(notes) == {"gemini", "openrouter"}
    assert "/status/gemini/incidents.json returned malformed JSON" in notes["gemini"]
    assert "/status/openrouter/incidents.rss returned malformed XML" in notes["openrouter"]
    assert {row["page"] for row in rows(batch, "status_observations")} == {"anthropic", "openai", "huggingface"}


def test_when_every_page_fails_the_first_error_is_raised(simulator: Simulator, handler: StatusPagesHandler) -> None:
    for page in PAGES:
        handler.fail_page(page, 500)
    with pytest.raises(SourceError, match=r"^status page anthropic \(statuspage\): .*answered HTTP 500"):
        poll(simulator, START)


def test_an_unknown_component_value_is_kept(simulator: Simulator, handler: StatusPagesHandler) -> None:
    handler.set_component("anthropic", "Files", "melting")
    handler.set_component("huggingface", "Spaces", "downtime")
    batch = poll(simulator, START)
    files = component(batch, "anthropic", "Files")
    assert (files["status"], files["status_known"], files["source_status"]) == ("unknown", False, "melting")
    assert page_status(batch, "huggingface") == ("major_outage", "downtime")
    with pytest.raises(ValueError, match="no component 'Nope'"):
        handler.set_component("anthropic", "Nope", "operational")
    with pytest.raises(ValueError, match="no simulated status page 'mistral'"):
        handler.open_incident("mistral", "Down")


def test_an_open_incident_while_every_component_reads_operational(
    simulator: Simulator, handler: StatusPagesHandler
) -> None:
    incident_id = handler.open_incident("openai", "Elevated errors", component="Responses", impact="major", at=START)
    batch = poll(simulator, START + POLL)
    assert all(
        row["status"] == "operational"
        for row in rows(batch, "status_observations", "openai")
        if row["component_id"] is not None
    )
    [incident] = [row for row in rows(batch, "incidents", "openai") if row["incident_id"] == incident_id]
    assert (incident["resolved_at"], incident["impact"], incident["components"]) == (
        None,
        "partial_outage",
        ["Responses"],
    )
    handler.update_incident("openai", incident_id, "resolved", at=START + 2 * POLL)
    later = poll(simulator, START + 3 * POLL)
    [resolved] = [row for row in rows(later, "incidents", "openai") if row["incident_id"] == incident_id]
    assert resolved["resolved_at"] == START + 2 * POLL


def test_a_lifecycle_batch_passes_the_quality_gate(simulator: Simulator, handler: StatusPagesHandler) -> None:
    handler.advance(at=START)
    handler.set_component("openai", "Sora", "on_fire")
    batch = poll(simulator, START + POLL)
    result = gate_batch(SPEC, batch, {}, GateSettings(), now=START + 2 * POLL)
    assert not result.blocked
    assert result.quarantined_counts() == {"status_observations": 0, "incidents": 0, "incident_updates": 0}


def test_a_page_with_nothing_to_report_still_declares_every_column(local_server: LocalServer) -> None:
    local_server.serve("/gcp/incidents.json", "[]")
    config = source_config(SPEC, {SPEC.variable("PAGES"): f"gemini=gcp:{local_server.base_url}/gcp"})
    batch = engine.fetch(engine.request_for(SPEC, config, fetched_at=START, policy=FAST))
    assert [row["status"] for row in rows(batch, "status_observations")] == ["operational"]
    for name, columns in (("incidents", INCIDENT_COLUMNS), ("incident_updates", UPDATE_COLUMNS)):
        table = batch.tables[name]
        assert isinstance(table, pa.Table) and table.num_rows == 0
        assert table.column_names == list(columns)
    assert not gate_batch(SPEC, batch, {}, GateSettings(), now=START).blocked
