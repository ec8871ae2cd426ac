"""Slack incoming webhooks: a Block Kit message with fallback text.

Docs:
- https://api.slack.com/messaging/webhooks (POST JSON with ``text`` and optional ``blocks``)
- https://api.slack.com/reference/block-kit/blocks (header: plain_text ≤ 150 chars; section:
  text ≤ 3000 chars, ≤ 10 fields of ≤ 2000 chars; context: ≤ 10 elements; ≤ 50 blocks)
- https://api.slack.com/reference/surfaces/formatting#escaping (escape ``& < >``)
- https://api.slack.com/methods/chat.postMessage#truncating (``text`` best kept ≤ 4000 chars)

User-controlled text (check name, tags, ping body) is escaped wherever it lands in mrkdwn, so
it cannot mention ``<!channel>``, a user, or render a disguised link. The header is plain_text.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chalicelib.channels.message import OutboundRequest, json_request
from chalicelib.channels.text import break_fences, escape_slack, fit_escaped, truncate
from chalicelib.channels.view import AlertView, read_alert

HEADER_MAX = 150
SECTION_TEXT_MAX = 3000
FIELD_TEXT_MAX = 2000
FIELDS_MAX = 10
CONTEXT_ELEMENTS_MAX = 10
BLOCKS_MAX = 50
FALLBACK_TEXT_MAX = 4000

_EMOJI = {"bad": "🔴", "good": "✅", "warning": "🟠", "neutral": "ℹ️"}


def build_slack(url: str, document: Mapping[str, Any]) -> OutboundRequest:
    return json_request(url, slack_message(read_alert(document)))


def slack_message(view: AlertView) -> dict[str, Any]:
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {
                "type": "plain_text",
                "text": truncate(f"{_EMOJI[view.tone]} {view.title}", HEADER_MAX),
                "emoji": True,
            },
        },
        _mrkdwn_section(fit_escaped(view.happened, SECTION_TEXT_MAX, escape_slack)),
        {"type": "section", "fields": _fields(view)},
    ]
    if view.last_ping is not None:
        blocks.append(_last_ping_section(view))
    if view.links:
        blocks.append({"type": "context", "elements": _link_elements(view)})
    return {"text": _fallback(view), "blocks": blocks[:BLOCKS_MAX]}


def _fallback(view: AlertView) -> str:
    # Shown in notifications and by clients that cannot render blocks.
    return fit_escaped(f"{view.title}: {view.happened}", FALLBACK_TEXT_MAX, escape_slack)


def _mrkdwn_section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _fields(view: AlertView) -> list[dict[str, str]]:
    pairs: list[tuple[str, str]] = [("When", view.at)]
    if view.expected:
        pairs.append(("Expected", view.expected))
    if view.schedule:
        pairs.append(("Schedule", view.schedule))
    if view.tags:
        pairs.append(("Tags", " ".join(view.tags)))
    pairs.extend(view.facts)
    return [
        {
            "type": "mrkdwn",
            "text": f"*{label}*\n"
            + fit_escaped(value, FIELD_TEXT_MAX - len(label) - 3, escape_slack),
        }
        for label, value in pairs[:FIELDS_MAX]
    ]


def _last_ping_section(view: AlertView) -> dict[str, Any]:
    assert view.last_ping is not None
    head = "*Last ping:* " + fit_escaped(view.last_ping.summary, 500, escape_slack)
    body = view.last_ping.body_tail
    if not body:
        return _mrkdwn_section(head)
    fence_overhead = len(head) + len("\n```\n\n```")
    code = fit_escaped(
        body,
        SECTION_TEXT_MAX - fence_overhead,
        lambda t: escape_slack(break_fences(t)),
        keep_end=True,
    )
    return _mrkdwn_section(f"{head}\n```\n{code}\n```")


def _link_elements(view: AlertView) -> list[dict[str, str]]:
    return [
        {"type": "mrkdwn", "text": f"<{_link_target(url)}|{escape_slack(label)}>"}
        for label, url in view.links[:CONTEXT_ELEMENTS_MAX]
    ]


def _link_target(url: str) -> str:
    # Inside <url|label>, "|" and ">" would end the URL early; & < > must be entities.
    return escape_slack(url.replace("|", "%7C"))
