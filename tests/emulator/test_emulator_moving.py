"""The emulator's issue 13 options: a moving book that REST and the diff stream agree on, a
wall clock for klines (a real outage leaves a real gap), pause and refused reconnects."""

from __future__ import annotations

import itertools
import time

import ccxt.pro as ccxt_pro

from tests.emulator import BinanceEmulator


async def test_a_moving_book_moves_and_rest_answers_the_book_the_diffs_make() -> None:
    async with BinanceEmulator(moving_book=True) as emulator:
        ws = emulator.ws
        start = ws.depth_snapshot("BTC", 100, emulator.now_ms)
        book = {side: dict(start[side]) for side in ("bids", "asks")}
        removed = added = 0
        for _ in range(50):
            event = ws._event("btcusdt@depth")
            assert event is not None and event["U"] == start["lastUpdateId"] + 1 + 2 * _
            for side, key in (("bids", "b"), ("asks", "a")):
                for price, qty in event[key]:
                    if float(qty) == 0:
                        removed += book[side].pop(price, None) is not None
                    else:
                        added += price not in book[side]
                        book[side][price] = qty
        assert removed >= 20 and added >= 20  # levels go and come, not only amounts change
        rest = ws.depth_snapshot("BTC", 5000, emulator.now_ms)
        assert rest["lastUpdateId"] == ws.last_update_id("BTCUSDT") == event["u"]
        for side, descending in (("bids", True), ("asks", False)):
            mine = sorted(book[side].items(), key=lambda pq: float(pq[0]), reverse=descending)
            # the levels within the start book's 100 (REST also knows those beyond)
            edge = float(start[side][-1][0])
            within = [
                lv
                for lv in rest[side]
                if (float(lv[0]) >= edge if descending else float(lv[0]) <= edge)
            ]
            assert within == [list(level) for level in mine]


async def test_real_time_klines_are_the_candle_open_now_on_rest_and_the_stream() -> None:
    async with BinanceEmulator(real_time=True) as emulator:
        before = time.time_ns() // 1_000_000
        event = emulator.ws._event("btcusdt@kline_1s")
        after = time.time_ns() // 1_000_000
        assert event is not None
        assert before // 1000 * 1000 <= event["k"]["t"] <= after // 1000 * 1000
        exchange = ccxt_pro.binance(emulator.overrides(pro=True, enableRateLimit=False))
        try:
            rows = await exchange.fetch_ohlcv("BTC/USDT", "1s", None, 5)
        finally:
            await exchange.close()
        assert rows[-1][0] >= event["k"]["t"]  # REST ends at the current candle too
        assert [b[0] - a[0] for a, b in itertools.pairwise(rows)] == [1000] * 4
        assert rows[-1][0] - event["k"]["t"] <= 1000


async def test_refused_reconnects_then_accepted_and_pause_stops_pushes() -> None:
    async with BinanceEmulator(ws_interval=0.02) as emulator:
        exchange = ccxt_pro.binance(emulator.overrides(pro=True, enableRateLimit=False))
        try:
            await exchange.watch_ticker("BTC/USDT")
            await emulator.ws.pause()
            sent = emulator.ws.sent
            emulator.ws.refuse_for(60)
            await emulator.ws.drop_all()
            try:
                await exchange.watch_ticker("BTC/USDT")
                raise AssertionError("a refused reconnect delivered a ticker")
            except ccxt_pro.NetworkError:
                pass
            assert emulator.ws.sent == sent  # paused: nothing pushed meanwhile
            emulator.ws.refuse_for(0)
            emulator.ws.resume()
            assert (await exchange.watch_ticker("BTC/USDT"))["symbol"] == "BTC/USDT"
            assert emulator.ws.sent > sent  # positive control
        finally:
            await exchange.close()
