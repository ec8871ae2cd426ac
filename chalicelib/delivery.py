"""Delivering a flip: record it, hand its alert to the alerter, then clear it from the outbox.

Shared by every use case that flips a check (a ping, a sweep, a pause or resume). Delivery is
at least once: a failed publish leaves the flip in the check's outbox, leased until its retry,
and a later sweep retries it. The alerter decides how an ``Alert`` reaches people (today SNS);
this module never sees a channel's format.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from chalicelib import dependencies, domain, metrics, quiet
from chalicelib.alerts import Alert
from chalicelib.deps import Deps
from chalicelib.domain import Check, Flip
from chalicelib.errors import NotFound
from chalicelib.logs import log_event
from chalicelib.store import retry_on_conflict

logger = logging.getLogger("vigil")


def note_flip(check_uuid: str, flip: Flip) -> None:
    log_event("flip", check=check_uuid, flip=flip.id, to=flip.new, reason=flip.reason)
    metrics.count(metrics.FLIPS)


def hold_if_due(deps: Deps, check: Check, flip: Flip, now: datetime) -> tuple[Check, Flip]:
    """A new down flip held, before the write that makes it, if its alert must wait.

    The hold is decided with the flip and stored in that same conditional write: a success
    ping that ends the outage is computed from a check whose down alert is already held, so
    its up is silent, and an outage that began and ended while held sends nothing. A hold
    written afterwards would leave a gap in which that ping sees an unheld alert and says up.
    """
    if flip.new != "down" or flip.reminder or not check.alerts_enabled:
        return check, flip
    held = _withheld(deps, check, flip, now)
    if held is None:
        return check, flip
    return domain.with_flip(check, held), held


def deliver(
    deps: Deps,
    check: Check,
    flip: Flip,
    now: datetime,
    limits: SweepLimits | None = None,
    *,
    fresh: bool = False,
) -> Check:
    """Record the flip, publish it if it notifies, then drop it from the outbox.

    A failure leaves the flip in the outbox, leased until its next retry (``retry_delay``);
    a sweep then retries it. So delivery is at least once, and the stable flip id lets
    subscribers drop a repeat. A sweep out of publishes (``limits``) leaves the flip for the
    next sweep as it is. ``fresh``: its writer delivers it right after the write that made
    it, its hold already decided there (``hold_if_due``); otherwise a held down alert is
    judged again first.
    """
    try:
        check, due = (check, flip) if fresh else _judged(deps, check, flip, now)
        if due is None:
            return check
        if not due.reminder:  # a reminder is no flip; recording is idempotent (a released
            # hold is recorded again, in case the writer that made it died before recording)
            deps.store.record_flip(check.uuid, due)
    except NotFound:
        # The check was deleted while its flip waited: nobody is left to alert about.
        log_event("flip_dropped", check=check.uuid, flip=flip.id, why="check deleted")
        return domain.without_flip(check, flip.key)
    if due.notifies and check.alerts_enabled:
        if due.held:
            log_event("alert_held", check=check.uuid, flip=due.id, held_by=list(due.held_by))
            return check
        if limits is not None and not limits.take_publish():
            return check
        return _publish(deps, check, due, now)
    deps.store.remove_from_outbox(check, due.key)
    return domain.without_flip(check, due.key)


def _publish(deps: Deps, check: Check, flip: Flip, now: datetime) -> Check:
    last_ping = deps.store.last_ping_entry(check.uuid)
    alert = Alert(check, flip, last_ping, deps.settings.ping_endpoint)
    try:
        message_id = deps.alerter.publish(alert)
    except Exception:
        return _publish_failed(deps, check, flip, now)
    log_event(
        "alert",
        check=check.uuid,
        flip=flip.id,
        to=flip.new,
        reminder=flip.reminder,
        message=message_id,
    )
    metrics.count(metrics.ALERTS_PUBLISHED)
    deps.store.remove_from_outbox(check, flip.key)
    return domain.without_flip(check, flip.key)


def _judged(deps: Deps, check: Check, flip: Flip, now: datetime) -> tuple[Check, Flip | None]:
    """A flip left in the outbox, as it goes out now; None while it is held or if it is gone."""
    if not flip.notifies or not check.alerts_enabled:
        return check, flip
    return _judge_hold(deps, check, flip, now)


def _judge_hold(deps: Deps, check: Check, flip: Flip, now: datetime) -> tuple[Check, Flip | None]:
    """The check, and the flip to publish now; None when it is held, dropped, or not ours.

    Whether the up flip that ends an outage is silent depends on whether the outage's down
    alert is held when that up is written (``domain._go_up``). So releasing a hold (and
    holding a retried alert, in a window that opened since) is a state change, written on the
    condition that the check is still as judged: a ping that recovers the check first makes
    the write fail, and the hold is judged again on the check as it now is. Whatever the
    order, subscribers get both the down and the up, or neither.
    """
    if flip.new != "down" or flip.reminder:
        return check, flip

    def attempt(current: Check) -> tuple[Check, Flip | None]:
        stored = current.outbox.get(flip.key)
        if stored is None or stored.lease != flip.lease:
            # Dropped by a recovery while held, or another sweep has taken it over.
            return current, None
        goes_on = _outage_goes_on(current, stored)
        if stored.held and not goes_on:
            # Recovered, paused or reset while its down alert was held: nothing to say.
            log_event("flip_dropped", check=current.uuid, flip=flip.id, why="outage over")
            deps.store.remove_from_outbox(current, flip.key)
            return domain.without_flip(current, flip.key), None
        # Once the outage is over, an unheld down alert goes out: its up was not silent.
        held = _withheld(deps, current, stored, now) if goes_on else None
        if held is None:
            if not stored.held:
                return current, stored
            released = replace(stored, held=False)
            return deps.store.write_state(current, domain.with_flip(current, released)), released
        if stored.held:
            return _hold_again(deps, current, stored, held), None
        written = deps.store.write_state(current, domain.with_flip(current, held))
        log_event("alert_held", check=current.uuid, flip=flip.id, held_by=list(held.held_by))
        return written, None

    return retry_on_conflict(check, attempt)


def _outage_goes_on(check: Check, flip: Flip) -> bool:
    return check.status == "down" and check.outage is not None and check.outage.id == flip.id


def _withheld(deps: Deps, check: Check, flip: Flip, now: datetime) -> Flip | None:
    """The down alert held, if a quiet window is open now or an upstream check is failing.

    Upstreams are judged at the flip's own time when it is first delivered (an outage that
    began while its upstream was failing is held), and at ``now`` once held (it is released
    when nothing holds it any more). Reminders are never held: they are skipped instead.
    """
    quiet_until = quiet.open_until(check.quiet, check.tz, now)
    at = now if flip.held else flip.at
    upstream = dependencies.holders(check, at, deps.store.get_checks)
    waits = [now + dependencies.HOLD_RECHECK] if upstream else []
    waits += [quiet_until] if quiet_until is not None else []
    if not waits:
        return None
    held_by = tuple(sorted({*flip.held_by, *upstream}))[: dependencies.MAX_HELD_BY]
    return replace(flip, held=True, held_by=held_by, lease=min(waits))


def _hold_again(deps: Deps, check: Check, flip: Flip, held: Flip) -> Check:
    """Still held: move its next judgement (its lease, in the index). The hold itself does not
    change, so this needs no state change; a ping that recovered the check since removed the
    flip, and then the lease condition fails."""
    if deps.store.defer_delivery(check, flip, held):
        return domain.with_flip(check, held)
    return check


def _publish_failed(deps: Deps, check: Check, flip: Flip, now: datetime) -> Check:
    """Count the failure and lease the flip until its retry, backing off per failure."""
    retry = domain.after_failed_publish(flip, now)
    logger.exception("alert publish failed (attempt %d); next try %s", retry.attempts, retry.lease)
    log_event("alert_failed", check=check.uuid, flip=flip.id, attempts=retry.attempts)
    metrics.count(metrics.ALERTS_FAILED)
    if deps.store.defer_delivery(check, flip, retry):
        return domain.with_flip(check, retry)
    return check


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
