"""Each channel's message body for one event or a digest: Slack blocks, Discord embeds, email, Standard Webhooks."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from email.message import EmailMessage
from typing import Any
from uuid import UUID

from modelatlas.alerts.model import Event, Severity

# Slack's documented limits (Block Kit reference).
SLACK_MAX_BLOCKS = 50
SLACK_MAX_TEXT = 3000
SLACK_MAX_HEADER = 150
SLACK_MAX_FIELDS = 10
SLACK_MAX_FIELD_TEXT = 2000
SLACK_MAX_BUTTON_URL = 3000
SLACK_DIGEST_LINES = 45
# Discord's documented limits (Execute Webhook and the embed object).
DISCORD_MAX_EMBEDS = 10
DISCORD_MAX_TITLE = 256
DISCORD_MAX_DESCRIPTION = 4096
DISCORD_MAX_FIELDS = 25
DISCORD_MAX_FIELD_NAME = 256
DISCORD_MAX_FIELD_VALUE = 1024
DISCORD_MAX_FOOTER = 2048
DISCORD_MAX_CONTENT = 2000
# Every embed of one message together: title, description, field names and values, footer.
DISCORD_MAX_TOTAL = 6000
DISCORD_COLORS: Mapping[Severity, int] = {"info": 0x3B82F6, "warning": 0xF59E0B, "critical": 0xDC2626}
DIGEST_LINE_LIMIT = 300
ELLIPSIS = "…"
_PARTIAL_ENTITY = re.compile(r"&[a-z]*$")


def truncate(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, an ellipsis marking the cut."""
    if len(text) <= limit:
        return text
    if limit <= 0:
        return ""
    return text[: limit - 1] + ELLIPSIS


def count_label(count: int) -> str:
    """'1 ModelAtlas alert' or 'N ModelAtlas alerts'."""
    return f"{count} ModelAtlas alert" + ("" if count == 1 else "s")


def iso(moment: datetime) -> str:
    """ISO 8601 with an offset; a naive time is taken as UTC."""
    return (moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)).isoformat()


def require_events(events: Sequence[Event]) -> Sequence[Event]:
    """`events`, refused when empty: a message without an event would say nothing."""
    if not events:
        raise ValueError("a message needs at least one event")
    return events


# --- Slack -----------------------------------------------------------------------------------------------------


def mrkdwn_escape(text: str) -> str:
    """`text` safe inside Slack mrkdwn: `&`, `<` and `>` are the only characters Slack asks to escape."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def mrkdwn(text: str, limit: int) -> str:
    """Escaped mrkdwn of at most `limit` characters, never cutting an entity in two."""
    escaped = mrkdwn_escape(text)
    if len(escaped) <= limit:
        return escaped
    return _PARTIAL_ENTITY.sub("", escaped[: limit - 1]) + ELLIPSIS


def slack_payload(events: Sequence[Event], digest: bool = False) -> dict[str, Any]:
    """Slack incoming-webhook JSON: fallback `text` and Block Kit `blocks`."""
    require_events(events)
    if digest:
        return {"text": count_label(len(events)), "blocks": slack_digest_blocks(events)}
    text = truncate(events[0].title, SLACK_MAX_TEXT) if len(events) == 1 else count_label(len(events))
    return {"text": text, "blocks": slack_events_blocks(events)}


def slack_events_blocks(events: Sequence[Event]) -> list[dict[str, Any]]:
    """Each event's blocks, divided, as many events as 50 blocks hold; the rest are counted in a last line."""
    blocks: list[dict[str, Any]] = []
    for shown, event in enumerate(events):
        divider = [{"type": "divider"}] if blocks else []
        candidate = blocks + divider + slack_event_blocks(event)
        # One block stays free for the "and N more" line whenever events remain.
        room = SLACK_MAX_BLOCKS - (1 if shown + 1 < len(events) else 0)
        if len(candidate) > room:
            blocks.append(_slack_section(f"_and {len(events) - shown} more_"))
            break
        blocks = candidate
    return blocks


def slack_event_blocks(event: Event) -> list[dict[str, Any]]:
    """The blocks of one event: header, summary, facts, context and a button to its link."""
    blocks: list[dict[str, Any]] = [_slack_header(event.title)]
    if event.summary.strip():
        blocks.append(_slack_section(mrkdwn(event.summary, SLACK_MAX_TEXT)))
    if event.facts:
        fields = [
            {"type": "mrkdwn", "text": slack_field(label, value)} for label, value in event.facts[:SLACK_MAX_FIELDS]
        ]
        blocks.append({"type": "section", "fields": fields})
    context = [f"*{event.severity}*", mrkdwn(event.kind, 200), mrkdwn(iso(event.occurred_at), 100)]
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": text} for text in context]})
    if event.link and len(event.link) <= SLACK_MAX_BUTTON_URL:
        button = {"type": "button", "text": {"type": "plain_text", "text": "Open"}, "url": event.link}
        blocks.append({"type": "actions", "elements": [button]})
    return blocks


def slack_field(label: str, value: str) -> str:
    """One fact as a Slack field: bold label, value on the next line, within the field limit."""
    head = f"*{mrkdwn(label, 200)}*\n"
    return head + mrkdwn(value or "-", SLACK_MAX_FIELD_TEXT - len(head))


def slack_digest_blocks(events: Sequence[Event]) -> list[dict[str, Any]]:
    """A header and one line per event, packed into sections of at most 3000 characters."""
    lines = [slack_digest_line(event) for event in events[:SLACK_DIGEST_LINES]]
    if len(events) > SLACK_DIGEST_LINES:
        lines.append(f"_and {len(events) - SLACK_DIGEST_LINES} more_")
    blocks = [_slack_header(count_label(len(events)))]
    blocks += [_slack_section(text) for text in pack_lines(lines, SLACK_MAX_TEXT)]
    return blocks[:SLACK_MAX_BLOCKS]


def slack_digest_line(event: Event) -> str:
    """One digest line: severity, kind and title, with a link when the event has one."""
    line = f"`{event.severity}` *{mrkdwn(event.kind, 100)}* {mrkdwn(event.title, DIGEST_LINE_LIMIT)}"
    if event.link and not set("<>|") & set(event.link):
        line += f" <{event.link}|Open>"
    return line


def pack_lines(lines: Sequence[str], limit: int) -> list[str]:
    """Lines joined by newlines into as few chunks of at most `limit` characters as possible."""
    chunks: list[str] = []
    current = ""
    for line in lines:
        line = truncate(line, limit)
        if current and len(current) + 1 + len(line) > limit:
            chunks.append(current)
            current = ""
        current = f"{current}\n{line}" if current else line
    if current:
        chunks.append(current)
    return chunks


def _slack_header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": {"type": "plain_text", "text": truncate(text, SLACK_MAX_HEADER)}}


def _slack_section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


# --- Discord ---------------------------------------------------------------------------------------------------


def discord_payload(events: Sequence[Event], digest: bool = False) -> dict[str, Any]:
    """Discord webhook JSON: one embed per event (at most 10), or one digest embed, and no mentions."""
    require_events(events)
    payload: dict[str, Any] = {"username": "ModelAtlas", "allowed_mentions": {"parse": []}}
    if digest:
        payload["content"] = count_label(len(events))
        payload["embeds"] = [discord_digest_embed(events)]
        return payload
    shown = events[:DISCORD_MAX_EMBEDS]
    if len(events) > 1:
        more = f" ({len(shown)} shown)" if len(events) > len(shown) else ""
        payload["content"] = count_label(len(events)) + more
    budget = DISCORD_MAX_TOTAL // len(shown)
    payload["embeds"] = [discord_embed(event, budget) for event in shown]
    return payload


def discord_embed(event: Event, budget: int = DISCORD_MAX_TOTAL) -> dict[str, Any]:
    """One event as an embed whose counted text (title, description, fields, footer) stays within `budget`."""
    title = truncate(event.title, min(DISCORD_MAX_TITLE, budget // 4))
    footer = truncate(event.kind, 100)
    left = budget - len(title) - len(footer)
    fields = [
        (truncate(label or "-", DISCORD_MAX_FIELD_NAME), truncate(value or "-", DISCORD_MAX_FIELD_VALUE))
        for label, value in event.facts[:DISCORD_MAX_FIELDS]
    ]
    facts_size = sum(len(name) + len(value) for name, value in fields)
    # The summary may take what the facts leave, and at least half when both are long.
    description = truncate(event.summary, min(DISCORD_MAX_DESCRIPTION, max(left - facts_size, left // 2)))
    left -= len(description)
    kept: list[dict[str, Any]] = []
    for name, value in fields:
        if len(name) + len(value) > left:
            break
        kept.append({"name": name, "value": value, "inline": True})
        left -= len(name) + len(value)
    embed: dict[str, Any] = {
        "title": title,
        "color": DISCORD_COLORS[event.severity],
        "timestamp": iso(event.occurred_at),
        "footer": {"text": footer},
    }
    if description:
        embed["description"] = description
    if kept:
        embed["fields"] = kept
    if event.link and event.link.startswith(("http://", "https://")):
        embed["url"] = event.link
    return embed


def discord_digest_embed(events: Sequence[Event]) -> dict[str, Any]:
    """One embed listing the events within Discord's description limit, coloured by the worst severity."""
    worst = max(events, key=lambda event: _SEVERITY_RANK[event.severity]).severity
    return {
        "title": count_label(len(events)),
        "description": fit_lines([discord_digest_line(event) for event in events], DISCORD_MAX_DESCRIPTION),
        "color": DISCORD_COLORS[worst],
        "timestamp": iso(max(event.occurred_at for event in events)),
        "footer": {"text": "digest"},
    }


def fit_lines(lines: Sequence[str], limit: int) -> str:
    """As many lines as fit in `limit` characters, then "and N more" for the rest."""
    text = ""
    for shown, line in enumerate(lines):
        candidate = f"{text}\n{line}" if text else line
        remaining = len(lines) - shown - 1
        reserve = len(f"\nand {remaining} more") if remaining else 0
        if len(candidate) + reserve > limit:
            # The previous line reserved room for exactly this sentence.
            return f"{text}\nand {len(lines) - shown} more" if text else truncate(line, limit)
        text = candidate
    return text


def discord_digest_line(event: Event) -> str:
    """One digest line: kind in bold, then the title, linked when the event has a link."""
    title = truncate(event.title, DIGEST_LINE_LIMIT)
    if event.link and event.link.startswith(("http://", "https://")) and ")" not in event.link:
        title = f"[{title}]({event.link})"
    return f"**{event.kind}** {title}"


_SEVERITY_RANK: Mapping[Severity, int] = {"info": 0, "warning": 1, "critical": 2}


# --- Email -----------------------------------------------------------------------------------------------------


def email_subject(events: Sequence[Event], digest: bool = False) -> str:
    """'[ModelAtlas] <title>' for one event, '[ModelAtlas] N alerts' for several."""
    if digest or len(require_events(events)) > 1:
        return f"[ModelAtlas] {len(events)} alert" + ("" if len(events) == 1 else "s")
    # A header cannot hold a line break.
    return "[ModelAtlas] " + truncate(" ".join(events[0].title.split()), 200)


def email_message(
    events: Sequence[Event],
    digest: bool,
    sender: str,
    recipients: Sequence[str],
    message_id: str | None = None,
) -> EmailMessage:
    """The email of one event or a digest: a plain-text part and an HTML alternative."""
    message = EmailMessage()
    message["Subject"] = email_subject(events, digest)
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    if message_id is not None:
        message["Message-ID"] = f"<{message_id}@modelatlas>"
    if digest:
        message.set_content(email_digest_text(events))
        message.add_alternative(email_digest_html(events), subtype="html")
    else:
        message.set_content("\n\n".join(email_event_text(event) for event in events))
        message.add_alternative(_html_page("".join(email_event_html(event) for event in events)), subtype="html")
    return message


def email_event_text(event: Event) -> str:
    """One event as plain text: title, summary, facts, then time, kind and link."""
    lines = [event.title, "", event.summary, ""]
    lines += [f"{label}: {value}" for label, value in event.facts]
    lines += ["", f"{event.severity} · {event.kind} · {iso(event.occurred_at)}"]
    if event.link:
        lines.append(event.link)
    return "\n".join(lines)


def email_event_html(event: Event) -> str:
    """One event as an HTML fragment; every value is escaped."""
    rows = "".join(f"<tr><th align='left'>{_e(label)}</th><td>{_e(value)}</td></tr>" for label, value in event.facts)
    parts = [f"<h2>{_e(event.title)}</h2>", f"<p>{_e(event.summary)}</p>"]
    if rows:
        parts.append(f"<table cellpadding='4'>{rows}</table>")
    parts.append(f"<p><small>{_e(event.severity)} · {_e(event.kind)} · {_e(iso(event.occurred_at))}</small></p>")
    if event.link:
        parts.append(f'<p><a href="{_e(event.link)}">Open in ModelAtlas</a></p>')
    return "".join(parts)


def email_digest_text(events: Sequence[Event]) -> str:
    """A digest as plain text: one line per event."""
    lines = [count_label(len(events)), ""]
    for event in events:
        lines.append(f"- [{event.severity}] {event.kind}: {event.title} ({iso(event.occurred_at)})")
        if event.link:
            lines.append(f"  {event.link}")
    return "\n".join(lines)


def email_digest_html(events: Sequence[Event]) -> str:
    """A digest as an HTML table: one row per event; every value is escaped."""
    rows = "".join(
        "<tr>"
        f"<td>{_e(event.severity)}</td><td>{_e(event.kind)}</td>"
        f"<td>{_link(event.title, event.link)}</td><td>{_e(iso(event.occurred_at))}</td>"
        "</tr>"
        for event in events
    )
    head = "<tr><th align='left'>Severity</th><th align='left'>Kind</th><th align='left'>Alert</th>"
    head += "<th align='left'>When</th></tr>"
    return _html_page(f"<h2>{_e(count_label(len(events)))}</h2><table cellpadding='4'>{head}{rows}</table>")


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _link(text: str, link: str | None) -> str:
    return f'<a href="{_e(link)}">{_e(text)}</a>' if link else _e(text)


def _html_page(body: str) -> str:
    return f"<!DOCTYPE html><html><body>{body}</body></html>"


# --- Standard Webhooks -----------------------------------------------------------------------------------------


def webhook_event(event: Event) -> dict[str, Any]:
    """One event as the webhook's JSON object; its free-form data goes under `details`."""
    return {
        "event_id": event.event_id,
        "kind": event.kind,
        "severity": event.severity,
        "occurred_at": iso(event.occurred_at),
        "title": event.title,
        "summary": event.summary,
        "facts": [{"label": label, "value": value} for label, value in event.facts],
        "link": event.link,
        "details": dict(event.data),
    }


def webhook_payload(events: Sequence[Event], digest: bool = False) -> dict[str, Any]:
    """The Standard Webhooks payload: `type`, `timestamp` and `data`."""
    if digest or len(require_events(events)) > 1:
        latest = max(event.occurred_at for event in events)
        return {"type": "digest", "timestamp": iso(latest), "data": {"events": [webhook_event(e) for e in events]}}
    event = events[0]
    return {"type": event.kind, "timestamp": iso(event.occurred_at), "data": webhook_event(event)}


def webhook_body(message_id: str, events: Sequence[Event], digest: bool = False) -> str:
    """The webhook body as compact JSON with sorted keys, so that one message always has the same bytes."""
    # The message id travels in the `webhook-id` header; the body is the same for every attempt.
    del message_id
    return json.dumps(
        webhook_payload(events, digest), default=json_default, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )


def json_default(value: object) -> Any:
    """JSON for what `json` cannot encode: Decimal as a string (no float rounding), times in ISO 8601."""
    if isinstance(value, Decimal | UUID):
        return str(value)
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")
