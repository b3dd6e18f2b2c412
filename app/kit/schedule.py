"""Which of a snapshot's items are live at a given moment (their publish/expire window).

The live set only changes at the items' ``publish_at`` and ``expire_at`` instants: between
two of them (an "epoch") it is computed once and reused, so serving a snapshot costs a
binary search, and scheduled items come and go without any write.
"""

from bisect import bisect_right
from collections.abc import Iterable
from datetime import datetime
from typing import Generic, Protocol, TypeVar


class Windowed(Protocol):
    @property
    def publish_at(self) -> datetime | None: ...

    @property
    def expire_at(self) -> datetime | None: ...


T = TypeVar("T", bound=Windowed)


def is_live_at(publish_at: datetime | None, expire_at: datetime | None, now: datetime) -> bool:
    return (publish_at is None or publish_at <= now) and (expire_at is None or now < expire_at)


class LiveSchedule(Generic[T]):
    __slots__ = ("_boundaries", "_by_epoch", "_items")

    def __init__(self, items: Iterable[T]) -> None:
        self._items = tuple(items)
        instants = {
            instant
            for item in self._items
            for instant in (item.publish_at, item.expire_at)
            if instant is not None
        }
        self._boundaries = tuple(sorted(instants))
        self._by_epoch: dict[int, tuple[T, ...]] = {}

    def epoch(self, now: datetime) -> int:
        """How many publish/expire instants are past: the live set is the same within one."""
        return bisect_right(self._boundaries, now)

    def live(self, now: datetime) -> tuple[T, ...]:
        """The items live at ``now``, in their given order (computed once per epoch)."""
        epoch = self.epoch(now)
        live = self._by_epoch.get(epoch)
        if live is None:
            live = tuple(i for i in self._items if is_live_at(i.publish_at, i.expire_at, now))
            self._by_epoch[epoch] = live
        return live

    def last_passed(self, now: datetime) -> datetime | None:
        """The latest publish/expire instant at or before ``now``: when the set last changed."""
        epoch = self.epoch(now)
        return self._boundaries[epoch - 1] if epoch else None
