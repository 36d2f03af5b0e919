"""The Dagster instance: run and event storage in the warehouse server's second database."""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from modelatlas.warehouse import ConnectionInfo

MARKER = "# Written by ModelAtlas from MODELATLAS_* settings; edits are overwritten. Remove this line to keep yours."
PASSWORD_ENV = "MODELATLAS_DAGSTER_PG_PASSWORD"


def dagster_home(modelatlas_home: Path) -> Path:
    """`DAGSTER_HOME` when set, else `MODELATLAS_HOME/dagster`."""
    raw = os.environ.get("DAGSTER_HOME", "").strip()
    return Path(raw).expanduser().resolve() if raw else modelatlas_home / "dagster"


def instance_config(storage: ConnectionInfo) -> dict[str, object]:
    """dagster.yaml contents: Postgres storage whose password is read from the environment, no telemetry."""
    return {
        "storage": {
            "postgres": {
                "postgres_db": {
                    "hostname": storage.host,
                    "port": storage.port,
                    "username": storage.user,
                    "password": {"env": PASSWORD_ENV},
                    "db_name": storage.database,
                    # dagster-postgres is written for psycopg2; SQLAlchemy 2.1 defaults postgresql:// to psycopg 3.
                    "scheme": "postgresql+psycopg2",
                }
            }
        },
        "telemetry": {"enabled": False},
        "nux": {"enabled": False},
    }


def prepare_instance(modelatlas_home: Path, storage: ConnectionInfo) -> Path:
    """Write dagster.yaml (unless the user keeps their own) and point this process's environment at it."""
    home = dagster_home(modelatlas_home)
    home.mkdir(parents=True, exist_ok=True)
    config_file = home / "dagster.yaml"
    if not config_file.exists() or config_file.read_text().startswith(MARKER):
        config_file.write_text(MARKER + "\n" + yaml.safe_dump(instance_config(storage), sort_keys=False))
    os.environ["DAGSTER_HOME"] = str(home)
    os.environ[PASSWORD_ENV] = storage.password
    return home
