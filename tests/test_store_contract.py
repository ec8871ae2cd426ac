"""The store contract: every ``CheckStore`` method against ``DynamoStore`` and ``MemoryStore``.

One set of expectations for both, so the in-memory fake the drills use cannot drift from the
real store, and a new storage backend knows what it must do: add it to the ``store`` fixture.
"""

from __future__ import annotations

import inspect
import sys
import uuid
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from chalicelib import domain, sweep_rules
from chalicelib.domain import Check, Flip, Ping
from chalicelib.errors import NotFound
from chalicelib.quiet import QuietWindow
from chalicelib.store import (
    BadgeOwner,
    CheckStore,
    KeyGrant,
    Project,
    SlugTaken,
    StaleCheck,
    StaleGraph,
    retry_on_conflict,
)
from tests.conftest import T0
from tests.fakes import MemoryStore

MINUTE = timedelta(minutes=1)
RID = "5d0e2a58-1c7e-4f0b-9a57-2f1b8f0c6a11"
PROJECT = "3f2a1b0c-9d8e-4f7a-8b6c-5d4e3f2a1b0c"
OTHER = "7c6b5a49-3827-4165-9e4f-5a6b7c8d9e0f"


@pytest.fixture(params=["memory", "dynamo"])
def store(request: pytest.FixtureRequest) -> CheckStore:
    if request.param == "memory":
        return MemoryStore()
    found: CheckStore = request.getfixturevalue("deps").store
    return found


def new_check(index: int = 1, **fields: Any) -> Check:
    check_uuid = str(uuid.UUID(int=index, version=4))
    defaults: dict[str, Any] = {"project": PROJECT, "created": T0, "badge_key": check_uuid}
    return Check(uuid=check_uuid, **{**defaults, **fields})


def created(store: CheckStore, check: Check) -> Check:
    store.create_check(check)
    return check


def flipped_down(store: CheckStore, check: Check) -> tuple[Check, Flip]:
    """``check`` (up, timeout 60 s, grace 60 s) gone down at T0 + 2 min, its flip undelivered."""
    now = T0 + 2 * MINUTE
    overdue = sweep_rules.find_overdue(check, now)
    assert overdue is not None
    down, flip = sweep_rules.flip_down(check, overdue, lease_from=now)
    return store.write_state(check, down, guard_last_ping=True), flip


class TestChecks:
    def test_a_created_check_reads_back_the_same(self, store: CheckStore) -> None:
        check = new_check(name="a", slug="a", kind="cron", schedule="0 3 * * *", tz="Europe/Riga")
        created(store, check)
        assert store.get_check(check.uuid) == check
        assert store.get_check(new_check(2).uuid) is None

    def test_an_exclusive_slug_is_refused_when_taken(self, store: CheckStore) -> None:
        created(store, new_check(1, slug="nightly"))
        with pytest.raises(SlugTaken):
            store.create_check(new_check(2, slug="nightly"), exclusive_slug=True)
        assert store.get_check(new_check(2).uuid) is None  # nothing half-written
        created(store, new_check(3, slug="nightly"))  # not exclusive: the slug is shared
        assert store.checks_with_slug(PROJECT, "nightly") == [new_check(1).uuid, new_check(3).uuid]
        assert store.checks_with_slug(OTHER, "nightly") == []

    def test_project_checks_are_the_projects_only_oldest_first(self, store: CheckStore) -> None:
        second = created(store, new_check(1, created=T0 + MINUTE))
        first = created(store, new_check(2))
        created(store, new_check(3, project=OTHER))
        assert store.project_checks(PROJECT) == [first, second]
        assert store.count_project_checks(PROJECT) == 2
        assert store.count_project_checks("nobody") == 0

    def test_an_edit_moves_the_slug_and_bumps_the_version(self, store: CheckStore) -> None:
        check = created(store, new_check(slug="old", timeout=60))
        edited = store.write_config(check, replace(check, slug="new", timeout=120))
        assert (edited.slug, edited.timeout, edited.sv) == ("new", 120, check.sv + 1)
        assert store.get_check(check.uuid) == edited
        assert store.checks_with_slug(PROJECT, "old") == []
        assert store.checks_with_slug(PROJECT, "new") == [check.uuid]
        with pytest.raises(StaleCheck) as lost:
            store.write_config(check, replace(check, name="from a stale copy"))
        assert lost.value.current == edited

    def test_a_deleted_check_takes_its_slug_badge_and_log_along(self, store: CheckStore) -> None:
        check = created(store, new_check(slug="gone"))
        up = replace(check, status="up", last_ping=T0)
        counted = store.write_ping(check, up, "success", Ping("success", body=b"b" * 500), T0)
        store.delete_check(counted)
        assert store.get_check(check.uuid) is None
        assert store.checks_with_slug(PROJECT, "gone") == []
        assert store.resolve_badge(check.badge_key) is None
        assert store.project_checks(PROJECT) == []

    def test_a_delete_fences_late_writes_of_a_racing_ping(self, store: CheckStore) -> None:
        check = created(store, new_check(status="up", last_ping=T0, timeout=60, grace=60))
        down, flip = flipped_down(store, check)
        counted = store.write_ping(down, down, "log", Ping("log"), T0)
        store.delete_check(check)  # from a stale copy: the store catches up by itself
        with pytest.raises(NotFound):
            store.write_ping(counted, counted, "success", Ping("success"), T0)
        with pytest.raises(NotFound):
            store.record_flip(check.uuid, flip)
        with pytest.raises(NotFound):
            store.delete_check(check)


class TestRunHealth:
    def test_checks_read_by_key_leave_out_missing_ones(self, store: CheckStore) -> None:
        a, b = created(store, new_check(1)), created(store, new_check(2))
        assert store.get_checks([a.uuid, new_check(9).uuid, b.uuid]) == {a.uuid: a, b.uuid: b}
        assert store.get_checks([]) == {}

    def test_run_health_config_and_state_read_back_the_same(self, store: CheckStore) -> None:
        rules: dict[str, Any] = {
            "stall_timeout": 600,
            "min_duration": 30,
            "fail_threshold": 3,
            "recover_threshold": 2,
            "repeat_every": 3600,
            "quiet": (QuietWindow("0 2 * * *", 7200), QuietWindow("0 9 * * 6", 60, "Asia/Tokyo")),
            "depends_on": (new_check(7).uuid, new_check(8).uuid),
        }
        check = created(store, new_check(status="up", last_ping=T0, timeout=60, **rules))
        assert store.get_check(check.uuid) == check
        down = apply_failure(check)
        assert down.outage is not None
        held = replace(down.outage, held=True, held_by=(new_check(7).uuid,), lease=T0 + MINUTE)
        reminder = replace(down.outage, reminder=2, failures=4)
        after = replace(
            down,
            runs={"r": T0},
            progress={"r": T0 + MINUTE},
            successes=1,
            missed=T0 - MINUTE,
            reminded=2,
            outbox={held.key: held, reminder.key: reminder},
        )
        stored = store.write_state(check, after)
        assert store.get_check(check.uuid) == stored
        assert store.claim_delivery(check.uuid, reminder, T0 + 2 * MINUTE) is True
        store.remove_from_outbox(stored, reminder.key)
        current = store.get_check(check.uuid)
        assert current is not None and set(current.outbox) == {held.key}

    def test_a_dependency_edit_moves_the_graph_version_or_loses_to_another(
        self, store: CheckStore
    ) -> None:
        a, b = created(store, new_check(1)), created(store, new_check(2))
        assert store.graph_version(PROJECT) == 0  # no item yet: projects from before, too
        edited = store.write_config(a, replace(a, depends_on=(b.uuid,)), graph_version=0)
        assert (store.graph_version(PROJECT), store.graph_version(OTHER)) == (1, 0)
        with pytest.raises(StaleGraph) as lost:  # validated against version 0's graph
            store.write_config(b, replace(b, depends_on=(a.uuid,)), graph_version=0)
        assert lost.value.current == b  # the check itself had not moved
        assert store.get_check(b.uuid) == b and store.graph_version(PROJECT) == 1
        store.write_config(b, replace(b, name="renamed"))  # other edits leave it alone
        store.write_config(edited, replace(edited, depends_on=()), graph_version=1)
        assert store.graph_version(PROJECT) == 2
        with pytest.raises(StaleCheck) as stale:  # a stale check says so first
            store.write_config(a, replace(a, depends_on=()), graph_version=2)
        assert not isinstance(stale.value, StaleGraph) and store.graph_version(PROJECT) == 2


def apply_failure(check: Check) -> Check:
    down, _ = domain.register_failure(replace(check, fail_threshold=1), T0, "fail", lease_from=T0)
    return replace(down, fail_threshold=check.fail_threshold)


class TestState:
    def test_a_write_from_a_stale_copy_fails_with_the_current_check(
        self, store: CheckStore
    ) -> None:
        check = created(store, new_check())
        current = store.write_state(check, replace(check, status="up", last_ping=T0))
        with pytest.raises(StaleCheck) as lost:
            store.write_state(check, replace(check, status="paused"))
        assert lost.value.current == current == store.get_check(check.uuid)
        with pytest.raises(NotFound):
            store.write_state(new_check(9), new_check(9, status="up"))

    def test_retry_on_conflict_reapplies_the_change_to_the_current_check(
        self, store: CheckStore
    ) -> None:
        check = created(store, new_check())
        current = store.write_state(check, replace(check, status="up", last_ping=T0))
        seen: list[int] = []

        def pause(latest: Check) -> Check:
            seen.append(latest.sv)
            return store.write_state(latest, replace(latest, status="paused"))

        paused = retry_on_conflict(check, pause)
        assert seen == [check.sv, current.sv]  # one lost race, then the current state
        assert store.get_check(check.uuid) == paused and paused.status == "paused"

    def test_a_sweep_loses_to_a_ping_that_moved_last_ping(self, store: CheckStore) -> None:
        check = created(store, new_check(status="up", last_ping=T0, timeout=60, grace=60))
        store.write_ping(
            check, replace(check, last_ping=T0 + MINUTE), "success", Ping("success"), T0
        )
        with pytest.raises(StaleCheck):
            store.write_state(check, replace(check, status="down"), guard_last_ping=True)


class TestSweepAndDelivery:
    def test_due_checks_are_those_whose_deadline_passed(self, store: CheckStore) -> None:
        late = [new_check(i, status="up", last_ping=T0, timeout=60, grace=60) for i in (1, 2, 3)]
        fine = [new_check(i, status="up", last_ping=T0, timeout=3600) for i in (4, 5)]
        # Due a second later: in the same due bucket as ``now`` for DynamoStore, still not due.
        fine.append(new_check(8, status="up", last_ping=T0, timeout=61, grace=60))
        never = [new_check(6), new_check(7, status="down", last_ping=T0)]
        for check in late + fine + never:
            created(store, check)
        due = list(store.due_checks(T0 + 2 * MINUTE))
        assert sorted(c.uuid for c in due) == sorted(c.uuid for c in late)
        assert list(store.due_checks(T0 + 2 * MINUTE - timedelta(microseconds=1))) == []

    def test_an_undelivered_flip_is_claimed_once_and_removed(self, store: CheckStore) -> None:
        check = created(store, new_check(status="up", last_ping=T0, timeout=60, grace=60))
        stored, flip = flipped_down(store, check)
        assert [c.uuid for c in store.due_checks(flip.lease)] == [check.uuid]
        lease = flip.lease + MINUTE
        assert store.claim_delivery(check.uuid, flip, lease) is True
        assert store.claim_delivery(check.uuid, flip, lease + MINUTE) is False
        store.remove_from_outbox(stored, flip.id)
        after = store.get_check(check.uuid)
        assert after is not None and (after.status, dict(after.outbox)) == ("down", {})
        assert list(store.due_checks(T0 + timedelta(days=1))) == []

    def test_a_failed_publish_moves_the_lease_and_the_deadline_once(
        self, store: CheckStore
    ) -> None:
        check = created(store, new_check(status="up", last_ping=T0, timeout=60, grace=60))
        stored, flip = flipped_down(store, check)
        now = T0 + 2 * MINUTE
        retry = domain.after_failed_publish(replace(flip, attempts=6), now)
        assert retry.lease == now + domain.MAX_RETRY_DELAY and retry.attempts == 7
        assert store.defer_delivery(stored, flip, retry) is True
        assert store.defer_delivery(stored, flip, retry) is False  # the lease is not ours
        after = store.get_check(check.uuid)
        assert after is not None and after.outbox == {flip.id: retry}
        assert list(store.due_checks(retry.lease - timedelta(seconds=1))) == []
        assert [c.uuid for c in store.due_checks(retry.lease)] == [check.uuid]

    def test_removing_from_the_outbox_of_a_deleted_check_is_harmless(
        self, store: CheckStore
    ) -> None:
        check = created(store, new_check(status="up", last_ping=T0, timeout=60, grace=60))
        stored, flip = flipped_down(store, check)
        store.delete_check(stored)
        store.remove_from_outbox(stored, flip.id)
        assert store.get_check(check.uuid) is None


class TestLogs:
    def test_a_ping_is_counted_and_logged_in_one_call(self, store: CheckStore) -> None:
        check = created(store, new_check(timeout=60))
        up = replace(check, status="up", last_ping=T0)
        first = store.write_ping(check, up, "success", Ping("success", ua="curl/8"), T0)
        assert (first.n_pings, first.sv) == (1, 1)
        assert store.get_check(check.uuid) == first
        again = store.write_ping(
            first, replace(first, last_ping=T0 + MINUTE), "log", Ping("log"), T0 + MINUTE
        )
        assert (again.n_pings, again.sv) == (2, 1)
        entries = store.pings(check.uuid, newest=2, limit=10)
        assert [(e.n, e.at, e.kind, e.ping.ua) for e in entries] == [
            (2, T0 + MINUTE, "log", ""),
            (1, T0, "success", "curl/8"),
        ]
        with pytest.raises(StaleCheck):
            store.write_ping(check, up, "success", Ping("success"), T0)
        assert store.get_check(check.uuid) == again  # the lost race counted and logged nothing

    def test_the_ping_log_keeps_the_newest_up_to_its_limit(self, store: CheckStore) -> None:
        store.ping_log_limit = 7  # type: ignore[attr-defined]
        check = created(store, new_check())
        bodies = {n: b"%d" % n * (n % 3 * 30) for n in range(1, 24)}  # empty, inline, apart
        for n, body in bodies.items():
            ping = Ping("success", rid=None if n % 2 else RID, exitstatus=n, body=body)
            at = T0 + n * MINUTE
            check = store.write_ping(check, replace(check, last_ping=at), "success", ping, at)
        last = store.last_ping_entry(check.uuid)
        assert last is not None and (last.n, last.ping.body) == (23, bodies[23])
        listed = store.pings(check.uuid, newest=23, limit=7)
        assert [e.n for e in listed] == list(range(23, 16, -1))
        for entry in listed:
            assert entry.at == T0 + entry.n * MINUTE
            assert entry.ping.exitstatus == entry.n
            assert entry.ping.rid == (None if entry.n % 2 else RID)
            assert bool(entry.ping.body) == bool(bodies[entry.n])  # maybe only its first bytes
            whole = store.ping_entry(check.uuid, entry.n)
            assert whole is not None and whole.ping == entry.ping.__class__(
                **{**vars(entry.ping), "body": bodies[entry.n]}
            )
        assert [e.n for e in store.pings(check.uuid, newest=20, limit=2)] == [20, 19]
        assert store.ping_entry(check.uuid, 99) is None
        assert store.last_ping_entry(new_check(9).uuid) is None

    def test_flips_are_kept_once_newest_first(self, store: CheckStore) -> None:
        check = created(store, new_check())
        flips = [
            Flip(f"f{i}", T0 + i * MINUTE, "up", "down", "timeout", T0 + i * MINUTE) for i in (1, 2)
        ]
        for flip in [*flips, flips[0]]:
            store.record_flip(check.uuid, flip)
        assert store.flips(check.uuid) == flips[::-1]
        assert store.flips(check.uuid, since=T0 + 2 * MINUTE) == flips[1:]


class TestProjects:
    def test_keys_resolve_to_their_project(self, store: CheckStore) -> None:
        project = Project(PROJECT, "p", "badge", "secret")
        store.create_project(project, {"rw": "k" * 32, "ping": "p" * 22})
        assert store.get_project(PROJECT) == project
        assert store.get_project(OTHER) is None
        assert store.resolve_key("k" * 32) == KeyGrant(PROJECT, "rw")
        assert store.resolve_key("p" * 22) == KeyGrant(PROJECT, "ping")
        assert store.resolve_key("x" * 32) is None

    def test_badge_keys_name_their_project_or_check(self, store: CheckStore) -> None:
        store.create_project(Project(PROJECT, "p", "project-badge", "secret"), {})
        check = created(store, new_check(badge_key="check-badge"))
        assert store.resolve_badge("project-badge") == BadgeOwner(PROJECT, None)
        assert store.resolve_badge("check-badge") == BadgeOwner(PROJECT, check.uuid)
        assert store.resolve_badge("nobody") is None

    def test_the_store_answers_a_ping(self, store: CheckStore) -> None:
        store.ping()  # no error: the status endpoint's "OK"


def test_every_store_method_is_held_to_the_contract() -> None:
    """A method added to ``CheckStore`` must be exercised here, against both stores."""
    methods = {name for name in vars(CheckStore) if not name.startswith("_")}
    source = inspect.getsource(sys.modules[__name__])
    unexercised = {name for name in methods if f"store.{name}(" not in source}
    assert methods and unexercised == set()
