"""A fake ping endpoint on a free port, for the clients' tests: it records what arrives."""

from __future__ import annotations

import socket
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CHECK = "7b1a0c52-3f5e-4d7a-9b2c-1e0f9a8b7c6d"
WAIT_SECONDS = 20  # every wait on a condition is bounded by this


@dataclass(frozen=True)
class Hit:
    action: str  # "" for success, else start, progress, fail, log or the exit status
    rid: str
    body: bytes
    method: str


class FakeMonitor:
    def __init__(self, status_for: Callable[[int], int]) -> None:
        self.hits: list[Hit] = []
        self.changed = threading.Condition()
        self.status_for = status_for
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/ping/{CHECK}"

    def wait_for(self, ready: Callable[[list[Hit]], bool], seconds: float = WAIT_SECONDS) -> None:
        with self.changed:
            if not self.changed.wait_for(lambda: ready(self.hits), timeout=seconds):
                raise AssertionError(f"condition not met within {seconds}s; hits: {self.hits}")

    def _record(self, hit: Hit) -> int:
        with self.changed:
            self.hits.append(hit)
            self.changed.notify_all()
            return len(self.hits)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        monitor = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self._ping()

            def do_GET(self) -> None:
                self._ping()

            def _ping(self) -> None:
                url = urllib.parse.urlsplit(self.path)
                action = url.path.removeprefix(f"/ping/{CHECK}").strip("/")
                rid = urllib.parse.parse_qs(url.query).get("rid", [""])[0]
                length = int(self.headers.get("Content-Length") or 0)
                n = monitor._record(Hit(action, rid, self.rfile.read(length), self.command))
                status = monitor.status_for(n)
                self.send_response(status)
                self.send_header("Ping-Body-Limit", "10000")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"OK")

            def log_message(self, *args: object) -> None:
                pass

        return Handler


@contextmanager
def fake_monitor(status_for: Callable[[int], int] = lambda n: 200) -> Iterator[FakeMonitor]:
    monitor = FakeMonitor(status_for)
    thread = threading.Thread(target=monitor.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield monitor
    finally:
        monitor.server.shutdown()
        monitor.server.server_close()


def refused_url() -> str:
    """A ping URL where nothing listens: every connection is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/ping/{CHECK}"


@contextmanager
def silent_monitor() -> Iterator[str]:
    """A ping URL whose server accepts connections and never answers: the slow monitor."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/ping/{CHECK}"
    finally:
        sock.close()


def elapsed(action: Callable[[], object]) -> float:
    start = time.monotonic()
    action()
    return time.monotonic() - start
