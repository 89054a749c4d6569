"""SocketIOPortOnly: the second listening port serves Socket.IO and nothing else.

The terminal's current client connects Socket.IO at the server's port + 1 (issue 10); the
same application (one hub, one auth) serves both sockets, and this wrapper keeps REST, the
docs and the proxy on the main port only.
"""

from __future__ import annotations

from typing import Any

import msgspec

SOCKETIO_PATH = "/socket.io"


class SocketIOPortOnly:
    """ASGI wrapper: on ``socket_port``, anything but ``/socket.io/`` answers 404."""

    def __init__(self, app: Any, socket_port: int, http_port: int) -> None:
        self._app = app
        self._socket_port = socket_port
        self._body = msgspec.json.encode(
            {
                "error": "Not found",
                "details": f"This port serves Socket.IO only ({SOCKETIO_PATH}/); "
                f"the HTTP API is on port {http_port}",
                "errorType": "NotFound",
            }
        )

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket") and self._on_socket_port(scope):
            path = scope.get("path", "")
            if path != SOCKETIO_PATH and not path.startswith(SOCKETIO_PATH + "/"):
                await self._not_found(scope, send)
                return
        await self._app(scope, receive, send)

    def _on_socket_port(self, scope: Any) -> bool:
        server = scope.get("server")
        return bool(server and len(server) > 1 and server[1] == self._socket_port)

    async def _not_found(self, scope: Any, send: Any) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        await send(
            {
                "type": "http.response.start",
                "status": 404,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(self._body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": self._body})
