"""Where ModelAtlas keeps its state, read from the environment when a command or run starts."""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from modelatlas.errors import ConfigurationError

if TYPE_CHECKING:
    from modelatlas.pipelines.spec import SourceSpec

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
DEFAULT_WAREHOUSE_PORT = 5433
DEFAULT_DATABASE = "modelatlas"


class GivenSettings(BaseSettings):
    """Settings built from the values given to them only (a mapping read by the caller, command-line options),
    never from the process's own environment or files: what a test or a command passes is what applies."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Only the values given."""
        return (init_settings,)


@dataclass(frozen=True)
class WarehouseSettings:
    """How to reach the warehouse: an external URL, or the embedded server's home, port and password."""

    url: str | None
    home: Path
    port: int
    password: str | None
    dagster_database: str | None
    database: str | None = None

    @property
    def embedded(self) -> bool:
        """True when ModelAtlas runs its own PostgreSQL server."""
        return self.url is None


def tool_path(name: str) -> str:
    """A command installed beside this Python (an unactivated virtualenv works too), else the one on PATH."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else (shutil.which(name) or name)


def dagster_home(home: Path, env: Mapping[str, str] | None = None) -> Path:
    """`DAGSTER_HOME` when set, else `MODELATLAS_HOME/dagster`."""
    env = os.environ if env is None else env
    raw = env.get("DAGSTER_HOME", "").strip()
    return Path(raw).expanduser().resolve() if raw else home / "dagster"


LOG_FORMAT_VARIABLE = "MODELATLAS_LOG_FORMAT"
LOG_LEVEL_VARIABLE = "MODELATLAS_LOG_LEVEL"


def log_settings(env: Mapping[str, str] | None = None) -> tuple[str, str]:
    """(format, level) of ModelAtlas's logs: `MODELATLAS_LOG_FORMAT` (text or json), `MODELATLAS_LOG_LEVEL`."""
    env = os.environ if env is None else env
    return env.get(LOG_FORMAT_VARIABLE, "text").lower(), env.get(LOG_LEVEL_VARIABLE, "INFO").upper()


def variable_values(names: Iterable[str], env: Mapping[str, str] | None = None) -> set[str]:
    """The values the variables `names` are set to (secrets, for redaction)."""
    env = os.environ if env is None else env
    return {env.get(name, "") for name in names}


def modelatlas_home(env: Mapping[str, str] | None = None) -> Path:
    """The folder that holds the embedded warehouse, dlt state and the Dagster instance."""
    env = os.environ if env is None else env
    raw = env.get("MODELATLAS_HOME", "").strip()
    return Path(raw).expanduser().resolve() if raw else PROJECT_ROOT / ".modelatlas"


def parse_port(raw: str | None, default: int, name: str) -> int:
    """A TCP port from a setting, with a clear error when it is not one."""
    if raw is None or raw.strip() == "":
        return default
    try:
        port = int(raw)
    except ValueError:
        raise ConfigurationError(f"{name}={raw!r} is not a port number: set it to a number such as {default}") from None
    if not 1 <= port <= 65535:
        raise ConfigurationError(f"{name}={port} is out of range: use a port between 1 and 65535")
    return port


def warehouse_settings(env: Mapping[str, str] | None = None) -> WarehouseSettings:
    """The warehouse settings from `MODELATLAS_WAREHOUSE_*` variables."""
    env = os.environ if env is None else env
    url = env.get("MODELATLAS_WAREHOUSE_URL", "").strip() or None
    if url is not None and not url.startswith(("postgresql://", "postgres://")):
        raise ConfigurationError(
            "MODELATLAS_WAREHOUSE_URL must be a postgresql:// URL "
            "(for example postgresql://user:password@host:5432/modelatlas); unset it to use the embedded warehouse"
        )
    return WarehouseSettings(
        url=url,
        home=modelatlas_home(env),
        port=parse_port(env.get("MODELATLAS_WAREHOUSE_PORT"), DEFAULT_WAREHOUSE_PORT, "MODELATLAS_WAREHOUSE_PORT"),
        password=env.get("MODELATLAS_WAREHOUSE_PASSWORD") or None,
        dagster_database=env.get("MODELATLAS_DAGSTER_DATABASE") or None,
        database=env.get("MODELATLAS_WAREHOUSE_DATABASE", "").strip() or None,
    )


def parse_seconds(raw: str | None, default: float, name: str = "MODELATLAS_GENAI_PRICES_TIMEOUT") -> float:
    """A positive duration in seconds from a setting."""
    if raw is None or raw.strip() == "":
        return default
    try:
        seconds = float(raw)
    except ValueError:
        raise ConfigurationError(f"{name}={raw!r} is not a number of seconds") from None
    if not (math.isfinite(seconds) and seconds > 0):
        raise ConfigurationError(f"{name} must be more than 0 seconds")
    return seconds


@contextlib.contextmanager
def environment(overrides: Mapping[str, str | None]) -> Iterator[None]:
    """Set variables (None unsets one) for the duration of a block, restoring the previous values afterwards."""
    saved = {name: os.environ.get(name) for name in overrides}
    try:
        for name, value in overrides.items():
            _set_variable(name, value)
        yield
    finally:
        for name, previous in saved.items():
            _set_variable(name, previous)


def _set_variable(name: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


@dataclass(frozen=True)
class SourceConfig:
    """One source as the environment configures it when a run starts: key, base URL, region, its own settings."""

    api_key: str | None
    base_url: str | None
    region: str
    options: Mapping[str, Any]
    # Why the source is not read this time (no key, switched off); None when it is.
    skip_reason: str | None


def source_config(spec: SourceSpec, env: Mapping[str, str] | None = None) -> SourceConfig:
    """The key, base URL, region label and settings of `spec`, and why it is skipped (a required key missing)."""
    env = os.environ if env is None else env
    credential = spec.credential
    api_key = (env.get(credential.env, "").strip() or None) if credential is not None else None
    skip_reason = None
    if credential is not None and credential.required and api_key is None:
        skip_reason = f"skipped: {credential.env} is not set"
    base_url = None
    if spec.base_url is not None:
        variable = spec.variable("BASE_URL")
        base_url = env.get(variable, "").strip() or spec.base_url
        if not base_url.startswith(("http://", "https://")):
            raise ConfigurationError(f"{variable} must be an http(s) URL, got {base_url!r}")
        base_url = base_url.rstrip("/")
    options: dict[str, Any] = {}
    for setting in spec.settings:
        variable = spec.variable(setting.suffix)
        raw = env.get(variable)
        if setting.required and not (raw or "").strip():
            skip_reason = skip_reason or f"skipped: {variable} is not set"
            continue
        if raw is not None and not raw.strip() and setting.empty_skips:
            skip_reason = skip_reason or f"skipped: {variable} is empty"
            continue
        options[setting.option] = setting.parse(setting.default if raw is None else raw, variable)
    region = env.get(spec.variable("REGION"), "").strip() or "global"
    return SourceConfig(api_key=api_key, base_url=base_url, region=region, options=options, skip_reason=skip_reason)


def source_cron(spec: SourceSpec, env: Mapping[str, str] | None = None) -> str:
    """A source's cadence: `MODELATLAS_<PREFIX>_CRON`, else its default."""
    env = os.environ if env is None else env
    return env.get(spec.variable("CRON"), "").strip() or spec.cadence


DBT_CONNECTION_VARIABLES = (
    "MODELATLAS_DBT_HOST",
    "MODELATLAS_DBT_PORT",
    "MODELATLAS_DBT_USER",
    "MODELATLAS_DBT_DATABASE",
)
AUTOMATION_INTERVAL_VARIABLE = "MODELATLAS_AUTOMATION_INTERVAL"
DEFAULT_AUTOMATION_INTERVAL_S = 30


def dbt_target_path(home: Path) -> Path:
    """Where dbt's artifacts live for the warehouse of `home`: the manifest, its partial-parse state and each build's
    own folder (dagster-dbt's), beside the warehouse they describe; the project's folder is never written to."""
    return home / "dbt" / "target"


def dbt_artifact_environment(home: Path) -> dict[str, str]:
    """`DBT_TARGET_PATH` (read by dbt, and by dagster-dbt for each build's folder and the partial-parse state it
    copies there) and `DBT_LOG_PATH` (dbt commands run by hand), both under `home`."""
    return {"DBT_TARGET_PATH": str(dbt_target_path(home)), "DBT_LOG_PATH": str(home / "dbt" / "logs")}


def dbt_connection_settings(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The connection dbt's profile reads, without the password (it lands in the manifest; the password never does)."""
    env = os.environ if env is None else env
    return {name: env.get(name, "") for name in DBT_CONNECTION_VARIABLES}


def automation_interval_s(env: Mapping[str, str] | None = None) -> int:
    """How often the daemon evaluates which dbt models are due (`MODELATLAS_AUTOMATION_INTERVAL`, seconds)."""
    env = os.environ if env is None else env
    return max(
        1,
        round(
            parse_seconds(
                env.get(AUTOMATION_INTERVAL_VARIABLE), DEFAULT_AUTOMATION_INTERVAL_S, AUTOMATION_INTERVAL_VARIABLE
            )
        ),
    )


# The cadences a dbt model can follow instead of building on every change of its inputs (its `meta`
# `modelatlas_cadence`): the current-status models every 2 minutes, the daily rollups every 10, not on every probe.
MODEL_CADENCES: dict[str, tuple[str, str]] = {
    "current": ("MODELATLAS_STATUS_MARTS_CRON", "*/2 * * * *"),
    "daily": ("MODELATLAS_DAILY_MARTS_CRON", "*/10 * * * *"),
}


def model_cadence_cron(cadence: str, env: Mapping[str, str] | None = None) -> str:
    """The cron of a dbt model cadence (`current`, `daily`), from its variable or its default."""
    if cadence not in MODEL_CADENCES:
        raise ConfigurationError(
            f"unknown modelatlas_cadence {cadence!r} in a dbt model's meta; use one of {', '.join(MODEL_CADENCES)}"
        )
    env = os.environ if env is None else env
    variable, default = MODEL_CADENCES[cadence]
    cron = env.get(variable, "").strip() or default
    from croniter import croniter

    if not croniter.is_valid(cron):
        raise ConfigurationError(f"{variable} must be a cron expression, got {cron!r}")
    return cron


OUTAGE_MIN_FAILURES_VARIABLE = "MODELATLAS_OUTAGE_MIN_FAILURES"


def outage_min_failures(env: Mapping[str, str] | None = None) -> int:
    """Consecutive failed probes that make an outage episode (`MODELATLAS_OUTAGE_MIN_FAILURES`, default 3)."""
    env = os.environ if env is None else env
    raw = env.get(OUTAGE_MIN_FAILURES_VARIABLE, "").strip() or "3"
    if not raw.isdigit() or int(raw) < 1:
        raise ConfigurationError(
            f"{OUTAGE_MIN_FAILURES_VARIABLE} must be a whole number of probes, 1 or more; got {raw!r}"
        )
    return int(raw)


BUDGET_WARNING_VARIABLE = "MODELATLAS_BUDGET_WARNING_SHARE"
RECONCILIATION_THRESHOLD_VARIABLE = "MODELATLAS_COST_RECONCILIATION_THRESHOLD"
USAGE_AS_OF_VARIABLE = "MODELATLAS_USAGE_AS_OF"


def _share(env: Mapping[str, str], variable: str, default: str) -> float:
    raw = env.get(variable, "").strip() or default
    try:
        share = float(raw)
    except ValueError:
        share = math.nan
    if not 0 < share <= 1:
        raise ConfigurationError(f"{variable} must be a share above 0 and at most 1 (0.8 is 80%); got {raw!r}")
    return share


def usage_variables(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The usage marts' settings as dbt vars: the budget warning share (`MODELATLAS_BUDGET_WARNING_SHARE`, 0.8), the
    reconciliation threshold (`MODELATLAS_COST_RECONCILIATION_THRESHOLD`, 0.02) and, when set, the day the budgets
    are forecast from (`MODELATLAS_USAGE_AS_OF`, a date; today otherwise)."""
    env = os.environ if env is None else env
    variables: dict[str, Any] = {
        "budget_warning_share": _share(env, BUDGET_WARNING_VARIABLE, "0.8"),
        "cost_reconciliation_threshold": _share(env, RECONCILIATION_THRESHOLD_VARIABLE, "0.02"),
    }
    if raw := env.get(USAGE_AS_OF_VARIABLE, "").strip():
        try:
            variables["usage_as_of"] = date.fromisoformat(raw).isoformat()
        except ValueError:
            raise ConfigurationError(f"{USAGE_AS_OF_VARIABLE} must be a date (2026-01-31); got {raw!r}") from None
    return variables


@dataclass(frozen=True)
class GateSettings:
    """The quality gate's batch guards' thresholds (docs/quality.md)."""

    max_shrink: float = 0.5
    max_price_jump_share: float = 0.2
    jump_factor: float = 10.0
    sample_rows: int = 10


MAX_SHRINK_ENV = "MODELATLAS_QUALITY_MAX_SHRINK"
MAX_PRICE_JUMP_SHARE_ENV = "MODELATLAS_QUALITY_MAX_PRICE_JUMP_SHARE"
SAMPLE_ROWS_ENV = "MODELATLAS_QUALITY_SAMPLE_ROWS"


def parse_share(raw: str | None, default: float, name: str) -> float:
    """A share from 0 to 1 from a setting; blank means the default."""
    if raw is None or not raw.strip():
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not 0 <= value <= 1:
        raise ConfigurationError(f"{name} must be a share from 0 to 1 (0.5 means 50%), got {raw!r}")
    return value


def gate_settings(env: Mapping[str, str] | None = None) -> GateSettings:
    """The gate's thresholds from `MODELATLAS_QUALITY_*` settings, defaults for those unset."""
    env = os.environ if env is None else env
    defaults = GateSettings()
    raw_sample = env.get(SAMPLE_ROWS_ENV, "").strip()
    if raw_sample and not (raw_sample.isdigit() and int(raw_sample) > 0):
        raise ConfigurationError(f"{SAMPLE_ROWS_ENV} must be a positive whole number, got {raw_sample!r}")
    return GateSettings(
        max_shrink=parse_share(env.get(MAX_SHRINK_ENV), defaults.max_shrink, MAX_SHRINK_ENV),
        max_price_jump_share=parse_share(
            env.get(MAX_PRICE_JUMP_SHARE_ENV), defaults.max_price_jump_share, MAX_PRICE_JUMP_SHARE_ENV
        ),
        sample_rows=int(raw_sample) if raw_sample else defaults.sample_rows,
    )


MAX_CONCURRENT_RUNS_ENV = "MODELATLAS_MAX_CONCURRENT_RUNS"
DEFAULT_MAX_CONCURRENT_RUNS = 3


def max_concurrent_runs(env: Mapping[str, str] | None = None) -> int:
    """How many runs the queue lets execute at once (`MODELATLAS_MAX_CONCURRENT_RUNS`, default 3)."""
    env = os.environ if env is None else env
    raw = env.get(MAX_CONCURRENT_RUNS_ENV, "").strip()
    if not raw:
        return DEFAULT_MAX_CONCURRENT_RUNS
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ConfigurationError(
            f"{MAX_CONCURRENT_RUNS_ENV}={raw!r} is not a number of runs: set it to 1 or more "
            f"(default {DEFAULT_MAX_CONCURRENT_RUNS})"
        )
    return value
