"""StreamPublisher: how the stream hub hands updates and errors to subscribers' transports."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from app.domain.streams.model import StreamState, StreamUpdate, Subscriber


@runtime_checkable
class StreamPublisher(Protocol):
    """Delivers to subscribers without ever making the caller wait for one of them.

    Implementations serialise an update once for all its subscribers, bound the memory a
    slow subscriber can hold, and combine pending updates per ``app.domain.streams.coalesce``.
    The Socket.IO adapter implements it; a fan-out across processes (Redis) would too.
    """

    def publish(self, update: StreamUpdate, subscribers: Sequence[Subscriber]) -> None:
        """Queue one update for every subscriber (a ``data`` event each). Must not block."""
        ...

    def publish_error(self, message: str, subscribers: Sequence[Subscriber]) -> None:
        """Tell subscribers their stream failed and is being retried (an ``error`` event each).

        Args:
            message: client-facing text; must not contain secrets.
            subscribers: who to tell.
        """
        ...

    def publish_status(
        self, state: StreamState, reason: str, subscribers: Sequence[Subscriber]
    ) -> None:
        """Tell subscribers their stream changed state (a ``status`` event each).

        Args:
            state: ``live``, ``stale`` or ``recovering`` (``app.domain.streams.model``).
            reason: client-facing text; must not contain secrets.
        """
        ...

    def discard(self, subscriber: Subscriber) -> None:
        """Drop anything still queued for a subscription that has just ended."""
        ...

    def forget_connection(self, connection_id: str) -> None:
        """Drop whatever is kept for a connection that has gone (after its subscriptions).

        The stream service calls it on disconnect: the entrypoint never talks to the publisher.
        """
        ...
