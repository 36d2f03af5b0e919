"""The Hugging Face Hub catalog against the simulator: pagination, the cap, auth, retries and idempotent loads."""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from modelatlas.errors import AuthenticationError, SourceError, SourceUnreachableError
from modelatlas.pipelines.catalog import FetchStats
from modelatlas.pipelines.http import RetryPolicy
from modelatlas.pipelines.huggingface import DEFAULT_ORGANIZATIONS, huggingface_source
from modelatlas.pipelines.loading import ensure_tables, make_pipeline, run_source
from modelatlas.simulator.core import Fault, SimResponse, load_fixture
from modelatlas.simulator.huggingface import HuggingFaceHandler
from modelatlas.simulator.server import Simulator
from modelatlas.warehouse import ConnectionInfo, read_only_query

TOKEN = "hf_testTokenHuggingFace0123456789"
FAST = RetryPolicy(attempts=4, initial_wait_s=0.05, max_wait_s=0.2, budget_s=20, read_timeout_s=1.0)
FIXTURE: list[dict[str, Any]] = load_fixture("huggingface")
FIXTURE_IDS = {item["id"] for item in FIXTURE}
PER_ORG = Counter(item["author"] for item in FIXTURE)
ORGS = len(DEFAULT_ORGANIZATIONS)


@pytest.fixture
def simulator() -> Iterator[Simulator]:
    with Simulator({"huggingface": HuggingFaceHandler(TOKEN)}) as server:
        yield server


def load(
    simulator: Simulator,
    connection: ConnectionInfo,
    dataset: str,
    pipelines_dir: Path,
    token: str | None = TOKEN,
    **options: Any,
) -> FetchStats:
    stats = FetchStats()
    pipeline = make_pipeline(f"huggingface_{dataset}", dataset, connection.url(), pipelines_dir)
    source = huggingface_source(
        api_key=token, base_url=simulator.root_url("huggingface"), region="eu", stats=stats, policy=FAST, **options
    )
    run_source(pipeline, source)
    return stats


def ids_in(connection: ConnectionInfo, dataset: str, table: str = "models") -> set[str]:
    _, rows = read_only_query(connection, f"select id from {dataset}.{table}")
    return {row[0] for row in rows}


def test_every_page_of_every_organisation_is_loaded(
    simulator: Simulator, connection: ConnectionInfo, tmp_path: Path
) -> None:
    stats = load(simulator, connection, "raw_huggingface_pages", tmp_path, page_size=3)
    expected_pages = sum(math.ceil(PER_ORG[org] / 3) for org in DEFAULT_ORGANIZATIONS)
    assert stats.pages == stats.requests == expected_pages
    assert stats.ids == FIXTURE_IDS
    assert ids_in(connection, "raw_huggingface_pages") == FIXTURE_IDS
    assert ids_in(connection, "raw_huggingface_pages", "model_stats") == FIXTURE_IDS
    requests = simulator.requests_to("huggingface")
    assert len(requests) == expected_pages
    assert Counter(request.query["author"][0] for request in requests) == {
        org: math.ceil(PER_ORG[org] / 3) for org in DEFAULT_ORGANIZATIONS
    }
    assert all(request.query["sort"] == ["downloads"] and request.query["direction"] == ["-1"] for request in requests)
    _, rows = read_only_query(
        connection,
        "select author, gated, license, pipeline_tag, library_name, downloads, created_at::date::text, "
        "jsonb_typeof(tags), tags ? 'license:llama3.1', region, payload->'cardData'->>'license' "
        "from raw_huggingface_pages.models where id = 'meta-llama/Llama-3.1-8B-Instruct'",
    )
    llama = next(item for item in FIXTURE if item["id"] == "meta-llama/Llama-3.1-8B-Instruct")
    assert rows == [
        (
            "meta-llama",
            "manual",
            "llama3.1",
            "text-generation",
            "transformers",
            llama["downloads"],
            "2024-07-18",
            "array",
            True,
            "eu",
            "llama3.1",
        )
    ]
    _, rows = read_only_query(
        connection, "select gated, count(*) from raw_huggingface_pages.models group by gated order by gated"
    )
    assert dict(rows) == dict(Counter(str(item["gated"]).lower() for item in FIXTURE))


def test_the_cap_per_organisation_keeps_the_most_downloaded(
    simulator: Simulator, connection: ConnectionInfo, tmp_path: Path
) -> None:
    stats = load(simulator, connection, "raw_huggingface_cap", tmp_path, page_size=3, max_models_per_organization=4)
    # Each organisation: one full page of 3 and a second page truncated to 1, then no further request.
    assert stats.requests == stats.pages == 2 * ORGS
    expected = {
        item["id"]
        for org in DEFAULT_ORGANIZATIONS
        for item in sorted(
            (item for item in FIXTURE if item["author"] == org), key=lambda item: item["downloads"], reverse=True
        )[:4]
    }
    assert ids_in(connection, "raw_huggingface_cap") == expected
    assert len(expected) == 4 * ORGS


def test_a_custom_organisation_list_is_fetched_alone(
    simulator: Simulator, connection: ConnectionInfo, tmp_path: Path
) -> None:
    stats = load(simulator, connection, "raw_huggingface_orgs", tmp_path, organizations=("Qwen", "nvidia"))
    assert stats.requests == 2
    assert ids_in(connection, "raw_huggingface_orgs") == {
        item["id"] for item in FIXTURE if item["author"] in ("Qwen", "nvidia")
    }


def test_anonymous_requests_carry_no_authorization(
    simulator: Simulator, connection: ConnectionInfo, tmp_path: Path
) -> None:
    load(simulator, connection, "raw_huggingface_anonymous", tmp_path, token=None)
    requests = simulator.requests_to("huggingface")
    assert len(requests) == ORGS
    assert all("authorization" not in {name.lower() for name in request.headers} for request in requests)
    assert ids_in(connection, "raw_huggingface_anonymous") == FIXTURE_IDS


def test_the_token_is_a_bearer_header_only_and_never_logged(
    simulator: Simulator, connection: ConnectionInfo, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    load(simulator, connection, "raw_huggingface_token", tmp_path, page_size=5)
    requests = simulator.requests_to("huggingface")
    assert len(requests) > ORGS
    assert all(request.headers["Authorization"] == f"Bearer {TOKEN}" for request in requests)
    assert all(TOKEN not in str(request.query) and TOKEN not in request.path for request in requests)
    assert TOKEN not in caplog.text
    assert ids_in(connection, "raw_huggingface_token") == FIXTURE_IDS


def test_a_429_is_retried_after_the_advertised_delay(
    simulator: Simulator, connection: ConnectionInfo, tmp_path: Path
) -> None:
    simulator.inject("huggingface", Fault("rate_limit", retry_after_s=0.3))
    stats = load(simulator, connection, "raw_huggingface_429", tmp_path)
    requests = simulator.requests_to("huggingface")
    assert len(requests) == stats.requests == ORGS + 1
    assert requests[1].at - requests[0].at >= 0.3
    assert requests[0].query == requests[1].query
    assert ids_in(connection, "raw_huggingface_429") == FIXTURE_IDS


class _RateLimitHeaderOnlyHandler(HuggingFaceHandler):
    def rate_limited(self, retry_after_s: float) -> SimResponse:
        response = super().rate_limited(retry_after_s)
        del response.headers["retry-after"]
        return response


def test_a_429_with_only_the_ratelimit_header_waits_its_reset(connection: ConnectionInfo, tmp_path: Path) -> None:
    with Simulator({"huggingface": _RateLimitHeaderOnlyHandler(TOKEN)}) as server:
        server.inject("huggingface", Fault("rate_limit", retry_after_s=1))
        load(server, connection, "raw_huggingface_ratelimit", tmp_path)
        requests = server.requests_to("huggingface")
    assert len(requests) == ORGS + 1
    assert requests[1].at - requests[0].at >= 1.0


def test_5xx_then_success(simulator: Simulator, connection: ConnectionInfo, tmp_path: Path) -> None:
    simulator.inject("huggingface", Fault("server_error", count=2, status=503))
    stats = load(simulator, connection, "raw_huggingface_5xx", tmp_path)
    assert stats.requests == ORGS + 2
    assert stats.pages == ORGS
    assert ids_in(connection, "raw_huggingface_5xx") == FIXTURE_IDS


class _RetryAfterOn5xxHandler(HuggingFaceHandler):
    def error(self, status: int, message: str, code: str | None = None) -> SimResponse:
        response = super().error(status, message, code)
        if status >= 500:
            response.headers["retry-after"] = "0.1"
        return response


def test_5xx_with_retry_after_then_success(connection: ConnectionInfo, tmp_path: Path) -> None:
    with Simulator({"huggingface": _RetryAfterOn5xxHandler(TOKEN)}) as server:
        server.inject("huggingface", Fault("server_error", count=2, status=503))
        stats = load(server, connection, "raw_huggingface_5xx_retry_after", tmp_path)
        requests = server.requests_to("huggingface")
    assert stats.requests == len(requests) == ORGS + 2
    assert stats.pages == ORGS
    assert requests[2].at - requests[0].at >= 0.2
    assert ids_in(connection, "raw_huggingface_5xx_retry_after") == FIXTURE_IDS


def test_a_slow_response_times_out_and_is_retried(
    simulator: Simulator, connection: ConnectionInfo, tmp_path: Path
) -> None:
    simulator.inject("huggingface", Fault("slow", delay_s=1.5))
    stats = load(simulator, connection, "raw_huggingface_slow", tmp_path)
    assert stats.requests == ORGS + 1
    assert ids_in(connection, "raw_huggingface_slow") == FIXTURE_IDS


def test_a_host_that_never_answers_is_unreachable(connection: ConnectionInfo, tmp_path: Path) -> None:
    from tests.conftest import free_port

    pipeline = make_pipeline("huggingface_down", "raw_huggingface_down", connection.url(), tmp_path)
    source = huggingface_source(base_url=f"http://127.0.0.1:{free_port()}", policy=FAST)
    with pytest.raises(SourceUnreachableError, match="unreachable"):
        run_source(pipeline, source)


def test_a_wrong_token_names_the_variable_and_hides_the_token(
    simulator: Simulator, connection: ConnectionInfo, tmp_path: Path
) -> None:
    wrong = "hf_wrongTokenZyxwvu9876543210"
    with pytest.raises(
        AuthenticationError,
        match=r"Hugging Face rejected the API key \(401\): check HF_TOKEN \(Invalid credentials in Authorization",
    ) as raised:
        load(simulator, connection, "raw_huggingface_401", tmp_path, token=wrong)
    assert wrong not in str(raised.value)
    assert len(simulator.requests_to("huggingface")) == 1


def test_truncated_json_fails_the_load_and_keeps_earlier_rows(
    simulator: Simulator, connection: ConnectionInfo, tmp_path: Path
) -> None:
    load(simulator, connection, "raw_huggingface_trunc", tmp_path)
    simulator.inject("huggingface", Fault("truncated"))
    with pytest.raises(SourceError, match="malformed JSON"):
        load(simulator, connection, "raw_huggingface_trunc", tmp_path)
    assert ids_in(connection, "raw_huggingface_trunc") == FIXTURE_IDS
    _, rows = read_only_query(connection, "select count(*) from raw_huggingface_trunc.model_stats")
    assert rows == [(len(FIXTURE_IDS),)]


def test_an_unknown_new_field_is_kept_in_the_payload(
    simulator: Simulator, connection: ConnectionInfo, tmp_path: Path
) -> None:
    simulator.inject("huggingface", Fault("unknown_field", count=ORGS, field_name="inferenceProviderMapping"))
    load(simulator, connection, "raw_huggingface_new_field", tmp_path)
    _, rows = read_only_query(
        connection,
        "select count(*) from raw_huggingface_new_field.models "
        "where payload->'inferenceProviderMapping' = '{\"new\": true}'::jsonb",
    )
    assert rows == [(len(FIXTURE_IDS),)]


def test_loads_are_idempotent_for_models_and_add_one_observation_per_model(
    simulator: Simulator, connection: ConnectionInfo, tmp_path: Path
) -> None:
    load(simulator, connection, "raw_huggingface_twice", tmp_path)
    _, before = read_only_query(connection, "select id, content_hash from raw_huggingface_twice.models")
    handler = simulator.handlers["huggingface"]
    assert isinstance(handler, HuggingFaceHandler)
    for model in handler.models:
        model["downloads"] += 1000
        model["likes"] += 1
    load(simulator, connection, "raw_huggingface_twice", tmp_path)

    _, rows = read_only_query(
        connection, "select count(*), count(distinct id), count(distinct batch_id) from raw_huggingface_twice.models"
    )
    assert rows == [(len(FIXTURE_IDS), len(FIXTURE_IDS), 1)]
    _, after = read_only_query(connection, "select id, content_hash from raw_huggingface_twice.models")
    # Only the counters moved: the catalog content is unchanged.
    assert dict(after) == dict(before)
    _, rows = read_only_query(
        connection,
        "select count(*), count(distinct id), count(distinct batch_id), count(distinct (id, batch_id)) "
        "from raw_huggingface_twice.model_stats",
    )
    assert rows == [(2 * len(FIXTURE_IDS), len(FIXTURE_IDS), 2, 2 * len(FIXTURE_IDS))]
    _, rows = read_only_query(
        connection,
        "select max(s.downloads) - min(s.downloads), max(m.downloads) = max(s.downloads), "
        "count(distinct s.observed_at) "
        "from raw_huggingface_twice.model_stats s join raw_huggingface_twice.models m using (id) "
        "where id = 'deepseek-ai/DeepSeek-R1'",
    )
    assert rows == [(1000, True, 2)]


def test_empty_tables_can_be_created_without_fetching(
    simulator: Simulator, connection: ConnectionInfo, tmp_path: Path
) -> None:
    pipeline = make_pipeline("huggingface_empty", "raw_huggingface_empty", connection.url(), tmp_path)
    ensure_tables(pipeline, huggingface_source(base_url=simulator.root_url("huggingface")))
    assert simulator.requests_to("huggingface") == []
    _, rows = read_only_query(
        connection,
        "select table_name, column_name, data_type from information_schema.columns "
        "where table_schema = 'raw_huggingface_empty' and table_name in ('models', 'model_stats') "
        "and column_name in ('downloads', 'trending_score', 'created_at', 'tags', 'observed_at', 'gated') "
        "order by 1, 2",
    )
    assert rows == [
        ("model_stats", "downloads", "bigint"),
        ("model_stats", "observed_at", "timestamp with time zone"),
        ("model_stats", "trending_score", "double precision"),
        ("models", "created_at", "timestamp with time zone"),
        ("models", "downloads", "bigint"),
        ("models", "gated", "character varying"),
        ("models", "tags", "jsonb"),
        ("models", "trending_score", "double precision"),
    ]
