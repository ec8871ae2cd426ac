"""Which channels a check alerts: Healthchecks' ``channels`` field, resolved and read back.

The API takes ``"*"`` (every channel the project has now), ``""`` (none) or a comma-separated
list of channel ids or names, and the check JSON reads back the ids (Healthchecks' own
``channels`` semantics). Resolution happens once, when the check is written, as Healthchecks
does: a channel added later is not added to existing checks by ``"*"``.

The deployment's SNS topic is a channel of kind ``sns`` with a stable id derived from its ARN.
Checks stored before channels existed carry no ``channel_ids`` and route to that topic when
``alerts_enabled`` (the old meaning), so upgrading changes nobody's alerts. A check created
without ``channels`` gets the topic too (Vigil's documented difference from Healthchecks,
whose default is none): an unmonitored check is what Vigil exists to prevent.
"""

from __future__ import annotations

import uuid as uuidlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from chalicelib.domain import Check
from chalicelib.errors import BadRequest


@dataclass(frozen=True)
class Named:
    """A channel as routing sees it: its id and name."""

    id: str
    name: str


def topic_channel_id(topic_arn: str) -> str:
    """The deployment topic's channel id: stable for one ARN, so clients may store it."""
    return str(uuidlib.uuid5(uuidlib.NAMESPACE_URL, topic_arn))


def resolve(identifiers: str, channels: Sequence[Named]) -> str:
    """The canonical ``channel_ids`` for a ``channels`` value, or the Healthchecks 400."""
    value = identifiers.strip()
    if value == "":
        return ""
    if value == "*":
        return ",".join(channel.id for channel in channels)
    chosen: list[str] = []
    for part in value.split(","):
        channel_id = _one(part.strip(), channels)
        if channel_id not in chosen:
            chosen.append(channel_id)
    return ",".join(chosen)


def _one(identifier: str, channels: Sequence[Named]) -> str:
    if not identifier:
        raise BadRequest("empty channel identifier")
    by_id = [c for c in channels if c.id == identifier]
    if by_id:
        return by_id[0].id
    by_name = [c for c in channels if c.name == identifier]
    if len(by_name) > 1:
        raise BadRequest(f"non-unique channel identifier: {identifier}")
    if not by_name:
        raise BadRequest(f"invalid channel identifier: {identifier}")
    return by_name[0].id


def routed_ids(check: Check, topic_id: str) -> list[str]:
    """The ids of the channels ``check`` alerts, in the order they were given."""
    if check.channel_ids is None:  # stored before channels existed
        return [topic_id] if check.alerts_enabled and topic_id else []
    return [part for part in check.channel_ids.split(",") if part]


def without(check: Check, channel_id: str, topic_id: str) -> str | None:
    """``check``'s channel ids once ``channel_id`` is gone, or None if it was not routed."""
    ids = routed_ids(check, topic_id)
    if channel_id not in ids:
        return None
    return ",".join(i for i in ids if i != channel_id)


def document_channels(document: Mapping[str, Any]) -> list[str]:
    """The channel ids an alert document goes to: its check's ``channels`` as of the flip."""
    check = document.get("check")
    channels = check.get("channels", "") if isinstance(check, Mapping) else ""
    return [part for part in str(channels).split(",") if part]
