"""OpenAI organisation usage and costs: every bucket of the window read page after page, group values in columns,
cached input kept apart, the window continued from the saved cursor two buckets back, restated buckets keyed as
before; and the window helpers both usage API sources share."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pyarrow as pa
import pytest

from modelatlas.errors import AuthenticationError, ConfigurationError, SourceError
from modelatlas.pipelines import engine
from modelatlas.pipelines.openai_usage import (
    COST_COLUMNS,
    COST_TABLE,
    DEFAULT_ENDPOINTS,
    ENDPOINTS,
    GROUP_BY,
    SPEC,
    USAGE_COLUMNS,
    USAGE_TABLE,
    bucket_results,
    cost_row,
    parse_amount,
    parse_endpoints,
    usage_row,
)
from modelatlas.pipelines.quality import GateSettings
from modelatlas.pipelines.quality.gate import gate_batch
from modelatlas.pipelines.spec import Batch, Request
from modelatlas.pipelines.usage_windows import (
    BACKFILL_SETTING,
    DAY,
    HOUR,
    bucket_floor,
    bucket_key,
    cursor_text,
    empty_rows,
    newest_cursor,
    parse_backfill_days,
    window_start,
)
from modelatlas.settings import source_config
from modelatlas.simulator import Fault, Simulator, build_simulator, sample_environment
from modelatlas.simulator.openai_usage import OpenAIUsageHandler
from tests.unit.simulated import FAST

# A Saturday morning: weekday-only streams are idle today, not yesterday.
AT = datetime(2026, 3, 14, 9, 0, tzinfo=UTC)
BACKFILL = {"MODELATLAS_USAGE_BACKFILL_DAYS": "3"}
# What the API reference shows for one completions result, grouped by everything.
COMPLETIONS_RESULT: dict[str, Any] = {
    "object": "organization.usage.completions.result",
    "input_tokens": 5000,
    "output_tokens": 1000,
    "input_cached_tokens": 4000,
    "input_audio_tokens": 300,
    "output_audio_tokens": 200,
    "num_model_requests": 5,
    "project_id": "proj_abc",
    "user_id": "user-abc",
    "api_key_id": "key_abc",
    "model": "gpt-4o-mini-2024-07-18",
    "batch": False,
    "service_tier": "default",
}
BUCKET = {"object": "bucket", "start_time": 1730419200, "end_time": 1730422800}


@pytest.fixture(scope="module")
def simulator() -> Iterator[Simulator]:
    with build_simulator([SPEC]) as server:
        yield server


@pytest.fixture
def sim(simulator: Simulator) -> Iterator[Simulator]:
    """The simulator with its clock stopped at AT, no restatement, no fault pending and no request logged."""
    simulator.clear()
    simulator.handlers[SPEC.name] = OpenAIUsageHandler(simulator.handlers[SPEC.name].api_key, now=AT)
    yield simulator
    simulator.clear()


def handler(sim: Simulator) -> OpenAIUsageHandler:
    served = sim.handlers[SPEC.name]
    assert isinstance(served, OpenAIUsageHandler)
    return served


def fetch(
    sim: Simulator,
    *,
    state: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    page_size: int | None = None,
) -> tuple[Batch, Request]:
    """One fetch at the simulator's time, given the state a previous load kept."""
    settings = {**sample_environment(sim, [SPEC]), **BACKFILL, **(env or {})}
    request = engine.request_for(
        SPEC, source_config(SPEC, settings), fetched_at=handler(sim).now(), policy=FAST, page_size=page_size
    )
    request = dataclasses.replace(request, state=dict(state or {}))
    return engine.fetch(request), request


def rows(batch: Batch, table: str, endpoint: str | None = None) -> list[dict[str, Any]]:
    found = batch.tables[table]
    if isinstance(found, pa.Table):
        assert found.num_rows == 0
        return []
    return [dict(row) for row in found if endpoint is None or row["endpoint"] == endpoint]


def query_of(sim: Simulator, path: str) -> list[Mapping[str, list[str]]]:
    return [r.query for r in sim.requests_to(SPEC.name) if r.path == path]


def start_times(sim: Simulator, path: str) -> set[datetime]:
    return {datetime.fromtimestamp(int(q["start_time"][0]), UTC) for q in query_of(sim, path) if "page" not in q}


# --- usage_windows (pure) -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "days"), [("30", 30), (" 7 ", 7), ("1", 1), ("400", 400)])
def test_backfill_days_are_a_positive_whole_number(raw: str, days: int) -> None:
    assert parse_backfill_days(raw, "MODELATLAS_USAGE_BACKFILL_DAYS") == days


@pytest.mark.parametrize("raw", ["0", "-3", "", "  ", "1.5", "3_0", "thirty", "٣"])
def test_bad_backfill_days_name_the_variable(raw: str) -> None:
    with pytest.raises(ConfigurationError, match=r"^MODELATLAS_USAGE_BACKFILL_DAYS must be a whole number of days"):
        parse_backfill_days(raw, "MODELATLAS_USAGE_BACKFILL_DAYS")


def test_the_backfill_setting_is_shared_under_one_variable() -> None:
    assert (BACKFILL_SETTING.variable, BACKFILL_SETTING.default, BACKFILL_SETTING.option) == (
        "MODELATLAS_USAGE_BACKFILL_DAYS",
        "30",
        "backfill_days",
    )
    assert source_config(SPEC, {"OPENAI_ADMIN_KEY": "k"}).options["backfill_days"] == 30
    with pytest.raises(ConfigurationError, match="MODELATLAS_USAGE_BACKFILL_DAYS"):
        source_config(SPEC, {"OPENAI_ADMIN_KEY": "k", "MODELATLAS_USAGE_BACKFILL_DAYS": "0"})


def test_buckets_are_aligned_in_utc() -> None:
    at = datetime(2026, 3, 14, 9, 25, 13, 500, tzinfo=UTC)
    assert bucket_floor(at, HOUR) == datetime(2026, 3, 14, 9, tzinfo=UTC)
    assert bucket_floor(at, DAY) == datetime(2026, 3, 14, tzinfo=UTC)
    paris = at.astimezone(ZoneInfo("Europe/Paris"))
    assert bucket_floor(paris, DAY) == datetime(2026, 3, 14, tzinfo=UTC)
    assert bucket_floor(datetime(2026, 3, 14, 9, 25), HOUR) == datetime(2026, 3, 14, 9, tzinfo=UTC)


def test_a_first_window_reaches_back_the_backfill_days() -> None:
    now = datetime(2026, 3, 14, 9, 25, tzinfo=UTC)
    assert window_start(None, now, HOUR, 30) == datetime(2026, 2, 12, 9, tzinfo=UTC)
    assert window_start(None, now, DAY, 3) == datetime(2026, 3, 11, tzinfo=UTC)
    assert window_start("", now, HOUR, 1) == datetime(2026, 3, 13, 9, tzinfo=UTC)


def test_a_later_window_starts_two_buckets_before_the_cursor() -> None:
    now = datetime(2026, 3, 14, 9, 25, tzinfo=UTC)
    assert window_start("2026-03-14T08:00:00+00:00", now, HOUR, 30) == datetime(2026, 3, 14, 6, tzinfo=UTC)
    assert window_start("2026-03-14T10:00:00+01:00", now, HOUR, 30) == datetime(2026, 3, 14, 7, tzinfo=UTC)
    assert window_start("2026-03-14T08:00:00", now, HOUR, 30) == datetime(2026, 3, 14, 6, tzinfo=UTC)
    assert window_start("2026-03-14", now, DAY, 30) == datetime(2026, 3, 12, tzinfo=UTC)
    # A cursor far back is followed, however old: no bucket is skipped.
    assert window_start("2025-01-01", now, DAY, 3) == datetime(2024, 12, 30, tzinfo=UTC)


def test_a_window_always_holds_the_current_bucket_and_a_broken_cursor_backfills() -> None:
    now = datetime(2026, 3, 14, 9, 25, tzinfo=UTC)
    assert window_start("2026-03-20T00:00:00+00:00", now, HOUR, 30) == datetime(2026, 3, 14, 9, tzinfo=UTC)
    assert window_start("yesterday", now, DAY, 2) == datetime(2026, 3, 12, tzinfo=UTC)


def test_cursors_are_iso_days_for_day_buckets_and_iso_times_for_hours() -> None:
    assert cursor_text(datetime(2026, 3, 14, tzinfo=UTC), DAY) == "2026-03-14"
    assert cursor_text(datetime(2026, 3, 14, 8, tzinfo=UTC), HOUR) == "2026-03-14T08:00:00+00:00"
    starts = [datetime(2026, 3, 14, 7, tzinfo=UTC), None, datetime(2026, 3, 14, 8, tzinfo=UTC)]
    assert newest_cursor(starts, None, HOUR) == "2026-03-14T08:00:00+00:00"
    assert newest_cursor([], "2026-03-14T05:00:00+00:00", HOUR) == "2026-03-14T05:00:00+00:00"
    assert newest_cursor(starts, "2026-03-14T09:00:00+00:00", HOUR) == "2026-03-14T09:00:00+00:00"
    assert newest_cursor([None], None, DAY) is None


def test_a_bucket_key_is_stable_and_tells_every_part_apart() -> None:
    start = datetime(2026, 3, 14, 8, tzinfo=UTC)
    key = bucket_key("completions", start, "proj_a", None, False)
    assert key == bucket_key("completions", start, "proj_a", None, False)
    assert len(key) == 64 and int(key, 16) >= 0
    # One instant is one key, whichever offset it was written with.
    assert key == bucket_key("completions", start.astimezone(timezone(timedelta(hours=2))), "proj_a", None, False)
    others = {
        bucket_key("completions", start, "proj_a", "", False),
        bucket_key("completions", start, "proj_a", None, "false"),
        bucket_key("completions", start, "proj_a", None, None),
        bucket_key("completions", start, None, "proj_a", False),
        bucket_key("embeddings", start, "proj_a", None, False),
        bucket_key("completions", start + HOUR, "proj_a", None, False),
        bucket_key("completions", date(2026, 3, 14), "proj_a", None, False),
    }
    assert key not in others and len(others) == 7


def test_an_empty_table_keeps_its_declared_columns() -> None:
    table = empty_rows(USAGE_COLUMNS)
    assert table.num_rows == 0 and table.column_names == list(USAGE_COLUMNS)
    assert table.schema.field("bucket_start").type == pa.timestamp("us", tz="UTC")
    assert table.schema.field("batch").type == pa.bool_()


# --- settings and spec ----------------------------------------------------------------------------------------------


def test_the_spec_declares_merged_usage_tables_with_a_kept_cursor() -> None:
    assert (SPEC.kind, SPEC.asset_group, SPEC.cadence, SPEC.keeps_state) == ("usage", "usage", "0 * * * *", True)
    assert SPEC.credential is not None and (SPEC.credential.env, SPEC.credential.scheme) == (
        "OPENAI_ADMIN_KEY",
        "Bearer",
    )
    assert SPEC.base_url == "https://api.openai.com/v1"
    assert SPEC.dataset == "raw_openai_usage"
    for table in SPEC.tables:
        assert (table.primary_key, table.disposition) == (("bucket_key",), "merge")
        assert table.suite is not None and table.suite.key == ("bucket_key",)
        assert {"fetched_at", "batch_id", "payload"} <= set(table.columns)
    assert {"MODELATLAS_USAGE_BACKFILL_DAYS", "MODELATLAS_OPENAI_USAGE_ENDPOINTS"} <= set(SPEC.variables())


def test_an_unset_admin_key_skips_the_source() -> None:
    assert source_config(SPEC, {}).skip_reason == "skipped: OPENAI_ADMIN_KEY is not set"
    assert source_config(SPEC, {"OPENAI_ADMIN_KEY": "  "}).skip_reason == "skipped: OPENAI_ADMIN_KEY is not set"
    assert source_config(SPEC, {"OPENAI_ADMIN_KEY": "sk-admin-x"}).skip_reason is None


def test_the_endpoints_are_read_from_their_variable() -> None:
    variable = "MODELATLAS_OPENAI_USAGE_ENDPOINTS"
    assert source_config(SPEC, {"OPENAI_ADMIN_KEY": "k"}).options["endpoints"] == DEFAULT_ENDPOINTS
    chosen = source_config(SPEC, {"OPENAI_ADMIN_KEY": "k", variable: " moderations, completions,moderations,"})
    assert chosen.options["endpoints"] == ("moderations", "completions")
    assert parse_endpoints(" , ", variable) == DEFAULT_ENDPOINTS
    assert set(DEFAULT_ENDPOINTS) == set(ENDPOINTS) - {"moderations"}
    with pytest.raises(ConfigurationError, match=r"^MODELATLAS_OPENAI_USAGE_ENDPOINTS holds 'chat'.*completions"):
        parse_endpoints("completions,chat", variable)


# --- rows (pure) ----------------------------------------------------------------------------------------------------


def test_a_completions_result_becomes_one_row_of_every_declared_column() -> None:
    at = datetime(2026, 3, 14, 9, tzinfo=UTC)
    row = usage_row("completions", BUCKET, COMPLETIONS_RESULT, fetched_at=at, batch="b1")
    assert set(row) == set(USAGE_COLUMNS)
    start = datetime(2024, 11, 1, tzinfo=UTC)
    assert row | {"payload": None} == {
        "bucket_key": bucket_key(
            "completions", start, "proj_abc", "user-abc", "key_abc", "gpt-4o-mini-2024-07-18", False, "default"
        ),
        "endpoint": "completions",
        "bucket_start": start,
        "bucket_end": start + HOUR,
        "project_id": "proj_abc",
        "user_id": "user-abc",
        "api_key_id": "key_abc",
        "model": "gpt-4o-mini-2024-07-18",
        "service_tier": "default",
        "batch": False,
        # Every input token, the 4,000 cached ones included; the cached share kept apart.
        "input_tokens": 5000,
        "input_cached_tokens": 4000,
        "output_tokens": 1000,
        "input_audio_tokens": 300,
        "output_audio_tokens": 200,
        "num_model_requests": 5,
        "images": None,
        "characters": None,
        "seconds": None,
        "payload": None,
        "fetched_at": at,
        "batch_id": "b1",
    }
    assert row["payload"] == COMPLETIONS_RESULT


def test_other_endpoints_fill_their_own_counters_and_key_their_own_groups() -> None:
    at = datetime(2026, 3, 14, 9, tzinfo=UTC)
    image = {"images": 2, "num_model_requests": 2, "size": "1024x1024", "source": "image.generation", "model": "d"}
    row = usage_row("images", BUCKET, image, fetched_at=at, batch="b")
    assert (row["images"], row["input_tokens"], row["batch"], row["service_tier"]) == (2, None, None, None)
    edit = usage_row("images", BUCKET, {**image, "source": "image.edit"}, fetched_at=at, batch="b")
    assert edit["bucket_key"] != row["bucket_key"]
    speech = usage_row("audio_speeches", BUCKET, {"characters": 45, "num_model_requests": 1}, fetched_at=at, batch="b")
    assert (speech["characters"], speech["seconds"], speech["project_id"]) == (45, None, None)
    odd = usage_row("embeddings", BUCKET, {"input_tokens": "twelve", "user_id": ""}, fetched_at=at, batch="b")
    assert (odd["input_tokens"], odd["user_id"]) == (None, "")
    assert odd["bucket_key"] != usage_row("embeddings", BUCKET, {}, fetched_at=at, batch="b")["bucket_key"]


def test_a_cost_result_keeps_its_amount_exact() -> None:
    at = datetime(2026, 3, 14, 9, tzinfo=UTC)
    result = {"amount": {"value": 0.06, "currency": "usd"}, "line_item": "gpt-4o, input", "project_id": "proj_a"}
    day = {"start_time": 1730419200, "end_time": 1730505600}
    row = cost_row(day, result, fetched_at=at, batch="b")
    assert set(row) == set(COST_COLUMNS)
    assert (row["amount_usd"], row["currency"], row["api_key_id"]) == (Decimal("0.06"), "usd", None)
    assert row["bucket_end"] - row["bucket_start"] == DAY
    assert row["bucket_key"] == bucket_key("costs", datetime(2024, 11, 1, tzinfo=UTC), "proj_a", "gpt-4o, input", None)
    assert parse_amount(1.1) == Decimal("1.1") and parse_amount("2.50") == Decimal("2.50") and parse_amount(3) == 3
    assert [parse_amount(v) for v in (None, True, "x", float("nan"), {"value": 1})] == [None] * 5


@pytest.mark.parametrize("bucket", [{"start_time": 1}, {"results": None}, [], "x"])
def test_a_bucket_without_results_is_a_source_error(bucket: Any) -> None:
    with pytest.raises(SourceError, match=r"/organization/costs returned a bucket without a `results` list"):
        bucket_results(bucket, "organization/costs")


# --- fetches through the simulator ----------------------------------------------------------------------------------


def test_the_first_run_backfills_and_pages_through_every_bucket(sim: Simulator) -> None:
    served = handler(sim)
    batch, request = fetch(sim, page_size=24)
    since = AT - timedelta(days=3)
    for endpoint in ("completions", "embeddings"):
        loaded = rows(batch, USAGE_TABLE, endpoint)
        for counter in ("input_tokens", "num_model_requests"):
            assert sum(row[counter] for row in loaded) == served.total(endpoint, counter, since, AT) > 0
    completions = rows(batch, USAGE_TABLE, "completions")
    for counter in ("input_cached_tokens", "output_tokens"):
        assert sum(row[counter] for row in completions) == served.total("completions", counter, since, AT)
    assert {row["bucket_start"] for row in completions} <= {since + n * HOUR for n in range(72)}
    # 72 hours at 24 a page: 3 pages per usage endpoint; 4 days of costs (today's partly filled) on one page.
    assert start_times(sim, "/v1/organization/usage/completions") == {since}
    assert len(query_of(sim, "/v1/organization/usage/completions")) == 3
    assert start_times(sim, "/v1/organization/costs") == {datetime(2026, 3, 11, tzinfo=UTC)}
    assert request.stats.pages == len(DEFAULT_ENDPOINTS) * 3 + 1 == len(sim.requests_to(SPEC.name))
    costs = rows(batch, COST_TABLE)
    spent = sum(line["value"] for line in served.cost_lines(datetime(2026, 3, 11, tzinfo=UTC), AT))
    assert abs(sum(row["amount_usd"] for row in costs) - Decimal(repr(spent))) < Decimal("0.000001")
    assert {row["bucket_start"].date() for row in costs} == {date(2026, 3, d) for d in (11, 12, 13, 14)}
    assert batch.state == {"usage_cursor": "2026-03-14T08:00:00+00:00", "cost_cursor": "2026-03-14"}
    assert batch.notes == ("first run: read 3 days of usage and costs",)
    assert batch.metadata["buckets_read"] == {**dict.fromkeys(DEFAULT_ENDPOINTS, 72), "costs": 4}


def test_every_page_asks_for_the_hour_buckets_grouped_by_everything(sim: Simulator) -> None:
    fetch(sim)
    for endpoint in DEFAULT_ENDPOINTS:
        (first, *_) = query_of(sim, f"/v1/organization/usage/{endpoint}")
        assert first["group_by"] == list(GROUP_BY[endpoint])  # repeated, `group_by=a&group_by=b`
        assert (first["bucket_width"], first["limit"], first["end_time"]) == (
            ["1h"],
            ["168"],
            [str(int(AT.timestamp()))],
        )
    (costs,) = query_of(sim, "/v1/organization/costs")
    assert (costs["group_by"], costs["bucket_width"], costs["limit"]) == (["project_id", "line_item"], ["1d"], ["180"])
    # 72 hours fit one page of 168.
    assert len(sim.requests_to(SPEC.name)) == len(DEFAULT_ENDPOINTS) + 1


def test_group_values_land_in_their_columns(sim: Simulator) -> None:
    batch, _ = fetch(sim)
    organization = handler(sim).organization
    keys = {key["id"]: key for key in organization["api_keys"]}
    completions = rows(batch, USAGE_TABLE, "completions")
    streams = {
        (s["api_key_id"], s["model"], s["batch"], s["service_tier"])
        for s in organization["streams"]
        if s["endpoint"] == "completions"
    }
    assert {(r["api_key_id"], r["model"], r["batch"], r["service_tier"]) for r in completions} == streams
    for row in completions:
        key = keys[row["api_key_id"]]
        assert (row["project_id"], row["user_id"]) == (key["project_id"], key["user_id"])
        assert row["payload"]["object"] == "organization.usage.completions.result"
    assert {row["service_tier"] for row in completions} == {"default", "flex", "priority"}
    assert {row["user_id"] for row in completions} == {*(u["id"] for u in organization["users"]), None}
    embeddings = rows(batch, USAGE_TABLE, "embeddings")
    assert {row["model"] for row in embeddings} == {"text-embedding-3-small"}
    assert all(row["batch"] is None and row["output_tokens"] is None for row in embeddings)
    assert len({row["bucket_key"] for row in rows(batch, USAGE_TABLE)}) == len(rows(batch, USAGE_TABLE))
    costs = rows(batch, COST_TABLE)
    assert {row["project_id"] for row in costs} == {p["id"] for p in organization["projects"]}
    assert "gpt-4o-2024-08-06, cached input" in {row["line_item"] for row in costs}
    assert {row["currency"] for row in costs} == {"usd"}


def test_cached_input_is_part_of_input_and_kept_apart(sim: Simulator) -> None:
    batch, _ = fetch(sim)
    completions = rows(batch, USAGE_TABLE, "completions")
    assert all(0 <= row["input_cached_tokens"] <= row["input_tokens"] for row in completions)
    assert any(0 < row["input_cached_tokens"] < row["input_tokens"] for row in completions)
    assert any(row["batch"] and row["input_cached_tokens"] == 0 for row in completions)
    hour = AT - 2 * HOUR
    served = handler(sim).usage("completions", hour, hour + HOUR)
    loaded = [row for row in completions if row["bucket_start"] == hour]
    assert sorted((r["input_tokens"], r["input_cached_tokens"]) for r in loaded) == sorted(
        (r["input_tokens"], r["input_cached_tokens"]) for r in served
    )


def test_empty_buckets_are_read_and_give_no_rows(sim: Simulator) -> None:
    batch, _ = fetch(sim)
    # No stream runs at 05:00 UTC; nothing uses images or audio.
    quiet = {datetime(2026, 3, d, 5, tzinfo=UTC) for d in (11, 12, 13, 14)}
    assert not quiet & {row["bucket_start"] for row in rows(batch, USAGE_TABLE)}
    assert {row["endpoint"] for row in rows(batch, USAGE_TABLE)} == {"completions", "embeddings"}
    assert batch.metadata["buckets_read"]["images"] == 72


def test_a_second_run_starts_two_buckets_before_the_saved_cursors(sim: Simulator) -> None:
    first, _ = fetch(sim)
    sim.clear()
    handler(sim).advance(hours=3)
    second, _ = fetch(sim, state=first.state)
    assert start_times(sim, "/v1/organization/usage/completions") == {AT - 3 * HOUR}  # 08:00 minus two hours
    assert start_times(sim, "/v1/organization/costs") == {datetime(2026, 3, 12, tzinfo=UTC)}
    assert {row["bucket_start"] for row in rows(second, USAGE_TABLE)} == {AT + n * HOUR for n in range(-3, 3)}
    assert second.state == {"usage_cursor": "2026-03-14T11:00:00+00:00", "cost_cursor": "2026-03-14"}
    assert second.notes == ()


def test_a_run_with_nothing_new_keeps_the_cursor(sim: Simulator) -> None:
    kept = {"usage_cursor": "2026-03-14T08:00:00+00:00", "cost_cursor": "2026-03-14"}
    batch, _ = fetch(sim, state=kept, env={"MODELATLAS_OPENAI_USAGE_ENDPOINTS": "images"})
    assert rows(batch, USAGE_TABLE) == [] and isinstance(batch.tables[USAGE_TABLE], pa.Table)
    assert batch.state == kept


def test_a_bucket_read_twice_keeps_its_key_and_takes_the_restated_counts(sim: Simulator) -> None:
    first, _ = fetch(sim)
    hour = AT - 2 * HOUR
    handler(sim).restate("completions", hour, 1.5)
    handler(sim).restate("costs", AT - DAY, 2.0)
    second, _ = fetch(sim, state=first.state)

    def by_key(batch: Batch, table: str, start: datetime) -> dict[str, dict[str, Any]]:
        return {row["bucket_key"]: row for row in rows(batch, table) if row["bucket_start"] == start}

    before, after = by_key(first, USAGE_TABLE, hour), by_key(second, USAGE_TABLE, hour)
    assert before and set(before) == set(after)
    for key, row in before.items():
        if row["endpoint"] == "completions":
            assert after[key]["input_tokens"] == round(row["input_tokens"] * 1.5)
        else:
            assert after[key]["input_tokens"] == row["input_tokens"]
    # Both fetches ran at the same simulated time: an hour nobody restated comes back as it was.
    assert by_key(first, USAGE_TABLE, AT - HOUR) == by_key(second, USAGE_TABLE, AT - HOUR) != {}
    yesterday = datetime(2026, 3, 13, tzinfo=UTC)
    cost_before, cost_after = by_key(first, COST_TABLE, yesterday), by_key(second, COST_TABLE, yesterday)
    assert cost_before and set(cost_before) == set(cost_after)
    for key, row in cost_before.items():
        assert abs(cost_after[key]["amount_usd"] - 2 * row["amount_usd"]) < Decimal("0.00000001")


def test_usage_grows_as_the_clock_moves(sim: Simulator) -> None:
    served = handler(sim)
    before = served.total("completions", "num_model_requests", AT - DAY, AT + DAY)
    served.advance(hours=1.5)
    # The hour 10:00-11:00 is half over: it is served half filled.
    half = served.usage("completions", AT + HOUR, AT + 2 * HOUR)
    served.advance(hours=0.5)
    full = served.usage("completions", AT + HOUR, AT + 2 * HOUR)
    assert served.total("completions", "num_model_requests", AT - DAY, AT + DAY) > before
    assert 0 < sum(r["num_model_requests"] for r in half) < sum(r["num_model_requests"] for r in full)


def test_a_wrong_key_fails_at_once_without_the_key(sim: Simulator) -> None:
    wrong = "sk-admin-wrong-0000000000000000"
    with pytest.raises(AuthenticationError, match=r"rejected the API key \(401\): check OPENAI_ADMIN_KEY") as raised:
        fetch(sim, env={"OPENAI_ADMIN_KEY": wrong})
    assert wrong not in str(raised.value)
    assert "Incorrect API key provided" in str(raised.value)
    assert len(sim.requests_to(SPEC.name)) == 1


def test_a_rate_limit_is_waited_out_and_retried(sim: Simulator) -> None:
    sim.inject(SPEC.name, Fault("rate_limit", skip=1, retry_after_s=0.01))
    batch, request = fetch(sim, env={"MODELATLAS_OPENAI_USAGE_ENDPOINTS": "completions"})
    paths = [r.path for r in sim.requests_to(SPEC.name)]
    assert paths == [
        "/v1/organization/usage/completions",
        "/v1/organization/costs",
        "/v1/organization/costs",
    ]
    assert (request.stats.pages, request.stats.requests) == (2, 3)
    assert rows(batch, COST_TABLE)


def test_a_batch_and_an_empty_batch_pass_the_quality_gate(sim: Simulator) -> None:
    batch, _ = fetch(sim)
    gate = gate_batch(SPEC, batch, {}, GateSettings(), now=AT)
    assert not gate.blocked and gate.quarantined_counts() == {USAGE_TABLE: 0, COST_TABLE: 0}
    empty = Batch(tables={USAGE_TABLE: empty_rows(USAGE_COLUMNS), COST_TABLE: empty_rows(COST_COLUMNS)}, origin="x")
    assert not gate_batch(SPEC, empty, {}, GateSettings(), now=AT).blocked


# --- the simulator --------------------------------------------------------------------------------------------------


def test_the_simulator_answers_like_openai(sim: Simulator) -> None:
    base = sim.root_url(SPEC.name) + "/v1/organization"
    auth = {"Authorization": f"Bearer {handler(sim).api_key}"}
    start = int((AT - DAY).timestamp())
    refused = httpx.get(f"{base}/costs", params={"start_time": start}, headers={"Authorization": "Bearer sk-no"})
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "invalid_api_key"
    assert set(refused.json()["error"]) == {"message", "type", "param", "code"}
    bad: list[tuple[dict[str, str | int], str]] = [
        ({}, "start_time"),
        ({"start_time": start, "bucket_width": "1h", "limit": 169}, "limit"),
        ({"start_time": start, "group_by": "line_item"}, "group_by"),
        ({"start_time": start, "bucket_width": "2h"}, "bucket_width"),
        ({"start_time": start, "page": "page_nonsense"}, "page"),
    ]
    for params, param in bad:
        answer = httpx.get(f"{base}/usage/completions", params=params, headers=auth)
        assert (answer.status_code, answer.json()["error"]["param"]) == (400, param)
    daily = httpx.get(f"{base}/usage/completions", params={"start_time": start}, headers=auth).json()
    # Ungrouped: one result per bucket, every group field null.
    (result,) = daily["data"][0]["results"]
    assert (result["model"], result["batch"], result["project_id"]) == (None, None, None)
    assert (daily["data"][0]["end_time"] - daily["data"][0]["start_time"], daily["has_more"]) == (86400, False)
    by_model = httpx.get(
        f"{base}/usage/embeddings",
        params={"start_time": start, "bucket_width": "1h", "group_by": ["project_id"], "limit": 5},
        headers=auth,
    ).json()
    assert len(by_model["data"]) == 5 and by_model["has_more"] is True and by_model["next_page"].startswith("page_")
    assert all(set(r) >= {"project_id", "model"} and r["model"] is None for b in by_model["data"] for r in b["results"])
    assert httpx.get(f"{base}/usage/vector_stores", params={"start_time": start}, headers=auth).status_code == 404


def test_restating_an_unknown_endpoint_is_a_key_error(sim: Simulator) -> None:
    with pytest.raises(KeyError, match="no usage endpoint 'chat'"):
        handler(sim).restate("chat", AT, 2.0)
