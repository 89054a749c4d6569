"""The Redis connection of a cluster node (issue 12, ADR 0135).

One ``redis.asyncio.Redis`` client (a connection pool) per process, made only when
``[cluster] redis_url`` is set; every Redis adapter (stream ownership, rate budget, freshness
cache, Socket.IO manager) takes it from the container. ``redis`` is imported here only, and
only in cluster mode: a single process never loads it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.settings import ClusterSettings

if TYPE_CHECKING:
    from redis.asyncio import Redis

CONNECT_TIMEOUT_S = 2.0
"""A node that cannot reach Redis learns it within this many seconds per attempt."""
COMMAND_TIMEOUT_S = 5.0
"""No single command waits longer than this; a lost Redis fails calls instead of hanging them."""
HEALTH_CHECK_INTERVAL_S = 5
"""Pooled connections idle longer than this are PINGed before reuse (redis-py's health check)."""


def connect(settings: ClusterSettings) -> Redis | None:
    """The process's Redis client, or None when no ``redis_url`` is configured.

    The client connects lazily (on the first command, in the running event loop); a wrong
    host only shows then, as ``redis.ConnectionError``.
    """
    if settings.redis_url is None:
        return None
    from redis.asyncio import Redis

    return Redis.from_url(
        settings.redis_url,
        socket_connect_timeout=CONNECT_TIMEOUT_S,
        socket_timeout=COMMAND_TIMEOUT_S,
        health_check_interval=HEALTH_CHECK_INTERVAL_S,
        decode_responses=False,
    )
