"""The alerts' settings, read from MODELATLAS_* variables when a sensor or command starts, never at import."""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, get_args

from pydantic import Field, PrivateAttr, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NoDecode,
    SettingsConfigDict,
)

from modelatlas.errors import ConfigurationError
from modelatlas.settings import GivenSettings

ENV_PREFIX = "MODELATLAS_"


class AlertSettings(GivenSettings):
    """Where alerts go and how they are paced; build it with `alert_settings()`."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True)

    slack_webhook_url: SecretStr | None = Field(None, description="a Slack incoming-webhook URL")
    discord_webhook_url: SecretStr | None = Field(None, description="a Discord webhook URL")
    webhook_url: SecretStr | None = Field(None, description="the https URL Standard Webhooks are posted to")
    webhook_secret: SecretStr | None = Field(None, description="the Standard Webhooks signing secret (whsec_...)")
    smtp_url: SecretStr | None = Field(None, description="an smtp:// or smtps:// URL: smtps://user:password@host:465")
    alert_email_to: Annotated[tuple[str, ...], NoDecode] = Field(
        (), description="comma-separated email addresses: ops@example.com,finops@example.com"
    )
    alert_email_from: str | None = Field(None, description="the sender's email address: alerts@example.com")
    alerts_file: Path | None = Field(None, description="the path of a routing-rules YAML file (examples/alerts.yaml)")
    alerts_since: datetime | None = Field(
        None, description="an ISO 8601 date and time, as 2026-01-31T09:00:00Z (without a zone it is UTC)"
    )
    alerts_allow_http: bool = Field(False, description="true or false (default false)")
    alerts_interval_s: int = Field(30, ge=5, description="a whole number of seconds, 5 or more (default 30)")
    alerts_price_min_percent: float = Field(0, ge=0, description="a percent, 0 or more (default 0: every price change)")
    alerts_budget_thresholds: Annotated[tuple[float, ...], NoDecode] = Field(
        (50, 80, 100), description="comma-separated percents above 0 (default 50,80,100)"
    )
    alerts_retiring_days: Annotated[tuple[int, ...], NoDecode] = Field(
        (30, 7, 1), description="comma-separated whole days, 0 or more (default 30,7,1)"
    )
    alerts_retiring_used_only: bool = Field(True, description="true or false (default true)")
    alerts_retiring_used_days: int = Field(30, ge=1, description="whole days, 1 or more (default 30)")
    alerts_retry_base_s: float = Field(2, gt=0, description="seconds above 0 (default 2)")
    alerts_retry_max_s: float = Field(3600, gt=0, description="seconds above 0 (default 3600)")
    alerts_max_attempts: int = Field(10, ge=1, description="a whole number of attempts, 1 or more (default 10)")
    alerts_timeout_s: float = Field(10, gt=0, description="seconds above 0 (default 10)")
    dashboard_url: str | None = Field(None, description="the dashboard's http(s) URL, linked from alerts")
    dagster_url: str | None = Field(None, description="the Dagster UI's http(s) URL, linked from alerts")

    # The environment the settings were read from: routing-rules files name further variables in it.
    _environ: Mapping[str, str] = PrivateAttr(default_factory=dict)

    @field_validator("alert_email_to", "alerts_budget_thresholds", "alerts_retiring_days", mode="before")
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        return tuple(part.strip() for part in value.split(",") if part.strip()) if isinstance(value, str) else value

    @field_validator("alert_email_to")
    @classmethod
    def _addresses(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for address in value:
            check_email_address(address)
        return value

    @field_validator("alert_email_from")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        return None if value is None else check_email_address(value)

    @field_validator("alerts_file")
    @classmethod
    def _expand_user(cls, value: Path | None) -> Path | None:
        return None if value is None else value.expanduser()

    @field_validator("alerts_since", mode="before")
    @classmethod
    def _iso_datetime(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            raise ValueError("not an ISO 8601 date and time") from None

    @field_validator("alerts_since")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    @field_validator("alerts_budget_thresholds")
    @classmethod
    def _percents(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if not value or min(value) <= 0:
            raise ValueError("every threshold must be a percent above 0, and there must be at least one")
        return tuple(sorted(set(value)))

    @field_validator("alerts_retiring_days")
    @classmethod
    def _days(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if not value or min(value) < 0:
            raise ValueError("every entry must be a whole number of days, 0 or more, and there must be at least one")
        return tuple(sorted(set(value), reverse=True))

    @field_validator("dashboard_url", "dagster_url")
    @classmethod
    def _link(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("not an http(s) URL")
        return None if value is None else value.rstrip("/")

    @model_validator(mode="after")
    def _retry_bounds(self) -> AlertSettings:
        if self.alerts_retry_max_s < self.alerts_retry_base_s:
            raise ValueError(
                "MODELATLAS_ALERTS_RETRY_MAX_S is below MODELATLAS_ALERTS_RETRY_BASE_S: "
                "raise the maximum or lower the base delay"
            )
        return self

    def variable(self, name: str) -> str | None:
        """The value of `name` in the environment these settings were read from; None when unset or blank."""
        return self._environ.get(name)


class _MappingEnvSource(EnvSettingsSource):
    """pydantic-settings' environment source over a given mapping instead of `os.environ`."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._mapping = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {name if self.case_sensitive else name.lower(): value for name, value in self._mapping.items()}


def check_email_address(address: str) -> str:
    """`address` when it looks like an email address (one @, no spaces), else a ValueError."""
    local, at, domain = address.partition("@")
    if not (at and local and "." in domain and "@" not in domain and not any(c.isspace() for c in address)):
        raise ValueError(f"{address!r} is not an email address")
    return address


def alert_settings(env: Mapping[str, str] | None = None) -> AlertSettings:
    """The alerts' settings from `MODELATLAS_*` variables of `env` (default the process's); blank ones are unset."""
    env = os.environ if env is None else env
    environ = {name: value.strip() for name, value in env.items() if value.strip()}
    try:
        settings = AlertSettings(**_MappingEnvSource(AlertSettings, environ)())
    except ValidationError as error:
        # The error's own text would repeat the values, secrets included.
        raise ConfigurationError("; ".join(_describe(detail, environ) for detail in error.errors())) from None
    settings._environ = environ
    return settings


def _describe(detail: Mapping[str, Any], environ: Mapping[str, str]) -> str:
    ctx = detail.get("ctx") or {}
    reason = str(ctx["error"]) if detail["type"] == "value_error" and "error" in ctx else detail["msg"]
    if not detail["loc"]:
        return reason
    field_name = str(detail["loc"][0])
    variable = f"{ENV_PREFIX}{field_name.upper()}"
    field = AlertSettings.model_fields[field_name]
    secret = SecretStr in get_args(field.annotation)
    shown = variable if secret else f"{variable}={environ.get(variable, '')!r}"
    return f"{shown} is invalid ({reason}): set it to {field.description}"


def alert_variables() -> tuple[str, ...]:
    """Every variable the alert settings read (tests and the benchmark clear them)."""
    return tuple(f"MODELATLAS_{name.upper()}" for name in AlertSettings.model_fields)
