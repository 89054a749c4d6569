"""StreamOwnership: which node of a cluster runs a stream's upstream loop (issue 12, ADR 0140)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

from app.domain.cluster.model import ClusterCounters, ClusterMessage, Lease


@runtime_checkable
class StreamOwnership(Protocol):
    """Leases, heartbeats and per-stream channels shared by the nodes of a cluster.

    A stream is named by ``app.domain.cluster.model.stream_id``. One node holds its lease
    (``<node>:<fence>``, fence monotonic per stream) and runs the upstream loop; it publishes
    each report on the stream's channel, and the nodes with local subscribers follow that
    channel. Every node reports its local subscriber count with each round (a heartbeat):
    the owner gives the stream up when no other node has subscribers left.

    The in-process adapter (``shared`` False) is the single process: the hub then runs every
    stream itself as it always did and calls nothing here. The Redis adapter is the cluster.
    Methods that talk to the shared store raise ``ClusterUnavailable`` when it cannot be
    reached; the node then serves its local subscribers on its own.
    """

    @property
    def node_id(self) -> str:
        """This node's name in leases and heartbeats (unique per process, no secret)."""
        ...

    @property
    def shared(self) -> bool:
        """True when other nodes may own streams (a cluster); False: a single process."""
        ...

    @property
    def reachable(self) -> bool:
        """False while the shared store (or this node's channel connection) is lost."""
        ...

    @property
    def counters(self) -> ClusterCounters:
        """This node's ownership events (leases taken and lost, reports refused, dropped or
        skipped): the adapter and the streams' runners add to it, metrics read it."""
        ...

    @property
    def tick_seconds(self) -> float:
        """How often a node runs a round per stream (the owner renews): lease TTL / 3."""
        ...

    async def tick(self, stream_id: str, local_count: int, holder: str, release: bool) -> Lease:
        """One ownership round for a stream, atomic in the shared store.

        Records ``local_count`` as this node's subscribers of the stream (heartbeat; 0
        removes it), then: renews the lease if ``holder`` is its current value; takes it with
        a new fence if nobody holds it; with ``release`` and no subscribers on other nodes,
        gives it up (or does not take it) and answers ``released``.

        Raises:
            ClusterUnavailable: the shared store cannot be reached.
        """
        ...

    async def leave(self, stream_id: str, holder: str) -> None:
        """This node is done with the stream: drop its heartbeat, and the lease if ``holder``
        is its value (so another node takes over at once). Best effort, bounded, never
        raises."""
        ...

    def publish(
        self,
        stream_id: str,
        holder: str,
        message: ClusterMessage,
        refused: Callable[[], None],
    ) -> None:
        """Queue one report for the stream's followers; never blocks.

        It is sent only while ``holder`` still holds the lease (checked in the store, in
        the same step as the send); otherwise it is dropped and ``refused`` is called.
        """
        ...

    async def watch_joins(self, stream_id: str, joined: Callable[[], None]) -> bool:
        """Call ``joined`` each time another node starts following the stream (its ``join``)
        until ``unwatch_joins``; the caller ignores it unless it owns the stream (ADR 0171).

        Returns False when the notices cannot be received yet (call again later); never
        raises.
        """
        ...

    def unwatch_joins(self, stream_id: str) -> None:
        """Stop calling the stream's ``joined``; never raises."""
        ...

    async def join(self, stream_id: str, holder: str) -> None:
        """Tell the node of the lease value ``holder`` that this node now follows the stream
        (call it after ``follow``): an owner that skipped publishing for lack of followers
        publishes again, first what a new follower needs, then a ``sync`` report. Best
        effort, bounded, never raises."""
        ...

    async def last_reports(self, stream_id: str) -> list[ClusterMessage]:
        """What a node that starts following needs, kept with each publish: the owner's last
        ``data`` report and, when the stream has not been live since, the ``error``/``stale``
        report it is recovering from (in that order; an empty list: nothing kept).

        Raises:
            ClusterUnavailable: the shared store cannot be reached.
        """
        ...

    async def follow(
        self,
        stream_id: str,
        deliver: Callable[[ClusterMessage], None],
        lost: Callable[[], None],
    ) -> None:
        """Receive the stream's reports (``deliver``, in publish order) until ``unfollow``.

        ``lost`` is called when the channel connection breaks (reports may be missed).

        Raises:
            ClusterUnavailable: the shared store cannot be reached.
        """
        ...

    async def unfollow(self, stream_id: str) -> None:
        """Stop receiving the stream's reports; never raises."""
        ...

    async def aclose(self) -> None:
        """Stop background work (shutdown, after the hub has stopped every stream)."""
        ...
