"""OpenAI's catalog against the simulator: auth, retries, timeouts, malformed bodies and idempotent loads."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelatlas.errors import AuthenticationError, SourceError, SourceUnreachableError
from modelatlas.pipelines.catalog import FetchStats
from modelatlas.pipelines.http import RetryPolicy
from modelatlas.pipelines.loading import make_pipeline, run_source
from modelatlas.pipelines.openai import openai_source
from modelatlas.simulator.core import Fault, load_fixture
from modelatlas.simulator.openai import OpenAIHandler
from modelatlas.simulator.server import Simulator
from modelatlas.warehouse import ConnectionInfo, read_only_query

KEY = "sk-test-openai-0123456789"
FAST = RetryPolicy(attempts=4, initial_wait_s=0.05, max_wait_s=0.2, budget_s=20, read_timeout_s=1.0)
FIXTURE_IDS = {item["id"] for item in load_fixture("openai")}


@pytest.fixture
def simulator() -> Iterator[Simulator]:
    with Simulator({"openai": OpenAIHandler(KEY)}) as server:
        yield server


def base_url(simulator: Simulator) -> str:
    return simulator.root_url("openai") + "/v1"


def load(
    simulator: Simulator, connection: ConnectionInfo, dataset: str, pipelines_dir: Path, key: str = KEY
) -> FetchStats:
    stats = FetchStats()
    pipeline = make_pipeline(f"openai_{dataset}", dataset, connection.url(), pipelines_dir)
    run_source(
        pipeline, openai_source(api_key=key, base_url=base_url(simulator), region="us", stats=stats, policy=FAST)
    )
    return stats


def ids_in(connection: ConnectionInfo, dataset: str) -> set[str]:
    _, rows = read_only_query(connection, f"select id from {dataset}.models")
    return {row[0] for row in rows}


def test_loads_every_model_with_the_key_in_the_header_only(
    simulator: Simulator, connection: ConnectionInfo, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    stats = load(simulator, connection, "raw_openai_all", tmp_path)
    assert stats.ids == FIXTURE_IDS and stats.pages == 1
    assert ids_in(connection, "raw_openai_all") == FIXTURE_IDS
    request = simulator.requests_to("openai")[0]
    assert request.path == "/v1/models"
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    assert all(KEY not in str(values) for values in request.query.values())
    assert KEY not in caplog.text
    _, rows = read_only_query(
        connection,
        "select shutdown_date::text, region, payload->>'owned_by' from raw_openai_all.models "
        "where id = 'gpt-3.5-turbo'",
    )
    assert rows == [("2026-09-28", "us", "openai")]


def test_a_429_is_retried_after_the_advertised_delay(
    simulator: Simulator, connection: ConnectionInfo, tmp_path: Path
) -> None:
    simulator.inject("openai", Fault("rate_limit", retry_after_s=0.3))
    load(simulator, connection, "raw_openai_429", tmp_path)
    requests = simulator.requests_to("openai")
    assert len(requests) == 2
    assert requests[1].at - requests[0].at >= 0.3
    assert ids_in(connection, "raw_openai_429") == FIXTURE_IDS


def test_5xx_then_success(simulator: Simulator, connection: ConnectionInfo, tmp_path: Path) -> None:
    simulator.inject("openai", Fault("server_error", count=2, status=503))
    stats = load(simulator, connection, "raw_openai_5xx", tmp_path)
    assert stats.requests == 3
    assert ids_in(connection, "raw_openai_5xx") == FIXTURE_IDS


def test_a_slow_response_times_out_and_is_retried(
    simulator: Simulator, connection: ConnectionInfo, tmp_path: Path
) -> None:
    simulator.inject("openai", Fault("slow", delay_s=1.5))
    stats = load(simulator, connection, "raw_openai_slow", tmp_path)
    assert stats.requests == 2


def test_a_host_that_never_answers_is_unreachable(connection: ConnectionInfo, tmp_path: Path) -> None:
    from tests.conftest import free_port

    pipeline = make_pipeline("openai_down", "raw_openai_down", connection.url(), tmp_path)
    source = openai_source(api_key=KEY, base_url=f"http://127.0.0.1:{free_port()}/v1", policy=FAST)
    with pytest.raises(SourceUnreachableError, match="unreachable"):
        run_source(pipeline, source)


def test_a_wrong_key_names_the_variable_and_hides_the_key(
    simulator: Simulator, connection: ConnectionInfo, tmp_path: Path
) -> None:
    wrong = "sk-wrong-key-9876543210"
    with pytest.raises(
        AuthenticationError, match=r"OpenAI rejected the API key \(401\): check OPENAI_API_KEY"
    ) as raised:
        load(simulator, connection, "raw_openai_401", tmp_path, key=wrong)
    assert wrong not in str(raised.value)


def test_truncated_json_fails_the_load_and_keeps_earlier_rows(
    simulator: Simulator, connection: ConnectionInfo, tmp_path: Path
) -> None:
    load(simulator, connection, "raw_openai_trunc", tmp_path)
    simulator.inject("openai", Fault("truncated"))
    with pytest.raises(SourceError, match="malformed JSON"):
        load(simulator, connection, "raw_openai_trunc", tmp_path)
    assert ids_in(connection, "raw_openai_trunc") == FIXTURE_IDS


def test_an_unknown_new_field_is_kept_in_the_payload(
    simulator: Simulator, connection: ConnectionInfo, tmp_path: Path
) -> None:
    simulator.inject("openai", Fault("unknown_field", field_name="modalities"))
    load(simulator, connection, "raw_openai_new_field", tmp_path)
    _, rows = read_only_query(
        connection, "select count(*) from raw_openai_new_field.models where payload ? 'modalities'"
    )
    assert rows == [(len(FIXTURE_IDS),)]


def test_loads_are_idempotent(simulator: Simulator, connection: ConnectionInfo, tmp_path: Path) -> None:
    load(simulator, connection, "raw_openai_twice", tmp_path)
    load(simulator, connection, "raw_openai_twice", tmp_path)
    _, rows = read_only_query(
        connection, "select count(*), count(distinct id), count(distinct batch_id) from raw_openai_twice.models"
    )
    assert rows == [(len(FIXTURE_IDS), len(FIXTURE_IDS), 1)]
