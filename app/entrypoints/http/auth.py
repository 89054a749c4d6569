"""Bearer-token check for every REST path except the open ones (health, docs, preflight)."""

from __future__ import annotations

import hmac

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Receive, Scope, Send

from app.entrypoints.http.responses import send_json


class BearerAuthMiddleware:
    """401 ``Access token required`` without a token, 403 ``Invalid token`` with a wrong one."""

    def __init__(self, app: ASGIApp, *, token: str, open_prefixes: tuple[str, ...]) -> None:
        self._app = app
        self._token = token.encode()
        self._open_prefixes = open_prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or self._is_open(scope):
            await self._app(scope, receive, send)
            return
        presented = _bearer_token(scope)
        if not presented:
            # RFC 9110 11.6.1: a 401 names the scheme it wants.
            await send_json(
                send, 401, {"error": "Access token required"}, [(b"www-authenticate", b"Bearer")]
            )
            return
        if not hmac.compare_digest(presented, self._token):
            await send_json(send, 403, {"error": "Invalid token"})
            return
        await self._app(scope, receive, send)

    def _is_open(self, scope: Scope) -> bool:
        if scope.get("method") == "OPTIONS":  # CORS preflight carries no credentials
            return True
        path: str = scope.get("path", "")
        return any(path == p or path.startswith(p + "/") for p in self._open_prefixes)


def _bearer_token(scope: Scope) -> bytes:
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            scheme, _, token = value.partition(b" ")
            if scheme.lower() == b"bearer":
                return token.strip()
            return b""
    return b""
