"""Anthropic usage and cost through the real simulator over HTTP: both APIs load every bucket, costs in cents become
exact dollars, pages follow `next_page`, runs continue from their saved cursors re-reading two buckets, and a restated
bucket replaces its row instead of adding one."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pyarrow as pa
import pytest

from modelatlas.errors import AuthenticationError, ConfigurationError
from modelatlas.pipelines import engine
from modelatlas.pipelines.anthropic_usage import (
    ANALYTICS_BETA,
    API_VARIABLE,
    COST_COLUMNS,
    COST_TABLE,
    SPEC,
    USAGE_COLUMNS,
    USAGE_TABLE,
    cost_row,
    spans,
    table_rows,
    usage_row,
    usd_of_cents,
)
from modelatlas.pipelines.anthropic_usage import LEGACY as LEGACY_API
from modelatlas.pipelines.quality.gate import gate_batch
from modelatlas.pipelines.spec import Batch, Request
from modelatlas.settings import GateSettings, source_config
from modelatlas.simulator import Fault, Simulator, build_simulator, sample_environment, sample_key
from modelatlas.simulator.anthropic_usage import AnthropicUsageHandler
from tests.unit.conftest import PROXY_ENV_VARS
from tests.unit.simulated import FAST

AT = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
KEY = sample_key("anthropic_usage")
USAGE_PATH = "/v1/organizations/usage_report/messages"
COST_PATH = "/v1/organizations/cost_report"
ANALYTICS_USAGE_PATH = "/v1/organizations/analytics/usage_report"
ANALYTICS_COST_PATH = "/v1/organizations/analytics/cost_report"
APIS = ("legacy", "analytics")
# The handler's usage counts, as the table's token columns name them.
COUNT_COLUMNS = {
    "uncached_input_tokens": "uncached_input_tokens",
    "cache_creation_5m": "cache_creation_5m_tokens",
    "cache_creation_1h": "cache_creation_1h_tokens",
    "cache_read_input_tokens": "cache_read_input_tokens",
    "output_tokens": "output_tokens",
    "web_search_requests": "web_search_requests",
}


@pytest.fixture(scope="module")
def simulator() -> Iterator[Simulator]:
    with build_simulator([SPEC]) as server:
        yield server


@pytest.fixture
def sim(simulator: Simulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[Simulator]:
    """The simulator with a fresh organisation whose clock reads AT, no fault pending and no request logged."""
    for name in PROXY_ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    simulator.clear()
    simulator.handlers[SPEC.name] = AnthropicUsageHandler(KEY, now=AT)
    yield simulator
    simulator.clear()


def handler(sim: Simulator) -> AnthropicUsageHandler:
    served = sim.handlers[SPEC.name]
    assert isinstance(served, AnthropicUsageHandler)
    return served


def fetch(
    sim: Simulator, *, at: datetime = AT, state: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None
) -> tuple[Batch, Request]:
    """One run at `at` against the simulator with its sample key, the saved `state` given, `env` on top."""
    settings = {**sample_environment(sim, [SPEC]), **(env or {})}
    request = engine.request_for(SPEC, source_config(SPEC, settings), fetched_at=at, policy=FAST)
    request = dataclasses.replace(request, state=dict(state or {}))
    return engine.fetch(request), request


def rows(batch: Batch, table: str) -> list[dict[str, Any]]:
    found = batch.tables[table]
    if isinstance(found, pa.Table):
        assert found.num_rows == 0
        return []
    return list(found)


def requests_to(sim: Simulator, path: str) -> list[dict[str, list[str]]]:
    return [dict(r.query) for r in sim.requests_to(SPEC.name) if r.path == path]


def token_totals(usage: list[dict[str, Any]]) -> dict[str, int]:
    return {handler_name: sum(row[column] for row in usage) for handler_name, column in COUNT_COLUMNS.items()}


def api_env(api: str) -> dict[str, str]:
    return {API_VARIABLE: api}


def paths(api: str) -> tuple[str, str]:
    return (USAGE_PATH, COST_PATH) if api == "legacy" else (ANALYTICS_USAGE_PATH, ANALYTICS_COST_PATH)


# --- settings and spec ------------------------------------------------------------------------------------------------


def test_the_spec_declares_an_hourly_incremental_usage_source_with_an_admin_key() -> None:
    assert (SPEC.kind, SPEC.asset_group, SPEC.cadence, SPEC.keeps_state) == ("usage", "usage", "0 * * * *", True)
    assert SPEC.credential is not None
    assert (SPEC.credential.env, SPEC.credential.header, SPEC.credential.scheme) == (
        "ANTHROPIC_ADMIN_KEY",
        "x-api-key",
        "",
    )
    assert SPEC.credential.headers("sk-ant-admin01-abc") == {"x-api-key": "sk-ant-admin01-abc"}
    assert SPEC.headers == {"anthropic-version": "2023-06-01"}
    assert {"MODELATLAS_ANTHROPIC_USAGE_API", "MODELATLAS_USAGE_BACKFILL_DAYS"} <= set(SPEC.variables())
    for table in SPEC.tables:
        assert (table.primary_key, table.disposition) == (("bucket_key",), "merge")
        assert table.suite is not None and table.suite.key == ("bucket_key",)
    usage_suite = SPEC.table(USAGE_TABLE).suite
    assert usage_suite is not None
    assert all(usage_suite.ranges[column][0] == 0 for column in COUNT_COLUMNS.values())


def test_the_api_and_backfill_settings_default_to_legacy_and_30_days() -> None:
    env = {"ANTHROPIC_ADMIN_KEY": KEY}
    assert source_config(SPEC, env).options == {"api": "legacy", "backfill_days": 30}
    chosen = {**env, API_VARIABLE: " Analytics ", "MODELATLAS_USAGE_BACKFILL_DAYS": "7"}
    assert source_config(SPEC, chosen).options == {"api": "analytics", "backfill_days": 7}


@pytest.mark.parametrize("value", ["v2", "usage_report", "legacy,analytics"])
def test_an_unknown_api_is_a_clear_error_naming_its_variable(value: str) -> None:
    with pytest.raises(
        ConfigurationError, match=rf"^MODELATLAS_ANTHROPIC_USAGE_API is {value!r}: use legacy or analytics"
    ):
        source_config(SPEC, {"ANTHROPIC_ADMIN_KEY": KEY, API_VARIABLE: value})


def test_without_an_admin_key_the_source_is_skipped() -> None:
    assert source_config(SPEC, {}).skip_reason == "skipped: ANTHROPIC_ADMIN_KEY is not set"
    assert source_config(SPEC, {"ANTHROPIC_ADMIN_KEY": ""}).skip_reason == "skipped: ANTHROPIC_ADMIN_KEY is not set"


# --- rows (pure) ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "usd"),
    [
        ("123.45", Decimal("1.2345")),
        ("0.000375", Decimal("0.00000375")),
        ("100", Decimal("1")),
        ("0", Decimal("0")),
        ("-12.5", Decimal("-0.125")),
        ("1234567890.123456789", Decimal("12345678.90123456789")),
        ("abc", None),
        ("NaN", None),
        (None, None),
        (1.5, None),
        (True, None),
    ],
)
def test_cents_become_exact_dollars(amount: Any, usd: Decimal | None) -> None:
    assert usd_of_cents(amount) == usd


def test_a_usage_result_becomes_a_row_of_every_declared_column() -> None:
    bucket = {"starting_at": "2026-11-20T08:00:00Z", "ending_at": "2026-11-20T09:00:00Z"}
    result = {
        "uncached_input_tokens": 1500,
        "cache_creation": {"ephemeral_5m_input_tokens": 100, "ephemeral_1h_input_tokens": 50},
        "cache_read_input_tokens": 2000,
        "output_tokens": 500,
        "server_tool_use": {"web_search_requests": 3},
        "api_key_id": "apikey_01",
        "workspace_id": None,
        "model": "claude-sonnet-4-5-20250929",
        "service_tier": "standard",
        "context_window": "0-200k",
    }
    row = usage_row(LEGACY_API, bucket, result, AT)
    assert set(row) == set(USAGE_COLUMNS)
    assert row["bucket_start"] == datetime(2026, 11, 20, 8, tzinfo=UTC)
    assert (row["api"], row["workspace_id"], row["inference_geo"]) == ("legacy", None, None)
    assert (row["cache_creation_5m_tokens"], row["cache_creation_1h_tokens"], row["web_search_requests"]) == (
        100,
        50,
        3,
    )
    assert row["payload"] == result
    # The key names the bucket and its groups, not its counts.
    restated = usage_row(LEGACY_API, bucket, {**result, "output_tokens": 900}, AT + HOUR)
    assert restated["bucket_key"] == row["bucket_key"]
    other_key = usage_row(LEGACY_API, bucket, {**result, "api_key_id": "apikey_02"}, AT)
    assert other_key["bucket_key"] != row["bucket_key"]


def test_a_cost_result_becomes_a_row_in_dollars_and_an_empty_bucket_gives_no_row() -> None:
    bucket = {"starting_at": "2026-11-20T00:00:00Z", "ending_at": "2026-11-21T00:00:00Z"}
    result = {"amount": "123.45", "currency": "USD", "workspace_id": "wrkspc_01", "description": "Web Search Usage"}
    row = cost_row(LEGACY_API, bucket, result, AT)
    assert set(row) == set(COST_COLUMNS)
    assert (row["amount_usd"], row["currency"], row["cost_type"]) == (Decimal("1.2345"), "USD", None)
    empty = {**bucket, "results": []}
    assert table_rows(LEGACY_API, [empty], AT, cost=True) == []
    assert table_rows(LEGACY_API, [empty, {**bucket, "results": [result]}], AT, cost=True) == [row]


def test_ranges_are_cut_to_the_longest_span() -> None:
    start = datetime(2026, 10, 1, tzinfo=UTC)
    assert list(spans(start, start + 40 * DAY, None)) == [(start, start + 40 * DAY)]
    assert list(spans(start, start + 40 * DAY, 31 * DAY)) == [
        (start, start + 31 * DAY),
        (start + 31 * DAY, start + 40 * DAY),
    ]


# --- runs through the simulator ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("api", APIS)
def test_a_first_run_loads_every_bucket_of_the_backfill_from_either_api(sim: Simulator, api: str) -> None:
    batch, request = fetch(sim, env=api_env(api))
    usage, costs = rows(batch, USAGE_TABLE), rows(batch, COST_TABLE)
    served = handler(sim)
    usage_from = datetime(2026, 10, 21, 9, tzinfo=UTC)  # AT less 30 days, to the hour
    cost_from = datetime(2026, 10, 21, tzinfo=UTC)
    assert token_totals(usage) == served.usage_totals(usage_from, AT)
    assert sum(row["amount_usd"] for row in costs) == served.cost_cents(cost_from, AT) / 100
    assert {row["api"] for row in usage} == {row["api"] for row in costs} == {api}
    assert min(row["bucket_start"] for row in usage) >= usage_from
    assert len({row["bucket_key"] for row in usage}) == len(usage)
    assert len({row["bucket_key"] for row in costs}) == len(costs)
    assert batch.state == {"usage_cursor": "2026-11-20T09:00:00+00:00", "cost_cursor": "2026-11-20"}
    assert request.stats.requests == len(sim.requests_to(SPEC.name)) == request.stats.pages
    usage_path, cost_path = paths(api)
    first_usage, *_ = requests_to(sim, usage_path)
    (first_cost,) = requests_to(sim, cost_path)
    assert (first_usage["starting_at"], first_usage["ending_at"]) == (
        ["2026-10-21T09:00:00Z"],
        ["2026-11-20T09:30:00Z"],
    )
    assert (first_usage["bucket_width"], first_usage["limit"]) == (["1h"], ["168"])
    assert (first_cost["starting_at"], first_cost["bucket_width"], first_cost["limit"]) == (
        ["2026-10-21T00:00:00Z"],
        ["1d"],
        ["31"],
    )
    beta: set[str | None] = {r.headers.get("anthropic-beta") for r in sim.requests_to(SPEC.name)}
    assert beta == {None if api == "legacy" else ANALYTICS_BETA}
    assert all(r.headers.get("anthropic-version") == "2023-06-01" for r in sim.requests_to(SPEC.name))
    assert all(r.headers.get("x-api-key") == KEY for r in sim.requests_to(SPEC.name))
    assert not gate_batch(SPEC, batch, {}, GateSettings(), now=AT).blocked


def test_the_legacy_api_groups_by_key_workspace_tier_window_and_region(sim: Simulator) -> None:
    batch, _ = fetch(sim)
    usage, costs = rows(batch, USAGE_TABLE), rows(batch, COST_TABLE)
    assert requests_to(sim, USAGE_PATH)[0]["group_by[]"] == [
        "api_key_id",
        "workspace_id",
        "model",
        "service_tier",
        "context_window",
        "inference_geo",
    ]
    assert requests_to(sim, COST_PATH)[0]["group_by[]"] == ["workspace_id", "description"]
    assert len({row["api_key_id"] for row in usage}) == 3
    assert len({row["workspace_id"] for row in usage}) == 2
    assert {row["model"] for row in usage} == {
        "claude-sonnet-4-5-20250929",
        "claude-haiku-4-5-20251001",
        "claude-opus-4-1-20250805",
    }
    assert {row["service_tier"] for row in usage} == {"standard", "batch"}
    assert {row["context_window"] for row in usage} == {"0-200k", "200k-1M"}
    assert {row["inference_geo"] for row in usage} == {"global", "us"}
    assert sum(row["cache_creation_5m_tokens"] for row in usage) > 0
    assert sum(row["cache_creation_1h_tokens"] for row in usage) > 0
    assert {row["cost_type"] for row in costs} == {"tokens", "web_search"}
    assert len({row["description"] for row in costs}) > 10
    assert all(row["currency"] == "USD" for row in costs)
    for row in costs:
        assert row["amount_usd"] == Decimal(row["payload"]["amount"]) / 100


def test_the_analytics_api_has_no_key_workspace_or_tier_groups(sim: Simulator) -> None:
    batch, _ = fetch(sim, env=api_env("analytics"))
    usage, costs = rows(batch, USAGE_TABLE), rows(batch, COST_TABLE)
    assert requests_to(sim, ANALYTICS_USAGE_PATH)[0]["group_by[]"] == ["model", "context_window", "inference_geo"]
    assert requests_to(sim, ANALYTICS_COST_PATH)[0]["group_by[]"] == [
        "model",
        "context_window",
        "cost_type",
        "token_type",
    ]
    assert {(row["api_key_id"], row["workspace_id"], row["service_tier"]) for row in usage} == {(None, None, None)}
    assert {row["workspace_id"] for row in costs} == {None}
    assert {row["token_type"] for row in costs} >= {"uncached_input_tokens", "cache_creation.ephemeral_1h_input_tokens"}


def test_usage_pages_follow_next_page_until_has_more_is_false(sim: Simulator) -> None:
    batch, request = fetch(sim)
    pages = requests_to(sim, USAGE_PATH)
    # 721 hour buckets (the current one included), 168 a page.
    assert len(pages) == 5
    assert "page" not in pages[0]
    assert all(len(page["page"]) == 1 and page["page"][0].startswith("page_") for page in pages[1:])
    assert len({page["page"][0] for page in pages[1:]}) == 4
    assert batch.metadata["usage_buckets"] == 721
    assert request.stats.pages == 6


def test_a_backfill_longer_than_the_analytics_range_is_read_in_31_day_spans(sim: Simulator) -> None:
    env = {**api_env("analytics"), "MODELATLAS_USAGE_BACKFILL_DAYS": "40"}
    batch, _ = fetch(sim, env=env)
    served = handler(sim)
    usage_from = datetime(2026, 10, 11, 9, tzinfo=UTC)
    assert token_totals(rows(batch, USAGE_TABLE)) == served.usage_totals(usage_from, AT)
    spans_read = {(q["starting_at"][0], q["ending_at"][0]) for q in requests_to(sim, ANALYTICS_USAGE_PATH)}
    assert spans_read == {
        ("2026-10-11T09:00:00Z", "2026-11-11T09:00:00Z"),
        ("2026-11-11T09:00:00Z", "2026-11-20T09:30:00Z"),
    }
    costs = rows(batch, COST_TABLE)
    assert sum(row["amount_usd"] for row in costs) == served.cost_cents(datetime(2026, 10, 11, tzinfo=UTC), AT) / 100


def test_a_run_given_the_saved_state_starts_two_buckets_before_it(sim: Simulator) -> None:
    first, _ = fetch(sim)
    served = handler(sim)
    served.advance(hours=3)
    sim.clear()
    later = AT + 3 * HOUR
    second, _ = fetch(sim, at=later, state=first.state)
    (usage_query,) = requests_to(sim, USAGE_PATH)
    (cost_query,) = requests_to(sim, COST_PATH)
    assert usage_query["starting_at"] == ["2026-11-20T07:00:00Z"]
    assert cost_query["starting_at"] == ["2026-11-18T00:00:00Z"]
    usage = rows(second, USAGE_TABLE)
    assert min(row["bucket_start"] for row in usage) >= datetime(2026, 11, 20, 7, tzinfo=UTC)
    assert token_totals(usage) == served.usage_totals(datetime(2026, 11, 20, 7, tzinfo=UTC), later)
    assert second.state == {"usage_cursor": "2026-11-20T12:00:00+00:00", "cost_cursor": "2026-11-20"}
    # The hours the clock passed are new rows; the re-read ones keep their keys.
    first_keys = {row["bucket_key"] for row in rows(first, USAGE_TABLE)}
    new_hours = {row["bucket_start"] for row in usage if row["bucket_key"] not in first_keys}
    assert new_hours and min(new_hours) >= datetime(2026, 11, 20, 9, tzinfo=UTC)


def test_a_restated_bucket_keeps_its_key_and_replaces_its_counts(sim: Simulator) -> None:
    first, _ = fetch(sim)
    served = handler(sim)
    hour = served.hours_with_usage()[-1]
    assert hour >= AT - 2 * HOUR
    served.restate(hour, extra_output_tokens=1000)
    second, _ = fetch(sim, at=AT + HOUR, state=first.state)

    def in_hour(batch: Batch) -> dict[str, dict[str, Any]]:
        return {row["bucket_key"]: row for row in rows(batch, USAGE_TABLE) if row["bucket_start"] == hour}

    before, after = in_hour(first), in_hour(second)
    assert before and set(after) == set(before)
    assert all(after[key]["output_tokens"] == before[key]["output_tokens"] + 1000 for key in before)
    day = hour.replace(hour=0)
    costs_before = {row["bucket_key"]: row for row in rows(first, COST_TABLE) if row["bucket_start"] == day}
    costs_after = {row["bucket_key"]: row for row in rows(second, COST_TABLE) if row["bucket_start"] == day}
    assert set(costs_after) == set(costs_before)
    assert sum(row["amount_usd"] for row in costs_after.values()) > sum(
        row["amount_usd"] for row in costs_before.values()
    )


def test_a_window_of_empty_buckets_gives_no_rows_but_every_column_and_moves_the_cursor(sim: Simulator) -> None:
    # The clock of the API stays at AT: the hours after it have no usage yet.
    later = AT + 6 * HOUR
    state = {"usage_cursor": "2026-11-20T12:00:00+00:00", "cost_cursor": "2026-11-20"}
    batch, _ = fetch(sim, at=later, state=state)
    usage = batch.tables[USAGE_TABLE]
    assert isinstance(usage, pa.Table) and usage.num_rows == 0
    assert usage.column_names == list(USAGE_COLUMNS)
    assert batch.metadata["usage_buckets"] == 6
    assert batch.state is not None and batch.state["usage_cursor"] == "2026-11-20T15:00:00+00:00"
    assert not gate_batch(SPEC, batch, {}, GateSettings(), now=later).blocked


def test_a_cursor_is_never_moved_back(sim: Simulator) -> None:
    state = {"usage_cursor": "2026-11-21T00:00:00+00:00", "cost_cursor": "2026-11-22"}
    batch, _ = fetch(sim, state=state)
    assert batch.state == state


def test_a_wrong_key_fails_at_once_without_the_key(sim: Simulator) -> None:
    wrong = "sk-ant-admin01-wrong-key-0000000000000000"
    with pytest.raises(AuthenticationError, match=r"rejected the API key \(401\): check ANTHROPIC_ADMIN_KEY") as raised:
        fetch(sim, env={"ANTHROPIC_ADMIN_KEY": wrong})
    assert wrong not in str(raised.value)
    assert "invalid x-api-key" in str(raised.value)
    assert len(sim.requests_to(SPEC.name)) == 1


def test_a_rate_limit_is_waited_out(sim: Simulator) -> None:
    sim.inject(SPEC.name, Fault("rate_limit", retry_after_s=0.01))
    batch, request = fetch(sim, env={"MODELATLAS_USAGE_BACKFILL_DAYS": "1"})
    assert rows(batch, USAGE_TABLE)
    assert request.stats.requests == 3  # the 429, then the usage and cost pages


# --- the simulator ----------------------------------------------------------------------------------------------------


def get(sim: Simulator, path: str, params: Mapping[str, Any], **headers: str) -> httpx.Response:
    sent = {"x-api-key": KEY, "anthropic-version": "2023-06-01", **headers}
    return httpx.get(sim.root_url(SPEC.name) + path, params=params, headers=sent)


def test_the_simulator_refuses_a_wrong_key_with_anthropics_error_body(sim: Simulator) -> None:
    response = get(sim, USAGE_PATH, {"starting_at": "2026-11-19T00:00:00Z"}, **{"x-api-key": "sk-ant-admin01-other"})
    assert response.status_code == 401
    body = response.json()
    assert body["type"] == "error"
    assert body["error"] == {"type": "authentication_error", "message": "invalid x-api-key"}


def test_the_analytics_api_needs_its_beta_header(sim: Simulator) -> None:
    params = {"starting_at": "2026-11-19T00:00:00Z", "bucket_width": "1d"}
    refused = get(sim, ANALYTICS_USAGE_PATH, params)
    assert refused.status_code == 400
    assert refused.json()["error"]["type"] == "invalid_request_error"
    assert ANALYTICS_BETA in refused.json()["error"]["message"]
    served = get(sim, ANALYTICS_USAGE_PATH, params, **{"anthropic-beta": ANALYTICS_BETA})
    assert served.status_code == 200
    assert [bucket["starting_at"] for bucket in served.json()["data"]] == [
        "2026-11-19T00:00:00Z",
        "2026-11-20T00:00:00Z",
    ]


@pytest.mark.parametrize(
    ("path", "params", "message"),
    [
        (USAGE_PATH, {}, "starting_at: Field required"),
        (USAGE_PATH, {"starting_at": "2026-11-19"}, "time zone"),
        (USAGE_PATH, {"starting_at": "2026-11-19T00:00:00Z", "bucket_width": "1h", "limit": "169"}, "1 to 168"),
        (USAGE_PATH, {"starting_at": "2026-11-19T00:00:00Z", "group_by": "model"}, "Use `group_by[]`"),
        (USAGE_PATH, {"starting_at": "2026-11-19T00:00:00Z", "group_by[]": "description"}, "unknown value"),
        (COST_PATH, {"starting_at": "2026-11-19T00:00:00Z", "bucket_width": "1h"}, "bucket_width"),
        (COST_PATH, {"starting_at": "2026-11-01T00:00:00Z", "limit": "32"}, "1 to 31"),
    ],
)
def test_the_simulator_refuses_what_the_api_refuses(
    sim: Simulator, path: str, params: Mapping[str, Any], message: str
) -> None:
    response = get(sim, path, params)
    assert response.status_code == 400
    assert message in response.json()["error"]["message"]


def test_the_analytics_range_spans_at_most_31_days(sim: Simulator) -> None:
    params = {"starting_at": "2026-10-01T00:00:00Z", "ending_at": "2026-11-02T00:00:00Z"}
    response = get(sim, ANALYTICS_COST_PATH, params, **{"anthropic-beta": ANALYTICS_BETA})
    assert response.status_code == 400
    assert "31 days" in response.json()["error"]["message"]


def test_the_simulator_honours_group_by_filters_and_limits(sim: Simulator) -> None:
    params = {
        "starting_at": "2026-11-19T00:00:00Z",
        "ending_at": "2026-11-20T00:00:00Z",
        "bucket_width": "1d",
        "group_by[]": ["model"],
        "service_tiers[]": ["batch"],
    }
    body = get(sim, USAGE_PATH, params).json()
    assert body["has_more"] is False and body["next_page"] is None
    (bucket,) = body["data"]
    assert {result["model"] for result in bucket["results"]} == {
        "claude-haiku-4-5-20251001",
        "claude-sonnet-4-5-20250929",
    }
    assert all(result["api_key_id"] is None and result["service_tier"] is None for result in bucket["results"])
    ungrouped = get(sim, COST_PATH, {"starting_at": "2026-11-19T00:00:00Z", "ending_at": "2026-11-20T00:00:00Z"}).json()
    (total,) = ungrouped["data"][0]["results"]
    assert total["description"] is None and total["model"] is None
    assert Decimal(total["amount"]) == handler(sim).cost_cents(datetime(2026, 11, 19, tzinfo=UTC), AT - 9.5 * HOUR)
    paged = get(sim, USAGE_PATH, {"starting_at": "2026-11-19T00:00:00Z", "bucket_width": "1h", "limit": "5"}).json()
    assert len(paged["data"]) == 5 and paged["has_more"] is True
    following = get(
        sim,
        USAGE_PATH,
        {"starting_at": "2026-11-19T00:00:00Z", "bucket_width": "1h", "limit": "5", "page": paged["next_page"]},
    ).json()
    assert following["data"][0]["starting_at"] == "2026-11-19T05:00:00Z"


def test_the_organisation_has_usage_every_hour_but_some_and_empty_hours_have_no_results(sim: Simulator) -> None:
    served = handler(sim)
    hours = served.hours_with_usage()
    assert hours[0] >= AT - 45 * DAY - HOUR and hours[-1] < AT
    assert all(hour.hour not in (0, 4) for hour in hours)
    params = {"starting_at": "2026-11-19T00:00:00Z", "ending_at": "2026-11-19T01:00:00Z", "bucket_width": "1h"}
    (midnight,) = get(sim, USAGE_PATH, params).json()["data"]
    assert midnight["results"] == []
    served.advance(hours=24)
    assert served.hours_with_usage()[-1] >= AT + 20 * HOUR
    with pytest.raises(KeyError):
        served.restate(datetime(2026, 11, 19, 4, tzinfo=UTC), extra_output_tokens=1)
