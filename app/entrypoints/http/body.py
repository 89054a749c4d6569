"""Reads a request's JSON body once at the edge: media type, Content-Encoding, BOM, nesting.

Runs as route middleware (after routing, before the handler), so every refusal raises an
exception that the one error pipeline renders with the route's own ``error`` text:

- not ``application/json`` (or ``+json``): 400 ``BadInput``;
- ``Content-Encoding: gzip`` / ``deflate`` is decoded, and the *decoded* size must stay within
  the route's body limit (413); any other coding: 415 naming it (never "JSON is malformed");
- a UTF-8 byte-order mark before the JSON is dropped (the original, Express, accepted it);
- a body that is not UTF-8: 400 naming the byte (the decoder would raise a 500 otherwise);
- JSON nested deeper than ``app.domain.nesting.MAX_NESTING_DEPTH``: 400 ``NestingTooDeep``,
  checked on the raw text because the decoder itself would crash (RecursionError) first.
"""

from __future__ import annotations

import zlib
from typing import Any

from litestar.enums import ScopeType
from litestar.exceptions import HTTPException
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.types import ASGIApp, Receive, ReceiveMessage, Scope, Send

from app.domain.errors import BadInput
from app.domain.nesting import check_json_nesting

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
DEFAULT_MAX_BODY_BYTES = 10_000_000  # Litestar's own default request_max_body_size
UTF8_BOM = b"\xef\xbb\xbf"
# zlib window bits: 16 + MAX_WBITS reads a gzip wrapper; MAX_WBITS a zlib (RFC 1950) stream;
# -MAX_WBITS a raw deflate stream, which some clients send as "deflate" (RFC 9110 8.4.1.2).
_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}
_IDENTITY = frozenset({"", "identity"})


class UnsupportedContentEncoding(HTTPException):
    """A body in a Content-Encoding we do not decode (RFC 9110 15.5.16: 415)."""

    status_code = 415


class JsonBodyMiddleware:
    """Reads, decodes and checks the body of a POST/PUT/PATCH, then replays it to the route."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or scope.get("method") not in BODY_METHODS:
            await self._app(scope, receive, send)
            return
        headers = _headers(scope)
        content_type = headers.get(b"content-type", b"").decode("latin-1")
        if not is_json_media_type(content_type):
            if not content_type and not _has_body(headers):
                raise BadInput("Request body is required (a JSON object)")
            raise BadInput("Content-Type must be application/json")
        limit = _max_body_bytes(scope)
        coding = headers.get(b"content-encoding", b"").decode("latin-1").strip().lower()
        if coding not in _IDENTITY and coding not in _WBITS:
            raise UnsupportedContentEncoding(
                detail=f"Content-Encoding {coding[:40]!r} is not supported; send identity, "
                "gzip or deflate"
            )
        body = await _read(receive, limit if coding in _IDENTITY else None)
        if coding not in _IDENTITY:
            body = _decode(body, coding, limit)
        body = body.removeprefix(UTF8_BOM)
        _check_utf8(body)
        check_json_nesting(body)
        _set_body_headers(scope, len(body))
        await self._app(scope, _replay(body, receive), send)


def _headers(scope: Scope) -> dict[bytes, bytes]:
    return {name.lower(): value for name, value in scope.get("headers", ())}


def _has_body(headers: dict[bytes, bytes]) -> bool:
    return b"transfer-encoding" in headers or headers.get(b"content-length", b"") not in (b"", b"0")


def is_json_media_type(content_type: str) -> bool:
    """``application/json`` or ``application/<anything>+json``, parameters ignored."""
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


def _max_body_bytes(scope: Scope) -> int:
    handler: Any = scope.get("route_handler")
    resolve = getattr(handler, "resolve_request_max_body_size", None)
    limit = resolve() if resolve is not None else None
    return int(limit) if limit else DEFAULT_MAX_BODY_BYTES


async def _read(receive: Receive, limit: int | None) -> bytes:
    """The whole body; past ``limit`` bytes (None: not checked here) a 413."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk: bytes = message.get("body", b"")  # type: ignore[assignment]
        size += len(chunk)
        if limit is not None and size > limit:
            raise RequestEntityTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _decode(body: bytes, coding: str, limit: int) -> bytes:
    """Inflate ``body``; never more than ``limit`` + 1 bytes are produced (a zip bomb stops)."""
    if coding == "deflate" and body[:1] and (body[0] & 0x0F) != 8:
        wbits = -zlib.MAX_WBITS  # raw deflate: no zlib header
    else:
        wbits = _WBITS[coding]
    inflater = zlib.decompressobj(wbits)
    try:
        decoded = inflater.decompress(body, limit + 1)
    except zlib.error:
        raise BadInput(f"Request body is not valid {coding} data") from None
    if len(decoded) > limit:
        raise RequestEntityTooLarge
    if not inflater.eof:
        raise BadInput(f"Request body is not valid {coding} data (truncated)")
    return decoded


def _check_utf8(body: bytes) -> None:
    """JSON text is UTF-8 (RFC 8259 8.1); msgspec raises UnicodeDecodeError (a 500) otherwise."""
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadInput(f"Request body is not valid UTF-8 (byte {exc.start})") from None


def _set_body_headers(scope: Scope, length: int) -> None:
    """Tell the route the body is now plain, of ``length`` bytes."""
    headers = [
        (name, value)
        for name, value in scope.get("headers", ())
        if name.lower() not in (b"content-encoding", b"content-length", b"transfer-encoding")
    ]
    headers.append((b"content-length", str(length).encode()))
    scope["headers"] = headers


def _replay(body: bytes, original: Receive) -> Receive:
    """The body once, then the client's own messages (a later disconnect is still seen)."""
    sent = False

    async def receive() -> ReceiveMessage:
        nonlocal sent
        if sent:
            return await original()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


__all__ = ["JsonBodyMiddleware", "UnsupportedContentEncoding", "is_json_media_type"]
