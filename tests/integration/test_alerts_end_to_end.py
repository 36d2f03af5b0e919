"""The alerts' acceptance test: changes made in the simulator travel through the real pipeline (loads, quality gate,
dbt) to the marts, and `modelatlas run`'s own alerts pass delivers them.

A first run is the baseline: every source's first load, alerts enabled, nothing delivered. Then OpenAI lists a new
model, LiteLLM raises a price, Anthropic's status page opens a major incident and a team's budget is cut below what
it spent this month. A second run, while the Slack-style and the signed-webhook receivers answer 500 to the first
two attempts of every message, gets each of the four events to each receiver exactly once, and to a local SMTP
server as one mail each. A third run delivers nothing new.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import html
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from modelatlas.alerts.service import run_alerts
from modelatlas.alerts.settings import alert_settings
from modelatlas.pipelines.registry import sources
from modelatlas.runner import RUN_CURSOR_FILE, RunSummary, run
from modelatlas.simulator import Simulator, build_simulator, sample_environment
from modelatlas.simulator.litellm import LiteLLMHandler
from modelatlas.simulator.openai import OpenAIHandler
from modelatlas.simulator.receivers import AlertReceiver, ReceivedRequest, Reply
from modelatlas.simulator.status import StatusPagesHandler
from modelatlas.warehouse import ConnectionInfo, Warehouse, read_only_query
from tests.alert_receivers import ReceivedMail, SmtpReceiver

DATABASE = "modelatlas_alerts_e2e"
# The sources the four events come from; the others' raw tables stay empty. Every dbt model builds: a selection of
# some would still run the relationship tests of the others, which do not exist in a new database.
SOURCES = ("openai", "litellm", "status", "openai_usage", "teams")
SELECTION = " or ".join(
    [
        "group:openai",
        "group:litellm",
        "key:raw_status/*",
        "key:ts/status_observations",
        "key:raw_openai_usage/*",
        "key:raw_teams/*",
        "kind:dbt",
    ]
)
SECRET = "whsec_" + base64.b64encode(b"modelatlas end-to-end alerts secret").decode()
SLACK = "/slack/T0E2E/B0E2E/e2e"
WEBHOOK = "/webhook/e2e"
EMAIL_TO = "oncall@example.com"
HEADLINE = ("model.added", "price.changed", "outage.started", "budget.threshold")
# What each receiver answers 500 to, per message, in the second run.
FAILED_ATTEMPTS = 2

NEW_MODEL = "gpt-e2e-1"
PRICED_MODEL = "gpt-4o"
OLD_INPUT_PER_TOKEN, NEW_INPUT_PER_TOKEN = Decimal("0.0000025"), Decimal("0.000003")
OUTAGE_PAGE, OUTAGE_COMPONENT, OUTAGE_TITLE = "anthropic", "Messages", "Messages API unavailable"
TEAM = "support"
# The simulated organisation's busiest key: gpt-4o-mini every hour but 05 UTC, every day.
TEAM_KEY = "key_Nc4pQ8wZrT2mYb6V"
BUDGET_BEFORE, BUDGET_AFTER = "1000000", "0.0001"


class FlakyReceiver(AlertReceiver):
    """An AlertReceiver that, while `down_for` is above 0, answers 500 to the first `down_for` attempts of each
    message (a webhook's by its `webhook-id`, a Slack message's by its body), and keeps the status it gave each."""

    def __init__(self) -> None:
        super().__init__()
        self.down_for = 0
        self.answers: list[tuple[ReceivedRequest, int]] = []
        self._attempts: Counter[tuple[str, str]] = Counter()
        self._answer_lock = threading.Lock()

    def __enter__(self) -> FlakyReceiver:
        self.start()
        return self

    def record(self, path: str, headers: Mapping[str, str], body: bytes) -> Reply:
        with self._answer_lock:
            reply = super().record(path, headers, body)
            key = (path, headers.get("webhook-id") or hashlib.sha256(body).hexdigest())
            self._attempts[key] += 1
            if self._attempts[key] <= self.down_for:
                reply = Reply(500, b"receiver down")
            self.answers.append((self.requests[-1], reply.status or 200))
            return reply


@dataclass
class World:
    """The simulator, the receivers, and the database and Dagster instance the runs write to."""

    warehouse: Warehouse
    simulator: Simulator
    receiver: FlakyReceiver
    smtp: SmtpReceiver
    teams_file: Path
    dagster_home: Path

    @property
    def info(self) -> ConnectionInfo:
        return self.warehouse.connection()


@dataclass(frozen=True)
class Outcome:
    """One run and what reached the receivers while (and right after) it ran."""

    summary: RunSummary
    answers: list[tuple[ReceivedRequest, int]]
    mails: list[ReceivedMail]
    # The outbox when the run was over: how many events of each kind, and why each was not delivered (None: it was).
    outbox: Counter[tuple[str, str | None]]

    def to(self, prefix: str) -> list[tuple[ReceivedRequest, int]]:
        return [(request, status) for request, status in self.answers if request.path.startswith(prefix)]

    def accepted(self, prefix: str) -> list[ReceivedRequest]:
        return [request for request, status in self.to(prefix) if 200 <= status < 300]

    def webhook_events(self) -> dict[str, dict[str, Any]]:
        """The accepted webhook messages' bodies by kind (each kind at most once)."""
        bodies: dict[str, dict[str, Any]] = {}
        for request in self.accepted("/webhook"):
            body = request.json()
            assert body["type"] not in bodies or body["type"] not in HEADLINE, f"{body['type']} accepted twice"
            bodies[body["type"]] = body
        return bodies


def write_teams(path: Path, budget_usd: str) -> None:
    team = {"id": TEAM, "name": "Support", "monthly_budget_usd": budget_usd, "members": {"api_keys": [TEAM_KEY]}}
    path.write_text(yaml.safe_dump({"teams": [team]}))


def query(info: ConnectionInfo, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    _, rows = read_only_query(info, sql, params)
    return [tuple(row) for row in rows]


def outbox(info: ConnectionInfo) -> Counter[tuple[str, str | None]]:
    rows = query(info, "select kind, suppressed_reason, count(*) from ops.alert_outbox group by 1, 2")
    return Counter({(kind, reason): count for kind, reason, count in rows})


def run_and_collect(world: World) -> Outcome:
    answered, mailed = len(world.receiver.answers), len(world.smtp.mails)
    summary = run(SELECTION, warehouse=world.warehouse)
    return Outcome(summary, world.receiver.answers[answered:], world.smtp.mails[mailed:], outbox(world.info))


@pytest.fixture(scope="module")
def world(warehouse: Warehouse, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    specs = [spec for spec in sources() if spec.name in SOURCES]
    home = tmp_path_factory.mktemp("alerts-e2e")
    teams_file = home / "teams.yaml"
    write_teams(teams_file, BUDGET_BEFORE)
    target = Warehouse(replace(warehouse.settings, database=DATABASE))
    with (
        build_simulator(specs) as simulator,
        FlakyReceiver() as receiver,
        SmtpReceiver() as smtp,
        pytest.MonkeyPatch.context() as patch,
    ):
        env = {
            **sample_environment(simulator, specs),
            "MODELATLAS_WAREHOUSE_DATABASE": DATABASE,
            "DAGSTER_HOME": str(home / "dagster"),
            "MODELATLAS_TEAMS_FILE": str(teams_file),
            "MODELATLAS_USAGE_BACKFILL_DAYS": "2",
            # The current-status models (fct_outages) build at most once a tick: one a minute, not every two.
            "MODELATLAS_STATUS_MARTS_CRON": "* * * * *",
            "MODELATLAS_SLACK_WEBHOOK_URL": receiver.url(SLACK),
            "MODELATLAS_WEBHOOK_URL": receiver.url(WEBHOOK),
            "MODELATLAS_WEBHOOK_SECRET": SECRET,
            "MODELATLAS_SMTP_URL": f"smtp://127.0.0.1:{smtp.port}",
            "MODELATLAS_ALERT_EMAIL_TO": EMAIL_TO,
            "MODELATLAS_ALERT_EMAIL_FROM": "alerts@example.com",
            "MODELATLAS_ALERTS_ALLOW_HTTP": "true",
            "MODELATLAS_ALERTS_RETRY_BASE_S": "0.05",
            # A run sets dbt's connection in the process's environment: set here, it is restored afterwards.
            **target.dbt_environment(),
        }
        for name, value in env.items():
            patch.setenv(name, value)
        for name in ("MODELATLAS_DISCORD_WEBHOOK_URL", "MODELATLAS_ALERTS_FILE", "MODELATLAS_ALERTS_SINCE"):
            patch.delenv(name, raising=False)
        yield World(target, simulator, receiver, smtp, teams_file, home / "dagster")


@pytest.fixture(scope="module")
def baseline(world: World) -> Outcome:
    outcome = run_and_collect(world)
    assert outcome.summary.success, outcome.summary.failures
    return outcome


def change_the_world(world: World) -> None:
    """One change of each kind, where production would see it: a catalog, a price registry, a status page, the
    teams file."""
    handlers = world.simulator.handlers
    openai = handlers["openai"]
    assert isinstance(openai, OpenAIHandler)
    added = {
        "id": NEW_MODEL,
        "object": "model",
        "created": int(time.time()),
        "owned_by": "system",
        "shutdown_date": None,
    }
    openai.models = [*openai.models, added]
    litellm = handlers["litellm"]
    assert isinstance(litellm, LiteLLMHandler)
    entries = copy.deepcopy(litellm.entries)
    assert Decimal(str(entries[PRICED_MODEL]["input_cost_per_token"])) == OLD_INPUT_PER_TOKEN
    entries[PRICED_MODEL]["input_cost_per_token"] = float(NEW_INPUT_PER_TOKEN)
    litellm.entries = entries
    status = handlers["status"]
    assert isinstance(status, StatusPagesHandler)
    status.open_incident(OUTAGE_PAGE, OUTAGE_TITLE, component=OUTAGE_COMPONENT, impact="major")
    status.set_component(OUTAGE_PAGE, OUTAGE_COMPONENT, "major_outage")
    write_teams(world.teams_file, BUDGET_AFTER)


OUTAGE_KIND = "outage.started"


def wait_for_a_status_tick(world: World) -> None:
    """Until a tick of the status models' cron (every minute) passed since the last run asked for their build, as
    the daemon's next evaluation would find it: the next run then builds fct_outages from its new poll."""
    requested_at = (world.dagster_home / RUN_CURSOR_FILE).stat().st_mtime
    next_tick = (int(requested_at) // 60 + 1) * 60
    time.sleep(max(0.0, next_tick - time.time() + 0.5))


@pytest.fixture(scope="module")
def changed(world: World, baseline: Outcome) -> Outcome:
    change_the_world(world)
    wait_for_a_status_tick(world)
    world.receiver.down_for = FAILED_ATTEMPTS
    try:
        outcome = run_and_collect(world)
        for _ in range(2):
            if outcome.outbox[OUTAGE_KIND, None]:
                break
            # fct_outages builds once per tick of its cron: on a loaded machine the tick the run saw may have been
            # its previous build's. The daemon's next evaluation builds it; so does the next run.
            wait_for_a_status_tick(world)
            more = run_and_collect(world)
            outcome = Outcome(more.summary, outcome.answers + more.answers, outcome.mails + more.mails, more.outbox)
        pending = query(world.info, "select count(*) from ops.alert_deliveries where status <> 'delivered'")
        if pending != [(0,)]:
            # Not all retried within the run's budget: the daemon's next tick delivers the rest.
            answered, mailed = len(world.receiver.answers), len(world.smtp.mails)
            run_alerts(world.info, alert_settings(), budget_s=20)
            outcome = replace(
                outcome,
                answers=outcome.answers + world.receiver.answers[answered:],
                mails=outcome.mails + world.smtp.mails[mailed:],
                outbox=outbox(world.info),
            )
    finally:
        world.receiver.down_for = 0
    assert outcome.summary.success, outcome.summary.failures
    return outcome


def test_the_first_run_is_the_baseline_and_delivers_nothing(world: World, baseline: Outcome) -> None:
    assert baseline.answers == [] and baseline.mails == []
    [line] = [report for report in baseline.summary.reports if report.startswith("alerts: ")]
    assert ", 0 delivered, 0 to retry, 0 failed" in line
    # Each source's first load is recorded without deliveries: every model of the catalog, the page's past outages.
    assert not [key for key in baseline.outbox if key[1] is None], baseline.outbox
    catalog = query(
        world.info,
        "select count(*) from marts.dim_models where provider = 'openai' and provider_model_id <> %s",
        [NEW_MODEL],
    )
    assert baseline.outbox["model.added", "baseline"] == catalog[0][0] > 0
    assert baseline.outbox["outage.started", "before_since"] > 0


def test_each_change_reaches_slack_and_the_webhook_exactly_once_through_two_failed_attempts(
    world: World, changed: Outcome
) -> None:
    webhooks = changed.webhook_events()
    assert set(HEADLINE) <= set(webhooks), sorted(webhooks)
    assert all(changed.outbox[kind, None] == 1 for kind in HEADLINE), changed.outbox
    # Every message: two 500s, then one 2xx, never a second delivery. Sends go out together: count per message.
    for prefix in ("/slack", "/webhook"):
        statuses: dict[str, list[int]] = {}
        for request, status in changed.to(prefix):
            key = request.headers.get("webhook-id") or hashlib.sha256(request.body).hexdigest()
            statuses.setdefault(key, []).append(status)
        assert statuses and all(s == [500] * FAILED_ATTEMPTS + [200] for s in statuses.values()), (prefix, statuses)
    slack_texts = Counter(request.json()["text"] for request in changed.accepted("/slack"))
    for kind in HEADLINE:
        assert slack_texts[webhooks[kind]["data"]["title"]] == 1, kind
    assert len(changed.accepted("/slack")) == len(changed.accepted("/webhook"))
    deliveries = query(
        world.info, "select channel, status, attempts, count(*) from ops.alert_deliveries group by 1, 2, 3 order by 1"
    )
    events = len(changed.accepted("/webhook"))
    assert deliveries == [
        ("email", "delivered", 1, events),
        ("slack", "delivered", FAILED_ATTEMPTS + 1, events),
        ("webhook", "delivered", FAILED_ATTEMPTS + 1, events),
    ]


def test_each_event_says_what_changed(world: World, changed: Outcome) -> None:
    events = {kind: body["data"] for kind, body in changed.webhook_events().items()}

    added = events["model.added"]
    assert added["details"]["provider"] == "openai" and added["details"]["provider_model_id"] == NEW_MODEL
    assert NEW_MODEL in added["title"]

    price = events["price.changed"]
    details = price["details"]
    assert (details["source"], details["provider_model_id"], details["component"]) == ("litellm", PRICED_MODEL, "input")
    assert Decimal(details["old_price_usd"]) == Decimal("2.5") and Decimal(details["new_price_usd"]) == Decimal(3)
    assert Decimal(details["percent"]) == Decimal(20) and details["change_direction"] == "increase"
    facts = {fact["label"]: fact["value"] for fact in price["facts"]}
    assert (facts["Old price"], facts["New price"], facts["Change"]) == ("$2.50 / Mtok", "$3.00 / Mtok", "+20.0%")
    assert price["severity"] == "warning"

    outage = events["outage.started"]
    assert (outage["details"]["provider"], outage["details"]["source"]) == (OUTAGE_PAGE, "official")
    assert outage["details"]["severity"] == "major_outage" and outage["severity"] == "critical"
    assert outage["title"] == f"Outage: {OUTAGE_PAGE}"
    [(open_outages,)] = query(
        world.info, "select count(*) from marts.fct_outages where provider = %s and is_open", [OUTAGE_PAGE]
    )
    assert open_outages == 1

    budget = events["budget.threshold"]
    assert budget["details"]["team"] == TEAM and budget["details"]["threshold_percent"] == "100"
    assert Decimal(budget["details"]["budget_usd"]) == Decimal(BUDGET_AFTER)
    assert Decimal(budget["details"]["spend_to_date_usd"]) > Decimal(BUDGET_AFTER)
    assert budget["severity"] == "critical" and TEAM in budget["title"]
    # The 50% and 80% crossed in the same evaluation are recorded, superseded by the 100%.
    superseded = query(
        world.info,
        "select count(*) from ops.alert_outbox where kind = 'budget.threshold' and suppressed_reason = %s",
        ["superseded"],
    )
    assert superseded == [(2,)]

    slack = {request.json()["text"]: request.json() for request in changed.accepted("/slack")}
    for kind in HEADLINE:
        body = slack[events[kind]["title"]]
        assert body["blocks"][0] == {"type": "header", "text": {"type": "plain_text", "text": events[kind]["title"]}}


def test_the_webhooks_are_signed_and_a_tampered_body_is_refused(world: World, changed: Outcome) -> None:
    verified = world.receiver.verify_webhooks(SECRET)
    assert len(verified) == len(changed.to("/webhook"))
    request = next(r for r in changed.accepted("/webhook") if r.json()["type"] == "price.changed")
    assert Webhook(SECRET).verify(request.body, dict(request.headers))["type"] == "price.changed"
    tampered = request.body.replace(b'"percent":"20', b'"percent":"2')
    assert tampered != request.body
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(tampered, dict(request.headers))
    other = "whsec_" + base64.b64encode(b"another secret of 24 bytes!!").decode()
    with pytest.raises(WebhookVerificationError):
        Webhook(other).verify(request.body, dict(request.headers))


def test_the_email_channel_sends_one_mail_per_event(world: World, changed: Outcome) -> None:
    webhooks = changed.webhook_events()
    event_ids = {request.headers["webhook-id"] for request in changed.accepted("/webhook")}
    mail_ids = Counter(
        str(mail.message["Message-ID"]).strip("<>").removesuffix("@modelatlas") for mail in changed.mails
    )
    assert set(mail_ids) == event_ids and set(mail_ids.values()) == {1}
    mails = {str(mail.message["Message-ID"]).strip("<>").removesuffix("@modelatlas"): mail for mail in changed.mails}
    for kind in HEADLINE:
        event = webhooks[kind]["data"]
        mail = mails[event["event_id"]]
        assert mail.rcpt_tos == (EMAIL_TO,) and mail.message["Subject"] == f"[ModelAtlas] {event['title']}"
        plain, part = mail.message.get_body(("plain",)), mail.message.get_body(("html",))
        assert plain is not None and part is not None
        assert (
            plain.get_content().startswith(event["title"])
            and f"<h2>{html.escape(event['title'])}</h2>" in part.get_content()
        )
    price = mails[webhooks["price.changed"]["data"]["event_id"]].message
    plain, part = price.get_body(("plain",)), price.get_body(("html",))
    assert plain is not None and "New price: $3.00 / Mtok" in plain.get_content()
    assert part is not None and "<table" in part.get_content()


def test_a_further_run_delivers_nothing_new(world: World, changed: Outcome) -> None:
    # The budget's marts build again from usage read again (the outage's too, when their cron tick has passed); the
    # open outage, the crossed budget and the rest are still what they were.
    wait_for_a_status_tick(world)
    again = run_and_collect(world)
    assert again.summary.success, again.summary.failures
    assert "marts/mart_budget_status" in again.summary.materialized
    assert again.answers == [] and again.mails == []
    [line] = [report for report in again.summary.reports if report.startswith("alerts: ")]
    assert line.startswith("alerts: 0 new events") and ", 0 delivered, 0 to retry, 0 failed" in line
