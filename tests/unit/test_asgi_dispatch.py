"""The application sends REST straight to its chain exactly when Socket.IO's ASGIApp would."""

from __future__ import annotations

from typing import Any

import pytest
import socketio

from app.entrypoints.asgi import ENGINEIO_PATH, Application, _is_engineio

PATHS = [
    "/socket.io",
    "/socket.io/",
    "/socket.io/x",
    "/socket.iox",
    "/socket",
    "/health",
    "/api/exchange/fetchTicker",
    "/",
    "/SOCKET.IO/",
]


@pytest.mark.parametrize("path", PATHS)
def test_same_split_as_engineio(path: str) -> None:
    engineio_app = socketio.ASGIApp(socketio.AsyncServer(), socketio_path=ENGINEIO_PATH)
    engineio_takes = engineio_app._ensure_trailing_slash(path).startswith(
        engineio_app.engineio_path
    )
    assert _is_engineio(path) == engineio_takes


async def test_rest_skips_the_socketio_layer_and_socketio_keeps_it() -> None:
    calls: list[tuple[str, str]] = []

    def recorder(name: str) -> Any:
        async def app(scope: Any, receive: Any, send: Any) -> None:
            calls.append((name, scope.get("path", scope["type"])))

        return app

    application = Application(recorder("socketio"), None, None, rest=recorder("rest"))  # type: ignore[arg-type]
    for scope in (
        {"type": "http", "path": "/health"},
        {"type": "http", "path": "/socket.io/"},
        {"type": "websocket", "path": "/socket.io/"},
        {"type": "lifespan"},
    ):
        await application(scope, None, None)
    assert calls == [
        ("rest", "/health"),
        ("socketio", "/socket.io/"),
        ("socketio", "/socket.io/"),
        ("socketio", "lifespan"),
    ]
