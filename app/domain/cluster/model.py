"""The nouns of stream ownership in a cluster: leases, roles, what the owner publishes."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal

from app.domain.errors import DomainError, StreamInterrupted

if TYPE_CHECKING:  # streams import this module: no import cycle at run time
    from app.domain.streams.model import StreamKey

OWNER: Final = "owner"
FOLLOWER: Final = "follower"
RELEASED: Final = "released"
LeaseRole = Literal["owner", "follower", "released"]

MessageKind = Literal["data", "error", "stale", "end", "sync"]
"""``sync``: the owner's answer to a ``join`` (ADR 0171): everything a new follower needs is
stored (``last_reports``) and every later report is published."""


ACQUIRED_FROM: Final = ("none", "follower", "alone")
"""Why this node took a lease: ``none`` (nobody held it), ``follower`` (a takeover: the owner
died or left while this node followed it), ``alone`` (the shared store came back)."""
LOST_REASONS: Final = ("taken", "unreachable")
"""Why an owner lost its lease: ``taken`` (another node holds it now), ``unreachable`` (the
shared store cannot be reached: the node serves its own subscribers alone)."""
REFUSED_REASONS: Final = ("fence", "error", "queue_full", "unreachable")
"""Why a report did not reach the followers: ``fence`` (the store refused it, the publisher's
fence no longer holds the lease), ``error`` (the store failed that one call), ``queue_full``
(too many waiting while the store was slow), ``unreachable`` (the store could not be reached)."""
DROPPED_REASONS: Final = ("stale_fence", "undecodable")
"""Why a follower dropped a report: ``stale_fence`` (lower than the highest fence seen: a
paused ex-owner), ``undecodable`` (not a report this version can read)."""


@dataclass
class ClusterCounters:
    """This node's ownership events since it started (ADR 0170); metrics read them at scrape
    time, so the hot path only adds to a dict. Every key is a word from the fixed tuples above
    (bounded labels: no stream, symbol or node name).

    Attributes:
        acquired: leases taken, by ``ACQUIRED_FROM``.
        lost: leases lost by an owner, by ``LOST_REASONS``.
        refused: reports an owner could not publish, by ``REFUSED_REASONS``.
        dropped: reports a follower dropped, by ``DROPPED_REASONS``.
        skipped: reports an owner did not publish because no other node followed the stream
            (ADR 0171).
    """

    acquired: Counter[str] = field(default_factory=Counter)
    lost: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)
    dropped: Counter[str] = field(default_factory=Counter)
    skipped: int = 0


class ClusterUnavailable(Exception):
    """The cluster's shared state (Redis) cannot be reached right now; the node serves its
    local subscribers on its own until it can (ADR 0140)."""


@dataclass(frozen=True, slots=True)
class Lease:
    """What one ownership round found for a stream.

    Attributes:
        role: ``owner`` (this node holds the lease, renewed), ``follower`` (another node
            holds it) or ``released`` (this node gave it up: nobody else listens).
        holder: the lease value ``<node>:<fence>`` ("" when none).
        elsewhere: subscribers of this stream on other live nodes (their heartbeats).
    """

    role: LeaseRole
    holder: str
    elsewhere: int

    @property
    def fence(self) -> int:
        """The holder's fencing token (0: no holder); larger means a later owner."""
        return fence_of(self.holder)


@dataclass(frozen=True, slots=True)
class ClusterMessage:
    """One report of an owner's upstream loop, as followers receive it.

    ``fence`` is the owner's fencing token: followers drop a message whose fence is lower
    than the highest they have seen for the stream (a paused ex-owner cannot speak over the
    new one). ``data``/``restarted``/``timestamp`` for ``data``; ``message``/``error_type``
    for ``error``, ``stale`` and ``end``; nothing else for ``sync``.
    """

    kind: MessageKind
    fence: int
    data: Any = None
    restarted: bool = False
    message: str = ""
    error_type: str = ""
    timestamp: int = 0
    """``data``: the owner's server time (ms) when it delivered the update."""


def fence_of(holder: str) -> int:
    """The fence of a lease value ``<node>:<fence>``; 0 for "" or a malformed value."""
    _, _, fence = holder.rpartition(":")
    return int(fence) if fence.isdigit() else 0


def node_of(holder: str) -> str:
    """The node of a lease value ``<node>:<fence>``; "" for "" (node names hold no ``:``)."""
    node, _, _ = holder.rpartition(":")
    return node


def stream_id(key: StreamKey) -> str:
    """The cluster-wide name of a stream: its instance key (credentials only as a keyed hash,
    ``app.adapters.cache.keys``), data type, symbol and timeframe. Equal on every node that
    shares the key secret; never holds a credential."""
    return f"{key.instance}|{key.data_type}|{key.symbol}|{key.timeframe or ''}"


def _error_classes() -> dict[str, type[DomainError]]:
    found: dict[str, type[DomainError]] = {}
    todo: list[type[DomainError]] = [DomainError]
    while todo:
        cls = todo.pop()
        found.setdefault(cls.__name__, cls)
        todo.extend(cls.__subclasses__())
    return found


def rebuild_error(message: ClusterMessage) -> DomainError:
    """The owner's error as a domain error on a follower (REST waiters get its class)."""
    cls = _error_classes().get(message.error_type)
    if cls is None or cls is DomainError:
        return StreamInterrupted(message.message, error_type=message.error_type or None)
    try:
        return cls(message.message, error_type=message.error_type)
    except TypeError:  # a subclass with another constructor: keep the text and the type
        return StreamInterrupted(message.message, error_type=message.error_type)
