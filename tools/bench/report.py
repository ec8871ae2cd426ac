"""Plain-text tables and the capture of what the app writes to its logs while it is measured."""

from __future__ import annotations

import io
import logging
import statistics
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass

# CloudWatch Logs bills each event's bytes plus 26 bytes of overhead.
CLOUDWATCH_EVENT_OVERHEAD_BYTES = 26


def heading(number: int, title: str) -> str:
    line = f"{number}. {title}"
    return f"\n{line}\n{'=' * len(line)}"


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], left: int = 1) -> str:
    """Columns aligned as text: the first ``left`` to the left, the figures to the right."""
    cells = [list(map(str, headers))] + [[_cell(value) for value in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = []
    for index, row in enumerate(cells):
        aligned = [
            value.ljust(width) if column < left else value.rjust(width)
            for column, (value, width) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(aligned).rstrip())
        if index == 0:
            lines.append("  ".join("-" * width for width in widths))
    return "\n".join(lines)


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) >= 100 else f"{value:.3g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def percentiles(values: Sequence[float]) -> dict[str, float]:
    ordered = sorted(values)

    def at(fraction: float) -> float:
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]

    return {
        "min": ordered[0],
        "p50": statistics.median(ordered),
        "p95": at(0.95),
        "max": ordered[-1],
    }


@dataclass
class Captured:
    """Log output of the measured code: what Lambda would ship to CloudWatch Logs."""

    text: str = ""

    @property
    def events(self) -> int:
        return len([line for line in self.text.splitlines() if line.strip()])

    @property
    def billed_bytes(self) -> int:
        return len(self.text.encode()) + CLOUDWATCH_EVENT_OVERHEAD_BYTES * self.events


@contextmanager
def captured_output() -> Iterator[Captured]:
    """Send stdout and the app's log handlers to a buffer (Chalice logs to stdout)."""
    buffer = io.StringIO()
    # Any stream handler, whatever it points at now: captures nest, and Chalice's handler keeps
    # the stdout it saw when the app was imported.
    handlers = [
        handler
        for name in ("vigil", "")
        for handler in logging.getLogger(name).handlers
        if type(handler) is logging.StreamHandler
    ]
    streams = [handler.setStream(buffer) for handler in handlers]
    result = Captured()
    try:
        with redirect_stdout(buffer):
            yield result
    finally:
        for handler, stream in zip(handlers, streams, strict=True):
            if stream is not None:
                handler.setStream(stream)
        result.text = buffer.getvalue()
