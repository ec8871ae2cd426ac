"""Count the AWS requests the code really makes, and price them in DynamoDB capacity units.

moto's ConsumedCapacity is fake (traps.md §3: a fixed 0.5 or 1.0 whatever the size), so the
meter derives capacity from item sizes instead, with DynamoDB's published rules:

* a write costs one write request unit (WRU) per started KB of the larger of the item before
  and after; each global secondary index whose entry is added, removed or changed costs its own
  writes, and a changed index key costs two (delete the old entry, put the new one);
* a read costs one read request unit (RRU) per started 4 KB (a Query or Scan sums its items
  first), half that when eventually consistent; transactions cost double.

Hooks on botocore's event system see every call of every client created from the hooked
session, whatever code makes it. Item sizes come from snapshots taken through a separate,
unhooked client, so measuring never counts itself.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

Item = dict[str, Any]

WRITE_UNIT_BYTES = 1024
READ_UNIT_BYTES = 4096
READ_OPS = frozenset({"GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems"})
WRITE_OPS = frozenset(
    {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
)
_PROJECTION_PARAMS = ("ProjectionExpression", "Select")


# --- DynamoDB item sizes (developer guide: "Item sizes and formats") -----------------------


def attribute_size(value: Mapping[str, Any]) -> int:
    ((kind, raw),) = value.items()
    if kind == "S":
        return len(raw.encode())
    if kind == "N":
        return number_size(raw)
    if kind == "B":
        return len(raw)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(s.encode()) for s in raw)
    if kind == "NS":
        return sum(number_size(s) for s in raw)
    if kind == "BS":
        return sum(len(b) for b in raw)
    if kind == "M":
        return 3 + sum(len(k.encode()) + attribute_size(v) + 1 for k, v in raw.items())
    if kind == "L":
        return 3 + sum(attribute_size(v) + 1 for v in raw)
    raise ValueError(f"unknown attribute type {kind}")


def number_size(text: str) -> int:
    """About one byte per two significant digits, plus one."""
    digits = format(abs(Decimal(text)).normalize(), "f").replace(".", "").strip("0")
    return (len(digits) + 1) // 2 + 1


def item_size(item: Mapping[str, Any] | None) -> int:
    if not item:
        return 0
    return sum(len(name.encode()) + attribute_size(value) for name, value in item.items())


def write_units(size: int) -> int:
    return max(1, math.ceil(size / WRITE_UNIT_BYTES))


def read_units(size: int, consistent: bool) -> float:
    units = max(1, math.ceil(size / READ_UNIT_BYTES))
    return float(units) if consistent else units / 2


# --- indexes --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Index:
    name: str
    keys: tuple[str, ...]
    projection: str  # ALL | KEYS_ONLY | INCLUDE
    included: tuple[str, ...] = ()

    def entry(self, item: Item | None, table_keys: tuple[str, ...]) -> Item | None:
        """The item's entry in this (sparse) index, or None if it has no entry."""
        if not item or any(key not in item for key in self.keys):
            return None
        if self.projection == "ALL":
            return item
        kept = set(table_keys) | set(self.keys) | set(self.included)
        return {name: value for name, value in item.items() if name in kept}


def indexes_of(schema: Mapping[str, Any]) -> tuple[Index, ...]:
    found = []
    for gsi in schema.get("GlobalSecondaryIndexes", []):
        projection = gsi["Projection"]
        found.append(
            Index(
                gsi["IndexName"],
                tuple(k["AttributeName"] for k in gsi["KeySchema"]),
                projection["ProjectionType"],
                tuple(projection.get("NonKeyAttributes", [])),
            )
        )
    return tuple(found)


def index_write_units(
    index: Index, before: Item | None, after: Item | None, keys: tuple[str, ...]
) -> int:
    old, new = index.entry(before, keys), index.entry(after, keys)
    if old is None and new is None:
        return 0
    if old is None or new is None:
        return write_units(item_size(old or new))
    if any(old[k] != new[k] for k in index.keys):
        return write_units(item_size(old)) + write_units(item_size(new))
    return write_units(item_size(new)) if old != new else 0


# --- what was called ------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    service: str
    operation: str
    ok: bool
    wru: float = 0.0
    rru: float = 0.0
    items_read: int = 0
    index: str | None = None


@dataclass
class Tally:
    """Totals over a run of calls, divided by ``per`` (e.g. the number of pings)."""

    requests: Counter[str] = field(default_factory=Counter)
    wru: float = 0.0
    rru: float = 0.0
    items_read: int = 0
    per: int = 1

    @classmethod
    def of(cls, calls: Iterable[Call], per: int = 1) -> Tally:
        tally = cls(per=per)
        for call in calls:
            tally.requests[f"{call.service}:{call.operation}"] += 1
            tally.wru += call.wru
            tally.rru += call.rru
            tally.items_read += call.items_read
        return tally

    def count(self, *, ops: frozenset[str] | None = None, service: str = "dynamodb") -> float:
        total = sum(
            n
            for name, n in self.requests.items()
            if name.startswith(service + ":") and (ops is None or name.split(":")[1] in ops)
        )
        return total / self.per

    @property
    def writes(self) -> float:
        return self.count(ops=WRITE_OPS)

    @property
    def reads(self) -> float:
        return self.count(ops=READ_OPS)

    @property
    def publishes(self) -> float:
        return self.count(service="sns")

    def each(self, value: float) -> float:
        return value / self.per

    def breakdown(self) -> str:
        parts = [
            f"{name.split(':')[1]} {n / self.per:g}"
            for name, n in sorted(self.requests.items())
            if name.startswith("dynamodb:")
        ]
        return ", ".join(parts) or "none"


class Meter:
    """Records a ``Call`` for every AWS call made by clients of the hooked session."""

    def __init__(self, raw_dynamodb: Any, table: str, schema: Mapping[str, Any]) -> None:
        self._raw = raw_dynamodb
        self._table = table
        self._keys = tuple(k["AttributeName"] for k in schema["KeySchema"])
        self._indexes = indexes_of(schema)
        self.calls: list[Call] = []

    def attach(self, events: Any) -> None:
        events.register("provide-client-params.dynamodb", self._before)
        events.register("after-call", self._after)

    def mark(self) -> int:
        return len(self.calls)

    def since(self, mark: int, per: int = 1) -> Tally:
        return Tally.of(self.calls[mark:], per)

    # --- hooks --------------------------------------------------------------------------

    def _before(self, params: Item, model: Any, context: dict[str, Any], **_: Any) -> None:
        context["bench_params"] = params
        if model.name in WRITE_OPS:
            context["bench_before"] = {
                key: self._snapshot(key) for key in self._written(model.name, params)
            }

    def _after(
        self, http_response: Any, parsed: Item, model: Any, context: dict[str, Any], **_: Any
    ) -> None:
        service = model.service_model.service_name
        ok = http_response.status_code < 300
        if service != "dynamodb":
            self.calls.append(Call(service, model.name, ok))
            return
        params = context.get("bench_params", {})
        if model.name in WRITE_OPS:
            self.calls.append(
                self._write_call(model.name, params, context.get("bench_before", {}), ok)
            )
        elif model.name in READ_OPS:
            self.calls.append(self._read_call(model.name, params, parsed, ok))
        else:
            self.calls.append(Call(service, model.name, ok))

    # --- writes ---------------------------------------------------------------------------

    def _write_call(
        self, op: str, params: Item, before: dict[tuple[str, ...], Item | None], ok: bool
    ) -> Call:
        factor = 2 if op == "TransactWriteItems" else 1
        wru = 0
        for key, old in before.items():
            # A failed condition is still charged for the item it read; it changes no index.
            new = self._snapshot(key) if ok else old
            wru += factor * write_units(max(item_size(old), item_size(new)))
            wru += sum(index_write_units(ix, old, new, self._keys) for ix in self._indexes)
        return Call("dynamodb", op, ok, wru=float(wru))

    def _written(self, op: str, params: Item) -> list[tuple[str, ...]]:
        if op == "PutItem":
            return [self._key_of(params["Item"])]
        if op in ("UpdateItem", "DeleteItem"):
            return [self._key_of(params["Key"])]
        if op == "BatchWriteItem":
            requests = params["RequestItems"].get(self._table, [])
            return [
                self._key_of(
                    r["PutRequest"]["Item"] if "PutRequest" in r else r["DeleteRequest"]["Key"]
                )
                for r in requests
            ]
        keys = []
        for entry in params["TransactItems"]:
            ((_, body),) = entry.items()
            keys.append(self._key_of(body.get("Item") or body["Key"]))
        return keys

    def _key_of(self, item: Item) -> tuple[str, ...]:
        return tuple(item[name]["S"] for name in self._keys)

    def _snapshot(self, key: tuple[str, ...]) -> Item | None:
        reply = self._raw.get_item(
            TableName=self._table,
            Key={name: {"S": value} for name, value in zip(self._keys, key, strict=True)},
            ConsistentRead=True,
        )
        item: Item | None = reply.get("Item")
        return item

    # --- reads ----------------------------------------------------------------------------

    def _read_call(self, op: str, params: Item, parsed: Item, ok: bool) -> Call:
        if not ok:
            return Call("dynamodb", op, ok)
        consistent = bool(params.get("ConsistentRead"))
        if op == "GetItem":
            item = parsed.get("Item")
            return Call(
                "dynamodb",
                op,
                ok,
                rru=read_units(item_size(item), consistent),
                items_read=int(item is not None),
            )
        if op == "BatchGetItem":
            # Consistency is chosen per table, inside RequestItems.
            requested = params.get("RequestItems", {}).values()
            consistent = any(bool(r.get("ConsistentRead")) for r in requested)
            found = [i for items in parsed.get("Responses", {}).values() for i in items]
            rru = sum(read_units(item_size(i), consistent) for i in found)
            return Call("dynamodb", op, ok, rru=rru, items_read=len(found))
        items = self._evaluated(op, params, parsed)
        total = sum(item_size(i) for i in items)
        rru = read_units(total, consistent)
        return Call(
            "dynamodb", op, ok, rru=rru, items_read=len(items), index=params.get("IndexName")
        )

    def _evaluated(self, op: str, params: Item, parsed: Item) -> list[Item]:
        """Items a Query or Scan read: whole items, even when it returned only some attributes."""
        items: list[Item] = parsed.get("Items", [])
        if not any(name in params for name in _PROJECTION_PARAMS):
            return items
        full = {k: v for k, v in params.items() if k not in _PROJECTION_PARAMS}
        reply = getattr(self._raw, "query" if op == "Query" else "scan")(**full)
        evaluated: list[Item] = reply.get("Items", [])
        return evaluated


class CallTimer:
    """Wall time spent inside AWS calls: serialize, send (to moto), parse."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def attach(self, events: Any) -> None:
        events.register("provide-client-params", self._start)
        events.register("after-call", self._stop)

    def _start(self, context: dict[str, Any], **_: Any) -> None:
        context["bench_started"] = time.perf_counter()

    def _stop(self, context: dict[str, Any], **_: Any) -> None:
        started = context.get("bench_started")
        if started is not None:
            self.seconds += time.perf_counter() - started
