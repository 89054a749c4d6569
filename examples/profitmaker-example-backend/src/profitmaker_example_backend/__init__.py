"""An example profitmaker-server backend plugin: replays a small recorded dataset offline."""

from .backend import EXCHANGE_ID, ExampleBackend
from .gateway import ExampleGateway

__all__ = ["EXCHANGE_ID", "ExampleBackend", "ExampleGateway"]
