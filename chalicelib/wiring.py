"""The composition root: builds ``Deps`` from the environment on first use, once per process.

boto3 is imported here, and only when a client is first needed, so importing the app stays
cheap for cold starts. ``AWS_ENDPOINT_URL`` (honoured by boto3 itself) points every client at
the embedded moto server locally.
"""

from __future__ import annotations

import os
from typing import Any

from chalicelib.deps import Deps
from chalicelib.dynamo import DynamoStore
from chalicelib.settings import Settings
from chalicelib.sns import SnsAlerter

_deps: Deps | None = None


# A ping must answer well inside API Gateway's 29 s limit even when AWS is slow: short
# timeouts, and botocore's standard retry mode (throttles and 5xx retried with backoff).
CLIENT_TIMEOUTS = {"connect_timeout": 2, "read_timeout": 5}
CLIENT_RETRIES = {"mode": "standard", "max_attempts": 4}


def aws_client(service: str) -> Any:
    import boto3  # deferred: ~250 ms, paid only by the first request that talks to AWS
    from botocore.config import Config

    return boto3.client(service, config=Config(retries=CLIENT_RETRIES, **CLIENT_TIMEOUTS))


def build_deps(settings: Settings) -> Deps:
    return Deps(
        settings=settings,
        store=DynamoStore(
            lambda: aws_client("dynamodb"), settings.table, due_shards=settings.due_shards
        ),
        alerter=SnsAlerter(lambda: aws_client("sns"), settings.topic_arn),
    )


def deps() -> Deps:
    global _deps
    if _deps is None:
        _deps = build_deps(Settings.from_env(os.environ))
    return _deps


def reset() -> None:
    """Forget the built collaborators (tests, and a changed environment)."""
    global _deps
    _deps = None
