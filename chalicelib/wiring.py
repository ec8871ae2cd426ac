"""The composition root: builds ``Deps`` from the environment on first use, once per process.

botocore is imported here (through ``aws_clients``; boto3 is not needed), and only when a client
is first needed, so importing the app stays cheap for tests and tools. ``AWS_ENDPOINT_URL``
(honoured by botocore itself) points every client at the embedded moto server locally.

In Lambda, ``init_lambda`` (called by app.py at import) builds the DynamoDB client during the
init phase instead, so the first ping does not pay for importing botocore and the client's
model files. It does nothing unless the Lambda runtime is there (``AWS_LAMBDA_RUNTIME_API``): tests
import the app before moto starts, and a client made then would reach real AWS (traps.md §3).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from chalicelib.channel_store import DynamoChannelStore
from chalicelib.deps import Deps
from chalicelib.dynamo import DynamoStore
from chalicelib.errors import ConfigError
from chalicelib.settings import Settings

if TYPE_CHECKING:  # off a steady ping's path (cold start): see DeferredAlerter, build_notifier
    from chalicelib.alerts import Alert, Alerter
    from chalicelib.notifier import Notifier
    from chalicelib.notify_queue import SqsQueue

_deps: Deps | None = None
_notifier: Notifier | None = None
# Clients built by init_lambda, each handed to the first Deps that asks for its service.
_early_clients: dict[str, Any] = {}
LAMBDA_RUNTIME_VARIABLE = "AWS_LAMBDA_RUNTIME_API"


# A ping must answer well inside API Gateway's 29 s limit even when AWS is slow: short
# timeouts, and botocore's standard retry mode (throttles and 5xx retried with backoff).
CLIENT_TIMEOUTS = {"connect_timeout": 2, "read_timeout": 5}
CLIENT_RETRIES = {"mode": "standard", "max_attempts": 4}


def aws_client(service: str) -> Any:
    # deferred: botocore is most of a cold start, paid only by what talks to AWS
    from botocore.config import Config

    from chalicelib import aws_clients

    return aws_clients.client(service, Config(retries=CLIENT_RETRIES, **CLIENT_TIMEOUTS))


def init_lambda(environ: Mapping[str, str]) -> bool:
    """Build the DynamoDB client now if this is a Lambda init phase; True if it did."""
    if not environ.get(LAMBDA_RUNTIME_VARIABLE):
        return False
    # Only DynamoDB: every ping and every sweep needs it; SNS only when an alert goes out.
    _early_clients["dynamodb"] = aws_client("dynamodb")
    return True


def _client(service: str) -> Any:
    early = _early_clients.pop(service, None)
    return early if early is not None else aws_client(service)


class DeferredAlerter:
    """The alerter, built when the first alert goes out rather than with ``Deps``.

    Most pings flip nothing, and the routing alerter's modules (SNS messages, the notify
    queue, channel routing, the alert document) are a measurable part of a cold ping's
    imports (docs/performance.md, issue 10). ``target`` is the built alerter.
    """

    def __init__(self, build: Callable[[], Alerter]) -> None:
        self._build = build

    @functools.cached_property
    def target(self) -> Alerter:
        return self._build()

    def publish(self, alert: Alert) -> str:
        return self.target.publish(alert)


def routing_alerter(settings: Settings) -> Alerter:
    """Alerts to the topic, or to the notify queue for checks routed to other channels."""
    from chalicelib.notify_queue import RoutingAlerter
    from chalicelib.routing import topic_channel_id

    return RoutingAlerter(
        lambda: _client("sns"),
        settings.topic_arn,
        notify_queue(settings),
        topic_channel_id(settings.topic_arn),
    )


def build_deps(settings: Settings) -> Deps:
    return Deps(
        settings=settings,
        store=DynamoStore(
            lambda: _client("dynamodb"),
            settings.table,
            due_shards=settings.due_shards,
            ping_log_limit=settings.ping_log_limit,
        ),
        alerter=DeferredAlerter(functools.partial(routing_alerter, settings)),
        channels=DynamoChannelStore(
            lambda: _client("dynamodb"),
            lambda: _client("kms"),
            settings.table,
            settings.channel_key_id,
        ),
    )


def notify_queue(settings: Settings) -> SqsQueue | None:
    from chalicelib.notify_queue import SqsQueue

    if not settings.notify_queue_url:
        return None  # no notifier deployed: every alert goes to the topic, as before
    return SqsQueue(lambda: _client("sqs"), settings.notify_queue_url, settings.dead_letter_url)


def build_notifier(built: Deps, say: Callable[[str], None] | None = None) -> Notifier:
    """The notifier's collaborators: one per process, like ``deps()``."""
    import random

    from chalicelib.channels.sender import send
    from chalicelib.notifier import Notifier
    from chalicelib.notify_queue import SnsPublisher
    from chalicelib.routing import topic_channel_id

    settings = built.settings
    queue = notify_queue(settings)
    if queue is None or built.channels is None:
        raise ConfigError("VIGIL_NOTIFY_QUEUE_URL is not set")
    return Notifier(
        channels=built.channels,
        queue=queue,
        topic_channel_id=topic_channel_id(settings.topic_arn),
        send_http=functools.partial(send, allow_loopback=settings.allow_loopback),
        publish_sns=SnsPublisher(lambda: _client("sns")),
        rng=random.SystemRandom().random,
        say=say,
    )


def notifier() -> Notifier:
    global _notifier
    if _notifier is None:
        _notifier = build_notifier(deps())
    return _notifier


def deps() -> Deps:
    global _deps
    if _deps is None:
        _deps = build_deps(Settings.from_env(os.environ))
    return _deps


def reset() -> None:
    """Forget the built collaborators (tests, and a changed environment)."""
    global _deps, _notifier
    _deps = None
    _notifier = None
    _early_clients.clear()
