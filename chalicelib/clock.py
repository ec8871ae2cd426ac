"""The only place that reads the wall clock. Handlers read it once and pass ``now`` down."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    return datetime.now(UTC)
