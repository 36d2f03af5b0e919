"""The warehouse as a Dagster resource: one server for dlt, dbt and the Dagster instance."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import dagster as dg
import dlt

from modelatlas.pipelines.loading import make_pipeline
from modelatlas.settings import WarehouseSettings, warehouse_settings
from modelatlas.warehouse import ConnectionInfo, Warehouse, read_only_query

# Warehouses this process has already started or reached: checking again (pg_ctl, two connections) for every
# table lookup of every step cost seconds per cycle. A server that stops later fails the next query clearly.
_READY: dict[WarehouseSettings, ConnectionInfo] = {}


class WarehouseResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """The PostgreSQL warehouse; unset fields come from `MODELATLAS_*` variables when the run starts."""

    url: str | None = None
    home: str | None = None
    port: int | None = None

    def settings(self) -> WarehouseSettings:
        """The environment's settings with this resource's explicit fields on top."""
        base = warehouse_settings()
        return WarehouseSettings(
            url=self.url or base.url,
            home=Path(self.home).resolve() if self.home else base.home,
            port=self.port or base.port,
            password=base.password,
            dagster_database=base.dagster_database,
            database=base.database,
        )

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        """Give this run's dbt processes the warehouse's connection (dbt's profile reads the environment) and where
        their artifacts go."""
        self.connection()  # started (once per process) before the first dbt process reaches it
        os.environ.update(self.warehouse().dbt_environment())

    def warehouse(self) -> Warehouse:
        """The warehouse these settings describe."""
        return Warehouse(self.settings())

    def connection(self) -> ConnectionInfo:
        """Connection details of a running warehouse (the embedded one is started if needed, once per process)."""
        settings = self.settings()
        if settings not in _READY:
            _READY[settings] = Warehouse(settings).ensure_ready()
        return _READY[settings]

    def table_exists(self, table: str) -> bool:
        """Whether `table` (schema.name) exists in the warehouse."""
        _, exists = read_only_query(self.connection(), "select to_regclass(%s) is not null", [table])
        return bool(exists and exists[0][0])

    def query_if_exists(self, table: str, query: str) -> list[tuple[Any, ...]]:
        """Rows of a read-only `query` over `table` (schema.name), or none when the table does not exist yet."""
        if not self.table_exists(table):
            return []
        _, rows = read_only_query(self.connection(), query)
        return list(rows)

    def dlt_pipeline(self, name: str, dataset_name: str) -> dlt.Pipeline:
        """A dlt pipeline into `dataset_name`, its local state kept under MODELATLAS_HOME."""
        settings = self.settings()
        info = self.connection()
        # dlt keeps local state per pipeline; one folder per database keeps sample and real state apart.
        return make_pipeline(name, dataset_name, info.url(), settings.home / "dlt" / info.database)
