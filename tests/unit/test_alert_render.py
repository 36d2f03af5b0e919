"""Rendering alerts: Slack blocks, Discord embeds, email and Standard Webhooks bodies, within each one's limits."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from email.message import EmailMessage
from typing import Any

import pytest

from modelatlas.alerts.model import Event, Severity
from modelatlas.alerts.render import (
    discord_payload,
    email_message,
    fit_lines,
    json_default,
    mrkdwn,
    pack_lines,
    slack_payload,
    truncate,
    webhook_body,
)

AT = datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)


def price_event(
    title: str = "OpenAI gpt-4o input price up 20.0% (genai-prices)",
    summary: str = "The input price of gpt-4o went from $2.50 to $3.00 per million tokens.",
    facts: tuple[tuple[str, str], ...] = (("Old price", "$2.50 / Mtok"), ("New price", "$3.00 / Mtok")),
    severity: Severity = "warning",
    link: str | None = "https://atlas.example.test/prices/gpt-4o",
    event_id: str = "evt-1",
    occurred_at: datetime = AT,
) -> Event:
    return Event(
        event_id=event_id,
        kind="price.changed",
        severity=severity,
        occurred_at=occurred_at,
        title=title,
        summary=summary,
        facts=facts,
        data={"provider": "openai", "component": "input", "percent": Decimal("20.0")},
        link=link,
    )


def many_events(count: int) -> list[Event]:
    return [
        price_event(title=f"Alert number {i} " + "x" * 200, event_id=f"evt-{i}", occurred_at=AT + timedelta(minutes=i))
        for i in range(count)
    ]


def slack_texts(payload: dict[str, Any]) -> list[str]:
    texts: list[str] = []
    for block in payload["blocks"]:
        if "text" in block:
            texts.append(block["text"]["text"])
        texts += [field["text"] for field in block.get("fields", [])]
        texts += [element["text"] for element in block.get("elements", []) if isinstance(element.get("text"), str)]
    return texts


def embed_size(embed: dict[str, Any]) -> int:
    fields = embed.get("fields", [])
    return (
        len(embed.get("title", ""))
        + len(embed.get("description", ""))
        + len(embed["footer"]["text"])
        + sum(len(field["name"]) + len(field["value"]) for field in fields)
    )


# --- helpers ---------------------------------------------------------------------------------------------------


def test_truncate_marks_the_cut_and_keeps_the_limit() -> None:
    assert truncate("abcdef", 6) == "abcdef"
    assert truncate("abcdefg", 6) == "abcde…"
    assert truncate("abc", 0) == ""


def test_mrkdwn_never_cuts_an_entity_in_two() -> None:
    text = mrkdwn("ab<<<<<<", 6)
    assert len(text) <= 6
    assert text == "ab…"
    assert mrkdwn("a < b & c", 100) == "a &lt; b &amp; c"


def test_pack_lines_fills_chunks_up_to_the_limit() -> None:
    chunks = pack_lines(["a" * 40, "b" * 40, "c" * 40], 90)
    assert chunks == ["a" * 40 + "\n" + "b" * 40, "c" * 40]


def test_fit_lines_counts_what_does_not_fit() -> None:
    text = fit_lines([f"line {i:03d}" for i in range(100)], 100)
    assert len(text) <= 100
    shown = text.count("line ")
    assert text.endswith(f"and {100 - shown} more")


def test_an_empty_message_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one event"):
        slack_payload([])


# --- Slack -----------------------------------------------------------------------------------------------------


def test_slack_single_event_has_header_summary_fields_context_and_button() -> None:
    payload = slack_payload([price_event()])
    assert payload["text"] == "OpenAI gpt-4o input price up 20.0% (genai-prices)"
    types = [block["type"] for block in payload["blocks"]]
    assert types == ["header", "section", "section", "context", "actions"]
    assert payload["blocks"][2]["fields"][0]["text"] == "*Old price*\n$2.50 / Mtok"
    context = " ".join(element["text"] for element in payload["blocks"][3]["elements"])
    assert "warning" in context and "price.changed" in context and "2025-03-04T05:06:07+00:00" in context
    assert payload["blocks"][4]["elements"][0]["url"] == "https://atlas.example.test/prices/gpt-4o"


def test_slack_respects_its_limits_with_long_text() -> None:
    facts = tuple((f"Label {i} " + "l" * 300, "v" * 5000) for i in range(15))
    event = price_event(title="T" * 500, summary="<script>" * 1000, facts=facts)
    payload = slack_payload([event])
    header = payload["blocks"][0]["text"]["text"]
    assert len(header) <= 150
    assert all(len(text) <= 3000 for text in slack_texts(payload))
    fields = payload["blocks"][2]["fields"]
    assert len(fields) == 10
    assert all(len(field["text"]) <= 2000 for field in fields)
    assert "<script>" not in json.dumps(payload)
    assert "&lt;script&gt;" in payload["blocks"][1]["text"]["text"]


def test_slack_without_link_or_facts_has_no_button_or_fields() -> None:
    payload = slack_payload([price_event(link=None, facts=())])
    assert [block["type"] for block in payload["blocks"]] == ["header", "section", "context"]


def test_slack_digest_lists_45_events_then_counts_the_rest() -> None:
    payload = slack_payload(many_events(100), digest=True)
    assert payload["text"] == "100 ModelAtlas alerts"
    assert payload["blocks"][0]["text"]["text"] == "100 ModelAtlas alerts"
    assert len(payload["blocks"]) <= 50
    texts = slack_texts(payload)
    assert all(len(text) <= 3000 for text in texts)
    lines = "\n".join(texts[1:]).splitlines()
    assert len(lines) == 46
    assert lines[-1] == "_and 55 more_"
    assert "Alert number 44" in lines[44]


def test_slack_without_digest_shows_whole_events_up_to_50_blocks() -> None:
    payload = slack_payload(many_events(30))
    assert payload["text"] == "30 ModelAtlas alerts"
    assert len(payload["blocks"]) <= 50
    last = payload["blocks"][-1]["text"]["text"]
    shown = sum(1 for block in payload["blocks"] if block["type"] == "header")
    assert last == f"_and {30 - shown} more_"


# --- Discord ---------------------------------------------------------------------------------------------------


def test_discord_single_event_embed() -> None:
    payload = discord_payload([price_event()])
    assert payload["username"] == "ModelAtlas"
    assert payload["allowed_mentions"] == {"parse": []}
    (embed,) = payload["embeds"]
    assert embed["title"] == "OpenAI gpt-4o input price up 20.0% (genai-prices)"
    assert embed["color"] == 0xF59E0B
    assert datetime.fromisoformat(embed["timestamp"]) == AT
    assert embed["url"] == "https://atlas.example.test/prices/gpt-4o"
    assert embed["footer"] == {"text": "price.changed"}
    assert embed["fields"][0] == {"name": "Old price", "value": "$2.50 / Mtok", "inline": True}


@pytest.mark.parametrize(("severity", "color"), [("info", 0x3B82F6), ("warning", 0xF59E0B), ("critical", 0xDC2626)])
def test_discord_colour_follows_severity(severity: Severity, color: int) -> None:
    assert discord_payload([price_event(severity=severity)])["embeds"][0]["color"] == color


def test_discord_respects_its_limits_with_long_text() -> None:
    facts = tuple(("n" * 300, "v" * 2000) for _ in range(30))
    payload = discord_payload([price_event(title="T" * 1000, summary="S" * 10000, facts=facts)])
    (embed,) = payload["embeds"]
    assert len(embed["title"]) <= 256
    assert len(embed["description"]) <= 4096
    assert len(embed["fields"]) <= 25
    assert all(len(f["name"]) <= 256 and len(f["value"]) <= 1024 for f in embed["fields"])
    assert embed_size(embed) <= 6000


def test_discord_long_summary_without_facts_uses_the_whole_description() -> None:
    (embed,) = discord_payload([price_event(summary="S" * 10000, facts=())])["embeds"]
    assert len(embed["description"]) == 4096


def test_discord_many_events_make_at_most_10_embeds_within_6000_characters() -> None:
    payload = discord_payload(many_events(12))
    assert len(payload["embeds"]) == 10
    assert sum(embed_size(embed) for embed in payload["embeds"]) <= 6000
    assert payload["content"] == "12 ModelAtlas alerts (10 shown)"


def test_discord_digest_is_one_embed_within_the_description_limit() -> None:
    payload = discord_payload(many_events(500), digest=True)
    assert payload["content"] == "500 ModelAtlas alerts"
    (embed,) = payload["embeds"]
    assert len(embed["description"]) <= 4096
    shown = embed["description"].count("**price.changed**")
    assert embed["description"].endswith(f"and {500 - shown} more")
    assert datetime.fromisoformat(embed["timestamp"]) == AT + timedelta(minutes=499)


def test_discord_digest_colour_is_the_worst_severity() -> None:
    events = [price_event(severity="info"), price_event(severity="critical"), price_event(severity="warning")]
    assert discord_payload(events, digest=True)["embeds"][0]["color"] == 0xDC2626


# --- Email -----------------------------------------------------------------------------------------------------


def parts(message: EmailMessage) -> tuple[str, str]:
    plain = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert isinstance(plain, EmailMessage) and isinstance(html, EmailMessage)
    return plain.get_content(), html.get_content()


def test_email_has_subject_plain_text_and_escaped_html() -> None:
    event = price_event(title="<script>alert(1)</script> price", facts=(("Old <b>", "$2.50 & up"),))
    message = email_message([event], False, "atlas@example.test", ["a@example.test", "b@example.test"])
    assert message["Subject"] == "[ModelAtlas] <script>alert(1)</script> price"
    assert message["To"] == "a@example.test, b@example.test"
    plain, html = parts(message)
    assert "Old <b>: $2.50 & up" in plain
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; price" in html
    assert "<th align='left'>Old &lt;b&gt;</th><td>$2.50 &amp; up</td>" in html
    assert 'href="https://atlas.example.test/prices/gpt-4o"' in html


def test_email_subject_holds_no_line_break() -> None:
    message = email_message([price_event(title="one\ntwo")], False, "a@example.test", ["b@example.test"])
    assert message["Subject"] == "[ModelAtlas] one two"


def test_email_digest_lists_every_event() -> None:
    message = email_message(many_events(3), True, "a@example.test", ["b@example.test"], message_id="msg-1")
    assert message["Subject"] == "[ModelAtlas] 3 alerts"
    assert message["Message-ID"] == "<msg-1@modelatlas>"
    plain, html = parts(message)
    assert plain.count("price.changed") == 3
    assert html.count("<tr>") == 4


# --- Standard Webhooks -----------------------------------------------------------------------------------------


def test_webhook_body_for_one_event() -> None:
    body = webhook_body("msg-1", [price_event()])
    payload = json.loads(body)
    assert payload["type"] == "price.changed"
    assert payload["timestamp"] == "2025-03-04T05:06:07+00:00"
    assert payload["data"] == {
        "event_id": "evt-1",
        "kind": "price.changed",
        "severity": "warning",
        "occurred_at": "2025-03-04T05:06:07+00:00",
        "title": "OpenAI gpt-4o input price up 20.0% (genai-prices)",
        "summary": "The input price of gpt-4o went from $2.50 to $3.00 per million tokens.",
        "facts": [{"label": "Old price", "value": "$2.50 / Mtok"}, {"label": "New price", "value": "$3.00 / Mtok"}],
        "link": "https://atlas.example.test/prices/gpt-4o",
        "details": {"provider": "openai", "component": "input", "percent": "20.0"},
    }


def test_webhook_body_is_compact_sorted_and_stable() -> None:
    first = webhook_body("msg-1", [price_event()])
    assert first == webhook_body("msg-1", [price_event()])
    assert first == json.dumps(json.loads(first), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert first.startswith('{"data":{"details":{"component":"input","percent":"20.0","provider":"openai"}')


def test_webhook_digest_holds_every_event() -> None:
    payload = json.loads(webhook_body("msg-2", many_events(3), digest=True))
    assert payload["type"] == "digest"
    assert [event["event_id"] for event in payload["data"]["events"]] == ["evt-0", "evt-1", "evt-2"]
    assert payload["timestamp"] == (AT + timedelta(minutes=2)).isoformat()


def test_json_default_encodes_decimal_and_times_and_refuses_the_rest() -> None:
    assert json_default(Decimal("0.10")) == "0.10"
    assert json_default(datetime(2025, 1, 1, 12)) == "2025-01-01T12:00:00+00:00"
    assert json_default(date(2025, 1, 1)) == "2025-01-01"
    with pytest.raises(TypeError, match="object"):
        json_default(object())
