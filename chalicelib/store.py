"""DynamoDB adapter: the one table, its items, and the conditional writes that keep it honest.

Items (generic ``pk``/``sk`` keys):
  CHECK#<uuid>   / CHECK            config + state of a check
  CHECK#<uuid>   / PING#<n:010d>    one ping-log entry
  CHECK#<uuid>   / FLIP#<at>#<id>   one recorded flip
  PROJECT#<id>   / PROJECT          a project
  KEY#<sha256>   / KEY              an API or ping key, hashed, pointing at its project

The ``due`` index is sparse: only checks with a pending ``alert_after`` carry ``due_shard`` and
``alert_after``, so the sweeper reads due checks and nothing else. ``ClientError`` never leaves
this module: lost races become ``StaleCheck`` and missing items ``NotFound``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib import domain
from chalicelib.domain import Check, Flip, LoggedPing, Ping
from chalicelib.errors import NotFound, StaleCheck

DUE_INDEX = "due"
PROJECT_INDEX = "by_project"
FLIP_RETENTION = timedelta(days=93)
CHECK_SK = "CHECK"

Item = dict[str, Any]

TABLE_SCHEMA: dict[str, Any] = {
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
            "IndexName": DUE_INDEX,
            "KeySchema": [
                {"AttributeName": "due_shard", "KeyType": "HASH"},
                {"AttributeName": "alert_after", "KeyType": "RANGE"},
            ],
            # ALL: a sweep evaluates straight from the index, one read per due check.
            "Projection": {"ProjectionType": "ALL"},
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
TTL_ATTRIBUTE = "expires"


def hash_key(secret: str) -> str:
    """Keys are random and long, so a plain SHA-256 is enough to keep them out of the table."""
    return hashlib.sha256(secret.encode()).hexdigest()


def due_shard(check_uuid: str, shards: int) -> str:
    return str(int(check_uuid.replace("-", ""), 16) % shards)


@dataclass(frozen=True)
class KeyGrant:
    project: str
    role: str  # "rw" | "ro" | "ping"


class DynamoStore:
    def __init__(self, client_factory: Callable[[], Any], table: str) -> None:
        self._client_factory = client_factory
        self._client: Any = None
        self.table = table

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = self._client_factory()
        return self._client

    # --- checks ---------------------------------------------------------------------

    def get_check(self, check_uuid: str) -> Check | None:
        reply = self.client.get_item(
            TableName=self.table, Key=_check_key(check_uuid), ConsistentRead=True
        )
        item = reply.get("Item")
        return None if item is None else check_from_item(item)

    def create_check(self, check: Check, shards: int) -> None:
        item = check_to_item(check, shards)
        self.client.put_item(
            TableName=self.table, Item=item, ConditionExpression="attribute_not_exists(pk)"
        )

    def write_state(
        self,
        before: Check,
        after: Check,
        *,
        shards: int,
        count_ping: bool = False,
        guard_last_ping: bool = False,
    ) -> Check:
        """Write ``after``'s state if the stored check is still ``before``; return what was stored.

        The condition is the state version. A sweep also guards ``last_ping``, because a plain
        success ping on an up check does not bump the version (so concurrent pings never
        conflict) but must still stop a sweep that read the check before it arrived.
        """
        update = _StateUpdate(before, after, shards)
        if count_ping:
            update.add("n_pings", {"N": "1"})
        condition = "attribute_exists(pk) AND sv = :old_sv"
        update.values[":old_sv"] = _n(before.sv)
        if guard_last_ping:
            condition += " AND " + update.guard_last_ping()
        try:
            reply = self.client.update_item(
                TableName=self.table,
                Key=_check_key(before.uuid),
                UpdateExpression=update.expression(),
                ConditionExpression=condition,
                ExpressionAttributeNames=update.names,
                ExpressionAttributeValues=update.values,
                ReturnValues="UPDATED_NEW" if count_ping else "NONE",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except self.client.exceptions.ConditionalCheckFailedException as exc:
            raise _stale(exc) from None
        n_pings = int(reply["Attributes"]["n_pings"]["N"]) if count_ping else after.n_pings
        sv = before.sv + 1 if domain.has_state_change(before, after) else before.sv
        return replace(after, n_pings=n_pings, sv=sv)

    def claim_delivery(self, check_uuid: str, flip: Flip, lease: datetime) -> bool:
        """Take over an undelivered flip whose lease ran out; False if another sweep has it."""
        try:
            self.client.update_item(
                TableName=self.table,
                Key=_check_key(check_uuid),
                UpdateExpression="SET outbox.#f.lease = :new",
                ConditionExpression="outbox.#f.lease = :old",
                ExpressionAttributeNames={"#f": flip.id},
                ExpressionAttributeValues={":new": _t(lease), ":old": _t(flip.lease)},
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def remove_from_outbox(self, check: Check, flip_id: str, shards: int) -> None:
        """Delivered: forget the flip, and take its lease out of ``alert_after``.

        The deadline is only rewritten while the state version still matches ``check``;
        otherwise the flip is removed alone and a later sweep refreshes the deadline.
        """
        after = domain.without_flip(check, flip_id)
        update = _DeadlineUpdate(after, shards)
        try:
            self.client.update_item(
                TableName=self.table,
                Key=_check_key(check.uuid),
                UpdateExpression=f"REMOVE outbox.#f{update.removes} {update.sets}".strip(),
                ConditionExpression="sv = :sv",
                ExpressionAttributeNames={"#f": flip_id, **update.names},
                ExpressionAttributeValues={":sv": _n(check.sv), **update.values},
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            self.client.update_item(
                TableName=self.table,
                Key=_check_key(check.uuid),
                UpdateExpression="REMOVE outbox.#f",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeNames={"#f": flip_id},
            )

    def due_checks(self, now: datetime, shards: int) -> Iterator[Check]:
        """Checks whose ``alert_after`` has passed, read from the sparse due index only."""
        for shard in range(shards):
            pages = self.client.get_paginator("query").paginate(
                TableName=self.table,
                IndexName=DUE_INDEX,
                KeyConditionExpression="due_shard = :s AND alert_after <= :now",
                ExpressionAttributeValues={":s": {"S": str(shard)}, ":now": _epoch(now)},
            )
            for page in pages:
                for item in page.get("Items", []):
                    yield check_from_item(item)

    # --- ping log and flips ---------------------------------------------------------

    def log_ping(self, check_uuid: str, n: int, entry_kind: str, ping: Ping, at: datetime) -> None:
        item: Item = {
            "pk": {"S": f"CHECK#{check_uuid}"},
            "sk": {"S": f"PING#{n:010d}"},
            "n": _n(n),
            "at": _t(at),
            "kind": {"S": entry_kind},
            "method": {"S": ping.method},
            "ua": {"S": ping.ua},
            "remote_addr": {"S": ping.remote_addr},
            "scheme": {"S": ping.scheme},
            "body": {"B": ping.body},
        }
        if ping.rid is not None:
            item["rid"] = {"S": ping.rid}
        if ping.exitstatus is not None:
            item["exitstatus"] = _n(ping.exitstatus)
        self.client.put_item(TableName=self.table, Item=item)

    def last_ping_entry(self, check_uuid: str) -> LoggedPing | None:
        reply = self.client.query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues={
                ":pk": {"S": f"CHECK#{check_uuid}"},
                ":prefix": {"S": "PING#"},
            },
            ScanIndexForward=False,
            Limit=1,
        )
        items = reply.get("Items", [])
        return _ping_entry(items[0]) if items else None

    def record_flip(self, check_uuid: str, flip: Flip) -> None:
        """Idempotent: the key is derived from the flip, so a retried delivery rewrites it."""
        item: Item = {
            "pk": {"S": f"CHECK#{check_uuid}"},
            "sk": {"S": f"FLIP#{flip.at.isoformat()}#{flip.id}"},
            TTL_ATTRIBUTE: _n(int((flip.at + FLIP_RETENTION).timestamp())),
            **_flip_attrs(flip),
        }
        self.client.put_item(TableName=self.table, Item=item)

    def flips(self, check_uuid: str) -> list[Flip]:
        reply = self.client.query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues={
                ":pk": {"S": f"CHECK#{check_uuid}"},
                ":prefix": {"S": "FLIP#"},
            },
            ScanIndexForward=False,
        )
        return [_flip_from(item) for item in reply.get("Items", [])]

    # --- projects and keys ----------------------------------------------------------

    def create_project(self, project: str, name: str, keys: Mapping[str, str]) -> None:
        """Write the project and its hashed keys in one transaction: all or nothing."""
        writes: list[Item] = [
            _put_new(
                {"pk": {"S": f"PROJECT#{project}"}, "sk": {"S": "PROJECT"}, "name": {"S": name}},
                self.table,
            ),
        ]
        for role, secret in keys.items():
            writes.append(
                _put_new(
                    {
                        "pk": {"S": f"KEY#{hash_key(secret)}"},
                        "sk": {"S": "KEY"},
                        "project": {"S": project},
                        "role": {"S": role},
                    },
                    self.table,
                )
            )
        self.client.transact_write_items(TransactItems=writes)

    def resolve_key(self, secret: str) -> KeyGrant | None:
        reply = self.client.get_item(
            TableName=self.table,
            Key={"pk": {"S": f"KEY#{hash_key(secret)}"}, "sk": {"S": "KEY"}},
        )
        item = reply.get("Item")
        if item is None:
            return None
        return KeyGrant(item["project"]["S"], item["role"]["S"])


# --- item mapping -----------------------------------------------------------------------


class _StateUpdate:
    """Builds the UpdateExpression that moves a check from ``before`` to ``after``."""

    def __init__(self, before: Check, after: Check, shards: int) -> None:
        self.names: dict[str, str] = {}
        self.values: dict[str, Any] = {}
        self._sets: list[str] = []
        self._removes: list[str] = []
        self._adds: list[str] = []
        self._before = before
        self.set("status", {"S": after.status})
        self.set("runs", _runs(after.runs))
        self.set_or_remove("last_ping", None if after.last_ping is None else _t(after.last_ping))
        self.set_or_remove(
            "last_duration", None if after.last_duration is None else _n(after.last_duration)
        )
        due = domain.alert_after(after)
        self.set_or_remove("alert_after", None if due is None else _epoch(due))
        self.set_or_remove(
            "due_shard", None if due is None else {"S": due_shard(after.uuid, shards)}
        )
        self._outbox_diff(before, after)
        if domain.has_state_change(before, after):
            self.set("sv", _n(before.sv + 1))

    def set(self, attr: str, value: Any) -> None:
        self.names[f"#{attr}"] = attr
        self.values[f":{attr}"] = value
        self._sets.append(f"#{attr} = :{attr}")

    def add(self, attr: str, value: Any) -> None:
        self.names[f"#{attr}"] = attr
        self.values[f":{attr}"] = value
        self._adds.append(f"#{attr} :{attr}")

    def set_or_remove(self, attr: str, value: Any | None) -> None:
        if value is None:
            self.names[f"#{attr}"] = attr
            self._removes.append(f"#{attr}")
        else:
            self.set(attr, value)

    def guard_last_ping(self) -> str:
        self.names["#lp_old"] = "last_ping"
        if self._before.last_ping is None:
            return "attribute_not_exists(#lp_old)"
        self.values[":lp_old"] = _t(self._before.last_ping)
        return "#lp_old = :lp_old"

    def _outbox_diff(self, before: Check, after: Check) -> None:
        self.names["#outbox"] = "outbox"
        for i, flip_id in enumerate(sorted(after.outbox.keys() - before.outbox.keys())):
            self.names[f"#fa{i}"] = flip_id
            self.values[f":fa{i}"] = {"M": _flip_attrs(after.outbox[flip_id])}
            self._sets.append(f"#outbox.#fa{i} = :fa{i}")
        for i, flip_id in enumerate(sorted(before.outbox.keys() - after.outbox.keys())):
            self.names[f"#fr{i}"] = flip_id
            self._removes.append(f"#outbox.#fr{i}")

    def expression(self) -> str:
        parts = []
        if self._sets:
            parts.append("SET " + ", ".join(self._sets))
        if self._removes:
            parts.append("REMOVE " + ", ".join(self._removes))
        if self._adds:
            parts.append("ADD " + ", ".join(self._adds))
        if "#outbox" not in " ".join(parts):
            del self.names["#outbox"]
        return " ".join(parts)


class _DeadlineUpdate:
    """The SET/REMOVE clauses that store a check's ``alert_after`` and its due shard."""

    def __init__(self, check: Check, shards: int) -> None:
        due = domain.alert_after(check)
        self.names = {"#aa": "alert_after", "#ds": "due_shard"}
        self.values: dict[str, Any] = {}
        if due is None:
            self.removes, self.sets = ", #aa, #ds", ""
        else:
            self.values = {":aa": _epoch(due), ":ds": {"S": due_shard(check.uuid, shards)}}
            self.removes, self.sets = "", "SET #aa = :aa, #ds = :ds"


def check_to_item(check: Check, shards: int) -> Item:
    item: Item = {
        "pk": {"S": f"CHECK#{check.uuid}"},
        "sk": {"S": CHECK_SK},
        "project": {"S": check.project},
        "created": _t(check.created),
        "name": {"S": check.name},
        "slug": {"S": check.slug},
        "tags": {"S": check.tags},
        "desc": {"S": check.desc},
        "kind": {"S": check.kind},
        "timeout": _n(check.timeout),
        "grace": _n(check.grace),
        "schedule": {"S": check.schedule},
        "tz": {"S": check.tz},
        "manual_resume": {"BOOL": check.manual_resume},
        "methods": {"S": check.methods},
        "badge_key": {"S": check.badge_key},
        "site_root": {"S": check.site_root},
        "status": {"S": check.status},
        "n_pings": _n(check.n_pings),
        "runs": _runs(check.runs),
        "outbox": {"M": {fid: {"M": _flip_attrs(f)} for fid, f in check.outbox.items()}},
        "sv": _n(check.sv),
    }
    if check.max_duration is not None:
        item["max_duration"] = _n(check.max_duration)
    if check.last_ping is not None:
        item["last_ping"] = _t(check.last_ping)
    if check.last_duration is not None:
        item["last_duration"] = _n(check.last_duration)
    due = domain.alert_after(check)
    if due is not None:
        item["alert_after"] = _epoch(due)
        item["due_shard"] = {"S": due_shard(check.uuid, shards)}
    return item


def check_from_item(item: Item) -> Check:
    return Check(
        uuid=item["pk"]["S"].removeprefix("CHECK#"),
        project=item["project"]["S"],
        created=_parse_t(item["created"]),
        name=item["name"]["S"],
        slug=item["slug"]["S"],
        tags=item["tags"]["S"],
        desc=item["desc"]["S"],
        kind=item["kind"]["S"],
        timeout=int(item["timeout"]["N"]),
        grace=int(item["grace"]["N"]),
        schedule=item["schedule"]["S"],
        tz=item["tz"]["S"],
        max_duration=int(item["max_duration"]["N"]) if "max_duration" in item else None,
        manual_resume=item["manual_resume"]["BOOL"],
        methods=item["methods"]["S"],
        badge_key=item["badge_key"]["S"],
        site_root=item["site_root"]["S"],
        status=item["status"]["S"],
        n_pings=int(item["n_pings"]["N"]),
        last_ping=_parse_t(item["last_ping"]) if "last_ping" in item else None,
        last_duration=float(item["last_duration"]["N"]) if "last_duration" in item else None,
        runs={rid: _parse_t(at) for rid, at in item["runs"]["M"].items()},
        outbox={fid: _flip_from(v["M"], fid) for fid, v in item["outbox"]["M"].items()},
        sv=int(item["sv"]["N"]),
    )


def _flip_attrs(flip: Flip) -> Item:
    return {
        "id": {"S": flip.id},
        "at": _t(flip.at),
        "old": {"S": flip.old},
        "new": {"S": flip.new},
        "reason": {"S": flip.reason},
        "lease": _t(flip.lease),
    }


def _flip_from(attrs: Item, flip_id: str | None = None) -> Flip:
    return Flip(
        id=flip_id or attrs["id"]["S"],
        at=_parse_t(attrs["at"]),
        old=attrs["old"]["S"],
        new=attrs["new"]["S"],
        reason=attrs["reason"]["S"],
        lease=_parse_t(attrs["lease"]),
    )


def _ping_entry(item: Item) -> LoggedPing:
    ping = Ping(
        action=item["kind"]["S"],
        rid=item["rid"]["S"] if "rid" in item else None,
        exitstatus=int(item["exitstatus"]["N"]) if "exitstatus" in item else None,
        method=item["method"]["S"],
        ua=item["ua"]["S"],
        remote_addr=item["remote_addr"]["S"],
        scheme=item["scheme"]["S"],
        body=bytes(item["body"]["B"]),
    )
    return LoggedPing(int(item["n"]["N"]), _parse_t(item["at"]), item["kind"]["S"], ping)


def _check_key(check_uuid: str) -> Item:
    return {"pk": {"S": f"CHECK#{check_uuid}"}, "sk": {"S": CHECK_SK}}


def _put_new(item: Item, table: str) -> Item:
    return {
        "Put": {
            "TableName": table,
            "Item": item,
            "ConditionExpression": "attribute_not_exists(pk)",
        }
    }


def _stale(exc: Any) -> Exception:
    item = exc.response.get("Item")
    if item is None:
        return NotFound()
    return StaleCheck(check_from_item(item))


def _runs(runs: Mapping[str, datetime]) -> Item:
    return {"M": {rid: _t(at) for rid, at in runs.items()}}


def _n(value: int | float) -> Item:
    return {"N": repr(value) if isinstance(value, float) else str(value)}


def _t(value: datetime) -> Item:
    domain.require_aware(value)
    return {"S": value.astimezone(UTC).isoformat()}


def _parse_t(attr: Item) -> datetime:
    return datetime.fromisoformat(attr["S"])


def _epoch(value: datetime) -> Item:
    # The GSI range key must be a number: moto accepts a string here and then crashes on Query.
    domain.require_aware(value)
    return {"N": f"{value.timestamp():.6f}"}
