"""The status page (GET /status, open: it holds no data) and its JSON (GET /api/status).

The page and its two assets are package files served as they are; its script reads the
token from the URL fragment or a form and calls the token-protected JSON endpoints. No CDN:
it works on a desk's offline network.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict
from importlib import resources
from typing import Any

from litestar import Response, get
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath

from app import __version__
from app.entrypoints.http.openapi import error_responses

STATUS_PATH = "/status"
STATIC = resources.files("app.entrypoints.http") / "static"
# The page loads only its own script and stylesheet and talks only to this server.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}
# Litestar appends "; charset=utf-8" to every text/* media type itself: name none here.
_ASSETS = {
    "status.js": "text/javascript",
    "status.css": "text/css",
}


def _asset(name: str) -> bytes:
    return (STATIC / name).read_bytes()


@get(
    STATUS_PATH,
    tags=["health"],
    summary="Status page (HTML; its data needs the token)",
    include_in_schema=False,
)
async def status_page() -> Response[bytes]:
    return Response(_asset("status.html"), media_type="text/html", headers=SECURITY_HEADERS)


@get(STATUS_PATH + "/{name:str}", include_in_schema=False)
async def status_asset(name: FromPath[str]) -> Response[bytes]:
    media_type = _ASSETS.get(name)
    if media_type is None:
        raise NotFoundException()  # the documented error body, as for any unknown path
    return Response(_asset(name), media_type=media_type, headers=SECURITY_HEADERS)


class StatusSources:
    """What GET /api/status reads, each as a zero-argument callable (container providers):
    the stream hub, the stream service, the instance cache, the Socket.IO connection count;
    and the watchdog limits per data type (s); ``cluster`` gives the ``cluster`` block
    (default ``{"mode": "single"}``, ADR 0150)."""

    def __init__(
        self,
        hub: Callable[[], Any],
        streams: Callable[[], Any],
        cache: Callable[[], Any],
        connections: Callable[[], int],
        watchdog_seconds: dict[str, float],
        cluster: Callable[[], dict[str, Any]] | None = None,
    ) -> None:
        self.hub = hub
        self.streams = streams
        self.cache = cache
        self.connections = connections
        self.watchdog_seconds = watchdog_seconds
        self.cluster = cluster or (lambda: {"mode": "single"})
        self.started = time.monotonic()


@get(
    "/api/status",
    tags=["introspection"],
    summary="Live streams (subscribers, age, lag), instance cache and connections",
    description=(
        "What the status page shows. Per live stream: exchange, data type, symbol, timeframe, "
        "subscribers, REST waiters, seconds since its last update (`ageSeconds`, grows while "
        "the stream is silent), the exchange-to-server lag of that update (`lagSeconds`, when "
        "the data carries a timestamp) and the watchdog limit. `cluster`: `mode` (`single` or `cluster`) and, in a cluster, "
        "whether this node reaches Redis (`redis`: `up` or `down`), this node's name (`node`) "
        "and its live streams by role (`streams`: `owner`, `follower`, `alone`); each stream's "
        "`ownerNode` names the node running its upstream loop (null in a single process). "
        "No credential, no "
        "instance key, no Redis URL."
    ),
    responses=error_responses(),
)
async def status_json(status_sources: NamedDependency[StatusSources]) -> dict[str, Any]:
    s = status_sources
    streams = []
    for snap in s.hub().snapshot():
        row = asdict(snap)
        streams.append(
            {
                "exchangeId": row["exchange_id"],
                "dataType": row["data_type"],
                "symbol": row["symbol"],
                "timeframe": row["timeframe"],
                "subscribers": row["subscribers"],
                "waiters": row["waiters"],
                "ageSeconds": row["latest_age_seconds"],
                "lagSeconds": row.get("latest_lag_seconds"),
                "watchdogSeconds": s.watchdog_seconds.get(row["data_type"]) or None,
                "ownerNode": row.get("owner_node"),
            }
        )
    return {
        "success": True,
        "data": {
            "server": {"version": __version__, "uptimeSeconds": time.monotonic() - s.started},
            "streams": streams,
            "stats": s.streams().stats(),
            "cache": {
                "size": s.cache().size(),
                "evictions": dict(getattr(s.cache(), "evictions", {})),
            },
            "connections": s.connections(),
            "cluster": s.cluster(),
        },
    }
