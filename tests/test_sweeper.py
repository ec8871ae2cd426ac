"""Sweeper and delivery guarantees on moto: races, failed publishes, broken checks, fast mode."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from chalicelib import management, service, sweeps
from chalicelib.domain import Ping
from chalicelib.spec import CheckSpec
from tests.conftest import T0, read_alerts

MINUTE = timedelta(minutes=1)


def new_check(deps: Any, project: Any, now: datetime = T0, **fields: Any) -> Any:
    grant = management.authorize(deps, project.api_key, write=True)
    spec = CheckSpec(**{"timeout": 60, "grace": 60, **fields})
    return management.create_check(deps, grant, spec, now, "http://vigil.test")


def pinged_check(deps: Any, project: Any, **fields: Any) -> Any:
    check = new_check(deps, project, **fields)
    service.record_ping(deps, check.uuid, Ping("success"), T0)
    return check


class TestSweep:
    def test_sweep_reads_only_due_checks(self, deps: Any, project: Any) -> None:
        due = pinged_check(deps, project)
        for _ in range(5):
            pinged_check(deps, project, timeout=3600)
        new_check(deps, project)  # new: never due
        found = [c.uuid for c in deps.store.due_checks(T0 + 2 * MINUTE)]
        assert found == [due.uuid]

    def test_one_alert_per_outage_however_often_it_sweeps(
        self, deps: Any, project: Any, aws: dict[str, str]
    ) -> None:
        check = pinged_check(deps, project)
        for minute in range(2, 30):
            sweeps.sweep(deps, T0 + minute * MINUTE)
        (alert,) = read_alerts(aws["queue_url"])
        assert alert["document"]["check"]["uuid"] == check.uuid
        assert deps.store.get_check(check.uuid).status == "down"

    def test_overrun_alerts_with_reason_overrun(
        self, deps: Any, project: Any, aws: dict[str, str]
    ) -> None:
        check = pinged_check(deps, project, timeout=3600, max_duration=120)
        service.record_ping(deps, check.uuid, Ping("start"), T0 + MINUTE)
        sweeps.sweep(deps, T0 + 3 * MINUTE - timedelta(seconds=1))
        assert read_alerts(aws["queue_url"]) == []
        sweeps.sweep(deps, T0 + 3 * MINUTE)
        (alert,) = read_alerts(aws["queue_url"])
        assert alert["MessageAttributes"]["reason"]["Value"] == "overrun"

    def test_the_alerter_is_built_by_the_first_alert_not_by_a_steady_ping(
        self, deps: Any, project: Any, aws: dict[str, str]
    ) -> None:
        check = pinged_check(deps, project)
        service.record_ping(deps, check.uuid, Ping("success"), T0 + MINUTE)
        assert "target" not in vars(deps.alerter)  # a cold ping's imports stay lean
        service.record_ping(deps, check.uuid, Ping("fail"), T0 + 2 * MINUTE)
        assert "target" in vars(deps.alerter)
        (alert,) = read_alerts(aws["queue_url"])
        assert alert["document"]["reason"] == "fail"

    def test_fail_ping_alerts_immediately(
        self, deps: Any, project: Any, aws: dict[str, str]
    ) -> None:
        check = pinged_check(deps, project)
        service.record_ping(deps, check.uuid, Ping("fail", body=b"disk full"), T0 + MINUTE)
        (alert,) = read_alerts(aws["queue_url"])
        assert alert["document"]["reason"] == "fail"
        assert alert["document"]["last_ping"]["body"] == "disk full"

    def test_no_alert_for_new_to_up(self, deps: Any, project: Any, aws: dict[str, str]) -> None:
        pinged_check(deps, project)
        assert read_alerts(aws["queue_url"]) == []

    def test_flips_are_recorded(self, deps: Any, project: Any) -> None:
        check = pinged_check(deps, project)
        sweeps.sweep(deps, T0 + 5 * MINUTE)
        service.record_ping(deps, check.uuid, Ping("success"), T0 + 6 * MINUTE)
        flips = [(f.old, f.new, f.reason) for f in deps.store.flips(check.uuid)]
        assert flips == [("down", "up", "ping"), ("up", "down", "timeout"), ("new", "up", "ping")]

    def test_a_check_that_raises_is_skipped_and_stays_due(
        self, deps: Any, project: Any, aws: dict[str, str]
    ) -> None:
        broken = pinged_check(deps, project, schedule="0 3 * * *")
        healthy = pinged_check(deps, project)
        # Corrupt the stored schedule behind the API's back, and make it due.
        boto3.client("dynamodb").update_item(
            TableName=deps.settings.table,
            Key={"pk": {"S": f"CHECK#{broken.uuid}"}, "sk": {"S": "CHECK"}},
            UpdateExpression="SET schedule = :bad, alert_after = :due, due_bucket = :due",
            ExpressionAttributeValues={":bad": {"S": "not cron"}, ":due": {"N": "1"}},
        )
        report = sweeps.sweep(deps, T0 + 5 * MINUTE)
        assert (report.errors, report.flipped) == (1, 1)
        (alert,) = read_alerts(aws["queue_url"])
        assert alert["document"]["check"]["uuid"] == healthy.uuid
        due = [c.uuid for c in deps.store.due_checks(T0 + 6 * MINUTE)]
        assert broken.uuid in due


class TestRaces:
    def test_two_sweepers_that_read_before_either_writes_alert_once(
        self, deps: Any, project: Any, aws: dict[str, str]
    ) -> None:
        pinged_check(deps, project)
        now = T0 + 5 * MINUTE
        first = list(deps.store.due_checks(now))
        second = list(deps.store.due_checks(now))
        reports = [sweeps.SweepReport(), sweeps.SweepReport()]
        for snapshot, report in zip((first, second), reports, strict=True):
            for check in snapshot:
                sweeps._sweep_check(deps, check, now, report)
        assert (reports[0].flipped, reports[1].flipped, reports[1].lost_races) == (1, 0, 1)
        assert len(read_alerts(aws["queue_url"])) == 1

    def test_racing_sweeper_threads_alert_once_per_check(
        self, deps: Any, project: Any, aws: dict[str, str], serialized_moto: None
    ) -> None:
        for _ in range(20):
            pinged_check(deps, project)
        now = T0 + 5 * MINUTE
        with ThreadPoolExecutor(4) as pool:
            reports = list(pool.map(lambda _: sweeps.sweep(deps, now), range(4)))
        assert sum(r.flipped for r in reports) == 20
        assert len(read_alerts(aws["queue_url"])) == 20

    def test_ping_between_read_and_flip_prevents_a_false_alert(
        self, deps: Any, project: Any, aws: dict[str, str]
    ) -> None:
        check = pinged_check(deps, project)
        now = T0 + 5 * MINUTE
        stale = list(deps.store.due_checks(now))
        service.record_ping(deps, check.uuid, Ping("success"), now)
        report = sweeps.SweepReport()
        for snapshot in stale:
            sweeps._sweep_check(deps, snapshot, now, report)
        assert report.flipped == 0
        assert read_alerts(aws["queue_url"]) == []

    def test_concurrent_pings_are_all_counted_and_logged(
        self, deps: Any, project: Any, serialized_moto: None
    ) -> None:
        deps.store.ping_log_limit = 200  # keep all 101 in the ring
        check = pinged_check(deps, project)
        with ThreadPoolExecutor(8) as pool:
            list(
                pool.map(
                    lambda i: service.record_ping(
                        deps, check.uuid, Ping("start" if i % 5 == 0 else "success"), T0 + MINUTE
                    ),
                    range(100),
                )
            )
        stored = deps.store.get_check(check.uuid)
        assert stored.n_pings == 101
        logged = deps.store.pings(check.uuid, newest=None, limit=200)
        assert sorted(entry.n for entry in logged) == list(range(1, 102))
        assert sum(entry.kind == "start" for entry in logged) == 20


class TestDelivery:
    def test_failed_publish_is_delivered_by_a_later_sweep(
        self, deps: Any, project: Any, aws: dict[str, str]
    ) -> None:
        check = pinged_check(deps, project)
        sns = boto3.client("sns")
        deps.alerter.target._client = sns
        with Stubber(sns) as stub:
            stub.add_client_error("publish", "InternalError", http_status_code=500)
            report = sweeps.sweep(deps, T0 + 5 * MINUTE)
        assert (report.flipped, report.alerts_failed) == (1, 1)
        assert read_alerts(aws["queue_url"]) == []
        # Within the lease nobody retries: the writer may still be publishing.
        assert sweeps.sweep(deps, T0 + 5 * MINUTE + timedelta(seconds=59)).alerts_delivered == 0
        report = sweeps.sweep(deps, T0 + 6 * MINUTE)
        assert report.alerts_delivered == 1
        (alert,) = read_alerts(aws["queue_url"])
        assert alert["document"]["check"]["uuid"] == check.uuid
        assert sweeps.sweep(deps, T0 + 10 * MINUTE).alerts_delivered == 0
        assert read_alerts(aws["queue_url"]) == []

    def test_failed_publish_on_fail_ping_still_answers_and_retries(
        self, deps: Any, project: Any, aws: dict[str, str]
    ) -> None:
        check = pinged_check(deps, project, timeout=3600)
        sns = boto3.client("sns")
        deps.alerter.target._client = sns
        with Stubber(sns) as stub:
            stub.add_client_error("publish", "Throttling", http_status_code=400)
            service.record_ping(deps, check.uuid, Ping("fail"), T0 + MINUTE)
        assert deps.store.get_check(check.uuid).status == "down"
        sweeps.sweep(deps, T0 + 3 * MINUTE)
        (alert,) = read_alerts(aws["queue_url"])
        assert alert["document"]["reason"] == "fail"

    def test_alert_format(self, deps: Any, project: Any, aws: dict[str, str]) -> None:
        check = pinged_check(deps, project, name="nightly-backup", tags="prod db")
        sweeps.sweep(deps, T0 + 5 * MINUTE)
        (alert,) = read_alerts(aws["queue_url"])
        document = alert["document"]
        assert alert["Subject"] == "DOWN: nightly-backup"
        assert {k: v["Value"] for k, v in alert["MessageAttributes"].items()} == {
            "event": "down",
            "reason": "timeout",
            "check": check.uuid,
            "project": project.project,
            "flip_id": document["flip"]["id"],
            "tags": '["prod", "db"]',
        }
        assert document["version"] == 1
        assert document["flip"] == {
            "id": document["flip"]["id"],
            "at": (T0 + 2 * MINUTE).isoformat(),
            "from": "up",
            "to": "down",
        }
        assert document["check"]["status"] == "down"
        assert document["last_ping"]["type"] == "success"

    def test_filter_policy_selects_events(
        self, deps: Any, project: Any, aws: dict[str, str]
    ) -> None:
        sqs = boto3.client("sqs")
        url = sqs.create_queue(QueueName="only-up")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
        boto3.client("sns").subscribe(
            TopicArn=aws["topic_arn"],
            Protocol="sqs",
            Endpoint=arn["QueueArn"],
            Attributes={"FilterPolicy": '{"event": ["up"]}'},
        )
        check = pinged_check(deps, project)
        sweeps.sweep(deps, T0 + 5 * MINUTE)
        service.record_ping(deps, check.uuid, Ping("success"), T0 + 6 * MINUTE)
        assert len(read_alerts(aws["queue_url"])) == 2
        (only,) = read_alerts(url)
        assert only["document"]["event"] == "up"


class TestFastMode:
    def run(self, deps: Any, seconds: int | None) -> list[datetime]:
        from dataclasses import replace

        deps.settings = replace(deps.settings, sweep_seconds=seconds)
        now = [T0]
        swept: list[datetime] = []
        original = sweeps.sweep

        def recording_sweep(d: Any, at: datetime, *limits: Any) -> Any:
            swept.append(at)
            return original(d, at, *limits)

        def sleep(seconds: float) -> None:
            now[0] += timedelta(seconds=seconds)

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(sweeps, "sweep", recording_sweep)
            sweeps.sweep_invocation(deps, lambda: now[0], sleep)
        return swept

    def test_default_is_one_pass(self, deps: Any) -> None:
        assert self.run(deps, None) == [T0]

    def test_fast_mode_sweeps_every_n_seconds_within_the_minute(self, deps: Any) -> None:
        swept = self.run(deps, 10)
        assert swept == [T0 + timedelta(seconds=s) for s in (0, 10, 20, 30, 40, 50)]


class TestMetrics:
    @pytest.fixture
    def lines(self) -> Iterator[list[dict[str, Any]]]:
        import json

        from chalicelib import metrics

        captured: list[dict[str, Any]] = []
        metrics.reset()
        metrics.set_sink(lambda line: captured.append(json.loads(line)))
        yield captured
        metrics.set_sink(metrics.STDOUT_SINK)
        metrics.reset()

    @staticmethod
    def values(lines: list[dict[str, Any]], name: str) -> list[Any]:
        return [line[name] for line in lines if name in line]

    def test_a_finished_sweep_emits_its_heartbeat_and_figures(
        self, deps: Any, project: Any, lines: list[dict[str, Any]]
    ) -> None:
        from chalicelib import metrics

        pinged_check(deps, project)
        metrics.reset()  # the ping's own metrics belong to its request, not to this sweep
        now = [T0 + 5 * MINUTE]
        sweeps.sweep_invocation(deps, lambda: now[0], lambda _: None)
        assert self.values(lines, "SweepCompleted") == [1.0]
        assert self.values(lines, "DueChecks") == [1.0]
        assert self.values(lines, "OldestDueLagSeconds") == [180.0]
        assert self.values(lines, "Flips") == [1.0]
        assert self.values(lines, "AlertsPublished") == [1.0]

    def test_a_sweep_that_cannot_read_the_index_emits_no_heartbeat(
        self, deps: Any, lines: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        def broken(now: Any) -> Any:
            raise RuntimeError("DynamoDB is down")

        monkeypatch.setattr(deps.store, "due_checks", broken)
        with pytest.raises(RuntimeError):
            sweeps.sweep_invocation(deps, lambda: T0, lambda _: None)
        from chalicelib import metrics

        metrics.flush()
        assert self.values(lines, "SweepCompleted") == []

    def test_pings_are_counted_by_kind_per_request(
        self,
        client: Any,
        project: Any,
        deps: Any,
        lines: list[dict[str, Any]],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setenv("VIGIL_METRICS_FLUSH_SECONDS", "0")  # every request flushes
        check = new_check(deps, project)
        client.http.get(f"/ping/{check.uuid}/start")
        client.http.get(f"/ping/{check.uuid}")
        kinds = [(line["kind"], line["Pings"]) for line in lines if "Pings" in line]
        assert kinds == [("start", 1.0), ("success", 1.0)]
