"""Shared fixtures: moto for all AWS, fixed times, the app's Deps wired to the mocks.

boto3 clients are created lazily (after ``mock_aws`` starts), so nothing reaches real AWS.
"""

from __future__ import annotations

import json
import os
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


@pytest.fixture(scope="session", autouse=True)
def atomic_dynamodb() -> Any:
    """Every moto DynamoDB request is atomic in every test, as on DynamoDB (traps.md §3b).

    The same code serialises the local stack (chalicelib.local.AtomicDynamoDB); its lock is per
    process, like the in-memory backend it guards, so parallel workers each hold their own.
    """
    from chalicelib.local import ATOMIC_DYNAMODB

    ATOMIC_DYNAMODB.install()
    return ATOMIC_DYNAMODB


@pytest.fixture(scope="session", autouse=True)
def reused_moto_key_material() -> None:
    """moto makes a fresh 2048-bit RSA key for every KMS key (even symmetric ones, which never
    use it) and every SNS subscription's message signature: 30-60 ms of CPU each, two or three
    per test. One key per kind per process is enough: no test compares key material."""
    import functools

    from moto.kms import models as kms_models
    from moto.sns import models as sns_models

    # moto's own functions, replaced for the session: mypy sees them as fixed attributes.
    kms_models.generate_private_key = functools.cache(kms_models.generate_private_key)  # type: ignore[attr-defined]
    signing_key = functools.cache(sns_models.Subscription.private_key.__wrapped__)
    sns_models.Subscription.private_key = lambda self: signing_key(None)  # type: ignore[method-assign,assignment]


@pytest.fixture(scope="session", autouse=True)
def one_botocore_loader() -> None:
    """Every ``mock_aws`` resets boto3's default session, and each new session loaded every
    service model from JSON again: about 50 ms per client, several clients per test. The models
    are read-only data, so all sessions of the process share one loader and its cache."""
    import functools

    from botocore import session

    session.create_loader = functools.cache(session.create_loader)


@pytest.fixture(autouse=True)
def metrics_as_in_lambda() -> Iterator[None]:
    """Every test starts with metrics as a Lambda process has them: written to stdout, nothing
    pending. Tests (and an in-process local stack) that swap the sink cannot leak it into the
    next test on the same worker."""
    from chalicelib import metrics

    metrics.set_sink(metrics.STDOUT_SINK)
    metrics.reset()
    yield
    metrics.set_sink(metrics.STDOUT_SINK)
    metrics.reset()


@pytest.fixture
def serialized_moto(atomic_dynamodb: Any) -> None:
    """Names the dependency in race tests; the serialisation itself is session-wide."""


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
