"""Start ``python -m chalicelib.cli serve`` on free ports for tests that need real HTTP."""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
STARTUP_SECONDS = 60


def http(method: str, url: str, body: bytes | None = None, key: str | None = None) -> Any:
    """(status, body) of one request; raises for a 4xx/5xx like urllib does."""
    request = urllib.request.Request(url, data=body, method=method)
    if key:
        request.add_header("X-Api-Key", key)
    with urllib.request.urlopen(request, timeout=10) as reply:
        return reply.status, reply.read()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_is_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


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


@dataclass
class Stack:
    process: subprocess.Popen[str]
    console: Console
    port: int
    moto_port: int
    keys: dict[str, str]
    banner: str

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def dynamodb(self) -> Any:
        """A client on the stack's embedded DynamoDB, to check data independently of the API."""
        import boto3

        return boto3.client(
            "dynamodb",
            endpoint_url=f"http://127.0.0.1:{self.moto_port}",
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )

    def ping_log(self, check: str) -> list[Any]:
        """The check's logged pings (``domain.LoggedPing``), oldest first, bodies whole."""
        from chalicelib.dynamo import DynamoStore

        client = self.dynamodb()
        store = DynamoStore(lambda: client, "vigil")
        listed = store.pings(check, newest=None, limit=store.ping_log_limit)
        return [store.ping_entry(check, entry.n) for entry in reversed(listed)]

    def stop(self) -> int:
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=20)


@contextmanager
def running_stack(
    extra_args: Sequence[str] = (), state_file: Path | None = None
) -> Iterator[Stack]:
    """A stack on free ports; its state file is a fresh temporary one unless one is given."""
    port, moto_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    scratch = tempfile.TemporaryDirectory(prefix="vigil-state-")
    env["VIGIL_STATE_FILE"] = str(state_file or Path(scratch.name) / "state.json")
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
            *extra_args,
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        console = Console(process)
        text = console.wait_for("Serving on", STARTUP_SECONDS)
        keys = json.loads(text[text.index("{") : text.index("}") + 1])
        yield Stack(process, console, port, moto_port, keys, text)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        scratch.cleanup()
