"""Test kit shipped with the package: fakes and the ExchangeGateway contract suite.

``from app.testing import FakeExchangeGateway, FakeBackend`` for fakes;
``from app.testing.contract import ExchangeGatewayContract`` for the contract suite (needs pytest).
"""

from app.testing.fakes import FakeBackend, FakeExchangeGateway

__all__ = ["FakeBackend", "FakeExchangeGateway"]
