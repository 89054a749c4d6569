"""The plugin test kit (plugin API v1): the contract suite, fakes and a bounded wait.

``from app.plugin.testing import ExchangeGatewayContract`` needs pytest and pytest-asyncio.
"""

from app.testing.contract import ExchangeGatewayContract
from app.testing.fakes import FakeBackend, FakeExchangeGateway
from app.testing.waiting import eventually

__all__ = ["ExchangeGatewayContract", "FakeBackend", "FakeExchangeGateway", "eventually"]
