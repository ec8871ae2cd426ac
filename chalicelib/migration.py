"""Bring a table of an older release to the current layout, without losing a ping or a deadline.

Releases before issue 10 kept the due index keyed by the exact ``alert_after`` (index ``due``,
projecting ALL) and one item per ping (``PING#<n>``, pruned every 100 pings). ``make deploy``
(``tools/deploy.py``) runs the steps in this order, each idempotent:

1. ``prepare`` (before the new code goes live): add the ``due_buckets`` index (DynamoDB
   allows one index creation per UpdateTable), backfill ``due_bucket`` on every check that has
   a deadline, and wait until the index is ACTIVE. The old code keeps working meanwhile: it
   neither reads nor writes the new attribute.
2. ``chalice deploy``: the new code reads ``due_buckets`` and keeps ``due_bucket`` in step.
3. ``finish`` (after): backfill again, for the checks the old code moved between step 1 and
   the switch (a conditional write each, so a ping of the new code is never overwritten); then
   delete the ``due`` index; then delete the old log entries the retention no longer lists.

A stack from ``make package`` owns its table, and CloudFormation creates or deletes one index
per stack update, so there the steps are ``python -m chalicelib.cli migrate backfill``, a stack
update whose template keeps the old index too (``VIGIL_PACKAGE_KEEP_LEGACY_DUE_INDEX=1 make
package``), ``migrate backfill`` again, a stack update with the plain template, and
``migrate prune-log`` (docs/deploy.md, "Upgrading").

The old log entries still listed stay where they are: the new code reads them next to the
ping ring (``DynamoStore.pings``) and a check's first ping under the new code starts its ring
at its own number, so none is lost. They are hidden once older than ``VIGIL_PING_LOG_LIMIT``
and deleted by their TTL, or at once by ``python -m chalicelib.cli migrate prune-log``.

The version of a project's dependency graph (``PROJECT#<id>`` / ``GRAPH``, which serialises
edits of ``depends_on``) needs no step: a project without the item is at version 0, and its
first such edit writes it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from chalicelib import items
from chalicelib.dynamo import DUE_INDEX, LEGACY_DUE_INDEX, TABLE_SCHEMA
from chalicelib.items import Item

BATCH_WRITE_LIMIT = 25
_WAIT_SECONDS = 10.0
_WAIT_ATTEMPTS = 360  # an hour: index backfill time grows with the table


@dataclass
class MigrationReport:
    index_created: bool = False
    index_dropped: bool = False
    buckets_written: int = 0
    buckets_skipped: int = 0  # moved by a ping between the scan and the write: already right
    legacy_pings_deleted: int = 0
    notes: list[str] = field(default_factory=list)


def indexes(dynamodb: Any, table: str) -> set[str]:
    described = dynamodb.describe_table(TableName=table)["Table"]
    return {index["IndexName"] for index in described.get("GlobalSecondaryIndexes", [])}


def prepare(
    dynamodb: Any,
    table: str,
    shards: int,
    sleep: Callable[[float], None] = time.sleep,
) -> MigrationReport:
    """Step 1: the bucketed index exists, is backfilled and ACTIVE."""
    report = MigrationReport()
    if DUE_INDEX not in indexes(dynamodb, table):
        due_index = next(
            i for i in TABLE_SCHEMA["GlobalSecondaryIndexes"] if i["IndexName"] == DUE_INDEX
        )
        dynamodb.update_table(
            TableName=table,
            AttributeDefinitions=TABLE_SCHEMA["AttributeDefinitions"],
            GlobalSecondaryIndexUpdates=[{"Create": due_index}],
        )
        report.index_created = True
        _wait_for_index(dynamodb, table, sleep)
    if report.index_created or LEGACY_DUE_INDEX in indexes(dynamodb, table):
        backfill_buckets(dynamodb, table, shards, report)
    return report


def finish(
    dynamodb: Any,
    table: str,
    shards: int,
    ping_log_limit: int,
) -> MigrationReport:
    """Step 3: catch up with the old code's last writes, drop the old index and old entries."""
    report = MigrationReport()
    if LEGACY_DUE_INDEX not in indexes(dynamodb, table):
        return report  # migrated by an earlier deploy
    backfill_buckets(dynamodb, table, shards, report)
    dynamodb.update_table(
        TableName=table, GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": LEGACY_DUE_INDEX}}]
    )
    report.index_dropped = True
    delete_unlisted_legacy_pings(dynamodb, table, ping_log_limit, report)
    return report


def backfill_buckets(dynamodb: Any, table: str, shards: int, report: MigrationReport) -> None:
    """Give every check with a deadline the bucket and shard of that deadline."""
    for item in _scan(dynamodb, table, "sk = :check", {":check": {"S": items.CHECK_SK}}):
        update = _bucket_update(item, shards)
        if update is None:
            continue
        try:
            dynamodb.update_item(
                TableName=table, Key={"pk": item["pk"], "sk": item["sk"]}, **update
            )
            report.buckets_written += 1
        except dynamodb.exceptions.ConditionalCheckFailedException:
            report.buckets_skipped += 1  # written since by the new code, which keeps it right


def _bucket_update(item: Item, shards: int) -> dict[str, Any] | None:
    """The conditional update that makes ``item``'s index keys match its deadline, or None."""
    check_uuid = item["pk"]["S"].removeprefix("CHECK#")
    if "alert_after" not in item:
        if "due_bucket" not in item:
            return None
        return {
            "UpdateExpression": "REMOVE due_bucket",
            "ConditionExpression": "attribute_not_exists(alert_after)",
        }
    deadline = float(item["alert_after"]["N"])
    bucket = items.bucket_start(deadline)
    shard = items.due_shard(check_uuid, shards)
    wanted = {"due_bucket": items.n(bucket), "due_shard": {"S": shard}}
    if all(item.get(name) == value for name, value in wanted.items()):
        return None
    return {
        "UpdateExpression": "SET due_bucket = :bucket, due_shard = :shard",
        "ConditionExpression": "alert_after = :deadline",
        "ExpressionAttributeValues": {
            ":bucket": wanted["due_bucket"],
            ":shard": wanted["due_shard"],
            ":deadline": item["alert_after"],
        },
    }


def delete_unlisted_legacy_pings(
    dynamodb: Any, table: str, ping_log_limit: int, report: MigrationReport
) -> None:
    """Delete the one-item-per-ping entries older than the newest ``ping_log_limit``."""
    counts: dict[str, int] = {}
    legacy: list[tuple[Item, int]] = []
    projection = {
        "ProjectionExpression": "pk, sk, n_pings, #n",
        "ExpressionAttributeNames": {"#n": "n"},
    }
    for item in _scan(dynamodb, table, None, None, projection):
        sk = item["sk"]["S"]
        if sk == items.CHECK_SK:
            counts[item["pk"]["S"]] = int(item["n_pings"]["N"])
        elif sk.startswith(items.LEGACY_PING_PREFIX) and "n" in item:
            legacy.append(({"pk": item["pk"], "sk": item["sk"]}, int(item["n"]["N"])))
    doomed = [
        key for key, number in legacy if number <= counts.get(key["pk"]["S"], 0) - ping_log_limit
    ]
    for start in range(0, len(doomed), BATCH_WRITE_LIMIT):
        pending: dict[str, Any] = {
            table: [
                {"DeleteRequest": {"Key": k}} for k in doomed[start : start + BATCH_WRITE_LIMIT]
            ]
        }
        while pending:
            pending = dynamodb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
    report.legacy_pings_deleted = len(doomed)


def legacy_due_index() -> dict[str, Any]:
    """The index of releases before the buckets, for a transitional template."""
    return {
        "IndexName": LEGACY_DUE_INDEX,
        "KeySchema": [
            {"AttributeName": "due_shard", "KeyType": "HASH"},
            {"AttributeName": "alert_after", "KeyType": "RANGE"},
        ],
        "Projection": {"ProjectionType": "ALL"},
    }


def _scan(
    dynamodb: Any,
    table: str,
    condition: str | None,
    values: Item | None,
    extra: dict[str, Any] | None = None,
) -> Iterator[Item]:
    kwargs: dict[str, Any] = {"TableName": table, "ConsistentRead": True, **(extra or {})}
    if condition is not None:
        kwargs["FilterExpression"] = condition
        kwargs["ExpressionAttributeValues"] = values
    for page in dynamodb.get_paginator("scan").paginate(**kwargs):
        yield from page.get("Items", [])


def _wait_for_index(dynamodb: Any, table: str, sleep: Callable[[float], None]) -> None:
    for _ in range(_WAIT_ATTEMPTS):
        described = dynamodb.describe_table(TableName=table)["Table"]
        status = {
            index["IndexName"]: index.get("IndexStatus", "ACTIVE")
            for index in described.get("GlobalSecondaryIndexes", [])
        }
        if status.get(DUE_INDEX) == "ACTIVE":
            return
        sleep(_WAIT_SECONDS)
    raise RuntimeError(f"index {DUE_INDEX} of {table} is still not ACTIVE; run make deploy again")
