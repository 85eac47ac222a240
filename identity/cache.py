"""Per-process memo of identity lookups, valid for exactly one identity generation.

Validating a token needs its user, its project or domain and the user's roles there; without a memo that
is half a dozen queries per token, twice per validation request. With it, a request costs one read of the
generation row. Any identity write in any process bumps the generation (see ``generation``), which makes
every worker start a fresh snapshot on its next request, so nothing stale is ever served.

A request takes one snapshot and uses only that one: results computed from an older view of the database
then land in an older snapshot, which nobody reads any more.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class _Memo(Generic[K, V]):
    """A bounded LRU map, safe to share between the threads of one worker."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._items: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: K, value: V) -> None:
        with self._lock:
            self._items[key] = value
            if len(self._items) > self.capacity:
                self._items.popitem(last=False)

    def get_or_load(self, key: K, load: Callable[[], V]) -> V:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        value = load()
        with self._lock:
            self._items[key] = value
            if len(self._items) > self.capacity:
                self._items.popitem(last=False)
        return value

    def __len__(self) -> int:
        return len(self._items)


class Snapshot:
    """What one worker knows about the identity tables at one generation, under one set of Fernet keys."""

    def __init__(self, version: tuple[int, int], capacity: int) -> None:
        self.version = version
        self.lookups: _Memo[tuple[str, ...], object] = _Memo(capacity)
        self.tokens: _Memo[str, object] = _Memo(capacity)


class IdentityCache:
    def __init__(self, capacity: int = 10_000) -> None:
        self.capacity = capacity
        self._snapshot = Snapshot((-2, -2), capacity)

    def snapshot(self, generation: int, keys_version: int) -> Snapshot:
        """The snapshot for this identity generation and key set; a fresh one when either moved."""
        snapshot = self._snapshot
        if snapshot.version != (generation, keys_version):
            snapshot = self._snapshot = Snapshot((generation, keys_version), self.capacity)
        return snapshot
