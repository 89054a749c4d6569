"""The public API for exchange backend plugins, version 1: import from here and nowhere else.

Everything a plugin needs is re-exported by this module (and the test kit by
``app.plugin.testing``); every other ``app.*`` module is internal and may change without
notice. Names are added to v1 compatibly; removing or changing one means a ``v2`` entry-point
group served side by side with v1 (docs/adr/0081, docs/plugins.md).

A plugin declares a factory in the entry-point group ``ENTRY_POINT_GROUP``; the server calls
it as ``factory(context: BackendContext) -> ExchangeBackend``.
"""

from app.domain.config import Credentials, ExchangeConfig
from app.domain.errors import (
    AuthenticationFailed,
    BadInput,
    BadSymbol,
    CredentialsRequired,
    DomainError,
    ExchangeError,
    ExchangeTimeout,
    ExchangeUnavailable,
    ExchangeUnreachable,
    NotSupported,
    RateLimited,
    UnknownExchange,
)
from app.plugin.base import BaseGateway
from app.plugin.context import BackendContext
from app.ports.exchange_backend import ExchangeBackend
from app.ports.exchange_gateway import DATA_TYPES, Capabilities, ExchangeGateway, Json

API_VERSION = 1
"""The plugin API version this server implements (the suffix of ENTRY_POINT_GROUP)."""

ENTRY_POINT_GROUP = "profitmaker_server.backends.v1"
"""Where the server looks for backend factories."""

__all__ = [
    "API_VERSION",
    "DATA_TYPES",
    "ENTRY_POINT_GROUP",
    "AuthenticationFailed",
    "BackendContext",
    "BadInput",
    "BadSymbol",
    "BaseGateway",
    "Capabilities",
    "Credentials",
    "CredentialsRequired",
    "DomainError",
    "ExchangeBackend",
    "ExchangeConfig",
    "ExchangeError",
    "ExchangeGateway",
    "ExchangeTimeout",
    "ExchangeUnavailable",
    "ExchangeUnreachable",
    "Json",
    "NotSupported",
    "RateLimited",
    "UnknownExchange",
]
