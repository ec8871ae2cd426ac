"""Figure 5: a cold-start proxy, and the size of the deployment zip.

Fresh interpreters (``tools.bench.probe``) time ``import app`` and the first request through
the Lambda handler, against an ``import boto3`` baseline measured the same way in the same run.
The first request pays for what the app defers (botocore, its clients, croniter when needed) and
the round trips to a local moto server, standing in for DynamoDB (a cold uuid ping: GetItem,
UpdateItem).

Before and after, in the same run: "before" is a process that is not in Lambda (the DynamoDB
client is built by the first request); "after" has ``AWS_LAMBDA_RUNTIME_API`` set, as the
Lambda runtime sets it, so app.py's init hook builds the client while importing. The zip's
bytecode is measured apart: ``import app`` from ``make package``'s zip unpacked, with ``-B``
(Lambda cannot write ``__pycache__``), once as shipped and once with its .pyc files removed.

The ping function, in the same run: the pings' function URL runs its own Lambda function, whose
Handler (``tools.template.PING_HANDLER``) is imported instead of app.py; the probe imports that
entry and sends a function URL request (payload 2.0) to it, with the init hook, as in Lambda.

The floor, in the same run: a process that imports botocore, builds the DynamoDB client as the
app does and sends a cold ping's two calls, with no app code at all; what is left of the target
once it is paid is all Vigil's own code may cost.

``python -m tools.bench.coldstart --before DIR [--runs N]`` compares another checkout (e.g.
``git archive <commit> | tar -x -C DIR``) with this one, interleaved in one run: import app plus
the first request with the init hook, and the same for each checkout's ping function entry (a
checkout without ``PING_HANDLER`` ran ``app.ping_url``), against import boto3.
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tools.bench.report import captured_output, heading, ms, table
from tools.bench.sandbox import TABLE, TOPIC, up_check

ROOT = Path(__file__).resolve().parents[2]
DIST_ZIP = ROOT / "dist" / "deployment.zip"
PROBE_SCRIPT = Path(__file__).resolve().with_name("probe.py")
CHECK_UUID = "7d4c2b1a-9e8f-4a6b-8c5d-3e2f1a0b9c8d"
PACKAGE_TIMEOUT_SECONDS = 600
LAMBDA_RUNTIME_VARIABLE = "AWS_LAMBDA_RUNTIME_API"  # what chalicelib.wiring.init_lambda checks
# The ping function's Handler, as a checkout's tools/template.py sets it; before it did, chalice's.
PING_HANDLER_LINE = re.compile(r'^PING_HANDLER = "([\w.]+)"$', re.MULTILINE)
CHALICE_PING_HANDLER = "app.ping_url"


@dataclass
class Zip:
    source: str
    size: int = 0
    files: int = 0
    path: str = ""  # kept only while the run needs it


@dataclass
class ColdStart:
    runs: int
    import_boto3: float
    import_app: float
    first_request: float
    warm_request: float
    zip: Zip
    import_app_init_hook: float = 0.0
    first_request_init_hook: float = 0.0
    zip_import_bytecode: float = 0.0
    zip_import_source: float = 0.0
    floor_client: float = 0.0
    floor_calls: float = 0.0
    ping_handler: str = ""
    import_ping: float = 0.0
    first_request_ping: float = 0.0

    @property
    def cold(self) -> float:
        """What a cold start adds to the first ping: Lambda init plus the first request."""
        return self.import_app + self.first_request

    @property
    def cold_init_hook(self) -> float:
        return self.import_app_init_hook + self.first_request_init_hook

    @property
    def cold_ping(self) -> float:
        """The ping function's cold start: import its entry (init hook on) plus a first ping."""
        return self.import_ping + self.first_request_ping

    @property
    def floor(self) -> float:
        return self.floor_client + self.floor_calls


def run(quick: bool) -> ColdStart:
    runs = 2 if quick else 7
    _compile(ROOT)  # what was edited since the last compile would otherwise compile every run
    with _moto_server() as endpoint:
        event, topic_arn = _prepare(endpoint)
        env = {
            **os.environ,
            "AWS_ENDPOINT_URL": endpoint,
            "VIGIL_TABLE": TABLE,
            "VIGIL_TOPIC_ARN": topic_arn,
        }
        lambda_env = {**env, LAMBDA_RUNTIME_VARIABLE: "127.0.0.1:9001"}
        ping_handler = _ping_handler(ROOT)
        url = ["url", ping_handler, json.dumps(url_event(f"/ping/{CHECK_UUID}"))]
        apps, hooked, floors, pinged = [], [], [], []
        for _ in range(runs):  # interleaved, so a busy moment hits both alike
            apps.append(_probe(["app", json.dumps(event)], env))
            hooked.append(_probe(["app", json.dumps(event)], lambda_env))
            pinged.append(_probe(url, lambda_env))
            floors.append(_probe(["floor", TABLE], env))
    baselines = [_probe(["boto3"], dict(os.environ)) for _ in range(runs)]
    zip_, bytecode, source = _zip(quick, runs)
    return ColdStart(
        runs,
        import_boto3=statistics.median(b["import_boto3"] for b in baselines),
        import_app=statistics.median(a["import_app"] for a in apps),
        first_request=statistics.median(a["first_request"] for a in apps),
        warm_request=statistics.median(a["warm_request"] for a in apps),
        zip=zip_,
        import_app_init_hook=statistics.median(a["import_app"] for a in hooked),
        first_request_init_hook=statistics.median(a["first_request"] for a in hooked),
        zip_import_bytecode=bytecode,
        zip_import_source=source,
        floor_client=statistics.median(f["floor_client"] for f in floors),
        floor_calls=statistics.median(f["floor_calls"] for f in floors),
        ping_handler=ping_handler,
        import_ping=statistics.median(p["import_app"] for p in pinged),
        first_request_ping=statistics.median(p["first_request"] for p in pinged),
    )


def _ping_handler(root: Path) -> str:
    """The Handler a checkout's template gives the ping function."""
    template = root / "tools" / "template.py"
    found = PING_HANDLER_LINE.search(template.read_text()) if template.exists() else None
    return found.group(1) if found else CHALICE_PING_HANDLER


def url_event(path: str) -> dict[str, Any]:
    """A function URL GET in payload format 2.0, as Lambda delivers it."""
    host = "abcdefghij.lambda-url.us-east-1.on.aws"
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"host": host, "user-agent": "curl/8.5.0", "x-forwarded-proto": "https"},
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "abcdefghij",
            "domainName": host,
            "domainPrefix": "abcdefghij",
            "http": {
                "method": "GET",
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "curl/8.5.0",
            },
            "requestId": "c3a8e5b0-0000-4000-8000-000000000000",
            "routeKey": "$default",
            "stage": "$default",
            "timeEpoch": 1_788_000_000_000,
        },
        "isBase64Encoded": False,
    }


def _zip_imports(zip_: Zip, runs: int) -> tuple[float, float]:
    """Median ``import app`` from the unpacked zip: as shipped, and without its .pyc files."""
    if not zip_.path:
        return 0.0, 0.0
    with tempfile.TemporaryDirectory() as shipped, tempfile.TemporaryDirectory() as bare:
        for target in (shipped, bare):
            with zipfile.ZipFile(zip_.path) as archive:
                archive.extractall(target)
        for pyc in Path(bare).rglob("*.pyc"):
            pyc.unlink()
        env = {**os.environ, "PYTHONPATH": str(ROOT)}  # for tools.bench.probe; app from cwd
        timings: dict[str, list[float]] = {shipped: [], bare: []}
        for _ in range(runs):
            for target in (shipped, bare):
                done = _probe(["import"], env, cwd=Path(target), flags=["-B"])
                timings[target].append(done["import_app"])
    return statistics.median(timings[shipped]), statistics.median(timings[bare])


@contextmanager
def _moto_server() -> Iterator[str]:
    """A moto server on a free local port, for interpreters that cannot share our mock."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request on stderr
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def _prepare(endpoint: str) -> tuple[dict[str, Any], str]:
    """The table, the topic and one check on the server; the event of a ping to that check."""
    import boto3

    from chalicelib.bootstrap import bootstrap
    from chalicelib.items import check_to_item
    from tools.bench.handler import Handler

    session = boto3.session.Session()
    ddb = session.client("dynamodb", endpoint_url=endpoint)
    created = bootstrap(
        ddb,
        session.client("sns", endpoint_url=endpoint),
        TABLE,
        TOPIC,
        kms=session.client("kms", endpoint_url=endpoint),
    )
    check = up_check(CHECK_UUID, "probe", datetime(2026, 11, 2, tzinfo=UTC), timeout=3600)
    ddb.put_item(TableName=TABLE, Item=check_to_item(check, 4))
    with captured_output():
        return Handler().event("GET", f"/ping/{CHECK_UUID}"), created["topic_arn"]


def _probe(
    args: list[str],
    env: dict[str, str],
    cwd: Path = ROOT,
    flags: list[str] | None = None,
    by_path: bool = False,
) -> dict[str, float]:
    """One fresh interpreter. ``by_path``: this checkout's probe script, whatever ``cwd`` holds
    (the app comes from ``env``'s PYTHONPATH), so two checkouts are timed by the same probe."""
    probe = [str(PROBE_SCRIPT)] if by_path else ["-m", "tools.bench.probe"]
    done = subprocess.run(
        [sys.executable, *(flags or []), *probe, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"probe {args[0]} failed: {done.stderr[-2000:]}")
    timings: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return timings


def _zip(quick: bool, runs: int) -> tuple[Zip, float, float]:
    """``make package``'s zip if it exists; else (full mode) build one with ``tools.package``.

    With the zip: the median ``import app`` from it with and without its bytecode."""
    if DIST_ZIP.exists():
        found = _measure_zip(DIST_ZIP, "dist/deployment.zip (make package)")
        return (found, *_zip_imports(found, runs))
    if quick:
        return Zip("not measured in quick mode (run make package, or make bench)"), 0.0, 0.0
    with tempfile.TemporaryDirectory() as out:
        done = subprocess.run(
            [sys.executable, "-m", "tools.package", "--out", out, "--no-lint"],
            cwd=ROOT,
            env={**os.environ, "AWS_DEFAULT_REGION": "us-east-1"},
            capture_output=True,
            text=True,
            timeout=PACKAGE_TIMEOUT_SECONDS,
            check=False,
        )
        if done.returncode != 0:
            return Zip(f"tools.package failed: {done.stderr.strip()[-300:]}"), 0.0, 0.0
        built = _measure_zip(Path(out) / "deployment.zip", "python -m tools.package (make package)")
        return (built, *_zip_imports(built, runs))


def _measure_zip(path: Path, source: str) -> Zip:
    with zipfile.ZipFile(path) as archive:
        files = len([info for info in archive.infolist() if not info.is_dir()])
    return Zip(source, path.stat().st_size, files, str(path))


def render(result: ColdStart) -> str:
    zip_line = (
        f"Deployment zip: {result.zip.size:,} bytes ({result.zip.size / 1_048_576:.2f} MiB),"
        f" {result.zip.files} files, from {result.zip.source}."
        if result.zip.size
        else f"Deployment zip: {result.zip.source}."
    )
    return "\n".join(
        [
            heading(5, "Cold start proxy (fresh interpreters, this machine)"),
            f"Median of {result.runs} runs each.",
            table(
                ["measured", "median"],
                [
                    ["import boto3 (baseline)", ms(result.import_boto3)],
                    ["import app (Lambda init)", ms(result.import_app)],
                    ["first request (botocore, client, calls to moto)", ms(result.first_request)],
                    ["import app + first request", ms(result.cold)],
                    ["second request (warm)", ms(result.warm_request)],
                    ["init hook: import app (+ botocore, client)", ms(result.import_app_init_hook)],
                    ["init hook: first request", ms(result.first_request_init_hook)],
                    ["init hook: import app + first request", ms(result.cold_init_hook)],
                    [f"ping function: import {result.ping_handler}", ms(result.import_ping)],
                    ["ping function: first request (URL)", ms(result.first_request_ping)],
                    ["ping function: import + first request", ms(result.cold_ping)],
                    ["floor: botocore + DynamoDB client, no app", ms(result.floor_client)],
                    ["floor: a cold ping's GetItem + UpdateItem", ms(result.floor_calls)],
                    ["floor: total", ms(result.floor)],
                ],
            ),
            f"import app + first request = {result.cold / result.import_boto3:.2f} x import boto3"
            " without the init hook (client built by the first request), "
            f"{result.cold_init_hook / result.import_boto3:.2f} x with it (target <= 1.5).",
            f"The ping function (function URL pings; init hook on, as in Lambda):"
            f" {result.cold_ping / result.import_boto3:.2f} x import boto3 (target <= 1.5).",
            f"The floor, without any app code, is {result.floor / result.import_boto3:.2f} x"
            " import boto3.",
            _bytecode_line(result),
            zip_line,
        ]
    )


def compare(before: Path, runs: int) -> str:
    """Import app + first request (init hook) of ``before`` and of this checkout, interleaved."""
    roots = {"before": before.resolve(), "after": ROOT}
    for root in roots.values():  # both from bytecode, or a tree without it compiles each run
        _compile(root)
    handlers = {name: _ping_handler(root) for name, root in roots.items()}
    timings: dict[str, list[dict[str, float]]] = {name: [] for name in roots}
    pinged: dict[str, list[dict[str, float]]] = {name: [] for name in roots}
    baselines = []
    with _moto_server() as endpoint:
        event, topic_arn = _prepare(endpoint)
        url = json.dumps(url_event(f"/ping/{CHECK_UUID}"))
        for _ in range(runs):
            baselines.append(_probe(["boto3"], dict(os.environ))["import_boto3"])
            for name, root in roots.items():
                env = {
                    **os.environ,
                    "AWS_ENDPOINT_URL": endpoint,
                    "VIGIL_TABLE": TABLE,
                    "VIGIL_TOPIC_ARN": topic_arn,
                    LAMBDA_RUNTIME_VARIABLE: "127.0.0.1:9001",
                    "PYTHONPATH": str(root),
                }
                app = ["app", json.dumps(event)]
                timings[name].append(_probe(app, env, cwd=root, by_path=True))
                pinged[name].append(
                    _probe(["url", handlers[name], url], env, cwd=root, by_path=True)
                )
    boto3 = statistics.median(baselines)
    rows = [["import boto3 (baseline)", "", ms(boto3), "", "", ""]]
    for name in roots:
        for entry, runs_ in (("app (REST API)", timings[name]), (handlers[name], pinged[name])):
            imported = statistics.median(t["import_app"] for t in runs_)
            first = statistics.median(t["first_request"] for t in runs_)
            cold = imported + first
            rows.append([name, entry, ms(imported), ms(first), ms(cold), f"{cold / boto3:.2f} x"])
    header = ["init hook", "entry", "import", "first request", "sum", "/ import boto3"]
    return f"Median of {runs} interleaved runs each.\n" + table(header, rows)


def _compile(root: Path) -> None:
    """Write the app's bytecode (PYTHONDONTWRITEBYTECODE or not), as ``make package`` does."""
    import compileall

    compileall.compile_file(str(root / "app.py"), quiet=1)
    for package in ("chalicelib", "tools"):
        compileall.compile_dir(str(root / package), quiet=1)


def _bytecode_line(result: ColdStart) -> str:
    if not result.zip_import_source:
        return "Bytecode: not measured (no zip)."
    saved = 1 - result.zip_import_bytecode / result.zip_import_source
    return (
        f"import app from the unpacked zip, python -B: {ms(result.zip_import_bytecode)} with its"
        f" .pyc, {ms(result.zip_import_source)} from sources only ({saved:.0%} less)."
    )


if __name__ == "__main__":
    import argparse

    from tools.bench.sandbox import isolate_env

    parser = argparse.ArgumentParser(prog="python -m tools.bench.coldstart")
    parser.add_argument("--before", type=Path, required=True, help="another checkout's root")
    parser.add_argument("--runs", type=int, default=7)
    arguments = parser.parse_args()
    isolate_env()  # before anything can create a client
    with captured_output():
        compared = compare(arguments.before, arguments.runs)
    print(compared)
