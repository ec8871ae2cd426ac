"""A month of simulated jobs, for issue 11's rules: who pings when, and what alerts that must give.

Jobs run as cron would run them (cronsim, Debian semantics: an independent oracle for the
schedule code) plus jitter inside grace. Each injected fault comes with the alerts the rules
say it gives, written here from the rules, never from the code under test. ``run`` drives the
real use cases (``record_ping``, ``sweep``) on any store, sweeping each minute that something
is due, as EventBridge's one-minute schedule would.
"""

from __future__ import annotations

import random
import uuid as uuidlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

from cronsim import CronSim

from chalicelib import domain, management, service, sweeps
from chalicelib.domain import Action, Ping
from chalicelib.quiet import QuietWindow
from chalicelib.spec import CheckSpec
from chalicelib.store import KeyGrant

MIN = timedelta(minutes=1)
HOUR = timedelta(hours=1)
# Both DST changes of the month: Europe on Oct 25, the Americas on Nov 1.
START = datetime(2026, 10, 15, tzinfo=UTC)
ZONES = (
    "UTC",
    "Europe/Riga",
    "America/New_York",
    "America/Los_Angeles",
    "Europe/London",
    "Asia/Kolkata",
)
# A daily job at a time each zone repeats when its clock falls back (or a plain one).
NIGHTLY = {
    "Europe/Riga": "30 3 * * *",
    "Europe/London": "30 1 * * *",
    "America/New_York": "30 1 * * *",
    "America/Los_Angeles": "30 1 * * *",
}
WINDOW = QuietWindow("0 2 * * *", 7200)  # 02:00-04:00 in the check's zone


@dataclass(frozen=True)
class Expected:
    event: str  # down, up, reminder
    reason: str | None = None
    reminder: int | None = None
    at: datetime | None = None  # the flip's time, where the rules fix it
    held_by: tuple[str, ...] = ()


@dataclass
class Job:
    name: str
    spec: dict[str, Any]
    pings: list[tuple[datetime, str, str | None]] = field(default_factory=list)
    expected: list[Expected] = field(default_factory=list)
    fault: str = "none"
    depends_on: tuple[str, ...] = ()  # names
    uuid: str = ""


@dataclass
class Scenario:
    jobs: list[Job]
    end: datetime

    def faults(self) -> Counter[str]:
        return Counter(job.fault for job in self.jobs if job.fault != "none")


def fires(expr: str, zone: str, start: datetime, end: datetime) -> Iterator[datetime]:
    for fire in CronSim(expr, start.astimezone(ZoneInfo(zone))):
        moment = fire.astimezone(UTC)
        if moment >= end:
            return
        yield moment


def _local(zone: str, day: datetime, hour: int, minute: int = 0) -> datetime:
    """``hour:minute`` local time in ``zone`` on ``day``'s date, in UTC."""
    local = day.astimezone(ZoneInfo(zone)).replace(hour=hour, minute=minute, second=0)
    return local.astimezone(UTC)


# --- job families ------------------------------------------------------------------------


def hourly(rng: random.Random, name: str, zone: str, days: int, fault: str) -> Job:
    """A simple check (timeout 1 h, grace 10 min) pinged each hour with 0-5 min of jitter."""
    job = Job(name, {"timeout": 3600, "grace": 600, "tz": zone}, fault=fault)
    end = START + timedelta(days=days)
    times = [
        START + h * HOUR + rng.randint(0, 300) * timedelta(seconds=1) for h in range(days * 24)
    ]
    skip = len(times) // 2 + rng.randint(-20, 20)
    for index, at in enumerate(times):
        if fault == "miss" and index == skip:
            job.expected = [
                Expected("down", "timeout", at=times[index - 1] + HOUR + 10 * MIN),
                Expected("up"),
            ]
            continue
        job.pings.append((at, "", None))
    assert all(at < end for at, _, _ in job.pings)
    return job


def nightly(rng: random.Random, name: str, zone: str, days: int, fault: str) -> Job:
    """A long cron job: start, a progress ping every 10 min, success after 20-40 min."""
    expr = NIGHTLY.get(zone, "0 3 * * *")
    spec = {
        "schedule": expr,
        "tz": zone,
        "grace": 3600,
        "stall_timeout": 1200,
        "min_duration": 60,
        "max_duration": 3000,
    }
    job = Job(name, spec, fault=fault)
    runs = list(fires(expr, zone, START, START + timedelta(days=days)))
    faulty = min(max(len(runs) // 2 + rng.randint(-3, 3), 1), len(runs) - 2)
    for index, fire in enumerate(runs):
        rid = str(uuidlib.UUID(int=rng.getrandbits(128), version=4))
        start = fire + rng.randint(0, 300) * timedelta(seconds=1)
        length = rng.randint(20, 40) * MIN
        if index == faulty:
            length = _nightly_fault(job, fault, fire, start, rid)
            if length is None:
                continue
        job.pings.append((start, "start", rid))
        beat = start + 10 * MIN
        while beat < start + length - MIN and not (
            fault == "stall" and index == faulty and beat > start + 20 * MIN
        ):
            job.pings.append((beat, "progress", rid))
            beat += 10 * MIN
        if fault == "stall" and index == faulty:
            continue  # hung: no finish
        finish = "fail" if fault == "fail" and index == faulty else ""
        job.pings.append((start + length, finish, rid))
    return job


def _nightly_fault(job: Job, fault: str, fire: datetime, start: datetime, rid: str) -> Any:
    """The faulty night's run length (None: it never runs), and the alerts it must give."""
    if fault == "miss":
        job.expected = [Expected("down", "timeout", at=fire + HOUR), Expected("up")]
        return None
    if fault == "fail":
        length = 25 * MIN
        job.expected = [Expected("down", "fail", at=start + length), Expected("up")]
        return length
    if fault == "too_fast":
        job.expected = [
            Expected("down", "too_fast", at=start + 10 * timedelta(seconds=1)),
            Expected("up"),
        ]
        return 10 * timedelta(seconds=1)
    if fault == "stall":
        # Progress at +10 and +20 min, then silence: stalled 1200 s after the last one.
        job.expected = [Expected("down", "stalled", at=start + 40 * MIN), Expected("up")]
        return 60 * MIN
    if fault == "overrun":
        job.expected = [Expected("down", "overrun", at=start + 50 * MIN), Expected("up")]
        return 55 * MIN
    return 30 * MIN


def flaky(rng: random.Random, name: str, zone: str, days: int, fault: str) -> Job:
    """Hourly; fails now and then but never 3 times in a row (fail_threshold 3)."""
    spec = {
        "schedule": "0 * * * *",
        "tz": zone,
        "grace": 300,
        "fail_threshold": 3,
        "recover_threshold": 2,
    }
    job = Job(name, spec, fault=fault)
    runs = list(fires("0 * * * *", zone, START, START + timedelta(days=days)))
    faulty = len(runs) // 2 + rng.randint(-20, 20)
    streak = 0
    for index, fire in enumerate(runs):
        at = fire + rng.randint(0, 120) * timedelta(seconds=1)
        if fault == "fail" and faulty <= index < faulty + 3:
            job.pings.append((at, "fail", None))
            if index == faulty + 2:
                job.expected = [Expected("down", "fail", at=at)]
            continue
        if fault == "miss" and faulty <= index < faulty + 3:
            if index == faulty + 2:
                job.expected = [Expected("down", "timeout", at=fire + 5 * MIN)]
            continue
        if fault != "none" and index == faulty + 4:
            job.expected.append(Expected("up"))  # the second success in a row
        failed = streak < 2 and rng.random() < 0.15 and not faulty - 2 <= index <= faulty + 5
        streak = streak + 1 if failed else 0
        job.pings.append((at, "fail" if failed else "", None))
    return job


def quiet_hourly(rng: random.Random, name: str, zone: str, days: int, fault: str) -> Job:
    """Hourly, with a nightly quiet window (02:00-04:00 local) and hourly reminders."""
    job = hourly(rng, name, zone, days, "none")
    job.spec.update(quiet=[WINDOW.to_dict(zone)], repeat_every=3600)
    job.fault = fault
    # A faulty day well away from both DST changes, so local hours are plain.
    day = START + timedelta(days=min(5 + rng.randint(0, 3), days - 2))
    if fault == "in_window":
        # Fails at 02:30, fine again at 03:00: began and ended inside the window.
        _replace_pings(job, _local(zone, day, 2, 30), _local(zone, day, 3), "fail", keep_last=True)
    elif fault == "from_window":
        # Fails at 03:30 and stays silent until 06:00: the down alert waits for 04:00, then
        # reminders at 04:30 and 05:30.
        fail_at = _local(zone, day, 3, 30)
        _replace_pings(job, fail_at, _local(zone, day, 6), "fail", keep_last=False)
        job.expected = [
            Expected("down", "fail", at=fail_at),
            Expected("reminder", "fail", reminder=1),
            Expected("reminder", "fail", reminder=2),
            Expected("up"),
        ]
    elif fault == "reminders_skipped":
        # Fails at 23:30, silent until 05:00: reminders at 00:30 and 01:30 go, 02:30 and
        # 03:30 fall in the window and are skipped, 04:30 goes.
        fail_at = _local(zone, day, 23, 30)
        _replace_pings(
            job, fail_at, _local(zone, day + timedelta(days=1), 5), "fail", keep_last=False
        )
        job.expected = [Expected("down", "fail", at=fail_at)]
        job.expected += [Expected("reminder", "fail", reminder=k) for k in (1, 2, 5)]
        job.expected.append(Expected("up"))
    return job


def _replace_pings(
    job: Job, fail_at: datetime, back_at: datetime, kind: str, keep_last: bool
) -> None:
    """A fail ping at ``fail_at``, no pings until ``back_at``, then a success there."""
    kept = [p for p in job.pings if not fail_at - 10 * MIN <= p[0] <= back_at + 10 * MIN]
    job.pings = sorted([*kept, (fail_at, kind, None), (back_at, "", None)])
    del keep_last  # both shapes end with the success at ``back_at``


def chain(rng: random.Random, prefix: str, zone: str, days: int, fault: str) -> list[Job]:
    """An ETL chain: extract at :00, transform at :10 (depends on extract), load at :20."""
    steps = [("extract", "0 * * * *"), ("transform", "10 * * * *"), ("load", "20 * * * *")]
    jobs: list[Job] = []
    hours = list(fires("0 * * * *", zone, START, START + timedelta(days=days)))
    outage = len(hours) // 2 + rng.randint(-30, 30)
    for step, (name, expr) in enumerate(steps):
        upstream = (jobs[-1].name,) if jobs else ()
        job = Job(
            f"{prefix}-{name}", {"schedule": expr, "tz": zone, "grace": 900}, depends_on=upstream
        )
        job.fault = fault
        for index, hour in enumerate(hours):
            at = hour + step * 10 * MIN + rng.randint(0, 120) * timedelta(seconds=1)
            if _chain_skips(fault, step, index, outage):
                continue
            job.pings.append((at, "", None))
        job.expected = _chain_expected(fault, step, hours[outage], [j.name for j in jobs])
        jobs.append(job)
    return jobs


def _chain_skips(fault: str, step: int, index: int, outage: int) -> bool:
    if fault == "upstream_first":
        return index == outage  # the whole chain misses one hour
    if fault == "downstream_first":
        return index == outage or (step == 0 and index == outage + 1)  # extract is out 2 h
    return False


def _chain_expected(fault: str, step: int, hour: datetime, upstream: list[str]) -> list[Expected]:
    if fault == "none":
        return []
    if step == 0:
        return [Expected("down", "timeout", at=hour + 15 * MIN), Expected("up")]
    if fault == "downstream_first":
        return []  # held all along, recovered before extract did: nothing for that outage
    # Held while what it depends on is down, released (still down) when that recovers.
    at = hour + step * 10 * MIN + 15 * MIN
    return [Expected("down", "timeout", at=at, held_by=tuple(upstream)), Expected("up")]


def build(seed: int, days: int, scale: int) -> Scenario:
    """``scale`` 10 gives the month's 300 checks; each family keeps its share at any scale."""
    rng = random.Random(seed)
    jobs: list[Job] = []
    for i in range(10 * scale):
        fault = "miss" if i % 10 == 3 else "none"
        jobs.append(hourly(rng, f"hourly-{i}", ZONES[i % len(ZONES)], days, fault))
    nightly_faults = ("fail", "too_fast", "stall", "overrun", "miss")
    for i in range(6 * scale):
        fault = nightly_faults[i // 2 % 5] if i % 2 else "none"
        jobs.append(nightly(rng, f"nightly-{i}", ZONES[i % len(ZONES)], days, fault))
    for i in range(4 * scale):
        fault = ("fail", "miss")[i // 4 % 2] if i % 4 == 1 else "none"
        jobs.append(flaky(rng, f"flaky-{i}", ZONES[i % len(ZONES)], days, fault))
    quiet_faults = ("in_window", "from_window", "reminders_skipped")
    for i in range(4 * scale):
        fault = quiet_faults[i // 3 % 3] if i % 3 == 1 else "none"
        jobs.append(quiet_hourly(rng, f"quiet-{i}", ZONES[i % len(ZONES)], days, fault))
    for i in range(2 * scale):
        fault = ("upstream_first", "downstream_first")[i // 4 % 2] if i % 4 == 1 else "none"
        jobs.extend(chain(rng, f"etl-{i}", ZONES[i % len(ZONES)], days, fault))
    return Scenario(jobs, START + timedelta(days=days))


# --- running -----------------------------------------------------------------------------


@dataclass
class Outcome:
    alerts: dict[str, list[dict[str, Any]]]  # by job name, in publish order
    published_at: dict[str, list[datetime]]
    pings: int
    sweeps: int


class SimClock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


def run(scenario: Scenario, deps: Any, clock: SimClock, project: str, due_index: Any) -> Outcome:
    """Create the checks, then replay every ping in time order, sweeping each due minute.

    ``due_index()`` reads the store's due index (check uuid -> ``alert_after``). It is read
    after each sweep and kept current from each ping's stored check in between, so the sweep
    runs only in minutes when something is due, which is what a sweep every minute amounts to.
    """
    _create_checks(scenario, deps, project)
    timeline = sorted(
        (at, job.uuid, kind, rid) for job in scenario.jobs for at, kind, rid in job.pings
    )
    swept = index = 0
    minute = START
    dues: dict[str, datetime] = due_index()
    while minute <= scenario.end:
        due = min(dues.values(), default=None)
        next_ping = timeline[index][0] if index < len(timeline) else None
        next_sweep = None if due is None else max(minute, _ceil_minute(due))
        if next_ping is not None and (next_sweep is None or next_ping < next_sweep):
            at, check_uuid, kind, rid = timeline[index]
            clock.now = at
            stored = service.record_ping(
                deps, check_uuid, Ping(cast(Action, kind or "success"), rid=rid), at
            )
            _note_due(dues, stored)
            index += 1
            minute = max(minute, _ceil_minute(at))
            continue
        if next_sweep is None or next_sweep > scenario.end:
            break
        clock.now = next_sweep
        sweeps.sweep(deps, next_sweep)
        dues = due_index()
        swept += 1
        minute = next_sweep + MIN
    return _outcome(scenario, deps, len(timeline), swept)


def _note_due(dues: dict[str, datetime], check: Any) -> None:
    due = domain.alert_after(check)
    if due is None:
        dues.pop(check.uuid, None)
    else:
        dues[check.uuid] = due


def _create_checks(scenario: Scenario, deps: Any, project: str) -> None:
    grant = KeyGrant(project, "rw")
    by_name: dict[str, Job] = {}
    for job in scenario.jobs:
        spec = dict(job.spec)
        if job.depends_on:
            spec["depends_on"] = tuple(by_name[name].uuid for name in job.depends_on)
        if "quiet" in spec:
            spec["quiet"] = tuple(
                QuietWindow(w["schedule"], w["duration"], w["tz"]) for w in spec["quiet"]
            )
        check = management.create_check(
            deps, grant, CheckSpec(name=job.name, **spec), START, "http://sim"
        )
        job.uuid = check.uuid
        by_name[job.name] = job


def _outcome(scenario: Scenario, deps: Any, pings: int, sweeps: int) -> Outcome:
    names = {job.uuid: job.name for job in scenario.jobs}
    alerts: dict[str, list[dict[str, Any]]] = {job.name: [] for job in scenario.jobs}
    published: dict[str, list[datetime]] = {job.name: [] for job in scenario.jobs}
    for at, alert in deps.alerter.published:
        name = names[alert.document["check"]["uuid"]]
        alerts[name].append(alert.document)
        published[name].append(at)
    return Outcome(alerts, published, pings, sweeps)


def _ceil_minute(at: datetime) -> datetime:
    floor = at.replace(second=0, microsecond=0)
    return floor if floor == at else floor + MIN


def matches(expected: Expected, doc: dict[str, Any], uuids: dict[str, str]) -> bool:
    if doc["event"] != expected.event:
        return False
    if expected.reason is not None and doc["reason"] != expected.reason:
        return False
    if expected.reminder is not None and doc.get("reminder") != expected.reminder:
        return False
    if expected.at is not None and doc["flip"]["at"] != expected.at.isoformat():
        return False
    held_by = sorted(uuids[name] for name in expected.held_by)
    return doc.get("held_by", []) == held_by
