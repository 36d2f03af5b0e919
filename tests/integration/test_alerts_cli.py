"""`modelatlas alerts ...` against the session warehouse and a local receiver."""

from __future__ import annotations

import pytest

from modelatlas.cli import main
from modelatlas.simulator.receivers import AlertReceiver, Reply
from modelatlas.warehouse import ConnectionInfo
from modelatlas.warehouse.service import connect

SECRET = "whsec_" + "C2FVsBQIhrscChlQIMV+b5sSYspob7oD"


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch, connection: ConnectionInfo) -> AlertReceiver:
    running = AlertReceiver().start()
    monkeypatch.setenv("MODELATLAS_WEBHOOK_URL", running.url("/webhook/cli"))
    monkeypatch.setenv("MODELATLAS_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("MODELATLAS_ALERTS_ALLOW_HTTP", "true")
    yield running  # type: ignore[misc]
    running.stop()


def test_alerts_test_sends_one_signed_message_now(receiver: AlertReceiver, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["alerts", "test", "webhook"]) == 0
    assert "test message delivered to webhook" in capsys.readouterr().out
    [verified] = receiver.verify_webhooks(SECRET)
    assert verified["type"] == "alerts.test"


def test_alerts_test_reports_a_refusal_without_the_url(
    receiver: AlertReceiver, capsys: pytest.CaptureFixture[str]
) -> None:
    receiver.script("/webhook", Reply(410, b"gone"))
    assert main(["alerts", "test", "webhook"]) == 2
    err = capsys.readouterr().err
    assert "refused the test message (HTTP 410)" in err and "/webhook/cli" not in err and SECRET not in err
    assert main(["alerts", "test", "pager"]) == 2
    assert "no alert channel named 'pager' is configured (configured: webhook)" in capsys.readouterr().err


def test_alerts_deliver_list_and_enable(
    receiver: AlertReceiver, connection: ConnectionInfo, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["alerts", "deliver", "--wait", "0"]) == 0
    assert "new events" in capsys.readouterr().out
    with connect(connection) as conn:
        conn.execute(
            "insert into ops.alert_channels (channel, kind, disabled_at, disabled_reason) "
            "values ('webhook', 'webhook', now(), 'the receiver answered 410') on conflict (channel) do update "
            "set disabled_at = now(), disabled_reason = excluded.disabled_reason"
        )
    assert main(["alerts", "enable", "webhook"]) == 0
    assert capsys.readouterr().out.strip() == "channel webhook enabled"
    assert main(["alerts", "enable", "webhook"]) == 0
    assert capsys.readouterr().out.strip() == "channel webhook was not disabled"
    assert main(["alerts", "list", "--limit", "5"]) == 0
    assert capsys.readouterr().out.strip()


def test_alerts_deliver_without_a_channel_says_what_to_set(
    connection: ConnectionInfo, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["alerts", "deliver"]) == 2
    assert "no alert channel is configured: set MODELATLAS_SLACK_WEBHOOK_URL" in capsys.readouterr().err
