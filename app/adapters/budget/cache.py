"""InMemoryFreshnessCache: the FreshnessCache port in one process, bounded in entries."""

from __future__ import annotations

from collections import OrderedDict

from app.ports.budget import CachedRead


class InMemoryFreshnessCache:
    """Latest answer per read key; at most ``max_entries``, the least recently stored first out.

    Entries are not expired by time: the reader judges the age against its own max age, and
    the size cap bounds memory (an entry is one ticker, book, trade list or candle list).
    """

    def __init__(self, max_entries: int = 10_000) -> None:
        self._max_entries = max(1, max_entries)
        self._entries: OrderedDict[str, CachedRead] = OrderedDict()

    def get(self, key: str) -> CachedRead | None:
        return self._entries.get(key)

    def put(self, key: str, entry: CachedRead) -> None:
        self._entries[key] = entry
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    async def load(self, key: str) -> CachedRead | None:
        """The same as ``get``: in one process this copy is every node's."""
        return self._entries.get(key)

    async def store(self, key: str, entry: CachedRead) -> None:
        """The same as ``put``."""
        self.put(key, entry)

    def size(self) -> int:
        return len(self._entries)
