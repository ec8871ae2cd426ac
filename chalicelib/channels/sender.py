"""The outbound HTTP sender: urllib, pinned to the SSRF guard's vetted addresses.

One call sends one request and returns an ``Outcome`` (delivery.py); it never raises for
network trouble. What keeps a bad endpoint from hurting the notifier:
- the URL is vetted first (ssrf.py), and the socket connects to the vetted addresses, never
  to a second DNS answer; TLS still verifies the certificate against the host name (SNI);
- each socket operation (connect, each read) times out after ``timeout`` seconds, and a
  watchdog closes the connection at ``total_timeout`` so a server trickling bytes cannot hold
  the notifier for long either;
- redirects are not followed (a 3xx comes back as it is: its target was never vetted);
- environment proxies are ignored (a proxy would resolve and connect on its own);
- at most ``max_response_bytes`` of the answer are read; only ``last_error`` text needs it.
"""

from __future__ import annotations

import contextlib
import functools
import http.client
import socket
import ssl
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from typing import Any

from chalicelib.channels.delivery import HttpReply, NetworkError, Outcome, Refused
from chalicelib.channels.message import OutboundRequest
from chalicelib.channels.ssrf import (
    ResolutionFailed,
    Resolver,
    Target,
    UnsafeUrl,
    system_resolver,
    vet_url,
)

DEFAULT_TIMEOUT_SECONDS = 5.0
DEFAULT_TOTAL_TIMEOUT_SECONDS = 10.0
DEFAULT_MAX_RESPONSE_BYTES = 16 * 1024


def send(
    request: OutboundRequest,
    *,
    allow_loopback: bool = False,
    resolve: Resolver = system_resolver,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    total_timeout: float = DEFAULT_TOTAL_TIMEOUT_SECONDS,
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ssl_context: ssl.SSLContext | None = None,
) -> Outcome:
    try:
        target = vet_url(request.url, resolve=resolve, allow_loopback=allow_loopback)
    except UnsafeUrl as unsafe:
        return Refused(str(unsafe))
    except ResolutionFailed as failed:
        return NetworkError(str(failed))
    watchdog = _Watchdog(total_timeout)
    opener = _opener(target, watchdog, ssl_context or _default_tls())
    outbound = urllib.request.Request(
        request.url, data=request.body, headers=request.headers, method=request.method
    )
    outcome: Outcome
    try:
        with watchdog:
            outcome = _exchange(opener, outbound, timeout, max_response_bytes)
    except (OSError, http.client.HTTPException, ValueError) as error:
        outcome = NetworkError(_describe(error))
    if watchdog.fired:
        # A shut-down socket reads as a clean end of stream, so whatever was parsed after
        # the deadline (headers cut short, a partial body) is not an answer.
        return NetworkError(f"no complete response within {total_timeout:g} s")
    return outcome


@functools.cache
def _default_tls() -> ssl.SSLContext:
    """The system's trust store, loaded once per process (on first send, not at import)."""
    return ssl.create_default_context()


def _exchange(
    opener: urllib.request.OpenerDirector, req: urllib.request.Request, timeout: float, cap: int
) -> HttpReply:
    try:
        response = opener.open(req, timeout=timeout)
    except urllib.error.HTTPError as error:  # non-2xx: still an answer, with a body to read
        with error:
            return HttpReply(error.code, dict(error.headers.items()), error.read(cap))
    with response:
        return HttpReply(response.status, dict(response.headers.items()), response.read(cap))


def _describe(error: BaseException) -> str:
    if isinstance(error, urllib.error.URLError) and not isinstance(error.reason, str):
        return _describe(error.reason)
    if isinstance(error, TimeoutError | socket.timeout):
        return "timed out"
    text = str(error) or type(error).__name__
    return text[:300]


class _Watchdog:
    """Shuts the connection's sockets down when the total time budget runs out."""

    def __init__(self, seconds: float) -> None:
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._done = False
        self.fired = False

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
            if self.fired:
                _shutdown(sock)

    def _fire(self) -> None:
        with self._lock:
            if self._done:
                return  # the exchange finished first: its outcome stands
            self.fired = True
            for sock in self._sockets:
                _shutdown(sock)

    def __enter__(self) -> _Watchdog:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._done = True
        self._timer.cancel()


def _shutdown(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed: nothing left to interrupt
        sock.shutdown(socket.SHUT_RDWR)


def _connect(
    addresses: Sequence[str], port: int, timeout: Any, watchdog: _Watchdog
) -> socket.socket:
    """Connect to the first vetted address that answers, like create_connection over DNS."""
    last: OSError = OSError("no address to connect to")
    for address in addresses:
        if watchdog.fired:
            raise TimeoutError("out of time before connecting")
        try:
            sock = socket.create_connection((address, port), timeout=timeout)
        except OSError as error:
            last = error
            continue
        watchdog.watch(sock)
        return sock
    raise last


def _opener(
    target: Target, watchdog: _Watchdog, context: ssl.SSLContext
) -> urllib.request.OpenerDirector:
    def plain(host: str, **kwargs: Any) -> http.client.HTTPConnection:
        return _PinnedHTTP(host, target=target, watchdog=watchdog, **kwargs)

    def tls(host: str, **kwargs: Any) -> http.client.HTTPSConnection:
        return _PinnedHTTPS(host, target=target, watchdog=watchdog, **kwargs)

    return urllib.request.build_opener(
        urllib.request.ProxyHandler({}),
        _Handler(plain),
        _TlsHandler(tls, context),
        _NoRedirects(),
    )


class _PinnedHTTP(http.client.HTTPConnection):
    def __init__(self, host: str, *, target: Target, watchdog: _Watchdog, **kwargs: Any) -> None:
        super().__init__(host, **kwargs)
        self._target, self._watchdog = target, watchdog

    def connect(self) -> None:
        self.sock = _connect(
            self._target.addresses, self._target.port, self.timeout, self._watchdog
        )


class _PinnedHTTPS(http.client.HTTPSConnection):
    def __init__(self, host: str, *, target: Target, watchdog: _Watchdog, **kwargs: Any) -> None:
        super().__init__(host, **kwargs)
        self._target, self._watchdog = target, watchdog

    def connect(self) -> None:
        raw = _connect(self._target.addresses, self._target.port, self.timeout, self._watchdog)
        # The certificate is checked against the URL's host name, not the pinned address.
        context: ssl.SSLContext = self._context  # type: ignore[attr-defined]
        self.sock = context.wrap_socket(raw, server_hostname=self._target.host)


class _Handler(urllib.request.HTTPHandler):
    def __init__(self, factory: Callable[..., http.client.HTTPConnection]) -> None:
        super().__init__()
        self._factory = factory

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(self._factory, req)


class _TlsHandler(urllib.request.HTTPSHandler):
    def __init__(
        self, factory: Callable[..., http.client.HTTPSConnection], context: ssl.SSLContext
    ) -> None:
        super().__init__(context=context)
        self._factory, self._tls_context = factory, context

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(self._factory, req, context=self._tls_context)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # the 3xx surfaces as an HTTPError and is reported, not followed
