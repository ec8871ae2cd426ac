"""PagerDuty Events API v2: ``trigger`` on down (and reminders), ``resolve`` on up.

Docs:
- https://developer.pagerduty.com/docs/events-api-v2/trigger-events/ (``routing_key``,
  ``event_action`` trigger|acknowledge|resolve, ``dedup_key`` ≤ 255 chars, ``payload.summary``
  ≤ 1024 chars, ``payload.source``, ``payload.severity`` critical|error|warning|info,
  ``payload.timestamp`` ISO 8601, ``component``, ``group``, ``class``, ``custom_details``,
  ``client``, ``client_url``, ``links`` [{href, text}]; 202 on success; 512 KB per event)
- https://developer.pagerduty.com/docs/events-api-v2/resolve-events/ (resolve needs only
  ``routing_key``, ``event_action`` and the trigger's ``dedup_key``)

``dedup_key`` is the check's uuid, so a reminder re-triggers the same alert rather than
opening a second incident, and the up alert resolves exactly the incident the down opened.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chalicelib.channels.message import OutboundRequest, json_request
from chalicelib.channels.text import truncate
from chalicelib.channels.view import AlertView, read_alert

DEFAULT_URL = "https://events.pagerduty.com/v2/enqueue"
SUMMARY_MAX = 1024
DEDUP_KEY_MAX = 255
SOURCE_MAX = 255
DETAIL_MAX = 4000
SEVERITIES = ("critical", "error", "warning", "info")


def build_pagerduty(
    routing_key: str, document: Mapping[str, Any], url: str | None = None
) -> OutboundRequest:
    return json_request(url or DEFAULT_URL, pagerduty_event(routing_key, read_alert(document)))


def pagerduty_event(routing_key: str, view: AlertView) -> dict[str, Any]:
    dedup_key = truncate(view.check_uuid or view.name, DEDUP_KEY_MAX, marker="")
    if view.event == "up":
        return {"routing_key": routing_key, "event_action": "resolve", "dedup_key": dedup_key}
    event: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": dedup_key,
        "payload": _payload(view),
        "client": "Vigil",
    }
    if view.links:
        event["client_url"] = view.links[0][1]
        event["links"] = [{"href": url, "text": label} for label, url in view.links]
    return event


def _payload(view: AlertView) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "summary": truncate(f"{view.title}: {view.happened}", SUMMARY_MAX),
        "source": truncate(view.name, SOURCE_MAX),
        # Unknown events are still worth a look, but must not page like an outage.
        "severity": "critical" if view.event in ("down", "reminder") else "warning",
        "component": truncate(view.name, SOURCE_MAX),
        "class": view.reason or view.event,
        "custom_details": _details(view),
    }
    if view.at_iso:
        payload["timestamp"] = view.at_iso
    if view.tags:
        payload["group"] = view.tags[0]
    return payload


def _details(view: AlertView) -> dict[str, str]:
    details = {"what happened": view.happened, "when": view.at, "flip id": view.flip_id}
    if view.expected:
        details["expected"] = view.expected
    if view.schedule:
        details["schedule"] = view.schedule
    if view.tags:
        details["tags"] = " ".join(view.tags)
    details.update((label.lower(), value) for label, value in view.facts)
    if view.last_ping is not None:
        details["last ping"] = view.last_ping.summary
        if view.last_ping.body_tail:
            details["last ping body (tail)"] = view.last_ping.body_tail
    return {key: truncate(value, DETAIL_MAX) for key, value in details.items()}
