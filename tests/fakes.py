"""In-memory stand-ins for the AWS adapters, for drills too long to run against moto.

``MemoryStore`` implements ``chalicelib.store.CheckStore``: it keeps what ``DynamoStore`` keeps
(a check's config and state, its ``alert_after``, ping log, flips, projects, keys, badge keys)
and honours the same conditions: the state version, the ``last_ping`` guard of sweeps, the
delivery lease, the fences a delete leaves. ``tests/test_store_contract.py`` runs one set of
expectations against both, so the fake cannot quietly drift from the real one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from chalicelib import domain
from chalicelib.alerts import Alert
from chalicelib.domain import Check, Flip, LoggedPing, Ping
from chalicelib.errors import NotFound
from chalicelib.items import due_shard
from chalicelib.settings import DEFAULT_DUE_SHARDS, DEFAULT_PING_LOG_LIMIT
from chalicelib.store import BadgeOwner, KeyGrant, Project, SlugTaken, StaleCheck, StaleGraph


@dataclass
class MemoryStore:
    checks: dict[str, Check] = field(default_factory=dict)
    alert_after: dict[str, datetime] = field(default_factory=dict)
    ping_log: dict[str, dict[int, LoggedPing]] = field(default_factory=dict)
    flip_log: dict[str, dict[str, Flip]] = field(default_factory=dict)
    slugs: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    keys: dict[str, KeyGrant] = field(default_factory=dict)
    shards: dict[str, str] = field(default_factory=dict)
    badges: dict[str, BadgeOwner] = field(default_factory=dict)
    batch_reads: int = 0  # get_checks calls: dependency holds read upstreams by key
    projects: dict[str, Project] = field(default_factory=dict)
    graph_versions: dict[str, int] = field(default_factory=dict)  # absent: 0
    # (check uuid, "PING#<n>" or "FLIP#<id>"): what a delete fenced against late writes
    fences: set[tuple[str, str]] = field(default_factory=set)
    due_shards: int = DEFAULT_DUE_SHARDS
    ping_log_limit: int = DEFAULT_PING_LOG_LIMIT

    # --- checks -------------------------------------------------------------------------

    def get_check(self, check_uuid: str) -> Check | None:
        return self.checks.get(check_uuid)

    def get_checks(self, check_uuids: Iterable[str]) -> dict[str, Check]:
        self.batch_reads += 1
        return {u: self.checks[u] for u in check_uuids if u in self.checks}

    def create_check(self, check: Check, *, exclusive_slug: bool = False) -> None:
        if check.uuid in self.checks or check.badge_key in self.badges:
            raise ValueError(f"check {check.uuid} or its badge key exists")
        if exclusive_slug and check.slug and self.checks_with_slug(check.project, check.slug):
            raise SlugTaken()
        self.badges[check.badge_key] = BadgeOwner(check.project, check.uuid)
        self._move_slug(check.project, "", check.slug, check.uuid)
        self._put(check, check)

    def write_config(
        self, before: Check, after: Check, *, graph_version: int | None = None
    ) -> Check:
        stored = self._current(before)
        if graph_version is not None:
            if self.graph_version(before.project) != graph_version:
                raise StaleGraph(before)
            self.graph_versions[before.project] = graph_version + 1
        updated = replace(
            after,
            status=stored.status,
            runs=stored.runs,
            progress=stored.progress,
            failures=stored.failures,
            successes=stored.successes,
            missed=stored.missed,
            outage=stored.outage,
            reminded=stored.reminded,
            last_ping=stored.last_ping,
            last_duration=stored.last_duration,
            outbox=stored.outbox,
            n_pings=stored.n_pings,
            sv=stored.sv + 1,
        )
        self._move_slug(before.project, before.slug, after.slug, before.uuid)
        self._put(updated, after)  # the deadline from the caller's copy, as the UpdateItem does
        return replace(after, sv=before.sv + 1)

    def graph_version(self, project: str) -> int:
        return self.graph_versions.get(project, 0)

    def delete_check(self, check: Check) -> None:
        stored = self.checks.get(check.uuid)
        if stored is None:
            raise NotFound()
        self._move_slug(stored.project, stored.slug, "", stored.uuid)
        self.badges.pop(stored.badge_key, None)
        del self.checks[stored.uuid]
        self.alert_after.pop(stored.uuid, None)
        self.ping_log.pop(stored.uuid, None)
        self.flip_log.pop(stored.uuid, None)
        # As DynamoStore fences them: the numbers a racing ping may hold, the undelivered flips.
        self.fences |= {(stored.uuid, f"PING#{n}") for n in range(1, stored.n_pings + 1)}
        self.fences |= {(stored.uuid, f"FLIP#{flip_id}") for flip_id in stored.outbox}

    def project_checks(self, project: str) -> list[Check]:
        found = [check for check in self.checks.values() if check.project == project]
        return sorted(found, key=lambda check: (check.created, check.uuid))

    def count_project_checks(self, project: str) -> int:
        return len(self.project_checks(project))

    def _current(self, before: Check) -> Check:
        stored = self.checks.get(before.uuid)
        if stored is None:
            raise NotFound()
        if stored.sv != before.sv:
            raise StaleCheck(stored)
        return stored

    def _move_slug(self, project: str, old: str, new: str, check_uuid: str) -> None:
        if old == new:
            return
        if old:
            self.slugs.get((project, old), set()).discard(check_uuid)
        if new:
            self.slugs.setdefault((project, new), set()).add(check_uuid)

    def write_state(
        self,
        before: Check,
        after: Check,
        *,
        guard_last_ping: bool = False,
    ) -> Check:
        return self._write_state(before, after, guard_last_ping=guard_last_ping)

    def _write_state(
        self, before: Check, after: Check, *, count_ping: bool = False, guard_last_ping: bool
    ) -> Check:
        stored = self.checks.get(before.uuid)
        if stored is None:
            raise NotFound()
        if stored.sv != before.sv or (guard_last_ping and stored.last_ping != before.last_ping):
            raise StaleCheck(stored)
        # Like the UpdateItem: state attributes only; flips are added and removed by id.
        outbox = {
            k: v
            for k, v in stored.outbox.items()
            if k not in before.outbox.keys() - after.outbox.keys()
        }
        outbox.update({k: after.outbox[k] for k in after.outbox.keys() - before.outbox.keys()})
        # Flips the write changes (a down alert held or released), as ``items.state_update``.
        outbox.update(
            {
                k: after.outbox[k]
                for k in before.outbox.keys() & after.outbox.keys()
                if after.outbox[k] != before.outbox[k]
            }
        )
        changed = domain.has_state_change(before, after)
        updated = replace(
            stored,
            status=after.status,
            runs=dict(after.runs),
            progress=dict(after.progress),
            failures=after.failures,
            successes=after.successes,
            missed=after.missed,
            outage=after.outage,
            reminded=after.reminded,
            last_ping=after.last_ping,
            last_duration=after.last_duration,
            outbox=outbox,
            n_pings=stored.n_pings + 1 if count_ping else stored.n_pings,
            sv=before.sv + 1 if changed else before.sv,
        )
        self._put(updated, after)
        return replace(
            after, n_pings=updated.n_pings if count_ping else after.n_pings, sv=updated.sv
        )

    def claim_delivery(self, check_uuid: str, flip: Flip, lease: datetime) -> bool:
        stored = self.checks.get(check_uuid)
        held = None if stored is None else stored.outbox.get(flip.key)
        if stored is None or held is None or held.lease != flip.lease:
            return False
        outbox = {**stored.outbox, flip.key: replace(held, lease=lease)}
        self.checks[check_uuid] = replace(stored, outbox=outbox)
        return True

    def defer_delivery(self, check: Check, held: Flip, retry: Flip) -> bool:
        stored = self.checks.get(check.uuid)
        current = None if stored is None else stored.outbox.get(retry.key)
        if stored is None or current is None or current.lease != held.lease:
            return False
        moved = domain.with_flip(stored, retry)
        if stored.sv == check.sv and stored.last_ping == check.last_ping:
            self._put(moved, domain.with_flip(check, retry))
        else:
            self.checks[check.uuid] = moved  # the lease alone; the deadline stays
        return True

    def remove_from_outbox(self, check: Check, flip_key: str) -> None:
        stored = self.checks.get(check.uuid)
        if stored is None:
            return  # as DynamoStore: the check was deleted meanwhile, no outbox is left
        left = domain.without_flip(stored, flip_key)
        if stored.sv == check.sv:
            # The deadline is recomputed from the caller's copy, as the conditional update does.
            self._put(left, domain.without_flip(check, flip_key))
        else:
            self.checks[check.uuid] = left

    def due_checks(self, now: datetime) -> Iterator[Check]:
        due = [(self.shards[u], at, u) for u, at in self.alert_after.items() if at <= now]
        for _, _, check_uuid in sorted(due):
            yield self.checks[check_uuid]

    def earliest_due(self) -> datetime | None:
        """Test helper: the smallest ``alert_after`` in the due index, or None if it is empty."""
        return min(self.alert_after.values(), default=None)

    def checks_with_slug(self, project: str, slug: str) -> list[str]:
        return sorted(self.slugs.get((project, slug), set()))

    def _put(self, stored: Check, deadline_from: Check) -> None:
        self.checks[stored.uuid] = stored
        due = domain.alert_after(deadline_from)
        if due is None:
            self.alert_after.pop(stored.uuid, None)
        else:
            self.alert_after[stored.uuid] = due
            self.shards[stored.uuid] = due_shard(stored.uuid, self.due_shards)

    # --- ping log and flips -------------------------------------------------------------

    def write_ping(self, before: Check, after: Check, kind: str, ping: Ping, at: datetime) -> Check:
        stored = self._write_state(before, after, count_ping=True, guard_last_ping=False)
        number = stored.n_pings
        if (before.uuid, f"PING#{number}") in self.fences:
            raise NotFound()
        log = self.ping_log.setdefault(before.uuid, {})
        log[number] = LoggedPing(number, at, kind, ping)
        # The log keeps the newest ``ping_log_limit`` (DynamoStore's ring may keep a few more).
        for old in [x for x in log if x <= number - self.ping_log_limit]:
            del log[old]
        return stored

    def last_ping_entry(self, check_uuid: str) -> LoggedPing | None:
        found = self.pings(check_uuid, newest=None, limit=1)
        return found[0] if found else None

    def pings(self, check_uuid: str, newest: int | None, limit: int) -> list[LoggedPing]:
        log = self.ping_log.get(check_uuid, {})
        numbers = sorted(log, reverse=True)
        if newest is not None:
            numbers = [n for n in numbers if max(newest - limit + 1, 1) <= n <= newest]
        return [log[n] for n in numbers[:limit]]

    def ping_entry(self, check_uuid: str, number: int) -> LoggedPing | None:
        return self.ping_log.get(check_uuid, {}).get(number)

    def record_flip(self, check_uuid: str, flip: Flip) -> None:
        if (check_uuid, f"FLIP#{flip.id}") in self.fences:
            raise NotFound()
        self.flip_log.setdefault(check_uuid, {})[f"{flip.at.isoformat()}#{flip.id}"] = flip

    def flips(self, check_uuid: str, since: datetime | None = None) -> list[Flip]:
        log = self.flip_log.get(check_uuid, {})
        low = "" if since is None else since.isoformat()
        return [log[key] for key in sorted(log, reverse=True) if key >= low]

    # --- projects and keys --------------------------------------------------------------

    def create_project(self, project: Project, keys: Mapping[str, str]) -> None:
        if project.id in self.projects or any(secret in self.keys for secret in keys.values()):
            raise ValueError(f"project {project.id} or one of its keys exists")
        self.projects[project.id] = project
        self.badges[project.badge_key] = BadgeOwner(project.id, None)
        for role, secret in keys.items():
            self.keys[secret] = KeyGrant(project.id, role)

    def get_project(self, project_id: str) -> Project | None:
        return self.projects.get(project_id)

    def resolve_key(self, secret: str) -> KeyGrant | None:
        return self.keys.get(secret)

    def resolve_badge(self, badge_key: str) -> BadgeOwner | None:
        return self.badges.get(badge_key)

    def ping(self) -> None:
        """Always answers: there is nothing to reach."""


@dataclass
class RecordingAlerter:
    """Keeps every alert with the (simulated) time it was published; can be told to fail.

    ``fail`` decides per call: "before" raises without publishing, "after" publishes and then
    raises (the reply was lost), None publishes.
    """

    clock: Callable[[], datetime]
    fail: Callable[[Alert], str | None] | None = None
    published: list[tuple[datetime, Alert]] = field(default_factory=list)
    attempts: int = 0

    def publish(self, alert: Alert) -> str:
        self.attempts += 1
        failure = self.fail(alert) if self.fail is not None else None
        if failure == "before":
            raise ConnectionError("injected: publish failed")
        self.published.append((self.clock(), alert))
        if failure == "after":
            raise TimeoutError("injected: published, but the reply was lost")
        return f"message-{len(self.published)}"

    def documents(self) -> list[dict[str, Any]]:
        return [alert.document for _, alert in self.published]
