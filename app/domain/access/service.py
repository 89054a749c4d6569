"""AccessService: identify a token, enforce its quotas, swap the token book on reload."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable

import structlog

from app.domain.access.tokens import NamedToken, TokenBook
from app.ports.metrics import Metrics
from app.ports.quota_store import QuotaStore

log = structlog.get_logger(__name__)

ReloadListener = Callable[[TokenBook], Awaitable[None]]
"""Told the new book after every reload (e.g. to end what revoked tokens still hold open)."""


class QuotaExceeded(Exception):
    """A token's REST quota is spent: answer 429 with ``Retry-After: retry_after_seconds``."""

    def __init__(self, token: NamedToken, retry_after: float) -> None:
        per_minute = token.requests_per_minute
        super().__init__(f"Token quota of {per_minute} requests per minute exceeded")
        self.details = str(self)
        self.retry_after_seconds = max(1, math.ceil(retry_after))


class AccessService:
    """Who may call, and how much. Shared by the REST middleware and the Socket.IO handlers.

    Args:
        book: the accepted tokens.
        quotas: where request budgets are counted (in process, or shared).
        metrics: ``token_request(name, outcome)`` per admitted or refused request.
    """

    def __init__(self, book: TokenBook, quotas: QuotaStore, metrics: Metrics) -> None:
        self._book = book
        self._quotas = quotas
        self._metrics = metrics
        self._listeners: list[ReloadListener] = []

    @property
    def book(self) -> TokenBook:
        return self._book

    def identify(self, presented: bytes | str | None) -> NamedToken | None:
        """The token ``presented`` is, or None (unknown or revoked). Constant time."""
        if not presented:
            return None
        raw = presented.encode() if isinstance(presented, str) else presented
        return self._book.identify(raw)

    def is_active(self, name: str) -> bool:
        """False once the token was removed from the config (revoked)."""
        return self._book.get(name) is not None

    async def admit_request(self, token: NamedToken) -> None:
        """Spend one REST request of the token's quota.

        Raises:
            QuotaExceeded: the quota is spent; nothing was spent.
        """
        current = self._book.get(token.name) or token
        per_minute = current.requests_per_minute
        if per_minute is not None:
            wait = await self._quotas.take_request(current.name, per_minute)
            if wait > 0:
                self._metrics.token_request(current.name, "quota")
                raise QuotaExceeded(current, wait)
        self._metrics.token_request(current.name, "ok")

    def subscription_allowed(self, name: str, open_now: int) -> bool:
        """May a token that has ``open_now`` subscriptions open one more?"""
        token = self._book.get(name)
        if token is None:
            return False
        allowed = token.max_subscriptions is None or open_now < token.max_subscriptions
        self._metrics.token_request(name, "ok" if allowed else "quota")
        return allowed

    def add_reload_listener(self, listener: ReloadListener) -> None:
        """Call ``listener(new_book)`` after each reload (once per registration). A listener
        that raises is logged; the reload and the other listeners go on."""
        self._listeners.append(listener)

    async def reload(self, book: TokenBook) -> None:
        """Replace the accepted tokens (SIGHUP). Revoked tokens fail from the next request on;
        quotas of removed or changed tokens start afresh; then the reload listeners run (the
        Socket.IO entrypoint disconnects connections of revoked tokens, ADR 0165)."""
        old = self._book
        self._book = book
        for name in old.names:
            if book.get(name) != old.get(name):
                await self._quotas.forget(name)
        log.info(
            "tokens_reloaded",
            token_names=book.names,
            revoked=[name for name in old.names if book.get(name) is None],
        )
        for listener in list(self._listeners):
            try:
                await listener(book)
            except Exception:
                log.exception("token_reload_listener_failed")
