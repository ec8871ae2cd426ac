"""CloudWatch metrics in Embedded Metric Format (EMF): JSON lines on stdout, no API calls.

Lambda ships stdout to CloudWatch Logs, and CloudWatch turns every EMF line into metric
data points. So a metric costs no ``PutMetricData`` call, no IAM grant and no latency on the
ping path. Record with ``count``/``timing``/``gauge`` while handling a request or a sweep, then
flush: one line per distinct set of dimensions, and the buffer is empty again. The sweeper
flushes at the end of every invocation (its ``SweepCompleted`` is the watchman's heartbeat).
HTTP requests flush with ``flush_if_due``: at most one set of lines per process per
``VIGIL_METRICS_FLUSH_SECONDS`` (60 by default; 0 flushes every request), because at one line
per ping the EMF lines cost more in CloudWatch Logs ingestion than the metrics are worth. Counts
summed since the last flush are lost if Lambda retires the process first; no alarm watches an
HTTP-side metric, so that costs some precision in the ``Pings`` graph and nothing else.

When running in Lambda every metric also carries a ``FunctionName`` dimension, so
stages (and stacks) in one account never mix, and the watchman alarm can name its sweeper.

Why hand-written and not Powertools for AWS Lambda (measured, aws-lambda-powertools 3.37.0,
Python 3.11, this repository's ``chalice package``):
- the deployment zip grows from 707,749 B to 1,773,367 B (2.5x; 7.6 MB installed), and
  ``import aws_lambda_powertools.metrics`` costs 41-62 ms. Importing lazily would not help:
  every ping records a metric, so every cold start would pay it anyway;
- its ``log_metrics`` decorator cannot wrap Chalice handlers (they are called with the event
  only, traps.md section 9), so only ``flush_metrics()`` would be used;
- one ``Metrics`` object shares one dimension set per flush, while pings are counted per kind;
- EMF itself is a small, stable, documented JSON format; this module is the whole of it.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from chalicelib.clock import utc_now

NAMESPACE = "Vigil"

# The metric names, shared with the alarms in tools/ (the heartbeat alarm watches SWEEP_COMPLETED).
PINGS = "Pings"  # count, dimension kind
FLIPS = "Flips"  # count
ALERTS_PUBLISHED = "AlertsPublished"  # count
ALERTS_FAILED = "AlertsFailed"  # count
SWEEP_DURATION = "SweepDuration"  # timing, seconds
DUE_CHECKS = "DueChecks"  # gauge, count
OLDEST_DUE_LAG = "OldestDueLagSeconds"  # gauge, seconds
SWEEP_COMPLETED = "SweepCompleted"  # count: the sweeper's heartbeat
MALFORMED_ITEMS = "MalformedItems"  # count: check items skipped because they cannot be read
INTERNAL_ERRORS = "InternalErrors"  # count: requests answered 500 (a bug, or a broken config)
DELIVERIES = "Deliveries"  # count, dimensions kind and outcome (delivered, retry, failed)
DEAD_LETTERS = "DeliveriesDeadLettered"  # count: retry budget spent

FUNCTION_DIMENSION = "FunctionName"
FLUSH_SECONDS_VARIABLE = "VIGIL_METRICS_FLUSH_SECONDS"
DEFAULT_FLUSH_SECONDS = 60
# EMF limits: 100 values per metric in one line, 30 dimensions per set.
MAX_VALUES_PER_LINE = 100
MAX_DIMENSIONS = 30

Sink = Callable[[str], None]
DimensionKey = tuple[tuple[str, str], ...]


def _stdout(line: str) -> None:
    # Lambda forwards each stdout line to CloudWatch Logs as one event; EMF needs the bare JSON,
    # which is why this does not go through ``logging`` (Lambda prefixes its records).
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


@dataclass
class _Series:
    """One metric's values since the last flush."""

    unit: str
    summed: bool
    values: list[float] = field(default_factory=list)


_lock = threading.Lock()
_buffer: dict[DimensionKey, dict[str, _Series]] = {}
STDOUT_SINK: Sink = _stdout  # Lambda's: stdout lines reach CloudWatch
_sink: Sink | None = STDOUT_SINK
_last_flush: float | None = None  # time.monotonic() of the last flush_if_due that wrote


def count(name: str, value: float = 1, **dimensions: str) -> None:
    """Add ``value`` to a counter; counts of one name and dimensions are summed until flush."""
    _record(name, value, "Count", True, dimensions)


def timing(name: str, seconds: float, **dimensions: str) -> None:
    """Record one duration; every observation is kept, so percentiles work."""
    _record(name, seconds, "Seconds", False, dimensions)


def gauge(name: str, value: float, unit: str = "Count", **dimensions: str) -> None:
    """Record one observed level (due checks, a lag); every observation is kept."""
    _record(name, value, unit, False, dimensions)


def flush(now: datetime | None = None) -> None:
    """Emit what was recorded as EMF lines and start empty. Nothing recorded, nothing written."""
    with _lock:
        pending = dict(_buffer)
        _buffer.clear()
    if not pending or _sink is None:
        return
    timestamp = _timestamp_ms(now)
    for key, series in pending.items():
        for line in _lines(timestamp, dict(key), series):
            _sink(line)


def flush_if_due(every_seconds: float, monotonic: Callable[[], float] = time.monotonic) -> bool:
    """Flush if ``every_seconds`` have passed since the last flush here (or never flushed).

    Returns whether it flushed. A process's first request flushes, so a deploy shows up at once.
    """
    global _last_flush
    now = monotonic()
    if _last_flush is not None and now - _last_flush < every_seconds:
        return False
    with _lock:
        if not _buffer:
            return False
    flush()
    _last_flush = now
    return True


def flush_seconds(environ: Mapping[str, str]) -> float:
    """``VIGIL_METRICS_FLUSH_SECONDS``; a value that is not a number >= 0 falls back to 60."""
    raw = environ.get(FLUSH_SECONDS_VARIABLE, "").strip()
    try:
        value = float(raw) if raw else DEFAULT_FLUSH_SECONDS
    except ValueError:
        return DEFAULT_FLUSH_SECONDS
    return value if value >= 0 else DEFAULT_FLUSH_SECONDS


def set_sink(sink: Sink | None) -> None:
    """Send lines elsewhere (None drops them: the local stack keeps its console for alerts)."""
    global _sink
    _sink = sink


def reset() -> None:
    """Forget anything recorded and not flushed, and when it last flushed (tests)."""
    global _last_flush
    with _lock:
        _buffer.clear()
    _last_flush = None


def _record(name: str, value: float, unit: str, summed: bool, dimensions: dict[str, str]) -> None:
    key = _dimension_key(dimensions)
    if name == "_aws" or name in dict(key):
        raise ValueError(f"metric name {name!r} clashes with a dimension or EMF's own key")
    with _lock:
        series = _buffer.setdefault(key, {}).setdefault(name, _Series(unit, summed))
        if (series.unit, series.summed) != (unit, summed):
            raise ValueError(f"metric {name!r} recorded with two different kinds or units")
        if summed and series.values:
            series.values[0] += value
        else:
            series.values.append(float(value))


def _dimension_key(dimensions: dict[str, str]) -> DimensionKey:
    merged = dict(dimensions)
    # Read when recording, not at import: set by the Lambda runtime, absent locally and in tests.
    function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
    if function_name:
        merged.setdefault(FUNCTION_DIMENSION, function_name)
    if len(merged) > MAX_DIMENSIONS:
        raise ValueError(f"at most {MAX_DIMENSIONS} dimensions per metric")
    for name, value in merged.items():
        if not isinstance(value, str) or not value:
            raise ValueError(f"dimension {name!r} needs a non-empty string value")
    return tuple(sorted(merged.items()))


def _lines(timestamp: int, dimensions: dict[str, str], series: dict[str, _Series]) -> list[str]:
    """One line per chunk of at most MAX_VALUES_PER_LINE values of each metric."""
    chunks = max(len(s.values) for s in series.values())
    lines = []
    for start in range(0, chunks, MAX_VALUES_PER_LINE):
        part = {
            name: s.values[start : start + MAX_VALUES_PER_LINE]
            for name, s in series.items()
            if s.values[start : start + MAX_VALUES_PER_LINE]
        }
        document: dict[str, object] = {
            "_aws": {
                "Timestamp": timestamp,
                "CloudWatchMetrics": [
                    {
                        "Namespace": NAMESPACE,
                        "Dimensions": [sorted(dimensions)],
                        "Metrics": [{"Name": n, "Unit": series[n].unit} for n in sorted(part)],
                    }
                ],
            },
            **dimensions,
        }
        for name, values in sorted(part.items()):
            document[name] = values[0] if len(values) == 1 else values
        lines.append(json.dumps(document, separators=(",", ":")))
    return lines


def _timestamp_ms(now: datetime | None) -> int:
    return int((now or utc_now()).timestamp() * 1000)
