"""Bearer-token check for every REST path except the open ones (health, docs, preflight).

Tokens are API_TOKEN and the named ``[[tokens]]`` (ADR 0091), matched in constant time by
``AccessService``; a named token's REST quota is spent here, before any handler runs.
"""

from __future__ import annotations

from collections.abc import Callable

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Receive, Scope, Send

from app.domain.access import AccessService, NamedToken, QuotaExceeded
from app.entrypoints.http.responses import send_json

TOKEN_NAME_STATE = "token_name"
"""Key in ``scope["state"]`` under which the request's token *name* travels (request log)."""
QUOTA_ERROR = "Too many requests"


class BearerAuthMiddleware:
    """401 ``Access token required`` without a token, 403 ``Invalid token`` with a wrong or
    revoked one, 429 with ``Retry-After`` when the token's quota is spent."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        access: Callable[[], AccessService],
        open_prefixes: tuple[str, ...],
    ) -> None:
        self._app = app
        self._access = access
        self._open_prefixes = open_prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or self._is_open(scope):
            await self._app(scope, receive, send)
            return
        presented = bearer_token(scope)
        if not presented:
            # RFC 9110 11.6.1: a 401 names the scheme it wants.
            await send_json(
                send, 401, {"error": "Access token required"}, [(b"www-authenticate", b"Bearer")]
            )
            return
        access = self._access()
        token = access.identify(presented)
        if token is None:
            await send_json(send, 403, {"error": "Invalid token"})
            return
        if await admit(access, token, scope, send):
            await self._app(scope, receive, send)

    def _is_open(self, scope: Scope) -> bool:
        if scope.get("method") == "OPTIONS":  # CORS preflight carries no credentials
            return True
        path: str = scope.get("path", "")
        return any(path == p or path.startswith(p + "/") for p in self._open_prefixes)


async def admit(access: AccessService, token: NamedToken, scope: Scope, send: Send) -> bool:
    """Name the token for the request log and spend one request of its quota: True, or
    False after answering 429 ``Too many requests`` with ``Retry-After``."""
    state = scope.get("state")
    if isinstance(state, dict):
        state[TOKEN_NAME_STATE] = token.name
    try:
        await access.admit_request(token)
    except QuotaExceeded as exc:
        await send_json(
            send,
            429,
            {"error": QUOTA_ERROR, "details": exc.details, "errorType": "QuotaExceeded"},
            headers=[(b"retry-after", str(exc.retry_after_seconds).encode())],
        )
        return False
    return True


def bearer_token(scope: Scope) -> bytes:
    """The token of the first ``Authorization`` header if its scheme is Bearer, else b""."""
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            scheme, _, token = value.partition(b" ")
            if scheme.lower() == b"bearer":
                return token.strip()
            return b""
    return b""
