"""The API's settings, read from MODELATLAS_API_* variables when the service or a command starts, never at import."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from modelatlas.errors import ConfigurationError
from modelatlas.redaction import register_secret
from modelatlas.settings import GivenSettings

ENV_PREFIX = "MODELATLAS_API_"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
MEMORY_STORAGE = "memory"
WAREHOUSE_STORAGE = "warehouse"


class ApiSettings(GivenSettings):
    """Where the API listens, how it reads the warehouse, who may read what and how fast; build it with
    `api_settings()`."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True)

    host: str = Field(DEFAULT_HOST, description="the address to listen on (default 127.0.0.1)")
    port: int = Field(DEFAULT_PORT, ge=1, le=65535, description="a port between 1 and 65535 (default 8000)")
    pool_min: int = Field(2, ge=1, description="connections kept open to the warehouse, 1 or more (default 2)")
    pool_max: int = Field(10, ge=1, description="most connections to the warehouse at once, 1 or more (default 10)")
    statement_timeout_ms: int = Field(10_000, ge=100, description="milliseconds, 100 or more (default 10000)")
    page_size_max: int = Field(500, ge=1, description="the most rows one page may ask for (default 500)")
    public_read: bool = Field(False, description="true or false: anonymous reads of catalog, prices and status")
    jwt_secret: SecretStr | None = Field(None, description="the secret short-lived tokens are signed with")
    jwt_ttl_s: int = Field(900, ge=60, le=86_400, description="seconds a token lives, 60 to 86400 (default 900)")
    cors_origins: Annotated[tuple[str, ...], NoDecode] = Field(
        (), description="comma-separated origins allowed to call the API from a browser (default none)"
    )
    rate_limit_per_s: float = Field(20, gt=0, description="requests a second each key may make (default 20)")
    rate_limit_burst: int = Field(40, ge=1, description="requests a key may make at once (default 40)")
    rate_limit_storage: SecretStr = Field(
        SecretStr(MEMORY_STORAGE), description="memory, warehouse, or a redis:// URL (default memory)"
    )
    graphql_max_depth: int = Field(8, ge=2, description="the deepest GraphQL query accepted (default 8)")
    graphql_max_tokens: int = Field(2_000, ge=50, description="the longest GraphQL query in tokens (default 2000)")
    graphql_max_aliases: int = Field(20, ge=1, description="the most aliases in one GraphQL query (default 20)")
    graphql_max_complexity: int = Field(
        50_000, ge=100, description="the most rows one GraphQL query may read, estimated (default 50000)"
    )

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        return tuple(part.strip() for part in value.split(",") if part.strip()) if isinstance(value, str) else value

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for origin in value:
            if origin != "*" and not origin.startswith(("http://", "https://")):
                raise ValueError(f"{origin!r} is not an origin such as https://tools.example.com")
        return tuple(origin.rstrip("/") for origin in value)

    @field_validator("rate_limit_storage")
    @classmethod
    def _storage(cls, value: SecretStr) -> SecretStr:
        raw = value.get_secret_value().strip()
        if raw not in (MEMORY_STORAGE, WAREHOUSE_STORAGE) and not raw.startswith(("redis://", "rediss://")):
            raise ValueError("must be memory, warehouse or a redis:// URL")
        if raw.startswith("redis"):
            register_secret(raw)  # a Redis URL may carry a password
        return SecretStr(raw)

    @property
    def rate_limit_store(self) -> str:
        """The rate limit storage: `memory`, `warehouse` or a Redis URL (which may hold a password)."""
        return self.rate_limit_storage.get_secret_value()


def api_variables() -> list[str]:
    """Every variable the API reads."""
    return [ENV_PREFIX + name.upper() for name in ApiSettings.model_fields]


def api_settings(env: Mapping[str, str] | None = None, **overrides: Any) -> ApiSettings:
    """The API's settings from `env` (default the process environment) and `overrides` (command-line options)."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {
        name: env[ENV_PREFIX + name.upper()]
        for name in ApiSettings.model_fields
        if env.get(ENV_PREFIX + name.upper(), "").strip() != ""
    }
    values.update({name: value for name, value in overrides.items() if value is not None})
    try:
        settings = ApiSettings(**values)
    except ValidationError as error:
        raise ConfigurationError(_explain(error)) from None
    if settings.pool_max < settings.pool_min:
        raise ConfigurationError("MODELATLAS_API_POOL_MAX is below MODELATLAS_API_POOL_MIN: raise it or lower that")
    return settings


def _explain(error: ValidationError) -> str:
    """One line per bad variable: its name, what is wrong and what it takes; never the value."""
    lines = []
    for problem in error.errors():
        name = str(problem["loc"][0]) if problem["loc"] else ""
        field = ApiSettings.model_fields.get(name)
        expected = f" (expected {field.description})" if field is not None and field.description else ""
        lines.append(f"{ENV_PREFIX}{name.upper()}: {problem['msg']}{expected}")
    return "; ".join(lines)
