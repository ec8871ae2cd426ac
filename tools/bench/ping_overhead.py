"""Figure 2: handler time per warm ping over the time of one bare UpdateItem, same moto, same run.

Three timings are interleaved sample by sample, so drift hits all of them alike:
  * a bare UpdateItem (``ADD n_pings :one`` on the check item), the reference;
  * the ping's own two requests, captured from a real ping and replayed as they were sent;
  * the whole handler, ``app(event, context)``, for a warm success ping.
The time inside AWS calls is measured too, so what is left is Vigil's own Python.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tools.bench.handler import Handler
from tools.bench.report import captured_output, heading, ms, table
from tools.bench.sandbox import sandbox

T0 = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
TARGET_RATIO = 1.5


@dataclass
class Overhead:
    samples: int
    bare_update: float
    replayed_requests: float
    handler: float
    inside_aws: float

    @property
    def ratio(self) -> float:
        return self.handler / self.bare_update

    @property
    def own(self) -> float:
        return self.handler - self.inside_aws


def run(quick: bool) -> Overhead:
    samples = 30 if quick else 300
    with sandbox(timed=True) as sb:
        from chalicelib import management
        from chalicelib.spec import CheckSpec

        keys = management.create_project(sb.deps, "bench")
        grant = management.authorize(sb.deps, keys.api_key, write=True)
        check = management.create_check(
            sb.deps, grant, CheckSpec(name="timed", timeout=3600, grace=600), T0, "https://x"
        )
        handler = Handler()
        event = handler.event("GET", f"/ping/{check.uuid}")
        client = sb.deps.store.client
        with captured_output():
            handler.call(event)  # new -> up, and the snapshot is cached: warm from here on
            sent = _requests_of(client, lambda: handler.call(event))
            times = _interleave(
                samples, client, sb.deps.settings.table, check.uuid, sent, handler, event, sb.timer
            )
        return Overhead(samples, *(statistics.median(t) for t in times))


def _requests_of(client: Any, action: Any) -> list[tuple[str, dict[str, Any]]]:
    """The (operation, parameters) a call of ``action`` sends, in order."""
    sent: list[tuple[str, dict[str, Any]]] = []

    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        sent.append((model.name, dict(params)))

    client.meta.events.register("provide-client-params.dynamodb", record)
    try:
        action()
    finally:
        client.meta.events.unregister("provide-client-params.dynamodb", record)
    return sent


def _interleave(
    samples: int,
    client: Any,
    table_name: str,
    check_uuid: str,
    sent: list[tuple[str, dict[str, Any]]],
    handler: Handler,
    event: dict[str, Any],
    timer: Any,
) -> tuple[list[float], list[float], list[float], list[float]]:
    key = {"pk": {"S": f"CHECK#{check_uuid}"}, "sk": {"S": "CHECK"}}
    bare, replayed, whole, inside = [], [], [], []
    for _ in range(samples):
        started = time.perf_counter()
        client.update_item(
            TableName=table_name,
            Key=key,
            UpdateExpression="ADD #n :one",
            ExpressionAttributeNames={"#n": "n_pings"},
            ExpressionAttributeValues={":one": {"N": "1"}},
        )
        bare.append(time.perf_counter() - started)
        started = time.perf_counter()
        for operation, params in sent:
            getattr(client, _snake(operation))(**params)
        replayed.append(time.perf_counter() - started)
        aws_before = timer.seconds
        started = time.perf_counter()
        handler.call(event)
        whole.append(time.perf_counter() - started)
        inside.append(timer.seconds - aws_before)
    return bare, replayed, whole, inside


def _snake(operation: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in operation).lstrip("_")


def render(result: Overhead) -> str:
    verdict = "met" if result.ratio <= TARGET_RATIO else "NOT met"
    return "\n".join(
        [
            heading(2, "Ping overhead (in-process handler time per warm ping)"),
            f"Median of {result.samples} interleaved samples on one moto backend.",
            table(
                ["measured", "median"],
                [
                    ["bare UpdateItem (ADD n_pings)", ms(result.bare_update)],
                    ["the ping's own requests, replayed bare", ms(result.replayed_requests)],
                    ["handler: app(event, context), warm success", ms(result.handler)],
                    ["  of which inside AWS calls (moto)", ms(result.inside_aws)],
                    ["  of which Vigil's own Python", ms(result.own)],
                ],
            ),
            f"Ratio handler / bare UpdateItem: {result.ratio:.2f} (target <= {TARGET_RATIO}:"
            f" {verdict}). Handler / its own requests replayed:"
            f" {result.handler / result.replayed_requests:.2f}.",
        ]
    )
