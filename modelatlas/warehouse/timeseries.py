"""Time-series storage in schema `ts`: TimescaleDB hypertables when the extension can load, native monthly range
partitions otherwise, created ahead and dropped past retention by an idempotent maintenance step.

A table that already exists as a partitioned table keeps its partitions even once TimescaleDB is there: PostgreSQL
cannot turn a partitioned table into a hypertable in place, so the move is a documented manual copy
(`timescale.migration_statements`), announced once in the log and shown by `modelatlas warehouse status`.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

import psycopg
from psycopg import sql

from modelatlas.errors import ConfigurationError
from modelatlas.pipelines.spec import DataType, TableSpec
from modelatlas.warehouse import timescale
from modelatlas.warehouse.connection import ConnectionInfo
from modelatlas.warehouse.service import connect

log = logging.getLogger(__name__)

TIME_SERIES_SCHEMA = "ts"
Backend = Literal["timescaledb", "partitions"]
Storage = Literal["partitioned", "hypertable", "table"]
RETENTION_VARIABLE = "MODELATLAS_TS_RETENTION_DAYS"
DEFAULT_RETENTION_DAYS = 400
# A week: compression starts after 7 days and the daily rollup refreshes at least two days back.
MIN_RETENTION_DAYS = 7
# The types dlt's postgres destination gives each data type (dlt/destinations/impl/postgres/factory.py), so dlt
# finds the tables it would have created and alters nothing.
POSTGRES_TYPES: dict[DataType, str] = {
    "text": "varchar",
    "bigint": "bigint",
    "double": "double precision",
    "bool": "boolean",
    "timestamp": "timestamp with time zone",
    "date": "date",
    "json": "jsonb",
}
# The columns dlt adds to every row (both text, never null).
DLT_COLUMNS = ("_dlt_load_id", "_dlt_id")

# What this process has already logged (the active backend per database, the migration note per table).
_announced: set[str] = set()


@dataclass(frozen=True)
class TimescaleState:
    """Whether TimescaleDB can serve the warehouse database: installed, installable, loaded, licensed."""

    version: str | None
    available: bool
    preloaded: bool
    license: str | None

    @property
    def installed(self) -> bool:
        """The extension exists in this database."""
        return self.version is not None

    @property
    def usable(self) -> bool:
        """Installed or installable, and loaded by the server (shared_preload_libraries)."""
        return self.preloaded and (self.installed or self.available)

    @property
    def community(self) -> bool:
        """Compression, continuous aggregates and policies are there (not an Apache-only build)."""
        return self.license != timescale.APACHE_LICENSE

    def reason(self) -> str:
        """Why TimescaleDB does not serve the warehouse, for the log and the status."""
        if not (self.installed or self.available):
            return "the server has no timescaledb extension"
        if not self.preloaded:
            return "timescaledb is not in the server's shared_preload_libraries"
        return "timescaledb is active"


@dataclass(frozen=True)
class Partition:
    """One partition of a partitioned table and its range (None: MINVALUE/MAXVALUE or the default partition)."""

    name: str
    lower: datetime | None
    upper: datetime | None


@dataclass
class MaintenanceReport:
    """What one maintenance step did: the warehouse's backend, each table's, partitions created and dropped."""

    backend: Backend
    tables: dict[str, Backend] = field(default_factory=dict)
    created: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)


def retention_days(env: Mapping[str, str] | None = None) -> int:
    """Days of time series kept (MODELATLAS_TS_RETENTION_DAYS, default 400); older partitions or chunks are dropped."""
    env = os.environ if env is None else env
    raw = env.get(RETENTION_VARIABLE, "").strip()
    if not raw:
        return DEFAULT_RETENTION_DAYS
    try:
        days = int(raw)
    except ValueError:
        raise ConfigurationError(
            f"{RETENTION_VARIABLE}={raw!r} is not a whole number of days: set it to a number such as "
            f"{DEFAULT_RETENTION_DAYS}"
        ) from None
    if days < MIN_RETENTION_DAYS:
        raise ConfigurationError(
            f"{RETENTION_VARIABLE}={days} keeps less than {MIN_RETENTION_DAYS} days: use {MIN_RETENTION_DAYS} or more"
        )
    return days


def utc(moment: datetime) -> datetime:
    """The moment in UTC (a naive one is taken as UTC)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def month_of(moment: datetime | date) -> date:
    """The first day of the UTC month `moment` falls in."""
    day = utc(moment).date() if isinstance(moment, datetime) else moment
    return day.replace(day=1)


def next_month(month: date) -> date:
    """The first day of the month after `month`."""
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def month_start(month: date) -> datetime:
    """Midnight UTC on the first day of `month`."""
    return datetime(month.year, month.month, 1, tzinfo=UTC)


def months_between(first: datetime | date, last: datetime | date) -> list[date]:
    """The first days of every UTC month from `first`'s to `last`'s, both included (none when last < first)."""
    month, end = month_of(first), month_of(last)
    months = []
    while month <= end:
        months.append(month)
        month = next_month(month)
    return months


def due_months(now: datetime, months: Iterable[datetime | date] = ()) -> list[date]:
    """The months whose partitions must exist: `now`'s, the next one, and every month in `months`."""
    current = month_of(now)
    return sorted({current, next_month(current), *(month_of(month) for month in months)})


def partition_name(table_name: str, month: date) -> str:
    """`<table>_pYYYYMM`."""
    return f"{table_name}_p{month:%Y%m}"


def column_type(data_type: DataType, decimal_scale: int) -> str:
    """The PostgreSQL type dlt's postgres destination gives a data type."""
    return f"numeric(38, {decimal_scale})" if data_type == "decimal" else POSTGRES_TYPES[data_type]


def _time_column(table: TableSpec) -> str:
    if table.time_column is None:
        raise ValueError(f"{table.name} is not a time series: it declares no time_column")
    return table.time_column


def parent_table_ddl(
    table: TableSpec,
    schema: str,
    *,
    backend: Backend = "partitions",
    index_columns: Sequence[str] | None = None,
) -> list[sql.Composed]:
    """CREATE TABLE (range-partitioned by month on the partitions path, plain for a hypertable) and its indexes."""
    time_column = _time_column(table)
    required = {time_column, *table.not_null, *table.primary_key}
    columns = [
        sql.SQL("{} {}{}").format(
            sql.Identifier(name),
            sql.SQL(column_type(data_type, table.decimal_scale)),
            sql.SQL(" NOT NULL" if name in required else ""),
        )
        for name, data_type in table.columns.items()
    ]
    columns += [sql.SQL("{} varchar NOT NULL").format(sql.Identifier(name)) for name in DLT_COLUMNS]
    partitioning = sql.SQL(" PARTITION BY RANGE ({})").format(sql.Identifier(time_column))
    statements = [
        sql.SQL("CREATE TABLE IF NOT EXISTS {} ({}){}").format(
            sql.Identifier(schema, table.name),
            sql.SQL(", ").join(columns),
            partitioning if backend == "partitions" else sql.SQL(""),
        )
    ]
    if backend == "partitions":
        # Rows arrive in time order, so a block range index on time is tiny and prunes well inside a partition.
        statements.append(
            sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} USING brin ({})").format(
                sql.Identifier(timescale.brin_index_name(table)),
                sql.Identifier(schema, table.name),
                sql.Identifier(time_column),
            )
        )
    keys = timescale.key_columns(table, index_columns)
    if keys:
        statements.append(
            sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} ({}, {} DESC)").format(
                sql.Identifier(timescale.key_index_name(table, keys)),
                sql.Identifier(schema, table.name),
                sql.SQL(", ").join(sql.Identifier(key) for key in keys),
                sql.Identifier(time_column),
            )
        )
    return statements


def partition_ddl(table: TableSpec, schema: str, month: date) -> sql.Composed:
    """CREATE TABLE <table>_pYYYYMM PARTITION OF <table> for the UTC month `month`."""
    return sql.SQL("CREATE TABLE IF NOT EXISTS {} PARTITION OF {} FOR VALUES FROM ({}) TO ({})").format(
        sql.Identifier(schema, partition_name(table.name, month)),
        sql.Identifier(schema, table.name),
        sql.Literal(month_start(month)),
        sql.Literal(month_start(next_month(month))),
    )


def timescale_state(conn: psycopg.Connection[Any]) -> TimescaleState:
    """What the server offers of TimescaleDB, read without changing anything."""
    row = conn.execute(
        "select (select extversion from pg_extension where extname = 'timescaledb'), "
        "exists (select 1 from pg_available_extensions where name = 'timescaledb'), "
        # pg_settings hides shared_preload_libraries from roles that may not read it (no error, no row).
        "(select setting from pg_settings where name = 'shared_preload_libraries'), "
        "current_setting('timescaledb.license', true)"
    ).fetchone()
    assert row is not None
    version, available, preload, license_ = row
    # The library's own settings exist only once the server loaded it: the answer when the list is hidden.
    preloaded = "timescaledb" in _libraries(preload) if preload is not None else license_ is not None
    return TimescaleState(version=version, available=bool(available), preloaded=preloaded, license=license_ or None)


def _libraries(setting: str) -> set[str]:
    """The library names of a shared_preload_libraries value (quotes and directories removed)."""
    return {item.strip().strip('"').rsplit("/", 1)[-1] for item in setting.split(",") if item.strip()}


def storage_of(conn: psycopg.Connection[Any], schema: str, name: str) -> Storage | None:
    """How a table is stored: partitioned, hypertable or a plain table; None when it does not exist."""
    row = conn.execute(
        "select c.relkind, exists (select 1 from pg_extension where extname = 'timescaledb') "
        "from pg_class c join pg_namespace n on n.oid = c.relnamespace "
        "where n.nspname = %s and c.relname = %s and c.relkind in ('r', 'p')",
        (schema, name),
    ).fetchone()
    if row is None:
        return None
    relkind, timescale_installed = row
    if relkind == "p":
        return "partitioned"
    if timescale_installed:
        hypertable = conn.execute(
            "select 1 from timescaledb_information.hypertables where hypertable_schema = %s and hypertable_name = %s",
            (schema, name),
        ).fetchone()
        if hypertable is not None:
            return "hypertable"
    return "table"


def partitions(conn: psycopg.Connection[Any], schema: str, name: str) -> list[Partition]:
    """The partitions of a partitioned table with their ranges, oldest first."""
    # The bounds are read back as PostgreSQL prints them (with their UTC offset), then cast by PostgreSQL itself.
    rows = conn.execute(
        "select relname, (regexp_match(bound, 'FROM \\(''([^'']*)''\\)'))[1]::timestamptz, "
        "(regexp_match(bound, 'TO \\(''([^'']*)''\\)'))[1]::timestamptz "
        "from (select c.relname, pg_get_expr(c.relpartbound, c.oid) as bound "
        "from pg_inherits i join pg_class c on c.oid = i.inhrelid join pg_class p on p.oid = i.inhparent "
        "join pg_namespace n on n.oid = p.relnamespace where n.nspname = %s and p.relname = %s) as bounds "
        "order by 2 nulls first, 1",
        (schema, name),
    ).fetchall()
    return [Partition(name=row[0], lower=row[1], upper=row[2]) for row in rows]


def detect_backend(
    conn: psycopg.Connection[Any], *, table: str | None = None, schema: str = TIME_SERIES_SCHEMA
) -> Backend:
    """timescaledb when the extension is installed or installable and loaded (creating it when missing), else
    partitions; a `table` that already exists as a partitioned table stays on partitions."""
    storage = storage_of(conn, schema, table) if table is not None else None
    if storage == "hypertable":
        return "timescaledb"
    state = timescale_state(conn)
    if storage == "partitioned":
        if state.usable:
            _announce_migration(schema, table or "")
        return "partitions"
    if not state.usable:
        if state.installed:
            _announce_once(
                f"unloaded:{conn.info.dbname}",
                logging.WARNING,
                "the timescaledb extension is installed in %s but the server does not load it "
                "(add timescaledb to shared_preload_libraries and restart): time series use native partitions",
                conn.info.dbname,
            )
        return "partitions"
    if not state.installed:
        try:
            with conn.transaction():
                # Two processes preparing different tables would otherwise race to create it.
                _lock(conn, "extension:timescaledb")
                conn.execute(timescale.create_extension())
        except psycopg.errors.InsufficientPrivilege:
            _announce_once(
                f"privilege:{conn.info.dbname}",
                logging.WARNING,
                "TimescaleDB is available but %s may not create the extension in %s: time series use native "
                "partitions (run CREATE EXTENSION timescaledb as a superuser to switch new tables to hypertables)",
                conn.info.user,
                conn.info.dbname,
            )
            return "partitions"
        log.info("created the timescaledb extension in %s", conn.info.dbname)
    return "timescaledb"


def _announce_once(key: str, level: int, message: str, *args: Any) -> None:
    if key not in _announced:
        _announced.add(key)
        log.log(level, message, *args)


def _announce_backend(conn: psycopg.Connection[Any], backend: Backend) -> None:
    if backend == "timescaledb":
        message = "time series in %s are TimescaleDB hypertables"
    else:
        message = "time series in %s are natively partitioned tables (monthly range partitions)"
    _announce_once(f"backend:{conn.info.dbname}", logging.INFO, message, conn.info.dbname)


def _announce_migration(schema: str, table: str) -> None:
    _announce_once(
        f"migration:{schema}.{table}",
        logging.INFO,
        "%s.%s keeps its native monthly partitions: it was created before TimescaleDB was available and a "
        "partitioned table cannot become a hypertable in place. To move it, run the statements that "
        "`modelatlas warehouse status` prints (new hypertable, INSERT ... SELECT, swap the names) in a quiet period",
        schema,
        table,
    )


def _lock(conn: psycopg.Connection[Any], key: str) -> None:
    """Hold a transaction-level advisory lock on `key` (two processes preparing one table take turns)."""
    number = int.from_bytes(hashlib.blake2b(f"modelatlas:{key}".encode(), digest_size=8).digest(), "big", signed=True)
    conn.execute("select pg_advisory_xact_lock(%s)", (number,))


def _ensure_schema(conn: psycopg.Connection[Any], schema: str) -> None:
    exists = conn.execute("select 1 from pg_namespace where nspname = %s", (schema,)).fetchone()
    if exists is None:
        with conn.transaction():
            _lock(conn, f"schema:{schema}")
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))


def _execute(conn: psycopg.Connection[Any], statements: Iterable[sql.Composed]) -> None:
    for statement in statements:
        conn.execute(statement)


def _missing_months(existing: Sequence[Partition], due: Sequence[date]) -> list[date]:
    """The due months no existing partition covers (a partly covered month is left alone: it cannot be created)."""
    missing = []
    for month in due:
        start, end = month_start(month), month_start(next_month(month))
        overlaps = any(
            (part.lower is None or part.lower < end) and (part.upper is None or part.upper > start)
            for part in existing
            if part.lower is not None or part.upper is not None
        )
        if not overlaps:
            missing.append(month)
    return missing


def _create_partitions(conn: psycopg.Connection[Any], table: TableSpec, schema: str, due: Sequence[date]) -> list[str]:
    created = []
    for month in _missing_months(partitions(conn, schema, table.name), due):
        conn.execute(partition_ddl(table, schema, month))
        created.append(partition_name(table.name, month))
    return created


def _partition_plain_table(
    conn: psycopg.Connection[Any], table: TableSpec, schema: str, due: Sequence[date]
) -> list[str]:
    """Turn an existing plain table (one dlt created before this step ran) into the partitioned table, rows kept."""
    time_column = _time_column(table)
    old = f"{table.name}_unpartitioned"
    first, last = conn.execute(
        sql.SQL("select min({0}), max({0}) from {1}").format(
            sql.Identifier(time_column), sql.Identifier(schema, table.name)
        )
    ).fetchone() or (None, None)
    conn.execute(sql.SQL("ALTER TABLE {} RENAME TO {}").format(sql.Identifier(schema, table.name), sql.Identifier(old)))
    # LIKE keeps every column dlt added beyond the declared ones, in the same order, so SELECT * copies them.
    conn.execute(
        sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING DEFAULTS INCLUDING CONSTRAINTS) PARTITION BY RANGE ({})").format(
            sql.Identifier(schema, table.name), sql.Identifier(schema, old), sql.Identifier(time_column)
        )
    )
    _execute(conn, parent_table_ddl(table, schema)[1:])
    months = months_between(first, last) if first is not None and last is not None else []
    created = _create_partitions(conn, table, schema, sorted({*due, *months}))
    conn.execute(
        sql.SQL("INSERT INTO {} SELECT * FROM {}").format(
            sql.Identifier(schema, table.name), sql.Identifier(schema, old)
        )
    )
    conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(schema, old)))
    log.info("%s.%s was a plain table: it is now partitioned by month, its rows kept", schema, table.name)
    return created


def _ensure_partitioned(
    conn: psycopg.Connection[Any], table: TableSpec, schema: str, storage: Storage | None, due: Sequence[date]
) -> list[str]:
    if storage is None:
        _execute(conn, parent_table_ddl(table, schema))
        log.info("created %s.%s, partitioned by month on %s", schema, table.name, table.time_column)
    elif storage == "table":
        return _partition_plain_table(conn, table, schema, due)
    return _create_partitions(conn, table, schema, due)


def _ensure_hypertable(
    conn: psycopg.Connection[Any], table: TableSpec, schema: str, storage: Storage | None, retention: int | None
) -> None:
    if storage == "hypertable":
        return
    if storage is None:
        conn.execute(parent_table_ddl(table, schema, backend="timescaledb")[0])
        conn.execute(timescale.create_hypertable(table, schema))
    else:
        # A plain table: create_hypertable moves its rows into chunks (documented `migrate_data`).
        conn.execute(timescale.create_hypertable(table, schema, migrate_data=True))
    log.info("created the hypertable %s.%s on %s", schema, table.name, table.time_column)
    configure_hypertable(conn, table, schema, retention if retention is not None else retention_days())


def configure_hypertable(conn: psycopg.Connection[Any], table: TableSpec, schema: str, retention: int) -> None:
    """The key index, compression, its policy, retention and the rollups of one hypertable; each only when missing."""
    # A hypertable moved from partitions by hand (timescale.migration_statements) gets its key index here.
    _execute(conn, parent_table_ddl(table, schema, backend="timescaledb")[1:])
    state = timescale_state(conn)
    if not state.community:
        _announce_once(
            f"license:{conn.info.dbname}",
            logging.WARNING,
            "this TimescaleDB build is Apache-licensed (timescaledb.license = 'apache'): hypertables only, no "
            "compression, continuous aggregates or policies; set timescaledb.license = 'timescale' for them",
        )
        return
    compressed = conn.execute(
        "select compression_enabled from timescaledb_information.hypertables "
        "where hypertable_schema = %s and hypertable_name = %s",
        (schema, table.name),
    ).fetchone()
    views = [row[0] for row in conn.execute(timescale.CONTINUOUS_AGGREGATES_QUERY, (schema,))]
    retention_matches = conn.execute(timescale.RETENTION_JOB_QUERY, (retention, schema, table.name)).fetchone()
    if retention_matches is not None and not retention_matches[0]:
        conn.execute(timescale.remove_retention_policy(table, schema))
    _execute(
        conn,
        timescale.setup_statements(
            table,
            schema,
            segment_by=timescale.key_columns(table),
            retention_days=retention,
            compression_enabled=bool(compressed and compressed[0]),
            existing_views=views,
        ),
    )


def _prepare(
    info: ConnectionInfo,
    table: TableSpec,
    schema: str,
    now: datetime,
    months: Iterable[datetime | date],
    retention: int | None,
) -> tuple[Backend, list[str]]:
    """Make the table and its due partitions exist; the backend and the partitions created."""
    _time_column(table)
    due = due_months(now, months)
    with connect(info, autocommit=True) as conn:
        _ensure_schema(conn, schema)
        with conn.transaction():
            _lock(conn, f"table:{schema}.{table.name}")
            storage = storage_of(conn, schema, table.name)
            backend = detect_backend(conn, table=table.name, schema=schema)
            created: list[str] = []
            if backend == "partitions":
                created = _ensure_partitioned(conn, table, schema, storage, due)
            else:
                _ensure_hypertable(conn, table, schema, storage, retention)
        _announce_backend(conn, backend)
    return backend, created


def ensure_time_series_table(
    info: ConnectionInfo,
    table: TableSpec,
    schema: str = TIME_SERIES_SCHEMA,
    *,
    now: datetime,
    months: Iterable[datetime | date] = (),
    retention: int | None = None,
) -> Backend:
    """Create the schema and the table when missing (a hypertable, or partitioned by month) and, on partitions, the
    partitions of `now`'s month, the next one and every month in `months`. Idempotent, safe to run concurrently."""
    backend, _created = _prepare(info, table, schema, now, months, retention)
    return backend


def drop_expired_partitions(
    info: ConnectionInfo, table: TableSpec, schema: str = TIME_SERIES_SCHEMA, *, now: datetime, retention_days: int
) -> list[str]:
    """Drop the partitions whose every row is older than the retention (upper bound <= now - retention_days); never
    the current or next month's. Hypertables are left to their retention policy. The names dropped."""
    cutoff = utc(now) - timedelta(days=retention_days)
    kept = {month_start(month) for month in due_months(now)}
    with connect(info, autocommit=True) as conn, conn.transaction():
        _lock(conn, f"table:{schema}.{table.name}")
        storage = storage_of(conn, schema, table.name)
        if storage == "hypertable" and not timescale_state(conn).community:
            # No retention policy without the Community license: drop the chunks here instead.
            rows = conn.execute(timescale.drop_chunks(table, schema, cutoff)).fetchall()
            return [str(row[0]) for row in rows]
        if storage != "partitioned":
            return []
        dropped = []
        for part in partitions(conn, schema, table.name):
            if part.upper is not None and part.upper <= cutoff and part.lower not in kept:
                conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(schema, part.name)))
                dropped.append(part.name)
    if dropped:
        log.info("dropped %s past the %d-day retention: %s", f"{schema}.{table.name}", retention_days, dropped)
    return dropped


def maintain(
    info: ConnectionInfo, tables: Iterable[TableSpec], *, now: datetime, retention_days: int
) -> MaintenanceReport:
    """The idempotent maintenance step: every time-series table exists with next month's partition (or as a configured
    hypertable), and what is past retention is dropped."""
    with connect(info, autocommit=True) as conn:
        report = MaintenanceReport(backend=detect_backend(conn))
    for table in tables:
        if table.time_column is None:
            continue
        schema = table.dataset or TIME_SERIES_SCHEMA
        backend, created = _prepare(info, table, schema, now, (), retention_days)
        report.tables[f"{schema}.{table.name}"] = backend
        report.created += created
        if backend == "timescaledb":
            with connect(info, autocommit=True) as conn, conn.transaction():
                _lock(conn, f"table:{schema}.{table.name}")
                configure_hypertable(conn, table, schema, retention_days)
        report.dropped += drop_expired_partitions(info, table, schema, now=now, retention_days=retention_days)
    return report


def _table_names(conn: psycopg.Connection[Any], schema: str) -> list[str]:
    """The tables of `schema` that are no partition and not dlt's own."""
    rows = conn.execute(
        "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
        "where n.nspname = %s and c.relkind in ('r', 'p') and not c.relispartition "
        "and c.relname not like '\\_dlt%%' order by c.relname",
        (schema,),
    ).fetchall()
    return [row[0] for row in rows]


def _partitioned_status(conn: psycopg.Connection[Any], schema: str, name: str) -> dict[str, Any]:
    parts = partitions(conn, schema, name)
    row = conn.execute(
        # reltuples is -1 until a partition is first analyzed: the statistics' live rows stand in until then.
        "select coalesce(sum(case when c.reltuples >= 0 then c.reltuples else coalesce(s.n_live_tup, 0) end), 0)"
        "::bigint, coalesce(sum(pg_total_relation_size(c.oid)), 0) "
        "from pg_inherits i join pg_class c on c.oid = i.inhrelid join pg_class p on p.oid = i.inhparent "
        "left join pg_stat_user_tables s on s.relid = c.oid "
        "join pg_namespace n on n.oid = p.relnamespace where n.nspname = %s and p.relname = %s",
        (schema, name),
    ).fetchone()
    bounded = [part.lower for part in parts if part.lower is not None]
    return {
        "storage": "partitioned",
        "partitions": len(parts),
        "oldest": min(bounded).date().isoformat() if bounded else None,
        "newest": max(bounded).date().isoformat() if bounded else None,
        "rows_estimate": int(row[0]) if row else 0,
        "total_bytes": int(row[1]) if row else 0,
    }


def _hypertable_status(conn: psycopg.Connection[Any], schema: str, name: str) -> dict[str, Any]:
    qualified = sql.Identifier(schema, name).as_string(None)
    chunks = conn.execute(timescale.CHUNKS_QUERY, (schema, name)).fetchone()
    count, compressed, first, last = chunks if chunks is not None else (0, 0, None, None)
    size, rows = conn.execute(timescale.SIZE_QUERY, (qualified, qualified)).fetchone() or (0, 0)
    status: dict[str, Any] = {
        "storage": "hypertable",
        "chunks": int(count or 0),
        "compressed_chunks": int(compressed or 0),
        "oldest": first.date().isoformat() if first else None,
        "newest": last.date().isoformat() if last else None,
        "rows_estimate": int(rows or 0),
        "total_bytes": int(size or 0),
        "jobs": [],
    }
    # Policies (jobs) and compression are Community features: an Apache-only build has neither.
    if timescale_state(conn).community:
        jobs = conn.execute(timescale.JOBS_QUERY, (schema, name)).fetchall()
        before, after = conn.execute(timescale.COMPRESSION_STATS_QUERY, (qualified,)).fetchone() or (None, None)
        status |= {
            "jobs": [{"job": job, "every": every, "config": config} for job, every, config in jobs],
            "bytes_before_compression": before,
            "bytes_after_compression": after,
        }
    return status


def _plain_status(conn: psycopg.Connection[Any], schema: str, name: str) -> dict[str, Any]:
    row = conn.execute(
        "select (case when c.reltuples >= 0 then c.reltuples else coalesce(s.n_live_tup, 0) end)::bigint, "
        "pg_total_relation_size(c.oid) from pg_class c join pg_namespace n on n.oid = c.relnamespace "
        "left join pg_stat_user_tables s on s.relid = c.oid where n.nspname = %s and c.relname = %s",
        (schema, name),
    ).fetchone()
    return {"storage": "table", "rows_estimate": int(row[0]) if row else 0, "total_bytes": int(row[1]) if row else 0}


def status(info: ConnectionInfo, schema: str = TIME_SERIES_SCHEMA) -> dict[str, Any]:
    """The time-series storage at a glance: the backend, TimescaleDB's state and every table of `schema`."""
    with connect(info) as conn:
        conn.read_only = True
        state = timescale_state(conn)
        tables: dict[str, dict[str, Any]] = {}
        for name in _table_names(conn, schema):
            storage = storage_of(conn, schema, name)
            if storage == "partitioned":
                tables[f"{schema}.{name}"] = _partitioned_status(conn, schema, name)
            elif storage == "hypertable":
                tables[f"{schema}.{name}"] = _hypertable_status(conn, schema, name)
            else:
                tables[f"{schema}.{name}"] = _plain_status(conn, schema, name)
        views = []
        if state.installed and state.preloaded and state.community:
            views = [
                {"view": f"{schema}.{view}", "table": f"{schema}.{table}", "materialized_only": only}
                for view, table, only in conn.execute(timescale.CONTINUOUS_AGGREGATES_QUERY, (schema,))
            ]
    return {
        "schema": schema,
        "backend": "timescaledb" if state.usable else "partitions",
        "timescaledb": {
            "version": state.version,
            "available": state.available,
            "preloaded": state.preloaded,
            "license": state.license,
            "reason": state.reason(),
        },
        "tables": tables,
        "continuous_aggregates": views,
    }


def format_bytes(size: float) -> str:
    """A byte count for people: 512 B, 1.5 MB."""
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TB"


def format_status(report: Mapping[str, Any], retention: int | str | None = None) -> list[str]:
    """The status as lines for `modelatlas warehouse status`."""
    timescale_info = report["timescaledb"]
    if report["backend"] == "timescaledb":
        version = f" {timescale_info['version']}" if timescale_info["version"] else ""
        lines = [f"time series ({report['schema']}): TimescaleDB{version} hypertables for new tables"]
    else:
        lines = [f"time series ({report['schema']}): native monthly partitions ({timescale_info['reason']})"]
    if retention is not None:
        lines.append(f"  retention: {retention} days ({RETENTION_VARIABLE})")
    if not report["tables"]:
        lines.append("  no time-series tables yet")
    for name, table in report["tables"].items():
        size = f"~{table['rows_estimate']:,} rows, {format_bytes(table['total_bytes'])}"
        if table["storage"] == "partitioned":
            span = f", {table['oldest'][:7]} to {table['newest'][:7]}" if table["oldest"] else ""
            lines.append(f"  {name}: {table['partitions']} monthly partitions{span}, {size}")
        elif table["storage"] == "hypertable":
            span = f", {table['oldest']} to {table['newest']}" if table["oldest"] else ""
            chunks = f"{table['chunks']} chunks ({table['compressed_chunks']} compressed)"
            lines.append(f"  {name}: hypertable, {chunks}{span}, {size}")
            if table.get("bytes_before_compression"):
                lines.append(
                    f"    compression: {format_bytes(table['bytes_before_compression'])} -> "
                    f"{format_bytes(table['bytes_after_compression'] or 0)}"
                )
            for job in table["jobs"]:
                lines.append(f"    job {job['job']} every {job['every']}: {job['config']}")
        else:
            lines.append(f"  {name}: plain table (not partitioned yet: the next maintenance converts it), {size}")
    for view in report["continuous_aggregates"]:
        lines.append(f"  continuous aggregate {view['view']} over {view['table']}")
    return lines


def migration_lines(report: Mapping[str, Any], tables: Iterable[TableSpec]) -> list[str]:
    """For each partitioned table once TimescaleDB is active: the SQL that moves it into a hypertable."""
    if report["backend"] != "timescaledb":
        return []
    lines = []
    for table in tables:
        name = f"{report['schema']}.{table.name}"
        if report["tables"].get(name, {}).get("storage") == "partitioned":
            lines.append(f"  {name} keeps native partitions; to move it to a hypertable, in a quiet period run:")
            lines += [
                f"    {statement.as_string(None)};"
                for statement in timescale.migration_statements(table, report["schema"])
            ]
    return lines


def status_lines(info: ConnectionInfo, tables: Iterable[TableSpec] = ()) -> list[str]:
    """The time-series status as printed by `modelatlas warehouse status`; with `tables`, the migration hints too."""
    report = status(info)
    try:
        retention: int | str = retention_days()
    except ConfigurationError as exc:
        retention = f"invalid: {exc}"
    return format_status(report, retention) + migration_lines(report, tables)
