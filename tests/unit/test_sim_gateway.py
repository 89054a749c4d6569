"""The simulator as a backend: options, symbols, futures resolution, balances, sandbox."""

from __future__ import annotations

import pytest

from app.adapters.sim import ManualClock, SimBackend
from app.domain.config import Credentials, ExchangeConfig
from app.domain.errors import BadInput, BadSymbol, CredentialsRequired
from app.ports.exchange_backend import ExchangeBackend
from app.ports.exchange_gateway import ExchangeGateway
from app.settings import ExchangeSettings, Settings

NOW = 1_700_000_000_000


def backend(**options: object) -> SimBackend:
    settings = Settings(exchanges={"sim": ExchangeSettings(options=options)})
    return SimBackend(settings, clock=ManualClock(NOW))


def with_key(key: str, **config: object) -> ExchangeConfig:
    creds = Credentials(api_key=key, secret="secret")
    return ExchangeConfig("sim", credentials=creds, **config)  # type: ignore[arg-type]


def test_backend_satisfies_the_port_and_serves_sim() -> None:
    sim = SimBackend(Settings())
    assert isinstance(sim, ExchangeBackend)
    assert sim.name == "sim" and sim.exchange_ids() == frozenset({"sim"})
    assert isinstance(sim.create(ExchangeConfig("sim")), ExchangeGateway)
    assert sim.options.seed == 42 and sim.options.tick_hz == 2.0


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"seed": "x"}, "seed"),
        ({"tick_hz": 0}, "tick_hz"),
        ({"tick_hz": 1000}, "tick_hz"),
        ({"symbols": []}, "symbols"),
        ({"symbols": ["BTCUSDT"]}, "symbols"),
        ({"speed": 1}, "speed"),
    ],
)
def test_bad_options_fail_construction_naming_the_option(
    options: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        backend(**options)


async def test_capabilities_are_honest() -> None:
    gateway = backend(symbols=["DOGE/USDT", "DOGE/USDT:USDT"]).create(ExchangeConfig("sim"))
    await gateway.load_markets()
    caps = await gateway.capabilities()
    assert caps.symbols == ["DOGE/USDT", "DOGE/USDT:USDT"]
    for method in ("fetchTicker", "fetchOHLCV", "watchOrderBook", "unWatchTrades", "sandbox"):
        assert caps.has[method] is True and gateway.has(method)
    for method in ("createOrder", "cancelOrder", "fetchMyTrades", "fetchTickers"):
        assert caps.has[method] is False and not gateway.has(method)
    assert {"1m", "5m", "15m", "1h", "4h", "1d"} <= set(caps.timeframes)
    assert caps.fees["trading"]["taker"] == 0.001
    assert (await gateway.fetch_ticker("DOGE/USDT"))["last"] > 0


async def test_futures_resolves_a_bare_pair_to_its_linear_swap_like_ccxt() -> None:
    sim = backend()
    futures = sim.create(ExchangeConfig("sim", market_type="futures"))
    spot = sim.create(ExchangeConfig("sim"))
    assert (await futures.fetch_ticker("BTC/USDT"))["symbol"] == "BTC/USDT:USDT"
    assert (await spot.fetch_ticker("BTC/USDT"))["symbol"] == "BTC/USDT"
    assert (await spot.fetch_ticker("BTC/USDT:USDT"))["symbol"] == "BTC/USDT:USDT"
    # No ETH swap is listed: ccxt falls back to the spot market, and so do we.
    assert (await futures.fetch_ticker("ETH/USDT"))["symbol"] == "ETH/USDT"
    swap_book = await futures.fetch_order_book("BTC/USDT", 3)
    assert swap_book["symbol"] == "BTC/USDT:USDT"


@pytest.mark.parametrize("symbol", ["NOPE/USDT", "btc/usdt", "", "BTC/USDT:BTC"])
async def test_unknown_symbols_raise_bad_symbol(symbol: str) -> None:
    gateway = backend().create(ExchangeConfig("sim", market_type="futures"))
    with pytest.raises(BadSymbol):
        await gateway.fetch_trades(symbol)


async def test_unknown_timeframe_and_bad_limits_are_bad_input() -> None:
    gateway = backend().create(ExchangeConfig("sim"))
    with pytest.raises(BadInput, match="timeframe"):
        await gateway.fetch_ohlcv("BTC/USDT", "7m")
    with pytest.raises(BadInput, match="limit"):
        await gateway.fetch_trades("BTC/USDT", None, -1)
    assert len(await gateway.fetch_ohlcv("BTC/USDT", "1m", None, 5000)) == 1000  # capped


async def test_balance_needs_credentials() -> None:
    gateway = backend().create(ExchangeConfig("sim"))
    with pytest.raises(CredentialsRequired):
        await gateway.fetch_balance()


async def test_balances_are_deterministic_per_api_key_and_consistent() -> None:
    sim = backend()
    alice = await sim.create(with_key("alice")).fetch_balance()
    again = await backend().create(with_key("alice")).fetch_balance()
    bob = await sim.create(with_key("bob")).fetch_balance()
    assert alice == again
    assert alice["total"] != bob["total"]
    assert set(alice["total"]) == {"BTC", "ETH", "SOL", "USDT"}
    for currency, total in alice["total"].items():
        entry = alice[currency]
        assert entry["free"] + entry["used"] == pytest.approx(total, abs=1e-9)
        assert entry["free"] >= 0 and entry["used"] >= 0 and total > 0
        assert alice["free"][currency] == entry["free"]


async def test_sandbox_is_a_separate_simulated_world() -> None:
    sim = backend()
    live = await sim.create(ExchangeConfig("sim")).fetch_ohlcv("BTC/USDT", "1d", None, 5)
    test = await sim.create(ExchangeConfig("sim", sandbox=True)).fetch_ohlcv(
        "BTC/USDT", "1d", None, 5
    )
    assert [r[0] for r in live] == [r[0] for r in test] and live != test
    again = (
        await backend()
        .create(ExchangeConfig("sim", sandbox=True))
        .fetch_ohlcv("BTC/USDT", "1d", None, 5)
    )
    assert again == test


async def test_instances_share_one_market_list() -> None:
    sim = backend()
    first, second = sim.create(ExchangeConfig("sim")), sim.create(with_key("k"))
    assert not first.markets_loaded
    await first.load_markets()
    await second.load_markets(share_from=first)
    assert second.markets is first.markets and second.markets_loaded


def test_public_surface_is_pinned() -> None:
    import app.adapters.sim as sim

    assert sorted(sim.__all__) == [
        "Clock", "ManualClock", "SimBackend", "SimGateway", "SimOptions", "SystemClock",
    ]  # fmt: skip
