"""Shared fixtures: moto for all AWS, fixed times, the app's Deps wired to the mocks.

boto3 clients are created lazily (after ``mock_aws`` starts), so nothing reaches real AWS.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
TABLE = "vigil-test"
TOPIC = "vigil-test-alerts"
T0 = datetime(2026, 3, 2, 12, 0, 0, tzinfo=UTC)

os.environ.update(
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_DEFAULT_REGION="us-east-1",
)
for _var in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
    os.environ.pop(_var, None)


@pytest.fixture
def aws() -> Iterator[dict[str, str]]:
    """moto with the table, the topic, and an SQS queue subscribed to read alerts back."""
    from moto import mock_aws

    with mock_aws():
        import boto3

        from chalicelib.bootstrap import bootstrap

        created = bootstrap(boto3.client("dynamodb"), boto3.client("sns"), TABLE, TOPIC)
        sqs = boto3.client("sqs")
        queue_url = sqs.create_queue(QueueName="alerts")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
        boto3.client("sns").subscribe(
            TopicArn=created["topic_arn"],
            Protocol="sqs",
            Endpoint=arn["Attributes"]["QueueArn"],
        )
        yield {**created, "queue_url": queue_url}


@pytest.fixture
def serialized_moto() -> Iterator[None]:
    """Real DynamoDB serialises writes per item; moto does not (traps.md §3b). Make it so."""
    from moto.dynamodb.models import DynamoDBBackend

    lock = threading.RLock()
    names = ("put_item", "update_item", "delete_item", "transact_write_items", "batch_write_item")
    originals = {name: getattr(DynamoDBBackend, name) for name in (*names, "get_item", "query")}
    for name, original in originals.items():

        def locked(self: Any, *args: Any, __original: Any = original, **kwargs: Any) -> Any:
            with lock:
                return __original(self, *args, **kwargs)

        setattr(DynamoDBBackend, name, locked)
    yield
    for name, original in originals.items():
        setattr(DynamoDBBackend, name, original)


@pytest.fixture
def settings(aws: dict[str, str]) -> Any:
    from chalicelib.settings import Settings

    return Settings(table=aws["table"], topic_arn=aws["topic_arn"], due_shards=4)


@pytest.fixture
def deps(settings: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The app's collaborators, bound to moto; routes see the same object."""
    from chalicelib import wiring

    monkeypatch.setenv("VIGIL_TABLE", settings.table)
    monkeypatch.setenv("VIGIL_TOPIC_ARN", settings.topic_arn)
    built = wiring.build_deps(settings)
    monkeypatch.setattr(wiring, "_deps", built)
    yield built
    wiring.reset()


@pytest.fixture
def client(deps: Any) -> Iterator[Any]:
    from chalice.test import Client

    from app import app

    with Client(app, project_dir=str(ROOT)) as test_client:
        yield test_client


@pytest.fixture
def project(deps: Any) -> Any:
    from chalicelib.management import create_project

    return create_project(deps, "test")


def read_alerts(queue_url: str) -> list[dict[str, Any]]:
    """Drain the subscribed queue; each item is the SNS envelope with the parsed document."""
    import boto3

    sqs = boto3.client("sqs")
    alerts: list[dict[str, Any]] = []
    while True:
        reply = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)
        messages = reply.get("Messages", [])
        if not messages:
            return alerts
        for message in messages:
            envelope = json.loads(message["Body"])
            envelope["document"] = json.loads(envelope["Message"])
            alerts.append(envelope)
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Skipped browser tests must not go unnoticed in ``make test``'s quiet output."""
    skipped = terminalreporter.stats.get("skipped", [])
    reasons = {str(report.longrepr) for report in skipped}
    if any("BROWSER TESTS SKIPPED" in reason for reason in reasons):
        from tests.browser import INSTALL_HINT

        line = f"BROWSER TESTS SKIPPED: no Chromium here. Run: {INSTALL_HINT}"
        terminalreporter.write_sep("!", line, red=True, bold=True)
