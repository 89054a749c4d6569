"""A tiny python-socketio client helper for e2e tests: every received event lands in a queue."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

import socketio


class EventClient:
    """An AsyncClient that records events; ``expect(name)`` waits for the next one."""

    def __init__(self) -> None:
        self.sio = socketio.AsyncClient(reconnection=False)
        self.queues: defaultdict[str, asyncio.Queue[Any]] = defaultdict(asyncio.Queue)
        self.disconnected = asyncio.Event()

        @self.sio.on("*")
        async def any_event(event: str, *args: Any) -> None:
            self.queues[event].put_nowait(args[0] if args else None)

        @self.sio.on("connect_error")
        async def on_connect_error(data: Any = None) -> None:
            self.queues["connect_error"].put_nowait(data)

        @self.sio.on("disconnect")
        async def on_disconnect(*_: Any) -> None:
            self.disconnected.set()

    async def connect(
        self, url: str, auth: Any = None, transports: list[str] | None = None
    ) -> None:
        await self.sio.connect(
            url, auth=auth, transports=transports or ["websocket"], wait_timeout=5
        )

    async def expect(self, event: str, timeout: float = 3.0) -> Any:
        return await asyncio.wait_for(self.queues[event].get(), timeout)

    async def nothing(self, event: str, wait: float = 0.1) -> bool:
        """True when no ``event`` arrived within ``wait`` seconds.

        A "nothing happened" check: use it only right after a positive control that proves
        the same connection would have shown the event (the answer the event would have come
        with, or the same event reaching another client), never on its own.
        """
        await asyncio.sleep(wait)
        return self.queues[event].empty()

    async def emit(self, event: str, *args: Any) -> None:
        await self.sio.emit(event, *args) if args else await self.sio.emit(event)

    async def authenticate(self, token: str) -> None:
        await self.sio.emit("authenticate", {"token": token})
        assert await self.expect("authenticated") == {"success": True}

    async def close(self) -> None:
        if self.sio.connected:
            try:
                # A polling client waits for its pending long-poll (up to the ping interval).
                await asyncio.wait_for(self.sio.disconnect(), 1.0)
            except TimeoutError:
                await self.sio.eio.disconnect(abort=True)
