"""How checks, flips and pings map to DynamoDB items and update expressions.

Kept apart from ``dynamo.py`` so the adapter reads as a list of operations. Attribute types are
checked here, because moto accepts a wrongly typed GSI key and then crashes on Query.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib import domain
from chalicelib.domain import Check, Flip, LoggedPing, Ping
from chalicelib.quiet import QuietWindow

Item = dict[str, Any]
CHECK_SK = "CHECK"

# Config attributes: (name, DynamoDB type, default when an older item lacks it).
_CONFIG_FIELDS: tuple[tuple[str, str, Any], ...] = (
    ("name", "S", ""),
    ("slug", "S", ""),
    ("tags", "S", ""),
    ("desc", "S", ""),
    ("kind", "S", "simple"),
    ("timeout", "N", domain.DEFAULT_TIMEOUT_SECONDS),
    ("grace", "N", domain.DEFAULT_GRACE_SECONDS),
    ("schedule", "S", domain.DEFAULT_SCHEDULE),
    ("tz", "S", "UTC"),
    ("manual_resume", "BOOL", False),
    ("methods", "S", ""),
    ("filter_subject", "BOOL", False),
    ("filter_body", "BOOL", False),
    ("filter_http_body", "BOOL", False),
    ("filter_default_fail", "BOOL", False),
    ("start_kw", "S", ""),
    ("success_kw", "S", ""),
    ("failure_kw", "S", ""),
    ("alerts_enabled", "BOOL", True),
    ("badge_key", "S", ""),
    ("site_root", "S", ""),
    ("stall_timeout", "N", 0),
    ("min_duration", "N", 0),
    ("fail_threshold", "N", 1),
    ("recover_threshold", "N", 1),
    ("repeat_every", "N", 0),
    ("quiet", "QUIET", ()),
    ("depends_on", "UUIDS", ()),
)
CONFIG_NAMES = tuple(name for name, _, _ in _CONFIG_FIELDS)


# The whole stored check (config and state). DynamoDB allows 400 KB, but every ping rewrites
# the item and DynamoDB bills a write unit per started KB of it, so a check stays small:
# this leaves 10,000 characters of desc (more if ASCII) plus every other field at its limit,
# and the open runs and pending flips, far below DynamoDB's ceiling.
MAX_CHECK_ITEM_BYTES = 32 * 1024


def item_size(item: Item) -> int:
    """An upper bound on DynamoDB's size of ``item`` (its JSON with type tags, in UTF-8)."""
    return len(json.dumps(item, ensure_ascii=False, separators=(",", ":")).encode())


# The due index is keyed by the deadline rounded down to a bucket, not by the deadline itself:
# a success ping moves ``alert_after`` but, most of the time, not its bucket, and DynamoDB
# writes a GSI entry only when the item's index keys or projected attributes change. The
# bucket is a lower bound of the deadline, so a sweep that reads every bucket up to ``now``
# sees every due check, never later than the exact key did.
DUE_BUCKET_SECONDS = 600

# The ping log: the newest pings live in the check item itself (``recent``, one compact entry
# each, numbered from ``log_base + 1``), so a ping is one conditional UpdateItem. Once more than
# ``PAGE_PINGS`` wait there, the ping that saw it writes them to a page item (a ring slot,
# overwritten in place) and trims them from the check. Bodies longer than
# ``INLINE_BODY_BYTES`` go to a body item (also a ring slot), so the check stays under 1 KB.
PAGE_PINGS = 7
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
INLINE_BODY_BYTES = 32
BODY_PREFIX_BYTES = 16
PAGE_PREFIX = "LOG#"
BODY_PREFIX = "BODY#"
LEGACY_PING_PREFIX = "PING#"


def check_key(check_uuid: str) -> Item:
    return {"pk": {"S": f"CHECK#{check_uuid}"}, "sk": {"S": CHECK_SK}}


# The version of a project's dependency graph (chalicelib.dependencies: it serialises edits of
# ``depends_on``) is an item of its own beside the project item, read and moved on only by those
# edits. Not an attribute of the project item: an UpdateItem of a project item that is missing
# (checks written without one, as in the drills) would create it half-written.
GRAPH_SK = "GRAPH"
GRAPH_VERSION = "version"


def graph_key(project: str) -> Item:
    return {"pk": {"S": f"PROJECT#{project}"}, "sk": {"S": GRAPH_SK}}


def graph_version_of(item: Item | None) -> int:
    """An absent item is version 0: projects from before the version, or never edited so."""
    return 0 if item is None else int(item[GRAPH_VERSION]["N"])


def graph_bump(table: str, project: str, version: int) -> Item:
    """The transaction item that moves the graph from ``version`` to the next, or fails."""
    condition = "#v = :old" if version else "attribute_not_exists(#v)"
    values: Item = {":new": n(version + 1)}
    if version:
        values[":old"] = n(version)
    return {
        "Update": {
            "TableName": table,
            "Key": graph_key(project),
            "UpdateExpression": "SET #v = :new",
            "ConditionExpression": condition,
            "ExpressionAttributeNames": {"#v": GRAPH_VERSION},
            "ExpressionAttributeValues": values,
        }
    }


def due_shard(check_uuid: str, shards: int) -> str:
    return str(int(check_uuid.replace("-", ""), 16) % shards)


def check_to_item(check: Check, shards: int) -> Item:
    item: Item = {
        **check_key(check.uuid),
        "project": {"S": check.project},
        "created": t(check.created),
        **config_attrs(check),
        "status": {"S": check.status},
        "n_pings": n(check.n_pings),
        "runs": runs_attr(check.runs),
        "progress": runs_attr(check.progress),
        "failures": n(check.failures),
        "successes": n(check.successes),
        "reminded": n(check.reminded),
        "outbox": {"M": {fid: {"M": flip_attrs(f)} for fid, f in check.outbox.items()}},
        "sv": n(check.sv),
        # A new check's log starts after the pings it already has (none, unless imported).
        "log_base": n(check.n_pings),
        "recent": {"L": []},
    }
    if check.last_ping is not None:
        item["last_ping"] = t(check.last_ping)
    if check.last_duration is not None:
        item["last_duration"] = n(check.last_duration)
    if check.missed is not None:
        item["missed"] = t(check.missed)
    if check.outage is not None:
        item["outage"] = {"M": flip_attrs(check.outage)}
    item.update(deadline_attrs(check, shards))
    return item


def config_attrs(check: Check) -> Item:
    """The config attributes that differ from their defaults (a missing one reads as default).

    Leaving defaults out keeps the check item small: every ping rewrites it, at one write
    unit per started KB, and the newest pings share that KB.
    """
    attrs: Item = {
        name: _encode(kind, getattr(check, name))
        for name, kind, default in _CONFIG_FIELDS
        if getattr(check, name) != default
    }
    if check.max_duration is not None:
        attrs["max_duration"] = n(check.max_duration)
    if check.channel_ids is not None:
        attrs["channel_ids"] = {"S": check.channel_ids}
    return attrs


def deadline_attrs(check: Check, shards: int) -> Item:
    """``alert_after`` (exact), its bucket (the due index's sort key) and shard, or nothing."""
    due = domain.alert_after(check)
    if due is None:
        return {}
    return {
        "alert_after": epoch(due),
        "due_bucket": n(due_bucket(due)),
        "due_shard": {"S": due_shard(check.uuid, shards)},
    }


def due_bucket(at: datetime) -> int:
    """The start of ``at``'s bucket, in UNIX seconds: never after ``at``."""
    domain.require_aware(at)
    return bucket_start(at.timestamp())


def bucket_start(seconds: float) -> int:
    # Monotone, which is what the sweep relies on: a deadline at or before ``now`` never has
    # a bucket after ``now``'s.
    return math.floor(seconds / DUE_BUCKET_SECONDS) * DUE_BUCKET_SECONDS


class MalformedItem(Exception):
    """A stored check item that cannot be read (a missing or wrongly typed attribute)."""

    def __init__(self, key: str, problem: Exception) -> None:
        super().__init__(f"malformed check item {key}: {problem!r}")
        self.key = key


def check_from_item(item: Item) -> Check:
    """The check an item holds; ``MalformedItem`` if an attribute is missing or mistyped."""
    try:
        return _check_from_item(item)
    except (KeyError, TypeError, ValueError, AttributeError) as problem:
        key = str(item.get("pk", {}).get("S", "?")) if isinstance(item, dict) else "?"
        raise MalformedItem(key, problem) from problem


def _check_from_item(item: Item) -> Check:
    config = {
        name: _decode(kind, item[name]) if name in item else default
        for name, kind, default in _CONFIG_FIELDS
    }
    return Check(
        uuid=item["pk"]["S"].removeprefix("CHECK#"),
        project=item["project"]["S"],
        created=parse_t(item["created"]),
        max_duration=int(item["max_duration"]["N"]) if "max_duration" in item else None,
        channel_ids=item["channel_ids"]["S"] if "channel_ids" in item else None,
        status=item["status"]["S"],
        n_pings=int(item["n_pings"]["N"]),
        last_ping=parse_t(item["last_ping"]) if "last_ping" in item else None,
        last_duration=float(item["last_duration"]["N"]) if "last_duration" in item else None,
        runs={rid: parse_t(at) for rid, at in item["runs"]["M"].items()},
        progress={rid: parse_t(at) for rid, at in item.get("progress", {"M": {}})["M"].items()},
        outbox={fid: flip_from(v["M"], fid) for fid, v in item["outbox"]["M"].items()},
        failures=_int_or(item, "failures", 0),
        successes=_int_or(item, "successes", 0),
        missed=parse_t(item["missed"]) if "missed" in item else None,
        outage=flip_from(item["outage"]["M"]) if "outage" in item else None,
        reminded=_int_or(item, "reminded", 0),
        sv=int(item["sv"]["N"]),
        **config,
    )


def _int_or(item: Item, name: str, default: int) -> int:
    return int(item[name]["N"]) if name in item else default


def _encode(kind: str, value: Any) -> Item:
    if kind == "N":
        return n(value)
    if kind == "QUIET":
        return {"L": [{"M": _window_attrs(window)} for window in value]}
    if kind == "UUIDS":
        return {"L": [{"S": check_uuid} for check_uuid in value]}
    return {kind: value}


def _decode(kind: str, attr: Item) -> Any:
    if kind == "N":
        return int(attr["N"])
    if kind == "QUIET":
        return tuple(_window_from(entry["M"]) for entry in attr["L"])
    if kind == "UUIDS":
        return tuple(entry["S"] for entry in attr["L"])
    return attr[kind]


def _window_attrs(window: QuietWindow) -> Item:
    attrs: Item = {"schedule": {"S": window.schedule}, "duration": n(window.duration)}
    if window.tz is not None:
        attrs["tz"] = {"S": window.tz}
    return attrs


def _window_from(attrs: Item) -> QuietWindow:
    zone = attrs["tz"]["S"] if "tz" in attrs else None
    return QuietWindow(attrs["schedule"]["S"], int(attrs["duration"]["N"]), zone)


def flip_attrs(flip: Flip) -> Item:
    attrs: Item = {
        "id": {"S": flip.id},
        "at": t(flip.at),
        "old": {"S": flip.old},
        "new": {"S": flip.new},
        "reason": {"S": flip.reason},
        "lease": t(flip.lease),
    }
    if flip.attempts:
        attrs["attempts"] = n(flip.attempts)
    if flip.failures:
        attrs["failures"] = n(flip.failures)
    if flip.reminder:
        attrs["reminder"] = n(flip.reminder)
    if flip.held:
        attrs["held"] = {"BOOL": True}
    if flip.held_by:
        attrs["held_by"] = {"L": [{"S": check_uuid} for check_uuid in flip.held_by]}
    if flip.silent:
        attrs["silent"] = {"BOOL": True}
    return attrs


def flip_from(attrs: Item, flip_id: str | None = None) -> Flip:
    # The outbox key of a reminder is not its flip id; the id attribute always is.
    return Flip(
        id=attrs["id"]["S"] if "id" in attrs else str(flip_id),
        at=parse_t(attrs["at"]),
        old=attrs["old"]["S"],
        new=attrs["new"]["S"],
        reason=attrs["reason"]["S"],
        lease=parse_t(attrs["lease"]),
        attempts=_int_or(attrs, "attempts", 0),
        failures=_int_or(attrs, "failures", 0),
        reminder=_int_or(attrs, "reminder", 0),
        held="held" in attrs and bool(attrs["held"]["BOOL"]),
        held_by=tuple(entry["S"] for entry in attrs.get("held_by", {"L": []})["L"]),
        silent="silent" in attrs and bool(attrs["silent"]["BOOL"]),
    )


def log_entry(at: datetime, kind: str, ping: Ping) -> str:
    """One ping as a compact JSON array, for the check's ``recent`` list and the log pages.

    ``[time in µs, kind, method, scheme, address, user agent, rid, exit status, body, size]``,
    trailing empties left out. A body up to ``INLINE_BODY_BYTES`` is inline (base64); a longer
    one keeps its first ``BODY_PREFIX_BYTES`` here and its size, and lives in a body item.
    """
    domain.require_aware(at)
    micros = (at - EPOCH) // timedelta(microseconds=1)  # exact: no float on the way
    body = ping.body if len(ping.body) <= INLINE_BODY_BYTES else ping.body[:BODY_PREFIX_BYTES]
    fields: list[Any] = [
        micros,
        kind,
        ping.method,
        ping.scheme,
        ping.remote_addr,
        ping.ua,
        ping.rid,
        ping.exitstatus,
        base64.b64encode(body).decode() if body else None,
        len(ping.body) if body_apart(ping) else None,
    ]
    while fields[-1] is None:
        fields.pop()
    return json.dumps(fields, ensure_ascii=False, separators=(",", ":"))


def body_apart(ping: Ping) -> bool:
    """Whether the ping's body is kept in a body item rather than in its log entry."""
    return len(ping.body) > INLINE_BODY_BYTES


def entry_from(text: str, number: int) -> tuple[LoggedPing, int | None]:
    """The logged ping, and the size of its whole body when that lives in a body item.

    Then the returned body is only its first bytes.
    """
    fields: list[Any] = json.loads(text)
    fields += [None] * (10 - len(fields))
    micros, kind, method, scheme, addr, ua, rid, exitstatus, body, size = fields
    at = EPOCH + timedelta(microseconds=int(micros))
    ping = Ping(
        action=kind,
        rid=rid,
        exitstatus=exitstatus,
        method=method or "GET",
        ua=ua or "",
        remote_addr=addr or "",
        scheme=scheme or "http",
        body=base64.b64decode(body) if body else b"",
    )
    return LoggedPing(number, at, kind, ping), size


def recent_entries(item: Item) -> list[tuple[LoggedPing, int | None]]:
    """The pings kept in a check item, oldest first (none for an item from before)."""
    if "log_base" not in item or "recent" not in item:
        return []
    base = int(item["log_base"]["N"])
    texts = [value["S"] for value in item["recent"]["L"]]
    return [entry_from(text, base + 1 + i) for i, text in enumerate(texts)]


def page_slots(log_limit: int) -> int:
    """How many page items a check's log ring has: enough to hold ``log_limit`` pings.

    The newest page may be partly filled and the rest of the newest pings wait in the check
    item, so two more than the limit needs.
    """
    return math.ceil(log_limit / PAGE_PINGS) + 2


def page_of(number: int) -> int:
    """Pages are aligned: page p holds pings p*PAGE_PINGS+1 .. (p+1)*PAGE_PINGS."""
    return (number - 1) // PAGE_PINGS


def page_sk(page: int, log_limit: int) -> str:
    return f"{PAGE_PREFIX}{page % page_slots(log_limit):05d}"


def body_sk(number: int, log_limit: int) -> str:
    # As many body slots as the page ring holds pings, so no body still listed is overwritten.
    return f"{BODY_PREFIX}{number % (page_slots(log_limit) * PAGE_PINGS):05d}"


def page_item(check_uuid: str, first: int, entries: Sequence[str], log_limit: int) -> Item:
    return {
        "pk": {"S": f"CHECK#{check_uuid}"},
        "sk": {"S": page_sk(page_of(first), log_limit)},
        "first": n(first),
        "entries": {"L": [{"S": text} for text in entries]},
    }


def page_entries(item: Item) -> list[tuple[LoggedPing, int | None]]:
    first = int(item["first"]["N"])
    return [entry_from(v["S"], first + i) for i, v in enumerate(item["entries"]["L"])]


def body_item(check_uuid: str, number: int, body: bytes, log_limit: int) -> Item:
    return {
        "pk": {"S": f"CHECK#{check_uuid}"},
        "sk": {"S": body_sk(number, log_limit)},
        "n": n(number),
        "body": {"B": body},
    }


def legacy_ping_sk(number: int) -> str:
    """The one-item-per-ping log of releases before the ring; still read until it ages out."""
    return f"{LEGACY_PING_PREFIX}{number:010d}"


def legacy_logged_ping(item: Item) -> LoggedPing:
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
    return LoggedPing(int(item["n"]["N"]), parse_t(item["at"]), item["kind"]["S"], ping)


def runs_attr(runs: Mapping[str, datetime]) -> Item:
    return {"M": {rid: t(at) for rid, at in runs.items()}}


def n(value: int | float) -> Item:
    return {"N": repr(value) if isinstance(value, float) else str(value)}


def t(value: datetime) -> Item:
    domain.require_aware(value)
    return {"S": value.astimezone(UTC).isoformat()}


def parse_t(attr: Item) -> datetime:
    return datetime.fromisoformat(attr["S"])


def epoch(value: datetime) -> Item:
    # The GSI range key must be a number: moto accepts a string here and then crashes on Query.
    domain.require_aware(value)
    return {"N": f"{value.timestamp():.6f}"}


class Update:
    """Collects SET / REMOVE clauses with placeholder names, for one UpdateItem."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}
        self.values: dict[str, Any] = {}
        self._sets: list[str] = []
        self._removes: list[str] = []

    def set(self, attr: str, value: Any) -> None:
        self.names[f"#{attr}"] = attr
        self.values[f":{attr}"] = value
        self._sets.append(f"#{attr} = :{attr}")

    def remove(self, attr: str) -> None:
        self.names[f"#{attr}"] = attr
        self._removes.append(f"#{attr}")

    def set_or_remove(self, attr: str, value: Any | None) -> None:
        if value is None:
            self.remove(attr)
        else:
            self.set(attr, value)

    def set_deadline(self, check: Check, shards: int) -> None:
        attrs = deadline_attrs(check, shards)
        self.set_or_remove("alert_after", attrs.get("alert_after"))
        # Rewritten with every deadline, but DynamoDB writes the index entry only when the
        # bucket (or the shard) really changes.
        self.set_or_remove("due_bucket", attrs.get("due_bucket"))
        self.set_or_remove("due_shard", attrs.get("due_shard"))

    def set_raw(self, clause: str) -> None:
        """A SET action written out (its names and values added by the caller)."""
        self._sets.append(clause)

    def append_ping(self, entry: str) -> None:
        """Count a ping and append its log entry to ``recent``, in this same UpdateItem.

        DynamoDB evaluates every action against the item as it was before the update
        (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Expressions.UpdateExpressions.html,
        the note under "update expression syntax"), so ``log_base`` set from ``n_pings`` takes
        the count before this ping: an item written before the ping log moved into the check
        (no ``log_base`` yet) starts its log at this ping's number. ``list_append`` with
        ``if_not_exists`` is the documented way to append to a list that may not exist yet
        (same page, "Appending elements to a list"). Listed first, so moto (which applies the
        actions left to right) agrees.
        """
        self.names.update({"#log_base": "log_base", "#recent": "recent", "#n_pings": "n_pings"})
        self.values.update(
            {":no_pings": {"L": []}, ":entry": {"L": [{"S": entry}]}, ":one": {"N": "1"}}
        )
        self._sets[:0] = [
            "#log_base = if_not_exists(#log_base, #n_pings)",
            "#recent = list_append(if_not_exists(#recent, :no_pings), :entry)",
            "#n_pings = #n_pings + :one",
        ]

    def set_map_entry(self, attr: str, key: str, value: Any) -> None:
        index = len(self.names)
        self.names[f"#{attr}"] = attr
        self.names[f"#k{index}"] = key
        self.values[f":k{index}"] = value
        self._sets.append(f"#{attr}.#k{index} = :k{index}")

    def remove_map_entry(self, attr: str, key: str) -> None:
        index = len(self.names)
        self.names[f"#{attr}"] = attr
        self.names[f"#k{index}"] = key
        self._removes.append(f"#{attr}.#k{index}")

    def expression(self) -> str:
        parts = []
        if self._sets:
            parts.append("SET " + ", ".join(self._sets))
        if self._removes:
            parts.append("REMOVE " + ", ".join(self._removes))
        return " ".join(parts)


def state_update(before: Check, after: Check, shards: int) -> Update:
    """Move a check's state from ``before`` to ``after``; bump the version if it changed."""
    update = Update()
    update.set("status", {"S": after.status})
    update.set("runs", runs_attr(after.runs))
    update.set("progress", runs_attr(after.progress))
    update.set("failures", n(after.failures))
    update.set("successes", n(after.successes))
    update.set("reminded", n(after.reminded))
    update.set_or_remove("missed", None if after.missed is None else t(after.missed))
    update.set_or_remove(
        "outage", None if after.outage is None else {"M": flip_attrs(after.outage)}
    )
    update.set_or_remove("last_ping", None if after.last_ping is None else t(after.last_ping))
    update.set_or_remove(
        "last_duration", None if after.last_duration is None else n(after.last_duration)
    )
    update.set_deadline(after, shards)
    for flip_id in sorted(after.outbox.keys() - before.outbox.keys()):
        update.set_map_entry("outbox", flip_id, {"M": flip_attrs(after.outbox[flip_id])})
    for flip_id in sorted(before.outbox.keys() - after.outbox.keys()):
        update.remove_map_entry("outbox", flip_id)
    for flip_id in sorted(_changed_flips(before, after)):  # a down alert held or released
        update.set_map_entry("outbox", flip_id, {"M": flip_attrs(after.outbox[flip_id])})
    if domain.has_state_change(before, after):
        update.set("sv", n(before.sv + 1))
    return update


def _changed_flips(before: Check, after: Check) -> set[str]:
    """Flips in both outboxes that ``after`` changes; an unchanged one is not written, so a
    writer never puts back a lease that another sweep has since claimed."""
    both = before.outbox.keys() & after.outbox.keys()
    return {key for key in both if before.outbox[key] != after.outbox[key]}


def config_update(before: Check, after: Check, shards: int) -> Update:
    """Rewrite a check's configuration and its deadline; always a new state version."""
    update = Update()
    attrs = config_attrs(after)
    for name, value in attrs.items():
        update.set(name, value)
    for name in CONFIG_NAMES:
        if name not in attrs:
            update.remove(name)  # back to its default: stored as absent
    if after.max_duration is None:
        update.remove("max_duration")
    update.set_deadline(after, shards)
    update.set("sv", n(before.sv + 1))
    return update
