"""Data safety: a malformed check item is skipped, and a DELETE racing a ping leaves nothing.

Both on moto, with fixed times and no sleeps: the race is forced by running the DELETE at the
exact point between the ping's two writes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import boto3
import pytest

from chalicelib import management, metrics, service, sweeps
from chalicelib.domain import Ping
from chalicelib.items import PAGE_PINGS
from chalicelib.spec import CheckSpec
from tests.conftest import T0, read_alerts

MINUTE = timedelta(minutes=1)


def new_check(deps: Any, project: Any, **fields: Any) -> Any:
    grant = management.authorize(deps, project.api_key, write=True)
    spec = CheckSpec(**{"timeout": 60, "grace": 60, **fields})
    return management.create_check(deps, grant, spec, T0, "http://vigil.test")


def corrupt(deps: Any, check_uuid: str, update: str, values: dict[str, Any] | None = None) -> None:
    kwargs = {"ExpressionAttributeValues": values} if values else {}
    boto3.client("dynamodb").update_item(
        TableName=deps.settings.table,
        Key={"pk": {"S": f"CHECK#{check_uuid}"}, "sk": {"S": "CHECK"}},
        UpdateExpression=update,
        **kwargs,
    )


@pytest.fixture
def lines() -> Iterator[list[dict[str, Any]]]:
    captured: list[dict[str, Any]] = []
    metrics.reset()
    metrics.set_sink(lambda line: captured.append(json.loads(line)))
    yield captured
    metrics.set_sink(None)
    metrics.reset()


def malformed_counted(lines: list[dict[str, Any]]) -> float:
    metrics.flush()
    return sum(line.get(metrics.MALFORMED_ITEMS, 0) for line in lines)


BREAKAGES = [
    ("REMOVE created", None),
    ("SET created = :bad", {":bad": {"N": "17"}}),
    ("SET n_pings = :bad", {":bad": {"S": "many"}}),
    ("SET runs = :bad", {":bad": {"S": "none"}}),
]


class TestMalformedItems:
    @pytest.mark.parametrize(("update", "values"), BREAKAGES)
    def test_a_sweep_skips_a_malformed_check_and_alerts_the_rest(
        self,
        deps: Any,
        project: Any,
        aws: dict[str, str],
        lines: list[dict[str, Any]],
        caplog: pytest.LogCaptureFixture,
        update: str,
        values: dict[str, Any] | None,
    ) -> None:
        checks = [new_check(deps, project, name=f"job-{i}") for i in range(3)]
        for check in checks:
            service.record_ping(deps, check.uuid, Ping("success"), T0)
        corrupt(deps, checks[1].uuid, update, values)
        metrics.reset()

        report = sweeps.sweep(deps, T0 + 5 * MINUTE)

        assert report.flipped == 2
        alerted = {a["document"]["check"]["uuid"] for a in read_alerts(aws["queue_url"])}
        assert alerted == {checks[0].uuid, checks[2].uuid}
        assert malformed_counted(lines) == 1
        assert f"CHECK#{checks[1].uuid}" in caplog.text and "cannot be read" in caplog.text

    @pytest.mark.parametrize(("update", "values"), BREAKAGES)
    def test_a_listing_skips_a_malformed_check(
        self,
        client: Any,
        deps: Any,
        project: Any,
        lines: list[dict[str, Any]],
        caplog: pytest.LogCaptureFixture,
        update: str,
        values: dict[str, Any] | None,
    ) -> None:
        checks = [new_check(deps, project, name=f"job-{i}") for i in range(3)]
        corrupt(deps, checks[0].uuid, update, values)
        metrics.reset()

        reply = client.http.get("/api/v3/checks/", headers={"X-Api-Key": project.api_key})

        assert reply.status_code == 200, reply.body
        names = sorted(c["name"] for c in json.loads(reply.body)["checks"])
        assert names == ["job-1", "job-2"]
        assert malformed_counted(lines) == 1
        assert "cannot be read" in caplog.text


# --- a DELETE racing a ping -----------------------------------------------------------------


def partition(deps: Any, check_uuid: str) -> list[dict[str, Any]]:
    return boto3.client("dynamodb").query(
        TableName=deps.settings.table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"CHECK#{check_uuid}"}},
    )["Items"]


def assert_nothing_left(deps: Any, check: Any) -> None:
    """Only fences remain: bare keys marked gone, expiring a day after the delete."""
    left = partition(deps, check.uuid)
    for item in left:
        assert set(item) == {"pk", "sk", "gone", "expires"}, item
        assert int(item["expires"]["N"]) == int((T0 + timedelta(days=1)).timestamp())
    assert deps.store.get_check(check.uuid) is None


class TestDeleteRacingAPing:
    @pytest.fixture(autouse=True)
    def fixed_clock(self, deps: Any) -> None:
        deps.store.clock = lambda: T0

    def delete_before(self, deps: Any, name: str, stale: Any) -> list[int]:
        """Run the DELETE (from a copy read before the ping) just before ``store.<name>``."""
        original = getattr(deps.store, name)
        calls: list[int] = []

        def racing(*args: Any) -> Any:
            if not calls:
                deps.store.delete_check(stale)
            calls.append(1)
            return original(*args)

        setattr(deps.store, name, racing)
        return calls

    def test_delete_before_the_ping_write(self, client: Any, deps: Any, project: Any) -> None:
        check = new_check(deps, project, slug="nightly")
        for minute in range(3):
            service.record_ping(deps, check.uuid, Ping("success"), T0 + minute * MINUTE)
        stale = deps.store.get_check(check.uuid)
        calls = self.delete_before(deps, "write_ping", stale)

        reply = client.http.post(f"/ping/{check.uuid}", body=b"racing")

        assert calls == [1]
        assert (reply.status_code, reply.body) == (404, b"not found")
        assert_nothing_left(deps, check)
        assert deps.store.checks_with_slug(project.project, "nightly") == []
        # Numbers 1..3 were counted: their body slots and their page's slot are fenced.
        fences = {item["sk"]["S"] for item in partition(deps, check.uuid)}
        assert fences == {"LOG#00000"} | {f"BODY#{n:05d}" for n in range(1, 4)}
        again = client.http.post(f"/ping/{check.uuid}")
        assert (again.status_code, again.body) == (404, b"not found")

    def test_delete_between_the_check_write_and_the_body_write(
        self, client: Any, deps: Any, project: Any
    ) -> None:
        check = new_check(deps, project)
        service.record_ping(deps, check.uuid, Ping("success"), T0)
        calls = self.delete_before(deps, "_put_unless_fenced", None)
        original_delete = deps.store.delete_check
        deps.store.delete_check = lambda _: original_delete(deps.store.get_check(check.uuid))

        reply = client.http.post(f"/ping/{check.uuid}", body=b"x" * 500)

        assert calls == [1]
        # Counted (n = 2) but its body never landed: not answered 2xx, and nothing is left.
        assert (reply.status_code, reply.body) == (404, b"not found")
        assert_nothing_left(deps, check)
        fences = {item["sk"]["S"] for item in partition(deps, check.uuid)}
        assert fences == {"LOG#00000", "BODY#00001", "BODY#00002"}

    def test_delete_between_a_ping_and_its_page_write(
        self, client: Any, deps: Any, project: Any
    ) -> None:
        check = new_check(deps, project)
        for minute in range(PAGE_PINGS):
            service.record_ping(deps, check.uuid, Ping("success"), T0 + minute * MINUTE)
        calls = self.delete_before(deps, "_put_unless_fenced", None)
        original_delete = deps.store.delete_check
        deps.store.delete_check = lambda _: original_delete(deps.store.get_check(check.uuid))

        reply = client.http.post(f"/ping/{check.uuid}")  # the page's flush meets a fence

        assert calls == [1]
        # Recorded before the delete (as Healthchecks answers such a ping): 200, nothing left.
        assert (reply.status_code, reply.body) == (200, b"OK")
        assert_nothing_left(deps, check)

    def test_delete_between_a_fail_ping_and_its_flip(
        self, client: Any, deps: Any, project: Any, aws: dict[str, str]
    ) -> None:
        check = new_check(deps, project)
        service.record_ping(deps, check.uuid, Ping("success"), T0)
        stale = deps.store.get_check(check.uuid)
        calls = self.delete_before(deps, "record_flip", stale)

        reply = client.http.post(f"/ping/{check.uuid}/fail", body=b"disk full")

        assert calls == [1]
        # Logged before the delete: Healthchecks answers such a ping 200.
        assert (reply.status_code, reply.body) == (200, b"OK")
        assert_nothing_left(deps, check)
        assert read_alerts(aws["queue_url"]) == []

    def test_a_sweep_delivering_to_a_deleted_check_drops_the_flip(
        self, deps: Any, project: Any, aws: dict[str, str]
    ) -> None:
        check = new_check(deps, project)
        service.record_ping(deps, check.uuid, Ping("success"), T0)
        due = list(deps.store.due_checks(T0 + 5 * MINUTE))
        # The sweep flips the check down; the DELETE lands before the flip is recorded.
        self.delete_before(deps, "record_flip", None)
        original_delete = deps.store.delete_check
        deps.store.delete_check = lambda _: original_delete(deps.store.get_check(check.uuid))

        report = sweeps.SweepReport()
        for snapshot in due:
            sweeps._sweep_check(deps, snapshot, T0 + 5 * MINUTE, report)

        assert (report.flipped, report.errors) == (1, 0)
        assert_nothing_left(deps, check)
        assert read_alerts(aws["queue_url"]) == []


def test_ping_log_pages_and_bodies_expire_after_a_year(deps: Any, project: Any) -> None:
    check = new_check(deps, project)
    for minute in range(PAGE_PINGS + 1):
        ping = Ping("success", body=b"x" * 100)
        service.record_ping(deps, check.uuid, ping, T0 + minute * MINUTE)
    log = [i for i in partition(deps, check.uuid) if i["sk"]["S"].split("#")[0] in ("LOG", "BODY")]
    assert len(log) == 1 + PAGE_PINGS + 1  # one page (flushed by the last ping), every body
    for item in log:
        is_page = item["sk"]["S"].startswith("LOG")
        written = T0 + (PAGE_PINGS if is_page else int(item["n"]["N"]) - 1) * MINUTE
        assert int(item["expires"]["N"]) == int((written + timedelta(days=366)).timestamp())


# --- a write meeting a transaction in flight -----------------------------------------------
# DynamoDB refuses a write to an item another transaction is writing (TransactionConflict),
# which moto never does and botocore does not retry: the client call raises it once here, and
# everything else (the re-read included) goes to moto.

TRANSACTION_CONFLICTS = {
    "update_item": ("TransactionConflictException", {}),
    "transact_write_items": (
        "TransactionCanceledException",
        {"CancellationReasons": [{"Code": "TransactionConflict"}]},
    ),
}


def _conflict_once_on(
    deps: Any, monkeypatch: pytest.MonkeyPatch, operation: str, matches: Any = None
) -> list[dict[str, Any]]:
    """The first ``operation`` call that ``matches`` meets a transaction in flight."""
    client = deps.store.client
    real = getattr(client, operation)
    code, fields = TRANSACTION_CONFLICTS[operation]
    met: list[dict[str, Any]] = []

    def call(**request: Any) -> Any:
        if not met and (matches is None or matches(request)):
            met.append(request)
            error = {"Error": {"Code": code, "Message": "in flight"}, **fields}
            raise getattr(client.exceptions, code)(error, operation)
        return real(**request)

    monkeypatch.setattr(client, operation, call)
    return met


def test_a_ping_meeting_an_edit_in_flight_is_a_lost_race_read_afresh(
    deps: Any, project: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib import domain
    from chalicelib.store import StaleCheck

    check = new_check(deps, project)
    result = domain.apply_ping(check, Ping("success"), T0, lease_from=T0)
    _conflict_once_on(deps, monkeypatch, "update_item")
    with pytest.raises(StaleCheck) as lost:
        deps.store.write_ping(check, result.check, result.kind, Ping("success"), T0)
    assert lost.value.current == deps.store.get_check(check.uuid)  # retried on a fresh read


def test_a_state_write_meeting_an_edit_in_flight_is_a_lost_race_read_afresh(
    deps: Any, project: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.store import StaleCheck

    check = new_check(deps, project)
    _conflict_once_on(deps, monkeypatch, "update_item")
    with pytest.raises(StaleCheck) as lost:
        deps.store.write_state(check, check)
    assert lost.value.current == deps.store.get_check(check.uuid)


def test_an_edit_meeting_another_in_flight_is_a_lost_race_read_afresh(
    deps: Any, project: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.store import StaleCheck

    check = new_check(deps, project)
    _conflict_once_on(deps, monkeypatch, "transact_write_items")
    with pytest.raises(StaleCheck) as lost:
        deps.store.write_config(check, replace(check, name="renamed"))
    assert lost.value.current == deps.store.get_check(check.uuid)


def test_a_fail_ping_whose_outbox_clear_meets_an_edit_answers_and_alerts_once(
    deps: Any, project: Any, aws: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    check = new_check(deps, project)
    service.record_ping(deps, check.uuid, Ping("success"), T0)
    met = _conflict_once_on(
        deps, monkeypatch, "update_item", lambda r: r.get("ConditionExpression") == "sv = :sv"
    )
    service.record_ping(deps, check.uuid, Ping("fail"), T0 + timedelta(minutes=1))
    assert met  # the clear met the edit, fell back to removing the flip alone
    stored = deps.store.get_check(check.uuid)
    assert (stored.status, stored.n_pings, stored.outbox) == ("down", 2, {})
    assert len(read_alerts(aws["queue_url"])) == 1
    sweeps.sweep(deps, T0 + timedelta(minutes=2))
    assert read_alerts(aws["queue_url"]) == []


def test_the_7th_ping_s_trim_meeting_an_edit_is_left_to_the_next_ping(
    deps: Any, project: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    check = new_check(deps, project)
    met = _conflict_once_on(
        deps,
        monkeypatch,
        "update_item",
        lambda r: r.get("ConditionExpression") == "#log_base = :base",
    )
    for minute in range(PAGE_PINGS + 2):
        service.record_ping(deps, check.uuid, Ping("success"), T0 + timedelta(minutes=minute))
    assert met
    numbers = [entry.n for entry in deps.store.pings(check.uuid, None, 100)]
    assert sorted(numbers) == list(range(1, PAGE_PINGS + 3))  # every ping logged once


def test_a_sweep_claiming_a_flip_behind_an_edit_leaves_it_to_the_next_sweep(
    deps: Any, project: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib import domain
    from chalicelib.domain import Check

    check = new_check(deps, project)
    flip = domain.new_flip(check, T0, "down", "timeout", lease_from=T0 - timedelta(minutes=5))
    stored: Check = deps.store.write_state(check, domain.with_flip(check, flip))
    _conflict_once_on(
        deps, monkeypatch, "update_item", lambda r: "outbox.#f.lease" in r["UpdateExpression"]
    )
    assert deps.store.claim_delivery(stored.uuid, flip, T0 + timedelta(minutes=1)) is False
    assert deps.store.claim_delivery(stored.uuid, flip, T0 + timedelta(minutes=1)) is True
