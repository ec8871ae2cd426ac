"""What every use case receives: settings, the store, the alerter and per-process caches.

``chalicelib.wiring`` builds the real one (DynamoDB, SNS); tests build theirs with fakes.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from chalicelib.badges import BadgeSnapshots

if TYPE_CHECKING:  # the ports are types only here; a cold ping imports what it uses of them
    from chalicelib.alerts import Alerter
    from chalicelib.channel_ports import ChannelStore
    from chalicelib.domain import Check
    from chalicelib.settings import Settings
    from chalicelib.store import CheckStore

SNAPSHOT_CACHE_SIZE = 1024


class SnapshotCache:
    """Last known state per check, so a warm ping writes without reading first.

    A stale entry costs nothing but a retry: the conditional write fails and returns the
    current item.
    """

    def __init__(self, size: int = SNAPSHOT_CACHE_SIZE) -> None:
        self._size = size
        self._items: OrderedDict[str, Check] = OrderedDict()

    def get(self, check_uuid: str) -> Check | None:
        check = self._items.get(check_uuid)
        if check is not None:
            self._items.move_to_end(check_uuid)
        return check

    def put(self, check: Check) -> None:
        self._items[check.uuid] = check
        self._items.move_to_end(check.uuid)
        while len(self._items) > self._size:
            self._items.popitem(last=False)

    def drop(self, check_uuid: str) -> None:
        self._items.pop(check_uuid, None)


@dataclass
class Deps:
    """The use cases' collaborators, built once per process by ``wiring``."""

    settings: Settings
    store: CheckStore
    alerter: Alerter
    snapshots: SnapshotCache = field(default_factory=SnapshotCache)
    ping_keys: dict[str, str] = field(default_factory=dict)
    badge_snapshots: BadgeSnapshots = field(default_factory=BadgeSnapshots)
    channels: ChannelStore | None = None  # alert channels (chalicelib/channel_service.py)
