"""Alert documents for the channel tests: the shape chalicelib/alerts.py publishes."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

T0 = datetime(2026, 3, 2, 12, 0, 0, tzinfo=UTC)
UUID = "9f1c3b5e-2d4a-4c6b-8e0f-1a2b3c4d5e6f"
SITE = "https://abc123.execute-api.eu-west-1.amazonaws.com/api"

_DOWN: dict[str, Any] = {
    "version": 1,
    "event": "down",
    "reason": "timeout",
    "check": {
        "name": "nightly-backup",
        "slug": "nightly-backup",
        "tags": "prod db",
        "desc": "",
        "grace": 600,
        "n_pings": 12,
        "status": "down",
        "started": False,
        "last_ping": "2026-03-01T11:50:00+00:00",
        "next_ping": "2026-03-02T11:50:00+00:00",
        "manual_resume": False,
        "methods": "",
        "timeout": 86400,
        "max_duration": 600,
        "runs": [],
        "uuid": UUID,
        "ping_url": f"{SITE}/ping/{UUID}",
        "update_url": f"{SITE}/api/v3/checks/{UUID}",
        "pause_url": f"{SITE}/api/v3/checks/{UUID}/pause",
        "resume_url": f"{SITE}/api/v3/checks/{UUID}/resume",
        "badge_url": f"{SITE}/b/2/abc.svg",
        "channels": "*",
    },
    "flip": {"id": "flip-1", "at": "2026-03-02T12:00:00+00:00", "from": "up", "to": "down"},
    "last_ping": {
        "n": 12,
        "at": "2026-03-01T11:50:00+00:00",
        "type": "success",
        "method": "POST",
        "remote_addr": "203.0.113.7",
        "ua": "curl/8.5.0",
        "rid": None,
        "exitstatus": 0,
        "body": "backup started\nbackup finished: 42 GB\n",
    },
}


def down(**overrides: Any) -> dict[str, Any]:
    doc = copy.deepcopy(_DOWN)
    for key, value in overrides.items():
        if key in ("check", "flip", "last_ping") and isinstance(value, dict):
            doc[key].update(value)
        else:
            doc[key] = value
    return doc


def up() -> dict[str, Any]:
    return down(
        event="up",
        reason=None,
        flip={"id": "flip-2", "at": "2026-03-02T12:30:00+00:00", "from": "down", "to": "up"},
        last_ping={"n": 13, "at": "2026-03-02T12:30:00+00:00", "body": "ok"},
    )


def reminder() -> dict[str, Any]:
    return down(event="reminder", reminder=2, down_for=7200, failures=3)


def hostile() -> dict[str, Any]:
    """Every user-controlled field at its worst: huge, and full of vendor markup."""
    evil = "<!channel> @everyone <@U123> *bold* _it_ [x](https://evil.example) ``` & # - > "
    return down(
        reason="fail",
        check={"name": evil * 200, "tags": " ".join(["t" * 80] * 40)},
        last_ping={"body": ("```\n" + evil) * 3000, "remote_addr": "x" * 5000, "exitstatus": 3},
        held_by=[UUID] * 10,
        failures=99,
    )


def strange() -> dict[str, Any]:
    """A document from a newer Vigil: unknown event and reason, missing fields."""
    return {"version": 2, "event": "paused", "reason": "eclipse", "check": {}, "flip": {}}


ALL = {
    "down": down,
    "up": up,
    "reminder": reminder,
    "fail": lambda: down(reason="fail", last_ping={"type": "fail", "exitstatus": 3}),
    "overrun": lambda: down(reason="overrun"),
    "stalled": lambda: down(reason="stalled", check={"stall_timeout": 600}),
    "too_fast": lambda: down(reason="too_fast", check={"min_duration": 60}),
    "no_last_ping": lambda: down(last_ping=None),
    "cron": lambda: down(check={"schedule": "0 3 * * *", "tz": "Europe/Riga", "timeout": None}),
    "hostile": hostile,
    "hostile_reason": lambda: {**hostile(), "reason": "<!here> *why* " * 2000},
    "strange": strange,
}
