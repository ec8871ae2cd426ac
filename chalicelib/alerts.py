"""Alert messages (pure formatting) and the SNS adapter that publishes them.

One SNS message per notifying flip, ``MessageStructure=json``: machines (default, sqs, lambda,
https, email-json) get a versioned JSON document, email gets readable text, SMS a single line.
Message attributes let subscription filter policies pick events, reasons, checks, projects
and tags. Every message carries the flip id so at-least-once delivery can be de-duplicated.

Every alert must be deliverable whatever a check's fields hold (design guarantee 9). SNS
refuses a message over 256 KB, and with ``MessageStructure=json`` every protocol's copy counts
(traps.md section 10), so the machine JSON is carried once, under ``default``, which SNS hands
to every protocol without its own key; free-text fields are cut with a visible marker; and the
result is measured, cutting harder until it fits ``ALERT_BUDGET_BYTES``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from chalicelib.check_json import check_to_dict
from chalicelib.domain import Check, Flip, LoggedPing
from chalicelib.inputs import printable

ALERT_FORMAT_VERSION = 1
BODY_EXCERPT_BYTES = 1_000
SUBJECT_MAX = 99  # SNS rejects subjects of 100 characters or more
SNS_MESSAGE_LIMIT_BYTES = 262_144  # message plus attributes, all protocols' copies together
# A third of the limit: Publish travels URL-encoded, at most three bytes per byte, so even the
# HTTP request stays under SNS's limit. Real alerts are a few KB; only absurd fields come near.
ALERT_BUDGET_BYTES = SNS_MESSAGE_LIMIT_BYTES // 3 - 2_048
# (characters kept per free-text field, bytes kept of the last ping's body), tried in order
# until the alert fits. The last step is small enough to fit whatever the check holds.
CLIP_STEPS = ((4_000, BODY_EXCERPT_BYTES), (1_000, 500), (200, 200), (40, 0))
# Free text a user or a job controls; everything else in an alert is short by construction.
# site_root comes from the Host header of the ?create=1 ping that made the check.
CLIPPED_CHECK_FIELDS = (
    "name",
    "slug",
    "tags",
    "desc",
    "start_kw",
    "success_kw",
    "failure_kw",
    "site_root",
)
CLIPPED_PING_FIELDS = ("ua", "remote_addr")
TAGS_ATTRIBUTE_BYTES = 2_048


@dataclass(frozen=True)
class Alert:
    subject: str
    message: str  # the MessageStructure=json envelope
    attributes: dict[str, dict[str, str]]
    document: dict[str, Any]


def build_alert(check: Check, flip: Flip, last_ping: LoggedPing | None) -> Alert:
    """The alert for ``flip``, cut down step by step until it fits ``ALERT_BUDGET_BYTES``."""
    for text_limit, body_limit in CLIP_STEPS:
        clipped = clip_check(check, text_limit)
        alert = _compose(check, clipped, flip, clip_ping(last_ping, text_limit, body_limit))
        if published_size(alert) <= ALERT_BUDGET_BYTES:
            break
    return alert


def _compose(original: Check, check: Check, flip: Flip, last_ping: LoggedPing | None) -> Alert:
    document = alert_document(check, flip, last_ping)
    # Protocols without a key of their own (sqs, lambda, http, https, email-json) get
    # ``default``: one copy of the document instead of six.
    envelope = {
        "default": json.dumps(document, sort_keys=True),
        "email": email_text(check, flip, last_ping),
        "sms": sms_text(check, flip),
    }
    return Alert(
        subject=subject(check, flip),
        message=json.dumps(envelope),
        # From the original: a cut tag would filter as a tag the check does not have.
        attributes=message_attributes(original, flip),
        document=document,
    )


def published_size(alert: Alert) -> int:
    """Bytes SNS counts against its limit: the message, the subject and every attribute."""
    size = len(alert.message.encode()) + len(alert.subject.encode())
    for name, attribute in alert.attributes.items():
        size += len(name.encode()) + sum(len(value.encode()) for value in attribute.values())
    return size


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters with a marker saying how much is missing.

    Lone surrogates (old items, written before input validation) become "?": SNS takes UTF-8.
    """
    text = text.encode("utf-8", errors="replace").decode()
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… [{len(text) - limit} more characters cut]"


def clip_check(check: Check, limit: int) -> Check:
    changes: dict[str, Any] = {
        name: clip(getattr(check, name), limit) for name in CLIPPED_CHECK_FIELDS
    }
    return replace(check, **changes)


def clip_ping(last: LoggedPing | None, limit: int, body_limit: int) -> LoggedPing | None:
    if last is None:
        return None
    changes: dict[str, Any] = {
        name: clip(getattr(last.ping, name), limit) for name in CLIPPED_PING_FIELDS
    }
    changes["body"] = clip_body(last.ping.body, body_limit)
    return replace(last, ping=replace(last.ping, **changes))


def clip_body(body: bytes, limit: int) -> bytes:
    """The body's first ``limit`` bytes, with a marker if there was more."""
    if len(body) <= limit:
        return body
    return body[:limit] + f"… [{len(body) - limit} more bytes cut]".encode()


def event(flip: Flip) -> str:
    """``down``, ``up`` or ``reminder`` (a reminder carries its outage's down flip)."""
    return "reminder" if flip.reminder else flip.new


def alert_document(check: Check, flip: Flip, last_ping: LoggedPing | None) -> dict[str, Any]:
    document = {
        "version": ALERT_FORMAT_VERSION,
        "event": event(flip),
        "reason": flip.reason if flip.new == "down" else None,
        "failures": flip.failures,
        # The check as of the flip, so a late (retried) delivery still describes the outage.
        "check": check_to_dict(check, flip.at),
        "flip": {
            "id": flip.id,
            "at": flip.at.isoformat(),
            "from": flip.old,
            "to": flip.new,
        },
        "last_ping": None if last_ping is None else _last_ping_doc(last_ping),
    }
    if flip.reminder:
        document["reminder"] = flip.reminder
        document["down_for"] = int(down_for(check, flip).total_seconds())
    if flip.held_by:
        document["held_by"] = list(flip.held_by)
    return document


def down_for(check: Check, flip: Flip) -> timedelta:
    """How long the outage had lasted when reminder k fell due: k x repeat_every."""
    return flip.reminder * timedelta(seconds=check.repeat_every)


def _last_ping_doc(last: LoggedPing) -> dict[str, Any]:
    return {
        "n": last.n,
        "at": last.at.isoformat(),
        "type": last.kind,
        "method": last.ping.method,
        "remote_addr": last.ping.remote_addr,
        "ua": last.ping.ua,
        "rid": last.ping.rid,
        "exitstatus": last.ping.exitstatus,
        "body": _excerpt(last.ping.body),
    }


def _excerpt(body: bytes) -> str:
    # build_alert has already cut the body to an excerpt (clip_body).
    return body.decode("utf-8", errors="replace")


def display_name(check: Check) -> str:
    return check.name or check.slug or check.uuid


def subject(check: Check, flip: Flip) -> str:
    # SNS subjects must be printable ASCII on one line.
    name = re.sub(r"[^\x20-\x7e]", "?", display_name(check))
    return f"{event(flip).upper()}: {name}"[:SUBJECT_MAX]


_REASON_TEXT = {
    "timeout": "no ping arrived before its deadline plus grace",
    "fail": "the job reported a failure",
    "overrun": "a run started but did not finish within its maximum duration",
    "stalled": "a run stopped sending progress pings for longer than its stall timeout",
    "too_fast": "a run finished faster than its minimum duration, so it counts as a failure",
    "ping": "a success ping arrived",
}


def what_happened(check: Check, flip: Flip) -> str:
    """The alert in words, for people (email, SMS)."""
    text = _REASON_TEXT.get(flip.reason, flip.reason)
    if flip.reminder:
        hours = down_for(check, flip).total_seconds() / 3600
        text = f"still down after {hours:g} h (reminder {flip.reminder}); it went down: {text}"
    elif flip.new == "down" and check.fail_threshold > 1:
        text += f" ({flip.failures} failures in a row, threshold {check.fail_threshold})"
    if flip.held_by:
        text += "; held until the checks it depends on recovered: " + ", ".join(flip.held_by)
    return text


def email_text(check: Check, flip: Flip, last_ping: LoggedPing | None) -> str:
    status = "still DOWN" if flip.reminder else f"{flip.new.upper()}"
    lines = [
        f"{display_name(check)} is {status}.",
        "",
        f"What happened: {what_happened(check, flip)}.",
        f"When: {flip.at.isoformat()} (status {flip.old} -> {flip.new})",
        f"Schedule: {_schedule_text(check)}, grace {check.grace} s",
    ]
    if check.tags:
        lines.append(f"Tags: {check.tags}")
    lines.append("")
    lines.extend(_last_ping_lines(last_ping))
    lines += [
        "",
        f"Check: {check.site_root}/api/v3/checks/{check.uuid}",
        f"Ping URL: {check.site_root}/ping/{check.uuid}",
        f"Flip id: {flip.id}",
    ]
    # Every field stays on its own line: a control character in a name, a tag, a header or
    # a body line shows as an escape instead of forging a line of the message.
    return "\n".join(printable(line) for line in lines)


def _schedule_text(check: Check) -> str:
    if check.kind == "cron":
        return f"cron '{check.schedule}' ({check.tz})"
    return f"every {check.timeout} s"


def _last_ping_lines(last_ping: LoggedPing | None) -> list[str]:
    if last_ping is None:
        return ["Last ping: none received."]
    ping = last_ping.ping
    lines = [
        f"Last ping: #{last_ping.n} {last_ping.kind} at {last_ping.at.isoformat()}",
        f"  from {ping.remote_addr or 'unknown'} via {ping.method} {ping.scheme}"
        + (f", exit status {ping.exitstatus}" if ping.exitstatus is not None else ""),
    ]
    if ping.body:
        lines += ["  body:", *("    " + line for line in _excerpt(ping.body).splitlines())]
    return lines


def sms_text(check: Check, flip: Flip) -> str:
    when = flip.at.strftime("%Y-%m-%d %H:%M UTC")
    if flip.reminder:
        hours = down_for(check, flip).total_seconds() / 3600
        return f"{subject(check, flip)}: down {hours:g} h since {when} ({flip.reason})"
    return f"{subject(check, flip)} ({flip.reason}) at {when}"


def message_attributes(check: Check, flip: Flip) -> dict[str, dict[str, str]]:
    attributes = {
        "event": {"DataType": "String", "StringValue": event(flip)},
        "check": {"DataType": "String", "StringValue": check.uuid},
        "project": {"DataType": "String", "StringValue": check.project},
        "flip_id": {"DataType": "String", "StringValue": flip.id},
        "tags": {"DataType": "String.Array", "StringValue": tags_attribute(check.tag_list)},
    }
    if flip.new == "down":
        attributes["reason"] = {"DataType": "String", "StringValue": flip.reason}
    if flip.reminder:
        attributes["reminder"] = {"DataType": "Number", "StringValue": str(flip.reminder)}
    return attributes


def tags_attribute(tags: list[str]) -> str:
    """The tags as a JSON array, whole tags only, as many as fit ``TAGS_ATTRIBUTE_BYTES``."""
    kept: list[str] = []
    for tag in tags:
        if len(json.dumps([*kept, tag]).encode()) > TAGS_ATTRIBUTE_BYTES:
            break
        kept.append(tag)
    return json.dumps(kept)


class SnsAlerter:
    """Publishes alerts to the deployment's topic. The client is built on first use."""

    def __init__(self, client_factory: Callable[[], Any], topic_arn: str) -> None:
        self._client_factory = client_factory
        self._client: Any = None
        self.topic_arn = topic_arn

    def publish(self, alert: Alert) -> str:
        if self._client is None:
            self._client = self._client_factory()
        reply = self._client.publish(
            TopicArn=self.topic_arn,
            Subject=alert.subject,
            Message=alert.message,
            MessageStructure="json",
            MessageAttributes=alert.attributes,
        )
        return str(reply["MessageId"])
