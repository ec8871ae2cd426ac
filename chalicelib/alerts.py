"""Alert messages (pure formatting) and the SNS adapter that publishes them.

One SNS message per notifying flip, ``MessageStructure=json``: machines (default, sqs, lambda,
https, email-json) get a versioned JSON document, email gets readable text, SMS a single line.
Message attributes let subscription filter policies pick events, reasons, checks, projects
and tags. Every message carries the flip id so at-least-once delivery can be de-duplicated.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chalicelib.check_json import check_to_dict
from chalicelib.domain import Check, Flip, LoggedPing

ALERT_FORMAT_VERSION = 1
BODY_EXCERPT_BYTES = 1_000
SUBJECT_MAX = 99  # SNS rejects subjects of 100 characters or more


@dataclass(frozen=True)
class Alert:
    subject: str
    message: str  # the MessageStructure=json envelope
    attributes: dict[str, dict[str, str]]
    document: dict[str, Any]


def build_alert(
    check: Check, flip: Flip, last_ping: LoggedPing | None, topic_channel_id: str = ""
) -> Alert:
    document = alert_document(check, flip, last_ping, topic_channel_id)
    machine = json.dumps(document, sort_keys=True)
    envelope = {
        "default": machine,
        "sqs": machine,
        "lambda": machine,
        "https": machine,
        "http": machine,
        "email-json": machine,
        "email": email_text(check, flip, last_ping),
        "sms": sms_text(check, flip),
    }
    return Alert(
        subject=subject(check, flip),
        message=json.dumps(envelope),
        attributes=message_attributes(check, flip),
        document=document,
    )


def alert_document(
    check: Check, flip: Flip, last_ping: LoggedPing | None, topic_channel_id: str = ""
) -> dict[str, Any]:
    return {
        "version": ALERT_FORMAT_VERSION,
        "event": flip.new,
        "reason": flip.reason if flip.new == "down" else None,
        # The check as of the flip, so a late (retried) delivery still describes the outage.
        # ``check.channels`` names the channels this alert goes to (the notifier reads it).
        "check": check_to_dict(check, flip.at, channel_id=topic_channel_id),
        "flip": {
            "id": flip.id,
            "at": flip.at.isoformat(),
            "from": flip.old,
            "to": flip.new,
        },
        "last_ping": None if last_ping is None else _last_ping_doc(last_ping),
    }


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
    text = body[:BODY_EXCERPT_BYTES].decode("utf-8", errors="replace")
    return text + ("…" if len(body) > BODY_EXCERPT_BYTES else "")


def display_name(check: Check) -> str:
    return check.name or check.slug or check.uuid


def subject(check: Check, flip: Flip) -> str:
    # SNS subjects must be printable ASCII on one line.
    name = re.sub(r"[^\x20-\x7e]", "?", display_name(check))
    return f"{flip.new.upper()}: {name}"[:SUBJECT_MAX]


_REASON_TEXT = {
    "timeout": "no ping arrived before its deadline plus grace",
    "fail": "the job reported a failure",
    "overrun": "a run started but did not finish within its maximum duration",
    "ping": "a success ping arrived",
}


def email_text(check: Check, flip: Flip, last_ping: LoggedPing | None) -> str:
    lines = [
        f"{display_name(check)} is {flip.new.upper()}.",
        "",
        f"What happened: {_REASON_TEXT[flip.reason]}.",
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
    return "\n".join(lines)


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
    return f"{subject(check, flip)} ({flip.reason}) at {flip.at.strftime('%Y-%m-%d %H:%M UTC')}"


def message_attributes(check: Check, flip: Flip) -> dict[str, dict[str, str]]:
    attributes = {
        "event": {"DataType": "String", "StringValue": flip.new},
        "check": {"DataType": "String", "StringValue": check.uuid},
        "project": {"DataType": "String", "StringValue": check.project},
        "flip_id": {"DataType": "String", "StringValue": flip.id},
        "tags": {"DataType": "String.Array", "StringValue": json.dumps(check.tag_list)},
    }
    if flip.new == "down":
        attributes["reason"] = {"DataType": "String", "StringValue": flip.reason}
    return attributes


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
