"""The LiteLLM spend log's mapping: one row per spend-log record, cache tokens found wherever LiteLLM's version keeps
them in `metadata`, columns an older proxy lacks left null, no key ever loaded unhashed, LiteLLM's spend kept exact;
the database URL kept out of every message; the window read again an hour back from the saved cursor."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
import pyarrow as pa
import pytest
import sqlalchemy as sa

from modelatlas.errors import AuthenticationError, ConfigurationError, SourceError, SourceUnreachableError
from modelatlas.pipelines.litellm_spend import (
    COLUMNS,
    DB_URL_VARIABLE,
    SCHEMA,
    SOURCE_COLUMNS,
    SPEC,
    TABLE,
    cache_hit,
    cache_tokens,
    key_hash,
    next_cursor,
    parse_db_url,
    read_error,
    read_from,
    spend_amount,
    spend_row,
    spend_table,
)
from modelatlas.pipelines.quality import GateSettings
from modelatlas.pipelines.quality.gate import gate_batch
from modelatlas.pipelines.registry import sources
from modelatlas.pipelines.spec import Batch
from modelatlas.redaction import REDACTED, redact
from modelatlas.settings import source_config

AT = datetime(2026, 3, 14, 9, 0, tzinfo=UTC)
BATCH = "20260314T090000.000000Z"
KEY_HASH = hashlib.sha256(b"sk-live-key").hexdigest()
PASSWORD = "pr0xy-s3cret/pw"
ENCODED = PASSWORD.replace("/", "%2F")
URL = f"postgresql://litellm:{ENCODED}@db.internal:6543/litellm?schema=public&connection_limit=5"
# A record as a current proxy writes it (LiteLLM's column names; jsonb handed over as text).
RECORD: dict[str, Any] = {
    "request_id": "chatcmpl-1",
    "call_type": "acompletion",
    "api_key": KEY_HASH,
    "spend": 0.00123,
    "total_tokens": 1400,
    "prompt_tokens": 1200,
    "completion_tokens": 200,
    "startTime": datetime(2026, 3, 14, 8, 15, 2, 123000),
    "endTime": datetime(2026, 3, 14, 8, 15, 4, 456000),
    "model": "claude-sonnet-4-5-20250929",
    "model_group": "claude-sonnet",
    "custom_llm_provider": "anthropic",
    "api_base": "https://api.anthropic.com/v1/messages",
    "user": "li",
    "metadata": '{"usage_object": {"cache_read_input_tokens": 800, "cache_creation_input_tokens": 100}}',
    "cache_hit": "False",
    "request_tags": '["search", "prod"]',
    "team_id": "team-search",
    "end_user": "",
}


def row(**changes: Any) -> dict[str, Any]:
    return spend_row({**RECORD, **changes}, fetched_at=AT, batch=BATCH)


# --- one record -----------------------------------------------------------------------------------------------------


def test_a_record_becomes_one_row_with_every_declared_column() -> None:
    mapped = row()
    assert set(mapped) == set(COLUMNS)
    assert mapped == {
        "request_id": "chatcmpl-1",
        "started_at": datetime(2026, 3, 14, 8, 15, 2, 123000, tzinfo=UTC),
        "ended_at": datetime(2026, 3, 14, 8, 15, 4, 456000, tzinfo=UTC),
        "call_type": "acompletion",
        "model": "claude-sonnet-4-5-20250929",
        "model_group": "claude-sonnet",
        "custom_llm_provider": "anthropic",
        "api_base": "https://api.anthropic.com/v1/messages",
        "api_key_hash": KEY_HASH,
        "user_id": "li",
        "team_id": "team-search",
        "end_user": None,
        "prompt_tokens": 1200,
        "completion_tokens": 200,
        "total_tokens": 1400,
        "cached_tokens": 800,
        "cache_write_tokens": 100,
        "spend_usd": Decimal("0.00123"),
        "request_tags": '["search","prod"]',
        "cache_hit": False,
        "fetched_at": AT,
        "batch_id": BATCH,
    }


@pytest.mark.parametrize(
    ("metadata", "expected"),
    [
        # A current proxy: the response's usage kept as `usage_object`, OpenAI's cached tokens in its details.
        ({"usage_object": {"prompt_tokens_details": {"cached_tokens": 1024}}}, (1024, None)),
        # Anthropic through LiteLLM: both names, the details one left 0.
        (
            {
                "usage_object": {
                    "cache_read_input_tokens": 800,
                    "cache_creation_input_tokens": 64,
                    "prompt_tokens_details": {"cached_tokens": 0},
                }
            },
            (800, 64),
        ),
        # An older proxy: the usage beyond the three counts kept as `additional_usage_values`.
        ({"additional_usage_values": {"cache_read_input_tokens": 12, "cache_creation_input_tokens": 0}}, (12, 0)),
        ({"additional_usage_values": {"prompt_tokens_details": {"cached_tokens": 7, "audio_tokens": None}}}, (7, None)),
        # The newer place wins over the older one.
        (
            {
                "usage_object": {"cache_read_input_tokens": 5},
                "additional_usage_values": {"cache_read_input_tokens": 9},
            },
            (5, None),
        ),
        # An empty `usage_object` says nothing: the older place is read.
        ({"usage_object": None, "additional_usage_values": {"cache_creation_input_tokens": 3}}, (None, 3)),
        ({"cache_read_input_tokens": 4}, (4, None)),
        # As jsonb read as text.
        ('{"usage_object": {"prompt_tokens_details": {"cached_tokens": 2}}}', (2, None)),
        ({"usage_object": {"prompt_tokens_details": None, "cache_read_input_tokens": None}}, (None, None)),
        ({"usage_object": {"cache_read_input_tokens": -1, "cache_creation_input_tokens": True}}, (None, None)),
        ({"user_api_key_alias": "search"}, (None, None)),
        ("not json", (None, None)),
        ("[]", (None, None)),
        ({}, (None, None)),
        (None, (None, None)),
    ],
)
def test_cache_tokens_are_read_from_whichever_place_the_proxy_keeps_usage(
    metadata: Any, expected: tuple[int | None, int | None]
) -> None:
    assert cache_tokens(metadata) == expected


def test_a_record_of_an_older_proxy_without_the_newer_columns_leaves_them_null() -> None:
    newer = ("model_group", "custom_llm_provider", "api_base", "team_id", "end_user", "request_tags", "cache_hit")
    old = {name: value for name, value in RECORD.items() if name not in newer}
    mapped = spend_row(old, fetched_at=AT, batch=BATCH)
    assert {name: mapped[name] for name in ("model_group", "custom_llm_provider", "team_id", "cache_hit")} == {
        "model_group": None,
        "custom_llm_provider": None,
        "team_id": None,
        "cache_hit": None,
    }
    assert mapped["request_tags"] is None and mapped["api_base"] is None and mapped["end_user"] is None
    assert (mapped["prompt_tokens"], mapped["cached_tokens"], mapped["spend_usd"]) == (1200, 800, Decimal("0.00123"))
    without_metadata = spend_row({"request_id": "r", "startTime": AT, "model": "m"}, fetched_at=AT, batch=BATCH)
    assert without_metadata["cached_tokens"] is None and without_metadata["spend_usd"] is None


def test_empty_strings_litellm_writes_for_none_are_null_and_the_model_is_kept_as_written() -> None:
    mapped = row(user="", team_id="", model_group="", custom_llm_provider="", api_base="", model="")
    assert [mapped[c] for c in ("user_id", "team_id", "model_group", "custom_llm_provider", "api_base")] == [None] * 5
    assert mapped["model"] == ""
    assert row(model="gpt-4o")["model"] == "gpt-4o"


def test_a_time_with_an_offset_is_converted_and_a_naive_one_read_as_utc() -> None:
    assert row(startTime=datetime(2026, 3, 14, 8, 15))["started_at"] == datetime(2026, 3, 14, 8, 15, tzinfo=UTC)
    aware = datetime.fromisoformat("2026-03-14T10:15:00+02:00")
    assert row(startTime=aware)["started_at"] == datetime(2026, 3, 14, 8, 15, tzinfo=UTC)
    assert row(startTime=None)["started_at"] is None


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        (KEY_HASH, KEY_HASH),
        ("litellm_proxy_master_key", "litellm_proxy_master_key"),
        # A raw key an old proxy kept is hashed the way LiteLLM hashes keys: the same value its key table holds.
        ("sk-live-key", KEY_HASH),
        (KEY_HASH.upper(), hashlib.sha256(KEY_HASH.upper().encode()).hexdigest()),
        ("", None),
        (None, None),
    ],
)
def test_the_api_key_column_is_only_ever_loaded_as_a_hash(stored: Any, expected: str | None) -> None:
    assert key_hash(stored) == expected
    assert row(api_key=stored)["api_key_hash"] == expected


@pytest.mark.parametrize(
    ("spend", "expected"),
    [
        (0.00123, Decimal("0.00123")),
        (12.34, Decimal("12.34")),
        (1.2345678901234567e-05, Decimal("0.000012345678901235")),
        (0, Decimal(0)),
        (0.0, Decimal(0)),
        (float("nan"), None),
        (float("inf"), None),
        (1e12, None),
        (True, None),
        (None, None),
    ],
)
def test_litellms_spend_is_kept_as_the_exact_decimal_it_prints(spend: Any, expected: Decimal | None) -> None:
    assert spend_amount(spend) == expected


@pytest.mark.parametrize(
    ("stored", "expected"),
    [("True", True), ("False", False), ("None", None), ("", None), (None, None), (True, True), ("true", True)],
)
def test_cache_hit_as_litellm_writes_it_is_a_boolean(stored: Any, expected: bool | None) -> None:
    assert cache_hit(stored) is expected


def test_request_tags_are_kept_as_compact_json_text() -> None:
    assert row(request_tags='["a"]')["request_tags"] == '["a"]'
    assert row(request_tags=["a", "b"])["request_tags"] == '["a","b"]'
    assert row(request_tags=None)["request_tags"] is None
    assert row(request_tags="not json")["request_tags"] is None


# --- a chunk --------------------------------------------------------------------------------------------------------


def test_a_chunk_of_any_columns_becomes_the_declared_arrow_table() -> None:
    older = pa.Table.from_pylist(
        [{name: RECORD[name] for name in ("request_id", "startTime", "model", "spend", "prompt_tokens")}]
    )
    table = spend_table(older, fetched_at=AT, batch=BATCH)
    assert table.schema == SCHEMA and table.num_rows == 1
    assert table.column("spend_usd").to_pylist() == [Decimal("0.00123")]
    assert table.column("custom_llm_provider").to_pylist() == [None]
    current = pa.Table.from_pylist([RECORD, {**RECORD, "request_id": "chatcmpl-2", "metadata": None}])
    assert spend_table(current, fetched_at=AT, batch=BATCH).column("cached_tokens").to_pylist() == [800, None]


def test_a_batch_passes_the_gate_and_a_row_with_negative_tokens_or_no_model_is_quarantined() -> None:
    records = [RECORD, {**RECORD, "request_id": "r-2", "prompt_tokens": -5}, {**RECORD, "request_id": "r-3"}]
    records[2]["model"] = None
    table = spend_table(pa.Table.from_pylist(records), fetched_at=AT, batch=BATCH)
    gate = gate_batch(SPEC, Batch(tables={TABLE: table}, origin="x"), {}, GateSettings(), now=AT)
    assert not gate.blocked and gate.quarantined_counts() == {TABLE: 2}
    empty = Batch(tables={TABLE: SCHEMA.empty_table()}, origin="x")
    assert not gate_batch(SPEC, empty, {}, GateSettings(), now=AT).blocked


# --- the window -----------------------------------------------------------------------------------------------------


def test_the_first_run_reads_the_backfill_and_later_ones_an_hour_before_the_cursor() -> None:
    assert read_from(None, AT, 30) == AT - timedelta(days=30)
    assert read_from("2026-03-14T08:15:02.123000+00:00", AT, 30) == datetime(2026, 3, 14, 7, 15, 2, 123000, tzinfo=UTC)
    assert read_from("not a time", AT, 2) == AT - timedelta(days=2)


def test_the_cursor_is_the_newest_start_never_older_than_the_kept_one_nor_after_now() -> None:
    starts = [datetime(2026, 3, 14, 8, 0, tzinfo=UTC), None, datetime(2026, 3, 14, 8, 30, tzinfo=UTC)]
    assert next_cursor(starts, None, AT) == "2026-03-14T08:30:00+00:00"
    assert next_cursor(starts, "2026-03-14T08:45:00+00:00", AT) == "2026-03-14T08:45:00+00:00"
    assert next_cursor([], "2026-03-14T08:45:00+00:00", AT) == "2026-03-14T08:45:00+00:00"
    assert next_cursor([AT + timedelta(minutes=5)], None, AT) == AT.isoformat()
    assert next_cursor([], None, AT) is None


# --- the database URL -----------------------------------------------------------------------------------------------


def test_the_url_gives_host_database_and_prisma_schema_and_is_never_shown() -> None:
    database = parse_db_url(URL, DB_URL_VARIABLE)
    assert (database.host, database.port, database.database, database.user) == (
        "db.internal",
        6543,
        "litellm",
        "litellm",
    )
    assert database.password == PASSWORD and database.schema == "public" and database.query == ()
    assert database.where == "database litellm on db.internal:6543"
    assert PASSWORD not in repr(database)
    assert PASSWORD not in str(database.engine().url) and database.engine().url.password == PASSWORD
    # Parsing it registered the password: any text that carries it is redacted.
    assert redact(f"failed for {PASSWORD} at {URL}") == f"failed for {REDACTED} at {REDACTED}"
    kept = parse_db_url("postgres://u:pw-123456@h/db?sslmode=require&pool_timeout=3", DB_URL_VARIABLE)
    assert kept.query == (("sslmode", "require"),) and kept.port == 5432 and kept.schema is None


@pytest.mark.parametrize(
    ("url", "says"),
    [
        (f"mysql://u:{ENCODED}@h/db", "must be a postgresql:// URL"),
        (f"postgresql://u:{ENCODED}@h:5432", "names no database"),
        (f"postgresql://u:{ENCODED}@h:99999/db", "no URL with a valid port"),
    ],
)
def test_a_wrong_url_says_what_to_fix_without_repeating_it(url: str, says: str) -> None:
    with pytest.raises(ConfigurationError, match=says) as raised:
        parse_db_url(url, DB_URL_VARIABLE)
    assert PASSWORD not in str(raised.value) and DB_URL_VARIABLE in str(raised.value)


def test_the_source_is_skipped_without_its_url_and_configured_with_it() -> None:
    assert SPEC in sources()
    assert source_config(SPEC, {}).skip_reason == f"skipped: {DB_URL_VARIABLE} is not set"
    assert source_config(SPEC, {DB_URL_VARIABLE: "  "}).skip_reason == f"skipped: {DB_URL_VARIABLE} is not set"
    config = source_config(SPEC, {DB_URL_VARIABLE: URL, "MODELATLAS_USAGE_BACKFILL_DAYS": "3"})
    assert config.skip_reason is None and config.options["backfill_days"] == 3
    assert config.options["database"].where == "database litellm on db.internal:6543"
    assert set(SOURCE_COLUMNS) >= {"request_id", "startTime", "spend", "metadata"}


def _wrapped(error: BaseException) -> BaseException:
    """`error` as the engine meets it: psycopg's, inside SQLAlchemy's, inside dlt's."""
    try:
        try:
            raise sa.exc.OperationalError("select 1", {}, error)
        except sa.exc.OperationalError as db_error:
            raise RuntimeError("extraction of resource LiteLLM_SpendLogs failed") from db_error
    except RuntimeError as outer:
        return outer


def test_database_errors_name_the_host_and_database_and_never_the_password() -> None:
    database = parse_db_url(URL, DB_URL_VARIABLE)
    refused = psycopg.OperationalError('connection to server at "db.internal", port 6543 failed: Connection refused')
    unreachable = read_error(_wrapped(refused), database)
    assert isinstance(unreachable, SourceUnreachableError)
    assert "cannot reach the database litellm on db.internal:6543" in str(unreachable)
    denied = psycopg.OperationalError(f'FATAL:  password authentication failed for user "litellm" ({PASSWORD})')
    refusal = read_error(_wrapped(denied), database)
    assert isinstance(refusal, AuthenticationError) and DB_URL_VARIABLE in str(refusal)
    assert PASSWORD not in str(refusal)
    missing = SourceError('the database has no "LiteLLM_SpendLogs" table')
    assert read_error(RuntimeError("no database error"), database) is None
    try:
        raise RuntimeError("wrapped") from missing
    except RuntimeError as outer:
        assert read_error(outer, database) is missing
