"""The same heartbeats around a Python block or function: a context manager and a decorator.

    with vigil_client.monitor(progress_every=60) as run:
        run.progress("3 of 7 done")
        ...

    @vigil_client.monitor()
    def nightly_backup() -> None: ...

Start on entry; success on a normal exit; on an exception, fail with the end of its traceback
(``SystemExit`` reports its exit status). The exception always propagates unchanged.
"""

from __future__ import annotations

import functools
import os
import threading
import traceback
from types import TracebackType
from typing import Any, Callable, TypeVar

from vigil_client.pinger import DEFAULT_RETRIES, DEFAULT_TIMEOUT, Pinger, new_rid, pinger_or_none

F = TypeVar("F", bound=Callable[..., Any])


class Monitor:
    """One monitored run per ``with`` (or per call, as a decorator)."""

    def __init__(
        self,
        url: str | None = None,
        *,
        progress_every: float = 0,
        timeout: float = DEFAULT_TIMEOUT,
        retries: int = DEFAULT_RETRIES,
    ) -> None:
        self.url = url or os.environ.get("VIGIL_PING_URL", "")
        self.progress_every = progress_every
        self.timeout, self.retries = timeout, retries
        self.rid = ""
        self._pinger: Pinger | None = None
        self._stop = threading.Event()

    def __enter__(self) -> Monitor:
        self._pinger = pinger_or_none(
            self.url, self.timeout, self.retries, "an argument or VIGIL_PING_URL"
        )
        self.rid = new_rid()
        self._stop.clear()
        if self._pinger is not None:
            self._pinger.send("start", self.rid)
            if self.progress_every > 0:
                threading.Thread(target=self._keep_alive, daemon=True).start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._pinger is None:
            return
        if error is None:
            self._pinger.send("", self.rid)
        elif isinstance(error, SystemExit):
            message = b"" if isinstance(error.code, (int, type(None))) else str(error.code).encode()
            self._pinger.send(str(_exit_status(error)), self.rid, message)
        else:
            text = "".join(traceback.format_exception(kind, error, trace))
            self._pinger.send("fail", self.rid, text.encode("utf-8", "replace"))

    def progress(self, message: str = "") -> None:
        """Say the block is still running; never waits (skipped if a ping is in flight)."""
        if self._pinger is not None:
            self._pinger.try_send("progress", self.rid, message.encode("utf-8", "replace"))

    def log(self, message: str) -> None:
        """Record an event without changing the check's status; never waits."""
        if self._pinger is not None:
            self._pinger.try_send("log", self.rid, message.encode("utf-8", "replace"))

    def __call__(self, function: F) -> F:
        """As a decorator: each call is a run of its own."""

        @functools.wraps(function)
        def monitored(*args: Any, **kwargs: Any) -> Any:
            with Monitor(
                self.url,
                progress_every=self.progress_every,
                timeout=self.timeout,
                retries=self.retries,
            ):
                return function(*args, **kwargs)

        return monitored  # type: ignore[return-value]

    def _keep_alive(self) -> None:
        while not self._stop.wait(self.progress_every):
            self.progress()


monitor = Monitor


def _exit_status(error: SystemExit) -> int:
    """The status the interpreter will exit with: ``sys.exit("message")`` is 1."""
    if error.code is None:
        return 0
    if isinstance(error.code, int):
        return error.code if 0 <= error.code <= 255 else 255
    return 1
