"""What a sweep decides for a due check: the deadlines passed, the failures they count, the
down flip, and the reminder due. Pure rules, like ``chalicelib.domain`` (no AWS, no clock: ``now``
is an argument), kept apart from it because only the sweep (and a dependency's hold, through
``is_failing_at``) runs them: a ping's cold start does not import them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from chalicelib import domain, quiet
from chalicelib.domain import Check, Flip, FlipReason

# A sweep applies at most this many passed deadlines to one check in one pass (a sweeper that
# was away for a long time); the rest stay due for the next pass.
MAX_EVENTS_PER_SWEEP = 100


@dataclass(frozen=True)
class Overdue:
    """Why and since when a check is overdue, with the runs whose deadline passed."""

    at: datetime
    reason: FlipReason
    expired_runs: frozenset[str]


def find_overdue(check: Check, now: datetime) -> Overdue | None:
    """The earliest deadline already passed at ``now``, or None if the check is fine.

    ``expired_runs`` holds every run past its overrun or stall time at ``now``.
    """
    domain.require_aware(now)
    events = _passed_events(check, now)
    if not events:
        return None
    at, reason, _ = events[0]
    return Overdue(at, reason, frozenset(rid for _, _, rid in events if rid is not None))


def _passed_events(check: Check, now: datetime) -> list[tuple[datetime, FlipReason, str | None]]:
    """Deadlines passed at ``now``, earliest first: (when, reason, the run or None)."""
    events: list[tuple[datetime, FlipReason, str | None]] = []
    stalls = domain.stall_deadlines(check)
    for rid, overrun_at in domain.run_deadlines(check).items():
        stall_at = stalls.get(rid)
        # A run fails once, by whichever limit it reaches first.
        if stall_at is not None and stall_at < overrun_at:
            events.append((stall_at, "stalled", rid))
        else:
            events.append((overrun_at, "overrun", rid))
    down_at = domain.down_deadline(check)
    if down_at is not None:
        events.append((down_at, "timeout", None))
    return sorted((e for e in events if e[0] <= now), key=lambda e: (e[0], e[2] or ""))


def flip_down(check: Check, overdue: Overdue, lease_from: datetime) -> tuple[Check, Flip]:
    """The check gone down at the overdue time. Overrun runs are closed so they fire once."""
    runs = {rid: at for rid, at in check.runs.items() if rid not in overdue.expired_runs}
    check = replace(
        check,
        runs=runs,
        progress={rid: at for rid, at in check.progress.items() if rid in runs},
        failures=check.failures + 1,
    )
    return domain.go_down(check, overdue.at, overdue.reason, lease_from)


@dataclass(frozen=True)
class Advance:
    """What a sweep found due on a check: its new state and the flips to deliver."""

    check: Check
    flips: tuple[Flip, ...]


def advance(check: Check, now: datetime, lease_from: datetime) -> Advance:
    """Apply every deadline passed at ``now``, in time order, then any reminder due.

    Each passed deadline is one failure: a run that overran or stalled is closed, a missed
    run moves the expected one on. At ``fail_threshold`` failures the check goes down, at the
    time of the deadline that reached it; runs expired by then are closed with it.
    """
    domain.require_aware(now)
    flips: list[Flip] = []
    for _ in range(MAX_EVENTS_PER_SWEEP):
        events = _passed_events(check, now)
        if not events:
            break
        at, reason, rid = events[0]
        if check.failures + 1 >= check.fail_threshold:
            expired = frozenset(r for _, _, r in events if r is not None)
            check, flip = flip_down(check, Overdue(at, reason, expired), lease_from)
            flips.append(flip)
            break
        check = _count_missed(check, at, reason, rid, lease_from)
    check, reminder = due_reminder(check, now, lease_from)
    if reminder is not None:
        flips.append(reminder)
    return Advance(check, tuple(flips))


def _count_missed(
    check: Check, at: datetime, reason: FlipReason, rid: str | None, lease_from: datetime
) -> Check:
    """One failure below the threshold: close the run, or expect the run after the missed one."""
    if rid is not None:
        runs = {key: started for key, started in check.runs.items() if key != rid}
        progress = {key: beat for key, beat in check.progress.items() if key != rid}
        check = replace(check, runs=runs, progress=progress)
    else:
        check = replace(check, missed=at - timedelta(seconds=check.grace))
    counted, _ = domain.register_failure(check, at, reason, lease_from)
    return counted


def due_reminder(check: Check, now: datetime, lease_from: datetime) -> tuple[Check, Flip | None]:
    """The reminder due at ``now``, if any, as a flip to deliver.

    A sweep that comes late sends only the latest reminder due; one that falls in a quiet
    window is skipped, not sent later. Either way the count moves on, so each goes once.
    """
    due = domain.next_reminder(check)
    outage = check.outage
    if due is None or due > now or outage is None:
        return check, None
    every = timedelta(seconds=check.repeat_every)
    k = (now - outage.at) // every
    check = replace(check, reminded=k)
    if quiet.is_quiet(check.quiet, check.tz, outage.at + k * every):
        return check, None
    reminder = replace(
        outage,
        reminder=k,
        failures=check.failures,
        lease=lease_from + domain.DELIVERY_LEASE,
        attempts=0,
        held=False,
    )
    return replace(check, outbox={**check.outbox, reminder.key: reminder}), reminder


def is_failing_at(check: Check, at: datetime) -> bool:
    """Whether ``check`` is down, or past a deadline it has not yet been swept for, at ``at``.

    An upstream in this state holds the down alerts of the checks that depend on it.
    """
    if check.status == "paused":
        return False
    if check.status == "down":
        return check.outage is None or check.outage.at <= at
    return find_overdue(check, at) is not None
