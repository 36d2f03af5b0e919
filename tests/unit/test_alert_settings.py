"""The alerts' settings: MODELATLAS_* variables read from a given mapping, errors that name the variable, no secrets."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelatlas.alerts.settings import AlertSettings, alert_settings, check_email_address
from modelatlas.errors import ConfigurationError

SLACK_URL = "https://hooks.slack.com/services/T000/B000/slack-token-value"
SECRETS = {
    "MODELATLAS_SLACK_WEBHOOK_URL": SLACK_URL,
    "MODELATLAS_DISCORD_WEBHOOK_URL": "https://discord.com/api/webhooks/1/discord-token-value",
    "MODELATLAS_WEBHOOK_URL": "https://hooks.example.com/modelatlas?token=hook-token-value",
    "MODELATLAS_WEBHOOK_SECRET": "whsec_c2lnbmluZy1zZWNyZXQtdmFsdWUtMTIzNA==",
    "MODELATLAS_SMTP_URL": "smtps://alerts:smtp-password-value@smtp.example.com:465",
}


def test_defaults() -> None:
    settings = alert_settings({})

    assert settings.slack_webhook_url is None
    assert settings.discord_webhook_url is None
    assert settings.webhook_url is None
    assert settings.webhook_secret is None
    assert settings.smtp_url is None
    assert settings.alert_email_to == ()
    assert settings.alert_email_from is None
    assert settings.alerts_file is None
    assert settings.alerts_since is None
    assert settings.alerts_allow_http is False
    assert settings.alerts_interval_s == 30
    assert settings.alerts_price_min_percent == 0
    assert settings.alerts_budget_thresholds == (50, 80, 100)
    assert settings.alerts_retiring_days == (30, 7, 1)
    assert settings.alerts_retiring_used_only is True
    assert settings.alerts_retiring_used_days == 30
    assert (settings.alerts_retry_base_s, settings.alerts_retry_max_s) == (2, 3600)
    assert settings.alerts_max_attempts == 10
    assert settings.alerts_timeout_s == 10
    assert (settings.dashboard_url, settings.dagster_url) == (None, None)


def test_every_variable_is_read(tmp_path: Path) -> None:
    settings = alert_settings(
        {
            **SECRETS,
            "MODELATLAS_ALERT_EMAIL_TO": "ops@example.com, finops@example.com",
            "MODELATLAS_ALERT_EMAIL_FROM": "modelatlas@example.com",
            "MODELATLAS_ALERTS_FILE": str(tmp_path / "alerts.yaml"),
            "MODELATLAS_ALERTS_SINCE": "2026-02-01T09:30:00+01:00",
            "MODELATLAS_ALERTS_ALLOW_HTTP": "true",
            "MODELATLAS_ALERTS_INTERVAL_S": "60",
            "MODELATLAS_ALERTS_PRICE_MIN_PERCENT": "2.5",
            "MODELATLAS_ALERTS_BUDGET_THRESHOLDS": "90, 75",
            "MODELATLAS_ALERTS_RETIRING_DAYS": "14,3",
            "MODELATLAS_ALERTS_RETIRING_USED_ONLY": "false",
            "MODELATLAS_ALERTS_RETIRING_USED_DAYS": "90",
            "MODELATLAS_ALERTS_RETRY_BASE_S": "0.5",
            "MODELATLAS_ALERTS_RETRY_MAX_S": "600",
            "MODELATLAS_ALERTS_MAX_ATTEMPTS": "3",
            "MODELATLAS_ALERTS_TIMEOUT_S": "4.5",
            "MODELATLAS_DASHBOARD_URL": "https://dash.example.com/",
            "MODELATLAS_DAGSTER_URL": "http://localhost:3000",
        }
    )

    assert settings.slack_webhook_url is not None
    assert settings.slack_webhook_url.get_secret_value() == SLACK_URL
    assert settings.webhook_secret is not None
    assert settings.webhook_secret.get_secret_value() == SECRETS["MODELATLAS_WEBHOOK_SECRET"]
    assert settings.alert_email_to == ("ops@example.com", "finops@example.com")
    assert settings.alert_email_from == "modelatlas@example.com"
    assert settings.alerts_file == tmp_path / "alerts.yaml"
    assert settings.alerts_since == datetime(2026, 2, 1, 8, 30, tzinfo=UTC)
    assert settings.alerts_allow_http is True
    assert settings.alerts_interval_s == 60
    assert settings.alerts_price_min_percent == 2.5
    assert settings.alerts_budget_thresholds == (75, 90)
    assert settings.alerts_retiring_days == (14, 3)
    assert settings.alerts_retiring_used_only is False
    assert settings.alerts_retiring_used_days == 90
    assert (settings.alerts_retry_base_s, settings.alerts_retry_max_s) == (0.5, 600)
    assert settings.alerts_max_attempts == 3
    assert settings.alerts_timeout_s == 4.5
    assert settings.dashboard_url == "https://dash.example.com"
    assert settings.dagster_url == "http://localhost:3000"


def test_a_naive_since_is_utc() -> None:
    assert alert_settings({"MODELATLAS_ALERTS_SINCE": "2026-03-01 12:00"}).alerts_since == datetime(
        2026, 3, 1, 12, tzinfo=UTC
    )
    assert alert_settings({"MODELATLAS_ALERTS_SINCE": "2026-03-01T12:00:00Z"}).alerts_since == datetime(
        2026, 3, 1, 12, tzinfo=UTC
    )


@pytest.mark.parametrize("blank", ["", "   ", "\n"])
def test_blank_variables_are_unset(blank: str) -> None:
    settings = alert_settings(
        dict.fromkeys((*SECRETS, "MODELATLAS_ALERTS_INTERVAL_S", "MODELATLAS_ALERTS_SINCE"), blank)
    )

    assert settings.slack_webhook_url is None
    assert settings.smtp_url is None
    assert settings.alerts_interval_s == 30
    assert settings.alerts_since is None


def test_values_are_stripped() -> None:
    settings = alert_settings(
        {"MODELATLAS_SLACK_WEBHOOK_URL": f"  {SLACK_URL}\n", "MODELATLAS_ALERTS_MAX_ATTEMPTS": " 4 "}
    )

    assert settings.slack_webhook_url is not None
    assert settings.slack_webhook_url.get_secret_value() == SLACK_URL
    assert settings.alerts_max_attempts == 4


def test_secrets_never_print() -> None:
    settings = alert_settings(SECRETS)

    for text in (repr(settings), str(settings), str(settings.model_dump())):
        for value in SECRETS.values():
            assert value not in text


def test_the_given_mapping_is_read_not_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELATLAS_ALERTS_INTERVAL_S", "90")
    monkeypatch.setenv("MODELATLAS_SLACK_WEBHOOK_URL", SLACK_URL)

    assert alert_settings({}).alerts_interval_s == 30
    assert alert_settings({}).slack_webhook_url is None
    assert alert_settings().alerts_interval_s == 90
    assert AlertSettings().alerts_interval_s == 30


def test_other_variables_of_the_same_environment_are_available() -> None:
    settings = alert_settings({"FINOPS_SLACK_URL": " https://hooks.slack.com/x ", "EMPTY": " "})

    assert settings.variable("FINOPS_SLACK_URL") == "https://hooks.slack.com/x"
    assert settings.variable("EMPTY") is None
    assert settings.variable("MISSING") is None


def test_variable_names_are_matched_whatever_their_case() -> None:
    assert alert_settings({"modelatlas_alerts_interval_s": "45"}).alerts_interval_s == 45


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("MODELATLAS_ALERTS_INTERVAL_S", "4", "5 or more"),
        ("MODELATLAS_ALERTS_INTERVAL_S", "often", "a whole number of seconds"),
        ("MODELATLAS_ALERTS_INTERVAL_S", "7.5", "a whole number of seconds"),
        ("MODELATLAS_ALERTS_ALLOW_HTTP", "maybe", "true or false"),
        ("MODELATLAS_ALERTS_RETIRING_USED_ONLY", "perhaps", "true or false"),
        ("MODELATLAS_ALERTS_PRICE_MIN_PERCENT", "-1", "0 or more"),
        ("MODELATLAS_ALERTS_BUDGET_THRESHOLDS", "50,lots", "comma-separated percents"),
        ("MODELATLAS_ALERTS_BUDGET_THRESHOLDS", "0,80", "above 0"),
        ("MODELATLAS_ALERTS_BUDGET_THRESHOLDS", ",", "at least one"),
        ("MODELATLAS_ALERTS_RETIRING_DAYS", "30,-1", "0 or more"),
        ("MODELATLAS_ALERTS_RETIRING_DAYS", "a week", "whole days"),
        ("MODELATLAS_ALERTS_RETIRING_USED_DAYS", "0", "1 or more"),
        ("MODELATLAS_ALERTS_RETRY_BASE_S", "0", "above 0"),
        ("MODELATLAS_ALERTS_MAX_ATTEMPTS", "0", "1 or more"),
        ("MODELATLAS_ALERTS_TIMEOUT_S", "never", "seconds above 0"),
        ("MODELATLAS_ALERTS_SINCE", "yesterday", "ISO 8601"),
        ("MODELATLAS_ALERT_EMAIL_TO", "ops@example.com,not-an-address", "email addresses"),
        ("MODELATLAS_ALERT_EMAIL_FROM", "modelatlas", "email address"),
        ("MODELATLAS_DASHBOARD_URL", "dash.example.com", "http(s) URL"),
    ],
)
def test_a_bad_value_names_its_variable_and_what_to_set(variable: str, value: str, expected: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        alert_settings({**SECRETS, variable: value})

    message = str(raised.value)
    assert message.startswith(f"{variable}={value!r} is invalid")
    assert expected in message
    assert not any(secret in message for secret in SECRETS.values())
    # The pydantic error, whose text repeats every input, is not chained.
    assert raised.value.__cause__ is None
    assert raised.value.__suppress_context__


def test_every_bad_value_is_reported_at_once() -> None:
    with pytest.raises(ConfigurationError) as raised:
        alert_settings({"MODELATLAS_ALERTS_INTERVAL_S": "1", "MODELATLAS_ALERTS_TIMEOUT_S": "0"})

    assert "MODELATLAS_ALERTS_INTERVAL_S" in str(raised.value)
    assert "MODELATLAS_ALERTS_TIMEOUT_S" in str(raised.value)


def test_the_retry_ceiling_cannot_be_below_the_base_delay() -> None:
    with pytest.raises(
        ConfigurationError, match="MODELATLAS_ALERTS_RETRY_MAX_S is below MODELATLAS_ALERTS_RETRY_BASE_S"
    ):
        alert_settings({"MODELATLAS_ALERTS_RETRY_BASE_S": "30", "MODELATLAS_ALERTS_RETRY_MAX_S": "10"})


@pytest.mark.parametrize("address", ["ops@example.com", "first.last+alerts@mail.example.org"])
def test_email_addresses(address: str) -> None:
    assert check_email_address(address) == address


@pytest.mark.parametrize("address", ["ops", "ops@", "@example.com", "ops@example", "a b@example.com", "a@b@c.com"])
def test_not_email_addresses(address: str) -> None:
    with pytest.raises(ValueError, match="is not an email address"):
        check_email_address(address)


@given(st.lists(st.integers(min_value=1, max_value=10_000), min_size=1, max_size=8))
def test_budget_thresholds_are_sorted_and_unique(percents: list[int]) -> None:
    raw = ",".join(str(percent) for percent in percents)

    assert alert_settings({"MODELATLAS_ALERTS_BUDGET_THRESHOLDS": raw}).alerts_budget_thresholds == tuple(
        sorted(set(percents))
    )


@given(st.lists(st.integers(min_value=0, max_value=3650), min_size=1, max_size=8))
def test_retiring_days_are_counted_down(days: list[int]) -> None:
    raw = ", ".join(str(day) for day in days)

    assert alert_settings({"MODELATLAS_ALERTS_RETIRING_DAYS": raw}).alerts_retiring_days == tuple(
        sorted(set(days), reverse=True)
    )


@given(st.integers(min_value=-1000, max_value=100_000))
def test_the_interval_is_five_seconds_or_more(seconds: int) -> None:
    env = {"MODELATLAS_ALERTS_INTERVAL_S": str(seconds)}
    if seconds >= 5:
        assert alert_settings(env).alerts_interval_s == seconds
    else:
        with pytest.raises(ConfigurationError, match="MODELATLAS_ALERTS_INTERVAL_S"):
            alert_settings(env)
