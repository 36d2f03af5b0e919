"""Dagster resources: typed, configured from the environment when a run starts."""

from modelatlas.resources.quality import QualityGateResource
from modelatlas.resources.warehouse import WarehouseResource

__all__ = ["QualityGateResource", "WarehouseResource"]
