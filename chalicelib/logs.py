"""Structured logs: one JSON line per event, with ids. Never ping bodies, never keys.

The per-ping line (``ping``) is logged at DEBUG unless ``VIGIL_PING_LOG_LEVEL`` says otherwise
(``INFO`` brings it back): at one line per ping, CloudWatch Logs ingestion would cost about as
much as Lambda itself, while the ping log in DynamoDB already records every ping. Flips,
alerts, sweeps and errors stay at INFO and above.
"""

from __future__ import annotations

import json
import logging
import os

_logger = logging.getLogger("vigil.events")

PING_LEVEL_VARIABLE = "VIGIL_PING_LOG_LEVEL"
PER_PING_EVENTS = frozenset({"ping"})
DEFAULT_PING_LEVEL = logging.DEBUG


def log_event(event: str, **fields: object) -> None:
    level = ping_level() if event in PER_PING_EVENTS else logging.INFO
    if _logger.isEnabledFor(level):  # skip the JSON encoding of a line nobody keeps
        _logger.log(level, json.dumps({"event": event, **fields}, default=str, sort_keys=True))


def ping_level() -> int:
    """The level of per-ping lines: ``VIGIL_PING_LOG_LEVEL`` by name, read per call (env swaps)."""
    name = os.environ.get(PING_LEVEL_VARIABLE, "").strip().upper()
    level = logging.getLevelName(name) if name else DEFAULT_PING_LEVEL
    return level if isinstance(level, int) else DEFAULT_PING_LEVEL
