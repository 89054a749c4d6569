"""The nouns of stream ownership in a cluster: leases, roles, what the owner publishes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Literal

from app.domain.errors import DomainError, StreamInterrupted

if TYPE_CHECKING:  # streams import this module: no import cycle at run time
    from app.domain.streams.model import StreamKey

OWNER: Final = "owner"
FOLLOWER: Final = "follower"
RELEASED: Final = "released"
LeaseRole = Literal["owner", "follower", "released"]

MessageKind = Literal["data", "error", "stale", "end"]


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
    otherwise.
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
