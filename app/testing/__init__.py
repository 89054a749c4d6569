"""Test kit shipped with the package: fakes, a bounded wait, and the ExchangeGateway contract.

``from app.testing import FakeExchangeGateway, FakeBackend`` for fakes;
``from app.testing import eventually`` to wait for a condition (never a fixed sleep);
``from app.testing.contract import ExchangeGatewayContract`` for the contract suite (needs pytest).
"""

from app.testing.fakes import FakeBackend, FakeExchangeGateway
from app.testing.waiting import eventually, eventually_sync

__all__ = ["FakeBackend", "FakeExchangeGateway", "eventually", "eventually_sync"]
