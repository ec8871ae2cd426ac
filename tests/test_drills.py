"""Fault drills: concurrency, failing SNS, throttled DynamoDB, a killed sweep. Nothing is lost.

Every drill runs the real use cases on moto with fixed, simulated times. Where moto is weaker
than DynamoDB (it does not serialise writes per item, traps.md §3b) the drill makes it
faithful with a lock, and never loosens an assertion. Faults are injected at the boundary
where they happen in AWS: the alerter (SNS), the HTTP layer under botocore (throttling), or a
process that dies (a BaseException nothing in the app may catch).
"""

from __future__ import annotations

import io
import json
import random
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import boto3
import pytest
from cronsim import CronSim

from chalicelib import management, service, sweeps
from chalicelib.deps import Deps
from chalicelib.domain import Check, LoggedPing, Ping
from chalicelib.dynamo import DynamoStore
from chalicelib.items import check_to_item
from chalicelib.sns import SnsAlerter
from chalicelib.store import CheckStore
from tests.conftest import T0, read_alerts
from tests.fakes import MemoryStore, RecordingAlerter

MINUTE = timedelta(minutes=1)
PROJECT = "3f2a1b0c-9d8e-4f7a-8b6c-5d4e3f2a1b0c"


def lambda_processes(deps: Deps, count: int) -> list[Deps]:
    """Separate Lambda processes: own snapshot caches, one shared account.

    The clients are the app's own (its timeouts and retries), created here, on this thread:
    boto3 client creation is not thread-safe.
    """
    from chalicelib.wiring import aws_client

    ddb, sns = aws_client("dynamodb"), aws_client("sns")
    settings = deps.settings
    return [
        Deps(
            settings=settings,
            store=DynamoStore(
                lambda: ddb,
                settings.table,
                due_shards=settings.due_shards,
                ping_log_limit=settings.ping_log_limit,
            ),
            alerter=SnsAlerter(lambda: sns, settings.topic_arn),
        )
        for _ in range(count)
    ]


def stored_check(store: CheckStore, check_uuid: str) -> Check:
    found = store.get_check(check_uuid)
    assert found is not None, f"{check_uuid} is gone"
    return found


def up_checks(count: int, last_ping: datetime, **fields: Any) -> list[Check]:
    return [
        Check(
            uuid=str(uuid.UUID(int=i + 1, version=4)),
            project=PROJECT,
            created=last_ping,
            name=f"job-{i}",
            status="up",
            n_pings=1,
            last_ping=last_ping,
            **{"timeout": 60, "grace": 60, **fields},
        )
        for i in range(count)
    ]


def seed(deps: Deps, checks: list[Check]) -> None:
    """Write checks as the store maps them, 25 to a batch: fast, and through the real mapping."""
    ddb = boto3.client("dynamodb")
    for start in range(0, len(checks), 25):
        batch = checks[start : start + 25]
        writes = [
            {"PutRequest": {"Item": check_to_item(c, deps.settings.due_shards)}} for c in batch
        ]
        ddb.batch_write_item(RequestItems={deps.settings.table: writes})


def ping_log(deps: Deps, check_uuid: str) -> list[LoggedPing]:
    """Every entry the store keeps for the check, read by a fresh store (no cache, no hooks)."""
    settings = deps.settings
    ddb = boto3.client("dynamodb")
    store = DynamoStore(
        lambda: ddb,
        settings.table,
        due_shards=settings.due_shards,
        ping_log_limit=settings.ping_log_limit,
    )
    return store.pings(check_uuid, newest=None, limit=settings.ping_log_limit)


def alerts_by_check(queue_url: str) -> dict[tuple[str, str], list[str]]:
    """(check, event) -> the flip ids of every message delivered for it."""
    found: dict[tuple[str, str], list[str]] = {}
    for alert in read_alerts(queue_url):
        document = alert["document"]
        key = (document["check"]["uuid"], document["event"])
        found.setdefault(key, []).append(document["flip"]["id"])
    return found


# --- concurrency ----------------------------------------------------------------------------


@pytest.mark.slow
def test_200_concurrent_pings_are_all_counted_and_logged(
    deps: Deps, aws: dict[str, str], serialized_moto: None
) -> None:
    deps.settings = replace(deps.settings, ping_log_limit=1_000)  # keep every entry to count
    (check,) = up_checks(1, T0, timeout=3600)
    seed(deps, [check])
    processes = lambda_processes(deps, 8)
    sent = {
        f"ping {i}".encode(): Ping(
            "start" if i % 5 == 0 else "log" if i % 7 == 0 else "success",
            rid=str(uuid.UUID(int=i, version=4)) if i % 5 == 0 else None,
            body=f"ping {i}".encode(),
        )
        for i in range(200)
    }

    def send(job: tuple[int, Ping]) -> None:
        index, ping = job
        service.record_ping(processes[index % 8], check.uuid, ping, T0 + MINUTE)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(send, enumerate(sent.values())))

    assert stored_check(deps.store, check.uuid).n_pings == 1 + 200
    log = ping_log(deps, check.uuid)
    assert sorted(entry.n for entry in log) == list(range(2, 202))
    assert {entry.ping.body: entry.kind for entry in log} == {
        body: ping.action for body, ping in sent.items()
    }
    assert read_alerts(aws["queue_url"]) == []


@pytest.mark.slow
def test_4_sweepers_racing_over_500_due_checks_alert_exactly_500_times(
    deps: Deps, aws: dict[str, str], serialized_moto: None
) -> None:
    checks = up_checks(500, T0)
    seed(deps, checks)
    sweepers = lambda_processes(deps, 4)
    published: list[Any] = []
    for sweeper in sweepers:
        sweeper.alerter = Recording(sweeper.alerter, published)
    now = T0 + 5 * MINUTE
    with ThreadPoolExecutor(4) as pool:
        reports = list(pool.map(lambda d: sweeps.sweep(d, now), sweepers))

    assert sum(r.flipped for r in reports) == 500
    assert sum(r.errors for r in reports) == 0
    # Every message reached the subscribed queue (moto's SQS reads are slow: count, don't read).
    attributes = boto3.client("sqs").get_queue_attributes(
        QueueUrl=aws["queue_url"], AttributeNames=["ApproximateNumberOfMessages"]
    )
    assert attributes["Attributes"]["ApproximateNumberOfMessages"] == "500"
    assert sorted(a.document["check"]["uuid"] for a in published) == sorted(c.uuid for c in checks)
    assert len({a.document["flip"]["id"] for a in published}) == 500
    # Nothing is left due: every check is down and its flip is out of the outbox.
    assert list(deps.store.due_checks(now + timedelta(days=1))) == []


class Recording:
    """The real alerter (SNS on moto), keeping each alert it published."""

    def __init__(self, inner: Any, published: list[Any]) -> None:
        self._inner = inner
        self._published = published

    def publish(self, alert: Any) -> str:
        message_id: str = self._inner.publish(alert)
        self._published.append(alert)
        return message_id


# --- SNS failing 30% of the time -----------------------------------------------------------


class FlakyAlerter:
    """Fails a seeded 30% of publishes: half before sending, half after (the reply was lost).

    ``outcomes`` keeps, per flip id, how each attempt went: "before", "after" or "ok".
    """

    def __init__(self, inner: Any, seed: int, rate: float = 0.3) -> None:
        self._inner = inner
        self._rng = random.Random(seed)
        self._rate = rate
        self.outcomes: dict[str, list[str]] = {}

    def publish(self, alert: Any) -> str:
        roll = self._rng.random()
        attempts = self.outcomes.setdefault(alert.document["flip"]["id"], [])
        if roll < self._rate / 2:
            attempts.append("before")
            raise ConnectionError("injected: SNS unreachable")
        message_id: str = self._inner.publish(alert)
        if roll < self._rate:
            attempts.append("after")
            raise TimeoutError("injected: published, reply lost")
        attempts.append("ok")
        return message_id


@pytest.mark.slow
def test_sns_failing_30_percent_delivers_every_alert_within_the_following_sweeps(
    deps: Deps, aws: dict[str, str]
) -> None:
    checks = up_checks(60, T0, timeout=600)  # down at minute 11, and again 11 after a ping
    seed(deps, checks)
    flaky = FlakyAlerter(deps.alerter, seed=30)
    deps.alerter = flaky
    received: dict[str, list[datetime]] = {}  # flip id -> when each message was in the queue
    events: dict[str, tuple[str, str]] = {}  # flip id -> (check, event)
    for minute in range(10, 36):
        now = T0 + minute * MINUTE
        if minute == 25:  # every job runs again: each recovery alerts "up" from its ping
            for check in checks:
                service.record_ping(deps, check.uuid, Ping("success"), now)
        sweeps.sweep(deps, now)
        for key, flip_ids in alerts_by_check(aws["queue_url"]).items():
            for flip_id in flip_ids:
                received.setdefault(flip_id, []).append(now)
                events[flip_id] = key

    outcomes = flaky.outcomes
    assert sum(o.count("before") for o in outcomes.values()) > 5  # the faults really happened
    assert sum(o.count("after") for o in outcomes.values()) > 5
    # One flip per outage and recovery, each under one flip id, each delivered.
    assert sorted(events.values()) == sorted((c.uuid, e) for c in checks for e in ("down", "up"))
    flipped = {"down": T0 + 11 * MINUTE, "up": T0 + 25 * MINUTE}
    for flip_id, attempts in outcomes.items():
        # Retried until SNS acknowledged it, one attempt per sweep (the lease is 60 s) ...
        assert attempts[-1] == "ok" and "ok" not in attempts[:-1]
        # ... so the first message lands one sweep later per attempt that sent nothing, and
        # every attempt that did send arrived, repeats included, all under the same flip id.
        lost = next(n for n, outcome in enumerate(attempts) if outcome != "before")
        assert received[flip_id][0] == flipped[events[flip_id][1]] + lost * MINUTE
        assert len(received[flip_id]) == len(attempts) - attempts.count("before")
    for check in checks:
        stored = stored_check(deps.store, check.uuid)
        assert (stored.status, dict(stored.outbox)) == ("up", {})


# --- DynamoDB throttling ------------------------------------------------------------------


class _RawBody(io.BytesIO):
    def stream(self, **_: Any) -> Iterator[bytes]:
        chunk = self.read()
        while chunk:
            yield chunk
            chunk = self.read()


class Throttler:
    """Answers a seeded share of DynamoDB requests with HTTP 400 throttling, before moto sees them.

    It hooks ``before-send`` (first in line, ahead of moto), so botocore's own retry handler
    decides what happens next, exactly as with a throttled response from AWS. A request is
    throttled on at most ``burst`` attempts in a row.
    """

    CODES = ("ThrottlingException", "ProvisionedThroughputExceededException")

    def __init__(self, seed: int, burst: int, rate: float = 0.25) -> None:
        self._rng = random.Random(seed)
        self._burst = burst
        self._rate = rate
        self.throttled: Counter[str] = Counter()

    def __call__(self, request: Any, **_: Any) -> Any:
        from botocore.awsrequest import AWSResponse

        retry = dict(p.split("=") for p in _header(request, "amz-sdk-request").split("; "))
        if int(retry["attempt"]) > self._burst or self._rng.random() >= self._rate:
            return None
        code = self.CODES[self._rng.randrange(2)]
        self.throttled[_header(request, "x-amz-target").split(".")[-1]] += 1
        # botocore calls every before-send handler and keeps the first response; moto's comes
        # after ours and would still apply the request. Point it where moto does not answer,
        # so a throttled attempt never reaches the table, as in AWS.
        request.url = "https://throttled.invalid/"
        body = {"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": "slow down"}
        headers = {"x-amzn-ErrorType": code, "Content-Type": "application/x-amz-json-1.0"}
        return AWSResponse(request.url, 400, headers, _RawBody(json.dumps(body).encode()))


def _header(request: Any, name: str) -> str:
    value = request.headers[name]
    return value.decode() if isinstance(value, bytes) else str(value)


class _VirtualTime:
    """botocore's retry backoff sleeps through ``botocore.endpoint.time``: record, don't wait."""

    def __init__(self) -> None:
        import time

        self._time = time
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._time, name)


def test_throttled_dynamodb_is_retried_and_nothing_is_lost(
    deps: Deps, aws: dict[str, str], project: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import botocore.endpoint

    clock = _VirtualTime()
    monkeypatch.setattr(botocore.endpoint, "time", clock)
    assert isinstance(deps.store, DynamoStore)
    client = deps.store.client  # the app's own client, with the app's retry configuration
    attempts = client.meta.config.retries["total_max_attempts"]
    throttler = Throttler(seed=11, burst=attempts - 1)
    client.meta.events.register_first("before-send.dynamodb", throttler)

    grant = management.authorize(deps, project.api_key, write=True)
    site = "http://x"
    checks = [management.create_check(deps, grant, spec(f"t{i}"), T0, site) for i in range(10)]
    for minute in range(3):
        for check in checks:
            ping = Ping("success", body=b"%d" % minute)
            service.record_ping(deps, check.uuid, ping, T0 + minute * MINUTE)
    reports = [sweeps.sweep(deps, T0 + m * MINUTE) for m in range(3, 8)]
    for check in checks:
        service.record_ping(deps, check.uuid, Ping("success"), T0 + 10 * MINUTE)

    assert sum(throttler.throttled.values()) > 20 and len(throttler.throttled) >= 4
    assert len(clock.slept) == sum(throttler.throttled.values())  # each one retried, backing off
    assert sum(r.errors for r in reports) == 0
    delivered = alerts_by_check(aws["queue_url"])
    assert sorted(delivered) == sorted((c.uuid, e) for c in checks for e in ("down", "up"))
    assert all(len(flip_ids) == 1 for flip_ids in delivered.values())
    for check in checks:
        assert stored_check(deps.store, check.uuid).n_pings == 4
        assert sorted(entry.n for entry in ping_log(deps, check.uuid)) == [1, 2, 3, 4]


def spec(name: str) -> Any:
    from chalicelib.spec import CheckSpec

    return CheckSpec(name=name, timeout=60, grace=60)


# --- a sweep killed midway --------------------------------------------------------------


class Killed(BaseException):
    """The Lambda is gone (timeout, out of memory): no ``except Exception`` may swallow it."""


@pytest.mark.parametrize(
    ("where", "published_before_death"),
    [
        ("publish, before sending", False),
        ("publish, after sending", True),
        ("record_flip", False),
        ("remove_from_outbox", True),
    ],
)
def test_sweep_killed_midway_is_finished_by_the_next_sweeps(
    deps: Deps,
    aws: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    where: str,
    published_before_death: bool,
) -> None:
    checks = up_checks(10, T0)
    seed(deps, checks)
    _die_on_fourth_call(deps, monkeypatch, where)
    killed_at = T0 + 5 * MINUTE
    with pytest.raises(Killed):
        sweeps.sweep(deps, killed_at)
    monkeypatch.undo()
    before = alerts_by_check(aws["queue_url"])
    assert len(before) == 3 + published_before_death

    # Within the dead sweep's lease the rest is finished, and its orphaned flip left alone.
    report = sweeps.sweep(deps, killed_at + timedelta(seconds=30))
    assert (report.flipped, report.alerts_delivered) == (6, 6)
    # Once the lease has run out, the orphaned flip is delivered, once.
    assert sweeps.sweep(deps, killed_at + MINUTE).alerts_delivered == 1
    assert sweeps.sweep(deps, killed_at + 5 * MINUTE).alerts_delivered == 0

    after = alerts_by_check(aws["queue_url"])
    delivered = {key: before.get(key, []) + after.get(key, []) for key in {*before, *after}}
    assert sorted(delivered) == sorted((c.uuid, "down") for c in checks)
    repeats = {key: ids for key, ids in delivered.items() if len(ids) > 1}
    assert len(repeats) == int(published_before_death)
    assert all(len(set(ids)) == 1 for ids in repeats.values())  # a repeat keeps its flip id
    for check in checks:
        stored = stored_check(deps.store, check.uuid)
        assert (stored.status, dict(stored.outbox)) == ("down", {})


def _die_on_fourth_call(deps: Deps, monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    """The process dies in the 4th call of ``where``: the 4th due check's delivery."""
    owner: Any = deps.alerter if where.startswith("publish") else deps.store
    name = where.split(",")[0]
    original = getattr(owner, name)
    calls = [0]

    def dying(*args: Any) -> Any:
        calls[0] += 1
        if calls[0] != 4:
            return original(*args)
        if where.endswith("after sending"):
            original(*args)
        raise Killed()

    monkeypatch.setattr(owner, name, dying)


def new_check(index: int = 1, **fields: Any) -> Check:
    check_uuid = str(uuid.UUID(int=index, version=4))
    return Check(uuid=check_uuid, project=PROJECT, created=T0, badge_key=check_uuid, **fields)


# --- a simulated year -----------------------------------------------------------------------
#
# Jobs run when Debian cron runs them (cronsim, the oracle also used by test_dst.py) and ping
# within grace. Time moves event by event: the next ping, or the next minute boundary at or
# after the earliest ``alert_after`` in the due index, which is exactly when the real
# one-minute sweeper would first find that check; an hourly sweep runs besides.

YEAR = (datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
ZONES = ("UTC", "Europe/Riga", "America/New_York", "Australia/Sydney")
# Fixed times in the repeated and skipped hours of these zones, twice a day, and a wildcard.
FREQUENT = ("30 2 * * *", "30 3 * * *", "30 1 * * *", "0 0 * * *", "15 2,3 * * *", "0 */6 * * *")
RARE = ("45 23 * * 6", "0 3 * * 0", "0 4 1 * *", "30 2 15 * *")
SIMPLE = ((86_400, 12), (604_800, 40), (21_600, 4))  # (timeout, how many checks)
STYLES = ("plain", "runs", "log")
MAX_DURATION = timedelta(minutes=30)


@dataclass
class Visit:
    """One run of a job and the pings it sends."""

    run: datetime
    pings: list[tuple[datetime, Ping]]

    def success(self) -> datetime:
        return next(at for at, ping in self.pings if ping.action == "success")


@dataclass
class Job:
    check: Check
    style: str
    visits: list[Visit]


@dataclass
class Expected:
    check: str
    event: str
    reason: str | None
    at: datetime


def cron_runs(expr: str, tz: str, start: datetime, end: datetime) -> list[datetime]:
    """When Debian cron runs the job, in UTC (cronsim)."""
    runs: list[datetime] = []
    for local in CronSim(expr, start.astimezone(ZoneInfo(tz))):
        moment = local.astimezone(UTC)
        if moment >= end:
            return runs
        if moment > start:
            runs.append(moment)
    return runs


def cron_next(expr: str, tz: str, after: datetime) -> datetime:
    return next(moment for moment in cron_runs(expr, tz, after, after + timedelta(days=40)))


def healthy_pings(
    rng: random.Random, run: datetime, style: str, grace: timedelta
) -> list[tuple[datetime, Ping]]:
    """A run that goes right: it pings success within grace (and starts, and logs, by style)."""
    late = timedelta(seconds=rng.uniform(0, (grace - 2 * MINUTE).total_seconds()))
    if style == "runs":
        rid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        started = run + timedelta(seconds=rng.uniform(0, 300))
        took = timedelta(seconds=rng.uniform(60, 1_200))
        return [(started, Ping("start", rid=rid)), (started + took, Ping("success", rid=rid))]
    if style == "log":
        return [(run + late / 2, Ping("log", body=b"halfway")), (run + late, Ping("success"))]
    return [(run + late, Ping("success", body=b"ok"))]


def year_jobs(
    rng: random.Random,
    span: tuple[datetime, datetime],
    frequent: tuple[str, ...] = FREQUENT,
    rare: tuple[str, ...] = RARE,
    simple: tuple[tuple[int, int], ...] = SIMPLE,
) -> list[Job]:
    specs: list[dict[str, Any]] = [
        {"kind": "cron", "schedule": expr, "tz": tz}
        for tz in ZONES
        for expr in (*frequent, *(r for r in rare for _ in range(8)))
    ]
    specs += [{"kind": "simple", "timeout": t} for t, count in simple for _ in range(count)]
    jobs = []
    for index, fields in enumerate(specs):
        grace = timedelta(minutes=rng.choice((45, 60, 120)))
        check = new_check(
            1_000 + index,
            name=f"job-{index}",
            grace=int(grace.total_seconds()),
            max_duration=int(MAX_DURATION.total_seconds()),
            **fields,
        )
        style = STYLES[index % len(STYLES)]
        runs = _runs(rng, check, span, grace)
        jobs.append(
            Job(check, style, [Visit(r, healthy_pings(rng, r, style, grace)) for r in runs])
        )
    return jobs


def _runs(
    rng: random.Random, check: Check, span: tuple[datetime, datetime], grace: timedelta
) -> list[datetime]:
    if check.kind == "cron":
        return cron_runs(check.schedule, check.tz, *span)
    # A simple job: each run starts one timeout after the last, a little early or late.
    runs, at = [], span[0] + timedelta(seconds=rng.uniform(0, check.timeout))
    while at < span[1]:
        runs.append(at)
        at += timedelta(seconds=check.timeout + rng.uniform(-600, 0))
    return runs


class Simulation:
    """Drives the real use cases through time; every alert is recorded with its publish time."""

    def __init__(
        self, deps: Deps, span: tuple[datetime, datetime], hint: Any, every: timedelta
    ) -> None:
        from tests.fakes import RecordingAlerter

        self.deps = deps
        self.now = span[0]
        self.end = span[1]
        self.recorder = RecordingAlerter(lambda: self.now)
        self.hint = hint  # () -> the earliest alert_after in the due index, or None
        self.every = every  # the background sweep's period
        self.reports: list[sweeps.SweepReport] = []
        self.pinged: Counter[str] = Counter()
        self._last_sweep = span[0] - MINUTE
        self._background = span[0]

    def run(self, jobs: list[Job]) -> None:
        events = sorted(
            (at, n, job.check.uuid, ping)
            for job in jobs
            for n, (at, ping) in enumerate(p for visit in job.visits for p in visit.pings)
        )
        for at, _, check_uuid, ping in events:
            self._sweep_until(at)
            self.now = at
            stored = service.record_ping(self.deps, check_uuid, ping, at)
            self.pinged[check_uuid] += 1
            self.on_ping(stored)
        self._sweep_until(self.end)

    def on_ping(self, stored: Check) -> None:
        """Hook for a driver that tracks deadlines itself."""

    def _sweep_until(self, moment: datetime) -> None:
        while (at := self._next_sweep()) <= moment:
            self.now = at
            self.reports.append(sweeps.sweep(self.deps, at))
            self._last_sweep = at
            while self._background <= at:
                self._background += self.every

    def _next_sweep(self) -> datetime:
        due = self.hint()
        if due is None:
            return self._background
        return min(self._background, max(_ceil_minute(due), self._last_sweep + MINUTE))


def _ceil_minute(moment: datetime) -> datetime:
    floor = moment.replace(second=0, microsecond=0)
    return floor if floor == moment else floor + MINUTE


def memory_deps(store: MemoryStore) -> Deps:
    from chalicelib.settings import Settings

    settings = Settings(table="memory", topic_arn="arn:aws:sns:us-east-1:123456789012:memory")
    # The simulation puts its own recorder in place of this alerter.
    return Deps(settings=settings, store=store, alerter=RecordingAlerter(clock=lambda: YEAR[0]))


def simulate(jobs: list[Job], span: tuple[datetime, datetime]) -> Simulation:
    store = MemoryStore()
    deps = memory_deps(store)
    for job in jobs:
        store.create_check(job.check)
    simulation = Simulation(deps, span, store.earliest_due, timedelta(hours=1))
    deps.alerter = simulation.recorder
    simulation.run(jobs)
    return simulation


@pytest.mark.slow
def test_a_year_of_jobs_run_as_cron_runs_them_raises_no_alert() -> None:
    jobs = year_jobs(random.Random(2026), YEAR)
    assert len(jobs) >= 200 and {j.check.tz for j in jobs} == set(ZONES)
    simulation = simulate(jobs, YEAR)

    assert simulation.recorder.published == []
    assert sum(r.due for r in simulation.reports) == 0  # the sweeper never read a healthy check
    assert len(simulation.reports) >= 365 * 24
    store = simulation.deps.store
    for job in jobs:
        flips = [(f.old, f.new) for f in store.flips(job.check.uuid)]
        assert flips == [("new", "up")], job.check
        sent = sum(len(v.pings) for v in job.visits)
        counted = stored_check(store, job.check.uuid).n_pings
        assert counted == simulation.pinged[job.check.uuid] == sent


def inject_faults(rng: random.Random, jobs: list[Job]) -> list[Expected]:
    """One fault per job (a miss, a fail ping or an overrun), each followed by a healthy run."""
    expected: list[Expected] = []
    for job in jobs:
        if job.check.schedule == "15 2,3 * * *" and job.check.kind == "cron":
            continue  # runs an hour apart: grace would overlap the next run
        kinds = ["miss", "fail"] + (
            ["overrun"] if job.style == "runs" and job.check.kind == "cron" else []
        )
        fault = rng.choice(kinds)
        k = rng.randrange(2, len(job.visits) - 2)
        down = _fault(rng, job, k, fault)
        recovered = job.visits[k + 1]
        assert down.at < recovered.pings[0][0], (job.check, fault)
        expected += [down, Expected(job.check.uuid, "up", None, recovered.success())]
    return expected


def _fault(rng: random.Random, job: Job, k: int, fault: str) -> Expected:
    check, visit = job.check, job.visits[k]
    last_success = job.visits[k - 1].success()
    if check.kind == "cron":
        deadline = cron_next(check.schedule, check.tz, last_success)
    else:
        deadline = last_success + timedelta(seconds=check.timeout)
    if fault == "miss":
        visit.pings = []
        return Expected(check.uuid, "down", "timeout", deadline + timedelta(seconds=check.grace))
    at = visit.run + timedelta(seconds=rng.uniform(0, 300))
    if fault == "fail":
        visit.pings = [(at, Ping("fail", exitstatus=1, body=b"disk full"))]
        return Expected(check.uuid, "down", "fail", at)
    visit.pings = [(at, Ping("start", rid=str(uuid.UUID(int=k, version=4))))]
    return Expected(check.uuid, "down", "overrun", at + MAX_DURATION)


@pytest.mark.slow
def test_a_year_with_faults_alerts_each_exactly_once_within_one_sweep_interval() -> None:
    rng = random.Random(1984)
    jobs = year_jobs(rng, YEAR)
    expected = inject_faults(rng, jobs)
    assert Counter(e.reason for e in expected if e.event == "down").keys() == {
        "timeout",
        "fail",
        "overrun",
    }
    simulation = simulate(jobs, YEAR)

    published = [(at, alert.document) for at, alert in simulation.recorder.published]
    keys = Counter((d["check"]["uuid"], d["event"]) for _, d in published)
    assert keys == Counter((e.check, e.event) for e in expected)  # each once, and nothing else
    by_key = {(d["check"]["uuid"], d["event"]): (at, d) for at, d in published}
    for e in expected:
        at, document = by_key[(e.check, e.event)]
        if e.event == "up":
            assert at == e.at  # the recovering ping delivers it
            continue
        assert (document["reason"], document["flip"]["at"]) == (e.reason, e.at.isoformat()), e
        assert timedelta(0) <= at - e.at < MINUTE, e


@pytest.mark.slow
def test_a_month_across_dst_on_moto_raises_no_alert(deps: Deps, aws: dict[str, str]) -> None:
    """The same drill on DynamoDB (moto): the fake must not be what keeps the year quiet."""
    span = (datetime(2026, 9, 28, tzinfo=UTC), datetime(2026, 11, 6, tzinfo=UTC))
    jobs = year_jobs(random.Random(7), span, frequent=FREQUENT[:3], rare=(), simple=((86_400, 2),))
    for job in jobs:
        deps.store.create_check(job.check)
    deadlines: dict[str, datetime] = {}

    def earliest() -> datetime | None:
        return min(deadlines.values(), default=None)

    simulation = Simulation(deps, span, earliest, timedelta(hours=6))
    simulation.on_ping = lambda stored: _track(deadlines, stored)  # type: ignore[method-assign]
    simulation.run(jobs)

    assert read_alerts(aws["queue_url"]) == []
    assert sum(r.due for r in simulation.reports) == 0
    for job in jobs:
        assert stored_check(deps.store, job.check.uuid).n_pings == simulation.pinged[job.check.uuid]


def _track(deadlines: dict[str, datetime], stored: Check) -> None:
    from chalicelib import domain

    due = domain.alert_after(stored)
    if due is None:
        deadlines.pop(stored.uuid, None)
    else:
        deadlines[stored.uuid] = due
