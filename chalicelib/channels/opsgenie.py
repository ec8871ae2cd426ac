"""Opsgenie Alert API: create an alert on down (and reminders), close it on up.

Docs:
- https://docs.opsgenie.com/docs/alert-api#create-alert (POST ``/v2/alerts``; ``message``
  required ≤ 130 chars, ``alias`` ≤ 512, ``description`` ≤ 15000, ``tags`` ≤ 20 of ≤ 50 chars,
  ``details`` ≤ 8000 chars in total, ``entity`` ≤ 512, ``source`` ≤ 100, ``priority`` P1-P5;
  202 Accepted)
- https://docs.opsgenie.com/docs/alert-api#close-alert (POST
  ``/v2/alerts/:identifier/close?identifierType=alias``; body ``user``, ``source``, ``note``)
- https://docs.opsgenie.com/docs/authentication (``Authorization: GenieKey <key>``)
- https://docs.opsgenie.com/docs/european-service-region (EU accounts use api.eu.opsgenie.com)

``alias`` is the check's uuid: Opsgenie de-duplicates a reminder into the open alert, and the
up alert closes exactly the alert the down opened.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from chalicelib.channels.message import OutboundRequest, json_request
from chalicelib.channels.text import truncate
from chalicelib.channels.view import AlertView, read_alert

REGION_URLS = {"us": "https://api.opsgenie.com", "eu": "https://api.eu.opsgenie.com"}
MESSAGE_MAX = 130
ALIAS_MAX = 512
DESCRIPTION_MAX = 15_000
TAGS_MAX = 20
TAG_MAX = 50
DETAILS_TOTAL_MAX = 8_000
ENTITY_MAX = 512
SOURCE = "Vigil"
NOTE_MAX = 25_000
PRIORITIES = ("P1", "P2", "P3", "P4", "P5")


def api_base(region: str, url: str | None = None) -> str:
    """The API base: ``url`` when given, otherwise the region's (us or eu)."""
    if url:
        return url.rstrip("/")
    try:
        return REGION_URLS[region]
    except KeyError:
        raise ValueError(f"unknown Opsgenie region {region!r}: use us or eu") from None


def build_opsgenie(
    api_key: str,
    document: Mapping[str, Any],
    *,
    region: str = "us",
    url: str | None = None,
    priority: str = "P3",
) -> OutboundRequest:
    if priority not in PRIORITIES:
        raise ValueError(f"unknown Opsgenie priority {priority!r}")
    view = read_alert(document)
    base = api_base(region, url)
    auth = {"Authorization": f"GenieKey {api_key}"}
    alias = _alias(view)
    if view.event == "up":
        close_url = f"{base}/v2/alerts/{quote(alias, safe='')}/close?identifierType=alias"
        return json_request(close_url, close_body(view), auth)
    return json_request(f"{base}/v2/alerts", create_body(view, priority), auth)


def create_body(view: AlertView, priority: str = "P3") -> dict[str, Any]:
    return {
        "message": truncate(view.title, MESSAGE_MAX),
        "alias": _alias(view),
        "description": truncate(_description(view), DESCRIPTION_MAX),
        "tags": [truncate(tag, TAG_MAX) for tag in view.tags[:TAGS_MAX]],
        "details": _details(view),
        "entity": truncate(view.name, ENTITY_MAX),
        "source": SOURCE,
        "priority": priority,
    }


def close_body(view: AlertView) -> dict[str, Any]:
    return {"source": SOURCE, "note": truncate(f"{view.title}: {view.happened}", NOTE_MAX)}


def _alias(view: AlertView) -> str:
    return truncate(view.check_uuid or view.name, ALIAS_MAX, marker="")


def _description(view: AlertView) -> str:
    lines = [view.happened, "", f"When: {view.at}"]
    if view.expected:
        lines.append(f"Expected: {view.expected}")
    if view.schedule:
        lines.append(f"Schedule: {view.schedule}")
    lines.extend(f"{label}: {value}" for label, value in view.facts)
    if view.last_ping is not None:
        lines += ["", f"Last ping: {view.last_ping.summary}"]
        if view.last_ping.body_tail:
            lines += ["", view.last_ping.body_tail]
    if view.links:
        lines += ["", *(f"{label}: {url}" for label, url in view.links)]
    return "\n".join(lines)


def _details(view: AlertView) -> dict[str, str]:
    details = {"flip": view.flip_id, "event": view.event, "reason": view.reason or ""}
    details.update((label, url) for label, url in view.links)
    # The whole map counts toward 8000 characters; ours are short, but a URL is user-shaped.
    budget = DETAILS_TOTAL_MAX
    kept: dict[str, str] = {}
    for key, value in details.items():
        value = truncate(value, max(budget - len(key), 0))
        budget -= len(key) + len(value)
        if budget < 0:
            break
        kept[key] = value
    return kept
