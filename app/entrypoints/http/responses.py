"""Tiny raw-ASGI JSON responses, for middleware that answers before the framework does."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar.types import HTTPResponseStartEvent, Send


async def send_json(
    send: Send, status: int, body: Any, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    payload = msgspec.json.encode(body)
    start: HTTPResponseStartEvent = {
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(payload)).encode()),
            *(headers or []),
        ],
    }
    await send(start)
    await send({"type": "http.response.body", "body": payload, "more_body": False})
