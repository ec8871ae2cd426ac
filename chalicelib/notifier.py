"""The notifier: alerts off the notify queue, delivered to each routed channel.

Two kinds of message share the queue:
1. **An alert**: Vigil's alert document (raw SNS delivery from the topic, or queued directly
   by ``RoutingAlerter``). It is fanned out: one delivery message per routed channel, so a
   slow or dead channel only ever holds its own message (the function consumes one message
   per invocation), never another channel's, and never the sweeper, which only published.
2. **A delivery**: ``{"delivery": 1, "project", "channel", "retry", "not_before", "document"}``.
   It is attempted once (``channels.notify.attempt`` through the SSRF-guarded sender):
   - delivered: the idempotency record says so, and no copy of this message sends again;
   - retryable (network error, 5xx, 429): queued again with ``DelaySeconds`` from the backoff
     schedule (``channels.delivery.next_retry``), until the budget (over an hour) is spent,
     then put on the dead-letter queue, which has an alarm;
   - permanent (other 4xx, a refused URL, a broken channel): recorded, not retried.
   Every attempt updates the channel's ``last_notify`` and ``last_error``.

The deployment topic's own channel needs no delivery: the alert reaching this queue through
the topic is its delivery, and is recorded as such.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from chalicelib import metrics
from chalicelib.channel_ports import (
    MAX_DELAY_SECONDS,
    ChannelStore,
    ChannelUnreadable,
    NotifyQueue,
    StoredChannel,
)
from chalicelib.channels.delivery import (
    Delivered,
    Failed,
    Outcome,
    Random,
    Retry,
    Verdict,
    last_error,
    next_retry,
)
from chalicelib.channels.message import OutboundRequest, SnsMessage
from chalicelib.channels.notify import attempt, attempt_line, delivery_key
from chalicelib.logs import log_event
from chalicelib.routing import document_channels

logger = logging.getLogger("vigil")

# A send takes at most the sender's total timeout (10 s); the lease outlives it with margin,
# and runs out well before the message could come back from a crashed invocation.
CLAIM_LEASE = timedelta(seconds=60)
DELIVERY_VERSION = 1


@dataclass
class Notifier:
    channels: ChannelStore
    queue: NotifyQueue
    topic_channel_id: str
    send_http: Callable[[OutboundRequest], Outcome]
    publish_sns: Callable[[SnsMessage], Outcome]
    rng: Random
    say: Callable[[str], None] | None = None  # the local stack prints each attempt


def handle_message(
    notifier: Notifier, body: str, attributes: Mapping[str, str], now: datetime
) -> None:
    message = json.loads(body)
    if not isinstance(message, dict):
        raise ValueError("a notify message is a JSON object")
    if message.get("delivery") == DELIVERY_VERSION:
        deliver(notifier, message, now)
    else:
        fan_out(notifier, message, attributes.get("project", ""), now)


def fan_out(notifier: Notifier, document: dict[str, Any], project: str, now: datetime) -> int:
    """One delivery message per stored channel the alert is routed to; how many were queued."""
    if not project:
        raise ValueError("an alert without its project attribute cannot be routed")
    queued = 0
    for channel_id in document_channels(document):
        if channel_id == notifier.topic_channel_id:
            notifier.channels.record_result(project, channel_id, now, "", status_only=True)
            continue
        notifier.queue.send(delivery_body(project, channel_id, document, retry=0))
        queued += 1
    flip = document.get("flip") or {}
    log_event("alert_fanned_out", project=project, flip=flip.get("id"), deliveries=queued)
    if notifier.say is not None:
        name = (document.get("check") or {}).get("name") or "?"
        event = str(document.get("event", "?")).upper()
        notifier.say(f"NOTIFY {event}: {name} flip={flip.get('id')} -> {queued} channel(s)")
    return queued


def delivery_body(
    project: str,
    channel_id: str,
    document: Mapping[str, Any],
    retry: int,
    not_before: float | None = None,
) -> str:
    return json.dumps(
        {
            "delivery": DELIVERY_VERSION,
            "project": project,
            "channel": channel_id,
            "retry": retry,
            "not_before": not_before,
            "document": document,
        },
        sort_keys=True,
    )


def deliver(notifier: Notifier, message: dict[str, Any], now: datetime) -> Verdict | None:
    """Attempt one delivery; None when there was nothing to send (done, gone, or not yet)."""
    project, channel_id = str(message["project"]), str(message["channel"])
    document, retry = message["document"], int(message.get("retry", 0))
    not_before = message.get("not_before")
    if isinstance(not_before, int | float) and now.timestamp() < not_before:
        # The endpoint's Retry-After outlasts SQS's longest delay: wait out the rest.
        wait = math.ceil(not_before - now.timestamp())
        notifier.queue.send(json.dumps(message, sort_keys=True), min(wait, MAX_DELAY_SECONDS))
        return None
    channel = notifier.channels.get(project, channel_id)
    if channel is None:
        log_event("delivery_dropped", channel=channel_id, why="channel deleted")
        return None
    key = delivery_key(channel_id, document)
    if not notifier.channels.claim_delivery(key, now, CLAIM_LEASE):
        log_event("delivery_skipped", channel=channel_id, key=key, why="delivered or in flight")
        return None
    try:
        verdict = _attempt(notifier, channel, document, now)
    except Exception:
        notifier.channels.finish_delivery(key, delivered=False)
        raise
    notifier.channels.finish_delivery(key, delivered=isinstance(verdict, Delivered))
    notifier.channels.record_result(project, channel_id, now, last_error(verdict))
    _report(notifier, channel.name, channel.kind, document, verdict, retry, channel_id)
    if isinstance(verdict, Retry):
        _schedule_retry(notifier, message, verdict, retry, now)
    return verdict


def _attempt(
    notifier: Notifier, channel: StoredChannel, document: dict[str, Any], now: datetime
) -> Verdict:
    try:
        config = notifier.channels.reveal(channel)
    except ChannelUnreadable as unreadable:
        return Failed(f"channel misconfigured: {unreadable}; re-create it")
    return attempt(
        config, document, now, send_http=notifier.send_http, publish_sns=notifier.publish_sns
    )


def _schedule_retry(
    notifier: Notifier, message: dict[str, Any], verdict: Retry, retry: int, now: datetime
) -> None:
    project, channel_id, document = message["project"], message["channel"], message["document"]
    delay = next_retry(retry + 1, verdict, notifier.rng)
    if delay is None:
        notifier.queue.dead_letter(delivery_body(project, channel_id, document, retry + 1))
        log_event("delivery_dead_lettered", channel=channel_id, attempts=retry + 1)
        metrics.count(metrics.DEAD_LETTERS)
        return
    seconds = math.ceil(delay)
    # Past SQS's longest delay (a long Retry-After), the message carries when it may go.
    not_before = now.timestamp() + seconds if seconds > MAX_DELAY_SECONDS else None
    body = delivery_body(project, channel_id, document, retry + 1, not_before)
    notifier.queue.send(body, min(seconds, MAX_DELAY_SECONDS))


def handle_record(notifier: Notifier, record: Mapping[str, Any], now: datetime) -> None:
    """One record of a Lambda SQS event (or one message the local stack received)."""
    raw = record.get("messageAttributes") or {}
    attributes = {
        name: str(value.get("stringValue", value.get("StringValue", "")))
        for name, value in raw.items()
    }
    handle_message(notifier, str(record["body"]), attributes, now)


def _report(
    notifier: Notifier,
    name: str,
    kind: str,
    document: Mapping[str, Any],
    verdict: Verdict,
    retry: int,
    channel_id: str,
) -> None:
    outcome = type(verdict).__name__.lower()
    metrics.count(metrics.DELIVERIES, kind=kind, outcome=outcome)
    status = verdict.status if isinstance(verdict, Delivered) else None
    flip = document.get("flip") or {}
    # Never the channel's URL or keys: the verdict's text names statuses and hosts only.
    log_event(
        "delivery",
        channel=channel_id,
        kind=kind,
        flip=flip.get("id") if isinstance(flip, Mapping) else None,
        attempt=retry + 1,
        outcome=outcome,
        status=status,
        error=None if isinstance(verdict, Delivered) else _error_text(verdict),
    )
    if notifier.say is not None:
        notifier.say(attempt_line(name or channel_id, kind, document, verdict, retry + 1))


def _error_text(verdict: Retry | Failed) -> str:
    return verdict.error
