"""`profitmaker-server`: parse flags, load settings, enforce the token policy, run uvicorn."""

from __future__ import annotations

import argparse
import ipaddress
import socket
import sys
from collections.abc import Sequence
from typing import Any

import structlog

from app.observability import configure_logging
from app.settings import Settings, SettingsError, load_settings


class StartupRefused(RuntimeError):
    """The server must not start with these settings; the message says why and how to fix it."""


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="profitmaker-server",
        description="CCXT behind one authenticated HTTP + Socket.IO endpoint.",
    )
    parser.add_argument("--host", help="address to bind (env HOST, default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to listen on (env PORT, default 3001)")
    parser.add_argument(
        "--socket-port",
        type=int,
        help="second port serving Socket.IO only (env SOCKET_PORT, default port + 1, 0: off)",
    )
    parser.add_argument("--config", help="TOML config file (env PROFITMAKER_CONFIG)")
    return parser.parse_args(argv)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_token_policy(settings: Settings) -> str | None:
    """Refuse the default token off loopback; return a warning to log when it is in use."""
    if not settings.uses_default_token:
        return None
    if not is_loopback(settings.host):
        raise StartupRefused(
            f"refusing to listen on {settings.host} with the default token: "
            "set API_TOKEN to a secret of your own (or bind 127.0.0.1)"
        )
    return "API_TOKEN is not set: the default token is accepted because we listen on loopback only"


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        settings = load_settings(
            config_path=args.config,
            overrides={"host": args.host, "port": args.port, "socket_port": args.socket_port},
        )
        warning = check_token_policy(settings)
    except (SettingsError, StartupRefused) as exc:
        # Logging is not configured yet: the operator reads this line on stderr.
        print(f"profitmaker-server: {exc}", file=sys.stderr)  # noqa: T201
        return 2
    configure_logging(settings.log_level, settings.log_format)
    log = structlog.get_logger("app.cli")
    if warning:
        log.warning("default_token_in_use", detail=warning)
    try:
        serve(settings)
    except KeyboardInterrupt:
        # Ctrl-C: uvicorn has already shut down gracefully and then re-raises the signal
        # (uvicorn >= 0.29); its own `uvicorn.run` swallows it the same way. A clean stop,
        # not a traceback on the operator's terminal.
        return 0
    return 0


def uvicorn_config(settings: Settings, application: Any) -> Any:
    """The runtime settings the fan-out benchmark was measured with (ADR 0004, 0040)."""
    import uvicorn

    return uvicorn.Config(
        application,
        host=settings.host,
        port=settings.port,
        lifespan="on",
        log_config=None,  # our logging setup handles uvicorn's loggers
        access_log=False,
        timeout_graceful_shutdown=int(settings.shutdown_grace_seconds),
        ws_max_size=settings.socketio.max_http_buffer_size,  # engine.io checks the same (ADR 0070)
        # Per-message compression costs a quarter of the fan-out CPU (bench/fanout.py); the
        # Node original runs without it too.
        ws_per_message_deflate=False,
        ws="websockets-sansio",  # the implementation bench/fanout.py measured
    )


def bind_socket_port(settings: Settings) -> socket.socket | None:
    """The listening socket for the second Socket.IO port, or None (off, or busy: warned).

    A busy second port must not stop the server: the HTTP port serves Socket.IO as well.
    """
    port = settings.effective_socket_port
    if port is None:
        return None
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    sock = socket.socket(family=family)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((settings.host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        structlog.get_logger("app.cli").warning(
            "socket_port_unavailable",
            socket_port=port,
            error=exc.strerror or str(exc),
            detail="Socket.IO stays available on the HTTP port",
        )
        return None
    return sock


def serve(settings: Settings) -> None:
    from app.entrypoints.asgi import create_app
    from app.entrypoints.socket_port import SocketIOPortOnly

    application: Any = create_app(settings)
    extra = bind_socket_port(settings)
    if extra is not None:
        application = SocketIOPortOnly(application, extra.getsockname()[1], settings.port)
    serve_asgi(settings, application, extra)


def serve_asgi(settings: Settings, application: Any, extra: socket.socket | None = None) -> None:
    """Run an ASGI application on the server stack (ADR 0004): ``settings.port`` and ``extra``.

    The real server and the bare yardstick app of ``bench.rest --overhead`` both start here,
    so they differ only in the application.
    """
    import uvicorn

    config = uvicorn_config(settings, application)
    sockets = [config.bind_socket()]  # exits with uvicorn's message if the HTTP port is busy
    if extra is not None:
        sockets.append(extra)
    structlog.get_logger("app.cli").info(
        "server_listening",
        host=settings.host,
        port=sockets[0].getsockname()[1],
        socket_port=extra.getsockname()[1] if extra is not None else None,
    )
    uvicorn.Server(config).run(sockets=sockets)


if __name__ == "__main__":
    sys.exit(main())
