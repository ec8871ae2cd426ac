"""Use cases of the ping path: record a ping, by uuid or by slug.

The sweep's use cases live in ``chalicelib.sweeps``; the Management API's (list, create, edit,
pause, delete checks; projects) in ``chalicelib.management``; delivering a flip's alert in
``chalicelib.delivery``. The ping function imports this module alone of them: a uuid ping
that does not flip loads neither delivery nor the check-spec parser. Each use case
takes its collaborators (``Deps``) and ``now`` as arguments; none reads the clock or the
environment. Writes are optimistic (``store.retry_on_conflict``): compute the new state from a
snapshot, write it on the condition that the snapshot is still current, and on a lost race start
again from the state the failed write returned (no extra read, unless the write met another
transaction in flight: then one consistent read).
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from chalicelib import domain, metrics
from chalicelib.deps import Deps
from chalicelib.domain import Check, Ping
from chalicelib.errors import AmbiguousSlug, InvalidRunId, InvalidUrl, NotFound, ValidationFailed
from chalicelib.logs import log_event
from chalicelib.store import KeyGrant, SlugTaken, retry_on_conflict

if TYPE_CHECKING:
    from chalicelib.spec import CheckSpec

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
        # deferred: alerts and their modules are a cold start's cost only when a ping flips
        from chalicelib.delivery import deliver, note_flip

        note_flip(check_uuid, result.flip)
        stored = deliver(deps, stored, result.flip, now, fresh=True)
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
    # deferred: the spec parser is a cold ping's cost only for a slug ping
    from chalicelib.spec import parse_check_spec

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
        if result.flip is not None and result.flip.new == "down":
            # Held in this very write if its alert must wait, so a success that ends the
            # outage knows its up is silent. Deferred: only a ping that goes down imports it.
            from chalicelib.delivery import hold_if_due

            down, flip = hold_if_due(deps, result.check, result.flip, now)
            result = replace(result, check=down, flip=flip)
        return result, deps.store.write_ping(current, result.check, result.kind, ping, now)

    try:
        return retry_on_conflict(check, attempt)
    except NotFound:
        # Deleted before the ping was recorded: answered as a ping to a deleted check (404).
        deps.snapshots.drop(check.uuid)
        raise
