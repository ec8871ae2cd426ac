"""``vigil run`` (clients/python) as a user runs it: real subprocesses, a fake monitor.

The wrapper is run as ``python -m vigil_client`` from the source tree, so these tests need no
install; ``test_the_package_installs_with_its_console_script`` covers the installed ``vigil``.
"""

from __future__ import annotations

import importlib.util
import os
import select
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fake_monitor import (
    WAIT_SECONDS,
    elapsed,
    fake_monitor,
    refused_url,
    silent_monitor,
)

ROOT = Path(__file__).resolve().parent.parent
CLIENT = ROOT / "clients" / "python"
ENV = {
    **{k: v for k, v in os.environ.items() if k != "VIGIL_PING_URL"},
    "PYTHONPATH": str(CLIENT),
}


def vigil(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "vigil_client", *args],
        env=env or ENV,
        capture_output=True,
        timeout=120,
    )


def start_vigil(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "vigil_client", *args],
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def first_line(process: subprocess.Popen[bytes]) -> bytes:
    """The command's first output line, or a failure after WAIT_SECONDS (never a hang)."""
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], WAIT_SECONDS)
    assert ready, "the command printed nothing"
    return process.stdout.readline()


@pytest.mark.parametrize("status", [0, 3, 255])
def test_exit_status_is_preserved_and_reported_with_one_rid(status: int) -> None:
    with fake_monitor() as monitor:
        done = vigil("run", "--url", monitor.url, "--", "sh", "-c", f"exit {status}")
    assert done.returncode == status
    start, end = monitor.hits
    assert (start.action, end.action) == ("start", str(status))
    assert start.rid == end.rid and len(start.rid) == 36
    assert start.method == end.method == "POST"


def test_output_passes_through_unchanged_and_its_tail_is_reported() -> None:
    script = "printf 'out-1\\n'; printf 'err-1\\n' >&2; printf 'out-2\\377\\n'; printf 'err-2' >&2"
    with fake_monitor() as monitor:
        done = vigil("run", "--url", monitor.url, "--tail", "12", "--", "sh", "-c", script)
    assert done.stdout == b"out-1\nout-2\xff\n"
    assert done.stderr == b"err-1\nerr-2"
    tail = monitor.hits[-1].body
    assert len(tail) == 12 and tail.endswith((b"err-2", b"\xff\n"))


def test_progress_pings_while_a_long_command_runs() -> None:
    with fake_monitor() as monitor:
        flag = Path(f"/tmp/vigil-progress-{os.getpid()}")
        flag.unlink(missing_ok=True)
        # The command under test runs until the test has seen two progress pings.
        waits = f"while [ ! -e {flag} ]; do sleep 0.05; done"
        process = start_vigil(
            "run",
            "--url",
            monitor.url,
            "--progress-every",
            "0.2",
            "--",
            "timeout",
            str(WAIT_SECONDS),
            "sh",
            "-c",
            waits,
        )
        try:
            monitor.wait_for(lambda hits: sum(h.action == "progress" for h in hits) >= 2)
        finally:
            flag.touch()
        assert process.wait(timeout=WAIT_SECONDS) == 0
        flag.unlink()
    actions = [h.action for h in monitor.hits]
    assert actions[0] == "start" and actions[-1] == "0"
    assert set(actions[1:-1]) == {"progress"} and len(actions) >= 4
    assert monitor.hits[1].body.startswith(b"running for ")
    assert len({h.rid for h in monitor.hits}) == 1


def test_progress_is_off_by_default() -> None:
    with fake_monitor() as monitor:
        vigil("run", "--url", monitor.url, "--", "sh", "-c", "exit 0")
    assert [h.action for h in monitor.hits] == ["start", "0"]


def test_sigterm_is_forwarded_and_the_commands_own_exit_is_kept() -> None:
    trap = "trap 'echo got-term; exit 7' TERM; echo ready; while :; do sleep 0.05; done"
    with fake_monitor() as monitor:
        process = start_vigil("run", "--url", monitor.url, "--", "sh", "-c", trap)
        assert first_line(process) == b"ready\n"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=WAIT_SECONDS) == 7
        assert process.stdout is not None
        assert process.stdout.read() == b"got-term\n"
    assert monitor.hits[-1].action == "7"


def test_a_command_killed_by_a_signal_exits_128_plus_it_and_reports_failure() -> None:
    with fake_monitor() as monitor:
        process = start_vigil(
            "run", "--url", monitor.url, "--", "sh", "-c", "echo ready; exec sleep 60"
        )
        assert first_line(process) == b"ready\n"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=WAIT_SECONDS) == 128 + signal.SIGTERM
    assert monitor.hits[-1].action == str(128 + signal.SIGTERM)


def test_a_missing_command_is_127_and_reported_with_the_reason() -> None:
    with fake_monitor() as monitor:
        done = vigil("run", "--url", monitor.url, "--", "/nonexistent/job")
    assert done.returncode == 127
    assert b"/nonexistent/job" in done.stderr
    assert monitor.hits[-1].action == "127" and b"/nonexistent/job" in monitor.hits[-1].body


def test_without_a_url_the_command_still_runs_and_the_wrapper_says_so() -> None:
    done = vigil("run", "--", "sh", "-c", "echo hi; exit 3")
    assert (done.returncode, done.stdout) == (3, b"hi\n")
    assert b"vigil: no ping URL" in done.stderr


def test_url_comes_from_the_environment_and_a_bad_one_is_loud_but_harmless() -> None:
    with fake_monitor() as monitor:
        done = vigil("run", "--", "true", env={**ENV, "VIGIL_PING_URL": monitor.url})
    assert done.returncode == 0 and [h.action for h in monitor.hits] == ["start", "0"]
    done = vigil("run", "--url", "http://h/ping/x/Upper", "--", "sh", "-c", "exit 4")
    assert done.returncode == 4 and b"must end in /<uuid> or /<ping_key>/<slug>" in done.stderr


def test_404_is_not_retried_and_5xx_is() -> None:
    with fake_monitor(lambda n: 404) as monitor:
        vigil("run", "--url", monitor.url, "--retries", "3", "--", "true")
    assert [h.action for h in monitor.hits] == ["start", "0"]
    with fake_monitor(lambda n: 503 if n in (1, 3) else 200) as monitor:
        vigil("run", "--url", monitor.url, "--retries", "1", "--", "true")
    assert [h.action for h in monitor.hits] == ["start", "start", "0", "0"]


# Interpreter start-up on a busy 2-core machine varies by a second or more between runs (more
# under xdist with a browser running). The bounds still tell a bounded wrapper from one that waits
# out its default 30 s budget or hangs.
SLACK_SECONDS = 6.0


def _baseline() -> float:
    return elapsed(lambda: vigil("run", "--", "sh", "-c", "exit 3"))


def test_an_unreachable_monitor_adds_only_the_bounded_time() -> None:
    # A refused connection fails at once, so with the defaults (--timeout 5 --retries 2) each
    # of start and end costs only the two backoff pauses: at most 0.5 s + 1 s.
    url = refused_url()
    took = elapsed(lambda: assert_exit(vigil("run", "--url", url, "--", "sh", "-c", "exit 3"), 3))
    assert took - _baseline() < 2 * 1.5 + SLACK_SECONDS


def test_a_monitor_that_never_answers_adds_only_the_bounded_time() -> None:
    with silent_monitor() as url:
        took = elapsed(
            lambda: assert_exit(
                vigil(
                    "run",
                    "--url",
                    url,
                    "--timeout",
                    "0.5",
                    "--retries",
                    "1",
                    "--",
                    "sh",
                    "-c",
                    "exit 3",
                ),
                3,
            )
        )
    # Each phase spends its whole budget (two 0.5 s attempts, backoff included) and no more.
    assert took >= 1.9
    assert took - _baseline() < 2 * 1.0 + SLACK_SECONDS


def assert_exit(done: subprocess.CompletedProcess[bytes], status: int) -> None:
    assert done.returncode == status, done.stderr


def test_the_package_installs_with_its_console_script(tmp_path: Path) -> None:
    source = tmp_path / "src"
    shutil.copytree(CLIENT, source, ignore=shutil.ignore_patterns("build", "*.egg-info"))
    target = tmp_path / "site"
    isolation = [] if importlib.util.find_spec("setuptools") is None else ["--no-build-isolation"]
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            *isolation,
            "--target",
            str(target),
            str(source),
        ],
        check=True,
        timeout=300,
    )
    with fake_monitor() as monitor:
        done = subprocess.run(
            [
                str(target / "bin" / "vigil"),
                "run",
                "--url",
                monitor.url,
                "--",
                "sh",
                "-c",
                "echo hi; exit 3",
            ],
            env={**ENV, "PYTHONPATH": str(target)},
            capture_output=True,
            timeout=120,
        )
    assert (done.returncode, done.stdout) == (3, b"hi\n")
    assert [h.action for h in monitor.hits] == ["start", "3"] and monitor.hits[1].body == b"hi\n"


# --- in-process: the context manager and the decorator ----------------------------------


def test_context_manager_reports_success_failure_and_exit_status() -> None:
    sys.path.insert(0, str(CLIENT))
    from vigil_client import monitor

    with fake_monitor() as fake:
        with monitor(fake.url) as run:
            run.progress("half way")
            run.log("note")  # skipped if progress is still in flight, never blocks
        with pytest.raises(ZeroDivisionError), monitor(fake.url):
            1 / 0  # noqa: B018
        with pytest.raises(SystemExit), monitor(fake.url):
            sys.exit(4)
        fake.wait_for(lambda hits: [h.action for h in hits].count("start") == 3)
    by_rid: dict[str, list[str]] = {}
    for hit in fake.hits:
        by_rid.setdefault(hit.rid, []).append(hit.action)
    runs = list(by_rid.values())
    assert runs[0][0] == "start" and runs[0][-1] == "" and "progress" in runs[0]
    assert runs[1] == ["start", "fail"] and runs[2] == ["start", "4"]
    fail = next(h for h in fake.hits if h.action == "fail")
    assert fail.body.rstrip().endswith(b"ZeroDivisionError: division by zero")


def test_decorator_makes_each_call_a_run_and_returns_its_value() -> None:
    sys.path.insert(0, str(CLIENT))
    from vigil_client import monitor

    with fake_monitor() as fake:

        @monitor(fake.url)
        def job(x: int) -> int:
            if x < 0:
                raise ValueError("negative")
            return x * 2

        assert job(21) == 42
        with pytest.raises(ValueError, match="negative"):
            job(-1)
    first, second = fake.hits[:2], fake.hits[2:]
    assert [h.action for h in first] == ["start", ""] and [h.action for h in second] == [
        "start",
        "fail",
    ]
    assert first[0].rid != second[0].rid


def test_the_wrapper_adds_nothing_to_a_fast_command_when_the_monitor_is_healthy() -> None:
    with fake_monitor() as monitor:
        took = elapsed(lambda: vigil("run", "--url", monitor.url, "--", "true"))
    assert took - _baseline() < SLACK_SECONDS
    assert [h.action for h in monitor.hits] == ["start", "0"]
