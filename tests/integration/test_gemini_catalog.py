"""Gemini's catalog against the simulator: every page, the key header, RetryInfo delays, timeouts, a 400 that means
a bad key, truncated pages, new fields and idempotent loads, into the session's embedded PostgreSQL."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelatlas.errors import AuthenticationError, SourceError, SourceUnreachableError
from modelatlas.pipelines.catalog import FetchStats
from modelatlas.pipelines.gemini import DEFAULT_PAGE_SIZE, gemini_source
from modelatlas.pipelines.http import RetryPolicy
from modelatlas.pipelines.loading import make_pipeline, run_source
from modelatlas.simulator.core import Fault, load_fixture
from modelatlas.simulator.gemini import GeminiHandler
from modelatlas.simulator.server import Simulator
from modelatlas.warehouse import ConnectionInfo, read_only_query

KEY = "AIzaSy-test-gemini-0123456789"
FAST = RetryPolicy(attempts=4, initial_wait_s=0.05, max_wait_s=0.2, budget_s=20, read_timeout_s=1.0)
FIXTURE_IDS = {item["name"].removeprefix("models/") for item in load_fixture("gemini")}
PAGES = math.ceil(len(FIXTURE_IDS) / DEFAULT_PAGE_SIZE)


@pytest.fixture
def simulator() -> Iterator[Simulator]:
    with Simulator({"gemini": GeminiHandler(KEY)}) as server:
        yield server


def load(
    simulator: Simulator,
    connection: ConnectionInfo,
    dataset: str,
    pipelines_dir: Path,
    key: str = KEY,
    page_size: int = DEFAULT_PAGE_SIZE,
) -> FetchStats:
    stats = FetchStats()
    pipeline = make_pipeline(f"gemini_{dataset}", dataset, connection.url(), pipelines_dir)
    source = gemini_source(
        api_key=key,
        base_url=simulator.root_url("gemini"),
        region="europe-west4",
        stats=stats,
        policy=FAST,
        page_size=page_size,
    )
    run_source(pipeline, source)
    return stats


def ids_in(connection: ConnectionInfo, dataset: str) -> set[str]:
    _, rows = read_only_query(connection, f"select id from {dataset}.models")
    return {row[0] for row in rows}


def batch_ids(connection: ConnectionInfo, dataset: str) -> set[str]:
    _, rows = read_only_query(connection, f"select distinct batch_id from {dataset}.models")
    return {row[0] for row in rows}


def test_loads_every_page_with_the_key_in_the_header_only(
    simulator: Simulator, connection: ConnectionInfo, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    stats = load(simulator, connection, "raw_gemini_all", tmp_path)

    assert PAGES >= 2
    assert stats.pages == stats.requests == PAGES
    assert stats.ids == FIXTURE_IDS
    assert ids_in(connection, "raw_gemini_all") == FIXTURE_IDS
    requests = simulator.requests_to("gemini")
    assert len(requests) == PAGES
    assert [request.path for request in requests] == ["/v1beta/models"] * PAGES
    assert "pageToken" not in requests[0].query
    assert all("pageToken" in request.query for request in requests[1:])
    assert all(request.query["pageSize"] == [str(DEFAULT_PAGE_SIZE)] for request in requests)
    for request in requests:
        assert request.headers["x-goog-api-key"] == KEY
        assert "key" not in request.query
        assert all(KEY not in value for values in request.query.values() for value in values)
        assert KEY not in request.path
    logged_urls = [record.getMessage() for record in caplog.records if "v1beta/models" in record.getMessage()]
    assert logged_urls, "httpx logs each request URL; the test must see them to prove they are clean"
    assert KEY not in caplog.text

    _, rows = read_only_query(
        connection,
        "select name, display_name, input_token_limit, output_token_limit, thinking, top_k, temperature,"
        " supported_generation_methods->>0, region, payload->>'version'"
        " from raw_gemini_all.models where id = 'gemini-2.5-pro'",
    )
    assert rows == [
        (
            "models/gemini-2.5-pro",
            "Gemini 2.5 Pro",
            1048576,
            65536,
            True,
            64,
            1.0,
            "generateContent",
            "europe-west4",
            "2.5",
        )
    ]


def test_a_bigger_page_size_fetches_everything_in_one_page(
    simulator: Simulator, connection: ConnectionInfo, tmp_path: Path
) -> None:
    stats = load(simulator, connection, "raw_gemini_one_page", tmp_path, page_size=1000)
    assert stats.pages == 1
    assert ids_in(connection, "raw_gemini_one_page") == FIXTURE_IDS


def test_a_429_is_retried_after_the_delay_in_retry_info(
    simulator: Simulator, connection: ConnectionInfo, tmp_path: Path
) -> None:
    # The advertised 0.3 s is longer than any backoff FAST would pick (max 0.2 s + 0.05 s jitter).
    simulator.inject("gemini", Fault("rate_limit", retry_after_s=0.3))
    stats = load(simulator, connection, "raw_gemini_429", tmp_path)
    requests = simulator.requests_to("gemini")
    assert len(requests) == stats.requests == PAGES + 1
    assert requests[1].at - requests[0].at >= 0.3
    assert ids_in(connection, "raw_gemini_429") == FIXTURE_IDS


@pytest.mark.parametrize("status", [500, 503])
def test_5xx_then_success(simulator: Simulator, connection: ConnectionInfo, tmp_path: Path, status: int) -> None:
    simulator.inject("gemini", Fault("server_error", count=2, status=status))
    stats = load(simulator, connection, f"raw_gemini_{status}", tmp_path)
    assert stats.requests == PAGES + 2
    assert stats.pages == PAGES
    assert ids_in(connection, f"raw_gemini_{status}") == FIXTURE_IDS


def test_a_slow_response_times_out_and_is_retried(
    simulator: Simulator, connection: ConnectionInfo, tmp_path: Path
) -> None:
    simulator.inject("gemini", Fault("slow", delay_s=1.5))
    stats = load(simulator, connection, "raw_gemini_slow", tmp_path)
    assert stats.requests == PAGES + 1
    assert ids_in(connection, "raw_gemini_slow") == FIXTURE_IDS


def test_a_host_that_never_answers_is_unreachable(connection: ConnectionInfo, tmp_path: Path) -> None:
    from tests.conftest import free_port

    pipeline = make_pipeline("gemini_down", "raw_gemini_down", connection.url(), tmp_path)
    source = gemini_source(api_key=KEY, base_url=f"http://127.0.0.1:{free_port()}", policy=FAST)
    with pytest.raises(SourceUnreachableError, match="unreachable"):
        run_source(pipeline, source)


def test_a_wrong_key_answered_with_400_names_the_variable_and_hides_the_key(
    simulator: Simulator, connection: ConnectionInfo, tmp_path: Path
) -> None:
    wrong = "AIzaSy-wrong-key-9876543210"
    with pytest.raises(
        AuthenticationError, match=r"Gemini rejected the API key \(400\): check GEMINI_API_KEY"
    ) as raised:
        load(simulator, connection, "raw_gemini_bad_key", tmp_path, key=wrong)
    assert wrong not in str(raised.value)
    assert KEY not in str(raised.value)
    assert "API key not valid" in str(raised.value)
    assert len(simulator.requests_to("gemini")) == 1, "a rejected key is not retried"


def test_a_truncated_second_page_fails_the_load_and_keeps_earlier_rows(
    simulator: Simulator, connection: ConnectionInfo, tmp_path: Path
) -> None:
    load(simulator, connection, "raw_gemini_trunc", tmp_path)
    first_batch = batch_ids(connection, "raw_gemini_trunc")
    simulator.clear()
    # Faults apply to the next requests in order: a zero-second `slow` lets page 1 through untouched.
    simulator.inject("gemini", Fault("slow", delay_s=0.0))
    simulator.inject("gemini", Fault("truncated"))
    with pytest.raises(SourceError, match="malformed JSON"):
        load(simulator, connection, "raw_gemini_trunc", tmp_path)
    requests = simulator.requests_to("gemini")
    assert len(requests) == 2 and "pageToken" in requests[1].query
    assert ids_in(connection, "raw_gemini_trunc") == FIXTURE_IDS
    assert batch_ids(connection, "raw_gemini_trunc") == first_batch, "no row of the failed fetch was written"


def test_an_unknown_new_field_is_kept_in_the_payload(
    simulator: Simulator, connection: ConnectionInfo, tmp_path: Path
) -> None:
    simulator.inject("gemini", Fault("unknown_field", count=PAGES, field_name="supportedActions"))
    load(simulator, connection, "raw_gemini_new_field", tmp_path)
    _, rows = read_only_query(
        connection, "select count(*) from raw_gemini_new_field.models where payload ? 'supportedActions'"
    )
    assert rows == [(len(FIXTURE_IDS),)]
    _, columns = read_only_query(
        connection,
        "select column_name from information_schema.columns"
        " where table_schema = 'raw_gemini_new_field' and table_name = 'models'",
    )
    assert "supported_actions" not in {column for (column,) in columns}


def test_a_missing_field_loads_as_null(simulator: Simulator, connection: ConnectionInfo, tmp_path: Path) -> None:
    simulator.inject("gemini", Fault("missing_field", count=PAGES, field_name="displayName"))
    load(simulator, connection, "raw_gemini_missing_field", tmp_path)
    _, rows = read_only_query(connection, "select count(*), count(display_name) from raw_gemini_missing_field.models")
    assert rows == [(len(FIXTURE_IDS), 0)]


def test_loads_are_idempotent(simulator: Simulator, connection: ConnectionInfo, tmp_path: Path) -> None:
    load(simulator, connection, "raw_gemini_twice", tmp_path)
    load(simulator, connection, "raw_gemini_twice", tmp_path)
    _, rows = read_only_query(
        connection, "select count(*), count(distinct id), count(distinct batch_id) from raw_gemini_twice.models"
    )
    assert rows == [(len(FIXTURE_IDS), len(FIXTURE_IDS), 1)]
