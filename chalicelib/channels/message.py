"""What a channel builder produces: an HTTP request, or an SNS publish (AWS Chatbot)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

USER_AGENT = "Vigil-Notifier/1"


@dataclass(frozen=True)
class OutboundRequest:
    """One HTTP request to a channel's endpoint. ``body`` is exactly the bytes sent."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class SnsMessage:
    """One SNS Publish to a channel's own topic (kind ``sns``)."""

    topic_arn: str
    message: str
    subject: str | None = None
    attributes: dict[str, dict[str, str]] = field(default_factory=dict)


def json_bytes(doc: Any) -> bytes:
    """Compact UTF-8 JSON: non-ASCII kept as is, so vendor limits count what users see."""
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()


def json_request(url: str, doc: Any, headers: dict[str, str] | None = None) -> OutboundRequest:
    return OutboundRequest(
        method="POST",
        url=url,
        headers={
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": USER_AGENT,
            **(headers or {}),
        },
        body=json_bytes(doc),
    )
