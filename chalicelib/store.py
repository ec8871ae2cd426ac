"""The storage port: what the use cases need from a store, and how its writes can lose.

``CheckStore`` is the one interface the use cases (``service``, ``management``) talk to.
``chalicelib.dynamo.DynamoStore`` implements it on DynamoDB; ``tests/fakes.MemoryStore`` in
memory, and ``tests/test_store_contract.py`` holds both to the same expectations. A new storage
backend is a new module that implements this Protocol and passes that contract test.

Writes are optimistic: a write names the snapshot it was computed from and fails with
``StaleCheck`` (carrying the current check) when the stored check has moved on.
``retry_on_conflict`` is the one loop that re-runs such a write from the current state.
Edits of ``depends_on`` are also serialised per project, by the version of its dependency
graph (``graph_version``), so that no two of them validate against the same graph and
together store a cycle (``StaleGraph``).
Storage details (the DynamoDB due-index shard count, item layout, fences) stay inside the
implementation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol, TypeVar

from chalicelib.domain import Check, Flip, LoggedPing, Ping

FLIP_RETENTION = timedelta(days=93)
# Optimistic writes retry from the state the failed write returned; under any realistic
# contention a handful of attempts suffice, the bound only stops a livelock.
MAX_WRITE_ATTEMPTS = 200

T = TypeVar("T")


class StaleCheck(Exception):
    """A conditional write lost a race; ``current`` is the check as it is now."""

    def __init__(self, current: Check) -> None:
        super().__init__("check changed since it was read")
        self.current = current


class StaleGraph(StaleCheck):
    """A dependency edit lost a race to another one in its project.

    The check itself is unchanged (``current`` is the copy the write was computed from), but
    the project's dependency graph moved on since its version was read: read it and validate
    the edit again.
    """

    def __init__(self, current: Check) -> None:
        super().__init__(current)
        self.args = ("the project's dependencies changed since they were read",)


class SlugTaken(Exception):
    """An auto-provisioned check lost the race for its slug to another request."""


def retry_on_conflict(check: Check, attempt: Callable[[Check], T]) -> T:
    """``attempt(check)``; after each lost race, again on the check as it now is.

    No re-read as a rule: a failed conditional write returns the current state (a write that
    met a DynamoDB transaction in flight reads it once, consistently). ``NotFound`` (the check
    was deleted) and every other error propagate at once.
    """
    for _ in range(MAX_WRITE_ATTEMPTS):
        try:
            return attempt(check)
        except StaleCheck as stale:
            check = stale.current
    raise RuntimeError(f"gave up writing {check.uuid} after {MAX_WRITE_ATTEMPTS} lost races")


@dataclass(frozen=True)
class KeyGrant:
    """What an API key grants: a project and a role."""

    project: str
    role: str  # "rw" | "ro" | "ping"


@dataclass(frozen=True)
class Project:
    """A project: its name and its badge keys."""

    id: str
    name: str
    badge_key: str
    badge_secret: str


@dataclass(frozen=True)
class BadgeOwner:
    """Whose badge a badge key opens: a project's, or one check's."""

    project: str
    check: str | None  # None: the project's own badge key


class CheckStore(Protocol):
    """Checks, their ping log and flips, projects, keys and badge keys."""

    # --- checks: config and state ---------------------------------------------------

    def get_check(self, check_uuid: str) -> Check | None:
        """The check as stored now (strongly consistent), or None."""

    def get_checks(self, check_uuids: Iterable[str]) -> dict[str, Check]:
        """Checks by key, strongly consistent; missing ones are left out (never a scan)."""

    def create_check(self, check: Check, *, exclusive_slug: bool = False) -> None:
        """The check, its slug entry and badge key, all or nothing.

        ``exclusive_slug``: ``SlugTaken`` if another check already has the slug.
        """

    def write_state(
        self,
        before: Check,
        after: Check,
        *,
        guard_last_ping: bool = False,
    ) -> Check:
        """Store ``after``'s state if the stored state is still ``before``'s; return it.

        ``StaleCheck`` on a lost race, ``NotFound`` if the check is gone. ``guard_last_ping``
        also requires ``last_ping`` unchanged. A ping is written with ``write_ping``, which
        counts and logs it in the same write.
        """

    def write_ping(self, before: Check, after: Check, kind: str, ping: Ping, at: datetime) -> Check:
        """Store a ping's state like ``write_state``, count it and log it as ``kind``.

        Returns the stored check; its ``n_pings`` is the ping's number in the log. Recorded
        (counted and logged) once this returns; ``StaleCheck`` or ``NotFound`` as
        ``write_state``, and ``NotFound`` if the check was deleted before the log was whole.
        The log keeps at least the newest ``VIGIL_PING_LOG_LIMIT`` pings, with no pruning.
        """

    def write_config(
        self, before: Check, after: Check, *, graph_version: int | None = None
    ) -> Check:
        """Store an edited check (and move its slug); ``StaleCheck`` if it changed since.

        ``graph_version``: the edit changes ``depends_on`` and was validated against the
        project's dependency graph at that version (``graph_version``). Store it only if the
        graph is still there, and move the graph to the next version in the same write;
        ``StaleGraph`` if another dependency edit came first.
        """

    def graph_version(self, project: str) -> int:
        """The version of the project's dependency graph, strongly consistent.

        Every edit that changes a ``depends_on`` moves it on (0: none ever did).
        """

    def delete_check(self, check: Check) -> None:
        """Delete the check and everything it owns; a racing ping or flip write gets NotFound."""

    def project_checks(self, project: str) -> list[Check]:
        """Every check of the project, oldest first."""

    def count_project_checks(self, project: str) -> int: ...

    def checks_with_slug(self, project: str, slug: str) -> list[str]:
        """The uuids of the project's checks with this slug (strongly consistent)."""

    # --- the sweep and delivery -----------------------------------------------------

    def due_checks(self, now: datetime) -> Iterator[Check]:
        """Checks whose ``alert_after`` is at or before ``now``, and no others."""

    def claim_delivery(self, check_uuid: str, flip: Flip, lease: datetime) -> bool:
        """Take over an undelivered flip whose lease is still ``flip.lease``."""

    def defer_delivery(self, check: Check, held: Flip, retry: Flip) -> bool:
        """Lease the flip until ``retry.lease`` if it is still held at ``held.lease``."""

    def remove_from_outbox(self, check: Check, flip_key: str) -> None:
        """The flip was delivered: forget it and move the check's deadline accordingly."""

    # --- ping log and flips ---------------------------------------------------------

    def last_ping_entry(self, check_uuid: str) -> LoggedPing | None: ...

    def pings(self, check_uuid: str, newest: int | None, limit: int) -> list[LoggedPing]:
        """Up to ``limit`` entries, newest first, none older than ``newest - limit``.

        An entry's body may be cut to its first bytes (enough to tell it has one);
        ``ping_entry`` and ``last_ping_entry`` give it whole.
        """

    def ping_entry(self, check_uuid: str, number: int) -> LoggedPing | None: ...

    def record_flip(self, check_uuid: str, flip: Flip) -> None:
        """Idempotent per flip; ``NotFound`` if the check was deleted meanwhile."""

    def flips(self, check_uuid: str, since: datetime | None = None) -> list[Flip]:
        """Recorded flips, newest first, none before ``since``."""

    # --- projects, keys and badges --------------------------------------------------

    def create_project(self, project: Project, keys: Mapping[str, str]) -> None:
        """The project, its keys (role -> secret) and its badge key, all or nothing."""

    def get_project(self, project_id: str) -> Project | None: ...

    def resolve_key(self, secret: str) -> KeyGrant | None: ...

    def resolve_badge(self, badge_key: str) -> BadgeOwner | None: ...

    def ping(self) -> None:
        """A cheap read that proves the store answers (the status endpoint)."""
