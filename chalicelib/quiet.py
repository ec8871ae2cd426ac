"""Quiet windows: the times a check's down alerts and reminders wait (issue 11, item 5).

A window opens at each fire of its 5-field cron schedule, in its own IANA zone with the
Debian-cron DST rules of ``schedule.next_fire`` (a fixed-time window skipped by a spring-forward
opens at the transition; one in a repeated autumn hour opens once), and stays open ``duration``
seconds: from the opening instant up to, not including, the close. Pure: no clock, no I/O.

Finding the open window asks "is there a fire in (at - duration, at]?". ``next_fire`` only
looks forward, so the search gallops backwards from ``at`` (1 min, 2, 4, ... up to the window's
duration) until it finds a fire, then walks forward to the last fire before ``at``: a handful
of cron evaluations for any schedule, never one per minute of a week-long window.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from chalicelib import schedule

MAX_WINDOWS = 10
MIN_DURATION_SECONDS = 60
MAX_DURATION_SECONDS = 604_800
# Windows that close inside another open window chain; a bound keeps a pathological set
# (ten overlapping week-long windows) from looping.
MAX_CHAINED = 2 * MAX_WINDOWS
_FIRST_STEP = timedelta(minutes=1)


@dataclass(frozen=True)
class QuietWindow:
    """A recurring window (a cron schedule and a duration) in which alerts wait."""

    schedule: str
    duration: int  # seconds
    tz: str | None = None  # None: the check's zone

    def to_dict(self, check_tz: str) -> dict[str, Any]:
        return {"schedule": self.schedule, "duration": self.duration, "tz": self.tz or check_tz}


def window_close(window: QuietWindow, check_tz: str, at: datetime) -> datetime | None:
    """The close of ``window``'s opening that covers ``at``, or None if it is shut at ``at``."""
    length = timedelta(seconds=window.duration)
    zone = window.tz or check_tz
    step = _FIRST_STEP
    while True:
        since = at - min(step, length)
        fire = schedule.next_fire(window.schedule, zone, since)
        if fire <= at:
            return _last_fire_until(window.schedule, zone, fire, at) + length
        if step >= length:
            return None
        step *= 2


def _last_fire_until(expr: str, zone: str, fire: datetime, at: datetime) -> datetime:
    while True:
        following = schedule.next_fire(expr, zone, fire)
        if following > at:
            return fire
        fire = following


def open_until(windows: Iterable[QuietWindow], check_tz: str, at: datetime) -> datetime | None:
    """When quiet ends, if any window is open at ``at``; windows that overlap chain together."""
    windows = tuple(windows)
    if not windows:
        return None
    until: datetime | None = None
    moment = at
    for _ in range(MAX_CHAINED):
        closes = [c for w in windows if (c := window_close(w, check_tz, moment)) is not None]
        if not closes:
            return until
        until = max(closes)
        moment = until
    return until


def is_quiet(windows: Iterable[QuietWindow], check_tz: str, at: datetime) -> bool:
    return open_until(windows, check_tz, at) is not None


def parse_window(raw: Mapping[str, Any], name: str) -> QuietWindow:
    """One window from API JSON; ``ValueError`` carries the Healthchecks-style problem text."""
    unknown = set(raw) - {"schedule", "duration", "tz"}
    if unknown:
        raise ValueError(f"{name} has an unexpected field")
    expr = raw.get("schedule")
    if not isinstance(expr, str):
        raise ValueError(f"{name} schedule is not a string")
    try:
        schedule.validate_cron(expr)
    except schedule.InvalidSchedule:
        raise ValueError(f"{name} schedule is not a valid cron expression") from None
    duration = raw.get("duration")
    if isinstance(duration, bool) or not isinstance(duration, int):
        raise ValueError(f"{name} duration is not a number")
    if duration < MIN_DURATION_SECONDS:
        raise ValueError(f"{name} duration is too small")
    if duration > MAX_DURATION_SECONDS:
        raise ValueError(f"{name} duration is too large")
    zone = raw.get("tz")
    if zone is not None:
        if not isinstance(zone, str):
            raise ValueError(f"{name} tz is not a string")
        try:
            zone = schedule.validate_tz(zone)
        except schedule.InvalidTimezone:
            raise ValueError(f"{name} tz is not a valid timezone") from None
    return QuietWindow(expr, duration, zone)
