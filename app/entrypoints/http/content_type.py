"""Refuse request bodies that are not JSON before the framework tries to decode them."""

from __future__ import annotations

from collections.abc import Mapping

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Receive, Scope, Send

from app.entrypoints.http.responses import send_json

_BODY_METHODS = {"POST", "PUT", "PATCH"}


class JsonContentTypeMiddleware:
    """400 in the contract's shape when a body-carrying request is not `application/json`."""

    def __init__(self, app: ASGIApp, *, error_texts: Mapping[str, str]) -> None:
        self._app = app
        self._error_texts = error_texts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == ScopeType.HTTP and scope.get("method") in _BODY_METHODS:
            content_type = _header(scope, b"content-type")
            if not _is_json(content_type):
                path = scope.get("path", "")
                details = (
                    "Request body is required (a JSON object)"
                    if not content_type and not _has_body(scope)
                    else "Content-Type must be application/json"
                )
                await send_json(
                    send,
                    400,
                    {
                        "error": self._error_texts.get(path, "Bad request"),
                        "details": details,
                        "errorType": "BadInput",
                    },
                )
                return
        await self._app(scope, receive, send)


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return ""


def _has_body(scope: Scope) -> bool:
    length = _header(scope, b"content-length")
    return bool(_header(scope, b"transfer-encoding")) or (length not in ("", "0"))


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))
