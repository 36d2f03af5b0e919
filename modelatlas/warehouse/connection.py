"""Connection details of the warehouse server, and what each tool needs to reach it."""

from __future__ import annotations

from dataclasses import dataclass, replace
from urllib.parse import quote, unquote, urlsplit

from modelatlas.errors import ConfigurationError

DEFAULT_POSTGRES_PORT = 5432


@dataclass(frozen=True)
class ConnectionInfo:
    """One database on one PostgreSQL server."""

    host: str
    port: int
    user: str
    password: str
    database: str

    @classmethod
    def from_url(cls, url: str) -> ConnectionInfo:
        """Parse a `postgresql://user:password@host:port/database` URL."""
        parts = urlsplit(url)
        if parts.scheme not in ("postgresql", "postgres") or not parts.hostname:
            raise ConfigurationError("the warehouse URL must look like postgresql://user:password@host:port/database")
        database = unquote(parts.path.lstrip("/"))
        if not database:
            raise ConfigurationError("the warehouse URL names no database: add one, as in postgresql://host/modelatlas")
        try:
            port = DEFAULT_POSTGRES_PORT if parts.port is None else parts.port
        except ValueError:
            raise ConfigurationError("the warehouse URL has a port that is not a number between 1 and 65535") from None
        if port == 0:
            raise ConfigurationError("the warehouse URL has port 0: use the server's port, such as 5432")
        return cls(
            host=parts.hostname,
            port=port,
            user=unquote(parts.username or "postgres"),
            password=unquote(parts.password or ""),
            database=database,
        )

    def url(self) -> str:
        """The URL form, password included: hand it to clients, never to logs."""
        credentials = quote(self.user, safe="")
        if self.password:
            credentials += ":" + quote(self.password, safe="")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"postgresql://{credentials}@{host}:{self.port}/{quote(self.database, safe='')}"

    def display_url(self) -> str:
        """The URL with the password masked, for messages."""
        masked = replace(self, password="***" if self.password else "")
        return masked.url().replace("%2A%2A%2A", "***")

    def with_database(self, database: str) -> ConnectionInfo:
        """The same server and role, another database."""
        return replace(self, database=database)

    def dbt_env(self) -> dict[str, str]:
        """The variables `dbt_project/profiles.yml` reads; dbt scrubs `DBT_ENV_SECRET_*` values from its output."""
        return {
            "MODELATLAS_DBT_HOST": self.host,
            "MODELATLAS_DBT_PORT": str(self.port),
            "MODELATLAS_DBT_USER": self.user,
            "MODELATLAS_DBT_DATABASE": self.database,
            "DBT_ENV_SECRET_MODELATLAS_PASSWORD": self.password,
        }
