"""The delivery channels: Slack and Discord webhooks, signed Standard Webhooks, email over SMTP."""

from __future__ import annotations

import base64
import binascii
import functools
import json
import logging
import math
import smtplib
import ssl
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from http.client import HTTPException
from typing import Any, Literal, cast
from urllib.error import URLError
from urllib.parse import parse_qs, unquote, urlsplit

import httpx
from slack_sdk.errors import SlackRequestError
from slack_sdk.webhook import WebhookClient
from standardwebhooks.webhooks import Webhook

from modelatlas.alerts.model import ChannelKind, DeliveryResult, Event
from modelatlas.alerts.render import discord_payload, email_message, slack_payload, webhook_body
from modelatlas.errors import ConfigurationError
from modelatlas.redaction import redact, register_secret

SmtpSecurity = Literal["starttls", "ssl", "none"]
SMTP_SECURITIES: tuple[SmtpSecurity, ...] = ("starttls", "ssl", "none")
USER_AGENT = "ModelAtlas-alerts"
WEBHOOK_SECRET_VARIABLE = "MODELATLAS_WEBHOOK_SECRET"
SMTP_URL_VARIABLE = "MODELATLAS_SMTP_URL"
# Slack's answers that mean the webhook will never work again (Slack's incoming-webhook error reference).
SLACK_GONE_ERRORS = frozenset(
    {"channel_is_archived", "no_service", "action_prohibited", "no_active_hooks", "team_disabled", "invalid_token"}
)
SLACK_GONE_STATUSES = frozenset({404, 410})
# 404 Unknown Webhook, 401 Invalid Webhook Token: Discord deleted the webhook or its token.
DISCORD_GONE_STATUSES = frozenset({401, 404, 410})
ERROR_TEXT_LIMIT = 200
# slack_sdk logs the webhook URL (its token) at debug level: a logger of its own, quiet, keeps it out of every log.
_SLACK_LOGGER = logging.getLogger("modelatlas.alerts.slack_sdk")
_SLACK_LOGGER.setLevel(logging.CRITICAL)
_SLACK_LOGGER.propagate = False


# --- Classifying answers ---------------------------------------------------------------------------------------


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds a Retry-After value asks to wait: delta-seconds or an HTTP date; None when absent or unreadable."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            moment = parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        seconds = (moment - (now or datetime.now(UTC))).total_seconds()
    if math.isnan(seconds) or math.isinf(seconds):
        return None
    return max(seconds, 0.0)


def header_value(headers: Mapping[str, str], name: str) -> str | None:
    """One header's value, whatever the case of its name."""
    wanted = name.lower()
    return next((value for key, value in headers.items() if key.lower() == wanted), None)


def short_text(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` on one line, at most 200 characters, with every known secret and `secrets` redacted."""
    line = " ".join(redact(text, extra=secrets).split())
    return line if len(line) <= ERROR_TEXT_LIMIT else line[: ERROR_TEXT_LIMIT - 1] + "…"


def classify_http(
    status: int, headers: Mapping[str, str], body: str, receiver: str = "the webhook receiver"
) -> DeliveryResult:
    """A generic HTTP answer: 2xx delivered, 410 gone, anything else failed, with Retry-After when given."""
    if 200 <= status < 300:
        return DeliveryResult(ok=True, status_code=status)
    return DeliveryResult(
        ok=False,
        status_code=status,
        retry_after_s=retry_after_seconds(header_value(headers, "retry-after")),
        error=_http_error(receiver, status, body),
        gone=status == 410,
    )


def classify_slack(status: int, headers: Mapping[str, str], body: str) -> DeliveryResult:
    """Slack's answer: 200 "ok" delivered; 404, 410 and the archived/disabled errors gone; 429 waits."""
    answer = body.strip()
    if status == 200 and answer == "ok":
        return DeliveryResult(ok=True, status_code=status)
    return DeliveryResult(
        ok=False,
        status_code=status,
        retry_after_s=retry_after_seconds(header_value(headers, "retry-after")),
        error=_http_error("Slack", status, answer or "(empty body)"),
        gone=status in SLACK_GONE_STATUSES or answer in SLACK_GONE_ERRORS,
    )


def classify_discord(status: int, headers: Mapping[str, str], body: str) -> DeliveryResult:
    """Discord's answer: 2xx delivered; 401, 404 and 410 gone; 429 waits as its JSON or Retry-After says."""
    if 200 <= status < 300:
        return DeliveryResult(ok=True, status_code=status)
    parsed = _json_object(body)
    retry_after = _number(parsed.get("retry_after"))
    if retry_after is None:
        retry_after = retry_after_seconds(header_value(headers, "retry-after"))
    message = parsed.get("message")
    return DeliveryResult(
        ok=False,
        status_code=status,
        retry_after_s=retry_after,
        error=_http_error("Discord", status, message if isinstance(message, str) else body),
        gone=status in DISCORD_GONE_STATUSES,
    )


def network_failure(receiver: str, error: BaseException, timeout_s: float, secrets: Iterable[str]) -> DeliveryResult:
    """A failure before any answer (refused, timed out, reset) as a result whose text holds no URL or secret."""
    causes = list(exception_chain(error))
    if any(isinstance(cause, TimeoutError | httpx.TimeoutException) for cause in causes):
        text = f"{receiver} did not answer within {timeout_s:g} s"
    elif any(isinstance(cause, ConnectionRefusedError) for cause in causes):
        text = f"{receiver} refused the connection"
    else:
        root = causes[-1]
        text = f"{receiver} could not be reached ({type(root).__name__}: {root})"
    return DeliveryResult(ok=False, error=short_text(text, secrets))


def exception_chain(error: BaseException) -> Iterator[BaseException]:
    """`error`, then what caused it (urllib's `reason`, `raise ... from`, the exception being handled), in turn."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        reason = current.reason if isinstance(current, URLError) else None
        current = reason if isinstance(reason, BaseException) else (current.__cause__ or current.__context__)


def _http_error(receiver: str, status: int, body: str) -> str:
    text = f"{receiver} answered HTTP {status}"
    return f"{text}: {body}" if body.strip() else text


def _json_object(body: str) -> dict[str, Any]:
    try:
        parsed = json.loads(body)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _number(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return max(float(value), 0.0)
    return None


def _url_secrets(url: str) -> tuple[str, ...]:
    # The whole URL, and its path alone: the token may show up in either.
    path = urlsplit(url).path
    return (url, path) if len(path) > 1 else (url,)


def _http_url(url: str, what: str, variable: str) -> str:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(f"{variable} is not an http(s) URL: set it to the {what} (https://...)")
    return url.strip()


# --- Slack -----------------------------------------------------------------------------------------------------


class SlackChannel:
    """A Slack incoming webhook."""

    kind: ChannelKind = "slack"

    def __init__(self, name: str, url: str, timeout_s: float = 10.0) -> None:
        self.name = name
        self.timeout_s = timeout_s
        self._url = _http_url(url, "Slack incoming-webhook URL", "MODELATLAS_SLACK_WEBHOOK_URL")
        register_secret(self._url)

    def __repr__(self) -> str:
        return f"SlackChannel(name={self.name!r})"

    def send(self, message_id: str, events: Sequence[Event], digest: bool = False) -> DeliveryResult:
        """Post one message; Slack's answer, or why none came, as a result."""
        # urllib takes a float timeout; slack_sdk annotates it int. Retries are the outbox's, not the client's.
        client = WebhookClient(self._url, timeout=cast(int, self.timeout_s), logger=_SLACK_LOGGER, retry_handlers=[])
        try:
            response = client.send_dict(slack_payload(events, digest), headers={"User-Agent": USER_AGENT})
        except (OSError, HTTPException, UnicodeError, SlackRequestError) as error:
            return network_failure("Slack", error, self.timeout_s, _url_secrets(self._url))
        headers = {str(key): str(value) for key, value in dict(response.headers).items()}
        result = classify_slack(response.status_code, headers, response.body)
        return _scrubbed(result, _url_secrets(self._url))


def _scrubbed(result: DeliveryResult, secrets: Iterable[str]) -> DeliveryResult:
    if result.error is None:
        return result
    return replace(result, error=short_text(result.error, secrets))


@functools.cache
def http_client(timeout_s: float) -> httpx.Client:
    """The process's HTTP client for the Discord and webhook channels: its connections and TLS set-up are reused
    from one send to the next (a client per send spent ~26 ms loading certificates)."""
    return httpx.Client(timeout=timeout_s, limits=httpx.Limits(max_connections=32, max_keepalive_connections=16))


# --- Discord ---------------------------------------------------------------------------------------------------


class DiscordChannel:
    """A Discord channel webhook."""

    kind: ChannelKind = "discord"

    def __init__(self, name: str, url: str, timeout_s: float = 10.0) -> None:
        self.name = name
        self.timeout_s = timeout_s
        self._url = _http_url(url, "Discord webhook URL", "MODELATLAS_DISCORD_WEBHOOK_URL")
        register_secret(self._url)

    def __repr__(self) -> str:
        return f"DiscordChannel(name={self.name!r})"

    def send(self, message_id: str, events: Sequence[Event], digest: bool = False) -> DeliveryResult:
        """Post one message; Discord's answer, or why none came, as a result."""
        try:
            response = http_client(self.timeout_s).post(
                self._url, json=discord_payload(events, digest), headers={"user-agent": USER_AGENT}
            )
        except (httpx.HTTPError, OSError) as error:
            return network_failure("Discord", error, self.timeout_s, _url_secrets(self._url))
        result = classify_discord(response.status_code, response.headers, response.text)
        return _scrubbed(result, _url_secrets(self._url))


# --- Standard Webhooks -----------------------------------------------------------------------------------------


def webhook_signer(secret: str) -> Webhook:
    """The Standard Webhooks signer of a `whsec_<base64>` secret; a malformed secret is a ConfigurationError."""
    problem = (
        f"{WEBHOOK_SECRET_VARIABLE} is not a Standard Webhooks secret: expected 'whsec_' followed by base64 "
        "(generate one with: echo whsec_$(openssl rand -base64 32))"
    )
    if not secret.startswith("whsec_"):
        raise ConfigurationError(problem)
    encoded = secret.removeprefix("whsec_")
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ConfigurationError(problem) from None
    if not key:
        raise ConfigurationError(problem)
    return Webhook(key)


def webhook_headers(signer: Webhook, message_id: str, body: bytes, at: datetime) -> dict[str, str]:
    """The Standard Webhooks headers of one attempt made at `at`: id, timestamp and signature."""
    return {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(math.floor(at.timestamp())),
        "webhook-signature": signer.sign(message_id, at, body),
    }


class WebhookChannel:
    """A generic HTTPS endpoint receiving signed Standard Webhooks."""

    kind: ChannelKind = "webhook"

    def __init__(self, name: str, url: str, secret: str, timeout_s: float = 10.0) -> None:
        self.name = name
        self.timeout_s = timeout_s
        self._url = _http_url(url, "receiver's URL", "MODELATLAS_WEBHOOK_URL")
        self._signer = webhook_signer(secret)
        self._secret = secret
        register_secret(secret)

    def __repr__(self) -> str:
        return f"WebhookChannel(name={self.name!r})"

    def send(self, message_id: str, events: Sequence[Event], digest: bool = False) -> DeliveryResult:
        """Post one signed message; the same id and body on every retry, a fresh timestamp and signature."""
        body = webhook_body(message_id, events, digest).encode()
        headers = {"user-agent": USER_AGENT, **webhook_headers(self._signer, message_id, body, datetime.now(UTC))}
        secrets = (*_url_secrets(self._url), self._secret)
        try:
            response = http_client(self.timeout_s).post(self._url, content=body, headers=headers)
        except (httpx.HTTPError, OSError) as error:
            return network_failure("The webhook receiver", error, self.timeout_s, secrets)
        return _scrubbed(classify_http(response.status_code, response.headers, response.text), secrets)


# --- Email -----------------------------------------------------------------------------------------------------


class EmailChannel:
    """Email through an SMTP server: plain SMTP, STARTTLS or implicit TLS."""

    kind: ChannelKind = "email"

    def __init__(
        self,
        name: str,
        host: str,
        port: int,
        sender: str,
        recipients: Sequence[str],
        username: str | None = None,
        password: str | None = None,
        security: SmtpSecurity = "starttls",
        timeout_s: float = 10.0,
    ) -> None:
        if security not in SMTP_SECURITIES:
            raise ConfigurationError(f"SMTP security must be one of {', '.join(SMTP_SECURITIES)}, not {security!r}")
        if not recipients:
            raise ConfigurationError("An email channel needs at least one recipient")
        self.name = name
        self.host = host
        self.port = port
        self.sender = sender
        self.recipients = tuple(recipients)
        self.username = username
        self.security = security
        self.timeout_s = timeout_s
        self._password = password
        register_secret(password)

    def __repr__(self) -> str:
        return f"EmailChannel(name={self.name!r}, host={self.host!r}, port={self.port})"

    def send(self, message_id: str, events: Sequence[Event], digest: bool = False) -> DeliveryResult:
        """Send one email; the SMTP server's refusal, or why it could not be reached, as a result."""
        message = email_message(events, digest, self.sender, self.recipients, message_id=message_id)
        secrets = [self._password] if self._password else []
        try:
            refused = self._deliver(message)
        except smtplib.SMTPRecipientsRefused as error:
            codes = sorted({code for code, _ in error.recipients.values()})
            text = f"the SMTP server refused every recipient ({', '.join(map(str, codes))})"
            return DeliveryResult(ok=False, status_code=codes[0] if codes else None, error=text)
        except smtplib.SMTPAuthenticationError as error:
            text = f"the SMTP server rejected the user name or password ({error.smtp_code}): check {SMTP_URL_VARIABLE}"
            return DeliveryResult(ok=False, status_code=error.smtp_code, error=short_text(text, secrets))
        except smtplib.SMTPResponseException as error:
            text = f"the SMTP server answered {error.smtp_code}: {_smtp_reply(error.smtp_error)}"
            return DeliveryResult(ok=False, status_code=error.smtp_code, error=short_text(text, secrets))
        except smtplib.SMTPException as error:
            return DeliveryResult(ok=False, error=short_text(f"SMTP failed: {error}", secrets))
        except OSError as error:
            return network_failure(f"The SMTP server {self.host}:{self.port}", error, self.timeout_s, secrets)
        if refused:
            # The others got it: a retry would send them a second copy.
            codes = sorted({code for code, _ in refused.values()})
            text = f"the SMTP server refused {len(refused)} of {len(self.recipients)} recipients ({codes[0]})"
            return DeliveryResult(ok=True, status_code=250, error=text)
        return DeliveryResult(ok=True, status_code=250)

    def _deliver(self, message: EmailMessage) -> dict[str, tuple[int, bytes]]:
        context = ssl.create_default_context() if self.security != "none" else None
        smtp = (
            smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout_s, context=context)
            if self.security == "ssl"
            else smtplib.SMTP(self.host, self.port, timeout=self.timeout_s)
        )
        with smtp:
            if self.security == "starttls":
                smtp.starttls(context=context)
            if self.username:
                smtp.login(self.username, self._password or "")
            return smtp.send_message(message, from_addr=self.sender, to_addrs=list(self.recipients))


def _smtp_reply(reply: bytes | str) -> str:
    return reply.decode(errors="replace") if isinstance(reply, bytes) else reply


@dataclass(frozen=True)
class SmtpSettings:
    """What an SMTP URL says: where to connect, how to secure it, whom to log in as."""

    host: str
    port: int
    security: SmtpSecurity
    username: str | None = None
    password: str | None = field(default=None, repr=False)


def email_channel_from_url(
    name: str, smtp_url: str, recipients: Sequence[str], sender: str | None = None, timeout_s: float = 10.0
) -> EmailChannel:
    """An email channel from `smtp://user:pass@host:port[?starttls=true]` or `smtps://...`."""
    smtp = parse_smtp_url(smtp_url)
    return EmailChannel(
        name,
        host=smtp.host,
        port=smtp.port,
        sender=sender or f"modelatlas@{smtp.host}",
        recipients=recipients,
        username=smtp.username,
        password=smtp.password,
        security=smtp.security,
        timeout_s=timeout_s,
    )


def parse_smtp_url(smtp_url: str) -> SmtpSettings:
    """The settings of an SMTP URL, user name and password percent-decoded; errors never hold the password."""
    parts = urlsplit(smtp_url.strip())
    scheme = parts.scheme.lower()
    if scheme not in ("smtp", "smtps"):
        raise _smtp_url_error("it must start with smtp:// or smtps://")
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        # Python's message quotes the bad port, which may be a piece of an unencoded password.
        raise _smtp_url_error("its port is not a number") from None
    if not host:
        raise _smtp_url_error("it has no host")
    if parts.path not in ("", "/") or parts.fragment:
        raise _smtp_url_error("it has a path or a fragment")
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    register_secret(password)
    security: SmtpSecurity = "ssl" if scheme == "smtps" else _starttls_choice(parts.query, default=bool(username))
    return SmtpSettings(host, port or _DEFAULT_PORTS[security], security, username, password)


_DEFAULT_PORTS: Mapping[SmtpSecurity, int] = {"ssl": 465, "starttls": 587, "none": 25}


def _starttls_choice(query: str, default: bool) -> SmtpSecurity:
    try:
        options = parse_qs(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError:
        raise _smtp_url_error("its query is malformed") from None
    unknown = set(options) - {"starttls"}
    if unknown:
        # Not named: an unencoded "?" in the password puts a piece of it here.
        raise _smtp_url_error("starttls is its only option")
    if "starttls" not in options:
        return "starttls" if default else "none"
    value = options["starttls"][-1].lower()
    if value not in _BOOLEANS:
        raise _smtp_url_error("starttls must be true or false")
    return "starttls" if _BOOLEANS[value] else "none"


_BOOLEANS = {"true": True, "1": True, "yes": True, "on": True, "false": False, "0": False, "no": False, "off": False}


def _smtp_url_error(reason: str) -> ConfigurationError:
    return ConfigurationError(
        f"{SMTP_URL_VARIABLE} is malformed: {reason}. Expected smtp://user:password@host:port "
        "(add ?starttls=true for STARTTLS) or smtps://user:password@host:port, with special characters of the "
        "user and password percent-encoded"
    )
