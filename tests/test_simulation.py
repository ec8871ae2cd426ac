"""Issue 11's month: 300 checks mixing every rule in six zones across both DST changes.

Healthy jobs ping with jitter inside grace and must send no alert at all; every injected fault
(a miss, a fail, a too-fast run, a stall, an overrun, an outage under a dependency, an outage in
a quiet window) must send exactly the alerts the rules say, once each. The month runs on the
in-memory store (tests/fakes.py, held to DynamoStore by the store contract test); a smaller run
goes through the real sweeper on moto.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib.deps import Deps
from chalicelib.settings import Settings
from tests import simulation
from tests.fakes import MemoryStore, RecordingAlerter
from tests.simulation import Expected, Outcome, Scenario

PROJECT = "simulated-project"
# Faults whose down alert goes out at the sweep after its deadline (not held or quiet).
PROMPT = {"miss", "fail", "too_fast", "stall", "overrun"}


def check_outcome(scenario: Scenario, outcome: Outcome) -> dict[str, int]:
    uuids = {job.name: job.uuid for job in scenario.jobs}
    wrong = []
    for job in scenario.jobs:
        sent = outcome.alerts[job.name]
        ok = len(sent) == len(job.expected) and all(
            simulation.matches(want, doc, uuids)
            for want, doc in zip(job.expected, sent, strict=True)
        )
        if not ok:
            got = [(d["event"], d["reason"], d.get("reminder"), d["flip"]["at"]) for d in sent]
            wrong.append((job.name, job.fault, job.expected, got))
    assert wrong == [], wrong[:5]
    for job in scenario.jobs:
        first: Expected | None = job.expected[0] if job.expected else None
        if job.fault in PROMPT and first is not None and first.at is not None:
            lag = outcome.published_at[job.name][0] - first.at
            assert timedelta(0) <= lag <= timedelta(minutes=1), (job.name, lag)
    healthy = [job for job in scenario.jobs if job.fault == "none"]
    return {
        "checks": len(scenario.jobs),
        "healthy": len(healthy),
        "healthy_alerts": sum(len(outcome.alerts[job.name]) for job in healthy),
        "faults": sum(scenario.faults().values()),
        "expected": sum(len(job.expected) for job in scenario.jobs),
        "sent": sum(len(docs) for docs in outcome.alerts.values()),
        "pings": outcome.pings,
        "sweeps": outcome.sweeps,
    }


@pytest.mark.slow
def test_a_month_of_300_checks_alerts_exactly_as_the_rules_say(capsys: Any) -> None:
    scenario = simulation.build(seed=11, days=30, scale=10)
    assert len(scenario.jobs) == 300
    assert {job.spec["tz"] for job in scenario.jobs} == set(simulation.ZONES)
    clock = simulation.SimClock()
    store = MemoryStore()
    deps = Deps(
        Settings(table="sim", topic_arn="arn:aws:sns:us-east-1:123456789012:sim", due_shards=4),
        store,
        RecordingAlerter(clock),
    )
    outcome = simulation.run(scenario, deps, clock, PROJECT, lambda: dict(store.alert_after))
    figures = check_outcome(scenario, outcome)
    assert figures["healthy_alerts"] == 0
    assert figures["sent"] == figures["expected"]
    assert set(scenario.faults()) == {
        "miss",
        "fail",
        "too_fast",
        "stall",
        "overrun",
        "in_window",
        "from_window",
        "reminders_skipped",
        "upstream_first",
        "downstream_first",
    }
    with capsys.disabled():
        print(f"\nsimulation (memory, 30 days): {figures} faults={dict(scenario.faults())}")


def _moto_due_index(deps: Any) -> Callable[[], dict[str, datetime]]:
    """The due index as the sweeper sees it: every shard of the GSI, read in full.

    The index holds keys and buckets only (issue 10); each check's exact ``alert_after`` is
    read from its item.
    """
    from chalicelib.dynamo import DUE_INDEX

    def read() -> dict[str, datetime]:
        client = deps.store.client
        paginator = client.get_paginator("query")
        dues: dict[str, datetime] = {}
        for shard in range(deps.settings.due_shards):
            for page in paginator.paginate(
                TableName=deps.settings.table,
                IndexName=DUE_INDEX,
                KeyConditionExpression="due_shard = :s",
                ExpressionAttributeValues={":s": {"S": str(shard)}},
            ):
                for key in page.get("Items", []):
                    item = client.get_item(
                        TableName=deps.settings.table,
                        Key={"pk": key["pk"], "sk": key["sk"]},
                        ProjectionExpression="alert_after",
                    ).get("Item", {})
                    if "alert_after" in item:
                        check_uuid = key["pk"]["S"].removeprefix("CHECK#")
                        at = float(item["alert_after"]["N"])
                        dues[check_uuid] = datetime.fromtimestamp(at, UTC)
        return dues

    return read


@pytest.mark.slow
def test_three_days_of_30_checks_through_the_real_sweeper_on_moto(deps: Any, capsys: Any) -> None:
    scenario = simulation.build(seed=7, days=3, scale=1)
    clock = simulation.SimClock()
    deps.alerter = RecordingAlerter(clock)
    outcome = simulation.run(scenario, deps, clock, PROJECT, _moto_due_index(deps))
    figures = check_outcome(scenario, outcome)
    assert figures["healthy_alerts"] == 0 and figures["faults"] >= 8
    assert type(deps.store).__name__ == "DynamoStore"  # the real adapter, on moto
    with capsys.disabled():
        print(f"\nsimulation (moto, 3 days): {figures} faults={dict(scenario.faults())}")
