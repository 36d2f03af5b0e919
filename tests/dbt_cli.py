"""dbt run by hand against a test database of its own, as `modelatlas dbt` would: the project's vars, own folders."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from modelatlas.assets.dbt import vars_arguments
from modelatlas.settings import DBT_PROJECT_DIR, tool_path
from modelatlas.warehouse import ConnectionInfo


def run_dbt(info: ConnectionInfo, target: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`dbt <args>` on `info`'s database, its artifacts and logs under `target`; the outcome, never raised."""
    env = {**os.environ, **info.dbt_env()}
    command = [tool_path("dbt"), *args, *vars_arguments()]
    command += ["--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR)]
    command += ["--target-path", str(target / "target"), "--log-path", str(target / "logs")]
    return subprocess.run(command, env=env, capture_output=True, text=True, check=False, timeout=900)
