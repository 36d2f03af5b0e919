"""OpenRouter's catalog against the simulator: paging, optional auth, retries, timeouts, bodies and exact prices."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path

import pytest

from modelatlas.errors import AuthenticationError, SourceError, SourceUnreachableError
from modelatlas.pipelines.catalog import FetchStats
from modelatlas.pipelines.http import RetryPolicy
from modelatlas.pipelines.loading import make_pipeline, run_source
from modelatlas.pipelines.openrouter import openrouter_source
from modelatlas.simulator.core import Fault, load_fixture
from modelatlas.simulator.openrouter import OpenRouterHandler
from modelatlas.simulator.server import Simulator
from modelatlas.warehouse import ConnectionInfo, read_only_query

KEY = "sk-or-v1-test-0123456789abcdef"
FAST = RetryPolicy(attempts=4, initial_wait_s=0.05, max_wait_s=0.2, budget_s=20, read_timeout_s=1.0)
FIXTURE_IDS = {item["id"] for item in load_fixture("openrouter")}
SMALL_PAGE = 10
SMALL_PAGES = -(-len(FIXTURE_IDS) // SMALL_PAGE)


@pytest.fixture
def simulator() -> Iterator[Simulator]:
    with Simulator({"openrouter": OpenRouterHandler(KEY)}) as server:
        yield server


def base_url(simulator: Simulator) -> str:
    return simulator.root_url("openrouter") + "/api/v1"


def load(
    simulator: Simulator,
    connection: ConnectionInfo,
    dataset: str,
    pipelines_dir: Path,
    key: str | None = None,
    page_size: int = 500,
) -> FetchStats:
    stats = FetchStats()
    pipeline = make_pipeline(f"openrouter_{dataset}", dataset, connection.url(), pipelines_dir)
    source = openrouter_source(
        api_key=key, base_url=base_url(simulator), region="eu", stats=stats, policy=FAST, page_size=page_size
    )
    run_source(pipeline, source)
    return stats


def ids_in(connection: ConnectionInfo, dataset: str) -> set[str]:
    _, rows = read_only_query(connection, f"select id from {dataset}.models")
    return {row[0] for row in rows}


def test_every_page_is_loaded_anonymously(simulator: Simulator, connection: ConnectionInfo, tmp_path: Path) -> None:
    stats = load(simulator, connection, "raw_openrouter_pages", tmp_path, page_size=SMALL_PAGE)
    assert SMALL_PAGES > 1
    assert stats.pages == stats.requests == SMALL_PAGES
    assert stats.ids == FIXTURE_IDS
    assert ids_in(connection, "raw_openrouter_pages") == FIXTURE_IDS
    requests = simulator.requests_to("openrouter")
    # The next links are paths from the host root; the client keeps to its own base URL and reads their offsets.
    assert {request.path for request in requests} == {"/api/v1/models"}
    assert [request.query["offset"] for request in requests] == [[str(SMALL_PAGE * n)] for n in range(SMALL_PAGES)]
    assert all(request.query["output_modalities"] == ["all"] for request in requests)
    assert all("Authorization" not in request.headers for request in requests)


def test_the_default_page_size_loads_the_catalog_in_one_request(
    simulator: Simulator, connection: ConnectionInfo, tmp_path: Path
) -> None:
    stats = load(simulator, connection, "raw_openrouter_default", tmp_path)
    assert stats.pages == stats.requests == 1
    assert simulator.requests_to("openrouter")[0].query["limit"] == ["500"]
    assert ids_in(connection, "raw_openrouter_default") == FIXTURE_IDS


def test_a_key_is_sent_as_bearer_and_never_logged_nor_in_a_url(
    simulator: Simulator, connection: ConnectionInfo, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    simulator.inject("openrouter", Fault("server_error", status=502))
    load(simulator, connection, "raw_openrouter_key", tmp_path, key=KEY, page_size=SMALL_PAGE)
    requests = simulator.requests_to("openrouter")
    assert len(requests) == SMALL_PAGES + 1
    assert all(request.headers["Authorization"] == f"Bearer {KEY}" for request in requests)
    assert all(KEY not in request.path and KEY not in str(request.query) for request in requests)
    assert "retrying" in caplog.text
    assert KEY not in caplog.text
    _, rows = read_only_query(
        connection, f"select count(*) from raw_openrouter_key.models where payload::text like '%{KEY}%'"
    )
    assert rows == [(0,)]


def test_a_429_without_retry_after_is_retried_with_backoff(
    simulator: Simulator, connection: ConnectionInfo, tmp_path: Path
) -> None:
    simulator.inject("openrouter", Fault("rate_limit", count=2))
    load(simulator, connection, "raw_openrouter_429", tmp_path)
    requests = simulator.requests_to("openrouter")
    assert len(requests) == 3
    first_wait, second_wait = (b.at - a.at for a, b in pairwise(requests))
    # Exponential from 0.05 s: at least 0.05 s, then at least 0.1 s, far below the fault's unadvertised 1 s.
    assert first_wait >= 0.05 and second_wait >= 0.1
    assert second_wait < 1.0
    assert ids_in(connection, "raw_openrouter_429") == FIXTURE_IDS


def test_a_429_with_retry_after_waits_the_advertised_delay(connection: ConnectionInfo, tmp_path: Path) -> None:
    with Simulator({"openrouter": OpenRouterHandler(KEY, retry_after_on_429=True)}) as server:
        server.inject("openrouter", Fault("rate_limit", retry_after_s=0.4))
        load(server, connection, "raw_openrouter_429_advertised", tmp_path)
        requests = server.requests_to("openrouter")
    assert len(requests) == 2
    assert requests[1].at - requests[0].at >= 0.4
    assert ids_in(connection, "raw_openrouter_429_advertised") == FIXTURE_IDS


def test_5xx_then_success(simulator: Simulator, connection: ConnectionInfo, tmp_path: Path) -> None:
    simulator.inject("openrouter", Fault("server_error", count=2, status=503))
    stats = load(simulator, connection, "raw_openrouter_5xx", tmp_path, page_size=SMALL_PAGE)
    assert stats.pages == SMALL_PAGES
    assert stats.requests == SMALL_PAGES + 2
    assert ids_in(connection, "raw_openrouter_5xx") == FIXTURE_IDS


def test_a_slow_response_times_out_and_is_retried(
    simulator: Simulator, connection: ConnectionInfo, tmp_path: Path
) -> None:
    simulator.inject("openrouter", Fault("slow", delay_s=1.5))
    stats = load(simulator, connection, "raw_openrouter_slow", tmp_path)
    assert stats.requests == 2 and stats.pages == 1
    assert ids_in(connection, "raw_openrouter_slow") == FIXTURE_IDS


def test_a_host_that_never_answers_is_unreachable(connection: ConnectionInfo, tmp_path: Path) -> None:
    from tests.conftest import free_port

    pipeline = make_pipeline("openrouter_down", "raw_openrouter_down", connection.url(), tmp_path)
    source = openrouter_source(base_url=f"http://127.0.0.1:{free_port()}/api/v1", policy=FAST)
    with pytest.raises(SourceUnreachableError, match="unreachable"):
        run_source(pipeline, source)


def test_a_wrong_key_names_the_variable_and_hides_the_key(
    simulator: Simulator, connection: ConnectionInfo, tmp_path: Path
) -> None:
    wrong = "sk-or-v1-wrong-9876543210fedcba"
    with pytest.raises(
        AuthenticationError, match=r"OpenRouter rejected the API key \(401\): check OPENROUTER_API_KEY"
    ) as raised:
        load(simulator, connection, "raw_openrouter_401", tmp_path, key=wrong)
    assert wrong not in str(raised.value)
    assert len(simulator.requests_to("openrouter")) == 1


def test_truncated_json_fails_the_load_and_keeps_earlier_rows(
    simulator: Simulator, connection: ConnectionInfo, tmp_path: Path
) -> None:
    load(simulator, connection, "raw_openrouter_trunc", tmp_path)
    _, before = read_only_query(connection, "select id, batch_id from raw_openrouter_trunc.models order by id")
    simulator.inject("openrouter", Fault("truncated"))
    with pytest.raises(SourceError, match="malformed JSON"):
        load(simulator, connection, "raw_openrouter_trunc", tmp_path)
    _, after = read_only_query(connection, "select id, batch_id from raw_openrouter_trunc.models order by id")
    assert after == before and {row[0] for row in after} == FIXTURE_IDS


def test_an_unknown_new_field_is_kept_in_the_payload(
    simulator: Simulator, connection: ConnectionInfo, tmp_path: Path
) -> None:
    simulator.inject("openrouter", Fault("unknown_field", field_name="benchmarks"))
    load(simulator, connection, "raw_openrouter_new_field", tmp_path)
    _, rows = read_only_query(
        connection,
        "select count(*) from raw_openrouter_new_field.models where payload -> 'benchmarks' = '{\"new\": true}'",
    )
    assert rows == [(len(FIXTURE_IDS),)]


def test_prices_are_stored_as_exact_numerics(simulator: Simulator, connection: ConnectionInfo, tmp_path: Path) -> None:
    load(simulator, connection, "raw_openrouter_prices", tmp_path)
    _, types = read_only_query(
        connection,
        "select distinct data_type, numeric_precision, numeric_scale from information_schema.columns"
        " where table_schema = 'raw_openrouter_prices' and table_name = 'models' and column_name like 'price\\_%'",
    )
    assert types == [("numeric", 38, 18)]
    _, rows = read_only_query(
        connection,
        "select id, price_prompt_usd_per_token::text, price_completion_usd_per_token::text,"
        " price_input_cache_write_usd_per_token::text, price_request_usd::text, pricing->>'prompt'"
        " from raw_openrouter_prices.models"
        " where id in ('anthropic/claude-sonnet-4.5', 'openrouter/auto', 'perplexity/sonar', 'google/gemini-2.5-flash')"
        " order by id",
    )
    assert rows == [
        (
            "anthropic/claude-sonnet-4.5",
            "0.000003000000000000",
            "0.000015000000000000",
            "0.000003750000000000",
            "0.000000000000000000",
            "0.000003",
        ),
        # numeric(38, 18) keeps eighteen decimals; the full string stays in `pricing`.
        (
            "google/gemini-2.5-flash",
            "0.000000300000000000",
            "0.000002500000000000",
            "0.000000083333333333",
            "0.000000000000000000",
            "0.0000003",
        ),
        # "-1" is OpenRouter's "varies": no number, the string kept.
        ("openrouter/auto", None, None, None, None, "-1"),
        ("perplexity/sonar", "0.000001000000000000", "0.000001000000000000", None, "0.005000000000000000", "0.000001"),
    ]
    _, rows = read_only_query(
        connection,
        "select pricing->>'input_cache_write', input_modalities, region, expiration_date::text"
        " from raw_openrouter_prices.models where id = 'google/gemini-2.5-flash-preview-09-2025'",
    )
    assert rows == [("0.0000003833", ["image", "file", "text", "audio", "video"], "eu", "2026-02-17")]


def test_loads_are_idempotent(simulator: Simulator, connection: ConnectionInfo, tmp_path: Path) -> None:
    load(simulator, connection, "raw_openrouter_twice", tmp_path, page_size=SMALL_PAGE)
    load(simulator, connection, "raw_openrouter_twice", tmp_path, page_size=SMALL_PAGE)
    _, rows = read_only_query(
        connection,
        "select count(*), count(distinct id), count(distinct batch_id), count(distinct content_hash)"
        " from raw_openrouter_twice.models",
    )
    assert rows == [(len(FIXTURE_IDS), len(FIXTURE_IDS), 1, len(FIXTURE_IDS))]


def test_an_older_unpaged_answer_loads_in_one_request(connection: ConnectionInfo, tmp_path: Path) -> None:
    with Simulator({"openrouter": OpenRouterHandler(KEY, legacy=True)}) as server:
        stats = load(server, connection, "raw_openrouter_legacy", tmp_path, page_size=SMALL_PAGE)
    assert stats.requests == 1
    assert ids_in(connection, "raw_openrouter_legacy") == FIXTURE_IDS
