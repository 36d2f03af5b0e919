"""The warehouse server: the embedded one or an external PostgreSQL, and the databases ModelAtlas keeps there."""

from modelatlas.warehouse.connection import ConnectionInfo
from modelatlas.warehouse.service import Warehouse, read_only_query

__all__ = ["ConnectionInfo", "Warehouse", "read_only_query"]
