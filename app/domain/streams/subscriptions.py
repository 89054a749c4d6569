"""SubscriptionRegistry: each connection's subscriptions and the state each one is in.

A subscription is ``Reserved`` from the moment it is accepted until its stream is live (so a
concurrent duplicate is refused and a disconnect meanwhile cancels it), then ``Active`` on one
stream. Only this registry holds per-connection subscription state.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.domain.streams.model import Subscriber, SubscriptionRejected
from app.domain.streams.stream import Stream

ALREADY_EXISTS = "Subscription already exists"


@dataclass(frozen=True, slots=True)
class Reserved:
    """Accepted, its stream still starting."""

    subscriber: Subscriber


@dataclass(frozen=True, slots=True)
class Active:
    """Receiving updates from ``stream``."""

    subscriber: Subscriber
    stream: Stream


State = Reserved | Active


class SubscriptionRegistry:
    """Subscriptions by connection id, then by subscription id."""

    def __init__(self) -> None:
        self._by_connection: dict[str, dict[str, State]] = {}

    def reserve(self, subscriber: Subscriber, max_per_connection: int) -> None:
        """Accept a new subscription in the ``Reserved`` state.

        Raises:
            SubscriptionRejected: the id exists on this connection, or the connection already
                holds ``max_per_connection`` subscriptions.
        """
        subs = self._by_connection.get(subscriber.connection_id, {})
        if subscriber.subscription_id in subs:
            raise SubscriptionRejected(ALREADY_EXISTS)
        if len(subs) >= max_per_connection:
            raise SubscriptionRejected(
                f"Too many subscriptions on this connection (max {max_per_connection})"
            )
        self._by_connection.setdefault(subscriber.connection_id, subs)[
            subscriber.subscription_id
        ] = Reserved(subscriber)

    def activate(self, subscriber: Subscriber, stream: Stream) -> bool:
        """Move a reservation to ``Active``; False if it was withdrawn meanwhile."""
        subs = self._by_connection.get(subscriber.connection_id)
        state = None if subs is None else subs.get(subscriber.subscription_id)
        if subs is None or not isinstance(state, Reserved) or state.subscriber is not subscriber:
            return False
        subs[subscriber.subscription_id] = Active(subscriber, stream)
        return True

    def find(self, connection_id: str, subscription_id: str) -> State | None:
        subs = self._by_connection.get(connection_id)
        return None if subs is None else subs.get(subscription_id)

    def remove(self, connection_id: str, subscription_id: str) -> State | None:
        """Forget one subscription (in whatever state); returns it, or None if unknown."""
        subs = self._by_connection.get(connection_id)
        if subs is None:
            return None
        state = subs.pop(subscription_id, None)
        if not subs:
            del self._by_connection[connection_id]
        return state

    def remove_connection(self, connection_id: str) -> list[State]:
        """Forget every subscription of a connection (it disconnected)."""
        return list(self._by_connection.pop(connection_id, {}).values())

    def forget_ended(self, stream: Stream, subscribers: list[Subscriber]) -> None:
        """A stream ended for good: its active subscriptions are gone (not reservations)."""
        for subscriber in subscribers:
            state = self.find(subscriber.connection_id, subscriber.subscription_id)
            if isinstance(state, Active) and state.stream is stream:
                self.remove(subscriber.connection_id, subscriber.subscription_id)

    def count(self, connection_id: str) -> int:
        return len(self._by_connection.get(connection_id, ()))

    def stats(self) -> dict[str, int]:
        return {
            "subscriptions": sum(len(s) for s in self._by_connection.values()),
            "connections": len(self._by_connection),
        }
