"""The SNS adapter: renders an ``Alert`` as one SNS message and publishes it to the topic.

One SNS message per notifying flip, ``MessageStructure=json``: machines (default, sqs, lambda,
https, email-json) get the versioned JSON document, email gets readable text, SMS a single line.
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
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chalicelib.alerts import (
    BODY_EXCERPT_BYTES,
    Alert,
    alert_document,
    clip_check,
    clip_ping,
    display_name,
    down_for,
    email_text,
    event,
)
from chalicelib.domain import Check, Flip, LoggedPing

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sns.type_defs import MessageAttributeValueTypeDef

    Attributes = dict[str, MessageAttributeValueTypeDef]

SUBJECT_MAX = 99  # SNS rejects subjects of 100 characters or more
SNS_MESSAGE_LIMIT_BYTES = 262_144  # message plus attributes, all protocols' copies together
# A third of the limit: Publish travels URL-encoded, at most three bytes per byte, so even the
# HTTP request stays under SNS's limit. Real alerts are a few KB; only absurd fields come near.
ALERT_BUDGET_BYTES = SNS_MESSAGE_LIMIT_BYTES // 3 - 2_048
# (characters kept per free-text field, bytes kept of the last ping's body), tried in order
# until the alert fits. The last step is small enough to fit whatever the check holds.
CLIP_STEPS = ((4_000, BODY_EXCERPT_BYTES), (1_000, 500), (200, 200), (40, 0))
TAGS_ATTRIBUTE_BYTES = 2_048


@dataclass(frozen=True)
class SnsMessage:
    """An alert as published to SNS: subject, JSON envelope, attributes and document."""

    subject: str
    message: str  # the MessageStructure=json envelope
    attributes: Attributes
    document: dict[str, Any]  # the JSON document, as cut to fit


def sns_message(alert: Alert) -> SnsMessage:
    """The SNS message for ``alert``, cut down step by step until it fits ``ALERT_BUDGET_BYTES``."""
    check, flip, last_ping = alert.check, alert.flip, alert.last_ping
    for text_limit, body_limit in CLIP_STEPS:
        clipped = clip_check(check, text_limit)
        last = clip_ping(last_ping, text_limit, body_limit)
        message = _compose(check, clipped, flip, last, alert.ping_endpoint)
        if published_size(message) <= ALERT_BUDGET_BYTES:
            break
    return message


def _compose(
    original: Check,
    check: Check,
    flip: Flip,
    last_ping: LoggedPing | None,
    ping_endpoint: str | None,
) -> SnsMessage:
    document = alert_document(check, flip, last_ping, ping_endpoint)
    # Protocols without a key of their own (sqs, lambda, http, https, email-json) get
    # ``default``: one copy of the document instead of six.
    envelope = {
        "default": json.dumps(document, sort_keys=True),
        "email": email_text(check, flip, last_ping, ping_endpoint),
        "sms": sms_text(check, flip),
    }
    return SnsMessage(
        subject=subject(check, flip),
        message=json.dumps(envelope),
        # From the original: a cut tag would filter as a tag the check does not have.
        attributes=message_attributes(original, flip),
        document=document,
    )


def published_size(alert: SnsMessage) -> int:
    """Bytes SNS counts against its limit: the message, the subject and every attribute."""
    size = len(alert.message.encode()) + len(alert.subject.encode())
    for name, attribute in alert.attributes.items():
        value = attribute.get("StringValue", "")
        size += len(name.encode()) + len(attribute["DataType"].encode()) + len(value.encode())
    return size


def subject(check: Check, flip: Flip) -> str:
    # SNS subjects must be printable ASCII on one line.
    name = re.sub(r"[^\x20-\x7e]", "?", display_name(check))
    return f"{event(flip).upper()}: {name}"[:SUBJECT_MAX]


def sms_text(check: Check, flip: Flip) -> str:
    when = flip.at.strftime("%Y-%m-%d %H:%M UTC")
    if flip.reminder:
        hours = down_for(check, flip).total_seconds() / 3600
        return f"{subject(check, flip)}: down {hours:g} h since {when} ({flip.reason})"
    return f"{subject(check, flip)} ({flip.reason}) at {when}"


def message_attributes(check: Check, flip: Flip) -> Attributes:
    attributes: Attributes = {
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

    def __init__(self, client_factory: Callable[[], SNSClient], topic_arn: str) -> None:
        self._client_factory = client_factory
        self._client: SNSClient | None = None
        self.topic_arn = topic_arn

    def publish(self, alert: Alert) -> str:
        if self._client is None:
            self._client = self._client_factory()
        message = sns_message(alert)
        reply = self._client.publish(
            TopicArn=self.topic_arn,
            Subject=message.subject,
            Message=message.message,
            MessageStructure="json",
            MessageAttributes=message.attributes,
        )
        return str(reply["MessageId"])
