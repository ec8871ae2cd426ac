"""Management API use cases (Healthchecks API v1-v3): everything behind ``/api/v<N>/``.

Checks (list, read, create, edit, pause, resume, delete), their pings and flips, badges, and
projects with their keys (``create_project``, used by the CLI). The ping path and the sweep
are in ``chalicelib.service``.

Every lookup goes through ``find_check``, which is where projects are walled off: a key of
another project gets Healthchecks' 403 for a uuid, and 404 for a unique key it cannot see.
"""

from __future__ import annotations

import secrets
import uuid as uuidlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib import badges, dependencies, domain, inputs
from chalicelib.channel_service import resolve_spec_channels, topic_channel
from chalicelib.check_json import check_to_dict, unique_key
from chalicelib.delivery import deliver, note_flip
from chalicelib.deps import Deps
from chalicelib.domain import Check, LoggedPing
from chalicelib.errors import (
    BadRequest,
    CheckLimitReached,
    Forbidden,
    MissingApiKey,
    NotFound,
    NotPaused,
    WrongApiKey,
)
from chalicelib.logs import log_event
from chalicelib.spec import CheckSpec, slugify
from chalicelib.store import FLIP_RETENTION, KeyGrant, Project, retry_on_conflict

API_KEY_LENGTH = 32
PING_KEY_LENGTH = 22
PING_KEY_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
UUID_LENGTH = 36
UNIQUE_KEY_LENGTH = 40
MAX_PINGS_LISTED = 1000
# Healthchecks pairs a finish with its start only within this window.
MAX_RUN_PAIRING = timedelta(hours=72)
MAX_TIMESTAMP = 10**10
MAX_SECONDS_FILTER = 31_536_000


@dataclass(frozen=True)
class View:
    """How a response renders checks: API version and key role."""

    version: int
    readonly: bool
    channel_id: str
    ping_endpoint: str | None = None  # the deployment's VIGIL_PING_ENDPOINT

    def check(self, check: Check, now: datetime) -> dict[str, Any]:
        return check_to_dict(
            check,
            now,
            readonly=self.readonly,
            version=self.version,
            channel_id=self.channel_id,
            ping_endpoint=self.ping_endpoint,
        )


def channel(deps: Deps) -> dict[str, str]:
    """The deployment's SNS topic, every project's first channel."""
    return topic_channel(deps)


# --- lookups ----------------------------------------------------------------------------


def is_unique_key(code: str) -> bool:
    return len(code) == UNIQUE_KEY_LENGTH


def find_check(deps: Deps, grant: KeyGrant, code: str) -> Check:
    """A check by uuid (read-write keys) or unique key (any key), within the key's project."""
    if is_unique_key(code):
        for check in deps.store.project_checks(grant.project):
            if unique_key(check.uuid) == code:
                return check
        raise NotFound()
    if len(code) != UUID_LENGTH or not _is_uuid(code):
        raise NotFound()
    found = deps.store.get_check(code)
    if found is None:
        raise NotFound()
    if found.project != grant.project:
        raise Forbidden()
    return found


def _is_uuid(code: str) -> bool:
    try:
        return str(uuidlib.UUID(code)) == code
    except ValueError:
        return False


def list_checks(deps: Deps, grant: KeyGrant, tags: list[str], slug: str | None) -> list[Check]:
    """``?tag=`` repeats and all must match; ``?slug=`` matches exactly."""
    found = []
    for check in deps.store.project_checks(grant.project):
        if slug is not None and check.slug != slug:
            continue
        if all(tag in check.tag_list for tag in tags):
            found.append(check)
    return found


# --- writes -----------------------------------------------------------------------------


def upsert_check(
    deps: Deps, grant: KeyGrant, spec: CheckSpec, now: datetime, site_root: str, version: int
) -> tuple[Check, bool]:
    """Create (True), or update the first check matching every ``unique`` field (False)."""
    spec = _with_version_slug(spec, version)
    spec = resolve_spec_channels(deps, grant.project, spec)
    match = _unique_match(deps, grant, spec)
    if match is None:
        if spec.depends_on:
            # A check being created has no uuid yet, so nothing can depend on it: no cycle,
            # and no race with other dependency edits (see chalicelib.dependencies).
            dependencies.validate("", grant.project, spec.depends_on, deps.store.get_checks)
        if deps.store.count_project_checks(grant.project) >= deps.settings.check_limit:
            raise CheckLimitReached()
        return create_check(deps, grant, spec, now, site_root), True
    return _write_config(deps, match, spec), False


def _unique_match(deps: Deps, grant: KeyGrant, spec: CheckSpec) -> Check | None:
    values = vars(spec)
    if not spec.unique or any(values[name] is None for name in spec.unique):
        return None
    for check in deps.store.project_checks(grant.project):
        if all(getattr(check, name) == values[name] for name in spec.unique):
            return check
    return None


def update_check(deps: Deps, grant: KeyGrant, code: str, spec: CheckSpec, version: int) -> Check:
    check = find_check(deps, grant, code)
    spec = _with_version_slug(spec, version)
    spec = resolve_spec_channels(deps, grant.project, spec)
    return _write_config(deps, check, spec)


def _with_version_slug(spec: CheckSpec, version: int) -> CheckSpec:
    """API v1 and v2 derive the slug from the name; v3 takes it only from ``slug``."""
    if version < 3 and spec.name is not None and spec.slug is None:
        return replace(spec, slug=slugify(spec.name))
    return spec


def _write_config(deps: Deps, check: Check, spec: CheckSpec) -> Check:
    """Apply the spec; on a lost race re-apply it to the check as it is now.

    A race lost to another dependency edit (``StaleGraph``) is retried the same way, and the
    retry reads the graph again: an edit that would now close a cycle gets the cycle's 400.
    """
    return retry_on_conflict(check, lambda current: _store_config(deps, current, spec))


def _store_config(deps: Deps, check: Check, spec: CheckSpec) -> Check:
    """Validate the upstreams named, then write; a changed ``depends_on`` holds the graph.

    Upstreams must be checks of this project and never lead back to the check itself. An
    edit that adds or removes one reads the graph version before the graph it validates
    against, and is stored only while that version stands (``chalicelib.dependencies``).
    """
    after = apply_spec(check, spec)
    graph_version = None
    if dependencies.changes_graph(check.depends_on, after.depends_on):
        graph_version = deps.store.graph_version(check.project)  # first: it guards the reads
    if spec.depends_on:
        dependencies.validate(check.uuid, check.project, spec.depends_on, deps.store.get_checks)
    return deps.store.write_config(check, after, graph_version=graph_version)


def pause_check(deps: Deps, grant: KeyGrant, code: str, now: datetime) -> Check:
    return _transition(deps, grant, code, now, lambda c: domain.pause(c, now))


def resume_check(deps: Deps, grant: KeyGrant, code: str, now: datetime) -> Check:
    def resume(check: Check) -> tuple[Check, domain.Flip | None]:
        if check.status != "paused":
            raise NotPaused()
        return domain.resume(check, now)

    return _transition(deps, grant, code, now, resume)


Transition = Callable[[Check], tuple[Check, domain.Flip | None]]


def _transition(deps: Deps, grant: KeyGrant, code: str, now: datetime, change: Transition) -> Check:
    def attempt(check: Check) -> tuple[Check, domain.Flip | None]:
        after, flip = change(check)
        if flip is None:
            return check, None  # nothing to change: no write
        return deps.store.write_state(check, after), flip

    check = find_check(deps, grant, code)
    stored, flip = retry_on_conflict(check, attempt)
    if flip is None:
        return stored
    deps.snapshots.drop(check.uuid)
    note_flip(check.uuid, flip)
    return deliver(deps, stored, flip, now, fresh=True)


def delete_check(deps: Deps, grant: KeyGrant, code: str) -> Check:
    check = find_check(deps, grant, code)
    deps.store.delete_check(check)
    deps.snapshots.drop(check.uuid)
    return check


# --- checks and projects: creation ---


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
    deps.store.create_check(check, exclusive_slug=exclusive_slug)
    log_event("check_created", check=check.uuid, project=grant.project)
    return check


def apply_spec(check: Check, spec: CheckSpec) -> Check:
    """Only supplied fields change. ``schedule`` makes a cron check, ``timeout`` a simple one."""
    changes = spec.changes()
    if spec.schedule is not None:
        changes["kind"] = "cron"
    elif spec.timeout is not None:
        changes["kind"] = "simple"
    if spec.channels is not None:  # already resolved to ids (routing.resolve)
        changes["alerts_enabled"] = spec.channels != ""
        changes["channel_ids"] = spec.channels
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


# --- pings and flips --------------------------------------------------------------------


def list_pings(deps: Deps, grant: KeyGrant, code: str, api_base: str) -> list[dict[str, Any]]:
    """Newest first, at most the log limit, with durations paired by run id."""
    check = find_check(deps, grant, code)
    limit = min(deps.settings.ping_log_limit, MAX_PINGS_LISTED)
    entries = deps.store.pings(check.uuid, newest=check.n_pings, limit=limit)
    durations = _durations(list(reversed(entries)))
    return [_ping_dict(entry, durations.get(entry.n), api_base, check.uuid) for entry in entries]


def _durations(oldest_first: list[LoggedPing]) -> dict[int, float]:
    started: dict[str | None, datetime] = {}
    durations: dict[int, float] = {}
    for entry in oldest_first:
        rid = entry.ping.rid
        if entry.kind == "start":
            started[rid] = entry.at
        elif entry.kind in ("success", "fail") and rid in started:
            gap = entry.at - started.pop(rid)
            if gap < MAX_RUN_PAIRING:
                durations[entry.n] = round(gap.total_seconds(), 2)
    return durations


def _ping_dict(
    entry: LoggedPing, duration: float | None, api_base: str, check_uuid: str
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "type": entry.kind,
        "date": entry.at.isoformat(),
        "n": entry.n,
        "scheme": entry.ping.scheme,
        "remote_addr": entry.ping.remote_addr,
        "method": entry.ping.method,
        "ua": entry.ping.ua,
        "rid": entry.ping.rid,
        "exitstatus": entry.ping.exitstatus,
        "body_url": (
            f"{api_base}/checks/{check_uuid}/pings/{entry.n}/body" if entry.ping.body else None
        ),
    }
    if duration is not None:
        doc["duration"] = duration
    return doc


def ping_body(deps: Deps, grant: KeyGrant, code: str, number: int) -> bytes:
    check = find_check(deps, grant, code)
    if number <= check.n_pings - deps.settings.ping_log_limit:
        raise NotFound()  # pruned, even if TTL or the prune has not caught up yet
    entry = deps.store.ping_entry(check.uuid, number)
    if entry is None or not entry.ping.body:
        raise NotFound()
    return entry.ping.body


def list_flips(
    deps: Deps, grant: KeyGrant, code: str, query: Mapping[str, str], now: datetime
) -> list[dict[str, Any]]:
    """``?seconds``, ``?start``, ``?end`` (UNIX times); never older than the retention."""
    check = find_check(deps, grant, code)
    since, until = _flip_window(query, now)
    flips = deps.store.flips(check.uuid, since=since)
    return [
        {"timestamp": flip.at.replace(microsecond=0).isoformat(), "up": int(flip.new == "up")}
        for flip in flips
        if flip.at >= since and (until is None or flip.at < until)
    ]


def _flip_window(query: Mapping[str, str], now: datetime) -> tuple[datetime, datetime | None]:
    since = now - FLIP_RETENTION
    until = None
    if "seconds" in query:
        since = max(
            since, now - timedelta(seconds=_int_param(query, "seconds", MAX_SECONDS_FILTER))
        )
    if "start" in query:
        since = max(since, _timestamp(_int_param(query, "start", MAX_TIMESTAMP)))
    if "end" in query:
        until = _timestamp(_int_param(query, "end", MAX_TIMESTAMP))
    return since, until


def _int_param(query: Mapping[str, str], name: str, maximum: int) -> int:
    value = inputs.ascii_int(query[name], maximum)
    if value is None:
        raise BadRequest(f"invalid {name} parameter")
    return value


def _timestamp(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


# --- badges -----------------------------------------------------------------------------


def badge_urls(deps: Deps, grant: KeyGrant, site: str) -> dict[str, dict[str, str]]:
    project = deps.store.get_project(grant.project)
    if project is None:
        raise NotFound()
    tags = sorted(
        {tag for check in deps.store.project_checks(grant.project) for tag in check.tag_list}
    )
    return {
        tag: badges.project_badge_urls(site, project.badge_key, project.badge_secret, tag)
        for tag in [*tags, badges.ALL_TAG]
    }


def project_badge(
    deps: Deps, badge_key: str, sig: str, tag: str, fmt: str, now: datetime
) -> tuple[str, str]:
    owner = deps.store.resolve_badge(badge_key)
    project = None if owner is None or owner.check else deps.store.get_project(owner.project)
    if project is None:
        raise NotFound()
    with_late = badges.parse_signature(project.badge_secret, tag, sig)
    if with_late is None:
        raise NotFound()
    checks = deps.badge_snapshots.get(project.id, now)
    if checks is None:
        checks = deps.store.project_checks(project.id)
        deps.badge_snapshots.put(project.id, checks, now)
    if tag != badges.ALL_TAG:
        checks = [check for check in checks if tag in check.tag_list]
    state = badges.badge_state((domain.display_status(c, now) for c in checks), with_late)
    label = badges.MASTER_LABEL if tag == badges.ALL_TAG else tag
    return badges.render(fmt, label, state)


def check_badge(
    deps: Deps, badge_key: str, states: str, fmt: str, now: datetime
) -> tuple[str, str]:
    owner = deps.store.resolve_badge(badge_key)
    check = None if owner is None or owner.check is None else deps.store.get_check(owner.check)
    if check is None or states not in ("2", "3"):
        raise NotFound()
    state = badges.badge_state([domain.display_status(check, now)], with_late=states == "3")
    # The uuid is the check's ping secret: a public badge never shows it.
    return badges.render(fmt, check.name or check.slug or badges.UNNAMED_LABEL, state)
