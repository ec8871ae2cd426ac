"""Structured logs: one JSON line per event, with ids. Never ping bodies, never keys."""

from __future__ import annotations

import json
import logging

_logger = logging.getLogger("vigil.events")


def log_event(event: str, **fields: object) -> None:
    _logger.info(json.dumps({"event": event, **fields}, default=str, sort_keys=True))
