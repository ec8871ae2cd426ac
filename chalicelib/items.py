"""How checks, flips and pings map to DynamoDB items and update expressions.

Kept apart from ``dynamo.py`` so the adapter reads as a list of operations. Attribute types are
checked here, because moto accepts a wrongly typed GSI key and then crashes on Query.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
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


def check_key(check_uuid: str) -> Item:
    return {"pk": {"S": f"CHECK#{check_uuid}"}, "sk": {"S": CHECK_SK}}


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
    attrs: Item = {name: _encode(kind, getattr(check, name)) for name, kind, _ in _CONFIG_FIELDS}
    if check.max_duration is not None:
        attrs["max_duration"] = n(check.max_duration)
    if check.channel_ids is not None:
        attrs["channel_ids"] = {"S": check.channel_ids}
    return attrs


def deadline_attrs(check: Check, shards: int) -> Item:
    """``alert_after`` (a number: the due index's sort key) and the shard, or nothing."""
    due = domain.alert_after(check)
    if due is None:
        return {}
    return {"alert_after": epoch(due), "due_shard": {"S": due_shard(check.uuid, shards)}}


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


def ping_item(check_uuid: str, number: int, kind: str, ping: Ping, at: datetime) -> Item:
    item: Item = {
        "pk": {"S": f"CHECK#{check_uuid}"},
        "sk": {"S": ping_sk(number)},
        "n": n(number),
        "at": t(at),
        "kind": {"S": kind},
        "method": {"S": ping.method},
        "ua": {"S": ping.ua},
        "remote_addr": {"S": ping.remote_addr},
        "scheme": {"S": ping.scheme},
        "body": {"B": ping.body},
    }
    if ping.rid is not None:
        item["rid"] = {"S": ping.rid}
    if ping.exitstatus is not None:
        item["exitstatus"] = n(ping.exitstatus)
    return item


def ping_sk(number: int) -> str:
    return f"PING#{number:010d}"


def logged_ping(item: Item) -> LoggedPing:
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
    """Collects SET / REMOVE / ADD clauses with placeholder names, for one UpdateItem."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}
        self.values: dict[str, Any] = {}
        self._sets: list[str] = []
        self._removes: list[str] = []
        self._adds: list[str] = []

    def set(self, attr: str, value: Any) -> None:
        self.names[f"#{attr}"] = attr
        self.values[f":{attr}"] = value
        self._sets.append(f"#{attr} = :{attr}")

    def remove(self, attr: str) -> None:
        self.names[f"#{attr}"] = attr
        self._removes.append(f"#{attr}")

    def add(self, attr: str, value: Any) -> None:
        self.names[f"#{attr}"] = attr
        self.values[f":{attr}"] = value
        self._adds.append(f"#{attr} :{attr}")

    def set_or_remove(self, attr: str, value: Any | None) -> None:
        if value is None:
            self.remove(attr)
        else:
            self.set(attr, value)

    def set_deadline(self, check: Check, shards: int) -> None:
        attrs = deadline_attrs(check, shards)
        self.set_or_remove("alert_after", attrs.get("alert_after"))
        self.set_or_remove("due_shard", attrs.get("due_shard"))

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
        if self._adds:
            parts.append("ADD " + ", ".join(self._adds))
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
    if domain.has_state_change(before, after):
        update.set("sv", n(before.sv + 1))
    return update


def config_update(before: Check, after: Check, shards: int) -> Update:
    """Rewrite a check's configuration and its deadline; always a new state version."""
    update = Update()
    for name, value in config_attrs(after).items():
        update.set(name, value)
    if after.max_duration is None:
        update.remove("max_duration")
    update.set_deadline(after, shards)
    update.set("sv", n(before.sv + 1))
    return update
