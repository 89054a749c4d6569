"""Token checks for Socket.IO connections (constant time, any payload)."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from app.adapters.metrics import NullMetrics
from app.adapters.quota import InProcessQuotaStore
from app.domain.access import AccessService, NamedToken, TokenBook

MAX_TOKEN_LENGTH = 4096
INVALID_TOKEN = "Invalid token"

RevokedHandler = Callable[[list[str]], Awaitable[None]]
"""Told the sids whose token a reload revoked (removed, or its value rotated)."""


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
    """Which token each connection authenticated with, and its quotas.

    Named tokens (ADR 0091) are accepted as API_TOKEN is; a token revoked by a reload (its
    entry removed, or its value rotated) can no longer subscribe, and its connections are
    handed to ``on_revoked`` (ADR 0165); ``max_subscriptions`` counts the subscriptions of
    every connection that authenticated with the same token.

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
        self._tokens: dict[str, NamedToken] = {}
        self._watched: AccessService | None = None
        self._on_revoked: RevokedHandler | None = None

    def on_revoked(self, handler: RevokedHandler) -> None:
        """``handler(sids)`` runs after a reload revoked the token of those connections
        (they are already logged out here: they can no longer subscribe)."""
        self._on_revoked = handler

    def _access(self) -> AccessService:
        access = self._source()
        if access is not self._watched:
            # Every login goes through here, so the service that accepted a connection's
            # token is the one whose reloads are watched.
            access.add_reload_listener(self._reloaded)
            self._watched = access
        return access

    async def _reloaded(self, book: TokenBook) -> None:
        revoked = [sid for sid, token in self._tokens.items() if not book.still_accepts(token)]
        for sid in revoked:
            del self._tokens[sid]
        if revoked and self._on_revoked is not None:
            await self._on_revoked(revoked)

    def login(self, sid: str, presented: str | None) -> bool:
        """Remember the token for ``sid``; False when the token is not accepted."""
        token = self._access().identify(presented)
        if token is None:
            return False
        self._tokens[sid] = token
        return True

    def logout(self, sid: str) -> None:
        self._tokens.pop(sid, None)

    def token_name(self, sid: str) -> str | None:
        token = self._tokens.get(sid)
        return None if token is None else token.name

    def refusal(self, sid: str, subscriptions_of: Callable[[str], int]) -> str | None:
        """Why ``sid`` may not open one more subscription, or None when it may."""
        access = self._access()
        held = self._tokens.get(sid)
        if held is None or not access.book.still_accepts(held):
            return INVALID_TOKEN
        name = held.name
        token = access.book.get(name)
        if token is None or token.max_subscriptions is None:
            return None
        open_now = sum(
            subscriptions_of(other) for other, t in self._tokens.items() if t.name == name
        )
        if access.subscription_allowed(name, open_now):
            return None
        return f"Too many subscriptions for this token (max {token.max_subscriptions})"
