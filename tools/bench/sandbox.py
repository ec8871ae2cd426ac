"""The benchmarks' AWS: moto in-process, fake credentials, and the app's own ``Deps``.

``isolate_env`` runs before anything creates a boto3 client: it removes every way a client
could find a real endpoint or real credentials (profiles, config files, instance metadata).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

TABLE = "vigil-bench"
TOPIC = "vigil-bench-alerts"
REGION = "us-east-1"
FAKE_ENV = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
}
SCRUBBED = ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")
BATCH = 25


def isolate_env() -> None:
    os.environ.update(FAKE_ENV)
    for name in list(os.environ):
        if name in SCRUBBED or name.startswith("AWS_ENDPOINT_URL_"):
            del os.environ[name]


@dataclass
class Sandbox:
    deps: Any  # chalicelib.service.Deps
    raw: Any  # an unhooked DynamoDB client: seeding and snapshots, never counted
    meter: Any  # tools.bench.meter.Meter | None
    timer: Any  # tools.bench.meter.CallTimer | None

    def seed(self, checks: list[Any]) -> None:
        """Write checks straight into the table, as the store maps them (fast, uncounted)."""
        from chalicelib.items import check_to_item

        shards = self.deps.settings.due_shards
        table = self.deps.settings.table
        for start in range(0, len(checks), BATCH):
            writes = [
                {"PutRequest": {"Item": check_to_item(check, shards)}}
                for check in checks[start : start + BATCH]
            ]
            pending: dict[str, Any] = {table: writes}
            while pending:
                pending = self.raw.batch_write_item(RequestItems=pending).get("UnprocessedItems")

    def fresh_process(self) -> Any:
        """Deps as a new Lambda process would build them: no snapshot or key caches."""
        from chalicelib import wiring

        deps = wiring.build_deps(self.deps.settings)
        wiring._deps = deps
        return deps


@contextmanager
def sandbox(*, metered: bool = False, timed: bool = False, shards: int = 4) -> Iterator[Sandbox]:
    """A fresh moto account with the table and the topic (no subscribers: alerts are recorded
    by wrapping ``deps.alerter`` where a benchmark needs them)."""
    from moto import mock_aws

    with mock_aws():
        import boto3

        from chalicelib import wiring
        from chalicelib.bootstrap import bootstrap
        from chalicelib.dynamo import TABLE_SCHEMA
        from chalicelib.settings import Settings
        from tools.bench.meter import CallTimer, Meter

        plain = boto3.session.Session()
        raw = plain.client("dynamodb")
        created = bootstrap(raw, plain.client("sns"), TABLE, TOPIC, kms=plain.client("kms"))
        meter = Meter(raw, TABLE, TABLE_SCHEMA) if metered else None
        timer = CallTimer() if timed else None
        # The app builds its clients from botocore sessions of its own (chalicelib.aws_clients),
        # not boto3's default session, so the hooks go on every client wiring hands out.
        real_client = wiring.aws_client

        def hooked_client(service: str) -> Any:
            client = real_client(service)
            for hook in (meter, timer):
                if hook is not None:
                    hook.attach(client.meta.events)
            return client

        wiring.aws_client = hooked_client
        settings = Settings(
            table=TABLE,
            topic_arn=created["topic_arn"],
            due_shards=shards,
        )
        deps = wiring.build_deps(settings)
        wiring._deps = deps
        try:
            yield Sandbox(deps, raw, meter, timer)
        finally:
            wiring.aws_client = real_client
            wiring.reset()


def up_check(uuid: str, project: str, last_ping: datetime, **fields: Any) -> Any:
    """A check that has been pinged: what a healthy fleet is made of."""
    from chalicelib.domain import Check

    return Check(
        uuid=uuid,
        project=project,
        created=last_ping,
        name=f"job-{uuid[:8]}",
        status="up",
        n_pings=1,
        last_ping=last_ping,
        **fields,
    )
