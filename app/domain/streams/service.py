"""StreamService: the live-data use cases (subscribe, unsubscribe, disconnect, REST watch).

Entrypoints translate their transport's input into a ``StreamRequest`` and call one method;
the id policy, the per-connection limit, duplicate checks and the trimming of REST watch
answers live here (contract section 3 for the texts and the id format).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import structlog

from app.domain.streams.hub import LatestUpdate, StreamHub, StreamSnapshot
from app.domain.streams.model import Echo, StreamRequest, Subscriber, SubscriptionRejected
from app.domain.streams.subscriptions import Active, Reserved, SubscriptionRegistry

log = structlog.get_logger(__name__)

CANCELLED = "Subscription cancelled"


class SubscriptionLimits(Protocol):
    """The settings the service reads (``app.settings.StreamSettings``)."""

    max_subscriptions_per_socket: int


@dataclass(frozen=True, slots=True)
class Subscription:
    """An accepted subscription: the id the client uses and the fields it sent, as sent."""

    connection_id: str
    subscription_id: str
    exchange_id: str
    symbol: str
    data_type: str
    timeframe: str | None


def subscription_id(connection_id: str, exchange_id: str, data_type: str, echo: Echo) -> str:
    """``<connectionId>:<exchangeId>:<symbol>:<dataType>[:<timeframe>]`` (the original's format).

    An order book subscription that asks for ``format: "delta"`` or a ``depth`` gets a suffix
    (``:delta``, ``:depth=20``, ``:delta:depth=20``), so one socket can hold the full book and
    a delta view of the same stream side by side, each with its own id and ``seq`` (issue 13).
    A client that sends neither field gets exactly the original id. ``history`` only shapes
    the first event of an ohlcv subscription and takes no part in the id.
    """
    sid = f"{connection_id}:{exchange_id}:{echo.symbol}:{data_type}"
    if echo.timeframe:
        sid = f"{sid}:{echo.timeframe}"
    view = echo.view
    if view.delta:
        sid = f"{sid}:delta"
    if view.depth is not None:
        sid = f"{sid}:depth={view.depth}"
    return sid


class StreamService:
    """Subscriptions of every connection over the hub's shared upstream loops.

    Args:
        hub: starts, shares and stops the upstream loops.
        registry: each connection's subscriptions (the only copy of that state).
        settings: ``max_subscriptions_per_socket``.
    """

    def __init__(
        self, hub: StreamHub, registry: SubscriptionRegistry, settings: SubscriptionLimits
    ) -> None:
        self._hub = hub
        self._registry = registry
        self._settings = settings

    async def subscribe(
        self, connection_id: str, request: StreamRequest, as_sent: Echo | None = None
    ) -> Subscription:
        """Join (or start) the request's stream; returns once it is validated and live.

        Args:
            connection_id: the caller's connection (a Socket.IO sid).
            request: the validated stream request.
            as_sent: symbol and timeframe as the client sent them, echoed in the id and in
                every ``data`` event (default: the request's own).

        Raises:
            SubscriptionRejected: a duplicate, over the limit, cancelled by a disconnect or
                an unsubscribe while starting, or a permanent problem with the stream.
            DomainError: the instance could not be made ready (e.g. exchange unreachable).
        """
        echo = as_sent or Echo(request.symbol, request.timeframe)
        sid = subscription_id(connection_id, request.exchange_id, request.data_type, echo)
        subscriber = Subscriber(connection_id, sid, echo)
        self._registry.reserve(subscriber, self._settings.max_subscriptions_per_socket)
        try:
            stream = await self._hub.acquire(request)
        except BaseException:
            state = self._registry.find(connection_id, sid)
            if isinstance(state, Reserved) and state.subscriber is subscriber:
                self._registry.remove(connection_id, sid)
            raise
        if not self._registry.activate(subscriber, stream):
            self._hub.release(stream)
            raise SubscriptionRejected(CANCELLED)
        self._hub.attach(stream, subscriber)
        return Subscription(
            connection_id, sid, request.exchange_id, echo.symbol, request.data_type, echo.timeframe
        )

    async def greet(self, connection_id: str, subscription_id: str) -> None:
        """Call once the client has been told ``subscribed``: it gets the stream's latest
        update at once (``cached``), its candle history if asked, and its status if not
        live (``StreamHub.greet``)."""
        state = self._registry.find(connection_id, subscription_id)
        if isinstance(state, Active):
            await self._hub.greet(state.stream, state.subscriber)

    def resync(self, connection_id: str, subscription_id: str) -> bool:
        """A delta subscriber's ``resync``: its next event is a fresh snapshot.

        ``subscription_id`` as in ``unsubscribe``. False: no such subscription on this
        connection, or not a ``format: "delta"`` one.
        """
        state = self._registry.find(connection_id, subscription_id)
        if state is None:
            state = self._registry.find(connection_id, f"{connection_id}:{subscription_id}")
        return isinstance(state, Active) and self._hub.resync(state.stream, state.subscriber)

    def unsubscribe(self, connection_id: str, subscription_id: str) -> bool:
        """End one of this connection's subscriptions; True if it existed.

        ``subscription_id`` is the full id, or the id without its ``<connectionId>:`` prefix
        (the terminal's form). Either way only this connection's subscriptions are found.
        """
        state = self._registry.remove(connection_id, subscription_id)
        if state is None:
            state = self._registry.remove(connection_id, f"{connection_id}:{subscription_id}")
        if isinstance(state, Active):
            self._hub.detach(state.stream, state.subscriber)
        return state is not None

    def disconnect(self, connection_id: str) -> int:
        """End every subscription of a connection that has gone; returns how many."""
        states = self._registry.remove_connection(connection_id)
        for state in states:
            if isinstance(state, Active):
                self._hub.detach(state.stream, state.subscriber)
        self._hub.forget_connection(connection_id)
        if states:
            log.info("socket_subscriptions_dropped", sid=connection_id, count=len(states))
        return len(states)

    async def read_next(
        self,
        request: StreamRequest,
        *,
        limit: int | None = None,
        since: int | None = None,
        timeout: float | None = None,
    ) -> Any:
        """The stream's next update for a REST watch, cut to what the caller asked for.

        The stream is shared, so its depth and length are the exchange's: ``limit`` cuts an
        order book's sides, the newest trades or candles; ``since`` (ms) drops older trades.

        Raises:
            ExchangeTimeout: nothing arrived within ``timeout`` seconds (default: settings).
            SubscriptionRejected, DomainError: as ``StreamHub.next_update``.
        """
        data = await self._hub.next_update(request, timeout)
        return trim(request.data_type, data, limit=limit, since=since)

    def latest(self, request: StreamRequest) -> LatestUpdate | None:
        """The latest update of a live stream and its age, or None (see ``StreamHub.latest``)."""
        return self._hub.latest(request)

    def subscription_count(self, connection_id: str) -> int:
        return self._registry.count(connection_id)

    def stats(self) -> dict[str, int]:
        """Counts for ``GET /api/streams``: streams, loops, subscriptions, connections."""
        return {**self._hub.stats(), **self._registry.stats()}

    def live(self) -> list[StreamSnapshot]:
        """Every live stream on this node: key (no credential), counts, owner or not."""
        return self._hub.snapshot()

    @property
    def node(self) -> str | None:
        """This node's name in the cluster; None in a single process."""
        return self._hub.node

    @property
    def loops_started(self) -> int:
        return self._hub.loops_started


def trim(data_type: str, data: Any, *, limit: int | None, since: int | None) -> Any:
    """Cut a (copied) stream update to a REST caller's ``limit`` and ``since``."""
    if data_type == "orderbook" and limit is not None and isinstance(data, dict):
        for side in ("bids", "asks"):
            if isinstance(data.get(side), list):
                data[side] = data[side][:limit]
    elif data_type in ("trades", "ohlcv") and isinstance(data, list):
        if since is not None and data_type == "trades":
            data = [t for t in data if _timestamp(t) is None or _timestamp(t) >= since]
        if limit is not None:
            data = data[-limit:]
    return data


def _timestamp(trade: Any) -> Any:
    return trade.get("timestamp") if isinstance(trade, dict) else None
