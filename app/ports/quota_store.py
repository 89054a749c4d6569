"""QuotaStore: per-token request budgets, shared by every process that serves the tokens."""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class QuotaStore(Protocol):
    """Counts requests per token name. The in-process adapter is
    ``app.adapters.quota.InProcessQuotaStore``; a Redis one would share budgets across
    processes."""

    async def take_request(self, name: str, per_minute: int) -> float:
        """Spend one request of ``name``'s budget of ``per_minute`` requests a minute.

        Returns:
            0.0 when the request may proceed, else the seconds until one would be allowed
            (nothing is spent then).
        """
        ...

    async def forget(self, name: str) -> None:
        """Drop the state kept for a token (revoked, or its quota changed)."""
        ...
