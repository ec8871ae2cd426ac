"""A capture server on 127.0.0.1 for channel delivery tests: records every request, replies
as told (an answer, a hang, or a trickle), and lets tests wait on a condition, never sleep."""

from __future__ import annotations

import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Literal

Mode = Literal["reply", "hang", "trickle"]
WAIT_SECONDS = 10.0


@dataclass(frozen=True)
class Captured:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Behaviour:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"ok"
    mode: Mode = "reply"


class CaptureServer:
    def __init__(self, behaviour: Behaviour | None = None, tls: ssl.SSLContext | None = None):
        self.behaviour = behaviour or Behaviour()
        self.requests: list[Captured] = []
        self.changed = threading.Condition()
        self.released = threading.Event()  # ends hangs and trickles at shutdown
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def url(self, path: str = "/hook", host: str = "127.0.0.1", scheme: str = "http") -> str:
        return f"{scheme}://{host}:{self.port}{path}"

    def wait_for(self, count: int) -> list[Captured]:
        with self.changed:
            assert self.changed.wait_for(lambda: len(self.requests) >= count, WAIT_SECONDS)
            return list(self.requests)

    def __enter__(self) -> CaptureServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.released.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(WAIT_SECONDS)

    def _record(self, captured: Captured) -> None:
        with self.changed:
            self.requests.append(captured)
            self.changed.notify_all()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass  # keep test output clean

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                server._record(Captured(self.command, self.path, dict(self.headers), body))
                self._respond(server.behaviour)

            do_GET = do_POST

            def _respond(self, behaviour: Behaviour) -> None:
                if behaviour.mode == "hang":
                    server.released.wait(WAIT_SECONDS * 3)
                    return
                if behaviour.mode == "trickle":
                    self.wfile.write(b"HTTP/1.1 200 OK\r\n")
                    while not server.released.wait(0.05):
                        self.wfile.write(b"X")  # a header that never ends
                        self.wfile.flush()
                    return
                self.send_response(behaviour.status)
                for name, value in behaviour.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(behaviour.body)))
                self.end_headers()
                self.wfile.write(behaviour.body)

        return Handler
