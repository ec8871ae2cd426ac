"""One delivery attempt of one alert to one channel, with its I/O injected.

The notifier Lambda (and the local stack) call ``attempt`` per (alert, channel): it builds the
request, sends it through the given senders, and classifies the outcome. A channel whose
stored config cannot build a request fails alone, permanently, with a readable error.
``delivery_key`` is the idempotency key issue 12 asks for: one per (channel, flip, reminder),
so a retried SQS message never delivers a second copy once one went through.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from chalicelib.channels.delivery import Delivered, Failed, Outcome, Verdict, classify
from chalicelib.channels.kinds import ChannelConfigError, build_delivery
from chalicelib.channels.message import OutboundRequest, SnsMessage

SendHttp = Callable[[OutboundRequest], Outcome]
PublishSns = Callable[[SnsMessage], Outcome]


def attempt(
    channel: Mapping[str, Any],
    document: Mapping[str, Any],
    now: datetime,
    *,
    send_http: SendHttp,
    publish_sns: PublishSns,
) -> Verdict:
    try:
        outbound = build_delivery(channel, document, now)
    except ChannelConfigError as broken:
        return Failed(f"channel misconfigured: {broken}")
    if isinstance(outbound, SnsMessage):
        return classify(publish_sns(outbound), now)
    return classify(send_http(outbound), now)


def delivery_key(channel_id: str, document: Mapping[str, Any]) -> str:
    """``<channel>:<flip id>:<reminder number, 0 for the first alert>``."""
    flip = document.get("flip")
    flip_id = flip.get("id", "") if isinstance(flip, Mapping) else ""
    reminder = document.get("reminder")
    number = reminder if isinstance(reminder, int) and not isinstance(reminder, bool) else 0
    return f"{channel_id}:{flip_id}:{number}"


def attempt_line(
    channel_name: str, kind: str, document: Mapping[str, Any], verdict: Verdict, number: int
) -> str:
    """One line for the local stack's log, printed next to the alert it belongs to."""
    flip = document.get("flip")
    flip_id = flip.get("id", "?") if isinstance(flip, Mapping) else "?"
    event = str(document.get("event", "?")).upper()
    if isinstance(verdict, Delivered):
        result = f"delivered (HTTP {verdict.status})"
    elif isinstance(verdict, Failed):
        result = f"failed for good: {verdict.error}"
    else:
        result = f"will retry: {verdict.error}"
    return f"  -> {kind} {channel_name!r} attempt {number}: {event} flip={flip_id} {result}"
