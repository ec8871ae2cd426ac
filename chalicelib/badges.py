"""Status badges (hc-protocol §5): signed tag URLs, badge states, and SVG / JSON / shields.

Pure: the caller supplies the checks' display statuses and the project's badge secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from html import escape
from typing import Any

from chalicelib.domain import Check
from chalicelib.inputs import svg_safe

FORMATS = ("svg", "json", "shields")
ALL_TAG = "*"
MASTER_LABEL = "Vigil"
SIG_LENGTH = 8
TWO_STATE_SUFFIX = "-2"
COLORS = {"up": "#4c1", "late": "#fe7d37", "down": "#e05d44"}
SHIELDS_COLORS = {"up": "success", "late": "important", "down": "critical"}
CHAR_WIDTH = 7
# A check with neither name nor slug: its uuid is its ping secret, never a public label.
UNNAMED_LABEL = "unnamed"
# How long a process reuses a project's checks for its public badges (see BadgeSnapshots).
BADGE_CACHE_SECONDS = 60
BADGE_CACHE_PROJECTS = 256


def signature(secret: str, tag: str) -> str:
    digest = hmac.new(secret.encode(), tag.encode(), hashlib.sha1).digest()
    return base64.urlsafe_b64encode(digest).decode()[:SIG_LENGTH]


def parse_signature(secret: str, tag: str, sig: str) -> bool | None:
    """With-late (3-state) flag for a valid signature, or None when it does not verify."""
    with_late = not sig.endswith(TWO_STATE_SUFFIX) or len(sig) != SIG_LENGTH + 2
    raw = sig if with_late else sig[:SIG_LENGTH]
    if len(raw) != SIG_LENGTH or not hmac.compare_digest(raw, signature(secret, tag)):
        return None
    return with_late


def project_badge_urls(site: str, badge_key: str, secret: str, tag: str) -> dict[str, str]:
    """The six URLs Healthchecks lists per tag: svg, json and shields, 3- and 2-state."""
    sig = signature(secret, tag)
    urls = {}
    for fmt in FORMATS:
        for suffix, states in (("3", sig), ("", sig + TWO_STATE_SUFFIX)):
            name = fmt + suffix
            if tag == ALL_TAG:
                urls[name] = f"{site}/badge/{badge_key}/{states}.{fmt}"
            else:
                urls[name] = f"{site}/badge/{badge_key}/{states}/{tag}.{fmt}"
    return urls


def badge_state(statuses: Iterable[str], with_late: bool) -> dict[str, Any]:
    """down if any check is down; late if any is in grace (3-state only); else up."""
    listed = list(statuses)
    down = sum(1 for status in listed if status == "down")
    grace = sum(1 for status in listed if status == "grace")
    state = "up"
    if down:
        state = "down"
    elif grace and with_late:
        state = "late"
    return {"status": state, "total": len(listed), "grace": grace, "down": down}


def render(fmt: str, label: str, state: dict[str, Any]) -> tuple[str, str]:
    """(content type, body) for one badge."""
    status = state["status"]
    if fmt == "json":
        return "application/json", json.dumps(state)
    if fmt == "shields":
        shields = {
            "schemaVersion": 1,
            "label": label,
            "message": status,
            "color": SHIELDS_COLORS[status],
        }
        return "application/json", json.dumps(shields)
    return "image/svg+xml", svg(label, status)


def svg(label: str, status: str) -> str:
    left = CHAR_WIDTH * len(label) + 10
    right = CHAR_WIDTH * len(status) + 10
    width = left + right
    label = svg_safe(label)  # XML cannot hold control characters, even escaped
    text_label, text_status = escape(label), escape(status)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="20" role="img" '
        f'aria-label="{text_label}: {text_status}"><title>{text_label}: {text_status}</title>'
        f'<rect width="{left}" height="20" fill="#555"/>'
        f'<rect x="{left}" width="{right}" height="20" fill="{COLORS[status]}"/>'
        '<g fill="#fff" text-anchor="middle" font-family="Verdana,DejaVu Sans,sans-serif" '
        'font-size="11">'
        f'<text x="{left / 2}" y="14">{text_label}</text>'
        f'<text x="{left + right / 2}" y="14">{text_status}</text></g></svg>'
    )


def split_format(name: str) -> tuple[str, str] | None:
    """``nightly.svg`` -> (``nightly``, ``svg``); None for an unknown format."""
    stem, dot, fmt = name.rpartition(".")
    if not dot or fmt not in FORMATS:
        return None
    return stem, fmt


class BadgeSnapshots:
    """Each project's checks as last read for its public badges, reused for a short while.

    A project or tag badge is public and needs every check of the project. Read per request,
    anyone holding a badge URL could make each request cost one read per check. Here a process
    reads a project's checks at most once per ``BADGE_CACHE_SECONDS``; in between a badge
    request costs only the two small reads that resolve its key. The statuses are still
    computed at request time from the cached deadlines, so a check goes late and down on
    time; only pings and edits show up to ``BADGE_CACHE_SECONDS`` late.
    """

    def __init__(
        self, seconds: int = BADGE_CACHE_SECONDS, projects: int = BADGE_CACHE_PROJECTS
    ) -> None:
        self._ttl = timedelta(seconds=seconds)
        self._projects = projects
        self._entries: OrderedDict[str, tuple[datetime, Sequence[Check]]] = OrderedDict()

    def get(self, project: str, now: datetime) -> Sequence[Check] | None:
        entry = self._entries.get(project)
        if entry is None or not entry[0] <= now < entry[0] + self._ttl:
            return None
        return entry[1]

    def put(self, project: str, checks: Sequence[Check], now: datetime) -> None:
        self._entries[project] = (now, checks)
        self._entries.move_to_end(project)
        while len(self._entries) > self._projects:
            self._entries.popitem(last=False)
