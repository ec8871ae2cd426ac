"""DynamoDB adapter: the one table, and the conditional writes that keep it honest.

``DynamoStore`` implements ``chalicelib.store.CheckStore``.

Items (generic ``pk``/``sk`` keys):
  CHECK#<uuid>            / CHECK            config + state of a check, and its newest pings
  CHECK#<uuid>            / LOG#<slot>       a page of older pings (a ring slot)
  CHECK#<uuid>            / BODY#<slot>      a ping body too long for its log entry (a ring slot)
  CHECK#<uuid>            / PING#<n:010d>    a ping-log entry of a release before the ring
  CHECK#<uuid>            / FLIP#<at>#<id>   one recorded flip
  PROJECT#<id>            / PROJECT          a project (name, badge key and secret)
  PROJECT#<id>            / GRAPH            the version of its dependency graph (absent: 0)
  KEY#<sha256>            / KEY              an API or ping key, hashed, pointing at its project
  SLUG#<project>#<slug>   / SLUG             the set of checks with that slug (strongly consistent)
  BADGE#<key>             / BADGE            a project's or a check's badge key

The ``due_buckets`` index is sparse: only checks with a pending ``alert_after`` carry
``due_shard`` and ``due_bucket`` (``alert_after`` rounded down to ``items.DUE_BUCKET_SECONDS``),
so the sweeper reads the checks due or about to be and nothing else. It is KEYS_ONLY and keyed
by the bucket, so a ping that moves ``alert_after`` inside its bucket does not write it. The
partition key spreads checks over ``due_shards`` shards (``VIGIL_DUE_SHARDS``), a detail no
caller sees.

A ping is one conditional UpdateItem of the check item, which also appends the ping to the
item's ``recent`` list (``items.log_entry``). Every ``items.PAGE_PINGS`` pings, one more write
moves the oldest of them to a page item, a slot of a ring sized by the log limit, so the log
never needs pruning.
``ClientError`` never leaves this module: lost races become ``StaleCheck`` and missing items
``NotFound``.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from chalicelib import domain, items, metrics
from chalicelib.clock import utc_now
from chalicelib.domain import Check, Flip, LoggedPing, Ping
from chalicelib.errors import NotFound, ValidationFailed
from chalicelib.items import Item, MalformedItem, check_key, n, t
from chalicelib.logs import log_event
from chalicelib.settings import DEFAULT_DUE_SHARDS, DEFAULT_PING_LOG_LIMIT
from chalicelib.store import (
    FLIP_RETENTION,
    BadgeOwner,
    KeyGrant,
    Project,
    SlugTaken,
    StaleCheck,
    StaleGraph,
    retry_on_conflict,
)

DUE_INDEX = "due_buckets"
# The index of releases before the buckets (keyed by the exact alert_after, projecting ALL):
# ``chalicelib.migration`` replaces it.
LEGACY_DUE_INDEX = "due"
PROJECT_INDEX = "by_project"
# The ping log is kept by count (VIGIL_PING_LOG_LIMIT); the TTL also bounds its age, and
# removes any entry a deleted check might still have left behind.
PING_RETENTION = timedelta(days=366)
TTL_ATTRIBUTE = "expires"
# A deleted check leaves fences on the keys an in-flight ping or delivery could still write
# (its newest log numbers, its undelivered flips): bare keys marked ``gone`` that expire soon.
FENCE_ATTRIBUTE = "gone"
FENCE_TTL = timedelta(days=1)
FENCED_PINGS = 100
# Log and flip writes fail on a fence. attribute_not_exists is true when there is no item at
# all, so an ordinary write is never refused:
# https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Expressions.OperatorsAndFunctions.html
UNLESS_FENCED = "attribute_not_exists(#gone)"
BATCH_GET_LIMIT = 100
BATCH_WRITE_LIMIT = 25

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

logger = logging.getLogger("vigil")

TABLE_SCHEMA: dict[str, Any] = {
    "AttributeDefinitions": [
        {"AttributeName": "pk", "AttributeType": "S"},
        {"AttributeName": "sk", "AttributeType": "S"},
        {"AttributeName": "due_shard", "AttributeType": "S"},
        {"AttributeName": "due_bucket", "AttributeType": "N"},
        {"AttributeName": "project", "AttributeType": "S"},
    ],
    "KeySchema": [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ],
    "BillingMode": "PAY_PER_REQUEST",
    "GlobalSecondaryIndexes": [
        {
            "IndexName": DUE_INDEX,
            "KeySchema": [
                {"AttributeName": "due_shard", "KeyType": "HASH"},
                {"AttributeName": "due_bucket", "KeyType": "RANGE"},
            ],
            # KEYS_ONLY: nothing a ping changes is projected, so only a new bucket writes it.
            # A sweep reads the candidates' items themselves.
            "Projection": {"ProjectionType": "KEYS_ONLY"},
        },
        {
            "IndexName": PROJECT_INDEX,
            "KeySchema": [
                {"AttributeName": "project", "KeyType": "HASH"},
                {"AttributeName": "pk", "KeyType": "RANGE"},
            ],
            # KEYS_ONLY: pings rewrite check state, and none of that is projected here,
            # so this index costs nothing on the ping path.
            "Projection": {"ProjectionType": "KEYS_ONLY"},
        },
    ],
}


def hash_key(secret: str) -> str:
    """Keys are random and long, so a plain SHA-256 is enough to keep them out of the table."""
    return hashlib.sha256(secret.encode()).hexdigest()


class DynamoStore:
    def __init__(
        self,
        client_factory: Callable[[], DynamoDBClient],
        table: str,
        *,
        due_shards: int = DEFAULT_DUE_SHARDS,
        ping_log_limit: int = DEFAULT_PING_LOG_LIMIT,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._client_factory = client_factory
        self._client: DynamoDBClient | None = None
        self.table = table
        self.due_shards = due_shards
        self.ping_log_limit = ping_log_limit
        self.clock = clock  # only to date the fences a delete leaves

    @property
    def client(self) -> DynamoDBClient:
        if self._client is None:
            self._client = self._client_factory()
        return self._client

    def _transact(self, writes: list[Item]) -> None:
        # Items are plain dicts built in items.py; their shapes are DynamoDB's, unchecked.
        self.client.transact_write_items(
            TransactItems=cast("list[TransactWriteItemTypeDef]", writes)
        )

    def _get(self, key: Item) -> Item | None:
        reply = self.client.get_item(TableName=self.table, Key=key, ConsistentRead=True)
        item: Item | None = reply.get("Item")
        return item

    # --- checks ---------------------------------------------------------------------

    def get_check(self, check_uuid: str) -> Check | None:
        item = self._get(check_key(check_uuid))
        return None if item is None else items.check_from_item(item)

    def get_checks(self, check_uuids: Iterable[str]) -> dict[str, Check]:
        """Checks by key (one consistent BatchGetItem per 100); missing ones are left out."""
        keys = [check_key(check_uuid) for check_uuid in sorted(set(check_uuids))]
        return {check.uuid: check for check in readable_checks(self._batch_get(keys))}

    def create_check(self, check: Check, *, exclusive_slug: bool = False) -> None:
        """The check, its slug entry and its badge key, all or nothing.

        ``exclusive_slug`` (auto-provisioning) fails with ``SlugTaken`` if another check got
        the slug first, so two racing ``?create=1`` pings cannot make it ambiguous.
        """
        writes = [_put_new(_sized(items.check_to_item(check, self.due_shards)), self.table)]
        writes += self._slug_moves(check.project, "", check.slug, check.uuid)
        if exclusive_slug and check.slug:
            writes[1]["Update"]["ConditionExpression"] = "attribute_not_exists(checks)"
        writes.append(_put_new(_badge_item(check.badge_key, check.project, check.uuid), self.table))
        try:
            self._transact(writes)
        except self.client.exceptions.TransactionCanceledException:
            if exclusive_slug:
                raise SlugTaken() from None
            raise

    def write_state(
        self,
        before: Check,
        after: Check,
        *,
        guard_last_ping: bool = False,
    ) -> Check:
        """Write ``after``'s state if the stored check is still ``before``; return what was stored.

        The condition is the state version. A sweep also guards ``last_ping``, because a plain
        success ping on an up check does not bump the version (so concurrent pings never
        conflict) but must still stop a sweep that read the check before it arrived.
        """
        update = items.state_update(before, after, self.due_shards)
        condition = "attribute_exists(pk) AND #sv_old = :sv_old"
        update.names["#sv_old"] = "sv"
        update.values[":sv_old"] = n(before.sv)
        if guard_last_ping:
            condition += " AND " + _guard_last_ping(update, before)
        try:
            self.client.update_item(
                TableName=self.table,
                Key=check_key(before.uuid),
                UpdateExpression=update.expression(),
                ConditionExpression=condition,
                ExpressionAttributeNames=update.names,
                ExpressionAttributeValues=update.values,
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except self.client.exceptions.ConditionalCheckFailedException as exc:
            raise _stale(exc.response.get("Item")) from None
        except self.client.exceptions.TransactionConflictException:
            raise self._met_a_transaction(before.uuid) from None
        sv = before.sv + 1 if domain.has_state_change(before, after) else before.sv
        return replace(after, sv=sv)

    def write_ping(self, before: Check, after: Check, kind: str, ping: Ping, at: datetime) -> Check:
        """Count and log a ping with ``after``'s state, in one conditional UpdateItem.

        The entry joins the check item's ``recent`` list; its number is the new ``n_pings``
        (both change in the one write, so the list's order is the count's). A body too long to
        keep inline goes to its body item next, and every ``PAGE_PINGS`` pings the oldest
        entries move to a page: only then is a ping more than one round trip.
        """
        update = items.state_update(before, after, self.due_shards)
        update.append_ping(items.log_entry(at, kind, ping))
        update.names["#sv_old"] = "sv"
        update.values[":sv_old"] = n(before.sv)
        try:
            reply = self.client.update_item(
                TableName=self.table,
                Key=check_key(before.uuid),
                UpdateExpression=update.expression(),
                ConditionExpression="attribute_exists(pk) AND #sv_old = :sv_old",
                ExpressionAttributeNames=update.names,
                ExpressionAttributeValues=update.values,
                # ALL_NEW, not UPDATED_NEW: an unchanged ``log_base`` may be left out of the
                # latter. Returned values cost no read capacity.
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except self.client.exceptions.ConditionalCheckFailedException as exc:
            raise _stale(exc.response.get("Item")) from None
        except self.client.exceptions.TransactionConflictException:
            raise self._met_a_transaction(before.uuid) from None
        written = reply["Attributes"]
        number = int(written["n_pings"]["N"])
        if items.body_apart(ping):
            item = items.body_item(before.uuid, number, ping.body, self.ping_log_limit)
            self._put_unless_fenced(_expiring(item, at))
        recent = [value["S"] for value in written["recent"]["L"]]
        if len(recent) > items.PAGE_PINGS:
            self._flush_page(before.uuid, int(written["log_base"]["N"]), recent, at)
        sv = before.sv + 1 if domain.has_state_change(before, after) else before.sv
        return replace(after, n_pings=number, sv=sv)

    def _flush_page(self, check_uuid: str, base: int, recent: list[str], at: datetime) -> None:
        """Move the oldest waiting pings (up to a page boundary) to their page, then trim them.

        Page first, trim second: an entry is always in the check or in a page. If this stops
        halfway, the list stays long and the next ping flushes again; a racing flush writes
        the same page and loses the trim's condition. A deleted check fences the page
        (``NotFound``), which the ping that got here has outlived: it was recorded first.
        """
        count = items.PAGE_PINGS - base % items.PAGE_PINGS
        page = items.page_item(check_uuid, base + 1, recent[:count], self.ping_log_limit)
        try:
            self._put_unless_fenced(_expiring(page, at))
        except NotFound:
            return
        # Several list elements in one REMOVE, as in the developer guide's "Removing elements
        # from a list" (REMOVE RelatedItems[1], RelatedItems[2]):
        # https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Expressions.UpdateExpressions.html
        trim = ", ".join(f"#recent[{i}]" for i in range(count))
        try:
            self.client.update_item(
                TableName=self.table,
                Key=check_key(check_uuid),
                UpdateExpression=f"REMOVE {trim} SET #log_base = :new_base",
                ConditionExpression="#log_base = :base",
                ExpressionAttributeNames={"#recent": "recent", "#log_base": "log_base"},
                ExpressionAttributeValues={":base": n(base), ":new_base": n(base + count)},
            )
        except self._lost_race:
            # Another ping flushed them first, the check is gone, or a transaction is writing
            # the item right now: the page is written, so the next ping trims them instead.
            return

    def write_config(
        self, before: Check, after: Check, *, graph_version: int | None = None
    ) -> Check:
        """Store an edited check (and move its slug) if nothing changed it since ``before``.

        With ``graph_version`` (an edit of ``depends_on``), the same transaction moves the
        project's graph version on from it, or fails with ``StaleGraph``.
        """
        _sized(items.check_to_item(after, self.due_shards))
        update = items.config_update(before, after, self.due_shards)
        update.names["#sv_old"] = "sv"
        update.values[":sv_old"] = n(before.sv)
        writes: list[Item] = [
            {
                "Update": {
                    "TableName": self.table,
                    "Key": check_key(before.uuid),
                    "UpdateExpression": update.expression(),
                    "ConditionExpression": "attribute_exists(pk) AND #sv_old = :sv_old",
                    "ExpressionAttributeNames": update.names,
                    "ExpressionAttributeValues": update.values,
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            }
        ]
        writes += self._slug_moves(before.project, before.slug, after.slug, before.uuid)
        if graph_version is None:
            self._transact_on_check(before, writes)
        else:
            writes.append(items.graph_bump(self.table, before.project, graph_version))
            self._transact_on_check(before, writes, moves_graph=True)
        return replace(after, sv=before.sv + 1)

    def graph_version(self, project: str) -> int:
        return items.graph_version_of(self._get(items.graph_key(project)))

    def delete_check(self, check: Check) -> None:
        """Delete the check with its slug and badge entries, then its ping log and flips.

        A ping racing the delete may have updated the check and not yet logged itself (or
        recorded its flip). The delete is conditional on the ping count and state version, so
        it knows every log number and flip such a ping can hold, and fences those keys.
        """
        deleted = retry_on_conflict(check, self._delete_check_item)
        self._purge(deleted)

    def _delete_check_item(self, check: Check) -> Check:
        writes: list[Item] = [
            {
                "Delete": {
                    "TableName": self.table,
                    "Key": check_key(check.uuid),
                    "ConditionExpression": "#n = :n AND #sv = :sv",
                    "ExpressionAttributeNames": {"#n": "n_pings", "#sv": "sv"},
                    "ExpressionAttributeValues": {":n": n(check.n_pings), ":sv": n(check.sv)},
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            }
        ]
        writes += self._slug_moves(check.project, check.slug, "", check.uuid)
        writes.append({"Delete": {"TableName": self.table, "Key": _badge_key(check.badge_key)}})
        self._transact_on_check(check, writes)
        return check

    def _purge(self, check: Check) -> None:
        """Fence what an in-flight write could still add, delete everything else."""
        pk = f"CHECK#{check.uuid}"
        newest = check.n_pings
        numbers = range(max(newest - FENCED_PINGS, 0) + 1, newest + 1)
        limit = self.ping_log_limit
        fenced = {items.body_sk(number, limit) for number in numbers}
        fenced |= {items.page_sk(items.page_of(number), limit) for number in numbers}
        fenced |= {_flip_sk(flip) for flip in check.outbox.values()}
        expires = n(int((self.clock() + FENCE_TTL).timestamp()))
        fence: Item = {FENCE_ATTRIBUTE: {"BOOL": True}, TTL_ATTRIBUTE: expires, "pk": {"S": pk}}
        puts = [{"PutRequest": {"Item": {**fence, "sk": {"S": sk}}}} for sk in sorted(fenced)]
        stale = [key for key in self._keys_with_prefix(pk, "") if key["sk"]["S"] not in fenced]
        self._write_batches(puts)
        self._delete_keys(stale)

    def _transact_on_check(
        self, check: Check, writes: list[Item], *, moves_graph: bool = False
    ) -> None:
        """Run a transaction whose first write is conditional on ``check``; map its failure.

        ``moves_graph``: the last write moves the graph version of the check's project on. Lost
        to another dependency edit, it is ``StaleGraph``: by its condition (that edit is
        stored) or, on DynamoDB, by a ``TransactionConflict`` (that edit is being stored).
        Either way the edit reads the graph again and is validated afresh.
        """
        try:
            self._transact(writes)
        except self.client.exceptions.TransactionCanceledException as exc:
            reasons = exc.response.get("CancellationReasons") or [{}]
            if reasons[0].get("Code") == "ConditionalCheckFailed":
                raise _stale(reasons[0].get("Item")) from None
            if moves_graph and _lost_graph(reasons, len(writes)):
                raise StaleGraph(check) from None
            if any(reason.get("Code") == "TransactionConflict" for reason in reasons):
                # The check, its slug entry or its badge met another transaction in flight.
                raise self._met_a_transaction(check.uuid) from None
            raise

    def _met_a_transaction(self, check_uuid: str) -> Exception:
        """A write to the check met another transaction in flight on it (DynamoDB's
        ``TransactionConflict``; botocore does not retry it): a lost race like any other, so
        the caller's ``retry_on_conflict`` goes again on the check as a consistent read finds it.
        """
        item = self.client.get_item(
            TableName=self.table, Key=check_key(check_uuid), ConsistentRead=True
        ).get("Item")
        return _stale(item)

    @property
    def _lost_race(self) -> tuple[type[Exception], ...]:
        """A conditional write that lost: to its condition, or to a transaction in flight."""
        errors = self.client.exceptions
        return (errors.ConditionalCheckFailedException, errors.TransactionConflictException)

    def claim_delivery(self, check_uuid: str, flip: Flip, lease: datetime) -> bool:
        """Take over an undelivered flip whose lease ran out; False if another sweep has it."""
        try:
            self.client.update_item(
                TableName=self.table,
                Key=check_key(check_uuid),
                UpdateExpression="SET outbox.#f.lease = :new",
                ConditionExpression="outbox.#f.lease = :old",
                ExpressionAttributeNames={"#f": flip.key},
                ExpressionAttributeValues={":new": t(lease), ":old": t(flip.lease)},
            )
        except self._lost_race:
            return False  # another sweep has it, or an edit is being written: the next sweep
        return True

    def defer_delivery(self, check: Check, held: Flip, retry: Flip) -> bool:
        """A publish failed: lease the flip until ``retry.lease``, if its lease is still ``held``.

        The check's deadline moves with it, so the sweeps in between do not even read the
        check; that part only while the state is still ``check``'s (version and last ping),
        otherwise the lease moves alone and the next sweep refreshes the deadline. False if
        another sweep took the flip over or the check is gone.
        """
        update = items.Update()
        update.set_map_entry("outbox", retry.key, {"M": items.flip_attrs(retry)})
        update.set_deadline(domain.with_flip(check, retry), self.due_shards)
        update.names["#held"] = retry.key
        update.values[":held"] = t(held.lease)
        update.values[":sv_old"] = n(check.sv)
        condition = "#outbox.#held.lease = :held AND sv = :sv_old"
        condition += " AND " + _guard_last_ping(update, check)
        try:
            self._update(check.uuid, update, condition)
            return True
        except self._lost_race:
            pass
        alone = items.Update()
        alone.set_map_entry("outbox", retry.key, {"M": items.flip_attrs(retry)})
        alone.names["#held"] = retry.key
        alone.values[":held"] = t(held.lease)
        try:
            self._update(check.uuid, alone, "#outbox.#held.lease = :held")
            return True
        except self._lost_race:
            return False

    def remove_from_outbox(self, check: Check, flip_key: str) -> None:
        """Delivered: forget the flip, and take its lease out of ``alert_after``.

        The deadline is only rewritten while the state version still matches ``check``;
        otherwise the flip is removed alone and a later sweep refreshes the deadline.
        """
        update = items.Update()
        update.remove_map_entry("outbox", flip_key)
        update.set_deadline(domain.without_flip(check, flip_key), self.due_shards)
        update.values[":sv"] = n(check.sv)
        try:
            self._update(check.uuid, update, "sv = :sv")
        except self._lost_race:
            alone = items.Update()
            alone.remove_map_entry("outbox", flip_key)
            try:
                self._update(check.uuid, alone, "attribute_exists(pk)")
            except self.client.exceptions.ConditionalCheckFailedException:
                return  # the check was deleted meanwhile: there is no outbox left
            except self.client.exceptions.TransactionConflictException:
                # Twice behind an edit in flight: the flip stays, and a later sweep delivers
                # it again under the same flip id (at least once) rather than this ping's
                # caller getting a 500 for an alert that went out.
                log_event("outbox_left", check=check.uuid, flip=flip_key, why="transaction")

    def _update(self, check_uuid: str, update: items.Update, condition: str) -> None:
        kwargs: dict[str, Any] = {}
        if update.values:
            kwargs["ExpressionAttributeValues"] = update.values
        self.client.update_item(
            TableName=self.table,
            Key=check_key(check_uuid),
            UpdateExpression=update.expression(),
            ConditionExpression=condition,
            ExpressionAttributeNames=update.names,
            **kwargs,
        )

    def due_checks(self, now: datetime) -> Iterator[Check]:
        """Checks whose ``alert_after`` has passed, found through the bucketed due index.

        The index gives the keys of every check whose bucket has begun: the due ones and
        those due before the bucket ends. Their items are read (eventually consistent, as the
        index itself is; every sweep write is conditional) and the not yet due are skipped,
        unwritten. A check item without ``alert_after`` but still in the index (a stale entry)
        is yielded too, so the sweep rewrites its deadline.
        """
        for keys in self._due_candidates(now):
            due = []
            for check, item in self._candidate_items(keys):
                stored = item.get("alert_after")
                deadline = float("-inf") if stored is None else float(stored["N"])
                if deadline <= now.timestamp():
                    due.append((deadline, check.uuid, check))
            # Oldest deadline first, as the exact index gave them: a pass cut short by its
            # limits leaves the newest for the next.
            yield from (check for _, _, check in sorted(due, key=lambda d: d[:2]))

    def _due_candidates(self, now: datetime) -> Iterator[list[Item]]:
        """Pages of candidate keys, shard by shard, up to and including ``now``'s bucket."""
        for shard in range(self.due_shards):
            pages = self.client.get_paginator("query").paginate(
                TableName=self.table,
                IndexName=DUE_INDEX,
                KeyConditionExpression="due_shard = :s AND due_bucket <= :bucket",
                ExpressionAttributeValues={
                    ":s": {"S": str(shard)},
                    ":bucket": n(items.due_bucket(now)),
                },
            )
            for page in pages:
                keys = [{"pk": i["pk"], "sk": i["sk"]} for i in page.get("Items", [])]
                if keys:
                    yield keys

    def _candidate_items(self, keys: list[Item]) -> Iterator[tuple[Check, Item]]:
        found = self._batch_get(keys, consistent=False)
        for item in found:
            for check in readable_checks([item]):
                yield check, item

    def project_checks(self, project: str) -> list[Check]:
        """Every check of a project: keys from the project index, items read consistently."""
        pages = self.client.get_paginator("query").paginate(
            TableName=self.table,
            IndexName=PROJECT_INDEX,
            KeyConditionExpression="project = :p AND begins_with(pk, :prefix)",
            ExpressionAttributeValues={":p": {"S": project}, ":prefix": {"S": "CHECK#"}},
        )
        keys = [
            {"pk": item["pk"], "sk": item["sk"]}
            for page in pages
            for item in page.get("Items", [])
            if item["sk"]["S"] == items.CHECK_SK
        ]
        found = list(readable_checks(self._batch_get(keys)))
        return sorted(found, key=lambda check: (check.created, check.uuid))

    def count_project_checks(self, project: str) -> int:
        pages = self.client.get_paginator("query").paginate(
            TableName=self.table,
            IndexName=PROJECT_INDEX,
            KeyConditionExpression="project = :p AND begins_with(pk, :prefix)",
            ExpressionAttributeValues={":p": {"S": project}, ":prefix": {"S": "CHECK#"}},
            Select="COUNT",
        )
        return sum(int(page["Count"]) for page in pages)

    def _batch_get(self, keys: list[Item], *, consistent: bool = True) -> list[Item]:
        found: list[Item] = []
        for start in range(0, len(keys), BATCH_GET_LIMIT):
            batch = keys[start : start + BATCH_GET_LIMIT]
            pending: dict[str, Any] = {self.table: {"Keys": batch, "ConsistentRead": consistent}}
            while pending:
                reply = self.client.batch_get_item(RequestItems=pending)
                found.extend(reply["Responses"].get(self.table, []))
                pending = reply.get("UnprocessedKeys") or {}
        return found

    # --- slugs ----------------------------------------------------------------------

    def checks_with_slug(self, project: str, slug: str) -> list[str]:
        item = self._get(_slug_key(project, slug))
        if item is None or "checks" not in item:
            return []
        return sorted(item["checks"]["SS"])

    def _slug_moves(self, project: str, old: str, new: str, check_uuid: str) -> list[Item]:
        """Keep the slug sets in step with a check's slug, inside the caller's transaction."""
        if old == new:
            return []
        moves = []
        if old:
            moves.append(self._slug_change(project, old, "DELETE", check_uuid))
        if new:
            moves.append(self._slug_change(project, new, "ADD", check_uuid))
        return moves

    def _slug_change(self, project: str, slug: str, action: str, check_uuid: str) -> Item:
        return {
            "Update": {
                "TableName": self.table,
                "Key": _slug_key(project, slug),
                "UpdateExpression": f"{action} checks :c",
                "ExpressionAttributeValues": {":c": {"SS": [check_uuid]}},
            }
        }

    # --- ping log and flips ---------------------------------------------------------

    def _put_unless_fenced(self, item: Item) -> None:
        try:
            self.client.put_item(
                TableName=self.table,
                Item=item,
                ConditionExpression=UNLESS_FENCED,
                ExpressionAttributeNames={"#gone": FENCE_ATTRIBUTE},
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            raise NotFound() from None

    def last_ping_entry(self, check_uuid: str) -> LoggedPing | None:
        """The newest ping: the last of the check item's own list (a flush always leaves one)."""
        item = self._get(check_key(check_uuid))
        if item is None:
            return None
        recent = items.recent_entries(item)
        if recent:
            return self._with_body(check_uuid, *recent[-1])
        found = self._legacy_pings(check_uuid, None, 1)  # not pinged since the ring came
        return found[0] if found else None

    def pings(self, check_uuid: str, newest: int | None, limit: int) -> list[LoggedPing]:
        """Up to ``limit`` entries, newest first, none older than ``newest - limit``.

        The check item's own list, the page ring, and any entries of the layout before it.
        A body kept in a body item is given by its first bytes here (``ping_entry`` and
        ``last_ping_entry`` give it whole).
        """
        item = self._get(check_key(check_uuid))
        if item is None:
            return []
        found = {entry.n: entry for entry in self._legacy_pings(check_uuid, newest, limit)}
        for page in self._query_prefix(check_uuid, items.PAGE_PREFIX):
            found.update((entry.n, entry) for entry, _ in items.page_entries(page))
        found.update((entry.n, entry) for entry, _ in items.recent_entries(item))
        numbers = sorted(found, reverse=True)
        if newest is not None:
            numbers = [x for x in numbers if max(newest - limit + 1, 1) <= x <= newest]
        return [found[x] for x in numbers[:limit]]

    def ping_entry(self, check_uuid: str, number: int) -> LoggedPing | None:
        """Ping ``number`` with its whole body, wherever it is kept; None if it is not."""
        item = self._get(check_key(check_uuid))
        if item is None:
            return None
        entries = dict((e.n, (e, size)) for e, size in items.recent_entries(item))
        if number not in entries:
            page = self._get(
                _sub_key(check_uuid, items.page_sk(items.page_of(number), self.ping_log_limit))
            )
            if page is not None:
                entries = dict((e.n, (e, size)) for e, size in items.page_entries(page))
        if number not in entries:
            # Written under another VIGIL_PING_LOG_LIMIT (another ring size): look at every page.
            for page in self._query_prefix(check_uuid, items.PAGE_PREFIX):
                entries.update((e.n, (e, size)) for e, size in items.page_entries(page))
        if number in entries:
            return self._with_body(check_uuid, *entries[number])
        legacy = self._get(_sub_key(check_uuid, items.legacy_ping_sk(number)))
        return None if legacy is None else items.legacy_logged_ping(legacy)

    def _with_body(self, check_uuid: str, entry: LoggedPing, size: int | None) -> LoggedPing:
        """The entry with its whole body, read from its body item if it has one there."""
        if size is None:
            return entry
        item = self._get(_sub_key(check_uuid, items.body_sk(entry.n, self.ping_log_limit)))
        if item is None or int(item["n"]["N"]) != entry.n:
            item = self._body_in_another_slot(check_uuid, entry.n)
        if item is None:
            # Its ping was cut short before the body was written, and never answered 2xx.
            return replace(entry, ping=replace(entry.ping, body=b""))
        return replace(entry, ping=replace(entry.ping, body=bytes(item["body"]["B"])))

    def _body_in_another_slot(self, check_uuid: str, number: int) -> Item | None:
        """A body written under another VIGIL_PING_LOG_LIMIT (another ring size), if any.

        Reads every body slot of the check: only after the limit changed, or for a ping cut
        short before its body was written.
        """
        pages = self.client.get_paginator("query").paginate(
            TableName=self.table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            FilterExpression="#n = :n",
            ExpressionAttributeNames={"#n": "n"},
            ExpressionAttributeValues={
                ":pk": {"S": f"CHECK#{check_uuid}"},
                ":prefix": {"S": items.BODY_PREFIX},
                ":n": n(number),
            },
        )
        found = [item for page in pages for item in page.get("Items", []) if "body" in item]
        return found[0] if found else None

    def _legacy_pings(self, check_uuid: str, newest: int | None, limit: int) -> list[LoggedPing]:
        values: Item = {":pk": {"S": f"CHECK#{check_uuid}"}}
        if newest is None:
            condition = "pk = :pk AND begins_with(sk, :prefix)"
            values[":prefix"] = {"S": items.LEGACY_PING_PREFIX}
        else:
            condition = "pk = :pk AND sk BETWEEN :low AND :high"
            values[":low"] = {"S": items.legacy_ping_sk(max(newest - limit + 1, 1))}
            values[":high"] = {"S": items.legacy_ping_sk(newest)}
        reply = self.client.query(
            TableName=self.table,
            KeyConditionExpression=condition,
            ExpressionAttributeValues=values,
            ScanIndexForward=False,
            Limit=limit,
        )
        return [items.legacy_logged_ping(item) for item in reply.get("Items", [])]

    def _query_prefix(self, check_uuid: str, prefix: str) -> list[Item]:
        pages = self.client.get_paginator("query").paginate(
            TableName=self.table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues={
                ":pk": {"S": f"CHECK#{check_uuid}"},
                ":prefix": {"S": prefix},
            },
            ConsistentRead=True,
        )
        return [item for page in pages for item in page.get("Items", []) if "first" in item]

    def record_flip(self, check_uuid: str, flip: Flip) -> None:
        """Idempotent: the key is derived from the flip, so a retried delivery rewrites it.

        ``NotFound`` if the check was deleted while the flip waited to be delivered.
        """
        item: Item = {
            "pk": {"S": f"CHECK#{check_uuid}"},
            "sk": {"S": _flip_sk(flip)},
            TTL_ATTRIBUTE: n(int((flip.at + FLIP_RETENTION).timestamp())),
            **items.flip_attrs(flip),
        }
        self._put_unless_fenced(item)

    def flips(self, check_uuid: str, since: datetime | None = None) -> list[Flip]:
        """Recorded flips, newest first; ``since`` bounds the key range (TTL lags)."""
        values: Item = {":pk": {"S": f"CHECK#{check_uuid}"}, ":low": {"S": "FLIP#"}}
        if since is not None:
            values[":low"] = {"S": f"FLIP#{since.isoformat()}"}
        pages = self.client.get_paginator("query").paginate(
            TableName=self.table,
            KeyConditionExpression="pk = :pk AND sk BETWEEN :low AND :high",
            ExpressionAttributeValues={**values, ":high": {"S": "FLIP$"}},
            ScanIndexForward=False,
        )
        return [items.flip_from(item) for page in pages for item in page.get("Items", [])]

    def _keys_with_prefix(self, pk: str, prefix: str) -> list[Item]:
        values: Item = {":pk": {"S": pk}}
        condition = "pk = :pk"
        if prefix:
            condition += " AND begins_with(sk, :prefix)"
            values[":prefix"] = {"S": prefix}
        pages = self.client.get_paginator("query").paginate(
            TableName=self.table,
            KeyConditionExpression=condition,
            ExpressionAttributeValues=values,
            ProjectionExpression="pk, sk",
        )
        return [item for page in pages for item in page.get("Items", [])]

    def _delete_keys(self, keys: list[Item]) -> None:
        self._write_batches([{"DeleteRequest": {"Key": key}} for key in keys])

    def _write_batches(self, requests: list[Item]) -> None:
        for start in range(0, len(requests), BATCH_WRITE_LIMIT):
            pending: dict[str, Any] = {self.table: requests[start : start + BATCH_WRITE_LIMIT]}
            while pending:
                reply = self.client.batch_write_item(RequestItems=pending)
                pending = reply.get("UnprocessedItems") or {}

    # --- projects, keys and badges --------------------------------------------------

    def create_project(self, project: Project, keys: Mapping[str, str]) -> None:
        """Write the project, its hashed keys and its badge key in one transaction."""
        writes: list[Item] = [
            _put_new(
                {
                    "pk": {"S": f"PROJECT#{project.id}"},
                    "sk": {"S": "PROJECT"},
                    "name": {"S": project.name},
                    "badge_key": {"S": project.badge_key},
                    "badge_secret": {"S": project.badge_secret},
                },
                self.table,
            ),
            _put_new(_badge_item(project.badge_key, project.id, None), self.table),
        ]
        for role, secret in keys.items():
            writes.append(
                _put_new(
                    {
                        "pk": {"S": f"KEY#{hash_key(secret)}"},
                        "sk": {"S": "KEY"},
                        "project": {"S": project.id},
                        "role": {"S": role},
                    },
                    self.table,
                )
            )
        self._transact(writes)

    def get_project(self, project_id: str) -> Project | None:
        item = self._get({"pk": {"S": f"PROJECT#{project_id}"}, "sk": {"S": "PROJECT"}})
        if item is None:
            return None
        return Project(
            project_id, item["name"]["S"], item["badge_key"]["S"], item["badge_secret"]["S"]
        )

    def resolve_key(self, secret: str) -> KeyGrant | None:
        item = self._get({"pk": {"S": f"KEY#{hash_key(secret)}"}, "sk": {"S": "KEY"}})
        if item is None:
            return None
        return KeyGrant(item["project"]["S"], item["role"]["S"])

    def resolve_badge(self, badge_key: str) -> BadgeOwner | None:
        item = self._get(_badge_key(badge_key))
        if item is None:
            return None
        check = item["check"]["S"] if "check" in item else None
        return BadgeOwner(item["owner"]["S"], check)

    def ping(self) -> None:
        """A cheap consistent read: proves the table answers (the status endpoint)."""
        self._get({"pk": {"S": "STATUS"}, "sk": {"S": "STATUS"}})


def readable_checks(found: list[Item]) -> Iterator[Check]:
    """The checks these items hold; one that cannot be read is logged, counted and skipped.

    So a single bad item (written by hand, or by an older version) never aborts a sweep or a
    listing. A due one stays due, and is reported again on every sweep until it is repaired.
    """
    for item in found:
        try:
            yield items.check_from_item(item)
        except MalformedItem as error:
            logger.error("skipped a check item that cannot be read: %s", error)
            log_event("malformed_item", key=error.key, problem=str(error.__cause__))
            metrics.count(metrics.MALFORMED_ITEMS)


def _lost_graph(reasons: list[Any], writes: int) -> bool:
    """Whether a cancelled transaction lost its last write, the graph version's, to a race."""
    lost = ("ConditionalCheckFailed", "TransactionConflict")
    return len(reasons) == writes and reasons[-1].get("Code") in lost


def _guard_last_ping(update: items.Update, before: Check) -> str:
    update.names["#lp_old"] = "last_ping"
    if before.last_ping is None:
        return "attribute_not_exists(#lp_old)"
    update.values[":lp_old"] = t(before.last_ping)
    return "#lp_old = :lp_old"


def _sized(item: Item) -> Item:
    """Refuse, before any write, a check too big to keep cheap (``MAX_CHECK_ITEM_BYTES``)."""
    if items.item_size(item) > items.MAX_CHECK_ITEM_BYTES:
        raise ValidationFailed("check is too large")
    return item


def _sub_key(check_uuid: str, sk: str) -> Item:
    return {"pk": {"S": f"CHECK#{check_uuid}"}, "sk": {"S": sk}}


def _expiring(item: Item, at: datetime) -> Item:
    """The log's TTL: the ring bounds it by count, this by age (and cleans up after deletes)."""
    return {**item, TTL_ATTRIBUTE: n(int((at + PING_RETENTION).timestamp()))}


def _flip_sk(flip: Flip) -> str:
    # In UTC, as items store times: a fence built from the stored outbox must hit this key.
    return f"FLIP#{flip.at.astimezone(UTC).isoformat()}#{flip.id}"


def _slug_key(project: str, slug: str) -> Item:
    return {"pk": {"S": f"SLUG#{project}#{slug}"}, "sk": {"S": "SLUG"}}


def _badge_key(badge_key: str) -> Item:
    return {"pk": {"S": f"BADGE#{badge_key}"}, "sk": {"S": "BADGE"}}


def _badge_item(badge_key: str, project: str, check_uuid: str | None) -> Item:
    # "owner", not "project": badge entries stay out of the project index.
    item: Item = {**_badge_key(badge_key), "owner": {"S": project}}
    if check_uuid is not None:
        item["check"] = {"S": check_uuid}
    return item


def _put_new(item: Item, table: str) -> Item:
    return {
        "Put": {
            "TableName": table,
            "Item": item,
            "ConditionExpression": "attribute_not_exists(pk)",
        }
    }


def _stale(item: Item | None) -> Exception:
    if item is None:
        return NotFound()
    return StaleCheck(items.check_from_item(item))
