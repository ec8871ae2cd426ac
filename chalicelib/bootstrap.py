"""Create or confirm the table, the alert topic and the topic's key. Safe to run again and again.

Every setting is read first and written only when it differs, so a second run changes nothing.
The table: on-demand billing, deletion protection, server-side encryption with the AWS managed
key, point-in-time recovery, and TTL on ``expires``. Existing data is never touched.

The topic is encrypted with a customer managed KMS key, not the AWS managed ``alias/aws/sns``:
CloudWatch alarms cannot publish to a topic under the AWS managed key (its key policy cannot be
edited to let ``cloudwatch.amazonaws.com`` use it, and the alarm action fails with "CloudWatch
Alarms does not have authorization to access the SNS topic encryption key"). The watchman alarms
publish to this same topic, so its key must allow CloudWatch.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chalicelib.dynamo import TABLE_SCHEMA, TTL_ATTRIBUTE

DEFAULT_TABLE = "vigil"
DEFAULT_TOPIC_NAME = "vigil-alerts"
# DynamoDB refuses a second table update while the first is applied; wait for ACTIVE between.
_TABLE_WAIT = {"Delay": 2, "MaxAttempts": 300}
# Right after CreateTable, PITR can answer ContinuousBackupsUnavailable for a minute or so.
_PITR_ATTEMPTS = 30
_PITR_RETRY_SECONDS = 5.0
CLOUDWATCH_SID = "AllowCloudWatchAlarmsToPublish"


@dataclass(frozen=True)
class Provisioned:
    table: str
    table_arn: str
    topic_arn: str
    topic_key_arn: str


def bootstrap(
    dynamodb: Any, sns: Any, table: str, topic_name: str, kms: Any = None
) -> dict[str, str]:
    """The CLI contract: ``{"table", "topic_arn"}``."""
    if kms is None:
        from chalicelib.wiring import aws_client

        kms = aws_client("kms")
    done = provision(dynamodb, sns, kms, table, topic_name)
    return {"table": done.table, "topic_arn": done.topic_arn}


def provision(dynamodb: Any, sns: Any, kms: Any, table: str, topic_name: str) -> Provisioned:
    description = ensure_table(dynamodb, table)
    table_arn = str(description["TableArn"])
    key_arn = ensure_topic_key(kms, topic_name, table_arn)
    return Provisioned(table, table_arn, ensure_topic(sns, topic_name, key_arn), key_arn)


# --- table ------------------------------------------------------------------------------


def ensure_table(
    dynamodb: Any, name: str, sleep: Callable[[float], None] = time.sleep
) -> dict[str, Any]:
    """Create the table if missing, then bring each protection up to date; describe it."""
    try:
        table = dynamodb.describe_table(TableName=name)["Table"]
    except dynamodb.exceptions.ResourceNotFoundException:
        dynamodb.create_table(
            TableName=name,
            **TABLE_SCHEMA,
            SSESpecification={"Enabled": True, "SSEType": "KMS"},
            DeletionProtectionEnabled=True,
        )
        table = _wait_active(dynamodb, name)
    if not table.get("DeletionProtectionEnabled"):
        dynamodb.update_table(TableName=name, DeletionProtectionEnabled=True)
        table = _wait_active(dynamodb, name)
    if table.get("SSEDescription", {}).get("Status") not in ("ENABLED", "ENABLING", "UPDATING"):
        # An older table on the AWS owned key: move it to the AWS managed key (auditable in KMS).
        dynamodb.update_table(TableName=name, SSESpecification={"Enabled": True, "SSEType": "KMS"})
        table = _wait_active(dynamodb, name)
    _ensure_pitr(dynamodb, name, sleep)
    _ensure_ttl(dynamodb, name)
    return dict(table)


def _wait_active(dynamodb: Any, name: str) -> dict[str, Any]:
    dynamodb.get_waiter("table_exists").wait(TableName=name, WaiterConfig=_TABLE_WAIT)
    return dict(dynamodb.describe_table(TableName=name)["Table"])


def _ensure_pitr(dynamodb: Any, name: str, sleep: Callable[[float], None]) -> None:
    for _ in range(_PITR_ATTEMPTS):
        try:
            reply = dynamodb.describe_continuous_backups(TableName=name)
            status = reply["ContinuousBackupsDescription"].get("PointInTimeRecoveryDescription", {})
            if status.get("PointInTimeRecoveryStatus") == "ENABLED":
                return
            dynamodb.update_continuous_backups(
                TableName=name,
                PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
            )
            return
        except dynamodb.exceptions.ContinuousBackupsUnavailableException:
            sleep(_PITR_RETRY_SECONDS)
    raise RuntimeError(f"point-in-time recovery of {name} stayed unavailable; run bootstrap again")


def _ensure_ttl(dynamodb: Any, name: str) -> None:
    ttl = dynamodb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
    if ttl.get("TimeToLiveStatus") in ("ENABLED", "ENABLING"):
        if ttl.get("AttributeName") != TTL_ATTRIBUTE:
            raise RuntimeError(
                f"table {name} has TTL on {ttl.get('AttributeName')!r}, Vigil needs "
                f"{TTL_ATTRIBUTE!r}; is it another application's table?"
            )
        return
    dynamodb.update_time_to_live(
        TableName=name,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE},
    )


# --- topic and its key --------------------------------------------------------------------


def topic_key_policy(account_root: Any) -> dict[str, Any]:
    """The account administers the key through IAM; CloudWatch alarms may encrypt with it.

    ``account_root`` is the account's root ARN, or a CloudFormation expression of it.
    """
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AccountAdministersThroughIam",
                "Effect": "Allow",
                "Principal": {"AWS": account_root},
                "Action": "kms:*",
                "Resource": "*",
            },
            cloudwatch_key_statement(),
        ],
    }


def cloudwatch_key_statement() -> dict[str, Any]:
    """What an alarm action needs to publish to the encrypted topic.

    This is AWS's documented form, without conditions: a condition such as kms:CallerAccount
    has been reported to make the alarm action fail, and a failing watchman is silent. Only
    alarms that may publish to the topic (its access policy: this account) ever use the key.
    """
    return {
        "Sid": CLOUDWATCH_SID,
        "Effect": "Allow",
        "Principal": {"Service": "cloudwatch.amazonaws.com"},
        "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
        "Resource": "*",
    }


def ensure_topic_key(kms: Any, topic_name: str, table_arn: str) -> str:
    """The key behind ``alias/<topic>``: created once, rotated yearly, usable by CloudWatch."""
    partition, account = _arn_partition_and_account(table_arn)
    alias = f"alias/{topic_name}"
    try:
        key = kms.describe_key(KeyId=alias)["KeyMetadata"]
    except kms.exceptions.NotFoundException:
        key = kms.create_key(
            Description=f"Vigil: encrypts the {topic_name} alert topic",
            Policy=json.dumps(topic_key_policy(f"arn:{partition}:iam::{account}:root")),
        )["KeyMetadata"]
        kms.create_alias(AliasName=alias, TargetKeyId=key["KeyId"])
    if key.get("KeyState") == "PendingDeletion":
        raise RuntimeError(f"{alias} is scheduled for deletion; cancel that or rename the topic")
    if not kms.get_key_rotation_status(KeyId=key["KeyId"])["KeyRotationEnabled"]:
        kms.enable_key_rotation(KeyId=key["KeyId"])
    _ensure_cloudwatch_may_use(kms, key["KeyId"])
    return str(key["Arn"])


def _ensure_cloudwatch_may_use(kms: Any, key_id: str) -> None:
    policy = json.loads(kms.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"])
    if any(s.get("Sid") == CLOUDWATCH_SID for s in policy.get("Statement", [])):
        return
    policy.setdefault("Statement", []).append(cloudwatch_key_statement())
    kms.put_key_policy(KeyId=key_id, PolicyName="default", Policy=json.dumps(policy))


def ensure_topic(sns: Any, name: str, key_arn: str) -> str:
    """Create the topic if missing (read first, so a re-run only reads); then its encryption."""
    _, partition, _, region, account, _ = key_arn.split(":", 5)
    arn = f"arn:{partition}:sns:{region}:{account}:{name}"
    try:
        attributes = sns.get_topic_attributes(TopicArn=arn)["Attributes"]
    except sns.exceptions.NotFoundException:
        arn = str(sns.create_topic(Name=name)["TopicArn"])
        attributes = {}
    if attributes.get("KmsMasterKeyId") != key_arn:
        sns.set_topic_attributes(
            TopicArn=arn, AttributeName="KmsMasterKeyId", AttributeValue=key_arn
        )
    return arn


def _arn_partition_and_account(arn: str) -> tuple[str, str]:
    parts = arn.split(":")
    return parts[1], parts[4]
