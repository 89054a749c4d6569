"""Runs an application under a real uvicorn server on an ephemeral loopback port."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn

from app.testing import eventually


@asynccontextmanager
async def running_server(asgi_app: Any, *, graceful_seconds: int = 2) -> AsyncIterator[str]:
    """Serve ``asgi_app`` on 127.0.0.1 in this event loop; yields the base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        asgi_app,
        lifespan="on",
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=graceful_seconds,
        ws="websockets-sansio",  # the websocket implementation the CLI serves with (app/cli.py)
    )
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        await eventually(lambda: server.started or task.done(), message="uvicorn started")
        if not server.started:
            raise RuntimeError("test server did not start")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=graceful_seconds + 10)
        sock.close()


@asynccontextmanager
async def served_client(asgi_app: Any, **client_kwargs: Any) -> AsyncIterator[Any]:
    """An httpx client talking to ``asgi_app`` served by real uvicorn in this event loop.

    Use it whenever the app must reach something else running in the test's loop (an
    exchange emulator): Litestar's test client would block that loop while it waits.
    """
    import httpx

    async with (
        running_server(asgi_app) as base_url,
        httpx.AsyncClient(base_url=base_url, timeout=30, **client_kwargs) as client,
    ):
        yield client
