"""Where events go: channels and routes from the environment and the routing-rules file, digests and quiet hours."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import SplitResult, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    StringConstraints,
    ValidationError,
    field_validator,
)

from modelatlas.alerts.channels import webhook_signer
from modelatlas.alerts.model import EVENT_KINDS, SEVERITIES, ChannelKind, Event, Severity
from modelatlas.alerts.settings import AlertSettings, check_email_address
from modelatlas.errors import ConfigurationError

Digest = Literal["hourly", "daily"]
DIGEST_PERIODS: Mapping[str, timedelta] = {"hourly": timedelta(hours=1), "daily": timedelta(days=1)}
FILE_VARIABLE = "MODELATLAS_ALERTS_FILE"
ALLOW_HTTP_VARIABLE = "MODELATLAS_ALERTS_ALLOW_HTTP"
SMTP_URL_VARIABLE = "MODELATLAS_SMTP_URL"
# The channels the simple variables configure, by name, and the variable that brings each in.
ENV_CHANNELS: Mapping[str, str] = {
    "slack": "MODELATLAS_SLACK_WEBHOOK_URL",
    "discord": "MODELATLAS_DISCORD_WEBHOOK_URL",
    "webhook": "MODELATLAS_WEBHOOK_URL",
    "email": "MODELATLAS_ALERT_EMAIL_TO",
}


@dataclass(frozen=True)
class ChannelConfig:
    """One destination: its kind and what reaching it takes (a URL, a signing secret, an SMTP server, addresses)."""

    name: str
    kind: ChannelKind
    url: SecretStr | None = None
    secret: SecretStr | None = None
    smtp_url: SecretStr | None = None
    email_to: tuple[str, ...] = ()
    email_from: str | None = None


@dataclass(frozen=True)
class Route:
    """Events matching every filter go to `channels`; an empty filter matches anything."""

    events: tuple[str, ...]
    channels: tuple[str, ...]
    providers: tuple[str, ...] = ()
    # fnmatch patterns over the event's canonical_model_id or provider_model_id.
    models: tuple[str, ...] = ()
    teams: tuple[str, ...] = ()
    components: tuple[str, ...] = ()
    min_percent: float | None = None
    # Replaces the event's severity on these channels.
    severity: Severity | None = None
    # Only events of this severity or above (their own, before `severity` replaces it).
    min_severity: Severity | None = None
    digest: Digest | None = None


@dataclass(frozen=True)
class QuietHours:
    """A daily window, in a time zone, when only events at or above `except_severity` are sent at once."""

    start: time
    end: time
    timezone: ZoneInfo
    except_severity: Severity = "critical"


@dataclass(frozen=True)
class AlertConfig:
    """Every configured channel, the routes to them and the quiet hours."""

    channels: Mapping[str, ChannelConfig]
    routes: tuple[Route, ...]
    quiet_hours: QuietHours | None = None


@dataclass(frozen=True)
class Routing:
    """One channel an event goes to, at which severity, and whether it waits for a digest."""

    channel: str
    severity: Severity
    digest: Digest | None = None


# --- the routing-rules file ---------------------------------------------------------------------------------------

_VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CHANNEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def _variable_name(value: str) -> str:
    if not _VARIABLE_NAME.fullmatch(value):
        raise ValueError(f"{value!r} is not an environment variable name: letters, digits and _")
    return value


def _channel_name(value: str) -> str:
    if not _CHANNEL_NAME.fullmatch(value):
        raise ValueError(f"{value!r} is not a channel name: up to 64 letters, digits and - _ .")
    return value


VariableName = Annotated[str, AfterValidator(_variable_name)]
ChannelName = Annotated[str, AfterValidator(_channel_name)]
Filter = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class _FileModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _SlackChannel(_FileModel):
    type: Literal["slack"]
    url_env: VariableName


class _DiscordChannel(_FileModel):
    type: Literal["discord"]
    url_env: VariableName


class _WebhookChannel(_FileModel):
    type: Literal["webhook"]
    url_env: VariableName
    secret_env: VariableName


class _EmailChannel(_FileModel):
    type: Literal["email"]
    smtp_url_env: VariableName = SMTP_URL_VARIABLE
    to: tuple[str, ...] = Field(min_length=1)
    sender: str | None = Field(None, alias="from")

    @field_validator("to")
    @classmethod
    def _addresses(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(check_email_address(address) for address in value)

    @field_validator("sender")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        return None if value is None else check_email_address(value)


_FileChannel = Annotated[_SlackChannel | _DiscordChannel | _WebhookChannel | _EmailChannel, Field(discriminator="type")]


class _FileRoute(_FileModel):
    events: tuple[Filter, ...] = Field(min_length=1)
    channels: tuple[ChannelName, ...] = Field(min_length=1)
    providers: tuple[Filter, ...] = ()
    models: tuple[Filter, ...] = ()
    teams: tuple[Filter, ...] = ()
    components: tuple[Filter, ...] = ()
    min_percent: float | None = Field(None, ge=0)
    severity: Severity | None = None
    min_severity: Severity | None = None
    digest: Digest | None = None

    @field_validator("events")
    @classmethod
    def _known_kinds(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in value:
            if not any(fnmatchcase(kind, pattern) for kind in EVENT_KINDS):
                raise ValueError(f"{pattern!r} matches no event kind; the kinds are {', '.join(EVENT_KINDS)}")
        return value


class _FileQuietHours(_FileModel):
    start: time
    end: time
    timezone: str = "UTC"
    except_severity: Severity = "critical"

    @field_validator("start", "end", mode="before")
    @classmethod
    def _clock_time(cls, value: Any) -> time:
        # YAML reads an unquoted 22:00 as the number 1320 (base 60).
        if not isinstance(value, str):
            raise ValueError('write the time in quotes, as "22:00"')
        try:
            clock = time.fromisoformat(value)
        except ValueError:
            raise ValueError('not a time of day; write it as "22:00"') from None
        if clock.tzinfo is not None:
            raise ValueError("write the time without an offset: timezone says where it is")
        return clock

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        zone_of(value)
        return value


class _AlertsFile(_FileModel):
    channels: dict[ChannelName, _FileChannel] = {}
    routes: tuple[_FileRoute, ...] = ()
    quiet_hours: _FileQuietHours | None = None


def zone_of(name: str) -> ZoneInfo:
    """The IANA time zone `name` ("Europe/Berlin"), or a ValueError saying it is unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{name!r} is not a known IANA time zone such as Europe/Berlin or UTC") from None


def load_alert_config(settings: AlertSettings) -> AlertConfig:
    """The channels and routes of the simple variables (every event to each), plus those of MODELATLAS_ALERTS_FILE."""
    channels = _env_channels(settings)
    routes = [Route(events=("*",), channels=(name,)) for name in channels]
    quiet_hours = None
    if settings.alerts_file is not None:
        path = settings.alerts_file
        parsed = _parse_file(path)
        for name, entry in parsed.channels.items():
            if name in channels:
                raise ConfigurationError(
                    f"{path}: channels.{name}: the name is taken by the channel {ENV_CHANNELS[name]} configures; "
                    "rename the file's channel"
                )
            channels[name] = _file_channel(name, entry, settings, path)
        routes.extend(_route(index, file_route, channels, path) for index, file_route in enumerate(parsed.routes))
        if parsed.quiet_hours is not None:
            quiet = parsed.quiet_hours
            if quiet.start == quiet.end:
                raise ConfigurationError(f"{path}: quiet_hours: start and end are equal; make the window longer")
            quiet_hours = QuietHours(quiet.start, quiet.end, zone_of(quiet.timezone), quiet.except_severity)
    _check_smtp_used(settings, channels)
    return AlertConfig(channels=channels, routes=tuple(routes), quiet_hours=quiet_hours)


def _env_channels(settings: AlertSettings) -> dict[str, ChannelConfig]:
    channels: dict[str, ChannelConfig] = {}
    allow_http = settings.alerts_allow_http
    if settings.slack_webhook_url is not None:
        url = _checked_url("slack", settings.slack_webhook_url, "MODELATLAS_SLACK_WEBHOOK_URL", allow_http)
        channels["slack"] = ChannelConfig("slack", "slack", url=url)
    if settings.discord_webhook_url is not None:
        url = _checked_url("discord", settings.discord_webhook_url, "MODELATLAS_DISCORD_WEBHOOK_URL", allow_http)
        channels["discord"] = ChannelConfig("discord", "discord", url=url)
    if settings.webhook_url is not None:
        if settings.webhook_secret is None:
            raise ConfigurationError(
                "MODELATLAS_WEBHOOK_URL is set without MODELATLAS_WEBHOOK_SECRET: set the signing secret "
                "(whsec_ followed by base64) the receiver verifies signatures with"
            )
        url = _checked_url("webhook", settings.webhook_url, "MODELATLAS_WEBHOOK_URL", allow_http)
        secret = _checked_secret("webhook", settings.webhook_secret, "MODELATLAS_WEBHOOK_SECRET")
        channels["webhook"] = ChannelConfig("webhook", "webhook", url=url, secret=secret)
    if settings.alert_email_to:
        if settings.smtp_url is None:
            raise ConfigurationError(
                "MODELATLAS_ALERT_EMAIL_TO is set without MODELATLAS_SMTP_URL: set the SMTP server to send through "
                "(smtps://user:password@host:465)"
            )
        channels["email"] = ChannelConfig(
            "email",
            "email",
            smtp_url=_checked_smtp_url("email", settings.smtp_url, SMTP_URL_VARIABLE),
            email_to=settings.alert_email_to,
            email_from=settings.alert_email_from,
        )
    return channels


def _check_smtp_used(settings: AlertSettings, channels: Mapping[str, ChannelConfig]) -> None:
    # An SMTP server nobody is mailed through is a forgotten MODELATLAS_ALERT_EMAIL_TO, not a wish for silence.
    if settings.smtp_url is not None and not any(channel.kind == "email" for channel in channels.values()):
        raise ConfigurationError(
            "MODELATLAS_SMTP_URL is set but no one receives email: set MODELATLAS_ALERT_EMAIL_TO "
            "(comma-separated addresses) or an email channel in MODELATLAS_ALERTS_FILE"
        )


def _parse_file(path: Path) -> _AlertsFile:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigurationError(
            f"{FILE_VARIABLE} points at {path}, which cannot be read ({error.strerror or error}); "
            "fix the path or unset the variable"
        ) from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise ConfigurationError(f"{path}: not valid YAML{where}; see examples/alerts.yaml") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigurationError(f"{path}: expected a mapping with channels, routes and quiet_hours at the top")
    try:
        return _AlertsFile.model_validate(raw)
    except ValidationError as error:
        problems = "; ".join(_describe(detail) for detail in error.errors())
        raise ConfigurationError(f"{path}: {problems} (see examples/alerts.yaml)") from None


def _describe(detail: Mapping[str, Any]) -> str:
    ctx = detail.get("ctx") or {}
    if detail["type"] == "value_error" and "error" in ctx:
        reason = str(ctx["error"])
    elif detail["type"] == "extra_forbidden":
        reason = "unknown key"
    elif detail["type"] == "missing":
        reason = "required key missing"
    elif detail["type"] == "tuple_type":
        reason = "should be a list"
    else:
        reason = detail["msg"]
    return f"{key_path(detail['loc'])}: {reason}"


def key_path(loc: Sequence[int | str]) -> str:
    """A validation error's location as a key path: ("routes", 0, "events") is "routes[0].events"."""
    path = ""
    # pydantic adds the channel's type (the union member) and "[key]" for a mapping's key: neither is in the file.
    parts = [part for index, part in enumerate(loc) if not (part == "[key]" or (index == 2 and loc[0] == "channels"))]
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else part)
    return path or "(top level)"


def _file_channel(name: str, channel: _FileChannel, settings: AlertSettings, path: Path) -> ChannelConfig:
    def required(key: str, variable: str) -> SecretStr:
        value = settings.variable(variable)
        if value is None:
            raise ConfigurationError(
                f"{path}: channels.{name}.{key}: {variable} is not set; set it or remove the channel {name!r}"
            )
        return SecretStr(value)

    if isinstance(channel, _EmailChannel):
        smtp_url = required("smtp_url_env", channel.smtp_url_env)
        return ChannelConfig(
            name,
            "email",
            smtp_url=_checked_smtp_url(name, smtp_url, channel.smtp_url_env),
            email_to=channel.to,
            email_from=channel.sender or settings.alert_email_from,
        )
    url = _checked_url(name, required("url_env", channel.url_env), channel.url_env, settings.alerts_allow_http)
    if isinstance(channel, _WebhookChannel):
        secret = _checked_secret(name, required("secret_env", channel.secret_env), channel.secret_env)
        return ChannelConfig(name, "webhook", url=url, secret=secret)
    return ChannelConfig(name, channel.type, url=url)


def _route(index: int, route: _FileRoute, channels: Mapping[str, ChannelConfig], path: Path) -> Route:
    for name in route.channels:
        if name not in channels:
            configured = ", ".join(channels) or "none"
            raise ConfigurationError(
                f"{path}: routes[{index}].channels: unknown channel {name!r} (configured: {configured}); "
                "define it under channels or set its MODELATLAS_* variable"
            )
    return Route(
        events=route.events,
        channels=route.channels,
        providers=route.providers,
        models=route.models,
        teams=route.teams,
        components=route.components,
        min_percent=route.min_percent,
        severity=route.severity,
        min_severity=route.min_severity,
        digest=route.digest,
    )


def _checked_url(channel: str, url: SecretStr, variable: str, allow_http: bool) -> SecretStr:
    parts = _split(url)
    if parts is None or not parts.hostname or parts.scheme not in ("https", "http"):
        raise ConfigurationError(f"channel {channel!r}: {variable} is not an https:// URL; check its value")
    if parts.scheme == "http" and not allow_http:
        raise ConfigurationError(
            f"channel {channel!r}: {variable} is an http URL, which would send alerts unencrypted; use https, "
            f"or set {ALLOW_HTTP_VARIABLE}=true for a local receiver"
        )
    return url


def _checked_smtp_url(channel: str, url: SecretStr, variable: str) -> SecretStr:
    parts = _split(url)
    if parts is None or not parts.hostname or parts.scheme not in ("smtp", "smtps"):
        raise ConfigurationError(
            f"channel {channel!r}: {variable} is not an SMTP URL; write smtp://user:password@host:587 "
            "or smtps://user:password@host:465"
        )
    return url


def _checked_secret(channel: str, secret: SecretStr, variable: str) -> SecretStr:
    try:
        webhook_signer(secret.get_secret_value())
    except ConfigurationError:
        raise ConfigurationError(
            f"channel {channel!r}: {variable} is not a Standard Webhooks secret; "
            "use whsec_ followed by base64 (24 to 64 random bytes)"
        ) from None
    return secret


def _split(url: SecretStr) -> SplitResult | None:
    try:
        parts = urlsplit(url.get_secret_value())
        _ = parts.port  # A port that is not a number raises here.
    except ValueError:
        return None
    return parts


# --- routing decisions --------------------------------------------------------------------------------------------


def route(event: Event, config: AlertConfig, price_min_percent: float = 0) -> list[Routing]:
    """The channels `event` goes to, one each: the highest severity of its routes there, a digest only if all digest."""
    chosen: dict[str, Routing] = {}
    for candidate in config.routes:
        if not matches(candidate, event, price_min_percent):
            continue
        severity = candidate.severity or event.severity
        for channel in candidate.channels:
            routing = Routing(channel, severity, candidate.digest)
            chosen[channel] = _merge(chosen[channel], routing) if channel in chosen else routing
    return list(chosen.values())


def matches(candidate: Route, event: Event, price_min_percent: float = 0) -> bool:
    """True when `event` passes every filter of `candidate`."""
    data = event.data
    models = [str(data[key]) for key in ("canonical_model_id", "provider_model_id") if data.get(key)]
    return (
        any(fnmatchcase(event.kind, pattern) for pattern in candidate.events)
        and _one_of(data.get("provider"), candidate.providers)
        and _one_of(data.get("team"), candidate.teams)
        and _one_of(data.get("component"), candidate.components)
        and (not candidate.models or any(_glob(model, pattern) for model in models for pattern in candidate.models))
        and (candidate.min_severity is None or _rank(event.severity) >= _rank(candidate.min_severity))
        and _percent_passes(event, candidate.min_percent, price_min_percent)
    )


def _one_of(value: Any, allowed: tuple[str, ...]) -> bool:
    return not allowed or (value is not None and str(value).casefold() in {item.casefold() for item in allowed})


def _glob(value: str, pattern: str) -> bool:
    return fnmatchcase(value.casefold(), pattern.casefold())


def _percent_passes(event: Event, route_min: float | None, price_min_percent: float) -> bool:
    # The global threshold is about prices; a budget's percent is of its spend and must not be held back by it.
    threshold = route_min if route_min is not None else (price_min_percent if event.kind.startswith("price.") else 0)
    percent = event.data.get("percent")
    if percent is None or not threshold:
        return True
    try:
        return abs(float(percent)) >= threshold
    except (TypeError, ValueError):  # An unreadable percent is no reason to drop an alert.
        return True


def _rank(severity: Severity) -> int:
    return SEVERITIES.index(severity)


def _merge(first: Routing, second: Routing) -> Routing:
    severity = max(first.severity, second.severity, key=_rank)
    digests = [first.digest, second.digest]
    digest = None if None in digests else min(digests, key=lambda mode: DIGEST_PERIODS[str(mode)])
    return Routing(first.channel, severity, digest)


def digest_due_at(at: datetime, mode: str) -> datetime:
    """The end of the UTC hour ("hourly") or day ("daily") containing `at`; a naive `at` is UTC."""
    moment = _as_utc(at)
    if mode == "hourly":
        return moment.replace(minute=0, second=0, microsecond=0) + DIGEST_PERIODS["hourly"]
    if mode == "daily":
        return datetime.combine(moment.date(), time(), tzinfo=UTC) + DIGEST_PERIODS["daily"]
    raise ValueError(f"unknown digest mode {mode!r}; use hourly or daily")


def quiet_until(at: datetime, quiet: QuietHours | None, severity: Severity) -> datetime | None:
    """When `at` is in the quiet hours and `severity` is below their exception, the UTC end of that quiet period."""
    if quiet is None or _rank(severity) >= _rank(quiet.except_severity):
        return None
    moment = _as_utc(at)
    local = moment.astimezone(quiet.timezone)
    clock = local.time().replace(tzinfo=None)
    spans_midnight = quiet.start > quiet.end
    inside = (clock >= quiet.start or clock < quiet.end) if spans_midnight else quiet.start <= clock < quiet.end
    if not inside:
        return None
    end_day = local.date() if clock < quiet.end else local.date() + timedelta(days=1)
    return _first_after(moment, end_day, quiet.end, quiet.timezone)


def _first_after(moment: datetime, day: date, clock: time, zone: ZoneInfo) -> datetime:
    instants = [instant for instant in clock_instants(day, clock, zone) if instant > moment]
    return min(instants) if instants else moment


def clock_instants(day: date, clock: time, zone: ZoneInfo) -> list[datetime]:
    """The UTC instants `zone`'s clocks show `clock` on `day`: two when they fall back over it, the jump if skipped."""
    wall = datetime.combine(day, clock)
    # fold=0 reads the wall time with the offset in force before a transition, fold=1 with the one after.
    before, after = (wall.replace(tzinfo=zone, fold=fold).astimezone(UTC) for fold in (0, 1))
    if before <= after:
        return sorted({before, after})
    # Skipped: the clock first shows `clock` or later when it jumps, somewhere in [after, before].
    low, high = after, before
    while high - low > timedelta(seconds=1):
        middle = low + timedelta(seconds=(high - low).total_seconds() // 2)
        if middle.astimezone(zone).utcoffset() == low.astimezone(zone).utcoffset():
            low = middle
        else:
            high = middle
    return [high]


def _as_utc(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
