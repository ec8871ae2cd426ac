"""No false alerts across DST: a job run exactly as Debian cron runs it never looks late.

cronsim (Healthchecks' parser, which follows Debian cron) plays the cron daemon; Vigil's own
schedule code (croniter, normalised) computes the deadlines. The sweeper is simulated every
minute across both transitions of the year.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from cronsim import CronSim

from chalicelib import domain, sweep_rules
from chalicelib.domain import Check, Ping

UUID = "9f1c3b5e-2d4a-4c6b-8e0f-1a2b3c4d5e6f"
GRACE = timedelta(minutes=5)

# (zone, a day before the spring change, a day before the autumn change)
ZONES = {
    "Europe/Riga": (datetime(2026, 3, 28), datetime(2026, 10, 24)),
    "America/New_York": (datetime(2026, 3, 7), datetime(2026, 10, 31)),
    "Australia/Sydney": (datetime(2026, 10, 3), datetime(2026, 4, 4)),
}
SCHEDULES = [
    "30 3 * * *",  # Riga's repeated and skipped hour
    "30 1 * * *",  # New York's repeated hour
    "30 2 * * *",  # New York's skipped hour, Sydney's both
    "15 2,3 * * *",
    "0 * * * *",
    "*/30 * * * *",
    "0 */3 * * *",
    "45 23 * * 6",
]


def cron_runs(expr: str, tz: str, start: datetime, days: int) -> list[datetime]:
    """When Debian cron runs the job, in UTC."""
    zone = ZoneInfo(tz)
    end = start.replace(tzinfo=zone) + timedelta(days=days)
    runs: list[datetime] = []
    for local in CronSim(expr, start.replace(tzinfo=zone)):
        if local > end:
            return runs
        runs.append(local.astimezone(UTC))
    return runs


def simulate(expr: str, tz: str, start: datetime, days: int, jitter: timedelta) -> list[datetime]:
    """Ping at every cron run (+ jitter); return each moment a sweep would have alerted.

    The sweeper only looks at a check once its stored ``alert_after`` has passed, so between
    two pings it alerts exactly when ``alert_after`` comes before the next ping; the overdue
    verdict is checked right there too.
    """
    pings = [run + jitter for run in cron_runs(expr, tz, start, days)]
    check = Check(
        uuid=UUID,
        project="p",
        created=pings[0],
        kind="cron",
        schedule=expr,
        tz=tz,
        grace=int(GRACE.total_seconds()),
        status="up",
        last_ping=pings[0],
    )
    alerts: list[datetime] = []
    for at in pings[1:]:
        due = domain.alert_after(check)
        if due is not None and due <= at:
            alerts.append(due)
        assert sweep_rules.find_overdue(check, at - timedelta(seconds=1)) is None or (
            due is not None and due <= at
        )
        check = domain.apply_ping(check, Ping("success"), at, lease_from=at).check
    return alerts


@pytest.mark.parametrize("expr", SCHEDULES)
@pytest.mark.parametrize("tz", list(ZONES))
@pytest.mark.parametrize("transition", [0, 1], ids=["spring", "autumn"])
def test_job_run_as_cron_runs_it_never_alerts(expr: str, tz: str, transition: int) -> None:
    start = ZONES[tz][transition]
    assert simulate(expr, tz, start, days=3, jitter=timedelta(minutes=4, seconds=59)) == []


def test_a_missed_run_in_the_repeated_hour_still_alerts() -> None:
    """The normalisation must not hide real misses: skip the one autumn run and it alerts."""
    expr, tz = "30 3 * * *", "Europe/Riga"
    runs = cron_runs(expr, tz, datetime(2026, 10, 24), days=3)
    repeated_day = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 03:30+03:00, first occurrence
    assert repeated_day in runs
    before = runs[runs.index(repeated_day) - 1]
    check = Check(
        uuid=UUID,
        project="p",
        created=before,
        kind="cron",
        schedule=expr,
        tz=tz,
        grace=int(GRACE.total_seconds()),
        status="up",
        last_ping=before,
    )
    overdue = sweep_rules.find_overdue(check, repeated_day + GRACE)
    assert overdue is not None and overdue.at == repeated_day + GRACE


def test_croniter_alone_would_expect_a_second_run_in_the_repeated_hour() -> None:
    """Why the normalisation exists: the job runs once at 00:30Z, and not again at 01:30Z."""
    from chalicelib.schedule import next_fire

    first = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    assert next_fire("30 3 * * *", "Europe/Riga", first) == datetime(
        2026, 10, 26, 1, 30, tzinfo=UTC
    )
