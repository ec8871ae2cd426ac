"""``python -m chalicelib.cli serve`` end to end over real HTTP, then a clean Ctrl-C."""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import ROOT

STARTUP_SECONDS = 60


class Console:
    """Reads the stack's output on a thread, so a missing line fails instead of hanging."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._pump, args=(process,), daemon=True).start()

    def _pump(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            self.lines.put(line)

    def wait_for(self, prefix: str, seconds: float) -> str:
        try:
            while True:
                line = self.lines.get(timeout=seconds)
                self.seen.append(line)
                if line.startswith(prefix):
                    return "".join(self.seen)
        except queue.Empty:
            pytest.fail(f"no line starting {prefix!r}; output was:\n" + "".join(self.seen))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_is_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def stack() -> Iterator[dict[str, Any]]:
    port, moto_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "chalicelib.cli",
            "serve",
            "--port",
            str(port),
            "--moto-port",
            str(moto_port),
            "--sweep-every",
            "1",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    console = Console(process)
    text = console.wait_for("Serving on", STARTUP_SECONDS)
    keys = json.loads(text[text.index("{") : text.index("}") + 1])
    yield {
        "process": process,
        "console": console,
        "port": port,
        "moto_port": moto_port,
        "keys": keys,
        "banner": text,
    }
    if process.poll() is None:
        process.kill()
        process.wait()


def http(method: str, url: str, body: bytes | None = None, key: str | None = None) -> Any:
    request = urllib.request.Request(url, data=body, method=method)
    if key:
        request.add_header("X-Api-Key", key)
    with urllib.request.urlopen(request, timeout=10) as reply:
        return reply.status, reply.read()


def test_serve_runs_the_api_on_embedded_aws_and_stops_cleanly(stack: dict[str, Any]) -> None:
    base = f"http://127.0.0.1:{stack['port']}"
    assert "curl" in stack["banner"] and stack["keys"]["api_key"] in stack["banner"]
    status, body = http(
        "POST",
        f"{base}/api/v3/checks/",
        b'{"name": "smoke", "timeout": 60}',
        stack["keys"]["api_key"],
    )
    assert status == 201
    check = json.loads(body)
    assert http("GET", f"{base}/ping/{check['uuid']}") == (200, b"OK")
    status, body = http(
        "GET", f"{base}/api/v3/checks/{check['uuid']}", key=stack["keys"]["api_key"]
    )
    assert json.loads(body)["n_pings"] == 1
    # A fail ping alerts at once: the alert printer shows it on the console.
    http("POST", f"{base}/ping/{check['uuid']}/fail", b"boom")
    stack["console"].wait_for("ALERT DOWN: smoke (fail)", 20)
    process = stack["process"]
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=20) == 0
    assert not port_is_open(stack["port"]) and not port_is_open(stack["moto_port"])
