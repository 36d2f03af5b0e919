"""Anthropic's catalog against the simulator: every page, auth headers, retries, timeouts, bad bodies, idempotence."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelatlas.errors import AuthenticationError, SourceError, SourceUnreachableError
from modelatlas.pipelines.anthropic import anthropic_source
from modelatlas.pipelines.catalog import FetchStats
from modelatlas.pipelines.http import RetryPolicy
from modelatlas.pipelines.loading import make_pipeline, run_source
from modelatlas.simulator.anthropic import AnthropicHandler
from modelatlas.simulator.core import Fault, SimRequest, SimResponse, load_fixture
from modelatlas.simulator.server import Simulator
from modelatlas.warehouse import ConnectionInfo, read_only_query

KEY = "sk-ant-test-anthropic-0123456789"
FAST = RetryPolicy(attempts=4, initial_wait_s=0.05, max_wait_s=0.2, budget_s=20, read_timeout_s=1.0)
FIXTURE = load_fixture("anthropic")
FIXTURE_IDS = {item["id"] for item in FIXTURE}
PAGES = -(-len(FIXTURE) // 20)  # the default page size is the API's, 20


class FaultOnLaterPage(AnthropicHandler):
    """Injects a fault once page 1 has been served, so it lands on page 2: the core only targets the next N requests."""

    def __init__(self, api_key: str, fault: Fault) -> None:
        super().__init__(api_key)
        self.fault: Fault | None = fault
        self.simulator: Simulator | None = None

    def route(self, request: SimRequest) -> SimResponse:
        response = super().route(request)
        if self.fault is not None and self.simulator is not None and request.param("after_id") is None:
            self.simulator.inject("anthropic", self.fault)
            self.fault = None
        return response


@pytest.fixture
def simulator() -> Iterator[Simulator]:
    with Simulator({"anthropic": AnthropicHandler(KEY)}) as server:
        yield server


def load(
    simulator: Simulator,
    connection: ConnectionInfo,
    dataset: str,
    pipelines_dir: Path,
    key: str = KEY,
    page_size: int = 20,
) -> FetchStats:
    stats = FetchStats()
    pipeline = make_pipeline(f"anthropic_{dataset}", dataset, connection.url(), pipelines_dir)
    source = anthropic_source(
        api_key=key,
        base_url=simulator.root_url("anthropic"),
        region="us",
        stats=stats,
        policy=FAST,
        page_size=page_size,
    )
    run_source(pipeline, source)
    return stats


def ids_in(connection: ConnectionInfo, dataset: str) -> set[str]:
    _, rows = read_only_query(connection, f"select id from {dataset}.models")
    return {row[0] for row in rows}


def test_every_page_is_fetched_and_every_model_lands(
    simulator: Simulator, connection: ConnectionInfo, tmp_path: Path
) -> None:
    stats = load(simulator, connection, "raw_anthropic_pages", tmp_path)

    requests = simulator.requests_to("anthropic")
    assert PAGES == 3
    assert stats.pages == PAGES and stats.requests == PAGES and len(requests) == PAGES
    assert [request.path for request in requests] == ["/v1/models"] * PAGES
    assert requests[0].query == {"limit": ["20"]}
    assert [request.query.get("after_id") for request in requests[1:]] == [[FIXTURE[19]["id"]], [FIXTURE[39]["id"]]]
    assert stats.ids == FIXTURE_IDS
    assert ids_in(connection, "raw_anthropic_pages") == FIXTURE_IDS
    _, rows = read_only_query(
        connection,
        "select display_name, created_at::date::text, max_input_tokens, max_tokens, supports_image_input, "
        "supports_pdf_input, supports_thinking, supports_structured_outputs, supports_batch, region, "
        "capabilities -> 'thinking' ->> 'supported', payload ->> 'type' "
        "from raw_anthropic_pages.models where id = 'claude-sonnet-4-5-20250929'",
    )
    assert rows == [
        ("Claude Sonnet 4.5", "2025-09-29", 200000, 64000, True, True, True, True, True, "us", "true", "model")
    ]


def test_a_larger_page_size_needs_fewer_requests(
    simulator: Simulator, connection: ConnectionInfo, tmp_path: Path
) -> None:
    stats = load(simulator, connection, "raw_anthropic_big_pages", tmp_path, page_size=1000)

    assert stats.pages == 1 and simulator.requests_to("anthropic")[0].query == {"limit": ["1000"]}
    assert ids_in(connection, "raw_anthropic_big_pages") == FIXTURE_IDS


def test_the_key_travels_in_the_x_api_key_header_only(
    simulator: Simulator, connection: ConnectionInfo, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    load(simulator, connection, "raw_anthropic_headers", tmp_path)

    for request in simulator.requests_to("anthropic"):
        headers = {name.lower(): value for name, value in request.headers.items()}
        assert headers["x-api-key"] == KEY
        assert headers["anthropic-version"] == "2023-06-01"
        assert "authorization" not in headers
        assert KEY not in request.path
        assert all(KEY not in str(values) for values in request.query.values())
    assert KEY not in caplog.text


def test_a_429_is_retried_after_the_advertised_delay(
    simulator: Simulator, connection: ConnectionInfo, tmp_path: Path
) -> None:
    simulator.inject("anthropic", Fault("rate_limit", retry_after_s=0.3))
    stats = load(simulator, connection, "raw_anthropic_429", tmp_path)

    requests = simulator.requests_to("anthropic")
    assert len(requests) == PAGES + 1 and stats.requests == PAGES + 1
    assert requests[1].at - requests[0].at >= 0.3
    assert requests[1].query == requests[0].query  # the same page, asked again
    assert ids_in(connection, "raw_anthropic_429") == FIXTURE_IDS


def test_5xx_and_overloaded_529_then_success(simulator: Simulator, connection: ConnectionInfo, tmp_path: Path) -> None:
    simulator.inject("anthropic", Fault("server_error", status=500))
    simulator.inject("anthropic", Fault("server_error", status=529))
    stats = load(simulator, connection, "raw_anthropic_5xx", tmp_path)

    assert stats.requests == PAGES + 2 and stats.pages == PAGES
    assert ids_in(connection, "raw_anthropic_5xx") == FIXTURE_IDS


def test_a_slow_response_times_out_and_is_retried(
    simulator: Simulator, connection: ConnectionInfo, tmp_path: Path
) -> None:
    simulator.inject("anthropic", Fault("slow", delay_s=1.5))
    stats = load(simulator, connection, "raw_anthropic_slow", tmp_path)

    assert stats.requests == PAGES + 1
    assert ids_in(connection, "raw_anthropic_slow") == FIXTURE_IDS


def test_a_host_that_never_answers_is_unreachable(connection: ConnectionInfo, tmp_path: Path) -> None:
    from tests.conftest import free_port

    pipeline = make_pipeline("anthropic_down", "raw_anthropic_down", connection.url(), tmp_path)
    source = anthropic_source(api_key=KEY, base_url=f"http://127.0.0.1:{free_port()}", policy=FAST)
    with pytest.raises(SourceUnreachableError, match="unreachable"):
        run_source(pipeline, source)


def test_a_wrong_key_names_the_variable_and_hides_the_key(
    simulator: Simulator, connection: ConnectionInfo, tmp_path: Path
) -> None:
    wrong = "sk-ant-wrong-key-9876543210"
    with pytest.raises(
        AuthenticationError, match=r"Anthropic rejected the API key \(401\): check ANTHROPIC_API_KEY"
    ) as raised:
        load(simulator, connection, "raw_anthropic_401", tmp_path, key=wrong)

    assert wrong not in str(raised.value)
    assert "invalid x-api-key" in str(raised.value)  # Anthropic's own message is kept
    assert len(simulator.requests_to("anthropic")) == 1  # a rejected key is not retried


def test_truncated_json_on_a_later_page_fails_the_load_and_keeps_earlier_rows(
    connection: ConnectionInfo, tmp_path: Path
) -> None:
    handler = FaultOnLaterPage(KEY, Fault("truncated"))
    with Simulator({"anthropic": handler}) as simulator:
        handler.simulator = None  # the first load runs clean
        first = load(simulator, connection, "raw_anthropic_trunc", tmp_path)
        _, before = read_only_query(connection, "select distinct batch_id from raw_anthropic_trunc.models")
        simulator.clear()

        handler.simulator = simulator
        with pytest.raises(SourceError, match="malformed JSON"):
            load(simulator, connection, "raw_anthropic_trunc", tmp_path)

        requests = simulator.requests_to("anthropic")
    assert first.pages == PAGES
    assert len(requests) == 2 and requests[1].query.get("after_id") == [FIXTURE[19]["id"]]
    assert ids_in(connection, "raw_anthropic_trunc") == FIXTURE_IDS
    _, after = read_only_query(connection, "select distinct batch_id from raw_anthropic_trunc.models")
    assert after == before  # nothing of the failed fetch, not even its first page, was loaded


def test_an_unknown_new_field_is_kept_in_the_payload(
    simulator: Simulator, connection: ConnectionInfo, tmp_path: Path
) -> None:
    simulator.inject("anthropic", Fault("unknown_field", count=PAGES, field_name="lifecycle"))
    load(simulator, connection, "raw_anthropic_new_field", tmp_path)

    _, rows = read_only_query(
        connection,
        "select count(*) from raw_anthropic_new_field.models where payload -> 'lifecycle' = '{\"new\": true}'::jsonb",
    )
    assert rows == [(len(FIXTURE_IDS),)]


def test_loads_are_idempotent(simulator: Simulator, connection: ConnectionInfo, tmp_path: Path) -> None:
    first = load(simulator, connection, "raw_anthropic_twice", tmp_path)
    second = load(simulator, connection, "raw_anthropic_twice", tmp_path)

    assert first.content_hashes == second.content_hashes
    _, rows = read_only_query(
        connection, "select count(*), count(distinct id), count(distinct batch_id) from raw_anthropic_twice.models"
    )
    assert rows == [(len(FIXTURE_IDS), len(FIXTURE_IDS), 1)]
