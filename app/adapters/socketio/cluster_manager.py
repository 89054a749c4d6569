"""RedisClientManager: Socket.IO rooms and emits across the nodes of a cluster (issue 12 item 5).

python-socketio's pub/sub client manager (``AsyncPubSubManager``, the base of its own
``AsyncRedisManager``) over the process's one Redis client (ADR 0135), with the message
format of ``AsyncRedisManager``: a write-only ``socketio.AsyncRedisManager(url,
channel=..., write_only=True)`` in another process can emit to this cluster's clients.
What differs from ``AsyncRedisManager`` (ADR 0150):

- An emit to one sid connected to this node (every reply the server sends: ``subscribed``,
  ``subscription_error``...) is delivered here and never goes through Redis: no round trip,
  no message to every node, and no stall while Redis is away. Rooms, broadcasts and sids of
  other nodes are published on the cluster's channel, as ``AsyncRedisManager`` does.
- The listener reads with ``get_message(timeout=...)`` on the shared client, whose command
  timeout would otherwise break a blocking ``listen()`` every few idle seconds (a reconnect
  storm); a lost connection is retried with a capped back-off, the pub/sub connection is
  closed before a new one is made (no leak per outage), and the outage is logged once.
- The channel name carries the Redis database number: Redis pub/sub ignores databases, so
  two clusters on two databases of one Redis would otherwise hear each other.

Stream data never goes through this manager: the stream publisher writes encoded packets
to engine.io directly (``SocketIOPublisher``), and the cluster's stream channels carry it
between nodes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import structlog
from socketio.async_pubsub_manager import AsyncPubSubManager

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.asyncio.client import PubSub

log = structlog.get_logger(__name__)

CHANNEL_FORMAT = "profitmaker:{db}:socketio"
"""Redis channel of one cluster's Socket.IO messages; ``db`` is the Redis database number."""
POLL_SECONDS = 1.0
"""How long one read of the subscription waits for a message before reading again (s)."""
RETRY_FIRST_SECONDS = 0.5
RETRY_MAX_SECONDS = 5.0
"""Back-off between attempts to resubscribe while Redis is away (s): doubling, capped."""


def channel_for(client: Redis) -> str:
    """The Socket.IO channel of the cluster whose Redis database ``client`` uses."""
    db = client.connection_pool.connection_kwargs.get("db", 0)
    return CHANNEL_FORMAT.format(db=int(db or 0))


class RedisClientManager(AsyncPubSubManager):  # type: ignore[misc]
    """Socket.IO client manager sharing rooms and emits through Redis pub/sub.

    Args:
        client: the process's Redis client (its command timeout bounds every publish).
        channel: the pub/sub channel; default ``channel_for(client)``. Every node of a
            cluster must use the same one.

    ``up`` is True while the subscription is live (the ``redis_up`` gauge), False while
    Redis is unreachable, None before the first attempt.
    """

    name = "profitmaker-redis"

    def __init__(self, client: Redis, channel: str | None = None) -> None:
        super().__init__(channel=channel or channel_for(client), write_only=False, logger=None)
        self._client = client
        self._pubsub: PubSub | None = None
        self.up: bool | None = None
        self.subscribed = asyncio.Event()
        """Set while the listener holds a live subscription (tests wait on it)."""
        self.publish_failures = 0
        """Messages that could not be published (Redis away): their remote part is lost."""

    # -- lifecycle ------------------------------------------------------------------------

    def start(self, server: Any) -> None:
        """Start listening now (python-socketio would wait for the first connection)."""
        if not server.manager_initialized:
            server.manager_initialized = True
            self.initialize()

    async def aclose(self) -> None:
        """Stop the listener and close its connection (shutdown; idempotent)."""
        thread = getattr(self, "thread", None)
        if thread is not None:
            thread.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await thread
            self.thread = None
        await self._drop_pubsub()

    # -- emits ----------------------------------------------------------------------------

    async def emit(
        self,
        event: str,
        data: Any,
        namespace: str | None = None,
        room: Any = None,
        skip_sid: Any = None,
        callback: Any = None,
        to: Any = None,
        **kwargs: Any,
    ) -> Any:
        """As ``AsyncPubSubManager.emit``; a sid of this node is served here alone."""
        target = to or room
        if (
            not kwargs.get("ignore_queue")
            and isinstance(target, str)
            and self._is_local(target, namespace or "/")
        ):
            kwargs["ignore_queue"] = True
        return await super().emit(
            event,
            data,
            namespace=namespace,
            room=target,
            skip_sid=skip_sid,
            callback=callback,
            **kwargs,
        )

    def _is_local(self, sid: str, namespace: str) -> bool:
        return bool(self.is_connected(sid, namespace) or self.is_pre_connected(sid, namespace))

    # -- AsyncPubSubManager backend ---------------------------------------------------------

    async def _publish(self, data: Any) -> None:
        """Publish one message; Redis away: counted and logged (once per outage), not raised
        (the local part of the emit is already delivered)."""
        try:
            await self._client.publish(self.channel, self.json.dumps(data))
        except Exception as exc:  # noqa: BLE001 - redis-py raises several families here
            self.publish_failures += 1
            self._mark_down(exc)

    async def _listen(self) -> AsyncIterator[Any]:
        """Yield the data of every message on the channel, resubscribing after an outage."""
        delay = RETRY_FIRST_SECONDS
        while True:
            try:
                pubsub = await self._subscribe()
                delay = RETRY_FIRST_SECONDS
                while True:
                    message = await pubsub.get_message(
                        ignore_subscribe_messages=True, timeout=POLL_SECONDS
                    )
                    if message is not None and message.get("type") == "message":
                        yield message["data"]
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure means: reconnect later
                self._mark_down(exc)
                await self._drop_pubsub()
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_SECONDS)

    async def _subscribe(self) -> PubSub:
        await self._drop_pubsub()
        pubsub = self._client.pubsub(ignore_subscribe_messages=True)
        self._pubsub = pubsub
        await pubsub.subscribe(self.channel)
        self._mark_up()
        return pubsub

    async def _drop_pubsub(self) -> None:
        self.subscribed.clear()
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            with contextlib.suppress(Exception):
                await pubsub.aclose()  # type: ignore[no-untyped-call]

    def _mark_up(self) -> None:
        if self.up is False:
            log.info("redis_reachable", component="socketio_manager")
        self.up = True
        self.subscribed.set()

    def _mark_down(self, exc: BaseException) -> None:
        if self.up is not False:
            # The type only: a message may name the host; the URL (and password) never.
            log.warning("redis_unreachable", component="socketio_manager", error=type(exc).__name__)
        self.up = False
        self.subscribed.clear()

    def _get_logger(self) -> Any:
        return log


def manager_for(client: Redis | None) -> RedisClientManager | None:
    """The cluster's client manager, or None in a single process (the default manager)."""
    return None if client is None else RedisClientManager(client)
