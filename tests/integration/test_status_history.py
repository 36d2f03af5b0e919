"""Provider status through the production path: the probe and status-page extractors against the simulator, on a
simulated clock, their batches gated and loaded by the engine into the partitioned `ts` tables, then a real
`dbt build` of the status marts.

A simulated day of 1-minute probes of OpenAI and Hugging Face: OpenAI answers 503 from 10:00 to 10:29, Hugging Face
fails the last 3 probes of the day while its page says operational. Three polls of the status pages see one incident
open, get an update and resolve, and a component degrade and recover.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from modelatlas.pipelines import probe, status
from modelatlas.pipelines.engine import ensure_tables, load_source, load_tables, request_for
from modelatlas.pipelines.loading import make_pipeline
from modelatlas.pipelines.quality.gate import gate_batch
from modelatlas.pipelines.quality.validation import Baseline
from modelatlas.pipelines.registry import source
from modelatlas.pipelines.spec import Batch
from modelatlas.settings import GateSettings, source_config
from modelatlas.simulator import Fault, build_simulator, sample_environment
from modelatlas.simulator.status import StatusPagesHandler
from modelatlas.warehouse import ConnectionInfo, read_only_query
from modelatlas.warehouse.service import ensure_database
from tests.dbt_cli import run_dbt

DATABASE = "modelatlas_status_history_test"
DAY = datetime(2026, 11, 20, tzinfo=UTC)
MINUTES = 1440
OPENAI_DOWN = range(600, 630)  # 10:00 to 10:29
HUGGINGFACE_FAILING_FROM = MINUTES - 3
# A poll before the incident, then one after each of its steps (opened, updated, resolved), a minute after each.
POLLS = tuple(DAY + timedelta(hours=10, minutes=minute) for minute in (0, 2, 12, 40))
MARTS = ("mart_provider_uptime_daily", "fct_outages", "fct_incidents", "mart_status_current")


def _probe_day(env: dict[str, str], sim: Any) -> list[dict[str, Any]]:
    """Every tick of the day through the probe extractor, failures injected as the simulator's faults."""
    config = source_config(probe.SPEC, {**env, "MODELATLAS_PROBE_TARGETS": "openai,huggingface"})
    # The targets' URLs and keys are read from this environment rather than the process's.
    config = replace(config, options={**config.options, probe.ENVIRONMENT_OPTION: env})
    rows: list[dict[str, Any]] = []
    for minute in range(MINUTES):
        if minute in OPENAI_DOWN:
            sim.inject("openai", Fault("server_error", status=503))
        if minute >= HUGGINGFACE_FAILING_FROM:
            sim.inject("huggingface", Fault("server_error", status=502))
        request = request_for(probe.SPEC, config, fetched_at=DAY + timedelta(minutes=minute))
        rows.extend(probe.probe_batch(request).tables["probe_results"])  # type: ignore[arg-type]
    return rows


@pytest.fixture(scope="module")
def built(connection: ConnectionInfo, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConnectionInfo]:
    """The day loaded through the engine and the status marts built from it."""
    ensure_database(connection, DATABASE)
    info = connection.with_database(DATABASE)
    pipelines = tmp_path_factory.mktemp("dlt")
    specs = [source("openai"), source("huggingface"), status.SPEC]
    with build_simulator(specs) as sim:
        env = sample_environment(sim, specs)
        probes = make_pipeline(probe.SPEC.name, probe.SPEC.dataset, info.url(), pipelines)
        ensure_tables(probes, info, probe.SPEC)
        rows = _probe_day(env, sim)
        batch = Batch(tables={"probe_results": rows}, origin="a simulated day")
        gate = gate_batch(probe.SPEC, batch, {"probe_results": Baseline()}, GateSettings())
        assert not gate.blocked and sum(gate.quarantined_counts().values()) == 0
        load_tables(probes, info, probe.SPEC, gate.passing, DAY + timedelta(days=1))

        # The marts also read the OpenRouter endpoint series: none is polled here, the table exists empty.
        endpoints = source("openrouter_endpoints")
        ensure_tables(make_pipeline(endpoints.name, endpoints.dataset, info.url(), pipelines), info, endpoints)
        pages = make_pipeline(status.SPEC.name, status.SPEC.dataset, info.url(), pipelines)
        ensure_tables(pages, info, status.SPEC)
        handler = sim.handlers["status"]
        assert isinstance(handler, StatusPagesHandler)
        config = source_config(status.SPEC, env)
        for poll, polled_at in enumerate(POLLS):
            if poll:
                handler.advance(at=polled_at - timedelta(minutes=1))
            loaded = load_source(request_for(status.SPEC, config, fetched_at=polled_at), pages, info)
            assert not loaded.blocked, loaded.report()
    target = tmp_path_factory.mktemp("dbt")
    selection = " ".join(f"+{mart}" for mart in MARTS)
    result = run_dbt(info, target, "build", "--select", selection, "--exclude", "resource_type:unit_test")
    assert result.returncode == 0, result.stdout[-4000:]
    yield info


def _rows(info: ConnectionInfo, query: str) -> list[dict[str, Any]]:
    columns, rows = read_only_query(info, query)
    return [dict(zip(columns, row, strict=True)) for row in rows]


def test_the_probes_land_in_monthly_partitions_of_ts(built: ConnectionInfo) -> None:
    [row] = _rows(
        built,
        "select count(*) as probes, count(distinct tableoid::regclass) as partitions from ts.probe_results",
    )
    assert row == {"probes": 2 * MINUTES, "partitions": 1}


def test_a_30_minute_failure_is_97_92_percent_of_the_day_and_one_probe_outage(built: ConnectionInfo) -> None:
    [day] = _rows(
        built,
        "select probes, probes_ok, availability_pct from marts.mart_provider_uptime_daily "
        f"where provider = 'openai' and day = '{DAY.date()}'",
    )
    assert day == {"probes": 1440, "probes_ok": 1410, "availability_pct": Decimal("97.92")}
    outages = _rows(
        built,
        "select started_at, ended_at, duration_minutes from marts.fct_outages "
        "where provider = 'openai' and source = 'probe'",
    )
    assert outages == [
        {
            "started_at": DAY + timedelta(minutes=600),
            "ended_at": DAY + timedelta(minutes=630),
            "duration_minutes": Decimal(30),
        }
    ]


def test_an_incident_seen_over_three_polls_is_one_row_with_three_updates(built: ConnectionInfo) -> None:
    incidents = _rows(
        built,
        "select title, status, created_at, resolved_at, update_count from marts.fct_incidents "
        "where provider = 'anthropic' and title = 'Elevated errors on the Messages API'",
    )
    assert incidents == [
        {
            "title": "Elevated errors on the Messages API",
            "status": "resolved",
            "created_at": POLLS[1] - timedelta(minutes=1),
            "resolved_at": POLLS[3] - timedelta(minutes=1),
            "update_count": 3,
        }
    ]


def test_the_component_history_shows_the_degradation_and_the_recovery(built: ConnectionInfo) -> None:
    intervals = _rows(
        built,
        "select status, valid_from, valid_to from intermediate.int_status_component_intervals "
        "where page = 'anthropic' and component_name = 'Messages' order by valid_from",
    )
    assert [(i["status"], i["valid_from"], i["valid_to"]) for i in intervals] == [
        ("operational", POLLS[0], POLLS[1]),
        ("degraded", POLLS[1], POLLS[3]),
        ("operational", POLLS[3], None),
    ]


def test_a_page_that_says_operational_while_probes_fail_disagrees(built: ConnectionInfo) -> None:
    current = {
        row["provider"]: row
        for row in _rows(built, "select provider, effective_status, status_disagrees from marts.mart_status_current")
    }
    assert current["huggingface"]["effective_status"] == "operational"
    assert current["huggingface"]["status_disagrees"] is True
    assert current["openai"]["status_disagrees"] is False
