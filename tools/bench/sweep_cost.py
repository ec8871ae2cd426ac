"""Figure 3: what a sweep reads against fleet size, beside a full table Scan in the same run.

Each fleet is seeded straight into the table (the store's own item mapping, batch writes) with
0.1% of its checks past their deadline and the others' deadlines spread evenly over the next
25 hours, so some fall in the current due bucket (candidates a sweep reads and skips). A full
Scan first reads the table the way a sweeper without the index would; then one sweep flips and
alerts the due checks, and a second finds nothing due. Requests, items and capacity come from
the meter; wall time is moto's (see below).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tools.bench.meter import Call, Tally, item_size, read_units
from tools.bench.report import captured_output, heading, table
from tools.bench.sandbox import sandbox, up_check

NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
FLEETS = (1_000, 10_000, 50_000)
QUICK_FLEETS = (200, 1_000)
DUE_EVERY = 1_000  # 0.1% of the fleet
TIMEOUT = timedelta(days=1)
GRACE = timedelta(hours=1)
PROJECT = "5b1e6d8c-0f3a-4c2e-9d7b-3a1f2e4d5c6b"


@dataclass
class Pass:
    """One sweep or scan: its DynamoDB requests, what it read, and how long it took."""

    requests: int
    index_queries: int
    items_read: int  # check items read: the candidates the index named (or, for a Scan, all)
    rru: float
    wru: float
    publishes: int
    seconds: float
    log_bytes: int = 0


@dataclass
class FleetRow:
    fleet: int
    due: int
    sweep: Pass
    idle: Pass
    scan: Pass


def run(quick: bool) -> list[FleetRow]:
    return [_fleet(size) for size in (QUICK_FLEETS if quick else FLEETS)]


def _fleet(size: int) -> FleetRow:
    checks = [_check(i) for i in range(size)]
    due = sum(1 for i in range(size) if i % DUE_EVERY == 0)
    with sandbox(metered=True) as sb:
        from chalicelib import sweeps

        sb.seed(checks)
        scan = _full_scan(sb.raw, sb.deps.settings.table, checks, sb.deps.settings.due_shards)
        sweep = _timed(sb.meter, lambda: sweeps.sweep(sb.deps, NOW))
        idle = _timed(sb.meter, lambda: sweeps.sweep(sb.deps, NOW))
    return FleetRow(size, due, sweep, idle, scan)


def _check(i: int) -> Any:
    """Every thousandth check went silent a day and an hour ago; the rest pinged within that
    time, spread minute by minute, so their deadlines spread over the next 25 hours.

    The fleet uses issue 11's rules too, so the figure shows they add nothing to what a sweep
    reads: a quarter run long jobs with a stall timeout and an open run (heartbeat 5 min ago),
    a quarter have a nightly quiet window and hourly reminders, a quarter a failure threshold,
    and the silent ones depend on a healthy check (their hold is judged by reading it by key).
    """
    silent = i % DUE_EVERY == 0
    span = int((TIMEOUT + GRACE).total_seconds() // 60) - 1
    last_ping = NOW - (
        TIMEOUT + GRACE + timedelta(minutes=5) if silent else timedelta(minutes=i * 37 % span)
    )
    check_uuid = str(uuid.UUID(int=i + 1, version=4))
    return up_check(
        check_uuid,
        PROJECT,
        last_ping,
        timeout=int(TIMEOUT.total_seconds()),
        grace=int(GRACE.total_seconds()),
        **_run_health(i, check_uuid, silent),
    )


def _run_health(i: int, check_uuid: str, silent: bool) -> dict[str, Any]:
    from chalicelib.quiet import QuietWindow

    if silent:
        return {"depends_on": (str(uuid.UUID(int=i + 2, version=4)),)}
    if i % 4 == 1:
        beat = NOW - timedelta(minutes=5)
        return {"stall_timeout": 1800, "max_duration": 7200, "runs": {"r": beat}, "progress": {}}
    if i % 4 == 2:
        return {"quiet": (QuietWindow("0 2 * * *", 7200),), "repeat_every": 3600}
    if i % 4 == 3:
        return {"fail_threshold": 3, "recover_threshold": 2}
    return {}


def _full_scan(client: Any, table_name: str, checks: list[Any], shards: int) -> Pass:
    """What a sweeper without the index would read: every item, page by page.

    It runs as ``Select=COUNT``, which DynamoDB bills like a full Scan (the items are read
    either way) but moto answers without serialising every attribute in Python: returning
    50,000 items takes moto minutes, which says nothing about DynamoDB. The read units come
    from the sizes of the items in the table, which are exactly the seeded checks.
    """
    from chalicelib.items import check_to_item

    started = time.perf_counter()
    pages = list(client.get_paginator("scan").paginate(TableName=table_name, Select="COUNT"))
    seconds = time.perf_counter() - started
    size = sum(item_size(check_to_item(check, shards)) for check in checks)
    return Pass(
        requests=len(pages),
        index_queries=len(pages),
        items_read=sum(page["ScannedCount"] for page in pages),
        rru=read_units(size, consistent=False),
        wru=0.0,
        publishes=0,
        seconds=seconds,
    )


def _timed(meter: Any, action: Any) -> Pass:
    mark = meter.mark()
    with captured_output() as output:
        started = time.perf_counter()
        action()
        seconds = time.perf_counter() - started
    calls: list[Call] = meter.calls[mark:]
    tally = Tally.of(calls)
    index_calls = [c for c in calls if c.index is not None or c.operation == "Scan"]
    candidate_reads = [c for c in calls if c.operation == "BatchGetItem"]
    return Pass(
        requests=int(tally.count()),
        index_queries=len(index_calls),
        items_read=sum(c.items_read for c in candidate_reads),
        rru=tally.rru,
        wru=tally.wru,
        publishes=int(tally.publishes),
        seconds=seconds,
        log_bytes=output.billed_bytes,
    )


def render(rows: list[FleetRow]) -> str:
    lines = [
        heading(3, "Sweep cost against fleet size (0.1% due)"),
        table(
            [
                "fleet",
                "due",
                "pass",
                "requests",
                "index/scan reqs",
                "items read",
                "RRU",
                "WRU",
                "alerts",
                "wall time",
            ],
            [
                [
                    r.fleet,
                    r.due,
                    name,
                    p.requests,
                    p.index_queries,
                    p.items_read,
                    p.rru,
                    p.wru,
                    p.publishes,
                    f"{p.seconds:.2f} s",
                ]
                for r in rows
                for name, p in (("sweep", r.sweep), ("idle sweep", r.idle), ("full Scan", r.scan))
            ],
        ),
        "Items read by a sweep = the candidates: the checks whose due bucket"
        " (items.DUE_BUCKET_SECONDS) has begun, due or due before it ends, read with one"
        " eventually consistent BatchGetItem per 100 after one KEYS_ONLY query per shard;"
        " the not yet due are skipped unwritten. A full Scan reads every item (run as"
        " Select=COUNT, billed the same; RRU from the item sizes). Wall time is moto's: its"
        " index Query walks the whole table in Python, so it grows with the fleet, which"
        " DynamoDB's does not.",
    ]
    return "\n".join(lines)
