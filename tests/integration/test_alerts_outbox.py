"""Alerts against a real warehouse and real receivers: events read from mart tables, the outbox's exactly-once,
retries, receivers that are down or gone, baselines, budgets that stay crossed, digests, the sensor and its cursor.

The marts here are tables of this test's own database holding the columns the detectors read (checked against the
marts' documented columns below), written row by row so each test states exactly what changed.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import yaml
from standardwebhooks.webhooks import Webhook

from modelatlas.alerts import store
from modelatlas.alerts.routing import load_alert_config
from modelatlas.alerts.service import deliver, evaluate, run_alerts
from modelatlas.alerts.settings import AlertSettings, alert_settings
from modelatlas.assets.alerts import build_alerts_sensor
from modelatlas.pipelines.quality.store import ensure_dq_tables
from modelatlas.resources import WarehouseResource
from modelatlas.settings import PROJECT_ROOT
from modelatlas.simulator.receivers import AlertReceiver, Reply
from modelatlas.warehouse import ConnectionInfo, Warehouse
from modelatlas.warehouse.service import connect, ensure_database
from tests.alert_receivers import SmtpReceiver

DATABASE = "modelatlas_alerts_test"
SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
NOW = datetime.now(UTC)
FIRST_LOAD = NOW - timedelta(days=3)
MONTH = NOW.date().replace(day=1)

MART_COLUMNS = {
    "dim_models": {
        "provider": "text",
        "provider_model_id": "text",
        "canonical_model_id": "text",
        "display_name": "text",
        "context_window": "bigint",
        "max_output_tokens": "bigint",
        "first_seen_at": "timestamptz",
        "last_seen_at": "timestamptz",
        "is_available": "boolean",
        "deprecation_date": "date",
        "replacement_model_id": "text",
    },
    "fct_price_changes": {
        "price_change_id": "text",
        "source": "text",
        "provider": "text",
        "provider_model_id": "text",
        "canonical_model_id": "text",
        "component": "text",
        "service_tier": "text",
        "condition": "text",
        "region": "text",
        "unit": "text",
        "old_price_usd": "numeric(38, 18)",
        "new_price_usd": "numeric(38, 18)",
        "price_change_pct": "numeric(38, 6)",
        "change_direction": "text",
        "changed_at": "timestamptz",
        "detected_at": "timestamptz",
    },
    "fct_price_history": {"source": "text", "first_seen_at": "timestamptz"},
    "fct_outages": {
        "outage_id": "text",
        "source": "text",
        "provider": "text",
        "region": "text",
        "model_id": "text",
        "canonical_model_id": "text",
        "upstream_provider": "text",
        "severity": "text",
        "started_at": "timestamptz",
        "ended_at": "timestamptz",
        "duration_minutes": "numeric(12, 2)",
        "first_error_class": "text",
    },
    "mart_status_current": {
        "provider": "text",
        "effective_status": "text",
        "status_description": "text",
        "open_incident_titles": "text",
        "components_not_operational": "text",
        "status_observed_at": "timestamptz",
        "status_disagrees": "boolean",
        "latest_probe_ok": "boolean",
        "consecutive_failed_probes": "bigint",
        "probes_failing_since": "timestamptz",
    },
    "mart_budget_status": {
        "scope": "text",
        "subject": "text",
        "team": "text",
        "month": "date",
        "through_day": "date",
        "budget_usd": "numeric",
        "request_limit": "bigint",
        "spend_to_date_usd": "numeric",
        "requests_to_date": "bigint",
        "budget_used_share": "numeric",
        "forecast_usd": "numeric",
        "forecast_method": "text",
        "status": "text",
        "forecast_exceeds": "boolean",
    },
    "mart_price_consensus": {
        "canonical_model_id": "text",
        "provider": "text",
        "component": "text",
        "unit": "text",
        "genai_prices_price_usd": "numeric",
        "litellm_price_usd": "numeric",
        "openrouter_price_usd": "numeric",
        "consensus_price_usd": "numeric",
        "price_spread": "numeric",
        "sources_disagree": "boolean",
        "suspected_unit_error": "boolean",
    },
    "mart_usage_daily": {"day": "date", "canonical_model_id": "text"},
}


def test_the_detectors_read_only_documented_mart_columns() -> None:
    documented: dict[str, set[str]] = {}
    for path in (PROJECT_ROOT / "dbt_project" / "models" / "marts").glob("*.yml"):
        for model in yaml.safe_load(path.read_text()).get("models", []):
            documented[model["name"]] = {column["name"] for column in model.get("columns", [])}
    for mart, columns in MART_COLUMNS.items():
        assert set(columns) <= documented[mart], (mart, set(columns) - documented[mart])


@pytest.fixture(scope="module")
def info(connection: ConnectionInfo) -> ConnectionInfo:
    ensure_database(connection, DATABASE)
    return connection.with_database(DATABASE)


@pytest.fixture
def db(info: ConnectionInfo) -> Iterator[ConnectionInfo]:
    """Empty marts and an empty outbox for each test."""
    with connect(info) as conn:
        conn.execute("drop schema if exists marts cascade")
        conn.execute("drop schema if exists ops cascade")
        conn.execute("drop schema if exists dq cascade")
        conn.execute("create schema marts")
        for mart, columns in MART_COLUMNS.items():
            body = ", ".join(f"{name} {kind}" for name, kind in columns.items())
            conn.execute(f"create table marts.{mart} ({body})")  # type: ignore[arg-type]
        ensure_dq_tables(conn)
    yield info


@pytest.fixture
def receiver() -> Iterator[AlertReceiver]:
    with AlertReceiver() as running:
        yield running


def environment(receiver: AlertReceiver, **extra: str) -> dict[str, str]:
    return {
        "MODELATLAS_SLACK_WEBHOOK_URL": receiver.url("/slack/T000/B000/XXXX"),
        "MODELATLAS_WEBHOOK_URL": receiver.url("/webhook/modelatlas"),
        "MODELATLAS_WEBHOOK_SECRET": SECRET,
        "MODELATLAS_ALERTS_ALLOW_HTTP": "true",
        "MODELATLAS_ALERTS_RETRY_BASE_S": "0.05",
        **extra,
    }


def settings_for(receiver: AlertReceiver, **extra: str) -> AlertSettings:
    return alert_settings(environment(receiver, **extra))


def insert(info: ConnectionInfo, mart: str, **values: Any) -> None:
    columns = ", ".join(values)
    marks = ", ".join(["%s"] * len(values))
    with connect(info) as conn:
        conn.execute(f"insert into marts.{mart} ({columns}) values ({marks})", list(values.values()))  # type: ignore[arg-type]


def execute(info: ConnectionInfo, query: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    with connect(info) as conn:
        cursor = conn.execute(query, params)  # type: ignore[arg-type]
        return cursor.fetchall() if cursor.description else []


def model(info: ConnectionInfo, model_id: str, first_seen_at: datetime, **extra: Any) -> None:
    values = {
        "provider": "openai",
        "provider_model_id": model_id,
        "canonical_model_id": model_id,
        "display_name": model_id.upper(),
        "context_window": 128_000,
        "first_seen_at": first_seen_at,
        "last_seen_at": NOW,
        "is_available": True,
        **extra,
    }
    insert(info, "dim_models", **values)


def price_change(info: ConnectionInfo, change_id: str, detected_at: datetime, old: str, new: str) -> None:
    insert(
        info,
        "fct_price_changes",
        price_change_id=change_id,
        source="genai-prices",
        provider="openai",
        provider_model_id="gpt-4o",
        canonical_model_id="gpt-4o",
        component="input",
        service_tier="standard",
        condition="base",
        region="global",
        unit="mtok",
        old_price_usd=Decimal(old),
        new_price_usd=Decimal(new),
        price_change_pct=(Decimal(new) - Decimal(old)) / Decimal(old) * 100,
        change_direction="increase" if Decimal(new) > Decimal(old) else "decrease",
        changed_at=detected_at,
        detected_at=detected_at,
    )


def budget(info: ConnectionInfo, share: str, budget_usd: str = "1000", month: date = MONTH) -> None:
    execute(info, "delete from marts.mart_budget_status where subject = 'research' and month = %s", [month])
    insert(
        info,
        "mart_budget_status",
        scope="team",
        subject="research",
        team="research",
        month=month,
        through_day=NOW.date(),
        budget_usd=Decimal(budget_usd),
        spend_to_date_usd=Decimal(budget_usd) * Decimal(share),
        requests_to_date=100,
        budget_used_share=Decimal(share),
        forecast_usd=Decimal(budget_usd) * Decimal(share),
        forecast_method="linear",
        status="ok",
        forecast_exceeds=False,
    )


def market(info: ConnectionInfo) -> None:
    """A provider's first catalog load and a registry's first prices: the baseline."""
    for model_id in ("gpt-4o", "gpt-4o-mini"):
        model(info, model_id, FIRST_LOAD)
    insert(info, "fct_price_history", source="genai-prices", first_seen_at=FIRST_LOAD)
    price_change(info, "dated-in-first-load", FIRST_LOAD, "5", "2.5")


def changes(info: ConnectionInfo) -> None:
    """One of each headline event after the baseline: a new model, a price change, an outage, a budget crossing."""
    now = datetime.now(UTC)
    model(info, "gpt-5", now)
    price_change(info, "gpt-4o-input-up", now, "2.5", "3")
    insert(
        info,
        "fct_outages",
        outage_id="o1",
        source="probe",
        provider="anthropic",
        region="eu",
        severity="major_outage",
        started_at=now - timedelta(minutes=3),
        first_error_class="timeout",
    )
    budget(info, "0.85")


def delivered_kinds(receiver: AlertReceiver, prefix: str) -> list[str]:
    kinds = []
    for request in receiver.requests_to(prefix):
        body = request.json()
        kinds.append(body["type"] if prefix == "/webhook" else body["text"])
    return kinds


def webhook_events(receiver: AlertReceiver) -> list[dict[str, Any]]:
    return [request.json() for request in receiver.requests_to("/webhook")]


def test_each_change_reaches_slack_and_the_signed_webhook_once_with_its_content(
    db: ConnectionInfo, receiver: AlertReceiver
) -> None:
    market(db)
    settings = settings_for(receiver)
    baseline = run_alerts(db, settings, budget_s=2)
    assert baseline is not None and baseline.delivered == 0 and baseline.recorded == 3 and baseline.suppressed == 3
    assert receiver.requests == []

    changes(db)
    report = run_alerts(db, settings, budget_s=2)
    assert report is not None and (report.recorded, report.suppressed, report.delivered, report.failed) == (5, 1, 8, 0)
    bodies = {body["type"]: body["data"] for body in webhook_events(receiver)}
    assert set(bodies) == {"model.added", "price.changed", "outage.started", "budget.threshold"}
    assert bodies["price.changed"]["details"]["old_price_usd"] == "2.5" + "0" * 17
    assert Decimal(bodies["price.changed"]["details"]["percent"]) == Decimal(20)
    assert {"label": "New price", "value": "$3.00 / Mtok"} in bodies["price.changed"]["facts"]
    assert bodies["model.added"]["details"]["provider_model_id"] == "gpt-5"
    assert bodies["outage.started"]["severity"] == "critical"
    assert bodies["budget.threshold"]["details"]["threshold_percent"] == "80"
    assert receiver.verify_webhooks(SECRET) and len(receiver.verify_webhooks(SECRET)) == 4
    slack = [request.json() for request in receiver.requests_to("/slack")]
    assert sorted(body["text"] for body in slack) == sorted(body["title"] for body in bodies.values())
    assert all(body["blocks"][0]["type"] == "header" for body in slack)

    again = run_alerts(db, settings, budget_s=2)
    assert again is not None and (again.recorded, again.delivered) == (0, 0)
    assert len(receiver.requests) == 8


def test_receivers_down_for_two_attempts_get_each_event_exactly_once(
    db: ConnectionInfo, receiver: AlertReceiver
) -> None:
    market(db)
    settings = settings_for(receiver)
    run_alerts(db, settings, budget_s=1)
    changes(db)
    for prefix in ("/slack", "/webhook"):
        receiver.script(prefix, *([Reply(500, b"down")] * 4 + [Reply(503, b"busy", {"retry-after": "0"})] * 4))
    first = run_alerts(db, settings, budget_s=0)
    assert first is not None and (first.delivered, first.retrying) == (0, 8)
    config = load_alert_config(settings)
    for attempt in (2, 3):
        time.sleep(0.2)  # past the backoff (0.05 s base) and the Retry-After (0)
        report = deliver(db, config, settings, budget_s=0)
        assert (report.delivered, report.retrying) == ((0, 8) if attempt == 2 else (8, 0))
    for prefix in ("/slack", "/webhook"):
        assert len(receiver.requests_to(prefix)) == 12
    webhook_ids = [request.headers["webhook-id"] for request in receiver.requests_to("/webhook")]
    assert len(set(webhook_ids)) == 4 and all(webhook_ids.count(i) == 3 for i in set(webhook_ids))
    accepted = [request.json()["type"] for request in receiver.requests_to("/webhook")[-4:]]
    assert sorted(accepted) == ["budget.threshold", "model.added", "outage.started", "price.changed"]
    again = run_alerts(db, settings, budget_s=1)
    assert again is not None and again.delivered == 0 and len(receiver.requests) == 24
    attempts = execute(db, "select channel, attempts, status, response_code from ops.alert_deliveries")
    assert {(attempt, status) for _, attempt, status, _ in attempts} == {(3, "delivered")}


def test_a_receiver_slow_past_its_timeout_is_retried_later_without_losing_the_event(
    db: ConnectionInfo, receiver: AlertReceiver
) -> None:
    market(db)
    settings = settings_for(receiver, MODELATLAS_ALERTS_TIMEOUT_S="0.3", MODELATLAS_ALERTS_RETRY_BASE_S="60")
    run_alerts(db, settings, budget_s=1)
    model(db, "gpt-5", datetime.now(UTC))
    receiver.script("/slack", Reply.delay(1.0))
    report = run_alerts(db, settings, budget_s=1)
    assert report is not None and (report.delivered, report.retrying) == (1, 1)
    rows = execute(db, "select status, last_error, next_attempt_at from ops.alert_deliveries where channel = 'slack'")
    status, error, next_attempt_at = rows[0]
    assert status == "pending" and "did not answer within 0.3 s" in error and next_attempt_at > datetime.now(UTC)
    assert "/slack/" not in error and "127.0.0.1" not in error


def test_a_gone_receiver_disables_its_channel_and_the_others_hear_of_it(
    db: ConnectionInfo, receiver: AlertReceiver
) -> None:
    market(db)
    settings = settings_for(receiver)
    run_alerts(db, settings, budget_s=1)
    receiver.script("/slack", *[Reply(410, b"channel_is_archived")] * 10)
    changes(db)
    report = run_alerts(db, settings, budget_s=2)
    assert report is not None and report.disabled_channels == ["slack"]
    # The four messages went out together; none after the first 410 was recorded.
    assert len(receiver.requests_to("/slack")) == 4
    kinds = [body["type"] for body in webhook_events(receiver)]
    assert kinds.count("channel.disabled") == 1 and len(kinds) == 5
    [(channel, reason)] = execute(db, "select channel, disabled_reason from ops.alert_channels")
    assert channel == "slack" and "410" in reason
    model(db, "gpt-5.1", datetime.now(UTC))
    later = run_alerts(db, settings, budget_s=1)
    assert later is not None and later.delivered == 1 and len(receiver.requests_to("/slack")) == 4
    statuses = execute(db, "select status from ops.alert_deliveries where channel = 'slack'")
    assert {row[0] for row in statuses} <= {"failed", "channel_disabled"}


def test_a_budget_above_80_percent_all_month_alerts_once_and_rearms_with_a_new_budget_or_month(
    db: ConnectionInfo, receiver: AlertReceiver
) -> None:
    settings = settings_for(receiver)
    for share in ("0.40", "0.55", "0.81", "0.86", "0.90", "0.95", "0.99"):
        budget(db, share)
        run_alerts(db, settings, budget_s=1)
    thresholds = [body["data"]["details"]["threshold_percent"] for body in webhook_events(receiver)]
    assert thresholds == ["50", "80"]
    budget(db, "0.90", budget_usd="2000")
    run_alerts(db, settings, budget_s=1)
    budget(db, "0.10", month=(MONTH + timedelta(days=32)).replace(day=1))
    budget(db, "1.20", month=(MONTH + timedelta(days=32)).replace(day=1))
    run_alerts(db, settings, budget_s=1)
    thresholds = [body["data"]["details"]["threshold_percent"] for body in webhook_events(receiver)]
    assert thresholds == ["50", "80", "80", "100"]
    superseded = execute(db, "select count(*) from ops.alert_outbox where suppressed_reason = 'superseded'")
    assert superseded == [(3,)]


def test_a_flag_alerts_when_it_turns_on_and_again_only_after_it_turned_off_or_worse(
    db: ConnectionInfo, receiver: AlertReceiver
) -> None:
    settings = settings_for(receiver)

    def status(effective: str) -> None:
        execute(db, "delete from marts.mart_status_current")
        insert(db, "mart_status_current", provider="openai", effective_status=effective, status_disagrees=False)

    status("operational")
    run_alerts(db, settings, budget_s=1)  # the provider's first evaluation: its baseline
    # Worse alerts again, better part way says nothing, operational re-arms every level.
    for effective in ("degraded", "degraded", "major_outage", "partial_outage", "operational", "maintenance"):
        status(effective)
        run_alerts(db, settings, budget_s=1)
    status("partial_outage")
    run_alerts(db, settings, budget_s=1)
    titles = [body["data"]["title"] for body in webhook_events(receiver)]
    assert titles == [
        "openai status: degraded",
        "openai status: major outage",
        "openai status: maintenance",
        "openai status: partial outage",
    ]
    # Each jump over a level turned two on at once: the milder one is recorded, not delivered.
    superseded = execute(db, "select count(*) from ops.alert_outbox where suppressed_reason = 'superseded'")
    assert superseded == [(3,)]


def test_events_before_alerts_were_enabled_are_recorded_as_suppressed(
    db: ConnectionInfo, receiver: AlertReceiver
) -> None:
    insert(
        db,
        "fct_outages",
        outage_id="old",
        source="official",
        provider="openai",
        severity="partial_outage",
        started_at=NOW - timedelta(days=40),
        ended_at=NOW - timedelta(days=39),
        duration_minutes=Decimal(60),
    )
    report = run_alerts(db, settings_for(receiver), budget_s=1)
    assert report is not None and (report.recorded, report.suppressed, report.delivered) == (2, 2, 0)
    reasons = execute(db, "select kind, suppressed_reason from ops.alert_outbox order by kind")
    assert reasons == [("outage.resolved", "before_since"), ("outage.started", "before_since")]


def test_a_digest_collects_many_small_events_into_one_message(
    db: ConnectionInfo, receiver: AlertReceiver, tmp_path: Path
) -> None:
    rules = tmp_path / "alerts.yaml"
    rules.write_text(
        yaml.safe_dump(
            {
                "channels": {"finops": {"type": "webhook", "url_env": "FINOPS_URL", "secret_env": "FINOPS_SECRET"}},
                "routes": [{"events": ["price.changed"], "channels": ["finops"], "digest": "hourly"}],
            }
        )
    )
    env = {
        "MODELATLAS_ALERTS_FILE": str(rules),
        "MODELATLAS_ALERTS_ALLOW_HTTP": "true",
        "FINOPS_URL": receiver.url("/webhook/finops"),
        "FINOPS_SECRET": SECRET,
    }
    settings = alert_settings(env)
    config = load_alert_config(settings)
    market(db)
    run_alerts(db, settings, config, budget_s=1)
    for index in range(25):
        price_change(db, f"change-{index}", datetime.now(UTC), "2", str(2 + index + 1))
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1, minutes=1)
    with connect(db) as conn:
        evaluate(conn, config, settings, an_hour_ago)
    report = deliver(db, config, settings, budget_s=1)
    assert report.delivered == 25
    [digest] = receiver.requests_to("/webhook/finops")
    assert digest.json()["type"] == "digest" and len(digest.json()["data"]["events"]) == 25
    assert Webhook(SECRET).verify(digest.body, dict(digest.headers))


def test_concurrent_passes_deliver_each_event_once(db: ConnectionInfo, receiver: AlertReceiver) -> None:
    settings = settings_for(receiver)
    market(db)
    run_alerts(db, settings, budget_s=1)
    for index in range(40):
        model(db, f"model-{index}", datetime.now(UTC))
    receiver.script("/webhook", *[Reply.delay(0.02)] * 40)
    threads = [threading.Thread(target=run_alerts, args=(db, settings), kwargs={"budget_s": 5}) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ids = [request.headers["webhook-id"] for request in receiver.requests_to("/webhook")]
    assert len(ids) == 40 and len(set(ids)) == 40
    assert len(receiver.requests_to("/slack")) == 40


def test_nothing_secret_reaches_the_outbox_or_the_deliveries(db: ConnectionInfo, receiver: AlertReceiver) -> None:
    market(db)
    settings = settings_for(receiver)
    receiver.script("/slack", Reply(500, b"server error"))
    changes(db)
    run_alerts(db, settings, budget_s=0)
    with connect(db) as conn:
        rows = [conn.execute(f"select * from ops.{table}").fetchall() for table in store.OPS_TABLES]  # type: ignore[arg-type]
        dump = json.dumps(rows, default=str)
    for secret in (SECRET, "/slack/T000/B000/XXXX", "/webhook/modelatlas"):
        assert secret not in dump


def test_the_email_channel_delivers_to_an_smtp_server(db: ConnectionInfo, receiver: AlertReceiver) -> None:
    with SmtpReceiver() as smtp:
        env = {
            "MODELATLAS_SMTP_URL": f"smtp://127.0.0.1:{smtp.port}",
            "MODELATLAS_ALERT_EMAIL_TO": "oncall@example.com,finops@example.com",
            "MODELATLAS_ALERT_EMAIL_FROM": "alerts@example.com",
        }
        market(db)
        settings = alert_settings(env)
        run_alerts(db, settings, budget_s=1)
        changes(db)
        report = run_alerts(db, settings, budget_s=2)
        assert report is not None and report.delivered == 4
        subjects = sorted(mail.message["Subject"] for mail in smtp.mails)
        assert len(subjects) == 4 and all(subject.startswith("[ModelAtlas] ") for subject in subjects)
        mail = next(mail for mail in smtp.mails if "price" in mail.message["Subject"])
        assert set(mail.rcpt_tos) == {"oncall@example.com", "finops@example.com"}
        plain = mail.message.get_body(("plain",))
        html = mail.message.get_body(("html",))
        assert plain is not None and "$3.00 / Mtok" in plain.get_content()
        assert html is not None and "<table" in html.get_content()


def _sensor_tick(resource: WarehouseResource, cursor: str | None) -> tuple[str, str | None]:
    sensor = build_alerts_sensor([], interval_s=30)
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(instance=instance, cursor=cursor, resources={"warehouse": resource})
        result = sensor(context)
        return str(getattr(result, "skip_message", result)), context.cursor


SENSOR_TICK = """
import json, os, sys
import dagster as dg
from modelatlas.assets.alerts import build_alerts_sensor
from modelatlas.resources import WarehouseResource
resource = WarehouseResource(url=sys.argv[1])
with dg.instance_for_test() as instance:
    context = dg.build_sensor_context(instance=instance, cursor=sys.argv[2], resources={"warehouse": resource})
    result = build_alerts_sensor([], interval_s=30)(context)
    print(json.dumps({"message": result.skip_message, "cursor": context.cursor}))
"""


def test_the_sensor_delivers_and_a_restarted_sensor_with_its_cursor_repeats_nothing(
    db: ConnectionInfo, receiver: AlertReceiver, monkeypatch: pytest.MonkeyPatch, warehouse: Warehouse
) -> None:
    for name, value in environment(receiver).items():
        monkeypatch.setenv(name, value)
    resource = WarehouseResource(url=db.url())
    market(db)
    _, cursor = _sensor_tick(resource, None)
    changes(db)
    message, cursor = _sensor_tick(resource, cursor)
    assert "5 new events (1 suppressed), 8 delivered" in message
    assert cursor is not None and json.loads(cursor)["outbox_sequence"] >= 7
    message, cursor = _sensor_tick(resource, cursor)
    assert message.startswith("0 new events") and len(receiver.requests) == 8
    restarted = subprocess.run(
        [sys.executable, "-c", SENSOR_TICK, db.url(), cursor or ""],
        capture_output=True,
        text=True,
        check=True,
        cwd=PROJECT_ROOT,
        env={**dict(__import__("os").environ), **environment(receiver)},
        timeout=120,
    )
    output: Mapping[str, Any] = json.loads(restarted.stdout.strip().splitlines()[-1])
    assert output["message"].startswith("0 new events, ") or output["message"].startswith("0 new events (")
    assert output["cursor"] == cursor
    assert len(receiver.requests) == 8


def test_a_failed_run_raises_run_failed_through_the_run_failure_sensor(
    db: ConnectionInfo, receiver: AlertReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    from modelatlas.assets.schedules import log_failed_runs

    for name, value in environment(receiver, MODELATLAS_DAGSTER_URL="http://127.0.0.1:3000").items():
        monkeypatch.setenv(name, value)

    @dg.op
    def breaks() -> None:
        raise RuntimeError("boom")

    @dg.job(tags={"modelatlas/source": "openai"})
    def refresh_openai() -> None:
        breaks()

    with dg.instance_for_test() as instance:
        result = refresh_openai.execute_in_process(instance=instance, raise_on_error=False)
        failure = next(event for event in result.all_events if event.event_type == dg.DagsterEventType.RUN_FAILURE)
        context = dg.build_run_status_sensor_context(
            sensor_name="log_failed_runs",
            dagster_event=failure,
            dagster_instance=instance,
            dagster_run=result.dagster_run,
            resources={"warehouse": WarehouseResource(url=db.url())},
        ).for_run_failure()
        log_failed_runs(context)
    report = run_alerts(db, settings_for(receiver), budget_s=1)
    assert report is not None and report.delivered == 2
    [body] = webhook_events(receiver)
    assert body["type"] == "run.failed" and body["data"]["details"]["job_name"] == "refresh_openai"
    assert body["data"]["link"] == f"http://127.0.0.1:3000/runs/{result.run_id}"
    assert "breaks" in body["data"]["summary"]


def test_a_detector_whose_mart_is_broken_fails_alone(db: ConnectionInfo, receiver: AlertReceiver) -> None:
    market(db)
    settings = settings_for(receiver)
    run_alerts(db, settings, budget_s=1)
    execute(db, "alter table marts.fct_outages drop column started_at")
    changes_without_outage = datetime.now(UTC)
    model(db, "gpt-5", changes_without_outage)
    report = run_alerts(db, settings, budget_s=1)
    assert report is not None and report.delivered == 2
    assert len(report.errors) == 1 and report.errors[0].startswith("outage.started, outage.resolved: ")
    assert "detectors failed" in report.describe()
    assert [body["type"] for body in webhook_events(receiver)] == ["model.added"]


def test_a_disabled_channels_error_event_reaches_the_other_channels_whatever_their_routes(
    db: ConnectionInfo, receiver: AlertReceiver, tmp_path: Path
) -> None:
    rules = tmp_path / "alerts.yaml"
    rules.write_text(
        yaml.safe_dump(
            {
                "channels": {
                    "finops": {"type": "webhook", "url_env": "FINOPS_URL", "secret_env": "FINOPS_SECRET"},
                    "oncall": {"type": "slack", "url_env": "ONCALL_URL"},
                },
                "routes": [
                    {"events": ["price.changed"], "channels": ["finops"]},
                    {"events": ["outage.*"], "channels": ["oncall"]},
                ],
            }
        )
    )
    env = {
        "MODELATLAS_ALERTS_FILE": str(rules),
        "MODELATLAS_ALERTS_ALLOW_HTTP": "true",
        "FINOPS_URL": receiver.url("/webhook/finops"),
        "FINOPS_SECRET": SECRET,
        "ONCALL_URL": receiver.url("/slack/oncall"),
    }
    settings = alert_settings(env)
    market(db)
    run_alerts(db, settings, budget_s=1)
    receiver.script("/webhook/finops", Reply(410))
    price_change(db, "cut", datetime.now(UTC), "3", "2")
    report = run_alerts(db, settings, budget_s=1)
    assert report is not None and report.disabled_channels == ["finops"]
    [notice] = receiver.requests_to("/slack/oncall")
    assert notice.json()["text"] == "Alert channel finops disabled"
