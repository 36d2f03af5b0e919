"""Alert routing: channels from the variables and the routing-rules file, which routes match, digests, quiet hours."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from modelatlas.alerts.model import EVENT_KINDS, SEVERITIES, Event, Severity
from modelatlas.alerts.routing import (
    AlertConfig,
    ChannelConfig,
    Digest,
    QuietHours,
    Route,
    Routing,
    clock_instants,
    digest_due_at,
    key_path,
    load_alert_config,
    matches,
    quiet_until,
    route,
)
from modelatlas.alerts.settings import alert_settings
from modelatlas.errors import ConfigurationError

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "alerts.yaml"
SIGNING_SECRET = "whsec_" + base64.b64encode(b"a-signing-secret-of-32-bytes-ok!").decode()
SLACK_URL = "https://hooks.slack.com/services/T000/B000/slack-token-value"
SMTP_URL = "smtps://alerts:smtp-password-value@smtp.example.com:465"
EXAMPLE_ENV = {
    "FINOPS_SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T1/B1/finops-token-value",
    "RELEASES_DISCORD_WEBHOOK_URL": "https://discord.com/api/webhooks/1/releases-token-value",
    "AUDIT_HOOK_URL": "https://audit.example.com/modelatlas",
    "AUDIT_HOOK_SECRET": SIGNING_SECRET,
    "MODELATLAS_SMTP_URL": SMTP_URL,
}
BERLIN = ZoneInfo("Europe/Berlin")


def config_of(env: Mapping[str, str]) -> AlertConfig:
    """The routing configuration of `env`."""
    return load_alert_config(alert_settings(env))


def with_file(tmp_path: Path, text: str, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """`env` plus MODELATLAS_ALERTS_FILE naming a file holding `text`."""
    path = tmp_path / "alerts.yaml"
    path.write_text(text, encoding="utf-8")
    return {**(env or {}), "MODELATLAS_ALERTS_FILE": str(path)}


def load_error(env: Mapping[str, str]) -> str:
    """The message of the ConfigurationError loading `env` raises."""
    with pytest.raises(ConfigurationError) as raised:
        config_of(env)
    assert raised.value.__cause__ is None
    return str(raised.value)


def event(kind: str = "price.changed", severity: Severity = "info", **data: Any) -> Event:
    """An event of `kind` carrying `data`."""
    return Event(
        event_id="e1",
        kind=kind,
        severity=severity,
        occurred_at=datetime(2026, 1, 1, tzinfo=UTC),
        title="t",
        summary="s",
        data=data,
    )


def config_with(*routes: Route) -> AlertConfig:
    """A configuration of `routes` over Slack channels named after the routes' channels."""
    names = {name for candidate in routes for name in candidate.channels}
    return AlertConfig(channels={name: ChannelConfig(name, "slack") for name in names}, routes=routes)


# --- channels from the simple variables ---------------------------------------------------------------------------


def test_no_variables_no_channels() -> None:
    config = config_of({})

    assert config == AlertConfig(channels={}, routes=(), quiet_hours=None)


def test_each_simple_variable_is_a_channel_receiving_every_event() -> None:
    config = config_of(
        {
            "MODELATLAS_SLACK_WEBHOOK_URL": SLACK_URL,
            "MODELATLAS_DISCORD_WEBHOOK_URL": "https://discord.com/api/webhooks/1/token",
            "MODELATLAS_WEBHOOK_URL": "https://hooks.example.com/in",
            "MODELATLAS_WEBHOOK_SECRET": SIGNING_SECRET,
            "MODELATLAS_SMTP_URL": SMTP_URL,
            "MODELATLAS_ALERT_EMAIL_TO": "ops@example.com,cto@example.com",
            "MODELATLAS_ALERT_EMAIL_FROM": "modelatlas@example.com",
        }
    )

    assert list(config.channels) == ["slack", "discord", "webhook", "email"]
    assert {name: channel.kind for name, channel in config.channels.items()} == {
        "slack": "slack",
        "discord": "discord",
        "webhook": "webhook",
        "email": "email",
    }
    slack, webhook, email = config.channels["slack"], config.channels["webhook"], config.channels["email"]
    assert slack.url is not None
    assert slack.url.get_secret_value() == SLACK_URL
    assert webhook.secret is not None
    assert webhook.secret.get_secret_value() == SIGNING_SECRET
    assert email.smtp_url is not None
    assert email.smtp_url.get_secret_value() == SMTP_URL
    assert (email.email_to, email.email_from) == (("ops@example.com", "cto@example.com"), "modelatlas@example.com")
    assert config.routes == tuple(Route(events=("*",), channels=(name,)) for name in config.channels)
    assert [routing.channel for routing in route(event("model.added"), config)] == list(config.channels)


def test_channels_never_print_their_secrets() -> None:
    config = config_of(
        {
            "MODELATLAS_SLACK_WEBHOOK_URL": SLACK_URL,
            "MODELATLAS_SMTP_URL": SMTP_URL,
            "MODELATLAS_ALERT_EMAIL_TO": "ops@example.com",
        }
    )

    assert SLACK_URL not in repr(config)
    assert SMTP_URL not in repr(config)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"MODELATLAS_WEBHOOK_URL": "https://hooks.example.com/in"}, "set without MODELATLAS_WEBHOOK_SECRET"),
        ({"MODELATLAS_ALERT_EMAIL_TO": "ops@example.com"}, "set without MODELATLAS_SMTP_URL"),
        ({"MODELATLAS_SMTP_URL": SMTP_URL}, "set MODELATLAS_ALERT_EMAIL_TO"),
    ],
)
def test_incomplete_channels(env: dict[str, str], expected: str) -> None:
    message = load_error(env)

    assert expected in message
    assert not any(value in message for value in env.values())


def test_http_urls_need_the_allow_http_setting() -> None:
    url = "http://localhost:8080/hook-token-value"
    message = load_error({"MODELATLAS_SLACK_WEBHOOK_URL": url})

    assert "channel 'slack'" in message
    assert "MODELATLAS_ALERTS_ALLOW_HTTP" in message
    assert url not in message
    allowed = config_of({"MODELATLAS_SLACK_WEBHOOK_URL": url, "MODELATLAS_ALERTS_ALLOW_HTTP": "1"})
    assert list(allowed.channels) == ["slack"]


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"MODELATLAS_SLACK_WEBHOOK_URL": "hooks.slack.com/services/secret-token"}, "is not an https:// URL"),
        ({"MODELATLAS_DISCORD_WEBHOOK_URL": "ftp://discord.com/secret-token"}, "is not an https:// URL"),
        ({"MODELATLAS_DISCORD_WEBHOOK_URL": "https://discord.com:port/secret-token"}, "is not an https:// URL"),
        (
            {"MODELATLAS_ALERT_EMAIL_TO": "ops@example.com", "MODELATLAS_SMTP_URL": "mail.example.com:secret-token"},
            "is not an SMTP URL",
        ),
        (
            {
                "MODELATLAS_WEBHOOK_URL": "https://hooks.example.com/in",
                "MODELATLAS_WEBHOOK_SECRET": "whsec_secret-token-z2",
            },
            "is not a Standard Webhooks secret",
        ),
    ],
)
def test_malformed_urls_and_secrets_are_rejected_without_echoing_them(env: dict[str, str], expected: str) -> None:
    message = load_error(env)

    assert expected in message
    assert "secret-token" not in message


# --- the routing-rules file ---------------------------------------------------------------------------------------


def test_the_example_file_loads(tmp_path: Path) -> None:
    config = config_of(
        {**EXAMPLE_ENV, "MODELATLAS_SLACK_WEBHOOK_URL": SLACK_URL, "MODELATLAS_ALERTS_FILE": str(EXAMPLE)}
    )

    assert list(config.channels) == ["slack", "finops-slack", "releases-discord", "audit-hook", "oncall-mail"]
    assert [channel.kind for channel in config.channels.values()] == ["slack", "slack", "discord", "webhook", "email"]
    hook, mail = config.channels["audit-hook"], config.channels["oncall-mail"]
    assert hook.secret is not None
    assert hook.secret.get_secret_value() == SIGNING_SECRET
    assert mail.email_to == ("oncall@example.com", "platform-leads@example.com")
    assert mail.email_from == "modelatlas@example.com"
    # The channel of MODELATLAS_SLACK_WEBHOOK_URL keeps its catch-all route, first.
    assert config.routes[0] == Route(events=("*",), channels=("slack",))
    assert config.routes[1] == Route(
        events=("price.changed",),
        channels=("finops-slack",),
        providers=("openai", "anthropic"),
        models=("gpt-4*", "claude-*"),
        components=("input", "output"),
        min_percent=10,
        digest="daily",
    )
    assert config.routes[2].severity == "critical"
    assert config.routes[4].min_severity == "warning"
    assert config.quiet_hours == QuietHours(time(22), time(7), BERLIN, "critical")


def test_the_example_routes_as_its_comments_say() -> None:
    config = config_of({**EXAMPLE_ENV, "MODELATLAS_ALERTS_FILE": str(EXAMPLE)})
    price = event(provider="openai", canonical_model_id="gpt-4o", component="input", percent=12.5)
    budget = event("budget.threshold", "warning", team="research", percent=80)

    assert route(price, config) == [Routing("finops-slack", "info", "daily")]
    assert route(event(provider="openai", canonical_model_id="gpt-4o", component="input", percent=5), config) == []
    assert route(budget, config) == [Routing("finops-slack", "critical"), Routing("oncall-mail", "critical")]
    assert route(event("outage.started", "info"), config) == []
    assert route(event("outage.started", "warning"), config) == [
        Routing("audit-hook", "warning"),
        Routing("oncall-mail", "warning"),
    ]


def test_email_channels_default_to_the_smtp_url_and_sender_of_the_variables(tmp_path: Path) -> None:
    env = with_file(
        tmp_path,
        "channels:\n  mail: {type: email, to: [a@example.com]}\n",
        {"MODELATLAS_SMTP_URL": SMTP_URL, "MODELATLAS_ALERT_EMAIL_FROM": "ma@example.com"},
    )

    mail = config_of(env).channels["mail"]

    assert mail.smtp_url is not None
    assert mail.smtp_url.get_secret_value() == SMTP_URL
    assert (mail.email_to, mail.email_from) == (("a@example.com",), "ma@example.com")


@pytest.mark.parametrize("text", ["", "# nothing yet\n", "channels: {}\nroutes: []\n"])
def test_an_empty_file_adds_nothing(tmp_path: Path, text: str) -> None:
    config = config_of(with_file(tmp_path, text, {"MODELATLAS_SLACK_WEBHOOK_URL": SLACK_URL}))

    assert list(config.channels) == ["slack"]
    assert config.quiet_hours is None


def test_file_routes_can_name_channels_of_the_variables(tmp_path: Path) -> None:
    text = 'routes:\n  - {events: ["run.failed"], channels: [slack], severity: critical}\n'
    config = config_of(with_file(tmp_path, text, {"MODELATLAS_SLACK_WEBHOOK_URL": SLACK_URL}))

    assert route(event("run.failed", "warning"), config) == [Routing("slack", "critical")]
    assert route(event("source.stale", "info"), config) == [Routing("slack", "info")]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("channels: {a: {type: slack}}", "channels.a.url_env: required key missing"),
        ("channels: {a: {type: slack, url_env: X, secret_env: Y}}", "channels.a.secret_env: unknown key"),
        ("channels: {a: {type: sms, url_env: X}}", "channels.a: Input tag 'sms'"),
        ("channels: {a: {url_env: X}}", "channels.a: Unable to extract tag"),
        ("channels: {a: {type: slack, url_env: 1X}}", "channels.a.url_env: '1X' is not an environment variable"),
        ("channels: {a b: {type: slack, url_env: X}}", "channels.a b: 'a b' is not a channel name"),
        ("channels: {m: {type: email, to: []}}", "channels.m.to:"),
        ("channels: {m: {type: email, to: [nobody]}}", "channels.m.to: 'nobody' is not an email address"),
        ("routes: [{events: [price.chnaged], channels: [x]}]", "routes[0].events: 'price.chnaged' matches no event"),
        ("routes: [{events: ['*'], channels: []}]", "routes[0].channels:"),
        ("routes: [{channels: [x]}]", "routes[0].events: required key missing"),
        ("routes: [{events: ['*'], channels: [x], colour: red}]", "routes[0].colour: unknown key"),
        ("routes: [{events: ['*'], channels: [x], min_percent: -5}]", "routes[0].min_percent:"),
        ("routes: [{events: ['*'], channels: [x], severity: loud}]", "routes[0].severity:"),
        ("routes: [{events: ['*'], channels: [x], digest: weekly}]", "routes[0].digest:"),
        ("routes: {events: ['*']}", "routes: should be a list"),
        ("quiet_hours: {start: 22:00, end: '07:00'}", 'quiet_hours.start: write the time in quotes, as "22:00"'),
        ("quiet_hours: {start: '25:00', end: '07:00'}", "quiet_hours.start: not a time of day"),
        ("quiet_hours: {start: '22:00', end: '07:00+01:00'}", "quiet_hours.end: write the time without an offset"),
        ("quiet_hours: {start: '22:00', end: '07:00', timezone: Mars/Olympus}", "quiet_hours.timezone: 'Mars/Olym"),
        ("quiet_hours: {start: '22:00', end: '07:00', timezone: ../etc}", "quiet_hours.timezone:"),
        ("quiet_hours: {start: '22:00', end: '22:00'}", "quiet_hours: start and end are equal"),
        ("quiet_hours: {start: '22:00'}", "quiet_hours.end: required key missing"),
        ("quiet: {start: '22:00', end: '07:00'}", "quiet: unknown key"),
        ("- channels", "expected a mapping"),
        ("channels: [", "not valid YAML at line 1, column 12"),
        ("routes: [{events: ['*'], channels: [nowhere]}]", "routes[0].channels: unknown channel 'nowhere'"),
    ],
)
def test_file_errors_name_the_file_and_the_key(tmp_path: Path, text: str, expected: str) -> None:
    env = with_file(tmp_path, text)

    message = load_error(env)

    assert message.startswith(env["MODELATLAS_ALERTS_FILE"])
    assert expected in message


def test_a_missing_file_names_the_variable(tmp_path: Path) -> None:
    message = load_error({"MODELATLAS_ALERTS_FILE": str(tmp_path / "nowhere.yaml")})

    assert message.startswith(f"MODELATLAS_ALERTS_FILE points at {tmp_path / 'nowhere.yaml'}")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("channels: {a: {type: slack, url_env: A_URL}}", "channels.a.url_env: A_URL is not set"),
        ("channels: {a: {type: discord, url_env: A_URL}}", "channels.a.url_env: A_URL is not set"),
        ("channels: {a: {type: webhook, url_env: A_URL, secret_env: A_KEY}}", "channels.a.url_env: A_URL is not set"),
        ("channels: {a: {type: email, smtp_url_env: A_SMTP, to: [a@example.com]}}", "channels.a.smtp_url_env: A_SMTP"),
    ],
)
def test_a_channel_whose_variable_is_unset(tmp_path: Path, text: str, expected: str) -> None:
    message = load_error(with_file(tmp_path, text, {"A_URL": " "}))

    assert expected in message
    assert "remove the channel 'a'" in message


def test_a_webhook_needs_its_secret_variable(tmp_path: Path) -> None:
    text = "channels: {a: {type: webhook, url_env: A_URL, secret_env: A_KEY}}"

    assert "channels.a.secret_env: A_KEY is not set" in load_error(
        with_file(tmp_path, text, {"A_URL": "https://a.example.com"})
    )


def test_file_channels_follow_the_https_rule(tmp_path: Path) -> None:
    url = "http://receiver.internal/hook-token-value"
    env = with_file(tmp_path, "channels: {audit: {type: slack, url_env: AUDIT_URL}}", {"AUDIT_URL": url})

    message = load_error(env)

    assert "channel 'audit'" in message
    assert "MODELATLAS_ALERTS_ALLOW_HTTP" in message
    assert url not in message
    assert list(config_of({**env, "MODELATLAS_ALERTS_ALLOW_HTTP": "yes"}).channels) == ["audit"]


def test_a_file_webhook_secret_must_be_a_standard_webhooks_secret(tmp_path: Path) -> None:
    text = "channels: {a: {type: webhook, url_env: A_URL, secret_env: A_KEY}}"
    env = with_file(tmp_path, text, {"A_URL": "https://a.example.com", "A_KEY": "not-base64-secret-z2"})

    message = load_error(env)

    assert "channel 'a': A_KEY is not a Standard Webhooks secret" in message
    assert "not-base64-secret" not in message


def test_a_file_channel_cannot_take_a_variable_channels_name(tmp_path: Path) -> None:
    env = with_file(
        tmp_path, "channels: {slack: {type: slack, url_env: B}}", {"MODELATLAS_SLACK_WEBHOOK_URL": SLACK_URL}
    )

    assert "channels.slack: the name is taken by the channel MODELATLAS_SLACK_WEBHOOK_URL configures" in load_error(env)


def test_quiet_hours_default_to_utc_and_critical(tmp_path: Path) -> None:
    config = config_of(with_file(tmp_path, "quiet_hours: {start: '23:30', end: '06:15:00'}"))

    assert config.quiet_hours == QuietHours(time(23, 30), time(6, 15), ZoneInfo("UTC"), "critical")


@pytest.mark.parametrize(
    ("loc", "expected"),
    [
        (("routes", 0, "events"), "routes[0].events"),
        (("routes", 2, "events", 1), "routes[2].events[1]"),
        (("channels", "a", "webhook", "secret_env"), "channels.a.secret_env"),
        (("channels", "a b", "[key]"), "channels.a b"),
        ((), "(top level)"),
    ],
)
def test_key_paths(loc: tuple[int | str, ...], expected: str) -> None:
    assert key_path(loc) == expected


# --- route --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("patterns", "kind", "expected"),
    [
        (("*",), "alerts.test", True),
        (("price.*",), "price.changed", True),
        (("price.*",), "price.suspected_unit_error", True),
        (("price.*",), "model.added", False),
        (("budget.*", "limit.exceeded"), "limit.exceeded", True),
        (("budget.*", "limit.exceeded"), "budget.forecast_exceeds", True),
        (("outage.started",), "outage.resolved", False),
        (("*.disagree*",), "status.disagrees", True),
    ],
)
def test_event_patterns_are_globs(patterns: tuple[str, ...], kind: str, expected: bool) -> None:
    assert matches(Route(events=patterns, channels=("a",)), event(kind)) is expected


@pytest.mark.parametrize(
    ("field", "allowed", "data", "expected"),
    [
        ("providers", ("openai", "anthropic"), {"provider": "anthropic"}, True),
        ("providers", ("openai",), {"provider": "OpenAI"}, True),
        ("providers", ("openai",), {"provider": "mistral"}, False),
        ("providers", ("openai",), {}, False),
        ("teams", ("research",), {"team": "research"}, True),
        ("teams", ("research",), {"team": "ads"}, False),
        ("teams", ("research",), {"team": None}, False),
        ("components", ("input", "output"), {"component": "output"}, True),
        ("components", ("input", "output"), {"component": "cache_read"}, False),
        ("models", ("gpt-4*",), {"canonical_model_id": "gpt-4o"}, True),
        ("models", ("gpt-4*",), {"provider_model_id": "gpt-4o-2024-08-06"}, True),
        ("models", ("gpt-4*",), {"canonical_model_id": "o3", "provider_model_id": "gpt-4.1"}, True),
        ("models", ("claude-*",), {"canonical_model_id": "Claude-Sonnet-4"}, True),
        ("models", ("claude-*",), {"canonical_model_id": "gpt-4o"}, False),
        ("models", ("claude-?-haiku",), {"canonical_model_id": "claude-3-haiku"}, True),
        ("models", ("gpt-4*",), {}, False),
    ],
)
def test_filters(field: str, allowed: tuple[str, ...], data: dict[str, Any], expected: bool) -> None:
    filters: dict[str, Any] = {field: allowed}
    candidate = Route(events=("*",), channels=("a",), **filters)

    assert matches(candidate, event(**data)) is expected
    # An empty filter matches anything.
    assert matches(Route(events=("*",), channels=("a",)), event(**data)) is True


def test_every_filter_must_pass() -> None:
    candidate = Route(events=("price.*",), channels=("a",), providers=("openai",), components=("input",))

    assert matches(candidate, event(provider="openai", component="input"))
    assert not matches(candidate, event(provider="openai", component="output"))
    assert not matches(candidate, event("model.added", provider="openai", component="input"))


@pytest.mark.parametrize(
    ("min_severity", "severity", "expected"),
    [
        ("warning", "info", False),
        ("warning", "warning", True),
        ("warning", "critical", True),
        ("critical", "warning", False),
        ("info", "info", True),
    ],
)
def test_min_severity(min_severity: Severity, severity: Severity, expected: bool) -> None:
    assert (
        matches(Route(events=("*",), channels=("a",), min_severity=min_severity), event(severity=severity)) is expected
    )


def test_min_severity_reads_the_events_own_severity_before_an_override() -> None:
    escalate = Route(events=("*",), channels=("a",), min_severity="warning", severity="critical")

    assert route(event(severity="warning"), config_with(escalate)) == [Routing("a", "critical")]
    assert route(event(severity="info"), config_with(escalate)) == []


@pytest.mark.parametrize(
    ("percent", "expected"),
    [(9.99, False), (10, True), (-10, True), (-9.5, False), (25.0, True), ("12.5", True), (None, True), ("n/a", True)],
)
def test_a_routes_min_percent_compares_the_absolute_change(percent: Any, expected: bool) -> None:
    candidate = Route(events=("*",), channels=("a",), min_percent=10)

    assert matches(candidate, event(percent=percent)) is expected


def test_min_percent_does_not_hold_back_events_without_a_percent() -> None:
    candidate = Route(events=("*",), channels=("a",), min_percent=10)

    assert matches(candidate, event("model.added"))
    assert matches(candidate, event("price.changed"))


def test_the_global_price_threshold() -> None:
    catch_all = Route(events=("*",), channels=("a",))

    assert not matches(catch_all, event("price.changed", percent=4), price_min_percent=5)
    assert matches(catch_all, event("price.changed", percent=-5), price_min_percent=5)
    assert matches(catch_all, event("price.changed"), price_min_percent=5)
    # It is about prices: a budget's share spent is not held back by it.
    assert matches(catch_all, event("budget.threshold", percent=4), price_min_percent=5)
    # A route's own threshold replaces it, lower or higher.
    assert matches(Route(events=("*",), channels=("a",), min_percent=1), event(percent=2), price_min_percent=5)
    assert not matches(Route(events=("*",), channels=("a",), min_percent=20), event(percent=10), price_min_percent=5)


def test_a_severity_override() -> None:
    config = config_with(Route(events=("run.failed",), channels=("a",), severity="critical"))

    assert route(event("run.failed", "info"), config) == [Routing("a", "critical")]
    assert route(event("source.stale", "info"), config) == []


def test_one_routing_per_channel_at_the_highest_severity() -> None:
    config = config_with(
        Route(events=("*",), channels=("a", "b")),
        Route(events=("price.*",), channels=("b",), severity="critical"),
        Route(events=("price.changed",), channels=("b", "c"), severity="info"),
    )

    assert route(event(severity="warning"), config) == [
        Routing("a", "warning"),
        Routing("b", "critical"),
        Routing("c", "info"),
    ]


@pytest.mark.parametrize(
    ("digests", "expected"),
    [
        (("daily",), "daily"),
        (("daily", None), None),
        ((None, "hourly"), None),
        (("daily", "hourly"), "hourly"),
        (("hourly", "daily", "daily"), "hourly"),
        ((None, None), None),
    ],
)
def test_a_route_without_digest_beats_a_digest_one(digests: tuple[Digest | None, ...], expected: Digest | None) -> None:
    config = config_with(*(Route(events=("*",), channels=("a",), digest=digest) for digest in digests))

    assert route(event(), config) == [Routing("a", "info", expected)]


def test_no_matching_route_no_channel() -> None:
    config = config_with(Route(events=("model.*",), channels=("a",)))

    assert route(event("price.changed"), config) == []
    assert route(event("price.changed"), AlertConfig(channels={}, routes=())) == []


@given(st.sampled_from(EVENT_KINDS), st.sampled_from(SEVERITIES))
def test_a_catch_all_route_takes_every_event_as_it_is(kind: str, severity: Severity) -> None:
    config = config_with(Route(events=("*",), channels=("a",)))

    assert route(event(kind, severity), config) == [Routing("a", severity)]


routes_strategy = st.lists(
    st.builds(
        Route,
        events=st.sampled_from([("*",), ("price.*",), ("price.changed",), ("model.*",)]),
        channels=st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=3, unique=True).map(tuple),
        severity=st.sampled_from([None, *SEVERITIES]),
        digest=st.sampled_from([None, "hourly", "daily"]),
        min_percent=st.sampled_from([None, 5.0, 50.0]),
    ),
    max_size=6,
)


@given(routes_strategy, st.randoms(use_true_random=False), st.sampled_from(SEVERITIES), st.floats(-100, 100))
def test_the_order_of_routes_does_not_change_the_decision(
    routes: list[Route], random: Any, severity: Severity, percent: float
) -> None:
    shuffled = list(routes)
    random.shuffle(shuffled)
    price = event("price.changed", severity, percent=percent)

    decided = route(price, config_with(*routes))
    reordered = route(price, config_with(*shuffled))

    assert sorted(decided, key=lambda r: r.channel) == sorted(reordered, key=lambda r: r.channel)
    assert len({routing.channel for routing in decided}) == len(decided)
    for routing in decided:
        assert SEVERITIES.index(routing.severity) >= min(
            SEVERITIES.index(r.severity or severity) for r in routes if routing.channel in r.channels
        )


# --- digests ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("at", "mode", "due"),
    [
        (datetime(2026, 3, 5, 14, 7, 30, tzinfo=UTC), "hourly", datetime(2026, 3, 5, 15, tzinfo=UTC)),
        (datetime(2026, 3, 5, 14, 0, tzinfo=UTC), "hourly", datetime(2026, 3, 5, 15, tzinfo=UTC)),
        (datetime(2026, 3, 5, 23, 59, 59, 999999, tzinfo=UTC), "hourly", datetime(2026, 3, 6, tzinfo=UTC)),
        (datetime(2026, 3, 5, 14, 7, tzinfo=UTC), "daily", datetime(2026, 3, 6, tzinfo=UTC)),
        (datetime(2026, 3, 5, 0, 0, tzinfo=UTC), "daily", datetime(2026, 3, 6, tzinfo=UTC)),
        (datetime(2026, 12, 31, 20, 0, tzinfo=UTC), "daily", datetime(2027, 1, 1, tzinfo=UTC)),
        # Naive is UTC; another zone is converted: 01:30 in Berlin is the previous UTC day.
        (datetime(2026, 3, 5, 14, 7), "hourly", datetime(2026, 3, 5, 15, tzinfo=UTC)),
        (datetime(2026, 3, 6, 0, 30, tzinfo=BERLIN), "daily", datetime(2026, 3, 6, tzinfo=UTC)),
        (datetime(2026, 3, 6, 0, 30, tzinfo=ZoneInfo("Asia/Kolkata")), "hourly", datetime(2026, 3, 5, 20, tzinfo=UTC)),
    ],
)
def test_digest_due_at(at: datetime, mode: str, due: datetime) -> None:
    assert digest_due_at(at, mode) == due
    assert digest_due_at(at, mode).tzinfo == UTC


def test_an_unknown_digest_mode() -> None:
    with pytest.raises(ValueError, match="unknown digest mode 'weekly'"):
        digest_due_at(datetime(2026, 1, 1, tzinfo=UTC), "weekly")


@given(
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)),
    st.sampled_from(["hourly", "daily"]),
)
def test_a_digest_is_due_at_the_end_of_its_bucket(at: datetime, mode: str) -> None:
    period = timedelta(hours=1) if mode == "hourly" else timedelta(days=1)

    due = digest_due_at(at, mode)

    assert at < due <= at + period
    assert (due - datetime(2000, 1, 1, tzinfo=UTC)) % period == timedelta(0)
    assert digest_due_at(due - timedelta(microseconds=1), mode) == due


# --- quiet hours --------------------------------------------------------------------------------------------------

NIGHT = QuietHours(time(22), time(7), BERLIN)
LUNCH = QuietHours(time(12), time(13, 30), ZoneInfo("UTC"), except_severity="warning")


def berlin(year: int, month: int, day: int, hour: int, minute: int, fold: int = 0) -> datetime:
    """A Berlin wall time."""
    return datetime(year, month, day, hour, minute, tzinfo=BERLIN, fold=fold)


@pytest.mark.parametrize(
    ("at", "until"),
    [
        # Winter, UTC+1: 23:00 Berlin is quiet until 07:00 Berlin the next morning.
        (berlin(2026, 1, 10, 23, 0), berlin(2026, 1, 11, 7, 0)),
        (berlin(2026, 1, 10, 22, 0), berlin(2026, 1, 11, 7, 0)),
        (berlin(2026, 1, 11, 0, 0), berlin(2026, 1, 11, 7, 0)),
        (berlin(2026, 1, 11, 6, 59), berlin(2026, 1, 11, 7, 0)),
        (berlin(2026, 1, 11, 7, 0), None),
        (berlin(2026, 1, 11, 12, 0), None),
        (berlin(2026, 1, 10, 21, 59), None),
        # Summer, UTC+2.
        (berlin(2026, 7, 1, 23, 30), berlin(2026, 7, 2, 7, 0)),
        # Spring forward on 2026-03-29: the night is an hour shorter in UTC.
        (berlin(2026, 3, 28, 23, 0), datetime(2026, 3, 29, 5, 0, tzinfo=UTC)),
        # Fall back on 2026-10-25: an hour longer.
        (berlin(2026, 10, 24, 23, 0), datetime(2026, 10, 25, 6, 0, tzinfo=UTC)),
        (berlin(2026, 10, 25, 2, 30, fold=1), datetime(2026, 10, 25, 6, 0, tzinfo=UTC)),
    ],
)
def test_quiet_hours_across_midnight(at: datetime, until: datetime | None) -> None:
    result = quiet_until(at, NIGHT, "warning")

    assert result == until
    assert result is None or result.tzinfo == UTC


@pytest.mark.parametrize(
    ("at", "until"),
    [
        (datetime(2026, 5, 1, 11, 59, tzinfo=UTC), None),
        (datetime(2026, 5, 1, 12, 0, tzinfo=UTC), datetime(2026, 5, 1, 13, 30, tzinfo=UTC)),
        (datetime(2026, 5, 1, 13, 29, 59), datetime(2026, 5, 1, 13, 30, tzinfo=UTC)),
        (datetime(2026, 5, 1, 13, 30, tzinfo=UTC), None),
    ],
)
def test_quiet_hours_within_a_day(at: datetime, until: datetime | None) -> None:
    assert quiet_until(at, LUNCH, "info") == until


def test_severe_enough_events_are_never_quiet() -> None:
    at = berlin(2026, 1, 11, 3, 0)

    assert quiet_until(at, NIGHT, "critical") is None
    assert quiet_until(at, NIGHT, "warning") is not None
    assert quiet_until(datetime(2026, 5, 1, 12, 15, tzinfo=UTC), LUNCH, "warning") is None
    assert quiet_until(at, None, "info") is None


def test_quiet_hours_ending_in_the_skipped_hour_end_when_the_clocks_jump() -> None:
    # 02:30 does not happen in Berlin on 2026-03-29: at 01:00 UTC the clocks go from 02:00 to 03:00.
    quiet = QuietHours(time(22), time(2, 30), BERLIN)

    assert quiet_until(berlin(2026, 3, 29, 1, 50), quiet, "info") == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
    assert quiet_until(datetime(2026, 3, 29, 1, 0, tzinfo=UTC), quiet, "info") is None


def test_quiet_hours_ending_in_the_repeated_hour_end_at_each_pass() -> None:
    # 02:30 happens twice in Berlin on 2026-10-25: at 00:30 UTC (summer time) and 01:30 UTC (winter time).
    quiet = QuietHours(time(22), time(2, 30), BERLIN)

    assert quiet_until(datetime(2026, 10, 25, 0, 10, tzinfo=UTC), quiet, "info") == datetime(
        2026, 10, 25, 0, 30, tzinfo=UTC
    )
    assert quiet_until(datetime(2026, 10, 25, 0, 45, tzinfo=UTC), quiet, "info") is None
    assert quiet_until(datetime(2026, 10, 25, 1, 10, tzinfo=UTC), quiet, "info") == datetime(
        2026, 10, 25, 1, 30, tzinfo=UTC
    )


@pytest.mark.parametrize(
    ("day", "clock", "zone", "expected"),
    [
        (date(2026, 1, 5), time(7), "Europe/Berlin", [datetime(2026, 1, 5, 6, tzinfo=UTC)]),
        (
            date(2026, 10, 25),
            time(2, 15),
            "Europe/Berlin",
            [datetime(2026, 10, 25, 0, 15, tzinfo=UTC), datetime(2026, 10, 25, 1, 15, tzinfo=UTC)],
        ),
        (date(2026, 3, 29), time(2, 15), "Europe/Berlin", [datetime(2026, 3, 29, 1, tzinfo=UTC)]),
        # Lord Howe Island moves its clocks by half an hour: 02:00 jumps to 02:30 on 2026-10-04.
        (date(2026, 10, 4), time(2, 10), "Australia/Lord_Howe", [datetime(2026, 10, 3, 15, 30, tzinfo=UTC)]),
    ],
)
def test_clock_instants(day: date, clock: time, zone: str, expected: list[datetime]) -> None:
    assert clock_instants(day, clock, ZoneInfo(zone)) == expected


ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "America/Santiago", "Asia/Kolkata"]


# Around the clock changes of the zones above, where quiet periods are shorter or longer than usual.
TRANSITIONS = [
    datetime(2026, 3, 29, 1, tzinfo=UTC),
    datetime(2026, 10, 25, 1, tzinfo=UTC),
    datetime(2026, 3, 8, 7, tzinfo=UTC),
    datetime(2026, 11, 1, 6, tzinfo=UTC),
    datetime(2026, 4, 4, 15, tzinfo=UTC),
    datetime(2026, 10, 3, 15, 30, tzinfo=UTC),
]
moments = st.one_of(
    st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1)).map(
        lambda moment: moment.replace(microsecond=0, tzinfo=UTC)
    ),
    st.builds(
        lambda transition, offset: transition + timedelta(minutes=offset),
        st.sampled_from(TRANSITIONS),
        st.integers(-26 * 60, 26 * 60),
    ),
)


@given(
    moments,
    st.integers(0, 24 * 60 - 1),
    st.integers(60, 22 * 60),
    st.sampled_from(ZONES),
)
def test_quiet_until_is_the_first_moment_after_the_quiet_period(
    at: datetime, start_minute: int, length: int, zone: str
) -> None:
    end_minute = (start_minute + length) % (24 * 60)
    assume(end_minute != start_minute)
    quiet = QuietHours(time(*divmod(start_minute, 60)), time(*divmod(end_minute, 60)), ZoneInfo(zone))

    until = quiet_until(at, quiet, "info")

    if until is not None:
        assert at < until <= at + timedelta(hours=23)
        assert quiet_until(until - timedelta(seconds=1), quiet, "info") == until
        assert quiet_until(until, quiet, "info") is None
