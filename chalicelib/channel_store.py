"""DynamoDB + KMS adapter for alert channels and their delivery records.

Items in the one table (generic ``pk``/``sk``):
  PROJECT#<id>      / CHANNEL#<channel id>   a channel: name, kind, public fields, sealed secrets,
                                             last_notify, last_error
  DELIVERY#<key>    / DELIVERY               the idempotency record of one (channel, flip,
                                             reminder): ``sending`` with a lease, or ``delivered``

A channel's secret fields (webhook and chat URLs, routing keys, API keys; see
``channels.config.SECRET_FIELDS``) are sealed with KMS ``Encrypt`` under the deployment's key,
bound by encryption context to the project and channel, so a sealed blob copied onto another
item does not decrypt. Only the notifier unseals, and only to send; nothing here logs a value.
The deployment topic's channel is not stored, only its delivery status (a ``status_only``
item), because the topic itself belongs to the deployment, not a project.
"""

from __future__ import annotations

import json
import uuid as uuidlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from chalicelib.channel_ports import ChannelUnreadable, StoredChannel
from chalicelib.dynamo import TTL_ATTRIBUTE

if TYPE_CHECKING:  # the channel kinds' modules are off the ping path (cold start)
    from chalicelib.channels.config import ChannelSpec

Item = dict[str, Any]
CHANNEL_PREFIX = "CHANNEL#"
DELIVERY_RECORD_DAYS = 30  # far beyond the retry window: a late duplicate is still caught


# KMS answers that no retry can change: the key is gone or disabled, or the blob is not its.
UNSEALABLE = frozenset(
    {
        "InvalidCiphertextException",
        "IncorrectKeyException",
        "DisabledException",
        "NotFoundException",
        "KMSInvalidStateException",
    }
)


class DynamoChannelStore:
    """``channel_ports.ChannelStore`` on the table, secrets sealed with KMS."""

    def __init__(
        self,
        dynamodb: Callable[[], Any],
        kms: Callable[[], Any],
        table: str,
        key_id: str,
    ) -> None:
        self._factories = {"dynamodb": dynamodb, "kms": kms}
        self._clients: dict[str, Any] = {}
        self.table = table
        self.key_id = key_id

    def _client(self, name: str) -> Any:
        if name not in self._clients:
            self._clients[name] = self._factories[name]()
        return self._clients[name]

    # --- channels -----------------------------------------------------------------------

    def create(self, project: str, spec: ChannelSpec, now: datetime) -> StoredChannel:
        channel_id = str(uuidlib.uuid4())
        secret = {k: v for k, v in spec.config.items() if k in spec.secret_fields}
        public = {k: v for k, v in spec.config.items() if k not in spec.secret_fields}
        sealed = self._seal(project, channel_id, secret) if secret else None
        item: Item = {
            **_channel_key(project, channel_id),
            "id": {"S": channel_id},
            "name": {"S": spec.name},
            "kind": {"S": spec.kind},
            "public": {"M": {k: {"S": v} for k, v in public.items()}},
            "created": {"S": now.astimezone(UTC).isoformat()},
            "last_error": {"S": ""},
        }
        if sealed is not None:
            item["sealed"] = {"B": sealed}
        self._client("dynamodb").put_item(
            TableName=self.table, Item=item, ConditionExpression="attribute_not_exists(pk)"
        )
        return _from_item(item)

    def list(self, project: str) -> list[StoredChannel]:
        """Every stored channel of the project (and the topic's status item), oldest first."""
        pages = (
            self._client("dynamodb")
            .get_paginator("query")
            .paginate(
                TableName=self.table,
                KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
                ExpressionAttributeValues={
                    ":pk": {"S": f"PROJECT#{project}"},
                    ":prefix": {"S": CHANNEL_PREFIX},
                },
                ConsistentRead=True,
            )
        )
        found = [_from_item(item) for page in pages for item in page.get("Items", [])]
        return sorted(found, key=lambda c: (c.kind == "status_only", c.created, c.id))

    def get(self, project: str, channel_id: str) -> StoredChannel | None:
        reply = self._client("dynamodb").get_item(
            TableName=self.table, Key=_channel_key(project, channel_id), ConsistentRead=True
        )
        item = reply.get("Item")
        if item is None or item["kind"]["S"] == "status_only":
            return None
        return _from_item(item)

    def delete(self, project: str, channel_id: str) -> bool:
        client = self._client("dynamodb")
        try:
            client.delete_item(
                TableName=self.table,
                Key=_channel_key(project, channel_id),
                ConditionExpression="attribute_exists(pk) AND #kind <> :status",
                ExpressionAttributeNames={"#kind": "kind"},
                ExpressionAttributeValues={":status": {"S": "status_only"}},
            )
        except client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def reveal(self, channel: StoredChannel) -> dict[str, str]:
        """The mapping ``channels.kinds.build_delivery`` takes: kind, public and secret fields."""
        secret: dict[str, str] = {}
        if channel.sealed is not None:
            kms = self._client("kms")
            try:
                reply = kms.decrypt(
                    CiphertextBlob=channel.sealed,
                    KeyId=self.key_id,
                    EncryptionContext=_context(channel.project, channel.id),
                )
            except kms.exceptions.ClientError as error:
                code = error.response.get("Error", {}).get("Code", "")
                if code in UNSEALABLE:
                    raise ChannelUnreadable(f"its secrets cannot be decrypted ({code})") from None
                raise  # throttling, an outage: the message is retried
            secret = json.loads(reply["Plaintext"])
        return {"kind": channel.kind, **channel.public, **secret}

    def record_result(
        self, project: str, channel_id: str, at: datetime, error: str, *, status_only: bool = False
    ) -> None:
        """``last_notify`` and ``last_error`` after an attempt; a deleted channel stays deleted."""
        values: Item = {
            ":at": {"S": at.astimezone(UTC).isoformat()},
            ":error": {"S": error[:500]},
        }
        names: dict[str, str] = {}
        update = "SET last_notify = :at, last_error = :error"
        condition = "attribute_exists(pk)"
        if status_only:  # the deployment topic: created on its first delivery
            update += ", #kind = if_not_exists(#kind, :kind), #id = if_not_exists(#id, :id)"
            names = {"#kind": "kind", "#id": "id"}
            values[":kind"] = {"S": "status_only"}
            values[":id"] = {"S": channel_id}
            condition = "attribute_not_exists(pk) OR #kind = :kind"
        client = self._client("dynamodb")
        try:
            client.update_item(
                TableName=self.table,
                Key=_channel_key(project, channel_id),
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeValues=values,
                **({"ExpressionAttributeNames": names} if names else {}),
            )
        except client.exceptions.ConditionalCheckFailedException:
            return  # deleted meanwhile: nothing to record

    def _seal(self, project: str, channel_id: str, secret: dict[str, str]) -> bytes:
        reply = self._client("kms").encrypt(
            KeyId=self.key_id,
            Plaintext=json.dumps(secret).encode(),
            EncryptionContext=_context(project, channel_id),
        )
        return bytes(reply["CiphertextBlob"])

    # --- delivery records (idempotency) -------------------------------------------------

    def claim_delivery(self, key: str, now: datetime, lease: timedelta) -> bool:
        """Take the right to send ``key``: False if it was delivered or another send is live.

        A lease, not a lock: a notifier that dies mid-send leaves a ``sending`` record whose
        lease runs out, and the retried message then claims it again (at least once).
        """
        client = self._client("dynamodb")
        expires = now + timedelta(days=DELIVERY_RECORD_DAYS)
        try:
            client.put_item(
                TableName=self.table,
                Item={
                    **_delivery_key(key),
                    "state": {"S": "sending"},
                    "lease_until": {"N": str(int((now + lease).timestamp()))},
                    TTL_ATTRIBUTE: {"N": str(int(expires.timestamp()))},
                },
                ConditionExpression=(
                    "attribute_not_exists(pk) OR (#state = :sending AND lease_until < :now)"
                ),
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues={
                    ":sending": {"S": "sending"},
                    ":now": {"N": str(int(now.timestamp()))},
                },
            )
        except client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def finish_delivery(self, key: str, delivered: bool) -> None:
        """Delivered: keep the record, so no retry sends again. Not: let the next try claim it."""
        client = self._client("dynamodb")
        if delivered:
            client.update_item(
                TableName=self.table,
                Key=_delivery_key(key),
                UpdateExpression="SET #state = :delivered REMOVE lease_until",
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues={":delivered": {"S": "delivered"}},
            )
        else:
            client.delete_item(TableName=self.table, Key=_delivery_key(key))


def _channel_key(project: str, channel_id: str) -> Item:
    return {"pk": {"S": f"PROJECT#{project}"}, "sk": {"S": CHANNEL_PREFIX + channel_id}}


def _delivery_key(key: str) -> Item:
    return {"pk": {"S": f"DELIVERY#{key}"}, "sk": {"S": "DELIVERY"}}


def _context(project: str, channel_id: str) -> dict[str, str]:
    return {"vigil:project": project, "vigil:channel": channel_id}


def _from_item(item: Item) -> StoredChannel:
    last = item.get("last_notify")
    sealed = item.get("sealed")
    return StoredChannel(
        id=item["id"]["S"] if "id" in item else item["sk"]["S"].removeprefix(CHANNEL_PREFIX),
        project=item["pk"]["S"].removeprefix("PROJECT#"),
        name=item.get("name", {}).get("S", ""),
        kind=item["kind"]["S"],
        public={k: v["S"] for k, v in item.get("public", {}).get("M", {}).items()},
        sealed=bytes(sealed["B"]) if sealed is not None else None,
        last_notify=datetime.fromisoformat(last["S"]) if last is not None else None,
        last_error=item.get("last_error", {}).get("S", ""),
        created=item.get("created", {}).get("S", ""),
    )
