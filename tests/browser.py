"""Helpers for the dashboard's browser tests and ``make screenshots``.

Chromium is Debian's (``apt-get install chromium``), driven by Playwright from PyPI; Playwright's
own browser download is not used. ``Seeder`` writes history into a running local stack through
the service layer with explicit past times, so a page can show weeks of runs without waiting.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import uuid as uuidlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from chalicelib import management, service, sweeps
from chalicelib.deps import Deps
from chalicelib.domain import Ping
from chalicelib.dynamo import DynamoStore
from chalicelib.settings import Settings
from chalicelib.sns import SnsAlerter
from tests.stack import Stack, http

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
INSTALL_HINT = "apt-get install chromium"
# CI sets this: a missing Chromium (or Playwright) is then a failure, never a skip.
REQUIRE_FLAG = "VIGIL_REQUIRE_BROWSER"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 860}


def chromium_path() -> str | None:
    configured = os.environ.get("VIGIL_CHROMIUM")
    if configured:
        return configured if Path(configured).exists() else None
    for candidate in CHROMIUM_CANDIDATES:
        if Path(candidate).exists():
            return candidate
    return shutil.which("chromium")


def missing_browser() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright is not installed (pip install -r requirements-dev.txt)"
    if chromium_path() is None:
        return f"no Chromium found: {INSTALL_HINT}"
    return None


@contextmanager
def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    path = chromium_path()
    assert path is not None, INSTALL_HINT
    with sync_playwright() as playwright:
        # CI runs as root, where Chromium's sandbox refuses to start.
        browser = playwright.chromium.launch(executable_path=path, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


# --- seeding a running stack ---------------------------------------------------------------


def stack_deps(stack: Stack) -> Deps:
    """The service layer wired to the stack's embedded AWS (same table and topic)."""
    import boto3

    endpoint = f"http://127.0.0.1:{stack.moto_port}"

    def client(name: str) -> Any:
        return boto3.client(
            name,
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )

    topic = client("sns").list_topics()["Topics"][0]["TopicArn"]
    settings = Settings(table="vigil", topic_arn=topic)
    return Deps(
        settings=settings,
        store=DynamoStore(
            lambda: client("dynamodb"), settings.table, due_shards=settings.due_shards
        ),
        alerter=SnsAlerter(lambda: client("sns"), topic),
    )


@dataclass
class Seeder:
    stack: Stack
    now: datetime

    def __post_init__(self) -> None:
        self.deps = stack_deps(self.stack)

    def project(self, name: str) -> dict[str, str]:
        """A fresh project, so a test sees only its own checks; later calls use its key."""
        self.keys = vars(management.create_project(self.deps, name))
        return self.keys

    @property
    def key(self) -> str:
        keys: dict[str, str] = getattr(self, "keys", self.stack.keys)
        return keys["api_key"]

    def create(self, spec: dict[str, Any]) -> dict[str, Any]:
        body = json.dumps(spec).encode()
        status, reply = http("POST", f"{self.stack.base}/api/v3/checks/", body, self.key)
        assert status == 201, reply
        return dict(json.loads(reply))

    def pause(self, check: dict[str, Any]) -> None:
        http("POST", f"{self.stack.base}/api/v3/checks/{check['uuid']}/pause", b"", self.key)

    def ping(
        self,
        check: dict[str, Any],
        action: str,
        ago: timedelta,
        *,
        body: bytes = b"",
        rid: str | None = None,
        exitstatus: int | None = None,
        ua: str = "curl/8.5.0",
    ) -> None:
        ping = Ping(
            action=action,  # type: ignore[arg-type]
            rid=rid,
            exitstatus=exitstatus,
            method="POST" if body else "GET",
            ua=ua,
            remote_addr="10.0.4.17",
            scheme="https",
            body=body,
        )
        service.record_ping(self.deps, check["uuid"], ping, self.now - ago)

    def run(
        self,
        check: dict[str, Any],
        ended_ago: timedelta,
        took: timedelta,
        *,
        failed: bool = False,
        body: bytes = b"",
    ) -> None:
        """A /start, then a success (or fail) ``took`` later, paired by a run id."""
        rid = str(uuidlib.uuid4())
        self.ping(check, "start", ended_ago + took, rid=rid)
        self.ping(
            check,
            "fail" if failed else "success",
            ended_ago,
            rid=rid,
            body=body,
            exitstatus=1 if failed else 0,
        )

    def sweep(self) -> None:
        sweeps.sweep(self.deps, self.now)


DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)
BACKUP_FAILURE = (
    b'pg_dump: error: connection to server at "db-primary" (10.0.3.5), port 5432 failed:\n'
    b"FATAL:  remaining connection slots are reserved for superuser connections\n"
    b"backup.sh: <aborting> after 3 attempts\n"
)


def seed_demo(seeder: Seeder) -> dict[str, dict[str, Any]]:
    """A project worth looking at: every status, weeks of runs, one outage, a failure body."""
    s = seeder
    jitter = random.Random(7).uniform  # the same pictures every time, but not a sawtooth
    checks = {
        "backup": s.create(
            {
                "name": "nightly-backup",
                "slug": "nightly-backup",
                "tags": "prod db",
                "desc": "pg_dump of the orders database to S3, then a restore test.",
                "schedule": "30 2 * * *",
                "tz": "Europe/Riga",
                "grace": 1800,
                "max_duration": 5400,
            }
        ),
        "invoices": s.create(
            {
                "name": "invoice-sync",
                "slug": "invoice-sync",
                "tags": "prod billing",
                "timeout": 3600,
                "grace": 600,
            }
        ),
        "reindex": s.create(
            {
                "name": "search-reindex",
                "slug": "search-reindex",
                "tags": "prod search",
                "timeout": 900,
                "grace": 300,
            }
        ),
        "reports": s.create(
            {
                "name": "weekly-report-mailer",
                "slug": "report-mailer",
                "tags": "reports",
                "timeout": 3600,
                "grace": 3600,
            }
        ),
        "etl": s.create(
            {
                "name": "orders-etl",
                "slug": "orders-etl",
                "tags": "prod etl",
                "timeout": 21600,
                "grace": 1800,
                "max_duration": 7200,
            }
        ),
        "certs": s.create({"name": "cert-renewal", "tags": "ops", "timeout": 86400}),
        "staging": s.create({"name": "staging-smoke", "tags": "staging", "timeout": 600}),
    }
    # nightly-backup: 30 nights around 02:30 Riga time (00:30 UTC), 18-31 minutes each,
    # one failure twelve days ago that was down until the next night's run.
    last_night = s.now.replace(hour=0, minute=30, second=0, microsecond=0)
    if last_night > s.now:
        last_night -= DAY
    for night in range(29, -1, -1):
        took = timedelta(minutes=22 + night / 6 + jitter(-4, 4))
        ended = s.now - (last_night - night * DAY) - took
        failed = night == 12
        s.run(checks["backup"], ended, took, failed=failed, body=BACKUP_FAILURE if failed else b"")
    # invoice-sync: hourly for two days, 40-95 s each.
    for hour in range(47, -1, -1):
        s.run(checks["invoices"], hour * HOUR + 3 * MINUTE, timedelta(seconds=jitter(45, 75)))
    # search-reindex: every 15 minutes until it stopped five hours ago (down since).
    for slot in range(40, 19, -1):
        took = timedelta(seconds=260 + slot * 4 + jitter(-20, 20))
        s.run(checks["reindex"], slot * 15 * MINUTE, took)
    s.ping(checks["reindex"], "log", 5 * HOUR - 2 * MINUTE, body=b"reindex: shard 3 of 8 ...")
    # weekly-report-mailer: last success 70 minutes ago, so 10 minutes into its grace (late).
    for hours in (73, 49, 25, 1):
        s.run(checks["reports"], hours * HOUR + 10 * MINUTE, timedelta(seconds=jitter(10, 16)))
    # orders-etl: finished runs every 6 hours, and one running now.
    for runs_ago in range(12, 0, -1):
        s.run(checks["etl"], runs_ago * 6 * HOUR, timedelta(minutes=jitter(22, 30)))
    s.ping(checks["etl"], "start", 14 * MINUTE, rid=str(uuidlib.uuid4()))
    # cert-renewal: daily, then paused for maintenance.
    for days in range(6, 0, -1):
        s.run(checks["certs"], days * DAY, timedelta(seconds=9))
    s.pause(checks["certs"])
    s.sweep()  # search-reindex goes down, dated at its deadline plus grace
    return checks
