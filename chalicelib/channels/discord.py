"""Discord webhooks: one embed per alert, with mentions switched off.

Docs:
- https://discord.com/developers/docs/resources/webhook#execute-webhook (``content``,
  ``username``, ``embeds`` ≤ 10, ``allowed_mentions``)
- https://discord.com/developers/docs/resources/message#embed-object-embed-limits (title 256,
  description 4096, ≤ 25 fields, field name 256 / value 1024, footer 2048, 6000 in total)
- https://discord.com/developers/docs/resources/message#allowed-mentions-object
  (``{"parse": []}`` pings nobody, whatever the text says)

Names and output are Markdown-escaped so they render literally, and ``allowed_mentions`` makes
``@everyone``, ``@here``, ``<@id>`` and ``<@&role>`` inert even if something slipped through.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from chalicelib.channels.message import OutboundRequest, json_request
from chalicelib.channels.text import break_fences, escape_markdown, fit_escaped, truncate
from chalicelib.channels.view import AlertView, read_alert

TITLE_MAX = 256
DESCRIPTION_MAX = 4096
FIELDS_MAX = 25
FIELD_NAME_MAX = 256
FIELD_VALUE_MAX = 1024
FOOTER_MAX = 2048
EMBED_TOTAL_MAX = 6000
DESCRIPTION_RESERVE = 1000  # what happened, and the output tail, matter most
USERNAME = "Vigil"

COLORS = {"bad": 0xD0021B, "good": 0x2EB67D, "warning": 0xF5A623, "neutral": 0x808080}


def build_discord(url: str, document: Mapping[str, Any]) -> OutboundRequest:
    return json_request(url, discord_message(read_alert(document)))


def discord_message(view: AlertView) -> dict[str, Any]:
    return {
        "username": USERNAME,
        "embeds": [_embed(view)],
        "allowed_mentions": {"parse": []},
    }


def _embed(view: AlertView) -> dict[str, Any]:
    embed: dict[str, Any] = {
        "title": fit_escaped(view.title, TITLE_MAX, escape_markdown),
        "color": COLORS[view.tone],
        "fields": _fields(view),
        "footer": {"text": truncate(f"Vigil · flip {view.flip_id}", FOOTER_MAX)},
    }
    if view.links:
        embed["url"] = view.links[0][1]
    if view.at_iso and _is_iso(view.at_iso):
        embed["timestamp"] = view.at_iso
    fixed = len(embed["title"]) + len(embed["footer"]["text"])
    _shrink_fields(embed["fields"], EMBED_TOTAL_MAX - fixed - DESCRIPTION_RESERVE)
    used = fixed + _fields_length(embed["fields"])
    embed["description"] = _description(view, min(DESCRIPTION_MAX, EMBED_TOTAL_MAX - used))
    return embed


def _description(view: AlertView, room: int) -> str:
    happened = fit_escaped(view.happened, room, escape_markdown)
    ping = view.last_ping
    if ping is None or not ping.body_tail:
        return happened
    overhead = len(happened) + len("\n```\n\n```")
    if room - overhead < 20:
        return happened
    body = fit_escaped(ping.body_tail, room - overhead, break_fences, keep_end=True)
    return f"{happened}\n```\n{body}\n```"


def _fields(view: AlertView) -> list[dict[str, Any]]:
    pairs: list[tuple[str, str, bool]] = [("When", escape_markdown(view.at), True)]
    if view.expected:
        pairs.append(("Expected", escape_markdown(view.expected), True))
    if view.schedule:
        pairs.append(("Schedule", view.schedule, True))
    if view.tags:
        pairs.append(("Tags", " ".join(view.tags), True))
    pairs.extend((label, value, True) for label, value in view.facts)
    if view.last_ping is not None:
        pairs.append(("Last ping", view.last_ping.summary, False))
    if view.links:
        links = " · ".join(f"[{label}]({_link_target(url)})" for label, url in view.links)
        pairs.append(("Links", links, False))
    return [
        {
            "name": truncate(name, FIELD_NAME_MAX),
            "value": _value(name, value),
            "inline": inline,
        }
        for name, value, inline in pairs[:FIELDS_MAX]
    ]


def _value(name: str, value: str) -> str:
    if name in ("When", "Expected", "Links"):  # already Markdown: ours, or pre-escaped
        return truncate(value, FIELD_VALUE_MAX)
    return fit_escaped(value, FIELD_VALUE_MAX, escape_markdown)


def _shrink_fields(fields: list[dict[str, Any]], budget: int) -> None:
    """Halve the longest field value until all fields fit ``budget`` (the 6000 total)."""
    while _fields_length(fields) > budget:
        longest = max(fields, key=lambda field: len(field["value"]))
        if len(longest["value"]) <= 1:
            return
        longest["value"] = truncate(longest["value"], max(len(longest["value"]) // 2, 1))


def _fields_length(fields: list[dict[str, Any]]) -> int:
    return sum(len(field["name"]) + len(field["value"]) for field in fields)


def _link_target(url: str) -> str:
    return url.replace("(", "%28").replace(")", "%29").replace(" ", "%20")


def _is_iso(value: str) -> bool:
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True
