"""Ports of the channel use cases: where channels are kept, and the notifier's queue.

``channel_service`` and ``notifier`` see only these; ``channel_store.DynamoChannelStore``
(DynamoDB + KMS) and ``notify_queue.SqsQueue`` implement them, and ``wiring`` picks them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # the channel kinds' modules are off the ping path (cold start)
    from chalicelib.channels.config import ChannelSpec

MAX_DELAY_SECONDS = 900  # SQS's DelaySeconds ceiling: a longer wait is re-queued in steps


@dataclass(frozen=True)
class StoredChannel:
    """A notification channel as stored: public fields in clear, secret ones sealed."""

    id: str
    project: str
    name: str
    kind: str  # a channel kind, or "status_only" for the deployment topic's delivery status
    public: dict[str, str] = field(default_factory=dict)  # the fields that are not secret
    sealed: bytes | None = None  # the secret fields, encrypted
    last_notify: datetime | None = None
    last_error: str = ""
    created: str = ""


class ChannelUnreadable(Exception):
    """A channel's sealed secrets cannot be decrypted: it fails alone until re-created."""


class ChannelStore(Protocol):
    def create(self, project: str, spec: ChannelSpec, now: datetime) -> StoredChannel:
        """Store a new channel, its secret fields sealed."""
        ...

    def list(self, project: str) -> list[StoredChannel]:
        """Every channel of the project (and the topic's status item), oldest first."""
        ...

    def get(self, project: str, channel_id: str) -> StoredChannel | None: ...

    def delete(self, project: str, channel_id: str) -> bool:
        """True if it existed."""
        ...

    def reveal(self, channel: StoredChannel) -> dict[str, str]:
        """Kind, public and secret fields; ``ChannelUnreadable`` if the secrets are lost."""
        ...

    def record_result(
        self, project: str, channel_id: str, at: datetime, error: str, *, status_only: bool = False
    ) -> None:
        """``last_notify`` and ``last_error`` after an attempt."""
        ...

    def claim_delivery(self, key: str, now: datetime, lease: timedelta) -> bool:
        """The right to send ``key``; False if it was delivered or another send is live."""
        ...

    def finish_delivery(self, key: str, delivered: bool) -> None: ...


class NotifyQueue(Protocol):
    def send(
        self,
        body: str,
        delay_seconds: int = 0,
        attributes: dict[str, dict[str, str]] | None = None,
    ) -> str:
        """Queue a message, visible after ``delay_seconds`` (at most ``MAX_DELAY_SECONDS``)."""
        ...

    def dead_letter(self, body: str) -> None:
        """Put a message whose retry budget is spent on the dead-letter queue."""
        ...
