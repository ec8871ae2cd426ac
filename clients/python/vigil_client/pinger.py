"""Sending pings within a hard time budget, in order, never raising.

One request is in flight at a time (a lock), so a run's pings reach the monitor in the order
they were made. Every send has a deadline: attempts, retries and backoff all fit inside it,
and the caller never waits past it.
"""

from __future__ import annotations

import http.client
import random
import re
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from typing import Callable

DEFAULT_TIMEOUT = 5.0
DEFAULT_RETRIES = 2
DEFAULT_BODY_LIMIT = 10000  # Vigil's and Healthchecks' default, until the server says otherwise
FIRST_BACKOFF = 0.5
USER_AGENT = "vigil-run/1"

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_SLUG = re.compile(r"^[-a-z0-9_]+$")
_KEY = re.compile(r"^[-a-zA-Z0-9_]+$")


class BadPingUrl(ValueError):
    """The URL is not a check's ping URL; nothing could ever be delivered to it."""


def parse_ping_url(url: str) -> str:
    """Accept ``<base>/<uuid>`` and ``<base>/<ping_key>/<slug>``; return it without a trailing /."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise BadPingUrl(f"ping URL {url!r} is not an http(s) URL")
    segments = parts.path.rstrip("/").split("/")
    last = segments[-1]
    key = segments[-2] if len(segments) >= 3 else ""
    if not _UUID.match(last) and not (
        _SLUG.match(last) and _KEY.match(key) and not _UUID.match(key)
    ):
        raise BadPingUrl(f"ping URL {url!r} must end in /<uuid> or /<ping_key>/<slug>")
    return urllib.parse.urlunsplit(parts._replace(path=parts.path.rstrip("/")))


def new_rid() -> str:
    return str(uuid.uuid4())


def warn(message: str) -> None:
    """The wrapper's own voice: one line on standard error, marked as ours."""
    print(f"vigil: {message}", file=sys.stderr, flush=True)


class Pinger:
    """Sends a check's pings. ``timeout`` bounds each attempt; ``retries`` follow failures."""

    def __init__(
        self,
        url: str,
        timeout: float = DEFAULT_TIMEOUT,
        retries: int = DEFAULT_RETRIES,
        log: Callable[[str], None] = warn,
    ) -> None:
        if timeout <= 0 or retries < 0:
            raise ValueError("timeout must be positive and retries not negative")
        self.url = parse_ping_url(url)
        self.timeout = timeout
        self.retries = retries
        self.body_limit = DEFAULT_BODY_LIMIT
        self.log = log
        self._lock = threading.Lock()

    @property
    def budget(self) -> float:
        """The most one ``send`` may take: every attempt at its full timeout."""
        return self.timeout * (self.retries + 1)

    def send(self, action: str, rid: str | None, body: bytes = b"") -> bool:
        """Deliver one ping, retrying, within ``budget`` seconds; True if the monitor took it.

        If a request is still in flight at the deadline it is left to finish on its own
        thread, still holding the lock, so a later ping can never overtake it.
        """
        deadline = time.monotonic() + self.budget
        if not self._lock.acquire(timeout=self.budget):
            self.log(f"{action or 'success'} ping not sent: an earlier ping is still in flight")
            return False
        result: list[bool] = []
        worker = threading.Thread(
            target=self._deliver, args=(action, rid, body, deadline, result), daemon=True
        )
        worker.start()
        worker.join(max(0.0, deadline - time.monotonic()))
        return bool(result and result[0])

    def try_send(self, action: str, rid: str | None, body: bytes = b"") -> None:
        """One attempt in the background, skipped if another ping is in flight (for progress)."""
        if not self._lock.acquire(blocking=False):
            return
        deadline = time.monotonic() + self.timeout
        threading.Thread(
            target=self._deliver, args=(action, rid, body, deadline, [], False), daemon=True
        ).start()

    def _deliver(
        self,
        action: str,
        rid: str | None,
        body: bytes,
        deadline: float,
        result: list[bool],
        retry: bool = True,
    ) -> None:
        try:
            result.append(self._attempts(action, rid, body, deadline, retry))
        finally:
            self._lock.release()

    def _attempts(
        self, action: str, rid: str | None, body: bytes, deadline: float, retry: bool
    ) -> bool:
        name = f"exit status {action}" if action.isdigit() else action or "success"
        last_problem = ""
        attempts = self.retries + 1 if retry else 1
        for attempt in range(attempts):
            if attempt > 0:
                # Exponential backoff with jitter, inside the deadline.
                pause = random.uniform(0.5, 1.0) * FIRST_BACKOFF * 2 ** (attempt - 1)
                time.sleep(max(0.0, min(pause, deadline - time.monotonic())))
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            problem, retryable = self._post(action, rid, body, min(self.timeout, remaining))
            if problem is None:
                return True
            if not retryable:
                self.log(f"{name} ping rejected: {problem}")
                return False
            last_problem = problem
        else:
            self.log(f"{name} ping not delivered: {last_problem}")
            return False
        self.log(f"{name} ping not delivered in {self.budget:g}s")
        return False

    def _post(
        self, action: str, rid: str | None, body: bytes, timeout: float
    ) -> tuple[str | None, bool]:
        """One request: (None, _) on success, else (what went wrong, whether to retry)."""
        request = urllib.request.Request(
            self.action_url(action, rid),
            data=body[-self.body_limit :] if len(body) > self.body_limit else body,
            method="POST",
            headers={"User-Agent": USER_AGENT, "Content-Type": "text/plain; charset=utf-8"},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as reply:
                self._note_limit(reply.headers.get("Ping-Body-Limit"))
                return None, False
        except urllib.error.HTTPError as error:
            retryable = error.code >= 500 or error.code == 429
            return f"HTTP {error.code}", retryable
        except (OSError, ValueError, http.client.HTTPException) as error:
            # refused, unreachable, timed out, or not speaking HTTP
            return str(getattr(error, "reason", error)) or type(error).__name__, True

    def action_url(self, action: str, rid: str | None) -> str:
        """The ping URL with the action's suffix and the run id, keeping any query it had."""
        parts = urllib.parse.urlsplit(self.url)
        path = parts.path + (f"/{action}" if action else "")
        query = urllib.parse.parse_qsl(parts.query) + ([("rid", rid)] if rid else [])
        return urllib.parse.urlunsplit(
            parts._replace(path=path, query=urllib.parse.urlencode(query))
        )

    def _note_limit(self, header: str | None) -> None:
        if header and header.isdigit():
            self.body_limit = int(header)


def pinger_or_none(url: str, timeout: float, retries: int, where: str) -> Pinger | None:
    """A Pinger, or None for a missing or malformed URL: that is loud, but the job still runs.

    ``where`` tells the user where the URL comes from, e.g. ``--url or VIGIL_PING_URL``.
    """
    if not url:
        warn(f"no ping URL ({where}): running unmonitored")
        return None
    try:
        return Pinger(url, timeout, retries)
    except BadPingUrl as error:
        warn(f"{error}: running unmonitored")
        return None
