"""Signed webhooks: Vigil's alert JSON, POSTed with an HMAC-SHA256 signature.

The receiver recomputes ``HMAC-SHA256(secret, "<X-Vigil-Timestamp>.<raw body>")`` and compares
it in constant time with ``X-Vigil-Signature: sha256=<hex>``, then rejects timestamps too far
from its own clock so a captured request cannot be replayed later. This is the scheme Stripe
and Slack use for theirs (timestamp bound into the signed string), so receivers already know it.
``X-Vigil-Flip`` (and the document's ``flip.id``) lets them drop duplicate deliveries.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from chalicelib.channels.message import OutboundRequest, json_request

SIGNATURE_PREFIX = "sha256="
DEFAULT_TOLERANCE_SECONDS = 300


def build_webhook(
    url: str, secret: str, document: Mapping[str, Any], now: datetime
) -> OutboundRequest:
    timestamp = str(int(now.timestamp()))
    unsigned = json_request(url, document)
    flip = document.get("flip")
    extra = {
        "X-Vigil-Timestamp": timestamp,
        "X-Vigil-Signature": sign(secret, timestamp, unsigned.body),
        "X-Vigil-Event": str(document.get("event", "")),
        "X-Vigil-Flip": str(flip.get("id", "")) if isinstance(flip, Mapping) else "",
    }
    return OutboundRequest(
        unsigned.method, unsigned.url, {**unsigned.headers, **extra}, unsigned.body
    )


def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return SIGNATURE_PREFIX + mac.hexdigest()


def verify_signature(
    secret: str,
    timestamp: str,
    signature: str,
    body: bytes,
    now: datetime,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
) -> bool:
    """True when ``signature`` is ours over ``body`` and ``timestamp`` is within tolerance."""
    if not timestamp.isdigit():
        return False
    if abs(now.timestamp() - int(timestamp)) > tolerance_seconds:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), signature)
