"""Use cases of the sweep: find the due checks, advance them, deliver what they owe.

A sweep reads only the due index (``store.due_checks``), never the whole table. Each due
check's passed deadlines are applied by ``sweep_rules.advance`` and written on the condition that
the check is unchanged (a racing ping or sweep wins, and the next pass sees its state); the
flips that write produced are then delivered (``chalicelib.delivery``). Like every use case,
these take their collaborators (``Deps``) and ``now`` as arguments, and read no clock of their
own (``sweep_invocation``'s ``clock`` is passed in).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from chalicelib import domain, metrics, sweep_rules
from chalicelib.delivery import SweepLimits, deliver, hold_if_due, note_flip
from chalicelib.deps import Deps
from chalicelib.domain import Check, Flip
from chalicelib.errors import NotFound
from chalicelib.logs import log_event
from chalicelib.store import StaleCheck

logger = logging.getLogger("vigil")


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
    advanced = sweep_rules.advance(check, now, lease_from=now)
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
    advanced: sweep_rules.Advance,
    now: datetime,
    report: SweepReport,
    limits: SweepLimits,
) -> None:
    """Store what the passed deadlines did (failures counted, a flip, a reminder), then deliver.

    A down flip whose alert must wait is held in that same write (``hold_if_due``).
    """
    advanced = _held_if_due(deps, advanced, now)
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
        stored = deliver(deps, stored, flip, now, limits, fresh=True)
        _count_delivery(report, stored, flip)


def _held_if_due(deps: Deps, advanced: sweep_rules.Advance, now: datetime) -> sweep_rules.Advance:
    check, flips = advanced.check, []
    for flip in advanced.flips:
        check, flip = hold_if_due(deps, check, flip, now)
        flips.append(flip)
    return sweep_rules.Advance(check, tuple(flips))


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
