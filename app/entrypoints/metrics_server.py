"""The separate metrics port (``metrics_port``): GET /metrics and nothing else.

prometheus-client's ``start_http_server`` answers *every* path with the metrics; a port that
operators expose to a scraper should answer only the one the docs name. This is the same
threaded WSGI server and the same exposition app, behind a path check.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer

METRICS_PATH = "/metrics"
_NOT_FOUND = json.dumps(
    {"error": "Not found", "details": "Not Found", "errorType": "NotFoundException"},
    separators=(",", ":"),
).encode()
"""The body the main port gives an unknown path (``{error, details, errorType}``)."""

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def only_metrics(app: WsgiApp) -> WsgiApp:
    """``app`` at ``/metrics``; a JSON 404 in the documented error format anywhere else."""

    def serve(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == METRICS_PATH:
            return app(environ, start_response)
        start_response(
            "404 Not Found",
            [("Content-Type", "application/json"), ("Content-Length", str(len(_NOT_FOUND)))],
        )
        return [_NOT_FOUND]

    return serve


class _QuietHandler(WSGIRequestHandler):
    """No line per scrape on stderr (the server's own log is structured)."""

    def log_message(self, format: str, *args: Any) -> None:
        return


def start_metrics_server(
    host: str, port: int, registry: CollectorRegistry
) -> tuple[ThreadingWSGIServer, threading.Thread]:
    """Serve ``registry`` on ``host:port`` (0: any free port) in a daemon thread.

    Returns the server (``server_port`` is the bound port; ``shutdown()`` then
    ``server_close()`` stop it) and its thread. IPv6 hosts work (the family is looked up).
    """
    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0][0]

    class Server(ThreadingWSGIServer):
        address_family = family

    httpd = make_server(
        host, port, only_metrics(make_wsgi_app(registry)), Server, handler_class=_QuietHandler
    )
    thread = threading.Thread(target=httpd.serve_forever, name="metrics-port", daemon=True)
    thread.start()
    return httpd, thread
