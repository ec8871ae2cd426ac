"""Alerts, channel-neutral: what happened to a check, and renderings any channel can reuse.

An ``Alert`` says what happened (the event and reason, the check as of the flip, the flip, the
last ping); it knows nothing of any channel. An ``Alerter`` (the port) delivers one and returns
a message id. Each channel adapter renders the alert its own way: ``chalicelib.sns.SnsAlerter``
builds SNS's envelope, attributes and size budget. A new channel (Slack, PagerDuty, webhooks)
is another ``Alerter``; it may reuse ``alert_document`` (the versioned JSON every machine
subscriber gets), ``email_text`` and the ``clip`` helpers here.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any, Protocol

from chalicelib.check_json import check_to_dict, ping_url
from chalicelib.domain import Check, Flip, LoggedPing
from chalicelib.inputs import printable

ALERT_FORMAT_VERSION = 1
BODY_EXCERPT_BYTES = 1_000
# Free text a user or a job controls; everything else in an alert is short by construction.
# site_root comes from the Host header of the ?create=1 ping that made the check.
CLIPPED_CHECK_FIELDS = (
    "name",
    "slug",
    "tags",
    "desc",
    "start_kw",
    "success_kw",
    "failure_kw",
    "site_root",
)
CLIPPED_PING_FIELDS = ("ua", "remote_addr")


@dataclass(frozen=True)
class Alert:
    """A notifying flip, as it happened: the check as of the flip and its last ping."""

    check: Check
    flip: Flip
    last_ping: LoggedPing | None
    ping_endpoint: str | None = None  # the deployment's, so ping_url matches the API's

    @property
    def event(self) -> str:
        return event(self.flip)

    @property
    def reason(self) -> str | None:
        return self.flip.reason if self.flip.new == "down" else None

    @property
    def document(self) -> dict[str, Any]:
        """The machine-readable alert, uncut (adapters cut it to their channel's limits)."""
        return alert_document(self.check, self.flip, self.last_ping, self.ping_endpoint)


class Alerter(Protocol):
    def publish(self, alert: Alert) -> str:
        """Deliver the alert; return the channel's message id. Raise if it was not sent."""
        ...


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters with a marker saying how much is missing.

    Lone surrogates (old items, written before input validation) become "?": SNS takes UTF-8.
    """
    text = text.encode("utf-8", errors="replace").decode()
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… [{len(text) - limit} more characters cut]"


def clip_check(check: Check, limit: int) -> Check:
    changes: dict[str, Any] = {
        name: clip(getattr(check, name), limit) for name in CLIPPED_CHECK_FIELDS
    }
    return replace(check, **changes)


def clip_ping(last: LoggedPing | None, limit: int, body_limit: int) -> LoggedPing | None:
    if last is None:
        return None
    changes: dict[str, Any] = {
        name: clip(getattr(last.ping, name), limit) for name in CLIPPED_PING_FIELDS
    }
    changes["body"] = clip_body(last.ping.body, body_limit)
    return replace(last, ping=replace(last.ping, **changes))


def clip_body(body: bytes, limit: int) -> bytes:
    """The body's first ``limit`` bytes, with a marker if there was more."""
    if len(body) <= limit:
        return body
    return body[:limit] + f"… [{len(body) - limit} more bytes cut]".encode()


def event(flip: Flip) -> str:
    """``down``, ``up`` or ``reminder`` (a reminder carries its outage's down flip)."""
    return "reminder" if flip.reminder else flip.new


def alert_document(
    check: Check, flip: Flip, last_ping: LoggedPing | None, ping_endpoint: str | None = None
) -> dict[str, Any]:
    document = {
        "version": ALERT_FORMAT_VERSION,
        "event": event(flip),
        "reason": flip.reason if flip.new == "down" else None,
        "failures": flip.failures,
        # The check as of the flip, so a late (retried) delivery still describes the outage.
        "check": check_to_dict(check, flip.at, ping_endpoint=ping_endpoint),
        "flip": {
            "id": flip.id,
            "at": flip.at.isoformat(),
            "from": flip.old,
            "to": flip.new,
        },
        "last_ping": None if last_ping is None else _last_ping_doc(last_ping),
    }
    if flip.reminder:
        document["reminder"] = flip.reminder
        document["down_for"] = int(down_for(check, flip).total_seconds())
    if flip.held_by:
        document["held_by"] = list(flip.held_by)
    return document


def down_for(check: Check, flip: Flip) -> timedelta:
    """How long the outage had lasted when reminder k fell due: k x repeat_every."""
    return flip.reminder * timedelta(seconds=check.repeat_every)


def _last_ping_doc(last: LoggedPing) -> dict[str, Any]:
    return {
        "n": last.n,
        "at": last.at.isoformat(),
        "type": last.kind,
        "method": last.ping.method,
        "remote_addr": last.ping.remote_addr,
        "ua": last.ping.ua,
        "rid": last.ping.rid,
        "exitstatus": last.ping.exitstatus,
        "body": _excerpt(last.ping.body),
    }


def _excerpt(body: bytes) -> str:
    # sns_message (or any channel) has already cut the body to an excerpt (clip_body).
    return body.decode("utf-8", errors="replace")


def display_name(check: Check) -> str:
    return check.name or check.slug or check.uuid


_REASON_TEXT = {
    "timeout": "no ping arrived before its deadline plus grace",
    "fail": "the job reported a failure",
    "overrun": "a run started but did not finish within its maximum duration",
    "stalled": "a run stopped sending progress pings for longer than its stall timeout",
    "too_fast": "a run finished faster than its minimum duration, so it counts as a failure",
    "ping": "a success ping arrived",
}


def what_happened(check: Check, flip: Flip) -> str:
    """The alert in words, for people (email, SMS)."""
    text = _REASON_TEXT.get(flip.reason, flip.reason)
    if flip.reminder:
        hours = down_for(check, flip).total_seconds() / 3600
        text = f"still down after {hours:g} h (reminder {flip.reminder}); it went down: {text}"
    elif flip.new == "down" and check.fail_threshold > 1:
        text += f" ({flip.failures} failures in a row, threshold {check.fail_threshold})"
    if flip.held_by:
        text += "; held until the checks it depends on recovered: " + ", ".join(flip.held_by)
    return text


def email_text(
    check: Check, flip: Flip, last_ping: LoggedPing | None, ping_endpoint: str | None = None
) -> str:
    status = "still DOWN" if flip.reminder else f"{flip.new.upper()}"
    lines = [
        f"{display_name(check)} is {status}.",
        "",
        f"What happened: {what_happened(check, flip)}.",
        f"When: {flip.at.isoformat()} (status {flip.old} -> {flip.new})",
        f"Schedule: {_schedule_text(check)}, grace {check.grace} s",
    ]
    if check.tags:
        lines.append(f"Tags: {check.tags}")
    lines.append("")
    lines.extend(_last_ping_lines(last_ping))
    lines += [
        "",
        f"Check: {check.site_root}/api/v3/checks/{check.uuid}",
        f"Ping URL: {ping_url(check, ping_endpoint)}",
        f"Flip id: {flip.id}",
    ]
    # Every field stays on its own line: a control character in a name, a tag, a header or
    # a body line shows as an escape instead of forging a line of the message.
    return "\n".join(printable(line) for line in lines)


def _schedule_text(check: Check) -> str:
    if check.kind == "cron":
        return f"cron '{check.schedule}' ({check.tz})"
    return f"every {check.timeout} s"


def _last_ping_lines(last_ping: LoggedPing | None) -> list[str]:
    if last_ping is None:
        return ["Last ping: none received."]
    ping = last_ping.ping
    lines = [
        f"Last ping: #{last_ping.n} {last_ping.kind} at {last_ping.at.isoformat()}",
        f"  from {ping.remote_addr or 'unknown'} via {ping.method} {ping.scheme}"
        + (f", exit status {ping.exitstatus}" if ping.exitstatus is not None else ""),
    ]
    if ping.body:
        lines += ["  body:", *("    " + line for line in _excerpt(ping.body).splitlines())]
    return lines
