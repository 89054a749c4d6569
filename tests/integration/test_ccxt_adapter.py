"""CcxtBackend and CcxtGateway against the loopback binance emulator."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import AsyncIterator

import ccxt
import pytest

from app.adapters.ccxt import errors as ccxt_errors
from app.adapters.ccxt.backend import CcxtBackend, deep_merge
from app.adapters.ccxt.gateway import CcxtGateway
from app.domain import errors as domain
from app.domain.config import Credentials, ExchangeConfig
from app.settings import CcxtSettings, ExchangeSettings, Settings
from tests.emulator import BinanceEmulator, emulator_overrides, non_local_urls
from tests.emulator.fixtures import binance_emulator  # noqa: F401

KEY, SECRET, PASSWORD = "key-AbC123xyz", "secret-S3cr3tValue", "pass-W0rd"


def backend_for(emulator: BinanceEmulator, **ccxt_extra: object) -> CcxtBackend:
    overrides = emulator.overrides(enableRateLimit=False, **ccxt_extra)
    return CcxtBackend(Settings(exchanges={"binance": ExchangeSettings(ccxt=overrides)}))


@pytest.fixture
async def gateways() -> AsyncIterator[list[CcxtGateway]]:
    """Collects gateways a test creates and closes them all at teardown."""
    made: list[CcxtGateway] = []
    yield made
    for gateway in made:
        await gateway.close()


# -- construction ----------------------------------------------------------------------


async def test_exchange_ids_are_ccxts_and_exclude_prototype_names() -> None:
    ids = CcxtBackend(Settings()).exchange_ids()
    assert "binance" in ids and len(ids) > 50
    assert "constructor" not in ids and "__proto__" not in ids


async def test_unknown_exchange_id_is_refused() -> None:
    with pytest.raises(domain.UnknownExchange):
        CcxtBackend(Settings()).create(ExchangeConfig("constructor"))


async def test_pro_without_a_pro_class_is_not_supported() -> None:
    import ccxt.async_support
    import ccxt.pro

    missing = min(set(ccxt.async_support.exchanges) - set(ccxt.pro.exchanges))
    with pytest.raises(domain.NotSupported, match="no CCXT Pro implementation"):
        CcxtBackend(Settings()).create(ExchangeConfig(missing, ccxt_type="pro"))


async def test_regular_and_pro_build_the_matching_classes(gateways: list[CcxtGateway]) -> None:
    backend = CcxtBackend(Settings())
    regular = backend.create(ExchangeConfig("binance"))
    pro = backend.create(ExchangeConfig("binance", ccxt_type="pro"))
    gateways += [regular, pro]
    assert type(regular.exchange).__module__.startswith("ccxt.async_support")
    assert type(pro.exchange).__module__.startswith("ccxt.pro")
    assert not regular.is_pro and pro.is_pro


async def test_settings_reach_the_constructor(gateways: list[CcxtGateway]) -> None:
    settings = Settings(ccxt=CcxtSettings(timeout_ms=1234, enable_rate_limit=False))
    gateway = CcxtBackend(settings).create(ExchangeConfig("binance"))
    gateways.append(gateway)
    assert gateway.exchange.timeout == 1234
    assert gateway.exchange.enableRateLimit is False


async def test_credentials_are_set_only_when_given(gateways: list[CcxtGateway]) -> None:
    backend = CcxtBackend(Settings())
    bare = backend.create(ExchangeConfig("binance"))
    keyed = backend.create(
        ExchangeConfig("binance", credentials=Credentials(api_key=KEY, secret=SECRET))
    )
    gateways += [bare, keyed]
    assert "apiKey" not in backend.constructor_config(bare.config)
    assert "password" not in backend.constructor_config(keyed.config)
    assert not bare.exchange.apiKey and not bare.exchange.secret
    assert (keyed.exchange.apiKey, keyed.exchange.secret) == (KEY, SECRET)


async def test_futures_sets_options_default_type_swap_not_top_level(
    binance_emulator: BinanceEmulator,  # noqa: F811
    gateways: list[CcxtGateway],
) -> None:
    backend = backend_for(binance_emulator)
    config = ExchangeConfig("binance", market_type="futures")
    assert "defaultType" not in backend.constructor_config(config)
    gateway = backend.create(config)
    gateways.append(gateway)
    assert gateway.exchange.options["defaultType"] == "swap"
    await gateway.load_markets()
    assert gateway.exchange.market("BTC/USDT")["symbol"] == "BTC/USDT:USDT"
    ticker = await gateway.fetch_ticker("BTC/USDT")
    assert ticker["symbol"] == "BTC/USDT:USDT"
    assert binance_emulator.counts["/fapi/v1/ticker/24hr"] == 1
    assert binance_emulator.counts["/api/v3/ticker/24hr"] == 0


async def test_spot_keeps_btc_usdt_on_the_spot_market(
    binance_emulator: BinanceEmulator,  # noqa: F811
    gateways: list[CcxtGateway],
) -> None:
    gateway = backend_for(binance_emulator).create(ExchangeConfig("binance"))
    gateways.append(gateway)
    assert (await gateway.fetch_ticker("BTC/USDT"))["symbol"] == "BTC/USDT"
    assert binance_emulator.counts["/api/v3/ticker/24hr"] == 1


async def test_operator_overrides_are_deep_merged(gateways: list[CcxtGateway]) -> None:
    settings = Settings(
        exchanges={
            "binance": ExchangeSettings(
                ccxt={"options": {"recvWindow": 7000}, "timeout": 999, "headers": {"X-A": "1"}}
            )
        }
    )
    backend = CcxtBackend(settings)
    config = ExchangeConfig("binance", market_type="futures")
    built = backend.constructor_config(config)
    assert built["options"] == {"defaultType": "swap", "recvWindow": 7000}  # merged, not replaced
    assert built["timeout"] == 999  # the operator wins over our default
    gateway = backend.create(config)
    gateways.append(gateway)
    assert gateway.exchange.options["defaultType"] == "swap"
    assert gateway.exchange.options["recvWindow"] == 7000
    assert gateway.exchange.options["fetchMarkets"]["types"]  # ccxt's own defaults survive


def test_deep_merge_merges_nested_maps_and_copies() -> None:
    override = {"a": {"b": {"c": 2}}, "d": [1]}
    merged = deep_merge({"a": {"b": {"x": 1}, "y": 1}, "d": [0]}, override)
    assert merged == {"a": {"b": {"x": 1, "c": 2}, "y": 1}, "d": [1]}
    merged["d"].append(2)
    assert override["d"] == [1]


# -- sandbox ---------------------------------------------------------------------------


async def test_sandbox_switches_to_the_test_urls(
    binance_emulator: BinanceEmulator,  # noqa: F811
    gateways: list[CcxtGateway],
) -> None:
    gateway = backend_for(binance_emulator).create(ExchangeConfig("binance", sandbox=True))
    gateways.append(gateway)
    assert gateway.exchange.urls["api"]["public"].endswith("/testnet.binance.vision/api/v3")
    assert non_local_urls(gateway.exchange) == []
    await gateway.fetch_ticker("BTC/USDT")
    assert binance_emulator.host_counts["testnet.binance.vision"] >= 2
    assert binance_emulator.host_counts["api.binance.com"] == 0


async def test_exchange_without_testnet_is_not_supported_never_live() -> None:
    import ccxt.async_support

    no_testnet = next(
        exchange_id
        for exchange_id in sorted(ccxt.async_support.exchanges)
        if not getattr(ccxt.async_support, exchange_id)().describe()["urls"].get("test")
    )
    with pytest.raises(domain.NotSupported, match="sandbox"):
        CcxtBackend(Settings()).create(ExchangeConfig(no_testnet, sandbox=True))


# -- markets ---------------------------------------------------------------------------


async def test_markets_are_shared_without_copying(
    binance_emulator: BinanceEmulator,  # noqa: F811
    gateways: list[CcxtGateway],
) -> None:
    backend = backend_for(binance_emulator)
    a = backend.create(ExchangeConfig("binance"))
    b = backend.create(
        ExchangeConfig("binance", credentials=Credentials(api_key=KEY, secret=SECRET))
    )
    gateways += [a, b]
    await a.load_markets()
    loads = binance_emulator.exchange_info_loads
    await b.load_markets(share_from=a)
    assert b.markets_loaded
    assert b.exchange.markets is a.exchange.markets
    assert b.exchange.markets_by_id is a.exchange.markets_by_id
    assert binance_emulator.exchange_info_loads == loads
    assert (await b.fetch_ticker("ETH/USDT"))["symbol"] == "ETH/USDT"


async def test_share_from_an_unloaded_gateway_loads_its_own(
    binance_emulator: BinanceEmulator,  # noqa: F811
    gateways: list[CcxtGateway],
) -> None:
    backend = backend_for(binance_emulator)
    a, b = backend.create(ExchangeConfig("binance")), backend.create(ExchangeConfig("binance"))
    gateways += [a, b]
    await b.load_markets(share_from=a)
    assert b.markets_loaded and not a.markets_loaded
    assert binance_emulator.exchange_info_loads == 3


# -- errors ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "expected", "error_type"),
    [
        ("rate_limit", domain.RateLimited, "DDoSProtection"),
        ("unavailable", domain.ExchangeUnavailable, "ExchangeNotAvailable"),
        ("bad_symbol", domain.BadSymbol, "BadSymbol"),
        ("auth", domain.AuthenticationFailed, "AuthenticationError"),
        ("delay", domain.ExchangeTimeout, "RequestTimeout"),
    ],
)
async def test_emulated_failures_map_to_domain_errors(
    binance_emulator: BinanceEmulator,  # noqa: F811
    gateways: list[CcxtGateway],
    kind: str,
    expected: type[domain.DomainError],
    error_type: str,
) -> None:
    gateway = backend_for(binance_emulator, timeout=300).create(ExchangeConfig("binance"))
    gateways.append(gateway)
    await gateway.load_markets()
    binance_emulator.fail("/ticker/24hr", kind, delay=1.0)
    with pytest.raises(expected) as caught:
        await gateway.fetch_ticker("BTC/USDT")
    assert caught.value.error_type == error_type
    assert caught.value.__cause__ is None  # the raw ccxt text is not chained along


async def test_refused_connection_is_a_network_domain_error(gateways: list[CcxtGateway]) -> None:
    """ccxt files a refused connection under ExchangeNotAvailable (a NetworkError)."""
    # Port 9 on loopback (discard) is closed: connection refused, no traffic leaves the host.
    overrides = emulator_overrides("http://127.0.0.1:9")
    settings = Settings(exchanges={"binance": ExchangeSettings(ccxt=overrides)})
    gateway = CcxtBackend(settings).create(ExchangeConfig("binance"))
    gateways.append(gateway)
    assert non_local_urls(gateway.exchange) == []
    with pytest.raises((domain.ExchangeUnavailable, domain.ExchangeUnreachable)) as caught:
        await gateway.load_markets()
    assert issubclass(getattr(ccxt, caught.value.error_type), ccxt.NetworkError)


async def test_balance_without_credentials_is_credentials_required(
    binance_emulator: BinanceEmulator,  # noqa: F811
    gateways: list[CcxtGateway],
) -> None:
    gateway = backend_for(binance_emulator).create(ExchangeConfig("binance"))
    gateways.append(gateway)
    with pytest.raises(domain.CredentialsRequired):
        await gateway.fetch_balance()
    assert binance_emulator.count("/account") == 0


async def test_wrong_secret_is_authentication_failed_and_scrubbed(
    binance_emulator: BinanceEmulator,  # noqa: F811
    gateways: list[CcxtGateway],
) -> None:
    credentials = Credentials(api_key=binance_emulator.api_key, secret=SECRET)
    gateway = backend_for(binance_emulator).create(
        ExchangeConfig("binance", credentials=credentials)
    )
    gateways.append(gateway)
    with pytest.raises(domain.AuthenticationFailed) as caught:
        await gateway.fetch_balance()
    assert binance_emulator.api_key not in caught.value.details
    assert SECRET not in str(caught.value)


async def test_watch_on_a_regular_instance_is_not_supported(
    binance_emulator: BinanceEmulator,  # noqa: F811
    gateways: list[CcxtGateway],
) -> None:
    gateway = backend_for(binance_emulator).create(ExchangeConfig("binance"))
    gateways.append(gateway)
    with pytest.raises(domain.NotSupported, match="WebSocket requires CCXT Pro"):
        await gateway.watch_ticker("BTC/USDT")
    await gateway.un_watch("ticker", "BTC/USDT")  # a no-op, never an error


def _ccxt_error_classes() -> list[type[BaseException]]:
    return [
        cls
        for _, cls in inspect.getmembers(
            importlib.import_module("ccxt.base.errors"), inspect.isclass
        )
        if issubclass(cls, ccxt.BaseError)
    ]


EXPECTED = {
    "BadSymbol": domain.BadSymbol,
    "BadRequest": domain.BadInput,
    "ArgumentsRequired": domain.BadInput,
    "InvalidOrder": domain.BadInput,
    "OrderNotFound": domain.BadInput,
    "InsufficientFunds": domain.BadInput,
    "InvalidAddress": domain.BadInput,
    "ExchangeClosedByUser": domain.ExchangeUnreachable,
    "NotSupported": domain.NotSupported,
    "AuthenticationError": domain.AuthenticationFailed,
    "PermissionDenied": domain.AuthenticationFailed,
    "AccountSuspended": domain.AuthenticationFailed,
    "AccountNotEnabled": domain.AuthenticationFailed,
    "RateLimitExceeded": domain.RateLimited,
    "DDoSProtection": domain.RateLimited,
    "ExchangeNotAvailable": domain.ExchangeUnavailable,
    "OnMaintenance": domain.ExchangeUnavailable,
    "RequestTimeout": domain.ExchangeTimeout,
    "NetworkError": domain.ExchangeUnreachable,
    "InvalidNonce": domain.ExchangeUnreachable,
    "ExchangeError": domain.ExchangeError,
    "OperationRejected": domain.ExchangeError,
    "BadResponse": domain.ExchangeError,
    "BaseError": domain.ExchangeError,
}


@pytest.mark.parametrize("cls", _ccxt_error_classes(), ids=lambda c: c.__name__)
def test_every_ccxt_error_class_maps_to_a_domain_error(cls: type[BaseException]) -> None:
    mapped = ccxt_errors.map_error(cls("binance boom"))
    assert isinstance(mapped, domain.DomainError)
    assert mapped.error_type == cls.__name__
    assert mapped.details == "binance boom"
    if cls.__name__ in EXPECTED:
        assert type(mapped) is EXPECTED[cls.__name__]
    # The most specific listed ancestor decides for the others.
    for ancestor in cls.__mro__:
        if ancestor.__name__ in EXPECTED:
            assert type(mapped) is EXPECTED[ancestor.__name__]
            break


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (TimeoutError("t"), domain.ExchangeTimeout),
        (ConnectionResetError("r"), domain.ExchangeUnreachable),
        (ValueError("v"), domain.ExchangeError),
        (KeyError("k"), domain.ExchangeError),
    ],
)
def test_non_ccxt_exceptions_map_too(exc: Exception, expected: type) -> None:
    assert type(ccxt_errors.map_error(exc)) is expected


def test_domain_errors_pass_through_unchanged() -> None:
    error = domain.BadSymbol("x")
    assert ccxt_errors.map_error(error) is error


def test_details_are_scrubbed_of_query_strings_and_credentials() -> None:
    message = (
        "binance GET https://api.binance.com/api/v3/account?timestamp=1&recvWindow=5000"
        f"&signature=abcdef0123 401 {{'X-MBX-APIKEY': '{KEY}'}} secret={SECRET}"
        f" password: {PASSWORD} url-encoded {SECRET.replace('-', '%2D')}"
        " wss://stream.binance.com/ws?listenKey=LK123"
    )
    mapped = ccxt_errors.map_error(ccxt.AuthenticationError(message), (KEY, SECRET, PASSWORD))
    details = mapped.details
    for leaked in (KEY, SECRET, PASSWORD, "abcdef0123", "LK123", "timestamp=1"):
        assert leaked not in details, leaked
    assert "https://api.binance.com/api/v3/account?" in details  # the endpoint stays visible
    assert "binance GET" in details and "401" in details


def test_scrub_ignores_empty_secrets_and_bounds_length() -> None:
    assert ccxt_errors.scrub("plain text", (None, "")) == "plain text"
    assert len(ccxt_errors.scrub("x" * 10_000)) <= ccxt_errors.MAX_DETAILS + 3


# -- gateway surface -------------------------------------------------------------------


async def test_capabilities_report_has_symbols_timeframes_fees(
    binance_emulator: BinanceEmulator,  # noqa: F811
    gateways: list[CcxtGateway],
) -> None:
    gateway = backend_for(binance_emulator).create(ExchangeConfig("binance"))
    gateways.append(gateway)
    caps = await gateway.capabilities()  # loads markets when needed
    assert "BTC/USDT" in caps.symbols and "1m" in caps.timeframes
    assert caps.has["fetchTicker"] is True and "trading" in caps.fees
    assert gateway.has("fetchOHLCV") is True and gateway.has("watchTicker") is False


async def test_un_watch_calls_ccxt_only_where_it_exists_and_swallows_errors(
    gateways: list[CcxtGateway],
) -> None:
    gateway = CcxtBackend(Settings()).create(ExchangeConfig("binance", ccxt_type="pro"))
    gateways.append(gateway)
    called: list[tuple[object, ...]] = []

    async def fake_un_watch_ohlcv(*args: object) -> None:
        called.append(args)
        raise ccxt.UnsubscribeError("no such subscription")

    gateway.exchange.un_watch_ohlcv = fake_un_watch_ohlcv
    await gateway.un_watch("ohlcv", "BTC/USDT", "5m")  # error logged, not raised
    assert called == [("BTC/USDT", "5m")]
    gateway.exchange.has["unWatchTicker"] = False
    gateway.exchange.un_watch_ticker = fake_un_watch_ohlcv
    await gateway.un_watch("ticker", "BTC/USDT")
    assert len(called) == 1


async def test_close_is_idempotent_and_closes_the_instance(gateways: list[CcxtGateway]) -> None:
    gateway = CcxtBackend(Settings()).create(ExchangeConfig("binance"))
    closes = 0
    original = gateway.exchange.close

    async def counting_close() -> None:
        nonlocal closes
        closes += 1
        await original()

    gateway.exchange.close = counting_close
    await gateway.close()
    await gateway.close()
    assert closes == 1 and gateway.closed
