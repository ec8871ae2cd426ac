"""SQS adapter for the notifier, the alerter that routes an alert, and their provisioning.

Path of an alert (issue 12): the sweeper (or a ping) publishes it to the deployment's topic,
which SQS-subscribes the notify queue (raw delivery, filtered to Vigil alerts so the watchman's
CloudWatch alarms on the same topic stay out). A check routed to stored channels but not to
the topic must not reach the topic's subscribers (Healthchecks' per-check routing), so its
alert goes straight onto the notify queue instead, in the same form. Either way the notifier
fans out one delivery message per channel.

The dead-letter queue takes deliveries whose retry budget is spent (the notifier puts them
there); provisioning and the redrive policy are in ``notify_setup``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from chalicelib.alerts import Alert
from chalicelib.channel_ports import MAX_DELAY_SECONDS, NotifyQueue
from chalicelib.errors import ConfigError
from chalicelib.routing import routed_ids
from chalicelib.sns import SnsAlerter, sns_message

if TYPE_CHECKING:  # the channel kinds' modules are off the ping path (cold start)
    from chalicelib.channels.delivery import Outcome
    from chalicelib.channels.message import SnsMessage


class SqsQueue:
    """``channel_ports.NotifyQueue`` on SQS, with its dead letters. The client is built lazily."""

    def __init__(self, client_factory: Callable[[], Any], url: str, dead_letter_url: str) -> None:
        self._client_factory = client_factory
        self._client: Any = None
        self.url = url
        self.dead_letter_url = dead_letter_url

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = self._client_factory()
        return self._client

    def send(
        self,
        body: str,
        delay_seconds: int = 0,
        attributes: dict[str, dict[str, str]] | None = None,
    ) -> str:
        reply = self.client.send_message(
            QueueUrl=self.url,
            MessageBody=body,
            DelaySeconds=max(0, min(MAX_DELAY_SECONDS, delay_seconds)),
            MessageAttributes=_sqs_attributes(attributes or {}),
        )
        return str(reply["MessageId"])

    def dead_letter(self, body: str) -> None:
        self.client.send_message(QueueUrl=self.dead_letter_url, MessageBody=body)


class RoutingAlerter(SnsAlerter):
    """Publishes to the topic when the check routes there, else queues for the notifier."""

    def __init__(
        self,
        client_factory: Callable[[], Any],
        topic_arn: str,
        queue: NotifyQueue | None,
        topic_channel_id: str,
    ) -> None:
        super().__init__(client_factory, topic_arn)
        self.queue = queue
        self.topic_channel_id = topic_channel_id

    def publish(self, alert: Alert) -> str:
        """The message id; raises (and the flip stays in the outbox) if it cannot be routed."""
        ids = routed_ids(alert.check, self.topic_channel_id)
        # The document's ``check.channels`` names where the alert goes, for older checks too:
        # the notifier fans out from it.
        alert = replace(alert, check=replace(alert.check, channel_ids=",".join(ids)))
        if self.topic_channel_id in ids:
            return super().publish(alert)
        if self.queue is None:
            # Publishing to the topic instead would alert subscribers the check is not
            # routed to; failing keeps the flip in the outbox until a notifier exists.
            raise ConfigError("VIGIL_NOTIFY_QUEUE_URL is not set: cannot reach the channels")
        message = sns_message(alert)  # the document cut to fit, and the filter attributes
        attributes = {
            name: {"DataType": value["DataType"], "StringValue": value.get("StringValue", "")}
            for name, value in message.attributes.items()
        }
        return self.queue.send(json.dumps(message.document, sort_keys=True), 0, attributes)


def _sqs_attributes(attributes: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    # SNS's String.Array is a custom String type to SQS: same value, same label.
    return {
        name: {"DataType": value["DataType"], "StringValue": value["StringValue"]}
        for name, value in attributes.items()
        if value.get("StringValue")
    }


class SnsPublisher:
    """Publishes a ``sns`` channel's message (e.g. AWS Chatbot's format) to its own topic."""

    def __init__(self, client_factory: Callable[[], Any]) -> None:
        self._client_factory = client_factory
        self._client: Any = None

    def __call__(self, message: SnsMessage) -> Outcome:
        from botocore.exceptions import BotoCoreError, ClientError

        from chalicelib.channels.delivery import HttpReply, NetworkError

        if self._client is None:
            self._client = self._client_factory()
        params: dict[str, Any] = {"TopicArn": message.topic_arn, "Message": message.message}
        if message.subject:
            params["Subject"] = message.subject
        if message.attributes:
            params["MessageAttributes"] = message.attributes
        try:
            self._client.publish(**params)
        except ClientError as error:
            status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 500))
            text = error.response.get("Error", {}).get("Code", "ClientError")
            return HttpReply(status, {}, text.encode())
        except BotoCoreError as error:
            return NetworkError(type(error).__name__)
        return HttpReply(200)
