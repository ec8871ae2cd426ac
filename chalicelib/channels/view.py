"""Vigil's alert document, read into the facts every channel message shows.

The document (chalicelib/alerts.py ``alert_document``) is a contract shared with SNS
subscribers: ``{"version", "event", "reason", "check": {API v3 check JSON}, "flip": {"id",
"at", "from", "to"}, "last_ping": {...} | null}``, plus on run-health alerts ``failures``,
``reminder``, ``down_for`` and ``held_by``. Deliveries may be retried long after the flip and
documents may come from a newer Vigil, so every field is read defensively: a missing or
unknown value still renders as a sensible sentence, never an exception.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from chalicelib.channels.text import duration_words, tail

BODY_TAIL_CHARS = 500
Tone = Literal["bad", "good", "warning", "neutral"]


@dataclass(frozen=True)
class PingView:
    summary: str  # "#12 fail at 2026-03-02 11:58:00 UTC from 10.0.0.1, exit status 3"
    body_tail: str  # "" when the ping had no body


@dataclass(frozen=True)
class AlertView:
    event: str
    reason: str | None
    tone: Tone
    name: str
    check_uuid: str
    flip_id: str
    title: str  # "DOWN: nightly-backup", plain text
    happened: str  # one sentence in words
    at: str  # when the flip happened, readable
    at_iso: str | None
    expected: str | None  # "2026-03-02 12:00:00 UTC (grace 1 h)" for a missed run
    schedule: str | None
    tags: tuple[str, ...]
    last_ping: PingView | None
    links: tuple[tuple[str, str], ...]  # (label, url), http(s) only
    facts: tuple[tuple[str, str], ...]  # extra (label, value): failures, held by, reminder


def read_alert(document: Mapping[str, Any]) -> AlertView:
    check = _mapping(document.get("check"))
    flip = _mapping(document.get("flip"))
    event = _text(document.get("event")) or _text(flip.get("to")) or "unknown"
    reason = _text(document.get("reason")) or None
    name = (
        _text(check.get("name"))
        or _text(check.get("slug"))
        or _text(check.get("uuid"))
        or "unnamed check"
    )
    at_iso = _text(flip.get("at")) or None
    return AlertView(
        event=event,
        reason=reason,
        tone=_tone(event),
        name=name,
        check_uuid=_text(check.get("uuid")) or _uuid_from_url(check),
        flip_id=_text(flip.get("id")),
        title=f"{_event_word(event)}: {name}",
        happened=_happened(event, reason, document, check, flip),
        at=readable_time(at_iso),
        at_iso=at_iso,
        expected=_expected(event, reason, check),
        schedule=_schedule(check),
        tags=tuple(_text(check.get("tags")).split()),
        last_ping=_ping_view(document.get("last_ping")),
        links=_links(check),
        facts=_facts(document),
    )


def readable_time(iso: str | None) -> str:
    """ISO 8601 → ``2026-03-02 12:00:00 UTC``; anything unparsable is shown as given."""
    if not iso:
        return "unknown time"
    try:
        parsed = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _event_word(event: str) -> str:
    return {"down": "DOWN", "up": "UP", "reminder": "STILL DOWN"}.get(event, event.upper())


def _tone(event: str) -> Tone:
    tones: dict[str, Tone] = {"down": "bad", "up": "good", "reminder": "warning"}
    return tones.get(event, "neutral")


_REASONS = {
    "timeout": "Missed: no ping arrived by its deadline plus grace",
    "fail": "Failed: the job reported a failure",
    "overrun": "Overran: a run did not finish within its maximum duration{max_duration}",
    "stalled": "Stalled: a running job sent no start or progress ping for{stall_timeout}",
    "too_fast": "Finished too fast: a run ended sooner than its minimum duration{min_duration}",
}


def _reason_sentence(reason: str | None, check: Mapping[str, Any], ping: Any) -> str:
    if reason is None:
        return "Went down"
    template = _REASONS.get(reason)
    if template is None:
        return f"Went down (reason: {reason})"
    sentence = template.format(
        max_duration=_seconds_suffix(check.get("max_duration"), " of "),
        stall_timeout=_seconds_suffix(check.get("stall_timeout"), " ", fallback=" too long"),
        min_duration=_seconds_suffix(check.get("min_duration"), " of "),
    )
    exit_status = _mapping(ping).get("exitstatus")
    if reason == "fail" and isinstance(exit_status, int) and not isinstance(exit_status, bool):
        sentence += f" (exit status {exit_status})"
    return sentence


def _seconds_suffix(value: Any, prefix: str, fallback: str = "") -> str:
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return prefix + duration_words(value)
    return fallback


def _happened(
    event: str,
    reason: str | None,
    document: Mapping[str, Any],
    check: Mapping[str, Any],
    flip: Mapping[str, Any],
) -> str:
    ping = document.get("last_ping")
    if event == "down":
        return _reason_sentence(reason, check, ping) + "."
    if event == "up":
        return "Recovered: a success ping arrived and the check is up again."
    if event == "reminder":
        down_for = document.get("down_for")
        how_long = (
            f" for {duration_words(down_for)}"
            if isinstance(down_for, int | float) and not isinstance(down_for, bool)
            else ""
        )
        number = document.get("reminder")
        nth = f" (reminder {number})" if isinstance(number, int) else ""
        if not reason:
            return f"Still down{how_long}{nth}."
        cause = _reason_sentence(reason, check, ping).replace(": ", ", ", 1)
        return f"Still down{how_long}{nth}. Cause: {cause[0].lower()}{cause[1:]}."
    old, new = _text(flip.get("from")) or "?", _text(flip.get("to")) or "?"
    return f"Status changed ({event}): {old} → {new}."


def _expected(event: str, reason: str | None, check: Mapping[str, Any]) -> str | None:
    if event not in ("down", "reminder") or reason not in ("timeout", None):
        return None
    next_ping = _text(check.get("next_ping"))
    if not next_ping:
        return None
    grace = check.get("grace")
    if isinstance(grace, int | float) and not isinstance(grace, bool) and grace > 0:
        return f"{readable_time(next_ping)} (grace {duration_words(grace)})"
    return readable_time(next_ping)


def _schedule(check: Mapping[str, Any]) -> str | None:
    cron = _text(check.get("schedule"))
    if cron:
        return f"cron {cron} ({_text(check.get('tz')) or 'UTC'})"
    timeout = check.get("timeout")
    if isinstance(timeout, int | float) and not isinstance(timeout, bool) and timeout > 0:
        return f"every {duration_words(timeout)}"
    return None


def _ping_view(raw: Any) -> PingView | None:
    ping = _mapping(raw)
    if not ping:
        return None
    parts = []
    if isinstance(ping.get("n"), int):
        parts.append(f"#{ping['n']}")
    parts.append(_text(ping.get("type")) or "ping")
    parts.append(f"at {readable_time(_text(ping.get('at')) or None)}")
    if _text(ping.get("remote_addr")):
        parts.append(f"from {ping['remote_addr']}")
    summary = " ".join(parts)
    exit_status = ping.get("exitstatus")
    if isinstance(exit_status, int) and not isinstance(exit_status, bool):
        summary += f", exit status {exit_status}"
    body = _text(ping.get("body")).strip("\n")
    return PingView(summary=summary, body_tail=tail(body, BODY_TAIL_CHARS))


def _links(check: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    wanted = (("Check", "update_url"), ("Ping URL", "ping_url"), ("Badge", "badge_url"))
    return tuple(
        (label, url)
        for label, key in wanted
        if (url := _text(check.get(key))).startswith(("https://", "http://"))
    )


def _facts(document: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    facts: list[tuple[str, str]] = []
    failures = document.get("failures")
    if isinstance(failures, int) and not isinstance(failures, bool) and failures > 0:
        facts.append(("Failures in a row", str(failures)))
    held_by = document.get("held_by")
    if isinstance(held_by, list) and held_by:
        facts.append(("Was held by", ", ".join(_text(item) for item in held_by)))
    return tuple(facts)


def _uuid_from_url(check: Mapping[str, Any]) -> str:
    # Read-only documents carry no uuid; the ping URL still ends with it.
    url = _text(check.get("ping_url"))
    return url.rstrip("/").rsplit("/", 1)[-1] if url else ""


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _text(value: Any) -> str:
    if value is None or isinstance(value, Mapping | list):
        return ""
    return str(value)
