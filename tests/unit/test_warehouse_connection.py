"""Connection details of the warehouse: parsing its URL, writing it back, masking it, and dbt's variables."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelatlas.errors import ConfigurationError
from modelatlas.settings import WarehouseSettings
from modelatlas.warehouse import Warehouse
from modelatlas.warehouse.connection import ConnectionInfo


def test_from_url() -> None:
    info = ConnectionInfo.from_url("postgresql://ma:pw@db.internal:6543/modelatlas")

    assert info == ConnectionInfo(host="db.internal", port=6543, user="ma", password="pw", database="modelatlas")


def test_from_url_defaults() -> None:
    info = ConnectionInfo.from_url("postgres://db.internal/modelatlas")

    assert (info.user, info.password, info.port) == ("postgres", "", 5432)


def test_from_url_decodes_percent_encoding() -> None:
    info = ConnectionInfo.from_url("postgresql://data%20team:p%40ss%3Aw%2Fd%25@h/my%20db")

    assert (info.user, info.password, info.database) == ("data team", "p@ss:w/d%", "my db")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://u:pw-secret@h/db", "must look like postgresql://user:password@host:port/database"),
        ("postgresql:///modelatlas", "must look like postgresql://user:password@host:port/database"),
        ("db.internal:5432/modelatlas", "must look like postgresql://user:password@host:port/database"),
        ("postgresql://u:pw-secret@h", "names no database"),
        ("postgresql://u:pw-secret@h/", "names no database"),
        ("postgresql://u:pw-secret@h:port/db", "port that is not a number between 1 and 65535"),
        ("postgresql://u:pw-secret@h:70000/db", "port"),
    ],
)
def test_from_url_errors(url: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message) as raised:
        ConnectionInfo.from_url(url)

    assert "pw-secret" not in str(raised.value)


def test_url() -> None:
    info = ConnectionInfo(host="h", port=5433, user="data team", password="p@ss:w/d", database="my db")

    assert info.url() == "postgresql://data%20team:p%40ss%3Aw%2Fd@h:5433/my%20db"


def test_url_without_a_password() -> None:
    info = ConnectionInfo(host="h", port=5432, user="ma", password="", database="modelatlas")

    assert info.url() == "postgresql://ma@h:5432/modelatlas"


def test_display_url_masks_the_password() -> None:
    info = ConnectionInfo(host="h", port=5433, user="ma", password="p@ss***word", database="modelatlas")

    assert info.display_url() == "postgresql://ma:***@h:5433/modelatlas"
    assert ConnectionInfo(host="h", port=5433, user="ma", password="", database="db").display_url() == (
        "postgresql://ma@h:5433/db"
    )


def test_url_round_trips_an_ipv6_host() -> None:
    info = ConnectionInfo.from_url("postgresql://ma:pw@[::1]:5433/modelatlas")

    assert info.host == "::1"
    assert ConnectionInfo.from_url(info.url()) == info


def test_with_database() -> None:
    info = ConnectionInfo(host="h", port=5433, user="ma", password="pw", database="modelatlas")

    assert info.with_database("dagster") == replace(info, database="dagster")
    assert info.database == "modelatlas"


def test_dbt_env() -> None:
    info = ConnectionInfo(host="h", port=5433, user="ma", password="pw", database="modelatlas")

    assert info.dbt_env() == {
        "MODELATLAS_DBT_HOST": "h",
        "MODELATLAS_DBT_PORT": "5433",
        "MODELATLAS_DBT_USER": "ma",
        "MODELATLAS_DBT_DATABASE": "modelatlas",
        "DBT_ENV_SECRET_MODELATLAS_PASSWORD": "pw",
    }


def test_a_warehouse_s_dbt_environment_is_its_connection_and_its_home_s_artifact_folders(tmp_path: Path) -> None:
    url = "postgresql://ma:pw@db.internal:6543/modelatlas"
    settings = WarehouseSettings(url=url, home=tmp_path, port=5433, password=None, dagster_database=None)

    assert Warehouse(settings).dbt_environment() == {
        **ConnectionInfo.from_url(url).dbt_env(),
        "DBT_TARGET_PATH": str(tmp_path / "dbt" / "target"),
        "DBT_LOG_PATH": str(tmp_path / "dbt" / "logs"),
    }


text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=20)
connections = st.builds(
    ConnectionInfo,
    host=st.from_regex(r"[a-z][a-z0-9-]{0,15}(\.[a-z][a-z0-9-]{0,10}){0,2}", fullmatch=True),
    port=st.integers(min_value=1, max_value=65535),
    user=text.filter(bool),
    password=text,
    database=text.filter(bool),
)


@given(connections)
def test_url_round_trips(info: ConnectionInfo) -> None:
    assert ConnectionInfo.from_url(info.url()) == info


@given(connections)
def test_display_url_is_the_url_with_the_password_masked(info: ConnectionInfo) -> None:
    shown = ConnectionInfo.from_url(info.display_url())

    assert shown == replace(info, password="***" if info.password else "")
