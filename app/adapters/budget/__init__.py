"""In-process adapters of the budget ports (limiter, freshness cache)."""

from app.adapters.budget.cache import InMemoryFreshnessCache
from app.adapters.budget.limiter import InMemoryRateBudget

__all__ = ["InMemoryFreshnessCache", "InMemoryRateBudget"]
