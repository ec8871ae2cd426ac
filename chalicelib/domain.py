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
from chalicelib.quiet import QuietWindow

Status = Literal["new", "up", "down", "paused"]
Kind = Literal["simple", "cron"]
Action = Literal["success", "start", "fail", "log", "progress", "ign"]
FlipReason = Literal["timeout", "fail", "overrun", "stalled", "too_fast", "ping", "pause", "resume"]

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
    """A status change of a check: when, from what to what, and why."""

    id: str
    at: datetime
    old: Status
    new: Status
    reason: FlipReason
    lease: datetime
    attempts: int = 0  # publishes that failed so far
    failures: int = 0  # consecutive failures when it was made
    reminder: int = 0  # k > 0: the k-th reminder of the outage this down flip began
    held: bool = False  # a down alert waiting for a quiet window or an upstream outage
    held_by: tuple[str, ...] = ()  # upstream checks that held it, so far
    silent: bool = False  # an up flip ending an outage whose down alert was never sent

    @property
    def key(self) -> str:
        """Its key in the outbox: a reminder shares its outage's flip id."""
        return self.id if not self.reminder else f"{self.id}#r{self.reminder}"

    @property
    def notifies(self) -> bool:
        """Down always alerts; up alerts only when it ends an outage (not new→up, paused→up).

        Pause and resume flips are recorded but notify nobody; nor does the up flip of an
        outage that was never announced (it began and ended while held).
        """
        if self.silent:
            return False
        return self.new == "down" or (self.new == "up" and self.old == "down")


@dataclass(frozen=True)
class Check:
    """A monitored job: its configuration, schedule and the state its pings and sweeps left."""

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
    # Run health (issue 11); each default keeps Healthchecks' behaviour.
    stall_timeout: int = 0
    min_duration: int = 0
    fail_threshold: int = 1
    recover_threshold: int = 1
    repeat_every: int = 0
    quiet: tuple[QuietWindow, ...] = ()
    depends_on: tuple[str, ...] = ()
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
    # State. ``sv`` (state version) changes with every write that changes status, runs, the
    # outbox or a hold in it (``has_state_change``); writes are conditional on it, so no update
    # is ever based on a stale read.
    status: Status = "new"
    n_pings: int = 0
    last_ping: datetime | None = None
    last_duration: float | None = None
    runs: Mapping[str, datetime] = field(default_factory=dict)
    progress: Mapping[str, datetime] = field(default_factory=dict)  # run -> last heartbeat
    outbox: Mapping[str, Flip] = field(default_factory=dict)
    failures: int = 0  # consecutive
    successes: int = 0  # consecutive, while down (towards recover_threshold)
    missed: datetime | None = None  # the last missed deadline, counted as a failure
    outage: Flip | None = None  # the down flip of the current outage
    reminded: int = 0  # reminders of the current outage published or skipped
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
    """One ping as received: its action, run id, exit status and request details."""

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
    """What recording a ping did: the updated check, the ping's kind, any flip, a run's duration."""

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
    # After a missed run that did not reach fail_threshold, the next run is expected after
    # the missed one: the next fire after it, or one timeout later.
    anchor = check.last_ping
    if check.missed is not None and check.missed > anchor:
        anchor = check.missed
    if check.kind == "cron":
        return schedule.next_fire(check.schedule, check.tz, anchor)
    return anchor + timedelta(seconds=check.timeout)


def run_deadlines(check: Check) -> dict[str, datetime]:
    """Each open run's overrun time. A check that is already down has nothing left to flip."""
    if check.status == "down":
        return {}
    limit = check.run_limit
    return {rid: started + limit for rid, started in check.runs.items()}


def stall_deadlines(check: Check) -> dict[str, datetime]:
    """Each open run's stall time: its last start or progress ping + ``stall_timeout``."""
    if check.status == "down" or not check.stall_timeout:
        return {}
    limit = timedelta(seconds=check.stall_timeout)
    return {rid: check.progress.get(rid, at) + limit for rid, at in check.runs.items()}


def down_deadline(check: Check) -> datetime | None:
    """When silence turns the check down: schedule deadline + grace."""
    deadline = schedule_deadline(check)
    return None if deadline is None else deadline + timedelta(seconds=check.grace)


def alert_after(check: Check) -> datetime | None:
    """The earliest moment a sweep has work on this check; None keeps it out of the due index.

    That is the earliest of: going down by silence, any run overrunning or stalling, any
    undelivered flip whose delivery lease has run out (a held alert's lease is when its hold
    is next judged), and the next reminder of an outage.
    """
    candidates = list(run_deadlines(check).values()) + list(stall_deadlines(check).values())
    down_at = down_deadline(check)
    if down_at is not None:
        candidates.append(down_at)
    candidates.extend(flip.lease for flip in check.outbox.values())
    reminder = next_reminder(check)
    if reminder is not None:
        candidates.append(reminder)
    return min(candidates) if candidates else None


def display_status(check: Check, now: datetime) -> str:
    """The API's status: stored status, plus ``grace`` and ``down`` as time passes.

    A check below its ``fail_threshold`` shows the status it will have after the sweep: up
    (or grace) until the failure that reaches the threshold.
    """
    if check.fail_threshold <= check.failures + 1:
        run_ends = [*run_deadlines(check).values(), *stall_deadlines(check).values()]
        if any(now >= at for at in run_ends):
            return "down"
    if check.status != "up":
        return check.status
    deadline = schedule_deadline(check)
    if deadline is None:
        return "up"
    if now >= deadline + timedelta(seconds=check.grace):
        return "down" if check.fail_threshold <= check.failures + 1 else "grace"
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
    if kind in ("log", "ign"):
        return PingResult(check, kind, None, None)
    if kind == "progress":
        return PingResult(mark_progress(check, ping.rid, now), kind, None, None)
    if kind == "start":
        runs = _open_run(check.runs, ping.rid, now)
        progress = {rid: at for rid, at in check.progress.items() if rid in runs}
        progress.pop(ping.rid or NO_RID, None)  # a restarted run begins a new heartbeat
        return PingResult(replace(check, runs=runs, progress=progress), kind, None, None)
    judged = _judged_run(check.runs, ping.rid)
    runs, duration = _close_runs(check.runs, ping.rid, now)
    updated = replace(
        check,
        last_ping=now,
        last_duration=duration,
        runs=runs,
        progress={rid: at for rid, at in check.progress.items() if rid in runs},
        missed=None,
    )
    too_fast = kind == "success" and _is_too_fast(check, judged, now)
    if kind == "fail" or too_fast:
        reason: FlipReason = "too_fast" if too_fast else "fail"
        updated, flip = register_failure(updated, now, reason, lease_from)
    else:
        updated, flip = register_success(updated, now, lease_from)
    return PingResult(updated, kind, flip, duration)


def mark_progress(check: Check, rid: str | None, now: datetime) -> Check:
    """A heartbeat from a running job: its run (every run, without a rid) is alive now.

    One that finds no run to mark opens one: the start ping may have been lost.
    """
    if rid is None and check.runs:
        return replace(check, progress={key: now for key in check.runs})
    key = rid or NO_RID
    runs = check.runs if key in check.runs else _open_run(check.runs, rid, now)
    progress = {k: at for k, at in check.progress.items() if k in runs}
    return replace(check, runs=runs, progress={**progress, key: now})


def _judged_run(runs: Mapping[str, datetime], rid: str | None) -> datetime | None:
    """When the run a success closes started: its rid's run, else the latest started."""
    if rid is not None:
        return runs.get(rid)
    return max(runs.values(), default=None)


def _is_too_fast(check: Check, started: datetime | None, now: datetime) -> bool:
    if not check.min_duration or started is None:
        return False  # a success that closes no run is not judged
    return now - started < timedelta(seconds=check.min_duration)


def register_failure(
    check: Check, at: datetime, reason: FlipReason, lease_from: datetime
) -> tuple[Check, Flip | None]:
    """Count a failure; the check goes down when the count reaches ``fail_threshold``."""
    check = replace(check, failures=check.failures + 1, successes=0)
    if check.status == "down":
        return check, None
    if check.failures >= check.fail_threshold:
        return go_down(check, at, reason, lease_from)
    if check.status != "up":
        # Below the threshold a new or paused check starts being watched, as a success would.
        flip = new_flip(check, at, "up", "ping", lease_from)
        return replace(check, status="up", outbox={**check.outbox, flip.key: flip}), flip
    return check, None


def register_success(check: Check, at: datetime, lease_from: datetime) -> tuple[Check, Flip | None]:
    """Reset the failure count; a down check recovers after ``recover_threshold`` in a row."""
    if check.failures:
        check = replace(check, failures=0)
    if check.status == "down":
        successes = check.successes + 1
        if successes < check.recover_threshold:
            return replace(check, successes=successes), None
        return _go_up(check, at, lease_from)
    if check.status == "up":
        return check, None
    flip = new_flip(check, at, "up", "ping", lease_from)
    return replace(check, status="up", outbox={**check.outbox, flip.key: flip}), flip


def go_down(
    check: Check, at: datetime, reason: FlipReason, lease_from: datetime
) -> tuple[Check, Flip]:
    flip = replace(new_flip(check, at, "down", reason, lease_from), failures=check.failures)
    down = replace(
        check,
        status="down",
        successes=0,
        outage=flip,
        reminded=0,
        outbox={**check.outbox, flip.key: flip},
    )
    return down, flip


def _go_up(check: Check, at: datetime, lease_from: datetime) -> tuple[Check, Flip]:
    """The outage ends. If its down alert is still held, it is dropped and the up is silent;
    reminders still waiting to go out are dropped too: the outage they remind of is over."""
    outage = check.outage
    held = outage is not None and outage.key in check.outbox and check.outbox[outage.key].held
    outbox = {
        key: flip
        for key, flip in check.outbox.items()
        if not (flip.reminder or (held and outage is not None and key == outage.key))
    }
    flip = replace(new_flip(check, at, "up", "ping", lease_from), silent=held)
    up = replace(
        check,
        status="up",
        successes=0,
        outage=None,
        reminded=0,
        outbox={**outbox, flip.key: flip},
    )
    return up, flip


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
    # The new status is part of the name: one sweep may move a new check up (a failure below
    # fail_threshold starts the watch) and then down, from one state version.
    name = f"flip-{check.sv + 1}" if new != "up" else f"flip-{check.sv + 1}-up"
    flip_id = str(uuidlib.uuid5(uuidlib.UUID(check.uuid), name))
    return Flip(flip_id, at, check.status, new, reason, lease=lease_from + DELIVERY_LEASE)


# --- pause and resume -----------------------------------------------------------------


def pause(check: Check, now: datetime) -> tuple[Check, Flip | None]:
    """Stop monitoring: runs are dropped and nothing goes down until the next ping."""
    if check.status == "paused":
        return check, None
    flip = new_flip(check, now, "paused", "pause", now)
    paused = replace(
        check,
        status="paused",
        runs={},
        progress={},
        outage=None,  # no more reminders; a held down alert is dropped when next judged
        reminded=0,
        outbox={**check.outbox, flip.key: flip},
    )
    return paused, flip


def resume(check: Check, now: datetime) -> tuple[Check, Flip]:
    """Back to new: it waits for its first ping as a fresh check would."""
    flip = new_flip(check, now, "new", "resume", now)
    resumed = replace(
        check,
        status="new",
        runs={},
        progress={},
        last_ping=None,
        failures=0,
        successes=0,
        missed=None,
        outbox={**check.outbox, flip.key: flip},
    )
    return resumed, flip


# --- reminders and holds ----------------------------------------------------------------


def next_reminder(check: Check) -> datetime | None:
    """When the next reminder of the current outage is due, if reminders are on.

    None while the outage's own down alert is still in the outbox (unsent or held): a
    reminder never goes out before the alert it reminds of.
    """
    outage = check.outage
    if check.status != "down" or not check.repeat_every or outage is None:
        return None
    if not check.alerts_enabled or outage.key in check.outbox:
        return None
    return outage.at + (check.reminded + 1) * timedelta(seconds=check.repeat_every)


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
    return replace(check, outbox={**check.outbox, flip.key: flip})


def without_flip(check: Check, flip_key: str) -> Check:
    return replace(check, outbox={k: v for k, v in check.outbox.items() if k != flip_key})


def has_state_change(before: Check, after: Check) -> bool:
    """Whether a write must bump the state version (and so conflict with concurrent writes)."""
    return (
        before.status != after.status
        or before.runs != after.runs
        or before.progress != after.progress
        or before.outbox.keys() != after.outbox.keys()
        or before.failures != after.failures
        or before.successes != after.successes
        or before.missed != after.missed
        or before.reminded != after.reminded
        or _holds(before) != _holds(after)
    )


def _holds(check: Check) -> dict[str, bool]:
    """Which flips in the outbox are held. A hold is state: whether the up flip that ends an
    outage is silent depends on it (``_go_up``), so holding or releasing a down alert must
    conflict with a ping computed from the check as it was before."""
    return {key: flip.held for key, flip in check.outbox.items()}
