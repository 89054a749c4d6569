"""Exchange use cases: one-shot REST operations on cached exchange instances."""

from app.domain.exchange.service import ExchangeService

__all__ = ["ExchangeService"]
