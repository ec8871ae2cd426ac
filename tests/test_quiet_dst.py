"""Quiet windows across DST, in two zones (issue 11, item 5).

A window opens at each fire of its schedule with Debian cron's DST rules (the ones cronsim, the
Healthchecks parser, follows): a fixed-time opening skipped by the spring-forward happens at the
transition, one in the repeated autumn hour happens once. It stays open ``duration`` real
seconds, from the opening instant up to, not including, the close.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from cronsim import CronSim

from chalicelib import quiet
from chalicelib.quiet import QuietWindow

S = timedelta(seconds=1)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def edges(window: QuietWindow, opens: datetime, closes: datetime) -> list[bool]:
    """Open or not one second before, at, and one second after each edge."""
    instants = [opens - S, opens, opens + S, closes - S, closes, closes + S]
    return [quiet.is_quiet([window], "UTC", at) for at in instants]


OPEN_EDGES = [False, True, True, True, False, False]


@pytest.mark.parametrize(
    ("window", "opens", "closes"),
    [
        # New York, spring forward 2026-03-08 02:00 -> 03:00: 02:30 never shows; the window
        # opens at the transition (07:00Z), for one real hour.
        (
            QuietWindow("30 2 * * *", 3600, "America/New_York"),
            utc(2026, 3, 8, 7),
            utc(2026, 3, 8, 8),
        ),
        # New York, fall back 2026-11-01: 01:30 shows twice; the window opens once, at the
        # first (05:30Z).
        (
            QuietWindow("30 1 * * *", 1800, "America/New_York"),
            utc(2026, 11, 1, 5, 30),
            utc(2026, 11, 1, 6),
        ),
        # Riga, spring forward 2026-03-29 03:00 -> 04:00: 03:30 never shows; opens at 04:00+03.
        (QuietWindow("30 3 * * *", 3600, "Europe/Riga"), utc(2026, 3, 29, 1), utc(2026, 3, 29, 2)),
        # Riga, fall back 2026-10-25 04:00 -> 03:00: 03:30 shows twice; opens once (00:30Z).
        (
            QuietWindow("30 3 * * *", 1800, "Europe/Riga"),
            utc(2026, 10, 25, 0, 30),
            utc(2026, 10, 25, 1),
        ),
        # A window spanning the change lasts its real duration: 8 h from midnight EST is 09:00 EDT.
        (
            QuietWindow("0 0 * * *", 8 * 3600, "America/New_York"),
            utc(2026, 3, 8, 5),
            utc(2026, 3, 8, 13),
        ),
    ],
)
def test_windows_open_and_close_at_the_right_instants(
    window: QuietWindow, opens: datetime, closes: datetime
) -> None:
    assert edges(window, opens, closes) == OPEN_EDGES


@pytest.mark.parametrize(
    ("window", "second_pass"),
    [
        (QuietWindow("30 1 * * *", 1800, "America/New_York"), utc(2026, 11, 1, 6, 30)),
        (QuietWindow("30 3 * * *", 1800, "Europe/Riga"), utc(2026, 10, 25, 1, 30)),
    ],
)
def test_the_repeated_hour_does_not_open_the_window_twice(
    window: QuietWindow, second_pass: datetime
) -> None:
    assert not quiet.is_quiet([window], "UTC", second_pass)
    assert not quiet.is_quiet([window], "UTC", second_pass + 10 * 60 * S)


def test_the_window_zone_defaults_to_the_checks() -> None:
    window = QuietWindow("0 2 * * *", 3600)
    at = utc(2026, 7, 1, 23, 30)  # 02:30 in Riga (UTC+3)
    assert quiet.is_quiet([window], "Europe/Riga", at)
    assert not quiet.is_quiet([window], "UTC", at)


def test_overlapping_windows_chain_into_one_quiet_period() -> None:
    windows = [QuietWindow("0 1 * * *", 3600, "UTC"), QuietWindow("30 1 * * *", 3600, "UTC")]
    assert quiet.open_until(windows, "UTC", utc(2026, 5, 1, 1, 10)) == utc(2026, 5, 1, 2, 30)


def _cronsim_open(window: QuietWindow, at: datetime) -> bool:
    """The oracle: walk cronsim's fires (Debian semantics) from a day before."""
    zone = ZoneInfo(window.tz or "UTC")
    start = (at - timedelta(seconds=window.duration) - S).astimezone(zone)
    for fire in CronSim(window.schedule, start):
        fire_utc = fire.astimezone(UTC)
        if fire_utc > at:
            return False
        if at < fire_utc + timedelta(seconds=window.duration):
            return True
    return False


@pytest.mark.parametrize("zone", ["America/New_York", "Europe/Riga"])
@pytest.mark.parametrize("expr", ["30 2 * * *", "0 3 * * *", "15 1 * * *", "0 */2 * * *"])
def test_agrees_with_cronsim_minute_by_minute_across_both_transitions(zone: str, expr: str) -> None:
    window = QuietWindow(expr, 2700, zone)
    for day in (
        utc(2026, 3, 7, 22),
        utc(2026, 3, 28, 22),
        utc(2026, 10, 24, 22),
        utc(2026, 10, 31, 22),
    ):
        for minute in range(0, 14 * 60, 7):
            at = day + timedelta(minutes=minute)
            assert quiet.is_quiet([window], "UTC", at) == _cronsim_open(window, at), at
