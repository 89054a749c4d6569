"""Token checks for Socket.IO connections (constant time, any payload)."""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping
from typing import Any

from app.adapters.metrics import NullMetrics
from app.adapters.quota import InProcessQuotaStore
from app.domain.access import AccessService, TokenBook

MAX_TOKEN_LENGTH = 4096
INVALID_TOKEN = "Invalid token"


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


class SocketAccess:
    """Which token each connection authenticated with (its *name*), and its quotas.

    Named tokens (ADR 0091) are accepted as API_TOKEN is; a token revoked by a reload can no
    longer subscribe; ``max_subscriptions`` counts the subscriptions of every connection
    that authenticated with the same token.

    Args:
        access: the access service, or a zero-argument callable returning it (a container
            provider), or a bare token (tests and the fallback: API_TOKEN only, no quotas).
    """

    def __init__(self, access: AccessService | Callable[[], AccessService] | str) -> None:
        if isinstance(access, str):
            fixed = AccessService(TokenBook.build(access, []), InProcessQuotaStore(), NullMetrics())
            self._source: Callable[[], AccessService] = lambda: fixed
        elif isinstance(access, AccessService):
            self._source = lambda: access
        else:
            self._source = access
        self._names: dict[str, str] = {}

    def login(self, sid: str, presented: str | None) -> bool:
        """Remember the token's name for ``sid``; False when the token is not accepted."""
        token = self._source().identify(presented)
        if token is None:
            return False
        self._names[sid] = token.name
        return True

    def logout(self, sid: str) -> None:
        self._names.pop(sid, None)

    def token_name(self, sid: str) -> str | None:
        return self._names.get(sid)

    def refusal(self, sid: str, subscriptions_of: Callable[[str], int]) -> str | None:
        """Why ``sid`` may not open one more subscription, or None when it may."""
        access = self._source()
        name = self._names.get(sid)
        if name is None or not access.is_active(name):
            return INVALID_TOKEN
        token = access.book.get(name)
        if token is None or token.max_subscriptions is None:
            return None
        open_now = sum(subscriptions_of(other) for other, n in self._names.items() if n == name)
        if access.subscription_allowed(name, open_now):
            return None
        return f"Too many subscriptions for this token (max {token.max_subscriptions})"
