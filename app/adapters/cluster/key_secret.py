"""The cluster's shared instance-key secret (issue 12 item 3, ADR 0142).

Every node must hash credentials with the same secret, or equal credentials would name
different streams on different nodes. It comes from ``[cluster] key_secret`` (env
``CLUSTER_KEY_SECRET``) when set; otherwise the first node to start generates 32 random bytes
into ``pm:key-secret`` (SET NX) and every node reads that value. It is never logged.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import TYPE_CHECKING

import structlog

from app.settings import ClusterSettings

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = structlog.get_logger(__name__)

SECRET_KEY = "pm:key-secret"
WAIT_SECONDS = 20.0
"""How long a starting node waits for Redis to hand out the secret before it refuses to start."""
RETRY_SECONDS = 0.5


class KeySecretUnavailable(RuntimeError):
    """Redis could not be reached to read the shared key secret; the node does not start."""


async def cluster_key_secret(
    redis: Redis, settings: ClusterSettings, *, wait_seconds: float = WAIT_SECONDS
) -> bytes:
    """The secret every node of the cluster keys credentials with.

    Raises:
        KeySecretUnavailable: no ``key_secret`` configured and Redis did not answer within
            ``wait_seconds`` (a node with a secret of its own would split every credentialed
            stream from the rest of the cluster).
    """
    if settings.key_secret:
        return settings.key_secret.encode()
    from redis.exceptions import RedisError

    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            await redis.set(SECRET_KEY, os.urandom(32).hex(), nx=True)
            value = await redis.get(SECRET_KEY)
            if value:
                return value if isinstance(value, bytes) else str(value).encode()
        except (RedisError, OSError) as exc:
            if time.monotonic() >= deadline:
                raise KeySecretUnavailable(
                    "cannot read the cluster key secret from Redis "
                    f"({type(exc).__name__}); set [cluster] key_secret to start without it"
                ) from None
            log.warning("cluster_key_secret_waiting", error_type=type(exc).__name__)
        await asyncio.sleep(RETRY_SECONDS)


KEEP_SECONDS = 5.0
"""How often a running node puts the secret back if Redis lost it (a restart without
persistence), so that a node starting later reads the cluster's secret, not a new one."""


async def keep_key_secret(redis: Redis, secret: bytes, *, every: float = KEEP_SECONDS) -> None:
    """Run until cancelled: ``SET pm:key-secret <secret> NX`` every ``every`` seconds; a value
    that differs from this node's is logged once (never the value): the nodes then key
    credentials differently and should be restarted with one ``key_secret``."""
    from redis.exceptions import RedisError

    warned = False
    while True:
        await asyncio.sleep(every)
        try:
            await redis.set(SECRET_KEY, secret, nx=True)
            stored = await redis.get(SECRET_KEY)
        except (RedisError, OSError):
            continue  # Redis away: the streams say so; try again later
        if stored is not None and stored != secret and not warned:
            warned = True
            log.error("cluster_key_secret_differs")
