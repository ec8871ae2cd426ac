"""Dependencies between checks (issue 11, item 6): validation, and who holds a down alert.

A check's ``depends_on`` names at most 10 checks of its own project. The graph is read by key,
level by level (one BatchGetItem per level through ``Loader``), never by scanning: the
transitive closure of a check is bounded by its project's checks.

Why a held alert re-evaluates on its own due time instead of being released by its upstream:
releasing from the upstream's side would make every ping, pause and delete of an upstream find
and write the checks it holds (a reverse index kept in step with every ``depends_on`` edit, and a
second conditional write on the ping path). Instead the held flip stays in its check's outbox
with a lease of ``HOLD_RECHECK``, so it is in the due index, and each sweep that finds it due
reads its upstreams by key and publishes it once nothing holds it. That costs one small batch
read per held check per sweep, only while an outage is held, and keeps the ping path at one
write. A deleted upstream is simply not found, and a paused one is not failing: either releases.

Why edits of ``depends_on`` are serialised per project: ``validate`` judges an edit against the
graph as read at that moment, so two edits at once (A -> B and B -> A) would each pass against
a graph without the other's edge, and together store a cycle. So an edit that changes a
``depends_on`` reads the project's graph version before the graph, and its write moves that
version on in the same transaction, on condition that it is still the one read. The edit that
loses reads the graph again and is judged again: the cycle's 400, as if it had come second,
or stored if there is no cycle any more. Nothing else pays: not pings, not other edits, not
creating a check (nothing can depend on a check before it exists), and not deleting one (that
takes edges away; an upstream deleted under an edit is left dangling, exactly as when it is
deleted after it, and reads as not found).
"""

from __future__ import annotations

import uuid as uuidlib
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from chalicelib import sweep_rules
from chalicelib.domain import Check
from chalicelib.errors import BadRequest, ValidationFailed

MAX_DEPENDENCIES = 10
# Reads per closure: far above any real chain, low enough to bound one request's cost.
MAX_CLOSURE = 1_000
HOLD_RECHECK = timedelta(minutes=1)
# How many upstream uuids a held alert names: enough to say where to look, and small enough
# that the check item and the alert stay within their size budgets however long the chain.
MAX_HELD_BY = 20

Loader = Callable[[Iterable[str]], Mapping[str, Check]]


def parse_depends_on(name: str, value: Any) -> tuple[str, ...]:
    """The field's syntax: a list of at most 10 canonical uuids, duplicates dropped."""
    if not isinstance(value, list):
        raise ValidationFailed(f"{name} is not an array")
    if len(value) > MAX_DEPENDENCIES:
        raise ValidationFailed(f"{name} is too long")
    found: list[str] = []
    for item in value:
        if not isinstance(item, str) or not _is_uuid(item):
            raise ValidationFailed(f"an item in '{name}' is not a valid uuid")
        if item.lower() not in found:
            found.append(item.lower())
    return tuple(found)


def _is_uuid(text: str) -> bool:
    try:
        return str(uuidlib.UUID(text)) == text.lower()
    except ValueError:
        return False


def closure(start: Iterable[str], project: str, load: Loader) -> dict[str, Check]:
    """Every check of ``project`` reachable from ``start`` through ``depends_on``."""
    found: dict[str, Check] = {}
    seen: set[str] = set()
    frontier = set(start)
    while frontier and len(seen) < MAX_CLOSURE:
        seen |= frontier
        loaded = {u: c for u, c in load(sorted(frontier)).items() if c.project == project}
        found.update(loaded)
        frontier = {up for check in loaded.values() for up in check.depends_on} - seen
    return found


def validate(check_uuid: str, project: str, depends_on: tuple[str, ...], load: Loader) -> None:
    """400 for an unknown check, another project's, the check itself, or a cycle.

    Against the graph ``load`` reads: an edit validated here must be stored only if that
    graph is still the project's (``CheckStore.write_config``'s ``graph_version``).
    """
    if check_uuid in depends_on:
        raise BadRequest("invalid dependency: a check cannot depend on itself")
    # The closure's first level is the direct upstreams of this project: one read for both.
    reachable = closure(depends_on, project, load)
    for upstream in depends_on:
        if upstream not in reachable:
            # Another project's check reads as unknown: projects are walled off.
            raise BadRequest(f"invalid dependency: {upstream} is not a check of this project")
    if check_uuid in reachable:
        raise BadRequest(f"invalid dependency: {check_uuid} would depend on itself (a cycle)")


def changes_graph(before: tuple[str, ...], after: tuple[str, ...]) -> bool:
    """Whether an edit adds or removes an upstream (a new order of the same ones does not)."""
    return set(before) != set(after)


def holders(check: Check, at: datetime, load: Loader) -> tuple[str, ...]:
    """The upstream checks, direct or transitive, that are failing at ``at``, sorted."""
    if not check.depends_on:
        return ()
    upstream = closure(check.depends_on, check.project, load)
    upstream.pop(check.uuid, None)
    return tuple(sorted(u for u, c in upstream.items() if sweep_rules.is_failing_at(c, at)))
