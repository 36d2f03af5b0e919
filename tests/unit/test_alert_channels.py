"""Delivery channels: answers classified, signatures that verify, and every channel against live local receivers."""

from __future__ import annotations

import base64
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from modelatlas.alerts.channels import (
    DiscordChannel,
    EmailChannel,
    SlackChannel,
    SmtpSecurity,
    WebhookChannel,
    classify_discord,
    classify_http,
    classify_slack,
    email_channel_from_url,
    parse_smtp_url,
    retry_after_seconds,
    webhook_headers,
    webhook_signer,
)
from modelatlas.alerts.model import Channel, DeliveryResult, Event
from modelatlas.alerts.render import webhook_body
from modelatlas.errors import ConfigurationError
from tests.alert_receivers import AlertReceiver, Reply, SmtpReceiver

SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
PROXY_ENV_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")
EVENT = Event(
    event_id="evt-1",
    kind="price.changed",
    severity="warning",
    occurred_at=datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC),
    title="OpenAI gpt-4o input price up 20.0% (genai-prices)",
    summary="The input price of gpt-4o went from $2.50 to $3.00 per million tokens.",
    facts=(("Old price", "$2.50 / Mtok"), ("New price", "$3.00 / Mtok")),
    data={"provider": "openai", "component": "input", "percent": Decimal("20.0")},
    link="https://atlas.example.test/prices/gpt-4o",
)


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROXY_ENV_VARS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def receiver() -> Iterator[AlertReceiver]:
    with AlertReceiver() as running:
        yield running


@pytest.fixture
def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- Retry-After and answers -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("7", 7.0),
        (" 1.5 ", 1.5),
        ("-3", 0.0),
        ("Tue, 04 Mar 2025 05:07:07 GMT", 60.0),
        ("Tue, 04 Mar 2025 05:00:00 GMT", 0.0),
        ("soon", None),
        ("", None),
        (None, None),
        ("nan", None),
    ],
)
def test_retry_after_is_seconds_or_an_http_date(value: str | None, expected: float | None) -> None:
    now = datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)
    assert retry_after_seconds(value, now=now) == expected


@pytest.mark.parametrize(
    ("status", "headers", "ok", "gone", "retry_after"),
    [
        (200, {}, True, False, None),
        (202, {}, True, False, None),
        (500, {}, False, False, None),
        (410, {}, False, True, None),
        (429, {"Retry-After": "7"}, False, False, 7.0),
        (503, {"retry-after": "2"}, False, False, 2.0),
        (404, {}, False, False, None),
        (301, {}, False, False, None),
    ],
)
def test_classify_http(status: int, headers: dict[str, str], ok: bool, gone: bool, retry_after: float | None) -> None:
    result = classify_http(status, headers, "")
    assert (result.ok, result.gone, result.retry_after_s, result.status_code) == (ok, gone, retry_after, status)
    assert (result.error is None) == ok


@pytest.mark.parametrize(
    ("status", "body", "ok", "gone"),
    [
        (200, "ok", True, False),
        (200, "not ok", False, False),
        (400, "invalid_payload", False, False),
        (403, "action_prohibited", False, True),
        (404, "channel_is_archived", False, True),
        (404, "no_service", False, True),
        (410, "", False, True),
        (403, "team_disabled", False, True),
        (500, "rollup_error", False, False),
    ],
)
def test_classify_slack(status: int, body: str, ok: bool, gone: bool) -> None:
    result = classify_slack(status, {}, body)
    assert (result.ok, result.gone) == (ok, gone)
    if not ok:
        assert result.error is not None and body in result.error


def test_classify_slack_rate_limit_reads_retry_after() -> None:
    assert classify_slack(429, {"Retry-After": "30"}, "rate_limited").retry_after_s == 30.0


@pytest.mark.parametrize(
    ("status", "headers", "body", "gone", "retry_after"),
    [
        (429, {}, '{"message": "You are being rate limited.", "retry_after": 1.25, "global": false}', False, 1.25),
        (429, {"Retry-After": "3"}, "", False, 3.0),
        (404, {}, '{"message": "Unknown Webhook", "code": 10015}', True, None),
        (401, {}, '{"message": "Invalid Webhook Token", "code": 50027}', True, None),
        (410, {}, "", True, None),
        (500, {}, "oops", False, None),
        (400, {}, '{"embeds": ["0"]}', False, None),
    ],
)
def test_classify_discord(
    status: int, headers: dict[str, str], body: str, gone: bool, retry_after: float | None
) -> None:
    result = classify_discord(status, headers, body)
    assert (result.ok, result.gone, result.retry_after_s) == (False, gone, retry_after)


def test_classify_discord_names_the_message() -> None:
    result = classify_discord(404, {}, '{"message": "Unknown Webhook", "code": 10015}')
    assert result.error == "Discord answered HTTP 404: Unknown Webhook"
    assert classify_discord(204, {}, "") == DeliveryResult(ok=True, status_code=204)


# --- Standard Webhooks signatures ------------------------------------------------------------------------------


def signed(at: datetime, body: bytes = b'{"type":"alerts.test"}') -> tuple[bytes, dict[str, str]]:
    return body, webhook_headers(webhook_signer(SECRET), "msg-1", body, at)


def test_a_signed_webhook_verifies() -> None:
    body, headers = signed(datetime.now(UTC))
    assert Webhook(SECRET).verify(body, headers) == {"type": "alerts.test"}
    assert headers["webhook-id"] == "msg-1"
    assert headers["content-type"] == "application/json"


def test_a_tampered_body_fails_verification() -> None:
    body, headers = signed(datetime.now(UTC))
    with pytest.raises(WebhookVerificationError, match="No matching signature"):
        Webhook(SECRET).verify(body.replace(b"test", b"tent"), headers)


def test_a_ten_minute_old_signature_fails_verification() -> None:
    body, headers = signed(datetime.now(UTC) - timedelta(minutes=10))
    with pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(SECRET).verify(body, headers)


@pytest.mark.parametrize(
    "secret", ["0123456789abcdef", "whsec_", "whsec_not base64!!", "whsec_@@@@@@@@", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]
)
def test_a_malformed_secret_fails_at_construction_without_showing_it(secret: str) -> None:
    with pytest.raises(ConfigurationError, match="MODELATLAS_WEBHOOK_SECRET") as raised:
        WebhookChannel("hook", "https://hooks.example.test/x", secret)
    hidden = secret.removeprefix("whsec_")
    assert not hidden or hidden not in str(raised.value)


@pytest.mark.parametrize("url", ["hooks.example.test/x", "ftp://hooks.example.test/x", "https://"])
def test_a_channel_url_must_be_http(url: str) -> None:
    with pytest.raises(ConfigurationError, match="http"):
        SlackChannel("slack", url)


# --- Every HTTP channel against a live receiver ----------------------------------------------------------------


@dataclass(frozen=True)
class Kind:
    prefix: str
    make: Callable[[str, float], Channel]


KINDS = {
    "slack": Kind("/slack/T000/B000/XXXXXXXXXXXXXXXXXXXXXXXX", lambda url, t: SlackChannel("slack", url, t)),
    "discord": Kind("/discord/123456/token-abcdef-ghijkl", lambda url, t: DiscordChannel("discord", url, t)),
    "webhook": Kind("/webhook/ingest/secret-path-123", lambda url, t: WebhookChannel("hook", url, SECRET, t)),
}


@pytest.fixture(params=sorted(KINDS))
def kind(request: pytest.FixtureRequest) -> Kind:
    return KINDS[request.param]


def send(receiver: AlertReceiver, kind: Kind, timeout_s: float = 2.0) -> DeliveryResult:
    return kind.make(receiver.url(kind.prefix), timeout_s).send("msg-1", [EVENT])


def test_delivery_succeeds(receiver: AlertReceiver, kind: Kind) -> None:
    result = send(receiver, kind)
    assert result.ok and result.error is None and not result.gone
    (request,) = receiver.requests_to(kind.prefix)
    assert request.headers["content-type"].startswith("application/json")
    assert EVENT.title in request.body.decode()


def test_a_server_error_is_not_gone(receiver: AlertReceiver, kind: Kind) -> None:
    receiver.script(kind.prefix, 500)
    result = send(receiver, kind)
    assert (result.ok, result.gone, result.status_code) == (False, False, 500)
    assert send(receiver, kind).ok  # the script is used up: the default answer again


def test_a_rate_limit_says_when_to_retry(receiver: AlertReceiver, kind: Kind) -> None:
    receiver.script(kind.prefix, Reply(429, "rate_limited", {"Retry-After": "7"}))
    result = send(receiver, kind)
    assert (result.ok, result.gone, result.status_code, result.retry_after_s) == (False, False, 429, 7.0)


def test_410_means_gone(receiver: AlertReceiver, kind: Kind) -> None:
    receiver.script(kind.prefix, 410)
    result = send(receiver, kind)
    assert (result.ok, result.gone, result.status_code) == (False, True, 410)


def test_an_error_echoing_the_url_does_not_repeat_it(receiver: AlertReceiver, kind: Kind) -> None:
    url = receiver.url(kind.prefix)
    receiver.script(kind.prefix, Reply(400, f"bad request to {url} ({kind.prefix})"))
    result = send(receiver, kind)
    assert result.error is not None and "HTTP 400" in result.error
    assert url not in result.error and kind.prefix not in result.error


def test_connection_refused_is_a_result_without_the_url(closed_port: int, kind: Kind) -> None:
    url = f"http://127.0.0.1:{closed_port}{kind.prefix}"
    result = kind.make(url, 2.0).send("msg-1", [EVENT])
    assert (result.ok, result.status_code, result.gone) == (False, None, False)
    assert result.error is not None and "refused the connection" in result.error
    assert url not in result.error and kind.prefix not in result.error and SECRET not in result.error


def test_a_slow_receiver_times_out(receiver: AlertReceiver, kind: Kind) -> None:
    receiver.script(kind.prefix, Reply.delay(1.5))
    result = send(receiver, kind, timeout_s=0.2)
    assert (result.ok, result.status_code) == (False, None)
    assert result.error is not None and "did not answer within 0.2 s" in result.error


def test_slack_archived_channel_is_gone(receiver: AlertReceiver) -> None:
    receiver.script("/slack", Reply(403, "channel_is_archived", {"content-type": "text/plain"}))
    result = send(receiver, KINDS["slack"])
    assert (result.ok, result.gone) == (False, True)


def test_slack_receives_blocks(receiver: AlertReceiver) -> None:
    send(receiver, KINDS["slack"])
    payload = receiver.requests_to("/slack")[0].json()
    assert payload["text"] == EVENT.title
    assert payload["blocks"][0]["type"] == "header"


def test_discord_rate_limit_from_json(receiver: AlertReceiver) -> None:
    body = '{"message": "You are being rate limited.", "retry_after": 0.75, "global": false}'
    receiver.script("/discord", Reply(429, body, {"content-type": "application/json"}))
    assert send(receiver, KINDS["discord"]).retry_after_s == 0.75


def test_discord_unknown_webhook_is_gone(receiver: AlertReceiver) -> None:
    receiver.script("/discord", Reply(404, '{"message": "Unknown Webhook", "code": 10015}'))
    result = send(receiver, KINDS["discord"])
    assert (result.ok, result.gone, result.error) == (False, True, "Discord answered HTTP 404: Unknown Webhook")


def test_webhook_retries_keep_id_and_body_and_verify(receiver: AlertReceiver) -> None:
    receiver.script("/webhook", 503)
    channel = WebhookChannel("hook", receiver.url("/webhook/in"), SECRET, timeout_s=2.0)
    assert not channel.send("msg-42", [EVENT]).ok
    assert channel.send("msg-42", [EVENT]).ok
    first, second = receiver.requests_to("/webhook")
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == "msg-42"
    assert first.body == second.body == webhook_body("msg-42", [EVENT]).encode()
    assert abs(int(second.headers["webhook-timestamp"]) - datetime.now(UTC).timestamp()) < 5
    payloads = receiver.verify_webhooks(SECRET)
    assert [payload["data"]["details"]["percent"] for payload in payloads] == ["20.0", "20.0"]


def test_webhook_verification_catches_a_wrong_secret(receiver: AlertReceiver) -> None:
    WebhookChannel("hook", receiver.url("/webhook/in"), SECRET).send("msg-1", [EVENT])
    other = "whsec_" + base64.b64encode(b"another secret of thirty-two b!!").decode()
    with pytest.raises(WebhookVerificationError):
        receiver.verify_webhooks(other)


def test_channels_do_not_show_their_url_in_repr() -> None:
    channel = SlackChannel("team", "https://hooks.slack.example/services/T0/B0/tokentoken")
    assert "tokentoken" not in repr(channel)
    assert "tokentoken" not in repr(WebhookChannel("hook", "https://h.example/tokentoken", SECRET))


# --- Email -----------------------------------------------------------------------------------------------------


def email_channel(
    port: int, username: str | None = None, password: str | None = None, security: SmtpSecurity = "none"
) -> EmailChannel:
    recipients = ["ops@example.test", "cto@example.test"]
    return EmailChannel(
        "mail", "127.0.0.1", port, "atlas@example.test", recipients, username, password, security, timeout_s=2.0
    )


def test_email_arrives_with_plain_and_html_parts() -> None:
    with SmtpReceiver() as smtp:
        result = email_channel(smtp.port).send("msg-1", [EVENT])
        (mail,) = smtp.mails
    assert (result.ok, result.status_code) == (True, 250)
    assert mail.mail_from == "atlas@example.test"
    assert mail.rcpt_tos == ("ops@example.test", "cto@example.test")
    assert mail.message["Subject"] == f"[ModelAtlas] {EVENT.title}"
    assert mail.message["Message-ID"] == "<msg-1@modelatlas>"
    plain, html = mail.message.get_body(("plain",)), mail.message.get_body(("html",))
    assert plain is not None and "Old price: $2.50 / Mtok" in plain.get_content()
    assert html is not None and "<table" in html.get_content()


def test_email_login_with_the_right_password() -> None:
    with SmtpReceiver(login=("atlas", "p@ss w0rd")) as smtp:
        result = email_channel(smtp.port, username="atlas", password="p@ss w0rd").send("msg-1", [EVENT])
        assert result.ok and len(smtp.mails) == 1


def test_email_wrong_password_fails_without_showing_it() -> None:
    with SmtpReceiver(login=("atlas", "right-password")) as smtp:
        result = email_channel(smtp.port, username="atlas", password="wrong-password").send("msg-1", [EVENT])
        assert smtp.mails == []
    assert (result.ok, result.status_code, result.gone) == (False, 535, False)
    assert result.error is not None and "wrong-password" not in result.error and "MODELATLAS_SMTP_URL" in result.error


def test_email_every_recipient_refused_is_a_failure_not_gone() -> None:
    with SmtpReceiver(refused={"ops@example.test", "cto@example.test"}) as smtp:
        result = email_channel(smtp.port).send("msg-1", [EVENT])
    assert (result.ok, result.status_code, result.gone) == (False, 550, False)


def test_email_one_recipient_refused_is_delivered_to_the_others() -> None:
    with SmtpReceiver(refused={"cto@example.test"}) as smtp:
        result = email_channel(smtp.port).send("msg-1", [EVENT])
        assert smtp.mails[0].rcpt_tos == ("ops@example.test",)
    assert result.ok and result.error is not None and "1 of 2" in result.error


def test_email_starttls_not_offered_fails() -> None:
    with SmtpReceiver() as smtp:
        result = email_channel(smtp.port, security="starttls").send("msg-1", [EVENT])
    assert not result.ok and result.error is not None and "STARTTLS" in result.error


def test_email_connection_refused_does_not_show_the_password(closed_port: int) -> None:
    result = email_channel(closed_port, username="atlas", password="secret-password").send("msg-1", [EVENT])
    assert (result.ok, result.status_code) == (False, None)
    assert result.error is not None and "refused the connection" in result.error
    assert "secret-password" not in result.error


# --- SMTP URLs -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "host", "port", "security", "username", "password"),
    [
        ("smtp://mail.example.test", "mail.example.test", 25, "none", None, None),
        ("smtp://mail.example.test:2525", "mail.example.test", 2525, "none", None, None),
        ("smtp://u:p@mail.example.test", "mail.example.test", 587, "starttls", "u", "p"),
        ("smtp://u:p@mail.example.test:25?starttls=false", "mail.example.test", 25, "none", "u", "p"),
        ("smtp://mail.example.test?starttls=true", "mail.example.test", 587, "starttls", None, None),
        ("smtps://u%40corp:p%2Fa%3As%40s@mail.example.test", "mail.example.test", 465, "ssl", "u@corp", "p/a:s@s"),
        ("SMTPS://mail.example.test:1465/", "mail.example.test", 1465, "ssl", None, None),
    ],
)
def test_smtp_url_parsing(
    url: str, host: str, port: int, security: str, username: str | None, password: str | None
) -> None:
    settings = parse_smtp_url(url)
    assert (settings.host, settings.port, settings.security) == (host, port, security)
    assert (settings.username, settings.password) == (username, password)
    assert "password" not in repr(settings)


def test_email_channel_from_url_defaults_the_sender() -> None:
    channel = email_channel_from_url("mail", "smtps://u:pw@mail.example.test", ["ops@example.test"])
    assert (channel.sender, channel.security, channel.port) == ("modelatlas@mail.example.test", "ssl", 465)
    assert channel.recipients == ("ops@example.test",)
    assert "pw" not in repr(channel)


@pytest.mark.parametrize(
    "url",
    [
        "http://u:hunter2-secret@mail.example.test",
        "smtp://u:hunter2-secret@mail.example.test:notaport",
        "smtp://u:hun/ter2-secret@mail.example.test",
        "smtp://u:hunter2#secret@mail.example.test",
        "smtp://u:hunter2?secret@mail.example.test",
        "smtp://u:hunter2-secret@mail.example.test?starttls=maybe",
        "smtp://u:hunter2-secret@mail.example.test?tls=true",
        "smtp://u:hunter2-secret@:25",
    ],
)
def test_a_malformed_smtp_url_is_explained_without_the_password(url: str) -> None:
    with pytest.raises(ConfigurationError, match="MODELATLAS_SMTP_URL is malformed") as raised:
        parse_smtp_url(url)
    message = str(raised.value)
    assert "hunter2" not in message and "secret" not in message and "ter2" not in message
    assert raised.value.__cause__ is None


def test_an_email_channel_needs_recipients() -> None:
    with pytest.raises(ConfigurationError, match="recipient"):
        email_channel_from_url("mail", "smtp://mail.example.test", [])
