"""Stream ownership adapters: in-process (single process) and Redis (a cluster, ADR 0140)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.adapters.cluster.in_process import InProcessStreamOwnership
from app.ports.stream_ownership import StreamOwnership
from app.settings import ClusterSettings

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["InProcessStreamOwnership", "stream_ownership"]


def stream_ownership(redis: Redis | None, settings: ClusterSettings) -> StreamOwnership:
    """The Redis adapter in a cluster (a ``redis_url``), else the single process's."""
    if redis is None:
        return InProcessStreamOwnership()
    from app.adapters.cluster.redis_ownership import RedisStreamOwnership

    return RedisStreamOwnership(redis, lease_ttl_seconds=settings.lease_ttl_seconds)
