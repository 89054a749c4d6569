"""Operations wiring run in the app's lifespan: readiness checks, scrape-time gauges, the
SIGHUP token reload and the optional separate metrics port."""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from typing import Any

import structlog

from app.adapters.metrics.budget import register_budget_metrics
from app.container import Container, token_book
from app.ports.metrics import Sample
from app.settings import Settings, SettingsError, load_settings

log = structlog.get_logger(__name__)


def register_readiness(container: Container) -> None:
    """``started``, ``backends`` and ``streams``; a Redis adapter adds ``redis`` here."""
    readiness = container.readiness()
    lifecycle = container.lifecycle()
    registry = container.registry()

    async def backends() -> str | None:
        loaded = [b for b in registry.describe() if b["status"] == "loaded"]
        return None if loaded else "no exchange backend loaded"

    async def streams() -> str | None:
        # The hub runs from start to stop; its loops are tasks of this event loop.
        return None if lifecycle.state == "running" else "stream hub not running"

    readiness.add("started", lifecycle.check)
    readiness.add("backends", backends)
    readiness.add("streams", streams)


def register_gauges(container: Container, connections: Callable[[], int]) -> None:
    """Gauges read at scrape time from the hub, the cache and the Socket.IO server."""
    metrics = container.metrics()
    streams = container.stream_service()
    cache = container.instance_cache()
    publisher = container.stream_publisher()

    def one(value: float) -> Iterable[Sample]:
        return [Sample((), float(value))]

    hub = container.stream_hub()

    def per_data_type(field: str) -> Iterable[Sample]:
        totals: dict[str, float] = {}
        for snap in hub.snapshot():
            totals[snap.data_type] = totals.get(snap.data_type, 0) + (
                1 if field == "streams" else getattr(snap, field)
            )
        return [Sample((data_type,), n) for data_type, n in sorted(totals.items())]

    def ages() -> Iterable[Sample]:
        # A symbol label only here: one series per live stream, gone when the stream stops.
        for snap in hub.snapshot():
            if snap.latest_age_seconds is not None:
                labels = (snap.exchange_id, snap.data_type, snap.symbol, snap.timeframe or "")
                yield Sample(labels, snap.latest_age_seconds)

    metrics.gauge(
        "streams_live",
        "Upstream streams running, by data type.",
        ("data_type",),
        lambda: per_data_type("streams"),
    )
    metrics.gauge(
        "stream_subscribers",
        "Socket.IO subscribers of live streams, by data type.",
        ("data_type",),
        lambda: per_data_type("subscribers"),
    )
    metrics.gauge(
        "stream_last_update_age_seconds",
        "Seconds since each live stream's last update (grows while the stream is silent).",
        ("exchange", "data_type", "symbol", "timeframe"),
        ages,
    )
    metrics.gauge(
        "stream_subscriptions",
        "Socket.IO subscriptions open.",
        (),
        lambda: one(streams.stats()["subscriptions"]),
    )
    metrics.gauge(
        "socketio_connections", "Socket.IO connections open.", (), lambda: one(connections())
    )
    metrics.counter_source(
        "socketio_parked_updates",
        "Updates held back (then combined) for slow Socket.IO clients.",
        (),
        lambda: one(getattr(publisher, "parked_updates", 0)),
    )
    register_budget_metrics(metrics, container.rate_budget().snapshot)
    metrics.gauge(
        "instance_cache_size", "Exchange instances cached.", (), lambda: one(cache.size())
    )
    metrics.counter_source(
        "instance_cache_evictions",
        "Exchange instances evicted, by reason (expired, lru).",
        ("reason",),
        lambda: [
            Sample((reason,), float(count))
            for reason, count in getattr(cache, "evictions", {}).items()
        ],
    )


@asynccontextmanager
async def token_reload(container: Container, settings: Settings) -> AsyncIterator[None]:
    """On SIGHUP, re-read ``[[tokens]]`` from the config file (revocation without restart).

    Installed on the main thread (a real server); without a config file SIGHUP is logged and
    ignored rather than left to its default action (terminate). A bad file is logged and the
    current tokens stay.
    """
    path = settings.config_file
    loop = asyncio.get_running_loop()
    installed = False
    reloads: set[asyncio.Task[bool]] = set()
    if threading.current_thread() is threading.main_thread():
        # Installed even without a config file: SIGHUP's default action would kill the server.

        def on_hup() -> None:
            if not path:
                log.warning("config_reload_skipped", reason="no config file to reload")
                return
            task = loop.create_task(reload_tokens(container, settings, path))
            reloads.add(task)  # a task nobody references may be collected mid-run
            task.add_done_callback(reloads.discard)

        try:
            loop.add_signal_handler(signal.SIGHUP, on_hup)
            installed = True
        except (NotImplementedError, RuntimeError):  # not on this platform / loop
            log.warning("sighup_reload_unavailable")
    try:
        yield
    finally:
        if installed:
            loop.remove_signal_handler(signal.SIGHUP)


async def reload_tokens(container: Container, settings: Settings, path: str) -> bool:
    """Reload the token list from ``path``; False (and a log line) when the file is bad."""
    try:
        fresh = load_settings(path)
    except SettingsError as exc:
        log.error("config_reload_failed", error=str(exc))
        return False
    fresh.api_token = settings.api_token  # API_TOKEN comes from the environment: unchanged
    await container.access_service().reload(token_book(fresh))
    return True


@asynccontextmanager
async def metrics_port(container: Container, settings: Settings) -> AsyncIterator[Any]:
    """Serve the metrics without a token on ``settings.metrics_port`` (when set): GET
    /metrics, and a JSON 404 for any other path."""
    if settings.metrics_port is None:
        yield None
        return
    from app.entrypoints.metrics_server import start_metrics_server

    metrics = container.metrics()
    metrics.bind_loop(asyncio.get_running_loop())
    server, thread = start_metrics_server(settings.host, settings.metrics_port, metrics.registry)
    metrics.http_port = server.server_port
    log.info("metrics_listening", host=settings.host, port=server.server_port)
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        metrics.bind_loop(None)
        metrics.http_port = None
