"""An undeliverable alert backs off; a sweep's publishes and time are bounded (moto, fixed times).

Guarantee 9: one undeliverable alert never delays another check's. Guarantees 3 and 4 still
hold: every flip is delivered once SNS takes it, under one flip id, and never twice.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest

from chalicelib import management, service, sweeps
from chalicelib.domain import Ping
from chalicelib.spec import CheckSpec
from tests.conftest import T0, read_alerts

MINUTE = timedelta(minutes=1)


def pinged_check(deps: Any, project: Any, at: datetime = T0, **fields: Any) -> Any:
    grant = management.authorize(deps, project.api_key, write=True)
    spec = CheckSpec(**{"timeout": 60, "grace": 60, **fields})
    check = management.create_check(deps, grant, spec, T0, "http://vigil.test")
    service.record_ping(deps, check.uuid, Ping("success"), at)
    return check


class Attempts:
    """The real alerter, failing for the checks in ``failing``; records every attempt."""

    def __init__(self, inner: Any, clock: Any) -> None:
        self._inner = inner
        self._clock = clock
        self.failing: set[str] = set()
        self.tried: list[tuple[datetime, str, str]] = []  # (when, check, flip id)

    def publish(self, alert: Any) -> str:
        check = alert.document["check"]["uuid"]
        self.tried.append((self._clock(), check, alert.document["flip"]["id"]))
        if check in self.failing:
            raise ConnectionError("injected: SNS refuses this alert")
        return str(self._inner.publish(alert))

    def minutes(self, check: str) -> list[int]:
        return [int((at - T0) / MINUTE) for at, uuid, _ in self.tried if uuid == check]


def delivered(queue_url: str) -> list[tuple[str, str, str]]:
    return [
        (a["document"]["check"]["uuid"], a["document"]["event"], a["document"]["flip"]["id"])
        for a in read_alerts(queue_url)
    ]


def test_an_undeliverable_alert_backs_off_and_never_delays_another(
    deps: Any, project: Any, aws: dict[str, str]
) -> None:
    now = [T0]
    attempts = Attempts(deps.alerter, lambda: now[0])
    deps.alerter = attempts
    stuck = pinged_check(deps, project)  # down at minute 2
    later = pinged_check(deps, project, at=T0 + 10 * MINUTE)  # down at minute 12
    attempts.failing.add(stuck.uuid)
    read: list[int] = []
    due_checks = deps.store.due_checks

    def counting(at: datetime) -> Any:
        for check in due_checks(at):
            if check.uuid == stuck.uuid:
                read.append(int((at - T0) / MINUTE))
            yield check

    deps.store.due_checks = counting
    received: list[tuple[int, tuple[str, str, str]]] = []
    for minute in range(2, 66):
        now[0] = T0 + minute * MINUTE
        if minute == 50:
            attempts.failing.clear()  # SNS takes it again
        sweeps.sweep(deps, now[0])
        received += [(minute, alert) for alert in delivered(aws["queue_url"])]

    # Every minute three times (a blip), then 2, 4, 8 and 15 minutes apart.
    assert attempts.minutes(stuck.uuid) == [2, 3, 4, 5, 7, 11, 19, 34, 49, 64]
    # Between attempts its deadline is the retry: sweeps do not even read the check.
    assert read == attempts.minutes(stuck.uuid)
    flip_ids = {flip for _, uuid, flip in attempts.tried if uuid == stuck.uuid}
    assert len(flip_ids) == 1  # one flip id across every attempt
    # The other check alerts in the sweep that sees it down; the stuck one once, when SNS is back.
    assert [(m, a[:2]) for m, a in received] == [
        (12, (later.uuid, "down")),
        (64, (stuck.uuid, "down")),
    ]
    assert received[1][1][2] in flip_ids
    assert dict(deps.store.get_check(stuck.uuid).outbox) == {}


def test_a_sweep_publishes_at_most_its_limit_and_leaves_the_rest(
    deps: Any, project: Any, aws: dict[str, str]
) -> None:
    deps.settings = replace(deps.settings, sweep_publish_limit=5)
    checks = [pinged_check(deps, project) for _ in range(12)]

    reports = [sweeps.sweep(deps, T0 + minute * MINUTE) for minute in (5, 6, 7, 8)]

    assert [(r.flipped, r.alerts_delivered, r.alerts_deferred) for r in reports] == [
        (12, 5, 7),
        (0, 5, 2),
        (0, 2, 0),
        (0, 0, 0),
    ]
    alerts = delivered(aws["queue_url"])
    assert sorted(uuid for uuid, _, _ in alerts) == sorted(c.uuid for c in checks)
    assert len({flip for _, _, flip in alerts}) == 12  # each flip once
    # Detection did not wait for delivery: every check went down in the first sweep.
    assert {deps.store.get_check(c.uuid).status for c in checks} == {"down"}


class SlowSns:
    """SNS taking 10 s per publish, on the simulated clock."""

    def __init__(self, inner: Any, now: list[datetime]) -> None:
        self._inner = inner
        self._now = now

    def publish(self, alert: Any) -> str:
        self._now[0] += timedelta(seconds=10)
        return str(self._inner.publish(alert))


@pytest.fixture
def heartbeats() -> Any:
    from chalicelib import metrics

    lines: list[dict[str, Any]] = []
    metrics.reset()
    metrics.set_sink(lambda line: lines.append(json.loads(line)))
    yield lines
    metrics.set_sink(metrics.STDOUT_SINK)
    metrics.reset()


@pytest.mark.parametrize(
    ("budget_seconds", "time_left", "first_pass"),
    [
        (40, None, 4),  # the configured budget: publishes end at 10, 20, 30, 40 s
        (300, 75.0, 5),  # Lambda's remaining time, less the 30 s reserve: 45 s
        (300, 3.0, 1),  # a short timeout: half of what is left, 1.5 s
    ],
)
def test_a_sweep_stops_at_its_time_budget_and_the_next_finishes(
    deps: Any,
    project: Any,
    aws: dict[str, str],
    heartbeats: list[dict[str, Any]],
    budget_seconds: int,
    time_left: float | None,
    first_pass: int,
) -> None:
    deps.settings = replace(deps.settings, sweep_budget_seconds=budget_seconds)
    checks = [pinged_check(deps, project) for _ in range(10)]
    now = [T0 + 5 * MINUTE]
    deps.alerter = SlowSns(deps.alerter, now)
    left = None if time_left is None else (lambda: time_left)

    (first,) = sweeps.sweep_invocation(deps, lambda: now[0], lambda _: None, time_left=left)

    assert (first.flipped, first.alerts_delivered, first.out_of_time) == (
        first_pass,
        first_pass,
        True,
    )
    assert [line["SweepCompleted"] for line in heartbeats if "SweepCompleted" in line] == [1.0]
    passes = [first]
    while passes[-1].out_of_time:
        now[0] = T0 + (5 + len(passes)) * MINUTE
        passes += sweeps.sweep_invocation(deps, lambda: now[0], lambda _: None, time_left=left)
    assert sum(p.flipped for p in passes) == sum(p.alerts_delivered for p in passes) == 10
    alerts = delivered(aws["queue_url"])
    assert sorted(uuid for uuid, _, _ in alerts) == sorted(c.uuid for c in checks)


def test_the_lambda_handler_bounds_the_sweep_by_its_remaining_time(
    client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[float] = []

    def recording(deps: Any, clock: Any, sleep: Any, **kwargs: Any) -> list[Any]:
        seen.append(kwargs["time_left"]())
        return []

    monkeypatch.setattr(sweeps, "sweep_invocation", recording)
    event = client.events.generate_cw_event(
        source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]
    )
    client.lambda_.invoke("sweep", event)
    # Chalice's test context gives a Lambda 3 s; what is left is read from it, in seconds.
    (left,) = seen
    assert 0 < left <= 3.0


def test_the_failed_publish_alarm_stays_on_while_an_alert_is_stuck() -> None:
    """One failure alarms, and the window outlasts the longest retry delay plus a sweep."""
    from chalicelib import domain
    from tools.alarms import alarms

    alarm = alarms(lambda suffix: suffix, "api", "sweep", "topic", "ping", "notify", "dead")[
        "AlertsFailedAlarm"
    ]
    assert (alarm["MetricName"], alarm["Dimensions"][0]["Value"]) == ("AlertsFailed", "sweep")
    assert (alarm["Threshold"], alarm["DatapointsToAlarm"]) == (1, 1)
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert alarm["TreatMissingData"] == "notBreaching"
    window = timedelta(seconds=alarm["Period"] * alarm["EvaluationPeriods"])
    assert window >= domain.retry_delay(1_000) + 2 * MINUTE
