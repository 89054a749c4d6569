"""ProxyResult: the upstream's final answer as the CORS proxy reports it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from app.domain.errors import NestingTooDeep, ProxyFailed
from app.domain.nesting import check_json_nesting
from app.ports.outbound_http import OutboundResponse


@dataclass(frozen=True, slots=True)
class ProxyResult:
    """The final upstream answer, after any redirects."""

    status: int
    status_text: str
    headers: dict[str, str]
    data: Any
    """Parsed JSON when the body is JSON, else its text."""

    @property
    def success(self) -> bool:
        return 200 <= self.status < 300

    @classmethod
    def from_response(cls, response: OutboundResponse) -> ProxyResult:
        """Headers joined per lower-case name, body parsed as JSON when it is JSON.

        Raises:
            ProxyFailed: (errorType ``NestingTooDeep``) the body is JSON nested deeper than
                ``app.domain.nesting.MAX_NESTING_DEPTH``: no exchange API nests so deep, and
                the decoder would crash on it.
        """
        headers: dict[str, str] = {}
        for name, value in response.headers:
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        return cls(
            status=response.status,
            status_text=response.reason,
            headers=headers,
            data=_data(response.body, response.charset),
        )


def _data(body: bytes, charset: str | None) -> Any:
    try:
        text = body.decode(charset or "utf-8", errors="replace")
    except LookupError:  # unknown charset name from the upstream
        text = body.decode("utf-8", errors="replace")
    stripped = text.lstrip("\ufeff").strip()
    if not stripped:
        return text
    try:
        if stripped[0] in "[{":  # anything else fails json.loads at once, at no depth
            check_json_nesting(stripped)
    except NestingTooDeep as exc:
        raise ProxyFailed(
            f"The upstream answer is JSON nested deeper than {exc.limit} levels",
            error_type=NestingTooDeep.__name__,
        ) from None
    try:
        return json.loads(stripped)
    except ValueError:
        return text
