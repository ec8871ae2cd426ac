"""How big the REST API's replies are, plain and gzipped: the figures behind the API's
``minimum_compression_size`` (.chalice/config.json, README "Deploying").

    python -m tests.measure_compression [CHECKS]      # default 1000

Builds a project of CHECKS checks in an in-process moto (names, tags, simple and cron
schedules, each pinged, a few with a logged body) and asks the app, through Chalice's test
client, for what clients ask most: the check list, one check, its pings and flips, the badges,
the dashboard's files, a ping's reply and a logged body. Prints each body's size and its gzip
size (zlib level 6: API Gateway does not document its level, and 6 is gzip's default), and the
ratio. Nothing here is real AWS. Creating the checks takes most of the time (about 7 minutes
for 1,000 on a busy 2-core machine, most of it moto copying items); 100 takes seconds.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import random
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from chalicelib import dashboard
from tests.conftest import ROOT

TABLE = "vigil-measure"
TOPIC = "vigil-measure-alerts"
# A job's output tail, as `cmd 2>&1 | tail -c 10000 | curl --data-binary @-` sends it: the
# default body limit (VIGIL_PING_BODY_LIMIT) is 10,000 bytes.
LOG_LINE = "2026-11-30T03:00:{second:02d}Z backup: copied {n} objects, 0 errors\n"


@dataclass(frozen=True)
class Reply:
    what: str
    body: bytes

    @property
    def gzipped(self) -> int:
        return len(gzip.compress(self.body, compresslevel=6, mtime=0))


def main(argv: list[str]) -> int:
    checks = int(argv[0]) if argv else 1000
    logging.disable(logging.INFO)  # one flip line per first ping would drown the table
    with _app() as client:
        replies = measure(client, checks)
    print(f"{'reply':<52} {'bytes':>9} {'gzip -6':>9} {'ratio':>6}")
    for reply in replies:
        size = len(reply.body)
        ratio = f"{reply.gzipped / size:.2f}" if size else "-"
        print(f"{reply.what:<52} {size:>9,} {reply.gzipped:>9,} {ratio:>6}")
    return 0


@contextmanager
def _app() -> Iterator[Any]:
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1"
    )
    os.environ.pop("AWS_ENDPOINT_URL", None)
    from moto import mock_aws

    with mock_aws():
        import boto3
        from chalice.test import Client

        from chalicelib import wiring
        from chalicelib.bootstrap import bootstrap
        from chalicelib.settings import Settings

        created = bootstrap(boto3.client("dynamodb"), boto3.client("sns"), TABLE, TOPIC)
        os.environ.update(VIGIL_TABLE=TABLE, VIGIL_TOPIC_ARN=created["topic_arn"])
        wiring._deps = wiring.build_deps(Settings(table=TABLE, topic_arn=created["topic_arn"]))
        from app import app

        with Client(app, project_dir=str(ROOT)) as client:
            yield client


def measure(client: Any, checks: int) -> list[Reply]:
    from chalicelib.management import create_project
    from chalicelib.wiring import deps

    keys = create_project(deps(), "measure")
    api = {"X-Api-Key": keys.api_key, "Content-Type": "application/json"}
    made = [_create(client, api, number) for number in range(checks)]
    first = made[0]
    log = "".join(LOG_LINE.format(second=n % 60, n=n * 37) for n in range(200))[:10_000]
    for check in made:
        body = log if check is first else ""
        client.http.post(f"/ping/{check['uuid']}", body=body.encode())
    small = {"X-Api-Key": keys.api_key}
    badge = client.http.get("/api/v3/badges/", headers=small).json_body["badges"]["*"]
    binary = random.Random(0).randbytes(1024)  # compresses as badly as real binary
    client.http.post(f"/ping/{first['uuid']}", body=binary)
    octets = {**small, "Accept": "application/octet-stream"}
    return [
        _get(client, f"checks list, {checks:,} checks", "/api/v3/checks/", small),
        _get(client, "checks list, 10 checks (tag 'team-0')", "/api/v3/checks/?tag=team-0", small),
        _get(client, "one check", f"/api/v3/checks/{first['uuid']}", small),
        _get(client, "its pings", f"/api/v3/checks/{first['uuid']}/pings/", small),
        _get(client, "its flips", f"/api/v3/checks/{first['uuid']}/flips/", small),
        _get(client, "badges (project's URLs)", "/api/v3/badges/", small),
        _get(client, "badge SVG (project, all checks)", _path(badge["svg"]), {}),
        _get(client, "badge JSON", _path(badge["json"]), {}),
        _get(client, "error (wrong key)", "/api/v3/checks/", {"X-Api-Key": "nope"}),
        _get(client, "logged ping body, 10,000 B of log text", _body_path(first, 1), small),
        _get(client, "logged ping body, 1,024 B binary", _body_path(first, 2), octets),
        Reply("ping reply (REST API)", client.http.get(f"/ping/{first['uuid']}").body),
        *_dashboard(client),
    ]


def _create(client: Any, headers: dict[str, str], number: int) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "name": f"nightly-job-{number:04d}",
        "tags": f"prod team-{number // 10} {('db', 'web', 'batch')[number % 3]}",
        "grace": 300,
        "desc": "Runs from cron on the batch hosts" if number % 4 == 0 else "",
    }
    if number % 2:
        spec.update(schedule=f"{number % 60} {number % 24} * * *", tz="Europe/Riga")
    else:
        spec.update(timeout=86_400)
    reply = client.http.post("/api/v3/checks/", headers=headers, body=json.dumps(spec))
    assert reply.status_code == 201, reply.body
    return dict(reply.json_body)


def _get(client: Any, what: str, path: str, headers: dict[str, str]) -> Reply:
    return Reply(what, client.http.get(path, headers=headers).body)


def _path(url: str) -> str:
    return "/" + url.split("://", 1)[1].split("/", 1)[1]


def _body_path(check: dict[str, Any], number: int) -> str:
    return f"/api/v3/checks/{check['uuid']}/pings/{number}/body"


def _dashboard(client: Any) -> list[Reply]:
    replies = [Reply("dashboard index.html", client.http.get("/").body)]
    for name in sorted(dashboard.site().files):
        replies.append(Reply(f"dashboard {name}", client.http.get(f"/ui/{name}").body))
    total = b"".join(reply.body for reply in replies)
    # Each file is compressed on its own, so the total's gzip is the sum of theirs.
    return [*replies, _Sum("dashboard, all files", total, sum(r.gzipped for r in replies))]


@dataclass(frozen=True)
class _Sum(Reply):
    parts_gzipped: int

    @property
    def gzipped(self) -> int:
        return self.parts_gzipped


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
