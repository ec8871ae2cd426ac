"""Create or confirm the table and the alert topic. Safe to run any number of times."""

from __future__ import annotations

from typing import Any

from chalicelib.store import TABLE_SCHEMA, TTL_ATTRIBUTE

DEFAULT_TABLE = "vigil"
DEFAULT_TOPIC_NAME = "vigil-alerts"


def ensure_table(dynamodb: Any, name: str) -> None:
    """Create the table if it is missing, then make sure TTL is on. Existing data is untouched."""
    try:
        dynamodb.describe_table(TableName=name)
    except dynamodb.exceptions.ResourceNotFoundException:
        dynamodb.create_table(TableName=name, **TABLE_SCHEMA)
        dynamodb.get_waiter("table_exists").wait(
            TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 120}
        )
    ttl = dynamodb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
    if ttl.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
        dynamodb.update_time_to_live(
            TableName=name,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE},
        )


def ensure_topic(sns: Any, name: str) -> str:
    """CreateTopic is idempotent for an unchanged name and attributes: it returns the ARN."""
    return str(sns.create_topic(Name=name)["TopicArn"])


def bootstrap(dynamodb: Any, sns: Any, table: str, topic_name: str) -> dict[str, str]:
    ensure_table(dynamodb, table)
    return {"table": table, "topic_arn": ensure_topic(sns, topic_name)}
