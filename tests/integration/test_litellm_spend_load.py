"""The LiteLLM spend log through the production path: a real `"LiteLLM_SpendLogs"` table (LiteLLM's quoted,
mixed-case columns) in a database of its own, read by a role of its own, fetched, gated and loaded by the engine;
rows land with LiteLLM's spend beside them, a second run reads on from the cursor (a late row within the hour read
again) without doubling a row, and the role's password shows up nowhere."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from psycopg import sql

from modelatlas.errors import ConfigurationError, SourceUnreachableError
from modelatlas.pipelines.engine import load_standalone
from modelatlas.pipelines.litellm_spend import DB_URL_VARIABLE, SPEC
from modelatlas.warehouse import ConnectionInfo, read_only_query
from modelatlas.warehouse.service import connect, ensure_database
from tests.conftest import free_port

DATABASE = "litellm_proxy"
ROLE = "litellm_spend_reader"
PASSWORD = "Spend-Logs-pw-42"
KEY_HASH = "88dc28d0f030c55ed4ab77ed8faf098196cb1c05df778539800c9f1243fe6b4b"
# LiteLLM's table as its Prisma schema creates it (the columns this source reads, and two it must leave alone).
DDL = """
create table "LiteLLM_SpendLogs" (
    request_id text primary key,
    call_type text not null,
    api_key text not null default '',
    spend double precision not null default 0.0,
    total_tokens integer not null default 0,
    prompt_tokens integer not null default 0,
    completion_tokens integer not null default 0,
    "startTime" timestamp(3) not null,
    "endTime" timestamp(3) not null,
    "completionStartTime" timestamp(3),
    model text not null default '',
    model_id text default '',
    model_group text default '',
    custom_llm_provider text default '',
    api_base text default '',
    "user" text default '',
    metadata jsonb default '{}',
    cache_hit text default '',
    cache_key text default '',
    request_tags jsonb default '[]',
    team_id text,
    end_user text,
    messages jsonb default '{}',
    response jsonb default '{}'
)
"""
COLUMNS = (
    "request_id",
    "call_type",
    "api_key",
    "spend",
    "total_tokens",
    "prompt_tokens",
    "completion_tokens",
    "startTime",
    "endTime",
    "model",
    "model_group",
    "custom_llm_provider",
    "user",
    "metadata",
    "cache_hit",
    "request_tags",
    "team_id",
    "messages",
)


@dataclass(frozen=True)
class Proxy:
    """The proxy's database: the warehouse's role to write rows, the reader's URL for the source."""

    admin: ConnectionInfo
    url: str


@pytest.fixture
def proxy(connection: ConnectionInfo) -> Iterator[Proxy]:
    ensure_database(connection, DATABASE)
    admin = connection.with_database(DATABASE)
    with connect(admin, autocommit=True) as conn:
        conn.execute('drop table if exists "LiteLLM_SpendLogs"')
        conn.execute(DDL)
        conn.execute(f"drop role if exists {ROLE}")
        conn.execute(sql.SQL("create role {} login password {}").format(sql.Identifier(ROLE), sql.Literal(PASSWORD)))
        conn.execute(f'grant select on "LiteLLM_SpendLogs" to {ROLE}')
    host = f"[{connection.host}]" if ":" in connection.host else connection.host
    yield Proxy(admin=admin, url=f"postgresql://{ROLE}:{PASSWORD}@{host}:{connection.port}/{DATABASE}?schema=public")
    with connect(admin, autocommit=True) as conn:
        conn.execute('drop table if exists "LiteLLM_SpendLogs"')
        conn.execute(f"drop role if exists {ROLE}")


def record(number: int, started: datetime, **changes: Any) -> dict[str, Any]:
    """One spend-log row as a proxy writes it (naive UTC times, `str(bool)` for cache_hit)."""
    anthropic = number % 2 == 0
    usage: dict[str, Any] = (
        {"cache_read_input_tokens": 10 * number, "cache_creation_input_tokens": number}
        if anthropic
        else {"prompt_tokens_details": {"cached_tokens": 5 * number}}
    )
    return {
        "request_id": f"req-{number:03d}",
        "call_type": "acompletion",
        "api_key": KEY_HASH,
        "spend": round(0.0001 * number + 0.00000123, 8),
        "total_tokens": 1000 + 11 * number,
        "prompt_tokens": 1000 + 10 * number,
        "completion_tokens": number,
        "startTime": started.replace(tzinfo=None),
        "endTime": (started + timedelta(seconds=2)).replace(tzinfo=None),
        "model": "claude-sonnet-4-5" if anthropic else "gpt-4o-2024-08-06",
        "model_group": "sonnet" if anthropic else "gpt-4o",
        "custom_llm_provider": "anthropic" if anthropic else "openai",
        "user": f"user-{number % 3}",
        "metadata": json.dumps({"usage_object": usage, "user_api_key_alias": "search"}),
        "cache_hit": "False",
        "request_tags": json.dumps(["search"]),
        "team_id": "team-search" if number % 3 else "",
        "messages": json.dumps({"prompt": "never read"}),
        **changes,
    }


def insert(proxy: Proxy, records: Sequence[dict[str, Any]]) -> None:
    statement = sql.SQL('insert into "LiteLLM_SpendLogs" ({}) values ({})').format(
        sql.SQL(", ").join(map(sql.Identifier, COLUMNS)), sql.SQL(", ").join(sql.Placeholder() * len(COLUMNS))
    )
    with connect(proxy.admin, autocommit=True) as conn, conn.cursor() as cursor:
        cursor.executemany(statement, [[row[name] for name in COLUMNS] for row in records])


def loaded(connection: ConnectionInfo) -> dict[str, tuple[Any, ...]]:
    _, rows = read_only_query(
        connection,
        "select request_id, spend_usd, prompt_tokens, cached_tokens, cache_write_tokens, custom_llm_provider,"
        " team_id, api_key_hash from raw_litellm_spend.spend_logs",
    )
    return {row[0]: tuple(row[1:]) for row in rows}


def test_spend_rows_land_incrementally_without_doubles_and_the_password_shows_nowhere(
    connection: ConnectionInfo, proxy: Proxy, tmp_path: Path
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    first_rows = [record(n, now - timedelta(hours=3) + timedelta(minutes=5 * n)) for n in range(1, 21)]
    too_old = record(99, now - timedelta(days=40))
    insert(proxy, [*first_rows, too_old])
    env = {DB_URL_VARIABLE: proxy.url}
    pipelines = tmp_path / "pipelines"

    first = load_standalone(SPEC, connection, pipelines, env=env)
    assert not first.blocked and first.loaded_rows("spend_logs") == 20
    assert (
        first.batch.origin == f'"LiteLLM_SpendLogs" in the database {DATABASE} on {connection.host}:{connection.port}'
    )
    assert first.batch.notes == ("first run: read 30 days of spend logs",)
    rows = loaded(connection)
    assert set(rows) == {row["request_id"] for row in first_rows}
    for row in first_rows:
        number = int(row["request_id"][-3:])
        spend, prompt, cached, written, provider, team, key = rows[row["request_id"]]
        assert spend == Decimal(repr(row["spend"])) and prompt == row["prompt_tokens"]
        assert (cached, written) == ((10 * number, number) if number % 2 == 0 else (5 * number, None))
        assert provider == row["custom_llm_provider"] and key == KEY_HASH
        assert team == (row["team_id"] or None)
    _, types = read_only_query(
        connection,
        "select column_name, data_type from information_schema.columns where table_schema = 'raw_litellm_spend'"
        " and table_name = 'spend_logs' and column_name in ('started_at', 'spend_usd', 'request_tags', 'cache_hit')"
        " order by column_name",
    )
    assert types == [
        ("cache_hit", "boolean"),
        ("request_tags", "jsonb"),
        ("spend_usd", "numeric"),
        ("started_at", "timestamp with time zone"),
    ]

    newest = max(row["startTime"] for row in first_rows).replace(tzinfo=UTC)
    later = [record(n, now - timedelta(minutes=50) + timedelta(minutes=5 * (n - 21))) for n in range(21, 26)]
    # Written by the proxy after the first run, started before the newest row that run loaded.
    late = record(26, newest - timedelta(minutes=40))
    insert(proxy, [*later, late])
    second = load_standalone(SPEC, connection, pipelines, env=env)
    assert not second.blocked and second.batch.notes == ()
    # The hour before the cursor is read again: the rows already loaded in it replace themselves.
    reread = [row for row in first_rows if row["startTime"].replace(tzinfo=UTC) >= newest - timedelta(hours=1)]
    assert second.loaded_rows("spend_logs") == len(reread) + len(later) + 1
    rows = loaded(connection)
    assert set(rows) == {row["request_id"] for row in [*first_rows, *later, late]}
    _, counts = read_only_query(
        connection, "select count(*), count(distinct request_id) from raw_litellm_spend.spend_logs"
    )
    assert counts == [(26, 26)]

    said = [load.report() for load in (first, second)]
    said += [json.dumps(load.batch.metadata, default=str) for load in (first, second)]
    _, dq = read_only_query(
        connection,
        "select coalesce(string_agg(v::text, ' '), '') from dq.validation_results v where source = 'litellm_spend'",
    )
    _, quarantine = read_only_query(connection, "select count(*) from dq.quarantine where source = 'litellm_spend'")
    assert quarantine == [(0,)]
    assert dq[0][0] and all(PASSWORD not in text and proxy.url not in text for text in [*said, dq[0][0]])


def test_without_its_url_the_source_is_skipped(connection: ConnectionInfo, tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=f"skipped: {DB_URL_VARIABLE} is not set"):
        load_standalone(SPEC, connection, tmp_path, env={})


def test_an_unreachable_database_is_named_by_its_host_never_its_password(
    connection: ConnectionInfo, tmp_path: Path
) -> None:
    port = free_port()
    env = {DB_URL_VARIABLE: f"postgresql://{ROLE}:{PASSWORD}@127.0.0.1:{port}/{DATABASE}"}
    with pytest.raises(SourceUnreachableError) as raised:
        load_standalone(SPEC, connection, tmp_path, env=env)
    message = str(raised.value)
    assert f"cannot reach the database {DATABASE} on 127.0.0.1:{port}" in message and DB_URL_VARIABLE in message
    assert PASSWORD not in message
