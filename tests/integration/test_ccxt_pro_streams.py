"""ccxt.pro binance streams against the WebSocket emulator: un_watch, drops, reconnects, watchdog.

Layer by layer: the CcxtGateway alone (what ccxt.pro does on the wire), then the StreamHub
on the real CcxtBackend (what the server does about it).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from app.adapters.cache.memory import InMemoryInstanceCache
from app.adapters.ccxt.backend import CcxtBackend
from app.adapters.ccxt.gateway import CcxtGateway
from app.domain.config import ExchangeConfig
from app.domain.errors import ExchangeUnreachable
from app.domain.streams import (
    StreamHub,
    StreamRequest,
    StreamService,
    Subscriber,
    SubscriptionRegistry,
)
from app.ports.exchange_gateway import UNWATCH_METHODS
from app.settings import CacheSettings, ExchangeSettings, Settings, StreamSettings
from app.testing import eventually
from tests.emulator import BinanceEmulator, non_local_urls
from tests.emulator.fixtures import binance_emulator  # noqa: F401

SYMBOL = "BTC/USDT"
STREAMS = {
    "ticker": "btcusdt@miniTicker",
    "trades": "btcusdt@trade",
    "orderbook": "btcusdt@depth@100ms",
    "ohlcv": "btcusdt@kline_1m",
}
WAIT = 5.0


def pro_settings(emulator: BinanceEmulator) -> Settings:
    overrides = emulator.overrides(pro=True, enableRateLimit=False)
    return Settings(exchanges={"binance": ExchangeSettings(ccxt=overrides)})


PRO = ExchangeConfig("binance", ccxt_type="pro")


@pytest.fixture
async def gateway(binance_emulator: BinanceEmulator) -> AsyncIterator[CcxtGateway]:  # noqa: F811
    gw = CcxtBackend(pro_settings(binance_emulator)).create(PRO)
    assert non_local_urls(gw.exchange) == []
    await gw.load_markets()
    yield gw
    await gw.close()


async def watch(gw: CcxtGateway, data_type: str) -> Any:
    if data_type == "ticker":
        return await asyncio.wait_for(gw.watch_ticker(SYMBOL), WAIT)
    if data_type == "trades":
        return await asyncio.wait_for(gw.watch_trades(SYMBOL), WAIT)
    if data_type == "orderbook":
        return await asyncio.wait_for(gw.watch_order_book(SYMBOL), WAIT)
    return await asyncio.wait_for(gw.watch_ohlcv(SYMBOL, "1m"), WAIT)


def waiting_watches(gw: CcxtGateway) -> set[str]:
    """The message hashes ccxt.pro has a pending watch future for (one per waiting stream)."""
    return {h for client in gw.exchange.clients.values() for h in client.futures}


async def started_watch(gw: CcxtGateway, coro: Any) -> asyncio.Task[Any]:
    """Start a watch and return once ccxt.pro holds its future (it now waits for data)."""
    before = waiting_watches(gw)
    task = asyncio.create_task(coro)
    await eventually(lambda: waiting_watches(gw) - before, message="the watch is waiting")
    return task


# -- the gateway on the wire ----------------------------------------------------------------


@pytest.mark.parametrize("data_type", list(STREAMS))
async def test_un_watch_sends_unsubscribe_where_binance_has_it(
    gateway: CcxtGateway,
    binance_emulator: BinanceEmulator,  # noqa: F811
    data_type: str,
) -> None:
    ws = binance_emulator.ws
    stream = STREAMS[data_type]
    assert gateway.has(UNWATCH_METHODS[data_type])
    await watch(gateway, data_type)
    assert ws.subscribe_count(stream) == 1 and stream in ws.subscribed_streams()
    await asyncio.wait_for(gateway.un_watch(data_type, SYMBOL, "1m"), WAIT)
    assert ws.unsubscribed(stream) == 1, ws.log
    assert stream not in ws.subscribed_streams()
    # The exchange subscription is gone, the instance is not: watching again subscribes again.
    await watch(gateway, data_type)
    assert ws.subscribe_count(stream) == 2


async def test_un_watch_balance_is_a_no_op_binance_has_no_un_watch_balance(
    gateway: CcxtGateway,
    binance_emulator: BinanceEmulator,  # noqa: F811
) -> None:
    assert not gateway.has("unWatchBalance")
    await gateway.un_watch("balance", "")
    assert binance_emulator.ws.log == []


@pytest.mark.parametrize("abort", [False, True], ids=["close-frame", "tcp-cut"])
async def test_a_drop_fails_the_pending_watch_and_the_next_watch_resubscribes(
    gateway: CcxtGateway,
    binance_emulator: BinanceEmulator,  # noqa: F811
    abort: bool,
) -> None:
    ws = binance_emulator.ws
    first = await watch(gateway, "ticker")
    ws.silent = True
    pending = await started_watch(gateway, gateway.watch_ticker(SYMBOL))
    assert not pending.done()
    assert await ws.drop_all(abort=abort) == 1
    with pytest.raises(ExchangeUnreachable) as caught:
        await asyncio.wait_for(pending, WAIT)
    assert caught.value.error_type == "NetworkError"
    ws.silent = False
    again = await watch(gateway, "ticker")
    assert again["symbol"] == first["symbol"] == SYMBOL
    assert len(ws.events("connect")) == 2, ws.log
    assert ws.subscribe_count("btcusdt@miniTicker") == 2
    assert ws.connections == 1


async def test_order_book_after_a_reconnect_is_a_full_book_in_step_with_the_exchange(
    gateway: CcxtGateway,
    binance_emulator: BinanceEmulator,  # noqa: F811
) -> None:
    ws = binance_emulator.ws
    for _ in range(3):
        book = await watch(gateway, "orderbook")
    before = book["nonce"]
    assert binance_emulator.count("/api/v3/depth") == 1
    ws.silent = True
    pending = await started_watch(gateway, gateway.watch_order_book(SYMBOL))
    await ws.drop_all()
    with pytest.raises(ExchangeUnreachable):
        await asyncio.wait_for(pending, WAIT)
    ws.silent = False
    book = await watch(gateway, "orderbook")
    # A new REST snapshot, then the diffs that follow it: not a book of diffs alone.
    assert binance_emulator.count("/api/v3/depth") == 2
    assert ws.subscribe_count("btcusdt@depth@100ms") == 2
    assert book["nonce"] > before
    assert len(book["bids"]) == len(book["asks"]) == 1000
    assert book["bids"][0][0] < book["asks"][0][0]
    expected = ws.depth_levels_at("BTCUSDT", book["nonce"])
    top_bids = dict(book["bids"][:5])
    top_asks = dict(book["asks"][:5])
    assert top_bids == expected["bids"] and top_asks == expected["asks"]


# -- the stream hub on the real backend -----------------------------------------------------


class RecordingPublisher:
    def __init__(self) -> None:
        self.updates: list[Any] = []
        self.recipients: list[set[Subscriber]] = []  # who each update went to
        self.errors: list[str] = []
        self.changed = asyncio.Event()

    def publish(self, update: Any, subscribers: Any) -> None:
        self.updates.append(update)
        self.recipients.append(set(subscribers))
        self.changed.set()

    def publish_error(self, message: str, subscribers: Any) -> None:
        self.errors.append(message)
        self.changed.set()

    def publish_status(self, state: str, reason: str, subscribers: Any) -> None:
        pass

    def discard(self, subscriber: Subscriber) -> None:
        pass

    def forget_connection(self, connection_id: str) -> None:
        pass

    async def wait(self, predicate: Any, what: str, timeout: float = WAIT) -> None:
        async with asyncio.timeout(timeout):
            while not predicate():
                self.changed.clear()
                await self.changed.wait()


@pytest.fixture
def stream_settings() -> StreamSettings:
    return StreamSettings(retry_initial_seconds=0.01, retry_max_seconds=0.05, retry_jitter=0.0)


@pytest.fixture
async def hub_parts(
    binance_emulator: BinanceEmulator,  # noqa: F811
    stream_settings: StreamSettings,
) -> AsyncIterator[tuple[StreamService, StreamHub, RecordingPublisher]]:
    backend = CcxtBackend(pro_settings(binance_emulator))
    cache = InMemoryInstanceCache(backend.create, CacheSettings())
    publisher = RecordingPublisher()
    registry = SubscriptionRegistry()
    hub = StreamHub(cache, publisher, stream_settings, on_subscribers_ended=registry.forget_ended)
    yield StreamService(hub, registry, stream_settings), hub, publisher
    await hub.aclose()
    await cache.aclose()


TICKER = StreamRequest(config=PRO, data_type="ticker", symbol=SYMBOL)


async def test_hub_stream_recovers_after_the_exchange_drops_the_socket(
    hub_parts: tuple[StreamService, StreamHub, RecordingPublisher],
    binance_emulator: BinanceEmulator,  # noqa: F811
) -> None:
    streams, _hub, publisher = hub_parts
    ws = binance_emulator.ws
    await streams.subscribe("c1", TICKER)
    await publisher.wait(lambda: len(publisher.updates) >= 2, "updates")
    assert publisher.updates[0].restarted and not publisher.updates[1].restarted
    await ws.drop_all()
    await publisher.wait(lambda: publisher.errors, "an error event")
    seen = len(publisher.updates)
    await publisher.wait(lambda: len(publisher.updates) > seen, "updates after the drop")
    assert publisher.updates[seen].restarted is True
    assert ws.subscribe_count("btcusdt@miniTicker") == 2 and ws.connections == 1
    assert publisher.updates[-1].data["symbol"] == SYMBOL


@pytest.mark.parametrize(
    "stream_settings",
    [
        StreamSettings(
            retry_initial_seconds=0.01, retry_jitter=0.0, watchdog_seconds={"ticker": 0.3}
        )
    ],
)
async def test_watchdog_unsubscribes_and_resubscribes_a_silent_stream(
    hub_parts: tuple[StreamService, StreamHub, RecordingPublisher],
    binance_emulator: BinanceEmulator,  # noqa: F811
) -> None:
    streams, _hub, publisher = hub_parts
    ws = binance_emulator.ws
    await streams.subscribe("c1", TICKER)
    await publisher.wait(lambda: publisher.updates, "a first update")
    ws.silent = True
    await publisher.wait(lambda: publisher.errors, "the watchdog", timeout=3)
    assert "No data from the exchange" in publisher.errors[0]
    await ws.wait_until(lambda: ws.unsubscribed("btcusdt@miniTicker") >= 1, what="UNSUBSCRIBE")
    await ws.wait_until(lambda: ws.subscribe_count("btcusdt@miniTicker") >= 2, what="re-SUBSCRIBE")
    seen = len(publisher.updates)
    ws.silent = False
    await publisher.wait(lambda: len(publisher.updates) > seen, "updates again")
    assert publisher.updates[seen].restarted is True
    assert ws.connections == 1  # the socket stayed open: un_watch + watch on the same one


async def test_last_subscriber_leaving_unsubscribes_upstream(
    hub_parts: tuple[StreamService, StreamHub, RecordingPublisher],
    binance_emulator: BinanceEmulator,  # noqa: F811
) -> None:
    streams, hub, publisher = hub_parts
    ws = binance_emulator.ws
    first = await streams.subscribe("c1", TICKER)
    second = await streams.subscribe("c2", TICKER)
    await publisher.wait(lambda: publisher.updates, "an update")
    assert ws.subscribe_count("btcusdt@miniTicker") == 1
    streams.unsubscribe("c1", first.subscription_id)
    # The next update reaching the remaining subscriber proves the loop outlived the first
    # one's departure; an UNSUBSCRIBE sent on that departure would be in the log by then.
    seen = len(publisher.updates)
    await publisher.wait(lambda: len(publisher.updates) > seen, "an update after c1 left")
    assert all(
        {s.subscription_id for s in who} == {second.subscription_id}
        for who in publisher.recipients[seen:]
    )
    assert ws.unsubscribed("btcusdt@miniTicker") == 0
    # Positive control: the observer does see an UNSUBSCRIBE when the last subscriber leaves.
    streams.unsubscribe("c2", second.subscription_id)
    await asyncio.wait_for(hub.idle(), WAIT)
    assert ws.unsubscribed("btcusdt@miniTicker") == 1
    assert hub.stats()["loops"] == 0


# -- the emulator's own protocol (what the tests above rely on) -----------------------------


async def test_emulator_speaks_binances_subscribe_protocol_raw_and_combined(
    binance_emulator: BinanceEmulator,  # noqa: F811
) -> None:
    ws_base = "ws" + binance_emulator.base_url[len("http") :] + "/stream.binance.com"
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(f"{ws_base}/ws/0") as raw,
        session.ws_connect(f"{ws_base}/stream") as combined,
    ):
        await raw.send_json({"method": "SUBSCRIBE", "params": ["btcusdt@trade"], "id": 7})
        assert await asyncio.wait_for(raw.receive_json(), WAIT) == {"result": None, "id": 7}
        event = await asyncio.wait_for(raw.receive_json(), WAIT)
        assert event["e"] == "trade" and event["s"] == "BTCUSDT"

        await combined.send_json({"method": "SUBSCRIBE", "params": ["ethusdt@ticker"], "id": 1})
        assert await asyncio.wait_for(combined.receive_json(), WAIT) == {"result": None, "id": 1}
        wrapped = await asyncio.wait_for(combined.receive_json(), WAIT)
        assert wrapped["stream"] == "ethusdt@ticker" and wrapped["data"]["e"] == "24hrTicker"

        await combined.send_json({"method": "LIST_SUBSCRIPTIONS", "id": 2})
        for _ in range(50):  # skip pushed events until the answer
            answer = await asyncio.wait_for(combined.receive_json(), WAIT)
            if answer.get("id") == 2:
                break
        assert answer == {"result": ["ethusdt@ticker"], "id": 2}

        await raw.send_json({"method": "SUBSCRIBE", "params": ["nosuchusdt@trade"], "id": 8})
        for _ in range(50):
            answer = await asyncio.wait_for(raw.receive_json(), WAIT)
            if answer.get("id") == 8:
                break
        assert answer["error"]["code"] == 2
    ws = binance_emulator.ws
    assert ws.subscribe_count("btcusdt@trade") == 1 and ws.subscribe_count("nosuchusdt@trade") == 0
    await ws.wait_until(lambda: ws.connections == 0, what="sockets closed")


async def test_emulator_silence_pushes_nothing_and_rest_depth_follows_the_diff_stream(
    binance_emulator: BinanceEmulator,  # noqa: F811
) -> None:
    ws = binance_emulator.ws
    base = binance_emulator.base_url
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{base}/api.binance.com/api/v3/depth?symbol=BTCUSDT") as r:
            assert (await r.json())["lastUpdateId"] == 1000  # untouched without a depth stream
        url = "ws" + base[len("http") :] + "/stream.binance.com/ws/0"
        async with session.ws_connect(url) as sock:
            await sock.send_json({"method": "SUBSCRIBE", "params": ["btcusdt@depth"], "id": 1})
            await asyncio.wait_for(sock.receive_json(), WAIT)
            diffs = [await asyncio.wait_for(sock.receive_json(), WAIT) for _ in range(3)]
            assert [d["U"] for d in diffs[1:]] == [d["u"] + 1 for d in diffs[:-1]]
            ws.silent = True
            while True:
                try:
                    last = await asyncio.wait_for(sock.receive_json(), ws.interval * 4)
                except TimeoutError:
                    break
                diffs.append(last)
                assert len(diffs) < 10, "the emulator kept pushing while silent"
            async with session.get(
                f"{base}/api.binance.com/api/v3/depth?symbol=BTCUSDT&limit=5"
            ) as r:
                snapshot = await r.json()
            assert snapshot["lastUpdateId"] == diffs[-1]["u"]
            levels = ws.depth_levels_at("BTCUSDT", snapshot["lastUpdateId"])
            assert {float(p): float(q) for p, q in snapshot["bids"]} == levels["bids"]
            assert not sock.closed
