"""Ports: the protocols the domain depends on. Adapters implement them."""

from app.ports.exchange_backend import ExchangeBackend
from app.ports.exchange_gateway import Capabilities, ExchangeGateway
from app.ports.instance_cache import InstanceCache

__all__ = ["Capabilities", "ExchangeBackend", "ExchangeGateway", "InstanceCache"]
