"""create_app: the one ASGI application (REST + docs + Socket.IO) for a Settings."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import socketio
import structlog
from litestar import Litestar

from app.adapters.cluster.key_secret import cluster_key_secret, keep_key_secret
from app.container import Container, build_container
from app.entrypoints.gc_tuning import serving_gc
from app.entrypoints.http.app import create_http_app
from app.entrypoints.http.fast_reads import FastReads
from app.entrypoints.http.status import StatusSources
from app.entrypoints.operations import (
    metrics_port,
    register_gauges,
    register_readiness,
    token_reload,
)
from app.entrypoints.redis_health import cluster_status, register_redis_health
from app.entrypoints.request_log import RequestLogMiddleware
from app.entrypoints.socketio import create_socketio_server
from app.entrypoints.socketio.auth import SocketAccess
from app.settings import Settings

log = structlog.get_logger(__name__)


ENGINEIO_PATH = "/socket.io"


class Application:
    """The ASGI callable plus handles that tests and the CLI need (container, Litestar app).

    ``asgi`` is Socket.IO's ``ASGIApp`` around ``rest``; a REST request goes to ``rest``
    straight away, as ``ASGIApp`` would send it, one layer fewer on the hot path (ADR 0110).
    """

    def __init__(
        self,
        asgi: Any,
        container: Container,
        http: Litestar,
        rest: Any = None,
        fast_reads: FastReads | None = None,
    ) -> None:
        self.asgi = asgi
        self.container = container
        self.http = http
        self._rest = rest
        self.fast_reads = fast_reads
        """The raw road of the hot reads in front of ``http`` (ADR 0121), if any."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self._rest is not None and scope["type"] == "http" and not _is_engineio(scope["path"]):
            await self._rest(scope, receive, send)
            return
        await self.asgi(scope, receive, send)


def _is_engineio(path: str) -> bool:
    """engineio's ASGIApp test: the path, with a trailing slash, starts with ``/socket.io/``."""
    return path == ENGINEIO_PATH or path.startswith(ENGINEIO_PATH + "/")


def create_app(settings: Settings, container: Container | None = None) -> Application:
    """Wire the container's services into the HTTP (and Socket.IO) entrypoints."""
    container = container or build_container(settings)

    lifecycle = container.lifecycle()
    sio_box: list[Any] = []

    def connections() -> int:
        return len(sio_box[0].eio.sockets) if sio_box else 0

    status_sources = StatusSources(
        hub=container.stream_hub,
        streams=container.stream_service,
        cache=container.instance_cache,
        connections=connections,
        watchdog_seconds=dict(settings.streams.watchdog_seconds),
        cluster=lambda: cluster_status(container),
    )
    socketio_manager = container.socketio_manager()  # None in a single process

    @asynccontextmanager
    async def resources(_app: Litestar) -> AsyncIterator[None]:
        redis_client = container.redis()
        keeper: asyncio.Task[None] | None = None
        if redis_client is not None:  # one instance-key secret for the cluster (ADR 0142)
            secret = await cluster_key_secret(redis_client, settings.cluster)
            container.cache_keyer().adopt(secret)
            if not settings.cluster.key_secret:  # generated in Redis: keep it there
                keeper = asyncio.create_task(keep_key_secret(redis_client, secret))
        register_readiness(container)
        register_gauges(container, connections)
        register_redis_health(container)
        if socketio_manager is not None:  # cluster mode: listen before the first client
            socketio_manager.start(sio)
        cache = container.instance_cache()
        cache.start_sweeper()
        registry = container.registry()
        outbound_http = container.outbound_http()
        container.proxy_service()  # a bad [proxy] allow entry stops the start, not a request
        log.info(
            "server_ready",
            backends=[b["name"] for b in registry.describe() if b["status"] == "loaded"],
            failed_backends=[b["name"] for b in registry.describe() if b["status"] == "failed"],
        )
        try:
            async with token_reload(container, settings), metrics_port(container, settings):
                lifecycle.state = "running"
                yield
                lifecycle.state = "stopping"
        finally:
            lifecycle.state = "stopping"
            log.info("server_stopping")
            await container.stream_hub().aclose()  # stops every upstream loop, releases holds
            await container.stream_ownership().aclose()
            if keeper is not None:
                keeper.cancel()
            await container.stream_publisher().aclose()
            await cache.aclose()
            await registry.aclose()
            await outbound_http.aclose()
            if socketio_manager is not None:
                await socketio_manager.aclose()
            if redis_client is not None:  # cluster mode: close the pool last (ADR 0135)
                await redis_client.aclose()
            log.info("server_stopped")

    http = create_http_app(
        settings,
        services={
            "exchange_service": container.exchange_service,
            "backend_catalog": container.registry,
            "proxy_service": container.proxy_service,
            "stream_service": container.stream_service,
            "rate_budget": container.rate_budget,
            "read_budget": container.read_budget,
            "access_service": container.access_service,
            "readiness": container.readiness,
            "metrics_exposition": container.metrics,
            "status_sources": lambda: status_sources,
        },
        lifespan=[resources, serving_gc],
    )
    fast = FastReads(
        http, exchange_service=container.exchange_service, access=container.access_service
    )
    rest: Any = RequestLogMiddleware(fast, metrics=container.metrics())
    sio = create_socketio_server(
        container.stream_service,
        settings,
        lambda exchange_id: bool(container.registry().is_known(exchange_id)),
        publisher=container.stream_publisher(),
        access=SocketAccess(container.access_service),
        client_manager=socketio_manager,
    )
    sio_box.append(sio)
    # No on_startup/on_shutdown here: then Litestar's own lifespan would stop running.
    asgi = socketio.ASGIApp(sio, other_asgi_app=rest, socketio_path=ENGINEIO_PATH)
    return Application(asgi, container, http, rest, fast)
