"""Provisioning of the notify queue, its dead letters and the topic subscription.

Operator code (bootstrap, ``make deploy``, the local stack), never run by a Lambda function.
The dead-letter queue takes deliveries whose retry budget is spent (the notifier puts them
there) and messages the notifier failed on ``MAX_RECEIVES`` times (SQS's redrive policy).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

MAX_RECEIVES = 5
NOTIFIER_TIMEOUT_SECONDS = 30
# SQS wants a visibility timeout of at least the function timeout; AWS advises six times it.
VISIBILITY_TIMEOUT_SECONDS = 6 * NOTIFIER_TIMEOUT_SECONDS
RETENTION_SECONDS = 14 * 24 * 3600  # the maximum: time to inspect and redrive dead letters
ALERT_FILTER = {"flip_id": [{"exists": True}]}  # Vigil alerts carry it; alarm messages do not


@dataclass(frozen=True)
class NotifyQueues:
    url: str
    arn: str
    dead_letter_url: str
    dead_letter_arn: str


def queue_names(topic_name: str) -> tuple[str, str]:
    return f"{topic_name}-notify", f"{topic_name}-notify-dead"


def ensure_notify_queues(sqs: Any, sns: Any, topic_arn: str) -> NotifyQueues:
    """The queue, its dead letters and the topic subscription; a rerun only reads."""
    name, dead_name = queue_names(topic_arn.rsplit(":", 1)[-1])
    retention = {"MessageRetentionPeriod": str(RETENTION_SECONDS), "SqsManagedSseEnabled": "true"}
    dead_url = _ensure_queue(sqs, dead_name, retention)
    dead_arn = _arn(sqs, dead_url)
    redrive = {"deadLetterTargetArn": dead_arn, "maxReceiveCount": MAX_RECEIVES}
    url = _ensure_queue(
        sqs,
        name,
        {
            **retention,
            "VisibilityTimeout": str(VISIBILITY_TIMEOUT_SECONDS),
            "RedrivePolicy": json.dumps(redrive),
        },
    )
    arn = _arn(sqs, url)
    _ensure_attributes(sqs, url, {"Policy": json.dumps(queue_policy(arn, topic_arn))})
    if not _subscribed(sns, topic_arn, arn):
        sns.subscribe(
            TopicArn=topic_arn,
            Protocol="sqs",
            Endpoint=arn,
            Attributes={"RawMessageDelivery": "true", "FilterPolicy": json.dumps(ALERT_FILTER)},
        )
    return NotifyQueues(url, arn, dead_url, dead_arn)


def _ensure_queue(sqs: Any, name: str, attributes: dict[str, str]) -> str:
    try:
        url = str(sqs.get_queue_url(QueueName=name)["QueueUrl"])
    except sqs.exceptions.QueueDoesNotExist:
        return str(sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"])
    _ensure_attributes(sqs, url, attributes)
    return url


def _ensure_attributes(sqs: Any, url: str, wanted: dict[str, str]) -> None:
    current = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    differing = {k: v for k, v in wanted.items() if not _same(current.get(k), v)}
    if differing:
        sqs.set_queue_attributes(QueueUrl=url, Attributes=differing)


def _same(current: str | None, wanted: str) -> bool:
    if current is None:
        return False
    if wanted.startswith("{"):  # JSON attributes come back re-serialised
        return bool(json.loads(current) == json.loads(wanted))
    return current.lower() == wanted.lower()


def queue_policy(queue_arn: Any, topic_arn: Any) -> dict[str, Any]:
    """Only the alert topic may send to the queue through SNS."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AlertTopicDelivers",
                "Effect": "Allow",
                "Principal": {"Service": "sns.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}},
            }
        ],
    }


def _arn(sqs: Any, url: str) -> str:
    reply = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return str(reply["Attributes"]["QueueArn"])


def _subscribed(sns: Any, topic_arn: str, queue_arn: str) -> bool:
    pages = sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=topic_arn)
    return any(s["Endpoint"] == queue_arn for page in pages for s in page["Subscriptions"])
