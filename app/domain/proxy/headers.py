"""Which client headers the proxy forwards, and how a body is put on the wire."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from app.domain.errors import ProxyRefused

# Hop-by-hop (RFC 9110 7.6.1) plus headers the HTTP client must own: Host and Content-Length
# follow the URL and the body; Accept-Encoding is left to the client so it can decode the
# body; Expect would stall a client that does not do 100-continue.
DROPPED = frozenset(
    {
        "connection",
        "keep-alive",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
        "accept-encoding",
        "expect",
    }
)
CREDENTIAL_HEADERS = frozenset({"authorization", "cookie"})
"""Dropped when a redirect leaves the origin, as browsers do."""

_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_BODYLESS = frozenset({"GET", "HEAD"})


def forwardable_headers(headers: Mapping[str, str]) -> list[tuple[str, str]]:
    """The client's headers minus hop-by-hop ones and those named by its Connection header.

    Raises:
        ProxyRefused: a header name or value could smuggle a second header or request.
    """
    named_by_connection = {
        token.strip().lower()
        for name, value in headers.items()
        if name.lower() == "connection"
        for token in value.split(",")
    }
    kept: list[tuple[str, str]] = []
    for name, value in headers.items():
        if not _TOKEN.match(name):
            raise ProxyRefused("Header names must be HTTP tokens")
        if any(char in value for char in "\r\n\0"):
            raise ProxyRefused(f"Header {name} contains a line break or NUL")
        try:
            value.encode("latin-1")
        except UnicodeEncodeError:
            raise ProxyRefused(f"Header {name} contains characters outside Latin-1") from None
        lowered = name.lower()
        if lowered in DROPPED or lowered.startswith("proxy-") or lowered in named_by_connection:
            continue
        kept.append((name, value))
    return kept


def encode_body(
    method: str, body: Any, headers: list[tuple[str, str]]
) -> tuple[bytes | None, list[tuple[str, str]]]:
    """A string goes as is (UTF-8), anything else as JSON; GET and HEAD carry no body."""
    if body is None or method in _BODYLESS:
        return None, headers
    if isinstance(body, str):
        return body.encode("utf-8"), headers
    payload = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    if not any(name.lower() == "content-type" for name, _ in headers):
        headers = [*headers, ("Content-Type", "application/json")]
    return payload, headers


def without(headers: list[tuple[str, str]], names: frozenset[str]) -> list[tuple[str, str]]:
    return [(name, value) for name, value in headers if name.lower() not in names]
