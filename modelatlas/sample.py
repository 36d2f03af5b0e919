"""Sample mode: every source served by the simulator, loaded into a database and Dagster instance of its own."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from modelatlas.warehouse import Warehouse

SAMPLE_DATABASE = "modelatlas_sample"
# The sample Dagster instance's folder under MODELATLAS_HOME: sample runs never enter the real assets' history.
SAMPLE_DAGSTER_HOME = "dagster-sample"


def sample_dagster_home(home: Path) -> Path:
    """The sample Dagster instance's DAGSTER_HOME."""
    return home / SAMPLE_DAGSTER_HOME


def sample_overrides(home: Path, simulator_variables: Mapping[str, str]) -> dict[str, str]:
    """The environment of sample mode: the simulator's variables (`sample_environment`), the sample database and
    the sample Dagster instance. Used by `modelatlas run --sample` and `ui`, and by every service of `up --sample`.
    """
    return {
        **simulator_variables,
        "MODELATLAS_WAREHOUSE_DATABASE": SAMPLE_DATABASE,
        "DAGSTER_HOME": str(sample_dagster_home(home)),
    }


def sample_warehouse(warehouse: Warehouse) -> Warehouse:
    """The same server, its sample database."""
    return Warehouse(replace(warehouse.settings, database=SAMPLE_DATABASE))
