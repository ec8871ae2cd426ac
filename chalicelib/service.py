"""Use cases: record a ping, create and read checks, sweep for due checks, deliver flips.

Each takes its collaborators (``Deps``) and ``now`` as arguments; none reads the clock or the
environment. Writes are optimistic: compute the new state from a snapshot, write it on the
condition that the snapshot is still current, and on a lost race start again from the state the
failed write returned (no extra read).
"""

from __future__ import annotations

import logging
import re
import secrets
import uuid as uuidlib
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Protocol

from chalicelib import dependencies, domain, metrics, quiet
from chalicelib.alerts import Alert, build_alert
from chalicelib.badges import BadgeSnapshots
from chalicelib.domain import Check, Flip, Ping
from chalicelib.errors import (
    AmbiguousSlug,
    InvalidRunId,
    InvalidUrl,
    MissingApiKey,
    NotFound,
    SlugTaken,
    StaleCheck,
    ValidationFailed,
    WrongApiKey,
)
from chalicelib.logs import log_event
from chalicelib.settings import Settings
from chalicelib.spec import CheckSpec, parse_check_spec
from chalicelib.store import DynamoStore, KeyGrant, Project

logger = logging.getLogger("vigil")

# Optimistic writes retry from the state the failed write returned; under any realistic
# contention a handful of attempts suffice, the bound only stops a livelock.
MAX_WRITE_ATTEMPTS = 200
SNAPSHOT_CACHE_SIZE = 1024
API_KEY_LENGTH = 32
PRUNE_EVERY = 100
PING_KEY_LENGTH = 22
PING_KEY_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
# Matched with fullmatch: ``$`` would let a trailing newline through.
PING_KEY_PATTERN = re.compile(r"[a-z0-9]{22}")
RID_PATTERN = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE
)


class Alerter(Protocol):
    def publish(self, alert: Alert) -> str: ...


class SnapshotCache:
    """Last known state per check, so a warm ping writes without reading first.

    A stale entry costs nothing but a retry: the conditional write fails and returns the
    current item.
    """

    def __init__(self, size: int = SNAPSHOT_CACHE_SIZE) -> None:
        self._size = size
        self._items: OrderedDict[str, Check] = OrderedDict()

    def get(self, check_uuid: str) -> Check | None:
        check = self._items.get(check_uuid)
        if check is not None:
            self._items.move_to_end(check_uuid)
        return check

    def put(self, check: Check) -> None:
        self._items[check.uuid] = check
        self._items.move_to_end(check.uuid)
        while len(self._items) > self._size:
            self._items.popitem(last=False)

    def drop(self, check_uuid: str) -> None:
        self._items.pop(check_uuid, None)


@dataclass
class Deps:
    settings: Settings
    store: DynamoStore
    alerter: Alerter
    snapshots: SnapshotCache = field(default_factory=SnapshotCache)
    ping_keys: dict[str, str] = field(default_factory=dict)
    badge_snapshots: BadgeSnapshots = field(default_factory=BadgeSnapshots)


# --- pings ------------------------------------------------------------------------------


def normalize_rid(raw: str | None) -> str | None:
    if raw is None:
        return None
    if not RID_PATTERN.fullmatch(raw):
        raise InvalidRunId()
    return raw.lower()


def record_ping(deps: Deps, check_uuid: str, ping: Ping, now: datetime) -> Check:
    """Apply one ping with one conditional write, log it, and deliver any flip it causes."""
    check = deps.snapshots.get(check_uuid) or deps.store.get_check(check_uuid)
    if check is None:
        raise NotFound()
    ping = replace(ping, rid=normalize_rid(ping.rid))
    result, stored = _write_ping(deps, check, ping, now)
    try:
        deps.store.log_ping(check_uuid, stored.n_pings, result.kind, ping, now)
    except NotFound:
        # Deleted between the two writes: answered as a ping to a deleted check (404).
        deps.snapshots.drop(check_uuid)
        raise
    log_event("ping", check=check_uuid, kind=result.kind, n=stored.n_pings, rid=ping.rid)
    metrics.count(metrics.PINGS, kind=result.kind)
    _prune_ping_log(deps, stored)
    if result.flip is not None:
        note_flip(check_uuid, result.flip)
        stored = deliver(deps, stored, result.flip, now)
    deps.snapshots.put(stored)
    return stored


def _prune_ping_log(deps: Deps, check: Check) -> None:
    """Every 100th ping, delete entries beyond the log limit (listings never show them)."""
    if check.n_pings % PRUNE_EVERY == 0 and check.n_pings > deps.settings.ping_log_limit:
        deps.store.prune_pings(check.uuid, check.n_pings - deps.settings.ping_log_limit)


def record_slug_ping(
    deps: Deps, ping_key: str, slug: str, ping: Ping, now: datetime, create_site: str | None
) -> tuple[Check, bool]:
    """A ping to ``/ping/<ping_key>/<slug>``; ``create_site`` set means ``?create=1``.

    Returns the check and whether it was auto-provisioned. The slug set is read with a
    consistent read, so a check is reachable by slug as soon as it is created or renamed.
    """
    project = _project_for_ping_key(deps, ping_key)
    spec = _auto_provisioned_spec(slug, create_site is not None)
    created = False
    uuids = deps.store.checks_with_slug(project, slug)
    if not uuids and create_site is not None and _may_auto_provision(deps, project):
        grant = KeyGrant(project, "ping")
        try:
            uuids = [create_check(deps, grant, spec, now, create_site, exclusive_slug=True).uuid]
            created = True
        except SlugTaken:
            uuids = deps.store.checks_with_slug(project, slug)
    if not uuids:
        raise NotFound()
    if len(uuids) > 1:
        raise AmbiguousSlug()
    return record_ping(deps, uuids[0], ping, now), created


def _auto_provisioned_spec(slug: str, create: bool) -> CheckSpec:
    """``name = slug = <slug>``, held to the API's limits (a URL can be any length).

    A slug no check can have is not found, or with ``?create=1`` a 400; either way it never
    reaches DynamoDB, whose keys are limited too.
    """
    try:
        return parse_check_spec({"name": slug, "slug": slug})
    except ValidationFailed:
        raise (InvalidUrl() if create else NotFound()) from None


def _may_auto_provision(deps: Deps, project: str) -> bool:
    """Healthchecks stops auto-provisioning at twice the check limit (then: 404)."""
    return deps.store.count_project_checks(project) < 2 * deps.settings.check_limit


def _project_for_ping_key(deps: Deps, ping_key: str) -> str:
    # Ping keys never change, so a process may remember what it resolved.
    project = deps.ping_keys.get(ping_key)
    if project is None:
        grant = deps.store.resolve_key(ping_key) if PING_KEY_PATTERN.fullmatch(ping_key) else None
        if grant is None or grant.role != "ping":
            raise NotFound()
        project = deps.ping_keys[ping_key] = grant.project
    return project


def _write_ping(
    deps: Deps, check: Check, ping: Ping, now: datetime
) -> tuple[domain.PingResult, Check]:
    for _ in range(MAX_WRITE_ATTEMPTS):
        result = domain.apply_ping(check, ping, now, lease_from=now)
        try:
            stored = deps.store.write_state(
                check, result.check, shards=deps.settings.due_shards, count_ping=True
            )
        except StaleCheck as stale:
            assert isinstance(stale.current, Check)
            check = stale.current
            continue
        except NotFound:
            deps.snapshots.drop(check.uuid)
            raise
        return result, stored
    raise RuntimeError(f"gave up writing a ping to {check.uuid} after {MAX_WRITE_ATTEMPTS} races")


# --- delivery ---------------------------------------------------------------------------


def note_flip(check_uuid: str, flip: Flip) -> None:
    log_event("flip", check=check_uuid, flip=flip.id, to=flip.new, reason=flip.reason)
    metrics.count(metrics.FLIPS)


def deliver(
    deps: Deps, check: Check, flip: Flip, now: datetime, limits: SweepLimits | None = None
) -> Check:
    """Record the flip, publish it if it notifies, then drop it from the outbox.

    A failure leaves the flip in the outbox, leased until its next retry (``retry_delay``);
    a sweep then retries it. So delivery is at least once, and the stable flip id lets
    subscribers drop a repeat. A sweep out of publishes (``limits``) leaves the flip for the
    next sweep as it is.
    """
    try:
        if not flip.reminder and not flip.held:  # a reminder is no flip; a held one is recorded
            deps.store.record_flip(check.uuid, flip)
    except NotFound:
        # The check was deleted while its flip waited: nobody is left to alert about.
        log_event("flip_dropped", check=check.uuid, flip=flip.id, why="check deleted")
        return domain.without_flip(check, flip.key)
    if flip.notifies and check.alerts_enabled:
        if flip.held and not _outage_goes_on(check, flip):
            # Recovered, paused or reset while its down alert was held: nothing to say.
            log_event("flip_dropped", check=check.uuid, flip=flip.id, why="outage over")
            deps.store.remove_from_outbox(check, flip.key, deps.settings.due_shards)
            return domain.without_flip(check, flip.key)
        held = _withheld(deps, check, flip, now)
        if held is not None:
            return _hold(deps, check, flip, held)
        if limits is not None and not limits.take_publish():
            return check
        alert = build_alert(check, flip, deps.store.last_ping_entry(check.uuid))
        try:
            message_id = deps.alerter.publish(alert)
        except Exception:
            return _publish_failed(deps, check, flip, now)
        log_event(
            "alert", check=check.uuid, flip=flip.id, to=flip.new, reminder=flip.reminder,
            message=message_id,
        )
        metrics.count(metrics.ALERTS_PUBLISHED)
    deps.store.remove_from_outbox(check, flip.key, deps.settings.due_shards)
    return domain.without_flip(check, flip.key)


def _outage_goes_on(check: Check, flip: Flip) -> bool:
    return check.status == "down" and check.outage is not None and check.outage.id == flip.id


def _withheld(deps: Deps, check: Check, flip: Flip, now: datetime) -> Flip | None:
    """The down alert held, if a quiet window is open now or an upstream check is failing.

    Upstreams are judged at the flip's own time when it is first delivered (an outage that
    began while its upstream was failing is held), and at ``now`` once held (it is released
    when nothing holds it any more). Reminders are never held: they are skipped instead.
    """
    if flip.new != "down" or flip.reminder:
        return None
    quiet_until = quiet.open_until(check.quiet, check.tz, now)
    at = now if flip.held else flip.at
    upstream = dependencies.holders(check, at, deps.store.get_checks)
    waits = [now + dependencies.HOLD_RECHECK] if upstream else []
    waits += [quiet_until] if quiet_until is not None else []
    if not waits:
        return None
    held_by = tuple(sorted({*flip.held_by, *upstream}))
    return replace(flip, held=True, held_by=held_by, lease=min(waits))


def _hold(deps: Deps, check: Check, flip: Flip, held: Flip) -> Check:
    """Keep the flip in the outbox until its hold is judged again; its lease is in the index."""
    if not flip.held:
        log_event("alert_held", check=check.uuid, flip=flip.id, held_by=list(held.held_by))
    if deps.store.defer_delivery(check, flip, held, deps.settings.due_shards):
        return domain.with_flip(check, held)
    return check


def _publish_failed(deps: Deps, check: Check, flip: Flip, now: datetime) -> Check:
    """Count the failure and lease the flip until its retry, backing off per failure."""
    retry = domain.after_failed_publish(flip, now)
    logger.exception("alert publish failed (attempt %d); next try %s", retry.attempts, retry.lease)
    log_event("alert_failed", check=check.uuid, flip=flip.id, attempts=retry.attempts)
    metrics.count(metrics.ALERTS_FAILED)
    if deps.store.defer_delivery(check, flip, retry, deps.settings.due_shards):
        return domain.with_flip(check, retry)
    return check


# --- sweeps -----------------------------------------------------------------------------


@dataclass
class SweepLimits:
    """What one sweep pass may spend: publish attempts, and time on the injected clock."""

    publishes: int
    stop_at: datetime | None = None
    clock: Callable[[], datetime] | None = None
    deferred: int = 0

    def out_of_time(self) -> bool:
        return self.stop_at is not None and self.clock is not None and self.clock() >= self.stop_at

    def take_publish(self) -> bool:
        """Spend one publish; False (and the alert is left for the next sweep) when none is left."""
        if self.publishes <= 0:
            self.deferred += 1
            return False
        self.publishes -= 1
        return True


@dataclass
class SweepReport:
    due: int = 0
    flipped: int = 0
    alerts_delivered: int = 0
    alerts_failed: int = 0
    alerts_deferred: int = 0  # left for the next sweep: this one was out of publishes
    lost_races: int = 0
    reminders: int = 0
    refreshed: int = 0
    errors: int = 0
    out_of_time: bool = False  # stopped at its time budget; the rest stays due
    oldest_due_lag: float = 0.0  # seconds between the oldest due deadline and the sweep


def sweep(deps: Deps, now: datetime, limits: SweepLimits | None = None) -> SweepReport:
    """One pass over the due index. A check that raises is logged and left due for later.

    ``limits`` bound the pass (by default only its publishes); what it leaves stays due.
    """
    limits = limits or SweepLimits(deps.settings.sweep_publish_limit)
    report = SweepReport()
    for check in deps.store.due_checks(now, deps.settings.due_shards):
        if limits.out_of_time():
            report.out_of_time = True
            break
        report.due += 1
        try:
            _note_lag(report, check, now)
            _sweep_check(deps, check, now, report, limits)
        except Exception:
            report.errors += 1
            logger.exception("sweep of check %s failed; it stays due", check.uuid)
    report.alerts_deferred = limits.deferred
    log_event("sweep", **vars(report))
    return report


def _note_lag(report: SweepReport, check: Check, now: datetime) -> None:
    due_at = domain.alert_after(check)
    if due_at is not None:
        report.oldest_due_lag = max(report.oldest_due_lag, (now - due_at).total_seconds())


def _sweep_check(
    deps: Deps,
    check: Check,
    now: datetime,
    report: SweepReport,
    limits: SweepLimits | None = None,
) -> None:
    limits = limits or SweepLimits(deps.settings.sweep_publish_limit)
    advanced = domain.advance(check, now, lease_from=now)
    if domain.has_state_change(check, advanced.check):
        _write_advance(deps, check, advanced, now, report, limits)
        return
    pending = domain.deliverable(check, now)
    if pending:
        _retry_deliveries(deps, check, pending, now, report, limits)
        return
    _refresh_deadline(deps, check, report)


def _write_advance(
    deps: Deps,
    check: Check,
    advanced: domain.Advance,
    now: datetime,
    report: SweepReport,
    limits: SweepLimits,
) -> None:
    """Store what the passed deadlines did (failures counted, a flip, a reminder), then deliver."""
    try:
        stored = deps.store.write_state(
            check, advanced.check, shards=deps.settings.due_shards, guard_last_ping=True
        )
    except (StaleCheck, NotFound):
        # Another sweep or a ping got there first; the next sweep sees the new state.
        report.lost_races += 1
        return
    for flip in advanced.flips:
        if flip.reminder:
            report.reminders += 1
        else:
            report.flipped += 1
            note_flip(check.uuid, flip)
        stored = deliver(deps, stored, flip, now, limits)
        _count_delivery(report, stored, flip)


def _retry_deliveries(
    deps: Deps,
    check: Check,
    pending: list[Flip],
    now: datetime,
    report: SweepReport,
    limits: SweepLimits,
) -> None:
    for flip in pending:
        if flip.notifies and check.alerts_enabled and limits.publishes <= 0:
            limits.deferred += 1
            continue  # no claim: the flip stays deliverable for the next sweep
        lease = now + domain.DELIVERY_LEASE
        if not deps.store.claim_delivery(check.uuid, flip, lease):
            report.lost_races += 1
            continue
        claimed = replace(flip, lease=lease)
        check = deliver(deps, domain.with_flip(check, claimed), claimed, now, limits)
        _count_delivery(report, check, claimed)


def _count_delivery(report: SweepReport, after: Check, flip: Flip) -> None:
    if not flip.notifies:
        return
    held = after.outbox.get(flip.key)
    if held is None:
        report.alerts_delivered += 1
    elif held.attempts > flip.attempts:
        report.alerts_failed += 1


def _refresh_deadline(deps: Deps, check: Check, report: SweepReport) -> None:
    """Nothing to do: the stored deadline was stale (an edit, a delivered flip). Rewrite it."""
    try:
        deps.store.write_state(check, check, shards=deps.settings.due_shards, guard_last_ping=True)
    except (StaleCheck, NotFound):
        report.lost_races += 1
        return
    report.refreshed += 1


# Stop starting work this long before Lambda's timeout: the AWS call in progress may take the
# app's whole retry budget (4 attempts of 2 s connect + 5 s read, plus backoff). With less
# time than twice that left (a short configured timeout), keep half of what is left.
SWEEP_RESERVE = timedelta(seconds=30)


def sweep_invocation(
    deps: Deps,
    clock: Callable[[], datetime],
    sleep: Callable[[float], None],
    budget: timedelta = timedelta(seconds=60),
    time_left: Callable[[], float] | None = None,
) -> list[SweepReport]:
    """One pass by default; with ``sweep_seconds`` set, re-sweep until the minute is nearly up.

    Each pass stops starting work after ``sweep_budget_seconds``, at the next pass in fast
    mode, and ``SWEEP_RESERVE`` before the invocation's end (``time_left``: seconds, Lambda's
    remaining time). What a pass leaves stays due for the next.
    """
    started = clock()
    ends = None if time_left is None else started + _usable(timedelta(seconds=time_left()))
    interval = deps.settings.sweep_seconds
    step = timedelta(seconds=interval) if interval else None
    reports = [_measured_sweep(deps, clock, started, ends, step)]
    if step is None:
        return reports
    next_at = started + step
    # Each pass gets a full interval before the minute ends, so invocations never overlap.
    while next_at + step <= started + budget and (ends is None or clock() < ends):
        wait = (next_at - clock()).total_seconds()
        if wait > 0:
            sleep(wait)
        reports.append(_measured_sweep(deps, clock, clock(), ends, step))
        next_at += step
    return reports


def _usable(left: timedelta) -> timedelta:
    return max(left - SWEEP_RESERVE, left / 2)


def _pass_limits(
    deps: Deps,
    clock: Callable[[], datetime],
    now: datetime,
    ends: datetime | None,
    step: timedelta | None,
) -> SweepLimits:
    stops = [now + timedelta(seconds=deps.settings.sweep_budget_seconds)]
    stops += [ends] if ends is not None else []
    stops += [now + step] if step is not None else []
    return SweepLimits(deps.settings.sweep_publish_limit, stop_at=min(stops), clock=clock)


def _measured_sweep(
    deps: Deps,
    clock: Callable[[], datetime],
    now: datetime,
    ends: datetime | None,
    step: timedelta | None,
) -> SweepReport:
    """A pass plus its metrics; the heartbeat counts only a pass that finished."""
    report = sweep(deps, now, _pass_limits(deps, clock, now, ends, step))
    metrics.timing(metrics.SWEEP_DURATION, (clock() - now).total_seconds())
    metrics.gauge(metrics.DUE_CHECKS, report.due)
    metrics.gauge(metrics.OLDEST_DUE_LAG, report.oldest_due_lag, unit="Seconds")
    metrics.count(metrics.SWEEP_COMPLETED)
    metrics.flush(now)
    return report


# --- checks and keys --------------------------------------------------------------------


def authorize(deps: Deps, api_key: str | None, *, write: bool) -> KeyGrant:
    if api_key is None or len(api_key) != API_KEY_LENGTH:
        raise MissingApiKey()
    if not api_key.isascii():
        raise WrongApiKey()  # no key we issue has such characters, and some cannot be hashed
    grant = deps.store.resolve_key(api_key)
    allowed = ("rw",) if write else ("rw", "ro")
    if grant is None or grant.role not in allowed:
        raise WrongApiKey()
    return grant


def create_check(
    deps: Deps,
    grant: KeyGrant,
    spec: CheckSpec,
    now: datetime,
    site_root: str,
    *,
    exclusive_slug: bool = False,
) -> Check:
    check = Check(
        uuid=str(uuidlib.uuid4()),
        project=grant.project,
        created=now,
        badge_key=str(uuidlib.uuid4()),
        site_root=site_root,
    )
    check = apply_spec(check, spec)
    deps.store.create_check(check, deps.settings.due_shards, exclusive_slug=exclusive_slug)
    log_event("check_created", check=check.uuid, project=grant.project)
    return check


def apply_spec(check: Check, spec: CheckSpec) -> Check:
    """Only supplied fields change. ``schedule`` makes a cron check, ``timeout`` a simple one."""
    changes = spec.changes()
    if spec.schedule is not None:
        changes["kind"] = "cron"
    elif spec.timeout is not None:
        changes["kind"] = "simple"
    if spec.channels is not None:
        changes["alerts_enabled"] = spec.channels != ""
    if spec.subject_implies_filter:
        success = changes.get("success_kw", check.success_kw)
        changes["filter_subject"] = bool(success or changes.get("failure_kw", check.failure_kw))
    return replace(check, **changes)


@dataclass(frozen=True)
class ProjectKeys:
    project: str
    api_key: str
    api_key_readonly: str
    ping_key: str


def create_project(deps: Deps, name: str) -> ProjectKeys:
    keys = ProjectKeys(
        project=str(uuidlib.uuid4()),
        api_key="hcw_" + secrets.token_urlsafe(21),
        api_key_readonly="hcr_" + secrets.token_urlsafe(21),
        ping_key="".join(secrets.choice(PING_KEY_ALPHABET) for _ in range(PING_KEY_LENGTH)),
    )
    project = Project(
        id=keys.project,
        name=name,
        badge_key=str(uuidlib.uuid4()),
        badge_secret=secrets.token_urlsafe(24),
    )
    deps.store.create_project(
        project, {"rw": keys.api_key, "ro": keys.api_key_readonly, "ping": keys.ping_key}
    )
    return keys
