"""The LiteLLM proxy's spend log: one row per request the proxy served, read from `"LiteLLM_SpendLogs"` in the
proxy's own PostgreSQL database (`MODELATLAS_LITELLM_SPEND_DB_URL`), with the spend LiteLLM priced it at.

Each run reads the rows whose `"startTime"` is at most an hour before the newest one the last run loaded (the proxy
writes its log in batches, so a request can land after later ones); the first run reads
`MODELATLAS_USAGE_BACKFILL_DAYS`. Rows are merged on `request_id`, so a row read again replaces itself.

The table is read with dlt's `sql_table` (pyarrow backend) over a reflection of the table as it is: LiteLLM adds
columns from version to version, and a column the proxy's version lacks is left null. Prompts and responses, which
the proxy can keep in the same table, are never read. The URL holds the database's password: it never appears in a
message, only the host and database name do.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa
from dlt.sources.sql_database import sql_table

from modelatlas.errors import AuthenticationError, ConfigurationError, SourceError, SourceUnreachableError
from modelatlas.pipelines.catalog import batch_id
from modelatlas.pipelines.coerce import as_integer, as_mapping, as_text
from modelatlas.pipelines.quality.suite import Suite
from modelatlas.pipelines.spec import Batch, DataType, Request, Setting, SourceSpec, TableSpec
from modelatlas.pipelines.usage_windows import (
    BACKFILL_SETTING,
    DEFAULT_BACKFILL_DAYS,
    as_utc,
    empty_rows,
    parse_cursor,
)
from modelatlas.redaction import redact, register_secret

SOURCE = "litellm_spend"
DB_URL_VARIABLE = "MODELATLAS_LITELLM_SPEND_DB_URL"
SPEND_LOGS = "LiteLLM_SpendLogs"
TABLE = "spend_logs"
# The proxy writes its spend log in batches: rows up to this long before the newest one loaded are read again.
REREAD = timedelta(hours=1)
# A first run over a busy proxy's month stops here; the next run goes on from the newest row it loaded.
ROWS_PER_RUN = 1_000_000
CHUNK_ROWS = 50_000
CONNECT_TIMEOUT_S = 10
# What LiteLLM writes in `api_key` when it is told not to keep the master key's hash.
MASTER_KEY_ALIAS = "litellm_proxy_master_key"
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
# Parameters of the URLs Prisma (LiteLLM's `DATABASE_URL`) reads that libpq refuses; `schema` names the table's schema.
PRISMA_PARAMETERS = frozenset(
    {"schema", "connection_limit", "pool_timeout", "pgbouncer", "statement_cache_size", "socket_timeout", "sslaccept"}
)
_DECIMAL_PLACES = Decimal(1).scaleb(-18)
# No request costs a hundred million dollars: a larger spend is a broken value.
MAX_SPEND_USD = Decimal(10) ** 8
# No request holds a trillion tokens: a bigger count is a broken field.
TOKEN_RANGE = (0, 10**12)

# The spend log's columns this source reads: each may be missing from an older proxy's table.
SOURCE_COLUMNS = (
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
    "api_base",
    "user",
    "metadata",
    "cache_hit",
    "request_tags",
    "team_id",
    "end_user",
)
REQUIRED_SOURCE_COLUMNS = ("request_id", "startTime")
# Text columns whose empty string (LiteLLM's default) means "none".
OPTIONAL_TEXT = {
    "call_type": "call_type",
    "model_group": "model_group",
    "custom_llm_provider": "custom_llm_provider",
    "api_base": "api_base",
    "user": "user_id",
    "team_id": "team_id",
    "end_user": "end_user",
}
TOKEN_COLUMNS = ("prompt_tokens", "completion_tokens", "total_tokens", "cached_tokens", "cache_write_tokens")
COLUMNS: dict[str, DataType] = {
    "request_id": "text",
    "started_at": "timestamp",
    "ended_at": "timestamp",
    "call_type": "text",
    "model": "text",
    "model_group": "text",
    "custom_llm_provider": "text",
    "api_base": "text",
    "api_key_hash": "text",
    "user_id": "text",
    "team_id": "text",
    "end_user": "text",
    **dict.fromkeys(TOKEN_COLUMNS, "bigint"),
    "spend_usd": "decimal",
    "request_tags": "json",
    "cache_hit": "bool",
    "fetched_at": "timestamp",
    "batch_id": "text",
}
SCHEMA = empty_rows(COLUMNS).schema
NOT_NULL = ("request_id", "started_at", "model", "fetched_at", "batch_id")


@dataclass(frozen=True)
class SpendDatabase:
    """The proxy's database as `MODELATLAS_LITELLM_SPEND_DB_URL` names it; only `where` is ever shown."""

    host: str
    port: int
    database: str
    user: str
    schema: str | None = None
    password: str = field(default="", repr=False)
    query: tuple[tuple[str, str], ...] = ()

    @property
    def where(self) -> str:
        """The database and its server, for messages: never the user's password."""
        return f"database {self.database} on {self.host}:{self.port}"

    def engine(self) -> sa.Engine:
        """A SQLAlchemy engine (psycopg 3) that keeps no connection open after use."""
        url = sa.URL.create(
            "postgresql+psycopg",
            username=self.user or None,
            password=self.password or None,
            host=self.host,
            port=self.port,
            database=self.database,
            query=dict(self.query),
        )
        return sa.create_engine(
            url,
            poolclass=sa.pool.NullPool,
            connect_args={"connect_timeout": CONNECT_TIMEOUT_S, "application_name": "modelatlas"},
        )


def parse_db_url(raw: str, variable: str) -> SpendDatabase:
    """The proxy's database from a `postgresql://user:password@host:port/database` URL (Prisma's `?schema=` taken);
    its password and the URL are registered as secrets. A malformed URL is a ConfigurationError that never
    repeats it."""
    text = raw.strip()
    register_secret(text)
    example = "postgresql://user:password@host:5432/litellm"
    try:
        parts = urlsplit(text)
        port = parts.port or 5432
    except ValueError:
        raise ConfigurationError(f"{variable} is no URL with a valid port: set it as {example}") from None
    register_secret(unquote(parts.password or ""))
    if parts.scheme not in ("postgresql", "postgres", "postgresql+psycopg", "postgresql+psycopg2"):
        raise ConfigurationError(f"{variable} must be a postgresql:// URL of the LiteLLM proxy's database: {example}")
    database = unquote(parts.path.lstrip("/"))
    if not database:
        raise ConfigurationError(f"{variable} names no database: add the proxy's, as in {example}")
    parameters = parse_qsl(parts.query)
    schema = next((value for name, value in parameters if name == "schema" and value), None)
    return SpendDatabase(
        host=parts.hostname or "localhost",
        port=port,
        database=database,
        user=unquote(parts.username or ""),
        schema=schema,
        password=unquote(parts.password or ""),
        query=tuple((name, value) for name, value in parameters if name not in PRISMA_PARAMETERS),
    )


def read_from(cursor: str | None, now: datetime, backfill_days: int) -> datetime:
    """Where a run starts reading: an hour before the saved cursor, or `backfill_days` before `now` without one."""
    saved = parse_cursor(cursor)
    return saved - REREAD if saved is not None else as_utc(now) - timedelta(days=backfill_days)


def next_cursor(started: Sequence[datetime | None], kept: str | None, now: datetime) -> str | None:
    """The cursor to keep: the newest start read, never older than the one kept, never after `now` (a proxy whose
    clock runs ahead would otherwise make the next run skip rows)."""
    candidates = [as_utc(at) for at in started if at is not None]
    if (saved := parse_cursor(kept)) is not None:
        candidates.append(saved)
    if not candidates:
        return None
    return min(max(candidates), as_utc(now)).isoformat()


def key_hash(value: Any) -> str | None:
    """The `api_key` column as a key's hash: LiteLLM's SHA-256 hex as stored, its master-key alias as stored, and
    anything else (a raw key an old proxy kept) hashed the way LiteLLM hashes keys, so no key is ever loaded."""
    text = as_text(value)
    if text is None or text == MASTER_KEY_ALIAS or _SHA256_HEX.fullmatch(text):
        return text
    return hashlib.sha256(text.encode()).hexdigest()


def json_value(value: Any) -> Any:
    """A JSON column's value parsed (the reader hands jsonb over as text); None when it is no JSON."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return None


def json_text(value: Any) -> str | None:
    """A parsed JSON value as compact JSON text; None stays None."""
    return None if value is None else json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _count(value: Any) -> int | None:
    count = as_integer(value)
    return count if count is not None and count >= 0 else None


def cache_tokens(metadata: Any) -> tuple[int | None, int | None]:
    """(cache reads, cache writes) of a request from its `metadata`: the usage LiteLLM keeps there as
    `usage_object` (newer proxies), `additional_usage_values` (older ones) or at the top; None where none says.

    Reads are `cache_read_input_tokens` (Anthropic's name) or `prompt_tokens_details.cached_tokens` (OpenAI's):
    the larger when both are there, as a provider that reports one leaves the other 0. Writes are
    `cache_creation_input_tokens`.
    """
    body = as_mapping(json_value(metadata)) or {}
    places = [as_mapping(body.get("usage_object")), as_mapping(body.get("additional_usage_values")), body]
    for usage in places:
        if usage is None:
            continue
        details = as_mapping(usage.get("prompt_tokens_details")) or {}
        reads = [_count(usage.get("cache_read_input_tokens")), _count(details.get("cached_tokens"))]
        writes = _count(usage.get("cache_creation_input_tokens"))
        known = [count for count in reads if count is not None]
        if known or writes is not None:
            return (max(known) if known else None), writes
    return None, None


def spend_amount(value: Any) -> Decimal | None:
    """LiteLLM's spend (a float) as an exact decimal through its shortest text, to 18 places."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
        return None
    try:
        amount = Decimal(repr(value) if isinstance(value, float) else str(value).strip())
    except InvalidOperation:
        return None
    if not amount.is_finite() or abs(amount) >= MAX_SPEND_USD:
        return None
    return amount.quantize(_DECIMAL_PLACES)


def cache_hit(value: Any) -> bool | None:
    """The `cache_hit` column (LiteLLM writes Python's `str(bool)`: "True", "False", "None") as a boolean."""
    if isinstance(value, bool):
        return value
    text = (as_text(value) or "").strip().lower()
    return {"true": True, "t": True, "1": True, "false": False, "f": False, "0": False}.get(text)


def _time(value: Any) -> datetime | None:
    return as_utc(value) if isinstance(value, datetime) else None


def spend_row(record: Mapping[str, Any], *, fetched_at: datetime, batch: str) -> dict[str, Any]:
    """The `spend_logs` row of one spend-log record; a column the record lacks (an older proxy) is null."""
    cached, cache_write = cache_tokens(record.get("metadata"))
    request_id = record.get("request_id")
    model = record.get("model")
    return {
        "request_id": str(request_id) if request_id is not None else None,
        "started_at": _time(record.get("startTime")),
        "ended_at": _time(record.get("endTime")),
        "model": model if isinstance(model, str) else None,
        **{column: as_text(record.get(name)) for name, column in OPTIONAL_TEXT.items()},
        "api_key_hash": key_hash(record.get("api_key")),
        "prompt_tokens": as_integer(record.get("prompt_tokens")),
        "completion_tokens": as_integer(record.get("completion_tokens")),
        "total_tokens": as_integer(record.get("total_tokens")),
        "cached_tokens": cached,
        "cache_write_tokens": cache_write,
        "spend_usd": spend_amount(record.get("spend")),
        "request_tags": json_text(json_value(record.get("request_tags"))),
        "cache_hit": cache_hit(record.get("cache_hit")),
        "fetched_at": fetched_at,
        "batch_id": batch,
    }


def spend_table(chunk: pa.Table, *, fetched_at: datetime, batch: str) -> pa.Table:
    """The `spend_logs` rows of one chunk of the spend log, as Arrow with the declared columns."""
    rows = [spend_row(record, fetched_at=fetched_at, batch=batch) for record in chunk.to_pylist()]
    return pa.Table.from_pylist(rows, schema=SCHEMA)


def _dlt_type(column_type: Any) -> Any:
    """The type dlt is told a reflected column has: JSON as text (the query reads it as text), and floats as what
    SQLAlchemy 2.1's Float no longer derives from, so that dlt knows it."""
    if isinstance(column_type, sa.JSON):
        return sa.Text()
    if isinstance(column_type, sa.Float):
        return sa.Numeric(asdecimal=False)
    return column_type


def _read_query(start: datetime) -> Any:
    """The query over the reflected columns: rows from `start` on, oldest first, at most ROWS_PER_RUN, with JSON
    columns as text (psycopg would parse jsonb, and dlt warn while it encodes it back)."""

    def adapt(query: sa.Select[Any], table: sa.Table) -> sa.Select[Any]:
        started = table.c["startTime"]
        since = start if getattr(started.type, "timezone", False) else start.replace(tzinfo=None)
        columns = [
            sa.cast(column, sa.Text).label(column.name) if isinstance(column.type, sa.JSON) else column
            for column in query.selected_columns
        ]
        return sa.select(*columns).where(started >= since).order_by(started, table.c["request_id"]).limit(ROWS_PER_RUN)

    return adapt


def spend_log_columns(engine: sa.Engine, database: SpendDatabase) -> list[str]:
    """The columns the proxy's spend log has; SourceError when it has no such table or lacks a required one."""
    schema = database.schema
    try:
        present = [column["name"] for column in sa.inspect(engine).get_columns(SPEND_LOGS, schema=schema)]
    except sa.exc.NoSuchTableError:
        present = []
    if not present:
        raise SourceError(
            f'LiteLLM spend log: the {database.where} has no "{SPEND_LOGS}" table'
            f"{f' in schema {schema}' if schema else ''}: point {DB_URL_VARIABLE} at the LiteLLM proxy's database"
        )
    missing = [name for name in REQUIRED_SOURCE_COLUMNS if name not in present]
    if missing:
        raise SourceError(
            f'LiteLLM spend log: "{SPEND_LOGS}" in the {database.where} has no {", ".join(missing)} column'
        )
    return present


def read_chunks(engine: sa.Engine, schema: str | None, columns: Sequence[str], start: datetime) -> Iterator[pa.Table]:
    """The spend log's rows from `start` on, as Arrow chunks of the `columns` read.

    dlt's `sql_table` resource is iterated here rather than run in a pipeline of its own: the engine gates the batch
    and loads it with its own pipeline, and keeps the cursor in its own state.
    """
    resource = sql_table(
        credentials=engine,
        table=SPEND_LOGS,
        schema=schema,
        backend="pyarrow",
        chunk_size=CHUNK_ROWS,
        reflection_level="full",
        included_columns=list(columns),
        type_adapter_callback=_dlt_type,
        query_adapter_callback=_read_query(start),
    )
    for item in resource:
        if isinstance(item, pa.Table):
            yield item


def _database_error(exc: BaseException) -> BaseException | None:
    """The database error an exception chain carries (dlt wraps what SQLAlchemy raised, which wraps psycopg's)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, sa.exc.DBAPIError):
            return current.orig if isinstance(current.orig, BaseException) else current
        if isinstance(current, psycopg.Error | sa.exc.SQLAlchemyError | SourceError):
            return current
        current = current.__cause__ or current.__context__
    return None


def read_error(exc: BaseException, database: SpendDatabase) -> SourceError | None:
    """What went wrong reading the proxy's database, naming its host and database, never its URL or password;
    None when `exc` is no database error."""
    cause = _database_error(exc)
    if cause is None:
        return None
    if isinstance(cause, SourceError):
        return cause
    secrets = [secret for secret in (database.password,) if secret]
    reason = redact(str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__, secrets)
    if isinstance(cause, psycopg.OperationalError) and cause.sqlstate is None:
        # A connection psycopg could not open: the server never answered, or answered with why it refused.
        if "authentication failed" in reason:
            return AuthenticationError(
                f"LiteLLM spend log: the {database.where} refused user {database.user!r}: {reason} "
                f"(check the user and password in {DB_URL_VARIABLE})"
            )
        if "FATAL" in reason:
            return SourceError(f"LiteLLM spend log: the {database.where} refused the connection: {reason}")
        return SourceUnreachableError(
            f"LiteLLM spend log: cannot reach the {database.where}: {reason} (check {DB_URL_VARIABLE})"
        )
    return SourceError(f"LiteLLM spend log: reading the {database.where} failed: {reason}")


def spend_batch(request: Request) -> Batch:
    """The spend log's rows since an hour before the saved cursor (or the backfill), one `spend_logs` row each."""
    database: SpendDatabase = request.options["database"]
    backfill: int = request.options.get("backfill_days", DEFAULT_BACKFILL_DAYS)
    now = request.fetched_at
    kept = as_text(request.state.get("cursor"))
    start = read_from(kept, now, backfill)
    batch = batch_id(now)
    tables: list[pa.Table] = []
    engine = database.engine()
    try:
        present = spend_log_columns(engine, database)
        columns = [name for name in SOURCE_COLUMNS if name in present]
        for chunk in read_chunks(engine, database.schema, columns, start):
            request.stats.pages += 1
            tables.append(spend_table(chunk, fetched_at=now, batch=batch))
    except Exception as exc:
        error = read_error(exc, database)
        if error is None:
            raise
        raise error from None
    finally:
        request.stats.requests += 1
        engine.dispose()
    rows = pa.concat_tables(tables) if tables else SCHEMA.empty_table()
    notes = []
    if kept is None:
        notes.append(f"first run: read {backfill} days of spend logs")
    if rows.num_rows >= ROWS_PER_RUN:
        notes.append(f"read the first {ROWS_PER_RUN:,} rows since {start.isoformat()}: the next run reads on")
    absent = [name for name in SOURCE_COLUMNS if name not in present]
    if absent:
        notes.append(f'"{SPEND_LOGS}" has no {", ".join(absent)} column (an older LiteLLM): left null')
    cursor = next_cursor([pc.max(rows.column("started_at")).as_py()], kept, now)
    spend = pc.sum(rows.column("spend_usd")).as_py() or Decimal(0)
    return Batch(
        tables={TABLE: rows},
        origin=f'"{SPEND_LOGS}" in the {database.where}',
        notes=tuple(notes),
        metadata={"read_from": start.isoformat(), "rows_read": rows.num_rows, "spend_usd": float(spend)},
        state={"cursor": cursor} if cursor is not None else None,
    )


SPEC = SourceSpec(
    name=SOURCE,
    display_name="LiteLLM spend log",
    description="Every request a LiteLLM proxy served, with its tokens and the spend LiteLLM priced it at.",
    kind="usage",
    group="usage",
    cadence="0 * * * *",
    tables=(
        TableSpec(
            name=TABLE,
            description="One row per request of the LiteLLM proxy's spend log, merged on request_id.",
            columns=COLUMNS,
            version_columns=("request_id", "started_at", "spend_usd", "prompt_tokens", "completion_tokens"),
            primary_key=("request_id",),
            unique_rows=True,
            not_null=NOT_NULL,
            # A month of a busy proxy's requests arrives as one Arrow table: dlt COPYs it as csv.
            file_format="csv",
            suite=Suite(
                source=SOURCE,
                entity=TABLE,
                key=("request_id",),
                not_null=("request_id", "started_at", "model"),
                ranges=dict.fromkeys(TOKEN_COLUMNS, TOKEN_RANGE),
            ),
            preview=("started_at", "model", "custom_llm_provider", "prompt_tokens", "completion_tokens", "spend_usd"),
        ),
    ),
    extract=spend_batch,
    settings=(
        Setting(
            "DB_URL",
            "",
            "the LiteLLM proxy's PostgreSQL database (a secret: its password is never shown); unset, the source is "
            "skipped",
            option="database",
            parse=parse_db_url,
            variable=DB_URL_VARIABLE,
            secret=True,
            required=True,
        ),
        BACKFILL_SETTING,
    ),
    keeps_state=True,
    endpoint_doc=f'`"{SPEND_LOGS}"` in the proxy\'s database (`{DB_URL_VARIABLE}`), from an hour before the newest '
    'row loaded by `"startTime"`',
)
