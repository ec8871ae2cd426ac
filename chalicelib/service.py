"""Use cases of the ping path and the sweep: record a ping, sweep for due checks.

The Management API's use cases (list, create, edit, pause, delete checks; projects) live in
``chalicelib.management``; delivering a flip's alert in ``chalicelib.delivery``. Each use case
takes its collaborators (``Deps``) and ``now`` as arguments; none reads the clock or the
environment. Writes are optimistic (``store.retry_on_conflict``): compute the new state from a
snapshot, write it on the condition that the snapshot is still current, and on a lost race start
again from the state the failed write returned (no extra read).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from chalicelib import domain, metrics
from chalicelib.delivery import SweepLimits, deliver, note_flip
from chalicelib.deps import Deps
from chalicelib.domain import Check, Flip, Ping
from chalicelib.errors import AmbiguousSlug, InvalidRunId, InvalidUrl, NotFound, ValidationFailed
from chalicelib.logs import log_event
from chalicelib.spec import CheckSpec, parse_check_spec
from chalicelib.store import KeyGrant, SlugTaken, StaleCheck, retry_on_conflict

logger = logging.getLogger("vigil")

# Checked here, not in ``web``: a rid is only judged once the check is found (404 first).
RID_PATTERN = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE
)


# --- pings ------------------------------------------------------------------------------


def normalize_rid(raw: str | None) -> str | None:
    if raw is None:
        return None
    if not RID_PATTERN.fullmatch(raw):
        raise InvalidRunId()
    return raw.lower()


def record_ping(deps: Deps, check_uuid: str, ping: Ping, now: datetime) -> Check:
    """Apply and log one ping with one conditional write, and deliver any flip it causes."""
    check = deps.snapshots.get(check_uuid) or deps.store.get_check(check_uuid)
    if check is None:
        raise NotFound()
    ping = replace(ping, rid=normalize_rid(ping.rid))
    result, stored = _write_ping(deps, check, ping, now)
    log_event("ping", check=check_uuid, kind=result.kind, n=stored.n_pings, rid=ping.rid)
    metrics.count(metrics.PINGS, kind=result.kind)
    if result.flip is not None:
        note_flip(check_uuid, result.flip)
        stored = deliver(deps, stored, result.flip, now)
    deps.snapshots.put(stored)
    return stored


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
        # deferred: the Management API's modules are a cold ping's cost only with ?create=1
        from chalicelib.management import create_check

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
        # ``web.parse_ping_path`` has checked its format: only ASCII reaches the store.
        grant = deps.store.resolve_key(ping_key)
        if grant is None or grant.role != "ping":
            raise NotFound()
        project = deps.ping_keys[ping_key] = grant.project
    return project


def _write_ping(
    deps: Deps, check: Check, ping: Ping, now: datetime
) -> tuple[domain.PingResult, Check]:
    def attempt(current: Check) -> tuple[domain.PingResult, Check]:
        result = domain.apply_ping(current, ping, now, lease_from=now)
        return result, deps.store.write_ping(current, result.check, result.kind, ping, now)

    try:
        return retry_on_conflict(check, attempt)
    except NotFound:
        # Deleted before the ping was recorded: answered as a ping to a deleted check (404).
        deps.snapshots.drop(check.uuid)
        raise


# --- sweeps -----------------------------------------------------------------------------


@dataclass
class SweepReport:
    """What one sweep pass did, for its log line and metrics."""

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
    for check in deps.store.due_checks(now):
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
        stored = deps.store.write_state(check, advanced.check, guard_last_ping=True)
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
        deps.store.write_state(check, check, guard_last_ping=True)
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
