"""Run by ``tools.bench.coldstart`` in a fresh interpreter; prints one JSON line of timings.

    python -m tools.bench.probe boto3         # baseline: import boto3
    python -m tools.bench.probe app EVENT     # import app, then two requests through its handler
    python -m tools.bench.probe url HANDLER EVENT  # the ping function's entry: import, 2 requests
    python -B -m tools.bench.probe import     # import app only (run in an unpacked zip)
    python -m tools.bench.probe floor TABLE   # botocore, a DynamoDB client, two calls: no app

Only the standard library is imported before the clock starts, so each figure is what a
Lambda init (``import app``) or first invocation would pay on this machine. The app talks to
the moto server named by ``AWS_ENDPOINT_URL``.
"""

from __future__ import annotations

import importlib
import json
import sys
import time
from types import SimpleNamespace
from typing import Any


def _context() -> Any:
    return SimpleNamespace(
        aws_request_id="probe",
        function_name="api_handler",
        memory_limit_in_mb=128,
        get_remaining_time_in_millis=lambda: 30_000,
    )


def main(argv: list[str]) -> int:
    if argv[0] == "boto3":
        started = time.perf_counter()
        import boto3  # noqa: F401

        print(json.dumps({"import_boto3": time.perf_counter() - started}))
        return 0
    if argv[0] == "import":
        started = time.perf_counter()
        import app

        print(json.dumps({"import_app": time.perf_counter() - started}))
        return 0
    if argv[0] == "floor":
        return _floor(argv[1])
    if argv[0] == "url":
        return _url(argv[1], json.loads(argv[2]))
    event = json.loads(argv[1])
    started = time.perf_counter()
    import app

    return _two_requests(app.app, event, started)


def _url(handler: str, event: dict[str, Any]) -> int:
    """The ping function as Lambda runs it: import its Handler's module, then two requests.

    ``handler`` is the template's Handler (``module.function``), e.g. ``app.ping_url`` before
    the ping function had its own entry; ``event`` is a function URL request (payload 2.0)."""
    module, name = handler.rsplit(".", 1)
    started = time.perf_counter()
    entry = getattr(importlib.import_module(module), name)
    return _two_requests(entry, event, started)


def _two_requests(entry: Any, event: dict[str, Any], started: float) -> int:
    """Time a first (cold) and a second (warm) request after an import that began at
    ``started``; print the three timings as JSON."""
    imported = time.perf_counter()
    first = entry(event, _context())
    answered = time.perf_counter()
    second = entry(event, _context())
    again = time.perf_counter()
    if first["statusCode"] != 200 or second["statusCode"] != 200:
        print(json.dumps({"error": [first, second]}), file=sys.stderr)
        return 1
    timings = {
        "import_app": imported - started,
        "first_request": answered - imported,
        "warm_request": again - answered,
    }
    print(json.dumps(timings))
    return 0


def _floor(table: str) -> int:
    """The part of a cold ping no app code can save: botocore, the client, the cold ping's calls.

    The client is built as the app builds it (chalicelib.aws_clients imports only botocore and
    the standard library), then sends what a cold uuid ping sends: a consistent GetItem and an
    UpdateItem, to an item of its own so that the app's check is left alone.
    """
    started = time.perf_counter()
    from botocore.config import Config

    from chalicelib.aws_clients import client

    config = Config(
        retries={"mode": "standard", "max_attempts": 4}, connect_timeout=2, read_timeout=5
    )
    dynamodb = client("dynamodb", config)
    built = time.perf_counter()
    key = {"pk": {"S": "PROBE#floor"}, "sk": {"S": "floor"}}
    dynamodb.get_item(TableName=table, Key=key, ConsistentRead=True)
    dynamodb.update_item(
        TableName=table,
        Key=key,
        UpdateExpression="SET n_pings = if_not_exists(n_pings, :zero) + :one",
        ExpressionAttributeValues={":zero": {"N": "0"}, ":one": {"N": "1"}},
    )
    done = time.perf_counter()
    print(json.dumps({"floor_client": built - started, "floor_calls": done - built}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
