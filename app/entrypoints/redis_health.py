"""Redis in readiness, metrics and the status JSON of a cluster node (issue 12, ADR 0150).

Cluster mode only (``redis_url`` set): a single process registers nothing here, so its
``/ready`` checks, metrics and status stay as they were. Nothing here ever shows the URL
(it may hold a password): checks and logs name an exception type at most.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from app.container import Container
from app.ports.metrics import Sample


def register_redis_health(container: Container) -> None:
    """Add the ``redis`` readiness check (PING) and the ``redis_up`` gauge in cluster mode.

    The check is bounded by the readiness timeout (``Readiness``, 2 s) and by the client's
    own connect timeout (2 s, ADR 0135). The gauge reads the Socket.IO manager's live
    subscription (``RedisClientManager.up``): no Redis call per scrape.
    """
    client = container.redis()
    if client is None:
        return

    async def redis_ping() -> str | None:
        try:
            await client.ping()
        except Exception as exc:  # noqa: BLE001 - any failure is "not ready", named by type
            return f"redis unreachable ({type(exc).__name__})"
        return None

    container.readiness().add("redis", redis_ping)
    manager = container.socketio_manager()
    metrics = container.metrics()

    def up() -> Iterable[Sample]:
        return [Sample((), 1.0 if manager is not None and manager.up else 0.0)]

    metrics.gauge(
        "redis_up",
        "1 while this node's Redis connection is live (cluster mode; absent in a single "
        "process), 0 while Redis is unreachable.",
        (),
        up,
    )
    metrics.counter_source(
        "socketio_cluster_publish_failures",
        "Socket.IO room or cross-node emits that could not be published to Redis (lost for "
        "the other nodes; this node's clients still got them).",
        (),
        lambda: [Sample((), float(getattr(manager, "publish_failures", 0)))],
    )


def cluster_status(container: Container) -> dict[str, Any]:
    """``{"mode": "single"}``, or ``{"mode": "cluster", "redis": "up"|"down"|"unknown"}``."""
    if container.redis() is None:
        return {"mode": "single"}
    manager = container.socketio_manager()
    state = None if manager is None else manager.up
    return {"mode": "cluster", "redis": "unknown" if state is None else ("up" if state else "down")}
