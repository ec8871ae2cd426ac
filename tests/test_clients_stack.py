"""Both clients against the local stack (``python -m chalicelib.cli serve``) over real HTTP.

A wrapped job's start, progress and outcome must land in the check's ping list, in order,
with one run id; and the Go example must finish on time whatever the monitor does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fake_monitor import WAIT_SECONDS, refused_url, silent_monitor
from tests.golang import go, go_env, run_go
from tests.stack import ROOT, Stack, http, running_stack

CLIENT = ROOT / "clients" / "python"


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with running_stack() as running:
        yield running


def create_check(stack: Stack, name: str) -> dict[str, Any]:
    body = json.dumps({"name": name, "slug": name, "timeout": 3600}).encode()
    _, reply = http("POST", f"{stack.base}/api/v3/checks/", body, stack.keys["api_key"])
    return dict(json.loads(reply))


def pings(stack: Stack, check: dict[str, Any]) -> list[dict[str, Any]]:
    """The check's pings, oldest first."""
    _, reply = http(
        "GET", f"{stack.base}/api/v3/checks/{check['uuid']}/pings/", key=stack.keys["api_key"]
    )
    return list(reversed(json.loads(reply)["pings"]))


def test_vigil_run_start_progress_and_exit_land_with_one_rid(stack: Stack) -> None:
    check = create_check(stack, "wrapped-py")
    # The command under test runs until the check's ping list shows a progress ping.
    poll = (
        "import json, sys, time, urllib.request\n"
        f"url = '{stack.base}/api/v3/checks/{check['uuid']}/pings/'\n"
        f"key = '{stack.keys['api_key']}'\n"
        "request = urllib.request.Request(url, headers={'X-Api-Key': key})\n"
        f"deadline = time.monotonic() + {WAIT_SECONDS}\n"
        "while time.monotonic() < deadline:\n"
        "    kinds = [p['type'] for p in json.load(urllib.request.urlopen(request))['pings']]\n"
        "    if 'progress' in kinds:\n"
        "        print('saw progress'); sys.exit(0)\n"
        "    time.sleep(0.1)\n"
        "sys.exit(9)\n"
    )
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "vigil_client",
            "run",
            "--url",
            check["ping_url"],
            "--progress-every",
            "0.3",
            "--",
            sys.executable,
            "-c",
            poll,
        ],
        env={**os.environ, "PYTHONPATH": str(CLIENT)},
        capture_output=True,
        timeout=120,
    )
    assert (done.returncode, done.stdout) == (0, b"saw progress\n"), done.stderr
    logged = pings(stack, check)
    kinds = [p["type"] for p in logged]
    assert kinds[0] == "start" and kinds[-1] == "success" and "progress" in kinds
    assert set(kinds[1:-1]) == {"progress"}
    assert len({p["rid"] for p in logged}) == 1 and logged[0]["rid"]
    assert logged[-1]["duration"] is not None  # start and finish were paired by the rid


def test_go_client_wrap_and_run_land_with_one_rid(stack: Stack) -> None:
    go()
    done = run_go(
        "test",
        "-race",
        "-count=1",
        "-run",
        "TestLocalStack",
        "-v",
        ".",
        VIGIL_TEST_BASE=stack.base,
        VIGIL_TEST_API_KEY=stack.keys["api_key"],
        VIGIL_TEST_PING_KEY=stack.keys["ping_key"],
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "--- PASS: TestLocalStack" in done.stdout and "SKIP" not in done.stdout


@pytest.fixture(scope="module")
def daily_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    go()
    binary = tmp_path_factory.mktemp("go") / "daily-report"
    done = run_go("build", "-o", str(binary), "./examples/daily-report")
    assert done.returncode == 0, done.stderr
    return binary


def run_report(
    binary: Path, url: str, **env: str
) -> tuple[subprocess.CompletedProcess[str], float]:
    start = time.monotonic()
    done = subprocess.run(
        [str(binary)],
        env=go_env(VIGIL_PING_URL=url, **env),
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done, time.monotonic() - start


def test_daily_report_example_sends_start_progress_and_success(
    stack: Stack, daily_report: Path
) -> None:
    check = create_check(stack, "daily-report")
    done, _ = run_report(daily_report, check["ping_url"])
    assert done.returncode == 0, done.stderr
    logged = pings(stack, check)
    assert [p["type"] for p in logged] == ["start", "progress", "progress", "progress", "success"]
    assert len({p["rid"] for p in logged}) == 1


def test_daily_report_example_fails_with_exit_1_after_sending_fail(
    stack: Stack, daily_report: Path
) -> None:
    check = create_check(stack, "daily-report-fail")
    done, _ = run_report(daily_report, check["ping_url"], DEMO_FAIL="1")
    assert done.returncode == 1
    logged = pings(stack, check)
    assert [p["type"] for p in logged] == ["start", "progress", "progress", "fail"]
    _, body = http("GET", logged[-1]["body_url"], key=stack.keys["api_key"])
    assert body == b"report apac: warehouse query timed out"
    _, reply = http("GET", f"{stack.base}/api/v3/checks/{check['uuid']}", key=stack.keys["api_key"])
    assert json.loads(reply)["status"] == "down"


# The job's own work is 3 × 300 ms; the example lets the monitor add at most 3 s at the end.
REPORT_BOUND_SECONDS = 0.9 + 3.0 + 1.5


def test_daily_report_example_finishes_on_time_with_the_monitor_unreachable(
    daily_report: Path,
) -> None:
    done, took = run_report(daily_report, refused_url())
    assert done.returncode == 0 and "daily reports done" in done.stderr
    assert took < REPORT_BOUND_SECONDS
    done, took = run_report(daily_report, refused_url(), DEMO_FAIL="1")
    assert done.returncode == 1 and took < REPORT_BOUND_SECONDS


def test_daily_report_example_finishes_on_time_with_a_monitor_that_never_answers(
    daily_report: Path,
) -> None:
    with silent_monitor() as url:
        done, took = run_report(daily_report, url)
    assert done.returncode == 0, done.stderr
    assert "pings not sent" in done.stderr  # the flush gave up at its deadline, and said so
    assert took < REPORT_BOUND_SECONDS
