"""The reader, app and API roles: what each may read and write, rebuilt marts, idempotent set-up, passwords kept
secret."""

from __future__ import annotations

import secrets
import stat
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from modelatlas.cli import main
from modelatlas.errors import WarehouseError
from modelatlas.pipelines.engine import ensure_every_source_table
from modelatlas.redaction import redact
from modelatlas.warehouse import ConnectionInfo, Warehouse, roles
from modelatlas.warehouse.roles import API, APP, READER, Role, scram_matches
from modelatlas.warehouse.service import connect
from tests.dbt_cli import run_dbt

DATABASE = "roles_test"
# Tables the roles must not read, one per schema the contract keeps from them.
PRIVATE_TABLES = (
    "raw_x.items",
    "staging.stg_items",
    "intermediate.int_items",
    "dq.quarantine_items",
    "ops.outbox_items",
    "ts.probe_items",
    "public.items",
)
# A mart dbt builds from empty raw tables in seconds, as a table: every build drops and recreates it.
DBT_MART = "mart_price_consensus"
# Its tests would reach relations outside the selection.
NOT_MODELS = ("resource_type:test", "resource_type:unit_test")


@pytest.fixture(scope="module")
def roles_warehouse(warehouse: Warehouse) -> Warehouse:
    """A database of its own with a table in each schema, set up once (the roles' grants applied)."""
    own = Warehouse(replace(warehouse.settings, database=DATABASE))
    info = own.ensure_ready()
    with connect(info, autocommit=True) as conn:
        for qualified in (*PRIVATE_TABLES, "marts.mart_before"):
            schema = qualified.split(".")[0]
            conn.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(schema)))
            conn.execute(f"create table if not exists {qualified} (id int)")
            conn.execute(f"insert into {qualified} values (1)")
    own.ensure_roles()
    return own


def _as(info: ConnectionInfo) -> psycopg.Connection[Any]:
    return connect(info, autocommit=True)


def _denied(conn: psycopg.Connection[Any], statement: str) -> bool:
    try:
        conn.execute(statement)
    except psycopg.errors.InsufficientPrivilege:
        return True
    return False


def _owner(warehouse: Warehouse) -> psycopg.Connection[Any]:
    return connect(warehouse.connection(), autocommit=True)


def test_the_reader_reads_marts_also_those_created_or_rebuilt_later(roles_warehouse: Warehouse) -> None:
    with _owner(roles_warehouse) as owner:
        owner.execute("drop table if exists marts.mart_after")
        owner.execute("create table marts.mart_after as select 2 as id")
        # dbt's table materialization: build beside, swap by renames, drop the old one.
        owner.execute("create table marts.mart_before__dbt_tmp as select 3 as id")
        owner.execute("alter table marts.mart_before rename to mart_before__dbt_backup")
        owner.execute("alter table marts.mart_before__dbt_tmp rename to mart_before")
        owner.execute("drop table marts.mart_before__dbt_backup")
        owner.execute("create or replace view marts.mart_view as select id from marts.mart_after")
    with _as(roles_warehouse.reader_connection()) as reader:
        assert reader.execute("select id from marts.mart_before").fetchall() == [(3,)]
        assert reader.execute("select id from marts.mart_after").fetchall() == [(2,)]
        assert reader.execute("select id from marts.mart_view").fetchall() == [(2,)]


@pytest.mark.parametrize("role", [READER, APP, API], ids=lambda role: role.name)
def test_no_role_reads_outside_marts(roles_warehouse: Warehouse, role: Role) -> None:
    connection = {READER: roles_warehouse.reader_connection, APP: roles_warehouse.app_connection}
    with _as(connection.get(role, roles_warehouse.api_connection)()) as conn:
        for table in PRIVATE_TABLES:
            assert _denied(conn, f"select * from {table}"), table
        assert _missing(conn, "ops.alert_outbox") or _denied(conn, "select * from ops.alert_outbox")


def _missing(conn: psycopg.Connection[Any], table: str) -> bool:
    # From the catalog: to_regclass needs USAGE on the schema, which a role may lack.
    schema, name = table.split(".")
    row = conn.execute(
        "select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace "
        "where n.nspname = %s and c.relname = %s",
        [schema, name],
    ).fetchone()
    return row == (0,)


def test_the_reader_writes_nothing(roles_warehouse: Warehouse) -> None:
    with _as(roles_warehouse.reader_connection()) as reader:
        assert _denied(reader, "insert into marts.mart_before values (9)")
        assert _denied(reader, "update marts.mart_before set id = 9")
        assert _denied(reader, "delete from marts.mart_before")
        assert _denied(reader, "truncate marts.mart_before")
        assert _denied(reader, "create table marts.mine (id int)")
        assert _denied(reader, "drop table marts.mart_before")
        assert _denied(reader, "select * from app.saved_views")
        assert _denied(reader, "insert into app.saved_views (name, query) values ('x', '{}')")
        assert _denied(reader, "create schema mine")
        assert _denied(reader, "create table public.mine (id int)")
    # Only the warehouse database: not the Dagster instance's.
    dagster = replace(roles_warehouse.reader_connection(), database=roles_warehouse.dagster_connection().database)
    with pytest.raises(WarehouseError, match="permission denied for database"):
        connect(dagster).close()


def test_the_app_role_keeps_saved_views_and_only_reads_marts(roles_warehouse: Warehouse) -> None:
    with _as(roles_warehouse.app_connection()) as app:
        row = app.execute(
            "insert into app.saved_views (name, query) values (%s, %s) returning id, page, created_at, updated_at",
            ["cheap models", '{"provider": ["openai"], "max_input_price": 1}'],
        ).fetchone()
        assert row is not None and row[1] == "compare" and row[2] is not None and row[3] is not None
        app.execute("update app.saved_views set page = 'prices', updated_at = now() where id = %s", [row[0]])
        assert app.execute("select page from app.saved_views where id = %s", [row[0]]).fetchone() == ("prices",)
        with pytest.raises(psycopg.errors.UniqueViolation):
            app.execute("insert into app.saved_views (name, query) values ('cheap models', '{}')")
        app.execute("delete from app.saved_views where id = %s", [row[0]])
        assert app.execute("select count(*) from marts.mart_before").fetchone() == (1,)
        assert _denied(app, "insert into marts.mart_before values (9)")
        assert _denied(app, "update marts.mart_before set id = 9")
        assert _denied(app, "delete from marts.mart_before")
        assert _denied(app, "create table marts.mine (id int)")
        assert _denied(app, "create table app.mine (id int)")
        assert _denied(app, "drop table app.saved_views")


def test_the_api_role_checks_keys_keeps_buckets_and_only_reads_marts(roles_warehouse: Warehouse) -> None:
    with _owner(roles_warehouse) as owner:
        owner.execute("delete from ops.api_keys where id = 'roletest'")
        owner.execute(
            "insert into ops.api_keys (id, prefix, team, scopes, salt, hash) "
            "values ('roletest', 'roletest', 'research', '{catalog:read}', '\\x00', '\\x00')"
        )
    with _as(roles_warehouse.api_connection()) as api:
        assert api.execute("select count(*) from marts.mart_before").fetchone() == (1,)
        assert api.execute("select team from ops.api_keys where id = 'roletest'").fetchone() == ("research",)
        api.execute("update ops.api_keys set last_used_at = now() where id = 'roletest'")
        # Keys are the owner's to create, revoke and re-scope.
        assert _denied(api, "update ops.api_keys set revoked_at = null where id = 'roletest'")
        assert _denied(api, "update ops.api_keys set scopes = '{usage:all}' where id = 'roletest'")
        assert _denied(
            api,
            "insert into ops.api_keys (id, prefix, team, scopes, salt, hash) "
            "values ('mine', 'mine', 'x', '{usage:all}', '\\x00', '\\x00')",
        )
        assert _denied(api, "delete from ops.api_keys")
        api.execute(
            "insert into ops.api_rate_limits (key, tokens, updated_at, last_allowed) values ('ip:test', 1, now(), true)"
        )
        api.execute("update ops.api_rate_limits set tokens = 0 where key = 'ip:test'")
        api.execute("delete from ops.api_rate_limits where key = 'ip:test'")
        assert _denied(api, "insert into marts.mart_before values (9)")
        assert _denied(api, "create table ops.mine (id int)")
        assert _denied(api, "drop table ops.api_rate_limits")
        assert _denied(api, "select * from app.saved_views")
    with connect(roles_warehouse.connection()) as owner:
        row = owner.execute("select last_used_at from ops.api_keys where id = 'roletest'").fetchone()
    assert row is not None and row[0] is not None


def _grants_snapshot(info: ConnectionInfo) -> list[tuple[Any, ...]]:
    """Everything a set-up could change: the roles (their verifiers too) and the ACLs it grants."""
    names = [READER.name, APP.name, API.name]
    with connect(info) as conn:
        return [
            *conn.execute(
                "select rolname, rolcanlogin, rolsuper, rolpassword from pg_authid where rolname = any(%s) "
                "order by rolname",
                [names],
            ).fetchall(),
            *conn.execute("select datname, datacl::text from pg_database order by datname").fetchall(),
            *conn.execute("select nspname, nspacl::text from pg_namespace order by nspname").fetchall(),
            *conn.execute(
                "select n.nspname, c.relname, c.relacl::text from pg_class c join pg_namespace n "
                "on n.oid = c.relnamespace where n.nspname in ('marts', 'app', 'ops') order by 1, 2"
            ).fetchall(),
            *conn.execute("select defaclnamespace::regnamespace::text, defaclacl::text from pg_default_acl order by 1"),
        ]


def test_a_second_set_up_changes_nothing(roles_warehouse: Warehouse) -> None:
    info = roles_warehouse.connection()
    before = _grants_snapshot(info)
    report = roles_warehouse.ensure_roles()
    assert report.changes == [] and report.warnings == []
    assert _grants_snapshot(info) == before


def test_the_first_set_up_reported_what_it_did(warehouse: Warehouse) -> None:
    own = Warehouse(replace(warehouse.settings, database="roles_fresh"))
    own.ensure_ready()
    report = own.ensure_roles()
    assert report.warnings == []
    assert "create app.saved_views" in report.changes
    assert "create ops.api_keys, ops.api_rate_limits" in report.changes
    assert f"grant UPDATE (last_used_at) on ops.api_keys to {API.name}" in report.changes
    assert f"grant SELECT on future relations of marts to {READER.name}" in report.changes
    assert "revoke PUBLIC's CONNECT on roles_fresh_dagster" in report.changes
    assert own.ensure_roles().changes == []


def test_passwords_are_kept_private_and_never_logged(
    roles_warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    home = roles_warehouse.settings.home
    for role in (READER, APP, API):
        kept = home / role.password_file
        assert stat.S_IMODE(kept.stat().st_mode) == 0o600
        assert redact(f"password={kept.read_text().strip()}") == "password=***"
    configured = "reader-" + secrets.token_urlsafe(16)
    monkeypatch.setenv(READER.variable, configured)
    assert roles_warehouse.reader_connection().password == configured
    server_log = roles_warehouse.embedded.log_file if roles_warehouse.embedded else None
    assert server_log is not None
    logged_before = server_log.stat().st_size
    # Every statement of the set-up in the server's log: the password must not be among them.
    with monkeypatch.context() as during:
        during.setenv("PGOPTIONS", "-c log_statement=all")
        caplog.set_level("INFO")
        report = roles_warehouse.ensure_roles()
    assert any(change.startswith(f"set the password of {READER.name}") for change in report.changes)
    with server_log.open() as log_file:
        log_file.seek(logged_before)
        statements = log_file.read()
    assert "alter role" in statements and configured not in statements
    assert configured not in caplog.text
    with _as(roles_warehouse.reader_connection()) as reader:
        assert reader.execute("select count(*) from marts.mart_before").fetchone() == (1,)

    wrong = replace(roles_warehouse.reader_connection(), password="not-the-" + secrets.token_urlsafe(8))
    with pytest.raises(WarehouseError) as refused:
        connect(wrong)
    assert "password authentication failed" in str(refused.value)
    assert configured not in str(refused.value) and wrong.password not in str(refused.value)

    # Back to the kept password once the variable is unset.
    monkeypatch.delenv(READER.variable)
    assert roles_warehouse.ensure_roles().changes
    with _as(roles_warehouse.reader_connection()):
        pass


def test_scram_verifiers_are_checked_without_the_server(connection: ConnectionInfo) -> None:
    with connect(connection) as conn:
        verifier = conn.pgconn.encrypt_password(b"s3cret-password", b"someone", b"scram-sha-256").decode()
    assert scram_matches(verifier, "s3cret-password")
    assert not scram_matches(verifier, "s3cret-passwore")
    assert not scram_matches(None, "s3cret-password")
    assert not scram_matches("md5d3b07384d113edec49eaa6238ad5ff00", "s3cret-password")
    assert not scram_matches("SCRAM-SHA-256$4096:!!$x:y", "s3cret-password")


@pytest.fixture
def external_owner(
    warehouse: Warehouse, roles_warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Warehouse]:
    """An external warehouse whose role owns its database but may not create roles (the reader exists already)."""
    password = "owner-" + secrets.token_urlsafe(12)
    admin = warehouse.connection()
    with connect(admin.with_database("postgres"), autocommit=True) as conn:
        conn.execute("drop database if exists roles_external")
        conn.execute("drop role if exists roles_owner")
        conn.execute(sql.SQL("create role roles_owner login password {}").format(sql.Literal(password)))
        conn.execute("create database roles_external owner roles_owner")
    info = ConnectionInfo(admin.host, admin.port, "roles_owner", password, "roles_external")
    yield Warehouse(replace(warehouse.settings, url=info.url()))
    with connect(admin.with_database("postgres"), autocommit=True) as conn:
        conn.execute("drop database roles_external with (force)")
        conn.execute("drop owned by roles_owner")
        conn.execute("drop role roles_owner")


def test_an_external_role_without_createrole_grants_what_it_owns_and_says_the_rest(
    external_owner: Warehouse, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    missing = Role("modelatlas_missing", "MODELATLAS_MISSING_PASSWORD", "missing-password")
    monkeypatch.setattr(roles, "ROLES", (READER, APP, API, missing))
    caplog.set_level("INFO")
    report = external_owner.ensure_roles()
    [warning] = report.warnings
    assert "CREATE ROLE modelatlas_missing LOGIN PASSWORD '<password>'" in warning
    assert "roles_owner may not create roles" in warning and "MODELATLAS_MISSING_PASSWORD" in warning
    assert "CREATE ROLE modelatlas_missing" in caplog.text
    password = missing.password(external_owner.settings.home)
    assert password not in caplog.text and password not in warning
    # The roles that exist get their grants from the owner, now and for marts created later.
    with connect(external_owner.connection(), autocommit=True) as owner:
        owner.execute("create table marts.later as select 1 as id")
    with _as(external_owner.reader_connection()) as reader:
        assert reader.execute("select id from marts.later").fetchall() == [(1,)]
    assert external_owner.ensure_roles().changes == []


def test_grants_survive_a_dbt_rebuild(roles_warehouse: Warehouse, tmp_path: Path) -> None:
    info = roles_warehouse.connection()
    ensure_every_source_table(info, tmp_path / "dlt")
    tables = set()
    for build in range(2):
        result = run_dbt(info, tmp_path / "dbt", "build", "--select", f"+{DBT_MART}", "--exclude", *NOT_MODELS)
        assert result.returncode == 0, result.stdout[-4000:]
        with connect(info) as owner:
            tables.add(owner.execute("select %s::regclass::oid", [f"marts.{DBT_MART}"]).fetchone())
        with _as(roles_warehouse.reader_connection()) as reader:
            assert reader.execute(f"select count(*) from marts.{DBT_MART}").fetchone() == (0,), build
            for (relation,) in reader.execute(
                "select c.oid::regclass::text from pg_class c join pg_namespace n on n.oid = c.relnamespace "
                "where n.nspname in ('staging', 'intermediate') and c.relkind in ('r', 'v')"
            ).fetchall():
                assert _denied(reader, f"select * from {relation} limit 1"), relation
    assert len(tables) == 2, "the second build replaces the table"


def test_warehouse_url_reader_prints_a_working_url(warehouse: Warehouse, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["warehouse", "url", "--reader"]) == 0
    url = capsys.readouterr().out.strip()
    info = ConnectionInfo.from_url(url)
    assert info.user == READER.name and info.database == warehouse.connection().database
    assert info == warehouse.reader_connection()
    with _as(info) as reader:
        assert _denied(reader, "create table marts.mine (id int)")
    assert main(["warehouse", "url", "--app"]) == 0
    assert ConnectionInfo.from_url(capsys.readouterr().out.strip()).user == APP.name
