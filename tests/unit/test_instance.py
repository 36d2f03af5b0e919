"""The Dagster instance: dagster.yaml with Postgres storage whose password stays in the environment."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from modelatlas.instance import MARKER, PASSWORD_ENV, instance_config, prepare_instance
from modelatlas.settings import dagster_home
from modelatlas.warehouse import ConnectionInfo

PASSWORD = "dagster-pg-password-42"
STORAGE = ConnectionInfo(host="127.0.0.1", port=5433, user="modelatlas", password=PASSWORD, database="dagster")


@pytest.fixture(autouse=True)
def _restored_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """prepare_instance sets os.environ itself: record both variables so that monkeypatch puts them back."""
    for name in ("DAGSTER_HOME", PASSWORD_ENV):
        monkeypatch.setenv(name, "placeholder")
        monkeypatch.delenv(name)


def test_instance_config() -> None:
    config = instance_config(STORAGE)

    postgres_db = config["storage"]["postgres"]["postgres_db"]  # type: ignore[index]
    assert {k: postgres_db[k] for k in ("hostname", "port", "username", "db_name")} == {
        "hostname": "127.0.0.1",
        "port": 5433,
        "username": "modelatlas",
        "db_name": "dagster",
    }
    assert postgres_db["password"] == {"env": PASSWORD_ENV}
    assert PASSWORD not in repr(config)
    assert config["telemetry"] == {"enabled": False}


def test_prepare_instance_writes_dagster_yaml_and_points_the_environment_at_it(tmp_path: Path) -> None:
    home = prepare_instance(tmp_path, STORAGE)

    config_file = home / "dagster.yaml"
    written = config_file.read_text()
    assert home == tmp_path / "dagster"
    assert written.splitlines()[0] == MARKER
    assert yaml.safe_load(written) == instance_config(STORAGE)
    assert PASSWORD not in written
    assert os.environ["DAGSTER_HOME"] == str(home)
    assert os.environ[PASSWORD_ENV] == PASSWORD


def test_prepare_instance_rewrites_its_own_file(tmp_path: Path) -> None:
    prepare_instance(tmp_path, STORAGE)
    moved = ConnectionInfo(host="db.internal", port=6543, user="ops", password="other-password", database="runs")

    home = prepare_instance(tmp_path, moved)

    config = yaml.safe_load((home / "dagster.yaml").read_text())
    assert config == instance_config(moved)
    assert os.environ[PASSWORD_ENV] == "other-password"


def test_prepare_instance_keeps_a_dagster_yaml_without_the_marker(tmp_path: Path) -> None:
    own = tmp_path / "dagster" / "dagster.yaml"
    own.parent.mkdir()
    own.write_text("# mine\ntelemetry:\n  enabled: true\n")

    home = prepare_instance(tmp_path, STORAGE)

    assert own.read_text() == "# mine\ntelemetry:\n  enabled: true\n"
    assert os.environ["DAGSTER_HOME"] == str(home)
    assert os.environ[PASSWORD_ENV] == PASSWORD


def test_prepare_instance_uses_dagster_home_when_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "elsewhere" / ".." / "custom"))

    home = prepare_instance(tmp_path / "ma-home", STORAGE)

    assert home == (tmp_path / "custom").resolve()
    assert (home / "dagster.yaml").read_text().startswith(MARKER)
    assert not (tmp_path / "ma-home").exists()


def test_dagster_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert dagster_home(tmp_path) == tmp_path / "dagster"
    monkeypatch.setenv("DAGSTER_HOME", "   ")
    assert dagster_home(tmp_path) == tmp_path / "dagster"
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("DAGSTER_HOME", "~/dh")
    assert dagster_home(Path("/unused")) == (tmp_path / "dh").resolve()
