"""InProcessStreamOwnership: a single process owns every stream and publishes nowhere."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable

from app.domain.cluster.model import (
    FOLLOWER,
    OWNER,
    RELEASED,
    ClusterCounters,
    ClusterMessage,
    Lease,
)


def new_node_id() -> str:
    """``<host>-<pid>-<random>``: unique per process, readable in Redis and /api/streams."""
    host = socket.gethostname().replace(":", "-") or "node"
    return f"{host}-{os.getpid()}-{os.urandom(3).hex()}"


class InProcessStreamOwnership:
    """The single process (no ``redis_url``): ``shared`` is False, so the hub runs each
    stream as it always did. The methods still honour the port's contract for one node
    (always the owner, the total is the local count, nobody follows), so the contract suite
    runs against this adapter too."""

    tick_seconds = 1.0

    def __init__(self, node_id: str | None = None) -> None:
        self._node_id = node_id or new_node_id()
        self._fences: dict[str, int] = {}
        self._holders: dict[str, str] = {}
        self._counters = ClusterCounters()

    @property
    def node_id(self) -> str:
        return self._node_id

    @property
    def counters(self) -> ClusterCounters:
        return self._counters

    @property
    def shared(self) -> bool:
        return False

    @property
    def reachable(self) -> bool:
        return True

    async def tick(self, stream_id: str, local_count: int, holder: str, release: bool) -> Lease:
        current = self._holders.get(stream_id, "")
        if release and (not current or current == holder):
            self._holders.pop(stream_id, None)
            return Lease(RELEASED, "", 0)
        if current:
            return Lease(OWNER if current == holder else FOLLOWER, current, 0)
        fence = self._fences.get(stream_id, 0) + 1
        self._fences[stream_id] = fence
        current = self._holders[stream_id] = f"{self._node_id}:{fence}"
        return Lease(OWNER, current, 0)

    async def leave(self, stream_id: str, holder: str) -> None:
        if holder and self._holders.get(stream_id) == holder:
            del self._holders[stream_id]

    def publish(
        self, stream_id: str, holder: str, message: ClusterMessage, refused: Callable[[], None]
    ) -> None:
        if self._holders.get(stream_id) != holder:
            self._counters.refused["fence"] += 1
            refused()

    async def watch_joins(self, stream_id: str, joined: Callable[[], None]) -> bool:
        return True  # nobody else follows: no notice ever comes

    def unwatch_joins(self, stream_id: str) -> None:
        return None

    async def join(self, stream_id: str, holder: str) -> None:
        return None

    async def last_reports(self, stream_id: str) -> list[ClusterMessage]:
        return []  # nobody else publishes

    async def follow(
        self,
        stream_id: str,
        deliver: Callable[[ClusterMessage], None],
        lost: Callable[[], None],
    ) -> None:
        return None  # nobody else publishes

    async def unfollow(self, stream_id: str) -> None:
        return None

    async def aclose(self) -> None:
        return None
