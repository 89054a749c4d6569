"""Token checks for Socket.IO connections (constant time, any payload)."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any

MAX_TOKEN_LENGTH = 4096


def token_from(payload: Any) -> str | None:
    """The ``token`` of an ``{token}`` payload, or None for anything else."""
    if isinstance(payload, Mapping):
        token = payload.get("token")
        if isinstance(token, str) and 0 < len(token) <= MAX_TOKEN_LENGTH:
            return token
    return None


def token_matches(candidate: str | None, expected: str) -> bool:
    if candidate is None:
        return False
    return hmac.compare_digest(candidate.encode(), expected.encode())
