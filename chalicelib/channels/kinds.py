"""One entry point for the notifier: a stored channel plus an alert → what to send.

A channel is the mapping the channel store keeps (secrets decrypted by the caller):
``{"kind": ..., <kind fields>}`` with the fields of issue 12's table. Validation of those
fields at creation time belongs to the API; here a missing field is a ``ChannelConfigError``
so one bad channel fails alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from chalicelib.channels.chatbot import build_sns
from chalicelib.channels.discord import build_discord
from chalicelib.channels.message import OutboundRequest, SnsMessage
from chalicelib.channels.msteams import build_msteams
from chalicelib.channels.opsgenie import build_opsgenie
from chalicelib.channels.pagerduty import build_pagerduty
from chalicelib.channels.slack import build_slack
from chalicelib.channels.webhook import build_webhook

KINDS = ("webhook", "slack", "msteams", "discord", "pagerduty", "opsgenie", "sns")


class ChannelConfigError(ValueError):
    """A stored channel lacks a field its kind needs, or names an unknown kind."""


def build_delivery(
    channel: Mapping[str, Any], document: Mapping[str, Any], now: datetime
) -> OutboundRequest | SnsMessage:
    kind = channel.get("kind")
    try:
        if kind == "webhook":
            return build_webhook(channel["url"], channel["secret"], document, now)
        if kind == "slack":
            return build_slack(channel["url"], document)
        if kind == "msteams":
            return build_msteams(channel["url"], document)
        if kind == "discord":
            return build_discord(channel["url"], document)
        if kind == "pagerduty":
            return build_pagerduty(channel["routing_key"], document, channel.get("url") or None)
        if kind == "opsgenie":
            return build_opsgenie(
                channel["api_key"],
                document,
                region=channel.get("region") or "us",
                url=channel.get("url") or None,
            )
        if kind == "sns":
            return build_sns(channel["topic_arn"], channel.get("format") or "vigil", document)
    except KeyError as missing:
        raise ChannelConfigError(f"{kind} channel has no {missing.args[0]}") from None
    except ValueError as bad:
        raise ChannelConfigError(str(bad)) from None
    raise ChannelConfigError(f"unknown channel kind {kind!r}")
