"""``vigil run``: run a command as it would run alone, and tell the monitor about it.

Start (with a fresh run id), progress every so often, then ``/<exit status>`` with the tail of
the output. The command's output passes through unchanged, signals sent to the wrapper reach
it, and the wrapper exits with the command's own status (128 + N when a signal N killed it,
as a shell does). A monitor that is down or slow costs at most the pinger's budget at the
start and again at the end, never the job's result.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from typing import IO, Sequence

from vigil_client.pinger import Pinger, new_rid, warn

# Signals that mean something to the command; each is passed on. SIGINT and SIGQUIT come from
# the terminal to the whole foreground group, so there they already reached the command.
FORWARDED = ("SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGWINCH")
TERMINAL_SIGNALS = ("SIGINT", "SIGQUIT")
# After the command exits, how long its output pipes may stay open (a background child of
# the command can hold them) before the wrapper stops reading and reports.
PIPE_GRACE_SECONDS = 1.0
COMMAND_NOT_FOUND = 127
COMMAND_NOT_EXECUTABLE = 126


class Tail:
    """The last ``size`` bytes of everything written to it, from several threads."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._data = bytearray()
        self._lock = threading.Lock()

    def add(self, chunk: bytes) -> None:
        with self._lock:
            self._data += chunk
            if len(self._data) > self.size:
                del self._data[: len(self._data) - self.size]

    def value(self) -> bytes:
        with self._lock:
            return bytes(self._data)


def run_command(
    command: Sequence[str],
    pinger: Pinger | None,
    progress_every: float = 0,
    tail_bytes: int = 10000,
) -> int:
    """Run ``command`` monitored by ``pinger`` (None: unmonitored); return the exit status."""
    rid = new_rid()
    forwarder = _SignalForwarder()
    forwarder.install()
    try:
        if pinger is not None:
            pinger.send("start", rid)
        tail = Tail(tail_bytes)
        status = _supervise(command, forwarder, tail, pinger, rid, progress_every)
    finally:
        forwarder.uninstall()
    if pinger is not None:
        pinger.send(str(status), rid, tail.value())
    return status


def _supervise(
    command: Sequence[str],
    forwarder: _SignalForwarder,
    tail: Tail,
    pinger: Pinger | None,
    rid: str,
    progress_every: float,
) -> int:
    try:
        process = subprocess.Popen(list(command), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    except OSError as error:
        status = (
            COMMAND_NOT_FOUND if isinstance(error, FileNotFoundError) else COMMAND_NOT_EXECUTABLE
        )
        message = f"{command[0]}: {error.strerror or error}"
        warn(message)
        tail.add(f"vigil: {message}\n".encode())
        return status
    forwarder.attach(process)
    assert process.stdout is not None and process.stderr is not None
    pumps = [
        _pump(process.stdout, _binary(sys.stdout), tail),
        _pump(process.stderr, _binary(sys.stderr), tail),
    ]
    stop_progress = threading.Event()
    if pinger is not None and progress_every > 0:
        threading.Thread(
            target=_progress, args=(pinger, rid, progress_every, stop_progress), daemon=True
        ).start()
    returncode = process.wait()
    stop_progress.set()
    for pump in pumps:
        pump.join(PIPE_GRACE_SECONDS)
    return 128 - returncode if returncode < 0 else returncode


def _progress(pinger: Pinger, rid: str, every: float, stop: threading.Event) -> None:
    started = time.monotonic()
    while not stop.wait(every):
        pinger.try_send("progress", rid, f"running for {time.monotonic() - started:.0f}s".encode())


def _binary(stream: IO[str]) -> IO[bytes]:
    """The byte stream under a text one: the command's bytes pass through undecoded."""
    binary: IO[bytes] = stream.buffer  # type: ignore[attr-defined]
    return binary


def _pump(source: IO[bytes], sink: IO[bytes], tail: Tail) -> threading.Thread:
    """Copy a pipe to our own stream as it comes, keeping the tail."""

    def copy() -> None:
        fd = source.fileno()
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            tail.add(chunk)
            try:
                sink.write(chunk)
                sink.flush()
            except (OSError, ValueError):
                pass  # our own output is gone (closed pipe): keep draining, keep the tail
        source.close()

    thread = threading.Thread(target=copy, daemon=True)
    thread.start()
    return thread


class _SignalForwarder:
    """Pass signals on to the command; any that arrive before it exists wait for it."""

    def __init__(self) -> None:
        self._process: subprocess.Popen[bytes] | None = None
        self._pending: list[int] = []
        self._previous: dict = {}  # type: ignore[type-arg]

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # only the main thread may set handlers; a library caller keeps its own
        for name in FORWARDED:
            number = getattr(signal, name, None)
            if number is not None:
                self._previous[number] = signal.signal(number, self._handle)

    def uninstall(self) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)
        self._previous.clear()

    def attach(self, process: subprocess.Popen[bytes]) -> None:
        self._process = process
        for number in self._pending:
            self._forward(number)
        self._pending.clear()

    def _handle(self, number: int, _frame: object) -> None:
        if self._process is None:
            self._pending.append(number)
        elif not _from_terminal(number):
            self._forward(number)

    def _forward(self, number: int) -> None:
        assert self._process is not None
        with contextlib.suppress(OSError):  # it has just exited
            self._process.send_signal(number)


def _from_terminal(number: int) -> bool:
    """Whether a Ctrl-C or Ctrl-\\ came from our terminal, which signalled the command too."""
    if signal.Signals(number).name not in TERMINAL_SIGNALS:
        return False
    try:
        with open("/dev/tty", "rb") as tty:
            return os.tcgetpgrp(tty.fileno()) == os.getpgrp()
    except OSError:
        return False  # no controlling terminal (cron, systemd, containers): nobody else did
