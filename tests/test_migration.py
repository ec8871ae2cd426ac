"""The data migration ``make deploy`` runs: a table of the layout before issue 10, on moto.

Before: the due index ``due`` keyed by the exact ``alert_after`` (projecting ALL), and one
``PING#<n>`` item per ping. The test seeds that layout item by item, runs ``prepare``, lets the
old code move a deadline behind the migration's back, runs ``finish``, and then checks that the
API and the sweeper see everything: the old log entries, new pings numbered after them, the
moved deadline, one alert per check.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from chalicelib import migration, service, sweeps
from chalicelib.domain import Check, Ping
from chalicelib.dynamo import DUE_INDEX, LEGACY_DUE_INDEX, PROJECT_INDEX, TABLE_SCHEMA
from chalicelib.items import check_to_item
from chalicelib.management import authorize
from tests.conftest import T0, read_alerts

MINUTE = timedelta(minutes=1)

# The table as releases before issue 10 created it (chalicelib/dynamo.py TABLE_SCHEMA then).
LEGACY_SCHEMA: dict[str, Any] = {
    "AttributeDefinitions": [
        {"AttributeName": "pk", "AttributeType": "S"},
        {"AttributeName": "sk", "AttributeType": "S"},
        {"AttributeName": "due_shard", "AttributeType": "S"},
        {"AttributeName": "alert_after", "AttributeType": "N"},
        {"AttributeName": "project", "AttributeType": "S"},
    ],
    "KeySchema": [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ],
    "BillingMode": "PAY_PER_REQUEST",
    "GlobalSecondaryIndexes": [
        {
            "IndexName": LEGACY_DUE_INDEX,
            "KeySchema": [
                {"AttributeName": "due_shard", "KeyType": "HASH"},
                {"AttributeName": "alert_after", "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": "ALL"},
        },
        {
            "IndexName": PROJECT_INDEX,
            "KeySchema": [
                {"AttributeName": "project", "KeyType": "HASH"},
                {"AttributeName": "pk", "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": "KEYS_ONLY"},
        },
    ],
}


def legacy_check_item(check: Check, shards: int) -> dict[str, Any]:
    """A check item as the old code wrote it: every config attribute, no bucket, no log."""
    item = check_to_item(check, shards)
    for new_only in ("due_bucket", "log_base", "recent"):
        item.pop(new_only, None)
    item.update({"filter_body": {"BOOL": False}, "methods": {"S": ""}, "tz": {"S": "UTC"}})
    return item


def legacy_ping_item(check_uuid: str, number: int, at: datetime) -> dict[str, Any]:
    return {
        "pk": {"S": f"CHECK#{check_uuid}"},
        "sk": {"S": f"PING#{number:010d}"},
        "n": {"N": str(number)},
        "at": {"S": at.astimezone(UTC).isoformat()},
        "kind": {"S": "start" if number % 10 == 0 else "success"},
        "method": {"S": "POST"},
        "ua": {"S": "curl/8.5.0"},
        "remote_addr": {"S": "203.0.113.7"},
        "scheme": {"S": "https"},
        "body": {"B": b"old body %d" % number},
        "expires": {"N": str(int((at + timedelta(days=366)).timestamp()))},
    }


@pytest.fixture
def legacy_table(aws: dict[str, str], deps: Any) -> Any:
    """The fixture's table, recreated in the old layout."""
    ddb = boto3.client("dynamodb")
    table = deps.settings.table
    ddb.update_table(TableName=table, DeletionProtectionEnabled=False)
    ddb.delete_table(TableName=table)
    ddb.create_table(TableName=table, **LEGACY_SCHEMA)
    return ddb


def old_check(project: Any, index: int, **fields: Any) -> Check:
    defaults: dict[str, Any] = {"timeout": 60, "grace": 60, "status": "up", "last_ping": T0}
    return Check(
        uuid=f"00000000-0000-4000-8000-{index:012d}",
        project=project.project,
        created=T0 - timedelta(days=30),
        name=f"old-{index}",
        badge_key=f"badge-{index}",
        **{**defaults, **fields},
    )


def test_old_layout_items_migrate_and_the_api_and_sweeper_see_them(
    legacy_table: Any, deps: Any, project: Any, client: Any, aws: dict[str, str]
) -> None:
    ddb, table, shards = legacy_table, deps.settings.table, deps.settings.due_shards
    busy = old_check(project, 1, n_pings=130)  # pinged every minute until T0
    quiet = old_check(project, 2, n_pings=3, timeout=3600)
    for check in (busy, quiet):
        ddb.put_item(TableName=table, Item=legacy_check_item(check, shards))
        first = max(check.n_pings - 120, 1)  # the old prune left up to 120 behind
        for number in range(first, check.n_pings + 1):
            at = T0 - (check.n_pings - number) * MINUTE
            ddb.put_item(TableName=table, Item=legacy_ping_item(check.uuid, number, at))

    before = migration.prepare(ddb, table, shards, sleep=lambda _: None)

    assert before.index_created and before.buckets_written == 2
    assert migration.indexes(ddb, table) == {LEGACY_DUE_INDEX, DUE_INDEX, PROJECT_INDEX}
    # The old code, still live, shortens the quiet check's timeout behind the migration's back.
    ddb.update_item(
        TableName=table,
        Key={"pk": {"S": f"CHECK#{quiet.uuid}"}, "sk": {"S": "CHECK"}},
        UpdateExpression="SET #timeout = :t, alert_after = :due",
        ExpressionAttributeNames={"#timeout": "timeout"},
        ExpressionAttributeValues={
            ":t": {"N": "60"},
            ":due": {"N": str((T0 + 2 * MINUTE).timestamp())},
        },
    )

    after = migration.finish(ddb, table, shards, deps.settings.ping_log_limit)

    assert after.index_dropped and after.buckets_written == 1  # the moved deadline
    assert after.legacy_pings_deleted == 21  # busy's 10..30: older than its newest 100
    assert migration.indexes(ddb, table) == {DUE_INDEX, PROJECT_INDEX}
    key = {"X-Api-Key": project.api_key}

    def listed(check: Check) -> list[dict[str, Any]]:
        reply = client.http.get(f"/api/v3/checks/{check.uuid}/pings/", headers=key)
        assert reply.status_code == 200, reply.body
        pings: list[dict[str, Any]] = json.loads(reply.body)["pings"]
        return pings

    old = listed(busy)
    assert [p["n"] for p in old] == list(range(130, 30, -1))
    assert old[0]["date"] == T0.isoformat() and old[0]["ua"] == "curl/8.5.0"
    assert old[0]["type"] == "start" and old[0]["body_url"]
    # New pings are numbered after the old entries, and listed with them.
    opener = Ping("success", body=b"first under the new code")
    assert service.record_ping(deps, busy.uuid, opener, T0 + MINUTE // 4).n_pings == 131
    for quarter in range(2, 8):
        service.record_ping(deps, busy.uuid, Ping("success"), T0 + quarter * MINUTE // 4)
    new = listed(busy)
    assert [p["n"] for p in new] == list(range(137, 37, -1))
    for number, body in ((131, b"first under the new code"), (120, b"old body 120")):
        got = client.http.get(f"/api/v3/checks/{busy.uuid}/pings/{number}/body", headers=key)
        assert (got.status_code, got.body) == (200, body)
    grant = authorize(deps, project.api_key, write=False)
    assert grant.project == project.project

    # The sweeper finds both through the new index: the busy one by its last ping, the quiet
    # one by the deadline the old code moved.
    report = sweeps.sweep(deps, T0 + 10 * MINUTE)

    assert (report.flipped, report.errors) == (2, 0)
    alerted = sorted(a["document"]["check"]["uuid"] for a in read_alerts(aws["queue_url"]))
    assert alerted == sorted([busy.uuid, quiet.uuid])
    assert list(deps.store.due_checks(T0 + 11 * MINUTE)) == []


def test_a_migrated_table_is_left_alone(deps: Any) -> None:
    ddb = boto3.client("dynamodb")
    table = deps.settings.table
    assert migration.prepare(ddb, table, 4, sleep=lambda _: None) == migration.MigrationReport()
    assert migration.finish(ddb, table, 4, 100) == migration.MigrationReport()


def test_the_cli_steps_migrate_a_table_cloudformation_owns(
    legacy_table: Any, deps: Any, project: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib import cli

    ddb, table = legacy_table, deps.settings.table
    check = old_check(project, 3, n_pings=150)
    ddb.put_item(TableName=table, Item=legacy_check_item(check, deps.settings.due_shards))
    for number in range(1, 151):
        ddb.put_item(TableName=table, Item=legacy_ping_item(check.uuid, number, T0))
    monkeypatch.setenv("VIGIL_TABLE", table)

    backfilled = cli.run_migration("backfill")
    # The stack update that adds the index (the template keeps the old one too) comes here.
    ddb.update_table(
        TableName=table,
        AttributeDefinitions=[{"AttributeName": "due_bucket", "AttributeType": "N"}],
        GlobalSecondaryIndexUpdates=[
            {
                "Create": next(
                    i for i in TABLE_SCHEMA["GlobalSecondaryIndexes"] if i["IndexName"] == DUE_INDEX
                )
            }
        ],
    )
    pruned = cli.run_migration("prune-log")

    assert (backfilled.buckets_written, pruned.legacy_pings_deleted) == (1, 50)
    assert [c.uuid for c in deps.store.due_checks(T0 + 3 * MINUTE)] == [check.uuid]
    assert len(deps.store.pings(check.uuid, newest=150, limit=100)) == 100


def test_a_transitional_template_keeps_the_old_index(monkeypatch: pytest.MonkeyPatch) -> None:
    from tools import template

    plain = template._table_schema()
    assert [i["IndexName"] for i in plain["GlobalSecondaryIndexes"]] == [DUE_INDEX, PROJECT_INDEX]
    monkeypatch.setenv(template.KEEP_LEGACY_DUE_INDEX, "1")
    both = template._table_schema()
    names = [i["IndexName"] for i in both["GlobalSecondaryIndexes"]]
    assert names == [DUE_INDEX, PROJECT_INDEX, LEGACY_DUE_INDEX]
    defined = {d["AttributeName"] for d in both["AttributeDefinitions"]}
    assert {"due_bucket", "alert_after", "due_shard"} <= defined


def test_a_project_from_before_the_graph_version_needs_no_migration(
    deps: Any, project: Any, client: Any
) -> None:
    """Releases before it kept no dependency graph version: a project without its item is at
    version 0, is validated as before, and its first edit of a ``depends_on`` starts the count."""
    upstream = old_check(project, 1)
    downstream = old_check(project, 2, depends_on=(upstream.uuid,))
    ddb = boto3.client("dynamodb")
    for check in (upstream, downstream):
        item = check_to_item(check, deps.settings.due_shards)
        ddb.put_item(TableName=deps.settings.table, Item=item)
    assert deps.store.graph_version(project.project) == 0

    def edit(check: Check, upstreams: list[str]) -> Any:
        return client.http.post(
            f"/api/v3/checks/{check.uuid}",
            headers={"X-Api-Key": project.api_key, "Content-Type": "application/json"},
            body=json.dumps({"depends_on": upstreams}),
        )

    cycle = edit(upstream, [downstream.uuid])
    assert cycle.status_code == 400
    assert json.loads(cycle.body) == {
        "error": f"invalid dependency: {upstream.uuid} would depend on itself (a cycle)"
    }
    assert deps.store.graph_version(project.project) == 0  # a refused edit moves nothing
    assert edit(downstream, []).status_code == 200
    assert deps.store.graph_version(project.project) == 1
    assert edit(upstream, [downstream.uuid]).status_code == 200  # no cycle any more
    assert deps.store.graph_version(project.project) == 2
