"""Pure check logic: deadlines, status, the effect of a ping, and what a sweep decides.

Nothing here touches boto3 or the clock: every function takes ``now``. Datetimes are tz-aware
UTC throughout; the schedule module converts to the check's own zone only to find cron fires.

Vocabulary (the Healthchecks words): a *ping* arrives; ``/start`` opens a *run* keyed by rid;
the *deadline* is when the next success is expected; the check goes *down* at deadline + grace,
or when a run outlives ``max_duration`` (an *overrun*). Every status change is a *flip*. Flips
wait in the check's *outbox* until they are recorded and, if they notify, published.
"""

from __future__ import annotations

import uuid as uuidlib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Literal

from chalicelib import schedule

Status = Literal["new", "up", "down", "paused"]
Kind = Literal["simple", "cron"]
Action = Literal["success", "start", "fail", "log", "progress", "ign"]
FlipReason = Literal["timeout", "fail", "overrun", "ping", "pause", "resume"]

DEFAULT_TIMEOUT_SECONDS = 86_400
DEFAULT_GRACE_SECONDS = 3_600
DEFAULT_SCHEDULE = "* * * * *"
# A run id is optional; runs opened without one share this key.
NO_RID = "no-rid"  # never a valid rid, and DynamoDB map keys cannot be empty
# How long the writer of a flip owns its delivery before a sweep may retry it.
DELIVERY_LEASE = timedelta(seconds=60)
# A failed publish is retried on each of the next sweeps a few times (a throttle, a blip),
# then ever less often, so an undeliverable alert does not cost every sweep a publish.
FAST_RETRIES = 3
MAX_RETRY_DELAY = timedelta(minutes=15)
# Runs that are never closed (a job that crashed after /start with a fresh rid each time)
# must not grow the item without bound.
MAX_OPEN_RUNS = 50


@dataclass(frozen=True)
class Flip:
    id: str
    at: datetime
    old: Status
    new: Status
    reason: FlipReason
    lease: datetime
    attempts: int = 0  # publishes that failed so far

    @property
    def notifies(self) -> bool:
        """Down always alerts; up alerts only when it ends an outage (not new→up, paused→up).

        Pause and resume flips are recorded but notify nobody.
        """
        return self.new == "down" or (self.new == "up" and self.old == "down")


@dataclass(frozen=True)
class Check:
    uuid: str
    project: str
    created: datetime
    name: str = ""
    slug: str = ""
    tags: str = ""
    desc: str = ""
    kind: Kind = "simple"
    timeout: int = DEFAULT_TIMEOUT_SECONDS
    grace: int = DEFAULT_GRACE_SECONDS
    schedule: str = DEFAULT_SCHEDULE
    tz: str = "UTC"
    max_duration: int | None = None
    manual_resume: bool = False
    methods: str = ""
    filter_subject: bool = False
    filter_body: bool = False
    filter_http_body: bool = False
    filter_default_fail: bool = False
    start_kw: str = ""
    success_kw: str = ""
    failure_kw: str = ""
    # Vigil has one alert channel, the deployment's SNS topic. Checks use it unless the API
    # was told ``channels: ""``: an unmonitored check is what Vigil exists to prevent.
    alerts_enabled: bool = True
    # The routed channel ids, comma-separated (chalicelib/routing.py). None on checks from
    # before channels existed: they route to the deployment's topic if alerts_enabled.
    channel_ids: str | None = None
    badge_key: str = ""
    site_root: str = ""
    # State. ``sv`` (state version) changes with every write that changes status, runs or
    # the outbox; writes are conditional on it, so no update is ever based on a stale read.
    status: Status = "new"
    n_pings: int = 0
    last_ping: datetime | None = None
    last_duration: float | None = None
    runs: Mapping[str, datetime] = field(default_factory=dict)
    outbox: Mapping[str, Flip] = field(default_factory=dict)
    sv: int = 0

    @property
    def run_limit(self) -> timedelta:
        """How long a run may last; Healthchecks uses grace, so that is the default."""
        return timedelta(seconds=self.max_duration or self.grace)

    @property
    def tag_list(self) -> list[str]:
        return [t for t in self.tags.split(" ") if t]


@dataclass(frozen=True)
class Ping:
    action: Action
    rid: str | None = None
    exitstatus: int | None = None
    method: str = "GET"
    ua: str = ""
    remote_addr: str = ""
    scheme: str = "http"
    body: bytes = b""


@dataclass(frozen=True)
class LoggedPing:
    """A ping as kept in the check's log: its sequence number, time and effective kind."""

    n: int
    at: datetime
    kind: str
    ping: Ping


@dataclass(frozen=True)
class PingResult:
    check: Check
    kind: Action
    flip: Flip | None
    duration: float | None


def require_aware(now: datetime) -> None:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("naive datetime: pass a tz-aware UTC time")


# --- deadlines --------------------------------------------------------------------------


def schedule_deadline(check: Check) -> datetime | None:
    """When the next success is due (Healthchecks' grace start); None if nothing is expected."""
    if check.status != "up" or check.last_ping is None:
        return None
    if check.kind == "cron":
        return schedule.next_fire(check.schedule, check.tz, check.last_ping)
    return check.last_ping + timedelta(seconds=check.timeout)


def run_deadlines(check: Check) -> dict[str, datetime]:
    """Each open run's overrun time. A check that is already down has nothing left to flip."""
    if check.status == "down":
        return {}
    limit = check.run_limit
    return {rid: started + limit for rid, started in check.runs.items()}


def down_deadline(check: Check) -> datetime | None:
    """When silence turns the check down: schedule deadline + grace."""
    deadline = schedule_deadline(check)
    return None if deadline is None else deadline + timedelta(seconds=check.grace)


def alert_after(check: Check) -> datetime | None:
    """The earliest moment a sweep has work on this check; None keeps it out of the due index.

    That is the earliest of: going down by silence, any run overrunning, and any undelivered
    flip whose delivery lease has run out.
    """
    candidates = list(run_deadlines(check).values())
    down_at = down_deadline(check)
    if down_at is not None:
        candidates.append(down_at)
    candidates.extend(flip.lease for flip in check.outbox.values())
    return min(candidates) if candidates else None


def display_status(check: Check, now: datetime) -> str:
    """The API's status: stored status, plus ``grace`` and ``down`` as time passes."""
    if any(now >= at for at in run_deadlines(check).values()):
        return "down"
    if check.status != "up":
        return check.status
    deadline = schedule_deadline(check)
    if deadline is None:
        return "up"
    if now >= deadline + timedelta(seconds=check.grace):
        return "down"
    if now >= deadline:
        return "grace"
    return "up"


# --- pings ------------------------------------------------------------------------------


def apply_ping(check: Check, ping: Ping, now: datetime, lease_from: datetime) -> PingResult:
    """Return the check after ``ping`` at ``now``, with the flip it causes, if any.

    ``lease_from`` is when the writer starts delivering a flip (see ``new_flip``).
    """
    require_aware(now)
    kind = _effective_action(check, ping)
    if kind in ("log", "progress", "ign"):
        return PingResult(check, kind, None, None)
    if kind == "start":
        runs = _open_run(check.runs, ping.rid, now)
        return PingResult(replace(check, runs=runs), kind, None, None)
    runs, duration = _close_runs(check.runs, ping.rid, now)
    new_status: Status = "up" if kind == "success" else "down"
    updated = replace(check, last_ping=now, last_duration=duration, runs=runs)
    flip = None
    if new_status != check.status:
        reason: FlipReason = "ping" if new_status == "up" else "fail"
        flip = new_flip(check, now, new_status, reason, lease_from)
        updated = replace(updated, status=new_status, outbox={**check.outbox, flip.id: flip})
    return PingResult(updated, kind, flip, duration)


def _effective_action(check: Check, ping: Ping) -> Action:
    """Healthchecks' order (hc-protocol §1.3): URL, then method, then body keywords, then pause."""
    if check.methods == "POST" and ping.method != "POST":
        return "ign"
    action = ping.action
    # A progress ping only says "still running"; its message must never finish the run.
    if check.filter_http_body and action != "progress":
        action = classify_body(check, ping.body)
    if check.status == "paused" and check.manual_resume:
        return "ign"
    return action


def classify_body(check: Check, body: bytes) -> Action:
    """Keywords override the URL's action: failure, then success, then start."""
    text = body.decode("utf-8", errors="replace")
    if match_keywords(text, check.failure_kw):
        return "fail"
    if match_keywords(text, check.success_kw):
        return "success"
    if match_keywords(text, check.start_kw):
        return "start"
    return "fail" if check.filter_default_fail else "ign"


def match_keywords(text: str, keywords: str) -> bool:
    """Comma-separated, stripped, empties ignored, case-sensitive substring match."""
    return any(kw.strip() and kw.strip() in text for kw in keywords.split(","))


def _open_run(runs: Mapping[str, datetime], rid: str | None, now: datetime) -> dict[str, datetime]:
    opened = {**runs, rid or NO_RID: now}
    if len(opened) > MAX_OPEN_RUNS:
        # Drop the oldest: a run that old has long since overrun and alerted.
        oldest = sorted(opened, key=lambda key: opened[key])[: len(opened) - MAX_OPEN_RUNS]
        for key in oldest:
            del opened[key]
    return opened


def _close_runs(
    runs: Mapping[str, datetime], rid: str | None, now: datetime
) -> tuple[dict[str, datetime], float | None]:
    """A success or fail with a rid closes that run; one without a rid closes every run."""
    if rid is None:
        started = runs.get(NO_RID)
        return {}, None if started is None else (now - started).total_seconds()
    if rid not in runs:
        return dict(runs), None
    remaining = {key: at for key, at in runs.items() if key != rid}
    return remaining, (now - runs[rid]).total_seconds()


def new_flip(
    check: Check, at: datetime, new: Status, reason: FlipReason, lease_from: datetime
) -> Flip:
    """A flip dated ``at``, whose delivery its writer owns for a lease counted from ``lease_from``.

    The lease runs from the writer's clock, not from ``at``: a sweep dates a flip at the past
    deadline, and a lease measured from there would already have expired, letting a second
    sweeper deliver the same flip. The id is stable, so racing writers agree on it.
    """
    flip_id = str(uuidlib.uuid5(uuidlib.UUID(check.uuid), f"flip-{check.sv + 1}"))
    return Flip(flip_id, at, check.status, new, reason, lease=lease_from + DELIVERY_LEASE)


# --- pause and resume -----------------------------------------------------------------


def pause(check: Check, now: datetime) -> tuple[Check, Flip | None]:
    """Stop monitoring: runs are dropped and nothing goes down until the next ping."""
    if check.status == "paused":
        return check, None
    flip = new_flip(check, now, "paused", "pause", now)
    paused = replace(check, status="paused", runs={}, outbox={**check.outbox, flip.id: flip})
    return paused, flip


def resume(check: Check, now: datetime) -> tuple[Check, Flip]:
    """Back to new: it waits for its first ping as a fresh check would."""
    flip = new_flip(check, now, "new", "resume", now)
    resumed = replace(
        check, status="new", runs={}, last_ping=None, outbox={**check.outbox, flip.id: flip}
    )
    return resumed, flip


# --- sweeps -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Overdue:
    at: datetime
    reason: FlipReason
    expired_runs: frozenset[str]


def find_overdue(check: Check, now: datetime) -> Overdue | None:
    """The earliest deadline already passed at ``now``, or None if the check is fine."""
    require_aware(now)
    expired = {rid: at for rid, at in run_deadlines(check).items() if at <= now}
    candidates: list[tuple[datetime, FlipReason]] = [(at, "overrun") for at in expired.values()]
    down_at = down_deadline(check)
    if down_at is not None and down_at <= now:
        candidates.append((down_at, "timeout"))
    if not candidates:
        return None
    at, reason = min(candidates, key=lambda pair: pair[0])
    return Overdue(at, reason, frozenset(expired))


def flip_down(check: Check, overdue: Overdue, lease_from: datetime) -> tuple[Check, Flip]:
    """The check gone down at the overdue time. Overrun runs are closed so they fire once."""
    flip = new_flip(check, overdue.at, "down", overdue.reason, lease_from)
    runs = {rid: at for rid, at in check.runs.items() if rid not in overdue.expired_runs}
    down = replace(check, status="down", runs=runs, outbox={**check.outbox, flip.id: flip})
    return down, flip


def deliverable(check: Check, now: datetime) -> list[Flip]:
    """Flips in the outbox whose delivery lease has run out, oldest first."""
    return sorted((flip for flip in check.outbox.values() if flip.lease <= now), key=lambda f: f.at)


def retry_delay(failures: int) -> timedelta:
    """How long after its ``failures``-th failed publish a flip is retried.

    One minute (the next sweep) three times, then 2, 4 and 8 minutes, then every 15.
    """
    if failures <= FAST_RETRIES:
        return DELIVERY_LEASE
    doublings = min(failures - FAST_RETRIES, 10)  # 2**10 minutes is past the cap already
    return min(DELIVERY_LEASE * (1 << doublings), MAX_RETRY_DELAY)


def after_failed_publish(flip: Flip, now: datetime) -> Flip:
    """The flip with one more failure counted, leased until its next retry."""
    failures = flip.attempts + 1
    return replace(flip, attempts=failures, lease=now + retry_delay(failures))


def with_flip(check: Check, flip: Flip) -> Check:
    return replace(check, outbox={**check.outbox, flip.id: flip})


def without_flip(check: Check, flip_id: str) -> Check:
    return replace(check, outbox={k: v for k, v in check.outbox.items() if k != flip_id})


def has_state_change(before: Check, after: Check) -> bool:
    """Whether a write must bump the state version (and so conflict with concurrent writes)."""
    return (
        before.status != after.status
        or before.runs != after.runs
        or before.outbox.keys() != after.outbox.keys()
    )
