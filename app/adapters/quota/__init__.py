"""Adapters of the QuotaStore port."""

from app.adapters.quota.memory import InProcessQuotaStore

__all__ = ["InProcessQuotaStore"]
