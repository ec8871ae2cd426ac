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

from chalicelib import domain, metrics
from chalicelib.alerts import Alert, build_alert
from chalicelib.channel_store import ChannelStore
from chalicelib.domain import Check, Flip, Ping
from chalicelib.errors import (
    AmbiguousSlug,
    InvalidRunId,
    MissingApiKey,
    NotFound,
    SlugTaken,
    StaleCheck,
    WrongApiKey,
)
from chalicelib.logs import log_event
from chalicelib.routing import topic_channel_id
from chalicelib.settings import Settings
from chalicelib.spec import CheckSpec
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
PING_KEY_PATTERN = re.compile(r"^[a-z0-9]{22}$")
RID_PATTERN = re.compile(
    r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE
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
    channels: ChannelStore | None = None  # alert channels (chalicelib/channel_service.py)


# --- pings ------------------------------------------------------------------------------


def normalize_rid(raw: str | None) -> str | None:
    if raw is None:
        return None
    if not RID_PATTERN.match(raw):
        raise InvalidRunId()
    return raw.lower()


def record_ping(deps: Deps, check_uuid: str, ping: Ping, now: datetime) -> Check:
    """Apply one ping with one conditional write, log it, and deliver any flip it causes."""
    check = deps.snapshots.get(check_uuid) or deps.store.get_check(check_uuid)
    if check is None:
        raise NotFound()
    ping = replace(ping, rid=normalize_rid(ping.rid))
    result, stored = _write_ping(deps, check, ping, now)
    deps.store.log_ping(check_uuid, stored.n_pings, result.kind, ping, now)
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
    created = False
    uuids = deps.store.checks_with_slug(project, slug)
    if not uuids and create_site is not None and _may_auto_provision(deps, project):
        grant = KeyGrant(project, "ping")
        spec = CheckSpec(name=slug, slug=slug)
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


def _may_auto_provision(deps: Deps, project: str) -> bool:
    """Healthchecks stops auto-provisioning at twice the check limit (then: 404)."""
    return deps.store.count_project_checks(project) < 2 * deps.settings.check_limit


def _project_for_ping_key(deps: Deps, ping_key: str) -> str:
    # Ping keys never change, so a process may remember what it resolved.
    project = deps.ping_keys.get(ping_key)
    if project is None:
        grant = deps.store.resolve_key(ping_key) if PING_KEY_PATTERN.match(ping_key) else None
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


def deliver(deps: Deps, check: Check, flip: Flip, now: datetime) -> Check:
    """Record the flip, publish it if it notifies, then drop it from the outbox.

    A failure leaves the flip in the outbox; once its lease runs out a sweep retries it. So
    delivery is at least once, and the stable flip id lets subscribers drop a repeat.
    """
    deps.store.record_flip(check.uuid, flip)
    if flip.notifies and check.alerts_enabled:
        topic_id = topic_channel_id(deps.settings.topic_arn)
        alert = build_alert(check, flip, deps.store.last_ping_entry(check.uuid), topic_id)
        try:
            message_id = deps.alerter.publish(alert)
        except Exception:
            logger.exception("alert publish failed; a later sweep retries it")
            log_event("alert_failed", check=check.uuid, flip=flip.id)
            metrics.count(metrics.ALERTS_FAILED)
            return check
        log_event("alert", check=check.uuid, flip=flip.id, to=flip.new, message=message_id)
        metrics.count(metrics.ALERTS_PUBLISHED)
    deps.store.remove_from_outbox(check, flip.id, deps.settings.due_shards)
    return domain.without_flip(check, flip.id)


# --- sweeps -----------------------------------------------------------------------------


@dataclass
class SweepReport:
    due: int = 0
    flipped: int = 0
    alerts_delivered: int = 0
    alerts_failed: int = 0
    lost_races: int = 0
    refreshed: int = 0
    errors: int = 0
    oldest_due_lag: float = 0.0  # seconds between the oldest due deadline and the sweep


def sweep(deps: Deps, now: datetime) -> SweepReport:
    """One pass over the due index. A check that raises is logged and left due for later."""
    report = SweepReport()
    for check in deps.store.due_checks(now, deps.settings.due_shards):
        report.due += 1
        try:
            _note_lag(report, check, now)
            _sweep_check(deps, check, now, report)
        except Exception:
            report.errors += 1
            logger.exception("sweep of check %s failed; it stays due", check.uuid)
    log_event("sweep", **vars(report))
    return report


def _note_lag(report: SweepReport, check: Check, now: datetime) -> None:
    due_at = domain.alert_after(check)
    if due_at is not None:
        report.oldest_due_lag = max(report.oldest_due_lag, (now - due_at).total_seconds())


def _sweep_check(deps: Deps, check: Check, now: datetime, report: SweepReport) -> None:
    overdue = domain.find_overdue(check, now)
    if overdue is not None:
        down, flip = domain.flip_down(check, overdue, lease_from=now)
        try:
            stored = deps.store.write_state(
                check, down, shards=deps.settings.due_shards, guard_last_ping=True
            )
        except (StaleCheck, NotFound):
            # Another sweep or a ping got there first; the next sweep sees the new state.
            report.lost_races += 1
            return
        report.flipped += 1
        note_flip(check.uuid, flip)
        _count_delivery(report, deliver(deps, stored, flip, now), flip)
        return
    pending = domain.deliverable(check, now)
    if pending:
        _retry_deliveries(deps, check, pending, now, report)
        return
    _refresh_deadline(deps, check, report)


def _retry_deliveries(
    deps: Deps, check: Check, pending: list[Flip], now: datetime, report: SweepReport
) -> None:
    for flip in pending:
        lease = now + domain.DELIVERY_LEASE
        if not deps.store.claim_delivery(check.uuid, flip, lease):
            report.lost_races += 1
            continue
        claimed = replace(flip, lease=lease)
        after = deliver(deps, check, claimed, now)
        _count_delivery(report, after, claimed)


def _count_delivery(report: SweepReport, after: Check, flip: Flip) -> None:
    if not flip.notifies:
        return
    if flip.id in after.outbox:
        report.alerts_failed += 1
    else:
        report.alerts_delivered += 1


def _refresh_deadline(deps: Deps, check: Check, report: SweepReport) -> None:
    """Nothing to do: the stored deadline was stale (an edit, a delivered flip). Rewrite it."""
    try:
        deps.store.write_state(check, check, shards=deps.settings.due_shards, guard_last_ping=True)
    except (StaleCheck, NotFound):
        report.lost_races += 1
        return
    report.refreshed += 1


def sweep_invocation(
    deps: Deps,
    clock: Callable[[], datetime],
    sleep: Callable[[float], None],
    budget: timedelta = timedelta(seconds=60),
) -> list[SweepReport]:
    """One pass by default; with ``sweep_seconds`` set, re-sweep until the minute is nearly up."""
    started = clock()
    reports = [_measured_sweep(deps, clock, started)]
    interval = deps.settings.sweep_seconds
    if not interval:
        return reports
    step = timedelta(seconds=interval)
    next_at = started + step
    # Each pass gets a full interval before the minute ends, so invocations never overlap.
    while next_at + step <= started + budget:
        wait = (next_at - clock()).total_seconds()
        if wait > 0:
            sleep(wait)
        reports.append(_measured_sweep(deps, clock, clock()))
        next_at += step
    return reports


def _measured_sweep(deps: Deps, clock: Callable[[], datetime], now: datetime) -> SweepReport:
    """A pass plus its metrics; the heartbeat counts only a pass that finished."""
    report = sweep(deps, now)
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
    if spec.channels is not None:  # already resolved to ids by the API (routing.resolve)
        changes["alerts_enabled"] = spec.channels != ""
        changes["channel_ids"] = spec.channels
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
