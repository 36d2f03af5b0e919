"""Start or reach the warehouse, create its databases, run read-only queries."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import psycopg
from psycopg import sql

from modelatlas.errors import ConfigurationError, WarehouseError
from modelatlas.redaction import redact, register_secret
from modelatlas.settings import DEFAULT_DATABASE, WarehouseSettings, dbt_artifact_environment, warehouse_settings
from modelatlas.warehouse.connection import ConnectionInfo
from modelatlas.warehouse.embedded import EmbeddedWarehouse, ServerStatus
from modelatlas.warehouse.roles import API, APP, READER, Role, RolesReport, ensure_roles

log = logging.getLogger(__name__)
_CONNECT_TIMEOUT_S = 10
_QUERY_TIMEOUT_MS = 300_000


class Warehouse:
    """The one PostgreSQL server ModelAtlas uses: warehouse data in one database, Dagster's storage in another."""

    def __init__(self, settings: WarehouseSettings) -> None:
        self.settings = settings
        self.embedded = (
            EmbeddedWarehouse(settings.home, settings.port, settings.password) if settings.url is None else None
        )

    @classmethod
    def from_env(cls) -> Warehouse:
        """The warehouse the environment configures."""
        return cls(warehouse_settings())

    def connection(self) -> ConnectionInfo:
        """Where the warehouse database is (the server may not be running yet)."""
        if self.embedded is not None:
            return ConnectionInfo.from_url(self.embedded.url(self.settings.database or DEFAULT_DATABASE))
        assert self.settings.url is not None
        info = ConnectionInfo.from_url(self.settings.url)
        register_secret(info.password)
        return info.with_database(self.settings.database) if self.settings.database else info

    def dagster_connection(self) -> ConnectionInfo:
        """Where the Dagster instance keeps runs and events."""
        info = self.connection()
        return info.with_database(self.settings.dagster_database or f"{info.database}_dagster")

    def dbt_environment(self) -> dict[str, str]:
        """What a dbt command against this warehouse reads: the connection its profile takes and where its artifacts
        go (under this warehouse's home)."""
        return {**self.connection().dbt_env(), **dbt_artifact_environment(self.settings.home)}

    def reader_connection(self) -> ConnectionInfo:
        """The warehouse database as `modelatlas_reader` (SELECT on `marts` only): for BI tools, pages and the API."""
        return self._role_connection(READER)

    def app_connection(self) -> ConnectionInfo:
        """The warehouse database as `modelatlas_app`: reads `marts`, writes the dashboard's tables in `app`."""
        return self._role_connection(APP)

    def api_connection(self) -> ConnectionInfo:
        """The warehouse database as `modelatlas_api`: reads `marts`, checks API keys, keeps rate limit buckets."""
        return self._role_connection(API)

    def _role_connection(self, role: Role) -> ConnectionInfo:
        return replace(self.connection(), user=role.name, password=role.password(self.settings.home))

    def ensure_roles(self, info: ConnectionInfo | None = None) -> RolesReport:
        """Create ModelAtlas's roles and own tables and grant what the contract gives them; log what changed and what an
        admin has to do. Idempotent: a second call changes nothing."""
        info = info or self.connection()
        # ModelAtlas owns every database of its embedded server: the roles reach only the warehouse database.
        private = [self.dagster_connection().database] if self.embedded is not None else []
        try:
            with connect(info) as conn:
                report = ensure_roles(conn, info, self.settings.home, private)
        except psycopg.Error as exc:
            raise WarehouseError(
                f"setting up the warehouse roles in {info.database} failed: {redact(str(exc)).strip()}"
            ) from None
        for change in report.changes:
            log.info("warehouse roles: %s", change)
        for warning in report.warnings:
            log.warning("warehouse roles: %s", redact(warning))
        return report

    def status(self) -> ServerStatus | None:
        """The embedded server's state, or None for an external warehouse."""
        return self.embedded.status() if self.embedded is not None else None

    def ensure_ready(self) -> ConnectionInfo:
        """Start the embedded server if needed and make sure both databases exist."""
        if self.embedded is not None:
            self.embedded.start()
        info = self.connection()
        for database in (info.database, self.dagster_connection().database):
            ensure_database(info, database)
        return info

    def stop(self) -> bool:
        """Stop the embedded server; an external warehouse is never stopped by ModelAtlas."""
        if self.embedded is None:
            raise ConfigurationError(
                "MODELATLAS_WAREHOUSE_URL points at an external server: ModelAtlas does not stop it"
            )
        return self.embedded.stop()


def connect(info: ConnectionInfo, **kwargs: Any) -> psycopg.Connection[Any]:
    """A psycopg connection, with errors that name the server but never the password."""
    try:
        return psycopg.connect(
            host=info.host,
            port=info.port,
            user=info.user,
            password=info.password,
            dbname=info.database,
            connect_timeout=_CONNECT_TIMEOUT_S,
            application_name="modelatlas",
            **kwargs,
        )
    except psycopg.OperationalError as exc:
        raise WarehouseError(
            f"cannot connect to the warehouse at {info.display_url()}: {redact(str(exc)).strip()} "
            "(check MODELATLAS_WAREHOUSE_URL, or run `modelatlas warehouse start`)"
        ) from None


def ensure_database(info: ConnectionInfo, database: str) -> None:
    """Create `database` on the server unless it exists."""
    with connect(info.with_database("postgres"), autocommit=True) as conn:
        exists = conn.execute("select 1 from pg_database where datname = %s", (database,)).fetchone()
        if exists:
            return
        try:
            conn.execute(sql.SQL("create database {}").format(sql.Identifier(database)))
        except psycopg.errors.InsufficientPrivilege:
            raise ConfigurationError(
                f"the database {database!r} does not exist and {info.user!r} may not create it: "
                f"create it, or set MODELATLAS_DAGSTER_DATABASE to one that exists"
            ) from None
        except psycopg.errors.DuplicateDatabase:
            return
    log.info("created database %s", database)


def read_only_query(
    info: ConnectionInfo, query: str, params: Sequence[Any] | None = None
) -> tuple[list[str], Sequence[tuple[Any, ...]]]:
    """Run one query in a read-only transaction; return the column names and rows."""
    with connect(info) as conn:
        conn.read_only = True
        try:
            conn.execute(sql.SQL("set statement_timeout = {}").format(sql.Literal(_QUERY_TIMEOUT_MS)))
            cursor = conn.execute(query, params)
        except psycopg.Error as exc:
            raise WarehouseError(f"the query failed: {redact(str(exc)).strip()}") from None
        if cursor.description is None:
            return [], []
        return [column.name for column in cursor.description], cursor.fetchall()


def table_row_counts(info: ConnectionInfo, schema_patterns: Sequence[str]) -> dict[str, int]:
    """Rows per table in the schemas matching `schema_patterns` (SQL LIKE), dlt's own tables left out."""
    with connect(info) as conn:
        conn.read_only = True
        tables = conn.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_schema like any(%s) and table_schema not like '%%\\_staging' "
            "and table_type = 'BASE TABLE' and table_name not like '\\_dlt%%' "
            "order by table_schema, table_name",
            (list(schema_patterns),),
        ).fetchall()
        counts: dict[str, int] = {}
        for schema, table in tables:
            query = sql.SQL("select count(*) from {}.{}").format(sql.Identifier(schema), sql.Identifier(table))
            row = conn.execute(query).fetchone()
            counts[f"{schema}.{table}"] = int(row[0]) if row else 0
    return counts
