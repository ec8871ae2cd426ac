"""Microsoft Teams via a Workflows webhook ("When a Teams webhook request is received"):
a message whose single attachment is an Adaptive Card.

Docs:
- https://learn.microsoft.com/en-us/microsoftteams/platform/webhooks-and-connectors/how-to/connectors-using
  (Workflows accept Adaptive Cards only; the message envelope is ``{"type": "message",
  "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl":
  null, "content": {...}}]}``; a message is at most 28 KB)
- https://adaptivecards.io/explorer/ (AdaptiveCard, TextBlock, FactSet, Action.OpenUrl)
- https://learn.microsoft.com/en-us/microsoftteams/platform/task-modules-and-cards/cards/cards-format
  (TextBlock Markdown subset; Teams supports card schema up to 1.5, we use 1.4)

Teams only mentions people through explicit ``msteams.entities``, which we never send, so
escaping Markdown is what keeps user text literal.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chalicelib.channels.message import OutboundRequest, json_request
from chalicelib.channels.text import escape_markdown, fit_escaped
from chalicelib.channels.view import AlertView, read_alert

CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
CARD_VERSION = "1.4"
CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
MESSAGE_MAX_BYTES = 28 * 1024
TITLE_MAX = 200
FACT_VALUE_MAX = 1000
TEXT_MAX = 2000
OUTPUT_LINES_MAX = 20
OUTPUT_LINE_MAX = 500

_COLORS = {"bad": "Attention", "good": "Good", "warning": "Warning", "neutral": "Default"}


def build_msteams(url: str, document: Mapping[str, Any]) -> OutboundRequest:
    return json_request(url, msteams_message(read_alert(document)))


def msteams_message(view: AlertView) -> dict[str, Any]:
    return {
        "type": "message",
        "attachments": [
            {"contentType": CARD_CONTENT_TYPE, "contentUrl": None, "content": adaptive_card(view)}
        ],
    }


def adaptive_card(view: AlertView) -> dict[str, Any]:
    card: dict[str, Any] = {
        "$schema": CARD_SCHEMA,
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "body": _body(view),
        "msteams": {"width": "Full"},
    }
    if view.links:
        card["actions"] = [
            {"type": "Action.OpenUrl", "title": label, "url": url} for label, url in view.links
        ]
    return card


def _body(view: AlertView) -> list[dict[str, Any]]:
    body: list[dict[str, Any]] = [
        _text(view.title, TITLE_MAX, size="Large", weight="Bolder", color=_COLORS[view.tone]),
        _text(view.happened, TEXT_MAX),
        {"type": "FactSet", "facts": _facts(view)},
    ]
    ping = view.last_ping
    if ping is not None:
        body.append(_text(f"Last ping: {ping.summary}", TEXT_MAX, weight="Bolder"))
        if ping.body_tail:
            body.append(_output(ping.body_tail))
    return body


def _output(tail: str) -> dict[str, Any]:
    """The job's output, one TextBlock per line: TextBlock Markdown needs a blank line to
    break a line (https://github.com/microsoft/AdaptiveCards/issues/5538), and doubling
    every newline would double-space the output."""
    lines = tail.splitlines()[-OUTPUT_LINES_MAX:]
    return {
        "type": "Container",
        "items": [
            {
                "type": "TextBlock",
                # An empty TextBlock is invalid; a no-break space keeps a blank line visible.
                "text": fit_escaped(line, OUTPUT_LINE_MAX, escape_markdown) or "\u00a0",
                "wrap": True,
                "fontType": "Monospace",
                "isSubtle": True,
                "spacing": "None",
            }
            for line in lines
        ],
    }


def _text(value: str, limit: int, **style: str) -> dict[str, Any]:
    return {
        "type": "TextBlock",
        "text": fit_escaped(value, limit, escape_markdown),
        "wrap": True,
        **style,
    }


def _facts(view: AlertView) -> list[dict[str, str]]:
    pairs: list[tuple[str, str]] = [("When", view.at)]
    if view.expected:
        pairs.append(("Expected", view.expected))
    if view.schedule:
        pairs.append(("Schedule", view.schedule))
    if view.tags:
        pairs.append(("Tags", " ".join(view.tags)))
    pairs.extend(view.facts)
    return [
        {"title": label, "value": fit_escaped(value, FACT_VALUE_MAX, escape_markdown)}
        for label, value in pairs
    ]
