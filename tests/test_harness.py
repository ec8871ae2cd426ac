"""moto is as atomic as DynamoDB, a write and its reply one step (traps.md §3b), both in the
test harness (in-process ``mock_aws``) and in the local stack's moto server (``start_moto``).

moto builds an ``UpdateItem``'s ``ReturnValues`` from the live item after the backend call
returns. Here the first update is held right after its write; if a second update could run
before the first reply is built, the first caller would be told the second's count.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from tests.stack import free_port

TABLE = "race"

BOUND_SECONDS = 20  # generous bound for each wait; the happy path takes milliseconds


class WatchedLock:
    """An RLock that records when a thread had to wait for it."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self.contended = threading.Event()

    def __enter__(self) -> WatchedLock:
        if not self._lock.acquire(blocking=False):
            self.contended.set()
            self._lock.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self._lock.release()


def wait_for_either(first: threading.Event, second: threading.Event) -> None:
    deadline = time.monotonic() + BOUND_SECONDS
    while not (first.is_set() or second.is_set()):
        if time.monotonic() > deadline:
            pytest.fail(f"neither happened within {BOUND_SECONDS} s")
        first.wait(0.01)


def create_table(dynamodb: Any) -> Any:
    dynamodb.create_table(
        TableName=TABLE,
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    return dynamodb


@pytest.fixture(params=["mock_aws", "local_stack_server"])
def dynamodb(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A client on moto in process (the harness) or on the local stack's threaded server."""
    if request.param == "mock_aws":
        from moto import mock_aws

        with mock_aws():
            yield create_table(boto3.client("dynamodb"))
        return
    from moto.dynamodb.responses import DynamoHandler

    from chalicelib.local import start_moto

    # Undo the harness's own serialisation: the stack must install it by itself.
    unlocked = DynamoHandler.call_action.__wrapped__  # type: ignore[attr-defined]
    monkeypatch.setattr(DynamoHandler, "call_action", unlocked)
    port = free_port()
    server = start_moto("127.0.0.1", port)
    try:
        yield create_table(boto3.client("dynamodb", endpoint_url=f"http://127.0.0.1:{port}"))
    finally:
        server.stop()


def test_an_update_and_its_reply_are_one_atomic_step(
    dynamodb: Any, atomic_dynamodb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.dynamodb.models import DynamoDBBackend

    lock = WatchedLock()
    monkeypatch.setattr(atomic_dynamodb, "lock", lock)
    written, resume, second_done = threading.Event(), threading.Event(), threading.Event()
    backend_update, updates = DynamoDBBackend.update_item, itertools.count()

    def update_then_hold_the_first(self: Any, *args: Any, **kwargs: Any) -> Any:
        item = backend_update(self, *args, **kwargs)
        if next(updates) == 0:  # the server handles requests on threads of its own
            written.set()
            resume.wait(BOUND_SECONDS)
        return item

    monkeypatch.setattr(DynamoDBBackend, "update_item", update_then_hold_the_first)
    replies: dict[str, int] = {}

    def increment() -> None:
        reply = dynamodb.update_item(
            TableName=TABLE,
            Key={"pk": {"S": "CHECK#race"}, "sk": {"S": "CHECK"}},
            UpdateExpression="ADD n_pings :one",
            ExpressionAttributeValues={":one": {"N": "1"}},
            ReturnValues="UPDATED_NEW",
        )
        replies[threading.current_thread().name] = int(reply["Attributes"]["n_pings"]["N"])
        if threading.current_thread().name == "second":
            second_done.set()

    first = threading.Thread(target=increment, name="first")
    second = threading.Thread(target=increment, name="second")
    first.start()
    assert written.wait(BOUND_SECONDS), "the first update never reached the backend"
    second.start()
    # Atomic: the second request waits for the first one's lock. Not atomic: it completes.
    wait_for_either(lock.contended, second_done)
    resume.set()
    first.join(BOUND_SECONDS)
    second.join(BOUND_SECONDS)
    assert replies == {"first": 1, "second": 2}


def test_the_serialisation_is_installed_once_and_counts_only_writes(
    dynamodb: Any, atomic_dynamodb: Any
) -> None:
    from moto.dynamodb.responses import DynamoHandler

    patched = DynamoHandler.call_action
    atomic_dynamodb.install()
    assert DynamoHandler.call_action is patched, "a second install must not wrap it again"
    key = {"pk": {"S": "CHECK#count"}, "sk": {"S": "CHECK"}}
    before = atomic_dynamodb.writes
    dynamodb.get_item(TableName=TABLE, Key=key)
    dynamodb.scan(TableName=TABLE)
    assert atomic_dynamodb.writes == before
    dynamodb.put_item(TableName=TABLE, Item=key)
    dynamodb.delete_item(TableName=TABLE, Key=key)
    assert atomic_dynamodb.writes == before + 2
