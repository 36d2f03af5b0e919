"""The embedded warehouse: TCP with a password, kept rows across restarts, both databases, external URLs."""

from __future__ import annotations

import stat
from pathlib import Path

import psycopg
import pytest

from modelatlas.errors import ConfigurationError, WarehouseError
from modelatlas.settings import WarehouseSettings
from modelatlas.warehouse import ConnectionInfo, Warehouse, read_only_query
from modelatlas.warehouse.service import connect, table_row_counts
from tests.conftest import free_port


def test_listens_on_tcp_with_a_generated_password(warehouse: Warehouse, connection: ConnectionInfo) -> None:
    assert connection.host == "127.0.0.1"
    assert connection.port == warehouse.settings.port
    password_file = warehouse.settings.home / "warehouse-password"
    assert password_file.read_text().strip() == connection.password
    assert len(connection.password) >= 24
    assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(
            host="127.0.0.1", port=connection.port, user=connection.user, password="wrong", dbname="postgres"
        )


def test_creates_the_warehouse_and_dagster_databases(warehouse: Warehouse, connection: ConnectionInfo) -> None:
    _, rows = read_only_query(connection, "select datname from pg_database order by datname")
    names = {row[0] for row in rows}
    assert {"modelatlas", "modelatlas_dagster"} <= names
    assert warehouse.dagster_connection().database == "modelatlas_dagster"


def test_read_only_query_refuses_writes(connection: ConnectionInfo) -> None:
    with pytest.raises(WarehouseError, match="read-only transaction"):
        read_only_query(connection, "create table public.should_not_exist (id int)")


def test_rows_survive_a_stop_and_restart(tmp_path: Path) -> None:
    settings = WarehouseSettings(
        url=None, home=tmp_path, port=free_port(), password="chosen-password", dagster_database=None
    )
    server = Warehouse(settings)
    info = server.ensure_ready()
    try:
        with connect(info, autocommit=True) as conn:
            conn.execute("create table public.kept (id int primary key)")
            conn.execute("insert into public.kept select generate_series(1, 100)")
        assert server.stop() is True
        assert server.status() is not None and not server.status().running  # type: ignore[union-attr]
        assert "stopped" in server.status().describe()  # type: ignore[union-attr]
        server.ensure_ready()
        assert table_row_counts(info, ["public"]) == {"public.kept": 100}
        assert info.password == "chosen-password"
    finally:
        server.stop()
    assert server.stop() is False


def test_a_changed_password_setting_is_refused(tmp_path: Path) -> None:
    first = WarehouseSettings(
        url=None, home=tmp_path, port=free_port(), password="first-password", dagster_database=None
    )
    Warehouse(first).connection()
    second = WarehouseSettings(
        url=None, home=tmp_path, port=first.port, password="other-password", dagster_database=None
    )
    with pytest.raises(ConfigurationError, match="MODELATLAS_WAREHOUSE_PASSWORD differs"):
        Warehouse(second).connection()


def test_a_taken_port_gives_an_actionable_error(tmp_path: Path, warehouse: Warehouse) -> None:
    busy = WarehouseSettings(
        url=None, home=tmp_path, port=warehouse.settings.port, password=None, dagster_database=None
    )
    with pytest.raises(WarehouseError, match="MODELATLAS_WAREHOUSE_PORT"):
        Warehouse(busy).ensure_ready()


def test_an_external_url_is_used_as_is(connection: ConnectionInfo, tmp_path: Path) -> None:
    external = WarehouseSettings(
        url=connection.url(), home=tmp_path, port=1, password=None, dagster_database="external_dagster"
    )
    server = Warehouse(external)
    assert server.embedded is None and server.status() is None
    info = server.ensure_ready()
    assert info == connection
    _, rows = read_only_query(connection, "select 1 from pg_database where datname = 'external_dagster'")
    assert rows == [(1,)]
    assert not (tmp_path / "pgdata").exists()
    with pytest.raises(ConfigurationError, match="does not stop it"):
        server.stop()


def test_an_unreachable_server_names_the_url_without_the_password() -> None:
    info = ConnectionInfo("127.0.0.1", free_port(), "someone", "hunter2-secret", "modelatlas")
    with pytest.raises(WarehouseError) as raised:
        connect(info)
    assert "hunter2-secret" not in str(raised.value)
    assert f"127.0.0.1:{info.port}" in str(raised.value)
