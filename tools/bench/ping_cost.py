"""Figure 1: what one ping costs in DynamoDB requests and capacity units, by kind.

Every ping goes through the Lambda handler (``app(event, context)``), so the count includes
whatever the route, the use case and the store really send. Each kind is measured on its own
fresh checks, each primed by one success ping (so it is up and, when warm, cached), and the
totals are divided by the number of pings.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from tools.bench.handler import Handler
from tools.bench.report import captured_output, heading, table
from tools.bench.sandbox import Sandbox, sandbox

T0 = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
SITE = "https://vigil.example"
STEADY_PINGS = 210  # 30 page flushes, 21 due-bucket moves at one ping a minute; quick: half
STEADY_INTERVAL = timedelta(minutes=1)
STEADY = "success (steady, every minute)"
TARGET_WRITES = 1  # one round trip: the conditional UpdateItem
TARGET_STEADY_WRU = 1.5


@dataclass
class KindCost:
    kind: str
    available: bool = True
    requests: str = ""
    writes: float = 0.0
    reads: float = 0.0
    wru: float = 0.0
    rru: float = 0.0
    publishes: float = 0.0
    log_bytes: float = 0.0


@dataclass
class PingCost:
    samples: int
    kinds: list[KindCost] = field(default_factory=list)
    # Log bytes per warm success ping with the settings before issue 10 (the per-ping line at
    # INFO, EMF flushed every request), and of one EMF flush alone: measured in the same run.
    legacy_log_bytes: float = 0.0
    emf_flush_bytes: float = 0.0

    def of(self, kind: str) -> KindCost:
        return next(k for k in self.kinds if k.kind == kind)

    @property
    def target_met(self) -> bool:
        warm, steady = self.of("success (uuid, warm)"), self.of(STEADY)
        return (
            warm.writes <= TARGET_WRITES
            and warm.reads == 0
            and steady.reads == 0
            and steady.wru <= TARGET_STEADY_WRU
        )

    @property
    def progress_costs_a_success(self) -> bool:
        """Issue 11: a heartbeat costs the requests a success does (no read, same writes)."""
        warm, progress = self.of("success (uuid, warm)"), self.of("progress (open run)")
        return (progress.writes, progress.reads) == (warm.writes, warm.reads)


@dataclass
class _Fleet:
    sb: Sandbox
    handler: Handler
    ping_key: str
    grant: Any
    made: int = 0

    def checks(self, count: int, *, by_slug: bool = False) -> list[Any]:
        """Fresh checks with slugs, each pinged once so it is up (and cached in this process)."""
        from chalicelib import management
        from chalicelib.spec import CheckSpec

        made = []
        for _ in range(count):
            self.made += 1
            spec = CheckSpec(
                name=f"job {self.made}", slug=f"job-{self.made}", timeout=3600, grace=600
            )
            check = management.create_check(self.sb.deps, self.grant, spec, T0, SITE)
            path = f"/ping/{self.ping_key}/{check.slug}" if by_slug else f"/ping/{check.uuid}"
            with captured_output():
                self.handler.request("GET", path)
            made.append(check)
        return made

    def start_runs(self, checks: list[Any]) -> None:
        with captured_output():
            for check in checks:
                self.handler.request("GET", f"/ping/{check.uuid}/start")


def run(quick: bool) -> PingCost:
    samples = 3 if quick else 20
    with sandbox(metered=True) as sb:
        from chalicelib import management

        keys = management.create_project(sb.deps, "bench")
        grant = management.authorize(sb.deps, keys.api_key, write=True)
        fleet = _Fleet(sb, Handler(), keys.ping_key, grant)
        result = PingCost(samples)
        for kind, suffix, cold in (
            ("success (uuid, warm)", "", False),
            ("success (uuid, cold)", "", True),
            ("start", "/start", False),
            ("progress (open run)", "/progress", False),
            ("fail (up -> down, alert)", "/fail", False),
            ("log", "/log", False),
        ):
            checks = fleet.checks(samples)
            if kind.startswith("progress"):
                fleet.start_runs(checks)  # a heartbeat comes from a job that has started
            paths = [f"/ping/{c.uuid}{suffix}" for c in checks]
            result.kinds.append(_measure(fleet, kind, paths, cold))
        for kind, cold in (("slug ping (warm)", False), ("slug ping (cold)", True)):
            checks = fleet.checks(samples, by_slug=True)
            paths = [f"/ping/{keys.ping_key}/{c.slug}" for c in checks]
            result.kinds.append(_measure(fleet, kind, paths, cold))
        body = b"x" * 1000
        paths = [f"/ping/{c.uuid}" for c in fleet.checks(samples)]
        result.kinds.append(_measure(fleet, "success, 1 KB body (warm)", paths, False, body))
        result.kinds.append(_steady_state(fleet, STEADY_PINGS // 2 if quick else STEADY_PINGS))
        result.legacy_log_bytes, result.emf_flush_bytes = _log_settings(fleet, samples)
        return result


LEGACY_LOG_ENV = {"VIGIL_PING_LOG_LEVEL": "INFO", "VIGIL_METRICS_FLUSH_SECONDS": "0"}
EMF_ONLY_ENV = {"VIGIL_PING_LOG_LEVEL": "DEBUG", "VIGIL_METRICS_FLUSH_SECONDS": "0"}


def _log_settings(fleet: _Fleet, samples: int) -> tuple[float, float]:
    """Bytes per warm ping under the old log settings, and under an EMF flush per ping only."""
    measured = []
    for env in (LEGACY_LOG_ENV, EMF_ONLY_ENV):
        paths = [f"/ping/{c.uuid}" for c in fleet.checks(samples)]
        with _environment(env):
            measured.append(_measure(fleet, "log settings", paths, False).log_bytes)
    return measured[0], measured[1]


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _measure(fleet: _Fleet, kind: str, paths: list[str], cold: bool, body: bytes = b"") -> KindCost:
    meter = fleet.sb.meter
    mark = meter.mark()
    log_bytes = 0
    for path in paths:
        if cold:
            fleet.sb.fresh_process()
        event = fleet.handler.event("POST" if body else "GET", path, body=body)
        with captured_output() as output:
            status = int(fleet.handler.call(event)["statusCode"])
        if status == 404 and kind.startswith("slug"):
            return KindCost(kind, available=False)
        if status >= 300:
            raise RuntimeError(f"{kind}: GET {path} answered {status}")
        log_bytes += output.billed_bytes
    return _cost(kind, meter.since(mark, per=len(paths)), log_bytes / len(paths))


def _steady_state(fleet: _Fleet, pings: int) -> KindCost:
    """A check pinged once a minute: page flushes and due-bucket moves spread over its pings.

    The clock is simulated (time-machine), one minute per ping, so the deadline crosses a
    due bucket as often as it would in production.
    """
    import time_machine

    (check,) = fleet.checks(1)
    event = fleet.handler.event("GET", f"/ping/{check.uuid}")
    with time_machine.travel(T0, tick=False) as clock, captured_output() as output:
        for _ in range(pings // 2):  # past the first flushes: the log is in its steady shape
            clock.shift(STEADY_INTERVAL)
            fleet.handler.call(event)
        mark = fleet.sb.meter.mark()
        printed = output.billed_bytes
        for _ in range(pings):
            clock.shift(STEADY_INTERVAL)
            fleet.handler.call(event)
        printed = output.billed_bytes - printed
    tally = fleet.sb.meter.since(mark, per=pings)
    return _cost(STEADY, tally, printed / pings)


def _cost(kind: str, tally: Any, log_bytes: float) -> KindCost:
    return KindCost(
        kind,
        requests=tally.breakdown(),
        writes=tally.writes,
        reads=tally.reads,
        wru=tally.each(tally.wru),
        rru=tally.each(tally.rru),
        publishes=tally.publishes,
        log_bytes=log_bytes,
    )


def render(result: PingCost) -> str:
    rows: list[list[object]] = []
    for k in result.kinds:
        if not k.available:
            rows.append([k.kind, "not available", "", "", "", "", "", ""])
            continue
        rows.append(
            [k.kind, k.requests, k.writes, k.reads, k.wru, k.rru, k.publishes, round(k.log_bytes)]
        )
    warm, steady = result.of("success (uuid, warm)"), result.of(STEADY)
    verdict = "met" if result.target_met else "NOT met"
    return "\n".join(
        [
            heading(1, "Ping cost (DynamoDB requests and capacity units per ping)"),
            f"{result.samples} pings per kind through the Lambda handler; WRU/RRU include the due"
            " index (a changed sort key is a delete plus a put there).",
            table(
                ["kind", "DynamoDB requests", "writes", "reads", "WRU", "RRU", "SNS", "log B"],
                rows,
                left=2,
            ),
            f"Target: a warm uuid success is {TARGET_WRITES} write request (one round trip) and"
            f" no read; a steady success averages <= {TARGET_STEADY_WRU} WRU, no read."
            f" Measured {warm.writes:g} write(s), {warm.reads:g} reads; steady"
            f" {steady.wru:.2f} WRU in {steady.writes:.2f} requests, {steady.reads:g} reads:"
            f" {verdict}.",
            "Progress ping (a heartbeat on an open run) against a warm success: "
            + ("same requests." if result.progress_costs_a_success else "DIFFERENT requests."),
            "log B: what the handler printed, + 26 B per CloudWatch event. The per-ping line is"
            " at DEBUG and EMF lines are flushed once a minute per process, so a warm ping"
            " prints nothing. Same run, warm success ping: with the per-ping line at INFO and"
            f" EMF flushed every request (before issue 10) {result.legacy_log_bytes:.0f} B;"
            f" one EMF flush alone {result.emf_flush_bytes:.0f} B.",
        ]
    )
