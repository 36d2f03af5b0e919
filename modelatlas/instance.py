"""The Dagster instance: run and event storage in the warehouse server's second database."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import yaml

from modelatlas.settings import DEFAULT_MAX_CONCURRENT_RUNS, dagster_home, max_concurrent_runs
from modelatlas.warehouse import ConnectionInfo

MARKER = "# Written by ModelAtlas from MODELATLAS_* settings; edits are overwritten. Remove this line to keep yours."
PASSWORD_ENV = "MODELATLAS_DAGSTER_PG_PASSWORD"
# Runs of one source carry this tag; the run queue lets one run per value execute at a time.
SOURCE_TAG = "modelatlas/source"


def instance_config(storage: ConnectionInfo, run_limit: int = DEFAULT_MAX_CONCURRENT_RUNS) -> dict[str, object]:
    """dagster.yaml contents: Postgres storage whose password is read from the environment, the run queue's limits,
    the concurrency pools, no telemetry.

    Every pool admits one step at a time (the dbt build, each source's load), whoever starts it, and the queue
    holds a run until its pool is free; at most one run of a source executes at once.
    """
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
        "concurrency": {
            "pools": {"granularity": "op", "default_limit": 1},
            "runs": {
                "max_concurrent_runs": run_limit,
                "tag_concurrency_limits": [
                    {"key": SOURCE_TAG, "value": {"applyLimitPerUniqueValue": True}, "limit": 1},
                ],
            },
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
        config = instance_config(storage, max_concurrent_runs())
        config_file.write_text(MARKER + "\n" + yaml.safe_dump(config, sort_keys=False))
    os.environ["DAGSTER_HOME"] = str(home)
    os.environ[PASSWORD_ENV] = storage.password
    return home


def initialize_pools(pools: Iterable[str]) -> None:
    """Create each concurrency pool at the default limit now, one after the other.

    Dagster creates a pool when a step first claims it; two runs claiming a new pool at once made one of them fail
    on PostgreSQL (the losing insert aborts the transaction its update then runs in).
    """
    import dagster as dg

    with dg.DagsterInstance.get() as instance:
        storage = instance.event_log_storage
        known = storage.get_concurrency_keys()
        for pool in pools:
            if pool not in known:
                storage.initialize_concurrency_limit_to_default(pool)
