"""The public plugin API (app.plugin, v1) is pinned: what plugins import cannot change by accident.

As httpx's test_exported_members: a name added to or removed from the surface fails here, so
the change is made on purpose (and, for a removal, with a v2 entry-point group: ADR 0081).
"""

from __future__ import annotations

import ast
import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import pytest

import app.plugin
import app.plugin.testing
from app.adapters.backends import ENTRY_POINT_GROUP as REGISTRY_GROUP
from app.plugin import (
    BackendContext,
    BaseGateway,
    Capabilities,
    CredentialsRequired,
    ExchangeConfig,
    ExchangeGateway,
    Json,
    NotSupported,
)
from app.settings import ExchangeSettings, Settings
from app.testing.fakes import FakeBackend, FakeExchangeGateway
from app.testing.pytest_plugin import push_sample

V1 = [
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
V1_TESTING = ["ExchangeGatewayContract", "FakeBackend", "FakeExchangeGateway", "eventually"]
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "profitmaker-example-backend"


def public_names(module: Any) -> list[str]:
    return sorted(
        name
        for name, value in vars(module).items()
        if not name.startswith("_") and not isinstance(value, type(ast))  # modules are not API
    )


def test_the_v1_surface_is_exactly_the_pinned_list() -> None:
    assert app.plugin.__all__ == V1
    assert public_names(app.plugin) == sorted(V1)  # nothing public outside __all__
    assert app.plugin.testing.__all__ == V1_TESTING
    for name in V1:
        assert getattr(app.plugin, name) is not None


def test_the_version_and_the_group_the_registry_loads_agree() -> None:
    assert app.plugin.API_VERSION == 1
    assert app.plugin.ENTRY_POINT_GROUP == REGISTRY_GROUP == "profitmaker_server.backends.v1"


def test_the_example_plugin_imports_only_the_public_api() -> None:
    files = sorted(EXAMPLE.glob("src/**/*.py")) + sorted(EXAMPLE.glob("tests/**/*.py"))
    assert files, "the example plugin's sources must be found"
    imported: set[str] = set()
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module)
            elif isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
    ours = {name for name in imported if name == "app" or name.startswith("app.")}
    assert ours == {"app.plugin", "app.plugin.testing"}


def test_the_context_is_a_read_only_copy_of_the_operator_settings() -> None:
    settings = Settings(
        exchanges={
            "sim": ExchangeSettings(options={"seed": 7, "nested": {"a": 1}}),
            "binance": ExchangeSettings(ccxt={"options": {"defaultType": "swap"}}),
        }
    )
    context = BackendContext.from_settings(settings)
    assert context.options("sim") == {"seed": 7, "nested": {"a": 1}}
    assert context.options("unknown") == {}
    assert context.ccxt_overrides_for("binance") == {"options": {"defaultType": "swap"}}
    assert context.timeout_ms == settings.ccxt.timeout_ms == 30_000
    assert context.enable_rate_limit is True
    with pytest.raises(TypeError):
        context.options("sim")["seed"] = 8  # type: ignore[index]
    assert BackendContext.of(settings) == context
    assert BackendContext.of(context) is context
    assert BackendContext.of(None) == BackendContext()
    context.options("sim")["nested"]["a"] = 2  # a deep copy: the settings stay as they were
    assert settings.exchanges["sim"].options["nested"] == {"a": 1}


class MinimalGateway(BaseGateway):
    """Only the six data methods: everything else comes from the base."""

    HAS: ClassVar[Mapping[str, Any]] = {"fetchTicker": True, "watchTicker": False}

    async def load_markets(self, *, share_from: ExchangeGateway | None = None) -> None:
        self._markets = {"BTC/USDT": {"symbol": "BTC/USDT"}}

    async def capabilities(self) -> Capabilities:
        return Capabilities(has=dict(self.HAS), symbols=list(self._markets or {}))

    async def fetch_ticker(self, symbol: str, params: Json | None = None) -> Json:
        return {"symbol": symbol}

    async def fetch_order_book(
        self, symbol: str, limit: int | None = None, params: Json | None = None
    ) -> Json:
        return {"symbol": symbol, "bids": [], "asks": []}

    async def fetch_trades(
        self,
        symbol: str,
        since: int | None = None,
        limit: int | None = None,
        params: Json | None = None,
    ) -> list[Json]:
        return []

    async def fetch_ohlcv(
        self,
        symbol: str,
        timeframe: str = "1m",
        since: int | None = None,
        limit: int | None = None,
        params: Json | None = None,
    ) -> list[list[float]]:
        return []

    closes = 0

    async def on_close(self) -> None:
        self.closes += 1


async def test_base_gateway_supplies_the_shared_parts_of_the_port() -> None:
    gateway = MinimalGateway(ExchangeConfig("mini"))
    assert isinstance(gateway, ExchangeGateway)
    assert gateway.exchange_id == "mini" and gateway.config == ExchangeConfig("mini")
    assert not gateway.markets_loaded
    await gateway.load_markets()
    assert gateway.markets_loaded
    assert gateway.has("fetchTicker") and not gateway.has("watchTicker")
    assert not gateway.has("fetchBalance")  # absent from the table: unsupported
    with pytest.raises(NotSupported, match="mini does not support watchTicker"):
        await gateway.watch_ticker("BTC/USDT")
    with pytest.raises(NotSupported, match="mini does not support fetchBalance"):
        await gateway.fetch_balance()
    with pytest.raises(CredentialsRequired, match="API credentials required for balance"):
        gateway.require_credentials()
    await gateway.un_watch("ticker", "BTC/USDT")  # a no-op, not an error
    assert not gateway.closed
    await asyncio.gather(gateway.close(), gateway.close())
    assert gateway.closed and gateway.closes == 1  # idempotent: the hook ran once


def test_base_gateway_still_demands_the_data_methods() -> None:
    class Incomplete(BaseGateway):
        async def load_markets(self, *, share_from: ExchangeGateway | None = None) -> None:
            self._markets = {}

    with pytest.raises(TypeError, match="abstract"):
        Incomplete(ExchangeConfig("x"))  # type: ignore[abstract]


async def test_the_pytest_plugin_offers_prefixed_fixtures_and_keeps_the_old_names(
    profitmaker_fake_gateway: FakeExchangeGateway,
    fake_gateway: FakeExchangeGateway,
    profitmaker_fake_backend: FakeBackend,
    profitmaker_fake_stream_trigger: Any,
    fake_stream_trigger: Any,
) -> None:
    assert fake_gateway is profitmaker_fake_gateway and profitmaker_fake_gateway.markets_loaded
    assert isinstance(profitmaker_fake_backend, FakeBackend)
    assert fake_stream_trigger is profitmaker_fake_stream_trigger is push_sample
