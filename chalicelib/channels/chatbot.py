"""Channels of kind ``sns``: a message for a topic of the user's own.

``format: "vigil"`` publishes Vigil's alert document as is (what the deployment's topic sends
machines). ``format: "chatbot"`` publishes an AWS Chatbot (Amazon Q Developer in chat
applications) custom notification, the only shape Chatbot shows from an arbitrary topic.

Docs:
- https://docs.aws.amazon.com/chatbot/latest/adminguide/custom-notifs.html (``version`` must
  be "1.0", ``source`` must be "custom", optional ``id``; ``content`` with ``textType``
  (only "client-markdown"), ``title``, ``description``, ``nextSteps``, ``keywords``;
  ``metadata`` with ``threadId``, ``summary``, ``eventType``, ``relatedResources``,
  ``additionalContext``)
- https://docs.aws.amazon.com/sns/latest/api/API_Publish.html (256 KB per message)

Chatbot renders ``client-markdown`` in the target platform's own markup (Slack or Teams), so
no one escaping suits both: angle brackets in user text become look-alikes (‹ ›), which stops
Slack's ``<!channel>`` and link syntax everywhere. ``threadId`` is the check's uuid, so a
check's down, reminders and up land in one thread.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from chalicelib.channels.message import SnsMessage
from chalicelib.channels.text import break_fences, truncate
from chalicelib.channels.view import AlertView, read_alert

FORMATS = ("vigil", "chatbot")
# Not documented by AWS; chosen to stay readable and far inside SNS's 256 KB.
TITLE_MAX = 250
DESCRIPTION_MAX = 8_000
KEYWORDS_MAX = 10
KEYWORD_MAX = 50
SUBJECT_MAX = 99  # SNS rejects subjects of 100 characters or more

_EMOJI = {"bad": ":red_circle:", "good": ":white_check_mark:", "warning": ":warning:"}


def build_sns(topic_arn: str, fmt: str, document: Mapping[str, Any]) -> SnsMessage:
    view = read_alert(document)
    if fmt == "vigil":
        return SnsMessage(
            topic_arn=topic_arn,
            message=json.dumps(document, sort_keys=True),
            subject=_subject(view),
            attributes=_attributes(view),
        )
    if fmt == "chatbot":
        return SnsMessage(topic_arn=topic_arn, message=json.dumps(chatbot_notification(view)))
    raise ValueError(f"unknown sns format {fmt!r}: use vigil or chatbot")


def chatbot_notification(view: AlertView) -> dict[str, Any]:
    emoji = _EMOJI.get(view.tone, ":information_source:")
    return {
        "version": "1.0",
        "source": "custom",
        "id": view.flip_id,
        "content": {
            "textType": "client-markdown",
            "title": truncate(f"{emoji} {_plain(view.title)}", TITLE_MAX),
            "description": _description(view),
            "nextSteps": [f"{label}: {url}" for label, url in view.links],
            "keywords": _keywords(view),
        },
        "metadata": {
            "threadId": view.check_uuid or view.name,
            "summary": truncate(_plain(view.title), TITLE_MAX),
            "eventType": view.event,
            "additionalContext": {"check": view.check_uuid, "flip": view.flip_id},
        },
    }


def _description(view: AlertView) -> str:
    lines = [_plain(view.happened), f"*When:* {view.at}"]
    if view.expected:
        lines.append(f"*Expected:* {view.expected}")
    if view.schedule:
        lines.append(f"*Schedule:* {_plain(view.schedule)}")
    lines.extend(f"*{label}:* {_plain(value)}" for label, value in view.facts)
    ping = view.last_ping
    if ping is not None:
        lines.append(f"*Last ping:* {_plain(ping.summary)}")
    head = truncate("\n".join(lines), DESCRIPTION_MAX)
    if ping is None or not ping.body_tail:
        return head
    # The output goes last, in a code block, and only whole: a cut fence would swallow the rest.
    body = "```\n" + break_fences(_plain(ping.body_tail)) + "\n```"
    return head if len(head) + 1 + len(body) > DESCRIPTION_MAX else f"{head}\n{body}"


def _keywords(view: AlertView) -> list[str]:
    words = [word for word in (view.event, view.reason, *view.tags) if word]
    return [truncate(_plain(word), KEYWORD_MAX) for word in words[:KEYWORDS_MAX]]


def _plain(text: str) -> str:
    return text.replace("<", "‹").replace(">", "›")


def _subject(view: AlertView) -> str:
    return "".join(ch if " " <= ch <= "~" else "?" for ch in view.title)[:SUBJECT_MAX]


def _attributes(view: AlertView) -> dict[str, dict[str, str]]:
    attributes = {
        "event": {"DataType": "String", "StringValue": view.event},
        "flip_id": {"DataType": "String", "StringValue": view.flip_id or "-"},
        "tags": {"DataType": "String.Array", "StringValue": json.dumps(list(view.tags))},
    }
    if view.check_uuid:
        attributes["check"] = {"DataType": "String", "StringValue": view.check_uuid}
    if view.reason:
        attributes["reason"] = {"DataType": "String", "StringValue": view.reason}
    return attributes
