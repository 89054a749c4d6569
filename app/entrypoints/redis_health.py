"""Redis in readiness, metrics and the status JSON of a cluster node (issue 12, ADR 0150).

Cluster mode only (``redis_url`` set): a single process registers nothing here, so its
``/ready`` checks, metrics and status stay as they were. Nothing here ever shows the URL
(it may hold a password): checks and logs name an exception type at most.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from app.container import Container
from app.domain.cluster.model import (
    ACQUIRED_FROM,
    DROPPED_REASONS,
    LOST_REASONS,
    REFUSED_REASONS,
)
from app.ports.metrics import Metrics, Sample

ROLES = ("owner", "follower", "alone")


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
    register_ownership_metrics(container, metrics)


def register_ownership_metrics(container: Container, metrics: Metrics) -> None:
    """The stream-ownership families of a cluster node (ADR 0170), read at scrape time.

    Labels are words of fixed sets (``ROLES`` and the ``app.domain.cluster.model`` tuples),
    each always exported (0 until it happens): no stream, symbol, node name or credential.
    """
    hub = container.stream_hub()
    counters = container.stream_ownership().counters

    def roles() -> Iterable[Sample]:
        totals = dict.fromkeys(ROLES, 0)
        for snap in hub.snapshot():
            if snap.role in totals:
                totals[snap.role] += 1
        return [Sample((role,), float(n)) for role, n in totals.items()]

    def by(counts: Counter[str], words: tuple[str, ...]) -> Iterable[Sample]:
        return [Sample((word,), float(counts[word])) for word in words]

    metrics.gauge(
        "cluster_streams",
        "Live streams on this node by role: owner (runs the upstream loop and publishes to "
        "the other nodes), follower (another node runs it), alone (Redis unreachable: serves "
        "its own subscribers).",
        ("role",),
        roles,
    )
    metrics.counter_source(
        "cluster_leases_acquired",
        "Stream leases this node took, by its previous role: none (nobody held it), "
        "follower (a takeover: the owner died or left), alone (Redis came back).",
        ("previous",),
        lambda: by(counters.acquired, ACQUIRED_FROM),
    )
    metrics.counter_source(
        "cluster_leases_lost",
        "Stream leases this node lost while owning: taken (another node holds it now), "
        "unreachable (Redis could not be reached).",
        ("reason",),
        lambda: by(counters.lost, LOST_REASONS),
    )
    metrics.counter_source(
        "cluster_publishes_refused",
        "Owner reports that did not reach the other nodes: fence (Redis refused it, the "
        "lease no longer holds this node's fence), error, queue_full, unreachable.",
        ("reason",),
        lambda: by(counters.refused, REFUSED_REASONS),
    )
    metrics.counter_source(
        "cluster_publishes_skipped",
        "Owner reports not published because no other node followed the stream (ADR 0171).",
        (),
        lambda: [Sample((), float(counters.skipped))],
    )
    metrics.counter_source(
        "cluster_reports_dropped",
        "Reports this node dropped as a follower: stale_fence (lower than the highest fence "
        "seen: a paused ex-owner), undecodable.",
        ("reason",),
        lambda: by(counters.dropped, DROPPED_REASONS),
    )


def cluster_status(container: Container) -> dict[str, Any]:
    """``{"mode": "single"}``, or in a cluster ``{"mode": "cluster", "redis": "up"|"down"|
    "unknown", "node": <this node's name>, "streams": {"owner": n, "follower": n, "alone":
    n}}`` (live streams on this node by role; each stream row names its ``ownerNode``)."""
    if container.redis() is None:
        return {"mode": "single"}
    manager = container.socketio_manager()
    state = None if manager is None else manager.up
    roles = dict.fromkeys(ROLES, 0)
    for snap in container.stream_hub().snapshot():
        if snap.role in roles:
            roles[snap.role] += 1
    return {
        "mode": "cluster",
        "redis": "unknown" if state is None else ("up" if state else "down"),
        "node": container.stream_ownership().node_id,
        "streams": roles,
    }
