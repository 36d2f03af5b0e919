"""Mistral's catalog against the simulator: auth, both error shapes, retries, timeouts, drift and idempotent loads."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelatlas.errors import AuthenticationError, RateLimitedError, SourceError, SourceUnreachableError
from modelatlas.pipelines.catalog import FetchStats
from modelatlas.pipelines.http import RetryPolicy
from modelatlas.pipelines.loading import make_pipeline, run_source
from modelatlas.pipelines.mistral import mistral_source
from modelatlas.simulator.core import Fault, load_fixture
from modelatlas.simulator.mistral import MistralHandler
from modelatlas.simulator.server import Simulator
from modelatlas.warehouse import ConnectionInfo, read_only_query

KEY = "mistral-test-key-0123456789abcdef"
FAST = RetryPolicy(attempts=4, initial_wait_s=0.05, max_wait_s=0.2, budget_s=20, read_timeout_s=1.0)
FIXTURE = load_fixture("mistral")
FIXTURE_IDS = {item["id"] for item in FIXTURE}


@pytest.fixture
def simulator() -> Iterator[Simulator]:
    with Simulator({"mistral": MistralHandler(KEY)}) as server:
        yield server


def load(
    simulator: Simulator, connection: ConnectionInfo, dataset: str, pipelines_dir: Path, key: str = KEY
) -> FetchStats:
    stats = FetchStats()
    pipeline = make_pipeline(f"mistral_{dataset}", dataset, connection.url(), pipelines_dir)
    source = mistral_source(api_key=key, base_url=simulator.root_url("mistral"), region="eu", stats=stats, policy=FAST)
    run_source(pipeline, source)
    return stats


def ids_in(connection: ConnectionInfo, dataset: str) -> set[str]:
    _, rows = read_only_query(connection, f"select id from {dataset}.models")
    return {row[0] for row in rows}


def test_loads_the_whole_list_with_the_key_in_the_header_only(
    simulator: Simulator, connection: ConnectionInfo, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    stats = load(simulator, connection, "raw_mistral_all", tmp_path)
    assert stats.ids == FIXTURE_IDS and stats.pages == 1 and stats.requests == 1
    assert ids_in(connection, "raw_mistral_all") == FIXTURE_IDS
    [request] = simulator.requests_to("mistral")
    assert request.path == "/v1/models" and request.query == {} and KEY not in request.path
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    assert KEY not in caplog.text
    _, rows = read_only_query(
        connection,
        "select aliases, deprecation at time zone 'UTC', deprecation_replacement_model, max_context_length,"
        " capability_function_calling, capability_vision, region, payload->>'owned_by'"
        " from raw_mistral_all.models where id = 'mistral-large-2411'",
    )
    [(aliases, deprecation, replacement, context, tools, vision, region, owner)] = rows
    assert (aliases, replacement, context, tools, vision, region, owner) == (
        [],
        "mistral-large-2512",
        131072,
        True,
        False,
        "eu",
        "mistralai",
    )
    assert deprecation.isoformat() == "2026-05-31T12:00:00"
    _, rows = read_only_query(connection, "select aliases from raw_mistral_all.models where id = 'mistral-large-2512'")
    assert rows == [(["mistral-large-latest"],)]
    _, rows = read_only_query(connection, "select count(*) from raw_mistral_all.models where deprecation is not null")
    assert rows == [(sum(1 for item in FIXTURE if item["deprecation"]),)]
    _, rows = read_only_query(
        connection,
        "select type, job, root, archived, owned_by from raw_mistral_all.models"
        " where id = 'ft:open-mistral-7b:587a6b29:20240514:7e773925'",
    )
    assert rows == [
        (
            "fine-tuned",
            "c1d2e3f4-5a6b-4c7d-8e9f-0a1b2c3d4e5f",
            "open-mistral-7b",
            True,
            "587a6b29-3c3f-4c84-9a1e-2d0a4f1b6e55",
        )
    ]


def test_a_429_is_retried_after_the_advertised_delay(
    simulator: Simulator, connection: ConnectionInfo, tmp_path: Path
) -> None:
    simulator.inject("mistral", Fault("rate_limit", retry_after_s=0.3))
    stats = load(simulator, connection, "raw_mistral_429", tmp_path)
    requests = simulator.requests_to("mistral")
    assert len(requests) == 2 and stats.requests == 2
    assert requests[1].at - requests[0].at >= 0.3
    assert ids_in(connection, "raw_mistral_429") == FIXTURE_IDS


def test_a_429_that_never_ends_reads_the_newer_error_shape(
    simulator: Simulator, connection: ConnectionInfo, tmp_path: Path
) -> None:
    simulator.inject("mistral", Fault("rate_limit", count=10, retry_after_s=0.05))
    with pytest.raises(RateLimitedError, match=r"rate limited \(429\) after 4 attempts: Requests rate limit exceeded"):
        load(simulator, connection, "raw_mistral_429_forever", tmp_path)


def test_5xx_then_success(simulator: Simulator, connection: ConnectionInfo, tmp_path: Path) -> None:
    simulator.inject("mistral", Fault("server_error", count=2, status=503))
    stats = load(simulator, connection, "raw_mistral_5xx", tmp_path)
    assert stats.requests == 3
    assert ids_in(connection, "raw_mistral_5xx") == FIXTURE_IDS


def test_a_5xx_that_never_ends_reads_the_older_error_shape(
    simulator: Simulator, connection: ConnectionInfo, tmp_path: Path
) -> None:
    simulator.inject("mistral", Fault("server_error", count=10, status=503))
    with pytest.raises(SourceError, match=r"answered HTTP 503 after 4 attempts: The server had an error"):
        load(simulator, connection, "raw_mistral_5xx_forever", tmp_path)


def test_a_slow_response_times_out_and_is_retried(
    simulator: Simulator, connection: ConnectionInfo, tmp_path: Path
) -> None:
    simulator.inject("mistral", Fault("slow", delay_s=1.5))
    stats = load(simulator, connection, "raw_mistral_slow", tmp_path)
    assert stats.requests == 2
    assert ids_in(connection, "raw_mistral_slow") == FIXTURE_IDS


def test_a_host_that_never_answers_is_unreachable(connection: ConnectionInfo, tmp_path: Path) -> None:
    from tests.conftest import free_port

    pipeline = make_pipeline("mistral_down", "raw_mistral_down", connection.url(), tmp_path)
    source = mistral_source(api_key=KEY, base_url=f"http://127.0.0.1:{free_port()}", policy=FAST)
    with pytest.raises(SourceUnreachableError, match="unreachable") as raised:
        run_source(pipeline, source)
    assert KEY not in str(raised.value)


def test_a_wrong_key_names_the_variable_and_hides_the_key(
    simulator: Simulator, connection: ConnectionInfo, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "mistral-wrong-key-9876543210"
    with pytest.raises(
        AuthenticationError, match=r"Mistral rejected the API key \(401\): check MISTRAL_API_KEY \(Unauthorized\)"
    ) as raised:
        load(simulator, connection, "raw_mistral_401", tmp_path, key=wrong)
    assert wrong not in str(raised.value) and wrong not in caplog.text
    assert len(simulator.requests_to("mistral")) == 1


def test_truncated_json_fails_the_load_and_keeps_earlier_rows(
    simulator: Simulator, connection: ConnectionInfo, tmp_path: Path
) -> None:
    load(simulator, connection, "raw_mistral_trunc", tmp_path)
    _, before = read_only_query(connection, "select id, batch_id from raw_mistral_trunc.models order by id")
    simulator.inject("mistral", Fault("truncated"))
    with pytest.raises(SourceError, match="malformed JSON"):
        load(simulator, connection, "raw_mistral_trunc", tmp_path)
    _, after = read_only_query(connection, "select id, batch_id from raw_mistral_trunc.models order by id")
    assert after == before and {row[0] for row in after} == FIXTURE_IDS


def test_an_unknown_new_field_is_kept_in_the_payload(
    simulator: Simulator, connection: ConnectionInfo, tmp_path: Path
) -> None:
    simulator.inject("mistral", Fault("unknown_field", field_name="pricing"))
    load(simulator, connection, "raw_mistral_new_field", tmp_path)
    _, rows = read_only_query(
        connection,
        "select count(*) from raw_mistral_new_field.models where payload->'pricing' = '{\"new\": true}'::jsonb",
    )
    assert rows == [(len(FIXTURE_IDS),)]


def test_a_missing_optional_field_loads_as_null(
    simulator: Simulator, connection: ConnectionInfo, tmp_path: Path
) -> None:
    simulator.inject("mistral", Fault("missing_field", field_name="deprecation"))
    load(simulator, connection, "raw_mistral_missing", tmp_path)
    _, rows = read_only_query(
        connection,
        "select count(*), count(deprecation), count(*) filter (where payload ? 'deprecation'),"
        " count(deprecation_replacement_model) from raw_mistral_missing.models",
    )
    replacements = sum(1 for item in FIXTURE if item.get("deprecation_replacement_model"))
    assert rows == [(len(FIXTURE_IDS), 0, 0, replacements)]


def test_loads_are_idempotent(simulator: Simulator, connection: ConnectionInfo, tmp_path: Path) -> None:
    first = load(simulator, connection, "raw_mistral_twice", tmp_path)
    second = load(simulator, connection, "raw_mistral_twice", tmp_path)
    assert first.content_hashes == second.content_hashes
    _, rows = read_only_query(
        connection, "select count(*), count(distinct id), count(distinct batch_id) from raw_mistral_twice.models"
    )
    assert rows == [(len(FIXTURE_IDS), len(FIXTURE_IDS), 1)]
