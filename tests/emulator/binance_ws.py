"""BinanceWsEmulator: binance's spot market-data WebSocket streams, for ccxt.pro on loopback.

Served by the same aiohttp server as the REST emulator: any WebSocket upgrade request reaches
``handle``; the original host stays the first path segment (``/stream.binance.com/ws/0``).

Protocol (binance's own): the client sends ``{"method": "SUBSCRIBE" | "UNSUBSCRIBE" |
"LIST_SUBSCRIPTIONS", "params": [...], "id": N}`` and gets ``{"result": null, "id": N}``.
Every ``interval`` seconds each subscribed stream gets one event: raw on ``/ws`` paths, wrapped
as ``{"stream": name, "data": event}`` on ``/stream`` paths (combined streams).

Streams: ``<symbol>@ticker``, ``@miniTicker``, ``@trade``, ``@aggTrade``, ``@depth``
(``@depth@100ms``, ``@depth@1000ms``) and ``@kline_<interval>``. Depth is a diff stream
with one sequence per symbol shared by every socket: ``U``/``u`` continue from the REST
snapshot's ``lastUpdateId`` (``depth_snapshot`` applies the same updates), so ccxt's
snapshot + diff synchronisation holds.

Test controls: ``log`` (connect / subscribe / unsubscribe / close entries),
``subscribe_count``, ``unsubscribed``, ``drop_all()`` (close every socket), ``silent``
(keep sockets open, push nothing), ``pause()`` / ``resume()`` (``silent``, and ``pause``
returns once no push is half sent: the books then stand still, REST and stream alike),
``refuse_for(seconds)`` (new sockets are refused with 503: an outage after ``drop_all``),
``interval``, ``wait_until``, ``last_update_id``.

Options (issue 13): ``real_time`` (the clock is the wall clock: a kline stream's candle is
the one open now, ``floor(now / interval)``, so a real outage leaves a real gap that only
REST can fill, and REST klines end at the same current candle); ``moving_book`` (each depth
event changes, removes and adds levels among the top 30 of a 5,000-level book on each side,
and REST ``/depth`` answers the same book).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from app.testing import eventually
from tests.emulator import market_data as md

DEFAULT_INTERVAL = 0.05
DEPTH_LEVELS_CHANGED = 5  # each depth event rewrites one of the top levels on each side
HISTORY_LIMIT = 10_000
_STREAM = re.compile(
    r"^(?P<symbol>[a-z0-9]+)@(?P<channel>ticker|miniTicker|trade|aggTrade|depth(?:@(?:100|1000)ms)?"
    r"|kline_(?P<interval>[0-9]+[smhdw]))$"
)


@dataclass(frozen=True)
class WsEvent:
    """One entry of ``BinanceWsEmulator.log``."""

    kind: str  # connect, subscribe, unsubscribe, close
    conn: int
    streams: tuple[str, ...] = ()
    path: str = ""


@dataclass(eq=False)
class _Conn:
    id: int
    ws: web.WebSocketResponse
    request: web.Request
    path: str
    combined: bool
    streams: dict[str, None] = field(default_factory=dict)


@dataclass
class _DepthState:
    """One symbol's diff-depth sequence: quantities of the changed top levels by update id."""

    last_id: int = 1000  # market_data.depth's lastUpdateId
    ticks: int = 0
    bids: dict[int, str] = field(default_factory=dict)  # level index -> quantity
    asks: dict[int, str] = field(default_factory=dict)
    history: list[tuple[int, int, str, str]] = field(default_factory=list)  # (u, level, bid, ask)
    book: dict[str, dict[int, str]] | None = None
    """``moving_book``: side -> level k (price p -/+ 0.01 k) -> quantity; every level known."""


class BinanceWsEmulator:
    """The WebSocket side of ``BinanceEmulator`` (``emulator.ws``)."""

    def __init__(
        self,
        bases: Sequence[str],
        *,
        now_ms: int = md.NOW_MS,
        interval: float = DEFAULT_INTERVAL,
        real_time: bool = False,
        moving_book: bool = False,
    ) -> None:
        self.bases = list(bases)
        self._fixed_now = now_ms
        self.real_time = real_time
        self.moving_book = moving_book
        self.interval = interval
        self.silent = False
        self._pushing = asyncio.Lock()
        self._refuse_until = 0.0
        self.log: list[WsEvent] = []
        self.sent = 0
        self._conns: dict[int, _Conn] = {}
        self._ids = itertools.count(1)
        self._counters: dict[str, int] = {}
        self._depth: dict[str, _DepthState] = {}
        self._pusher: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()

    @property
    def now_ms(self) -> int:
        """The emulator's clock in ms: fixed (deterministic payloads) or the wall clock."""
        return time.time_ns() // 1_000_000 if self.real_time else self._fixed_now

    @now_ms.setter
    def now_ms(self, value: int) -> None:
        self._fixed_now = value

    # -- test controls ---------------------------------------------------------------------

    async def pause(self) -> None:
        """Push nothing from now on; returns once a push under way has been fully sent."""
        self.silent = True
        async with self._pushing:
            pass

    def resume(self) -> None:
        self.silent = False

    def refuse_for(self, seconds: float) -> None:
        """Refuse new WebSocket connections (503) for ``seconds`` (open ones are untouched)."""
        self._refuse_until = time.monotonic() + seconds

    def last_update_id(self, symbol_id: str) -> int:
        """The ``u`` of the newest depth event of ``symbol_id`` (the REST lastUpdateId)."""
        state = self._depth.get(symbol_id.upper().removesuffix("USDT"))
        return state.last_id if state is not None else _DepthState().last_id

    @property
    def connections(self) -> int:
        return len(self._conns)

    def subscribed_streams(self) -> set[str]:
        """Streams some open socket is subscribed to."""
        return {stream for conn in self._conns.values() for stream in conn.streams}

    def open_subscriptions(self, stream: str) -> int:
        """How many open sockets are subscribed to ``stream`` right now."""
        return sum(1 for conn in self._conns.values() if stream in conn.streams)

    def subscribe_count(self, stream: str) -> int:
        """How many SUBSCRIBE requests named ``stream`` (over every socket, ever)."""
        return sum(e.streams.count(stream) for e in self.log if e.kind == "subscribe")

    def unsubscribed(self, stream: str) -> int:
        """How many UNSUBSCRIBE requests named ``stream``."""
        return sum(e.streams.count(stream) for e in self.log if e.kind == "unsubscribe")

    def events(self, kind: str) -> list[WsEvent]:
        return [e for e in self.log if e.kind == kind]

    async def wait_until(
        self, predicate: Callable[[], bool], timeout: float = 5.0, what: str = "condition"
    ) -> None:
        """Poll ``predicate`` every 10 ms for at most ``timeout`` seconds."""
        try:
            await eventually(predicate, timeout=timeout, message=what)
        except AssertionError:
            raise AssertionError(
                f"emulator ws: timed out waiting for {what}; log={self.log}"
            ) from None

    async def drop_all(self, *, abort: bool = False) -> int:
        """Close every socket (code 1001, going away), or cut the TCP connections (``abort``)."""
        conns = list(self._conns.values())
        for conn in conns:
            if abort:
                transport = conn.request.transport
                if transport is not None:
                    transport.abort()
            else:
                await conn.ws.close(code=1001, message=b"emulator drop")
        return len(conns)

    async def close(self) -> None:
        """Stop pushing and close every socket (the emulator is stopping)."""
        await self.drop_all()
        if self._pusher is not None:
            self._pusher.cancel()
            await asyncio.gather(self._pusher, return_exceptions=True)
            self._pusher = None

    # -- REST consistency -------------------------------------------------------------------

    def depth_snapshot(self, base: str, limit: int | None, now: int) -> dict[str, Any]:
        """``market_data.depth`` with every diff event sent so far applied (REST /depth)."""
        book = md.depth(base, limit, now)
        if self.moving_book:
            state = self._moving_state(base)
            assert state.book is not None
            book["lastUpdateId"] = state.last_id
            n = len(book["bids"])
            p = md.price(base)
            for side, sign in (("bids", -1), ("asks", 1)):
                levels = state.book[side]
                book[side] = [[_f(p + sign * 0.01 * k), levels[k]] for k in sorted(levels)[:n]]
            return book
        state = self._depth.get(base)
        if state is None:
            return book
        book["lastUpdateId"] = state.last_id
        for side, changed in (("bids", state.bids), ("asks", state.asks)):
            for level, qty in changed.items():
                if level < len(book[side]):
                    book[side][level][1] = qty
        return book

    def depth_levels_at(self, symbol_id: str, update_id: int) -> dict[str, dict[float, float]]:
        """The changed top levels (price -> quantity) of the book as of ``update_id``."""
        base = symbol_id.upper().removesuffix("USDT")
        p = md.price(base)
        state = self._depth.get(base, _DepthState())
        bids = {round(p - 0.01 * (i + 1), 8): float(1 + i) for i in range(DEPTH_LEVELS_CHANGED)}
        asks = {round(p + 0.01 * (i + 1), 8): float(1 + i) for i in range(DEPTH_LEVELS_CHANGED)}
        for u, level, bid, ask in state.history:
            if u <= update_id:
                bids[round(p - 0.01 * (level + 1), 8)] = float(bid)
                asks[round(p + 0.01 * (level + 1), 8)] = float(ask)
        return {"bids": bids, "asks": asks}

    # -- server side ----------------------------------------------------------------------

    @staticmethod
    def is_websocket(request: web.Request) -> bool:
        return request.headers.get("Upgrade", "").lower() == "websocket"

    async def handle(self, request: web.Request, path: str) -> web.StreamResponse:
        """Serve one socket; ``path`` is the request path without the host prefix."""
        if time.monotonic() < self._refuse_until:
            return web.Response(status=503, text="emulator: refusing connections")
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        conn = _Conn(next(self._ids), ws, request, path, combined=path.startswith("/stream"))
        self._conns[conn.id] = conn
        self.log.append(WsEvent("connect", conn.id, path=path))
        self._ensure_pusher()
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    await self._on_text(conn, msg.data)
                elif msg.type in (WSMsgType.ERROR, WSMsgType.CLOSE):
                    break
        finally:
            self._conns.pop(conn.id, None)
            self.log.append(WsEvent("close", conn.id, tuple(conn.streams), path))
        return ws

    async def _on_text(self, conn: _Conn, text: str) -> None:
        try:
            message = json.loads(text)
            method, params, request_id = message["method"], message.get("params", []), message["id"]
        except (ValueError, KeyError, TypeError):
            await conn.ws.send_json({"error": {"code": 3, "msg": "Invalid JSON"}, "id": None})
            return
        if method == "LIST_SUBSCRIPTIONS":
            await conn.ws.send_json({"result": list(conn.streams), "id": request_id})
            return
        if method not in ("SUBSCRIBE", "UNSUBSCRIBE") or not isinstance(params, list):
            await conn.ws.send_json(
                {
                    "error": {"code": 2, "msg": f"Invalid request: unknown method {method}"},
                    "id": request_id,
                }
            )
            return
        for name in params:
            if not isinstance(name, str) or not self._parse(name):
                await conn.ws.send_json(
                    {
                        "error": {"code": 2, "msg": f"Invalid request: stream {name}"},
                        "id": request_id,
                    }
                )
                return
        names = tuple(params)
        if method == "SUBSCRIBE":
            for name in names:
                conn.streams[name] = None
            self.log.append(WsEvent("subscribe", conn.id, names, conn.path))
        else:
            for name in names:
                conn.streams.pop(name, None)
            self.log.append(WsEvent("unsubscribe", conn.id, names, conn.path))
        await conn.ws.send_json({"result": None, "id": request_id})
        self._changed.set()

    def _parse(self, name: str) -> re.Match[str] | None:
        match = _STREAM.match(name)
        if match is None:
            return None
        base = match["symbol"].upper().removesuffix("USDT")
        if not match["symbol"].endswith("usdt") or base not in self.bases:
            return None
        if match["interval"] is not None and match["interval"] not in md.INTERVALS_MS:
            return None
        return match

    # -- pushing --------------------------------------------------------------------------

    def _ensure_pusher(self) -> None:
        if self._pusher is None or self._pusher.done():
            self._pusher = asyncio.get_running_loop().create_task(self._push_loop())

    async def _push_loop(self) -> None:
        # Runs while some socket is open (started again by the next connection).
        while self._conns:
            if not self.silent:
                async with self._pushing:
                    if not self.silent:
                        await self._push_once()
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), self.interval)
                await asyncio.sleep(0)  # let the SUBSCRIBE answer go out first
            except TimeoutError:
                pass

    async def _push_once(self) -> None:
        wanted: dict[str, list[_Conn]] = {}
        for conn in list(self._conns.values()):
            for name in conn.streams:
                wanted.setdefault(name, []).append(conn)
        for name, conns in wanted.items():
            event = self._event(name)
            if event is None:
                continue
            for conn in conns:
                if conn.ws.closed:
                    continue
                payload = {"stream": name, "data": event} if conn.combined else event
                try:
                    await conn.ws.send_str(json.dumps(payload, separators=(",", ":")))
                    self.sent += 1
                except (ConnectionError, RuntimeError):
                    pass

    def _event(self, name: str) -> dict[str, Any] | None:
        match = self._parse(name)
        if match is None:
            return None
        symbol_id = match["symbol"].upper()
        base = symbol_id.removesuffix("USDT")
        channel = match["channel"]
        if channel.startswith("depth"):
            if self.moving_book:
                return self._moving_depth_event(symbol_id, base)
            return self._depth_event(symbol_id, base)
        if self.real_time and channel.startswith("kline"):
            return kline_event_at(symbol_id, base, match["interval"], self.now_ms)
        n = self._counters.get(name, 0)
        self._counters[name] = n + 1
        if channel in ("ticker", "miniTicker"):
            return ticker_event(symbol_id, base, n, self.now_ms, mini=channel == "miniTicker")
        if channel in ("trade", "aggTrade"):
            return trade_event(symbol_id, base, n, self.now_ms, aggregated=channel == "aggTrade")
        return kline_event(symbol_id, base, match["interval"], n, self.now_ms)

    def _depth_event(self, symbol_id: str, base: str) -> dict[str, Any]:
        state = self._depth.setdefault(base, _DepthState())
        p = md.price(base)
        level = state.ticks % DEPTH_LEVELS_CHANGED
        bid = _f(1 + level + (state.ticks % 9 + 1) * 0.125)
        ask = _f(1 + level + (state.ticks % 7 + 1) * 0.25)
        first, last = state.last_id + 1, state.last_id + 2  # two updates: one bid, one ask
        state.ticks += 1
        state.last_id = last
        state.bids[level], state.asks[level] = bid, ask
        state.history.append((last, level, bid, ask))
        del state.history[:-HISTORY_LIMIT]
        return {
            "e": "depthUpdate",
            "E": self.now_ms + state.ticks,
            "s": symbol_id,
            "U": first,
            "u": last,
            "b": [[_f(p - 0.01 * (level + 1)), bid]],
            "a": [[_f(p + 0.01 * (level + 1)), ask]],
        }

    def _moving_state(self, base: str) -> _DepthState:
        state = self._depth.setdefault(base, _DepthState())
        if state.book is None:  # market_data.depth's book: level k holds quantity k
            state.book = {side: {k: _f(k) for k in range(1, 5001)} for side in ("bids", "asks")}
        return state

    def _moving_depth_event(self, symbol_id: str, base: str) -> dict[str, Any]:
        """One diff event of a moving book: on each side one level among the top 25 changes
        its quantity, one among the top 30 goes (quantity 0) and one comes (back)."""
        state = self._moving_state(base)
        assert state.book is not None
        p = md.price(base)
        t = state.ticks
        sides: dict[str, list[list[str]]] = {}
        for side, sign, salt in (("bids", -1, 0), ("asks", 1, 3)):
            levels = state.book[side]
            changes: dict[int, str] = {}
            changes[1 + (t * 7 + salt) % 25] = _f(1 + (t * 13 + salt) % 40 * 0.25)
            gone = 1 + (t * 11 + 3 + salt) % 30
            changes[gone] = "0"
            come = 1 + (t * 5 + 7 + salt) % 30
            if come not in levels or come == gone:
                changes[come] = _f(2 + (t * 3 + salt) % 17 * 0.5)
            for k, qty in changes.items():
                if qty == "0":
                    levels.pop(k, None)
                else:
                    levels[k] = qty
            sides[side] = [[_f(p + sign * 0.01 * k), qty] for k, qty in changes.items()]
        first, last = state.last_id + 1, state.last_id + 2
        state.ticks += 1
        state.last_id = last
        return {
            "e": "depthUpdate",
            "E": self.now_ms,
            "s": symbol_id,
            "U": first,
            "u": last,
            "b": sides["bids"],
            "a": sides["asks"],
        }


def _f(value: float) -> str:
    return f"{value:.8f}"


def ticker_price(base: str, n: int) -> float:
    """The last price of the ``n``-th ticker event of ``base``."""
    return md.price(base) + (n % 5 - 2) * 0.01


def ticker_event(symbol_id: str, base: str, n: int, now: int, *, mini: bool) -> dict[str, Any]:
    p = md.price(base)
    last = ticker_price(base, n)
    event_time = now + n * 1000
    row: dict[str, Any] = {
        "e": "24hrMiniTicker" if mini else "24hrTicker",
        "E": event_time,
        "s": symbol_id,
        "c": _f(last),
        "o": _f(p * 0.99),
        "h": _f(p * 1.05),
        "l": _f(p * 0.95),
        "v": "1234.50000000",
        "q": _f(1234.5 * p),
    }
    if not mini:
        row.update(
            {
                "p": _f(last - p * 0.99),
                "P": "1.000",
                "w": _f(p),
                "x": _f(p * 0.99),
                "Q": "0.50000000",
                "b": _f(last - 0.01),
                "B": "1.50000000",
                "a": _f(last + 0.01),
                "A": "2.50000000",
                "O": event_time - 86_400_000,
                "C": event_time,
                "F": 1,
                "L": 1000 + n,
                "n": 1000 + n,
            }
        )
    return row


def trade_event(symbol_id: str, base: str, n: int, now: int, *, aggregated: bool) -> dict[str, Any]:
    """Trade ids and times continue the REST emulator's trades (one per second up to now)."""
    trade_id = now // md.TRADE_STEP_MS + 1 + n
    ts = trade_id * md.TRADE_STEP_MS
    p = md.price(base)
    px, qty = _f(p + (trade_id % 5 - 2) * 0.01), _f(0.1 + trade_id % 7 * 0.1)
    row: dict[str, Any] = {"e": "aggTrade" if aggregated else "trade", "E": ts, "s": symbol_id}
    if aggregated:
        row.update({"a": trade_id, "p": px, "q": qty, "f": trade_id, "l": trade_id, "T": ts,
                    "m": trade_id % 2 == 0, "M": True})  # fmt: skip
    else:
        row.update({"t": trade_id, "p": px, "q": qty, "T": ts, "m": trade_id % 2 == 0, "M": True})
    return row


KLINE_UPDATES_PER_CANDLE = 3


def kline_event_at(symbol_id: str, base: str, interval: str, now: int) -> dict[str, Any]:
    """``real_time``: the candle open at ``now`` (``floor(now / interval)``), as REST has it."""
    step = md.INTERVALS_MS[interval]
    start = now // step * step
    p = md.price(base)
    drift = (start // step % 11 - 5) * 0.01
    o, c = p + drift, p - drift
    return {
        "e": "kline",
        "E": now,
        "s": symbol_id,
        "k": {
            "t": start, "T": start + step - 1, "s": symbol_id, "i": interval,
            "f": 1, "L": 10, "o": _f(o), "c": _f(c), "h": _f(max(o, c) + 0.05),
            "l": _f(min(o, c) - 0.05), "v": "10.00000000", "n": 10, "x": False,
            "q": _f(10 * p), "V": "5.00000000", "Q": _f(5 * p), "B": "0",
        },
    }  # fmt: skip


def kline_event(symbol_id: str, base: str, interval: str, n: int, now: int) -> dict[str, Any]:
    """Three updates per candle (the last one closes it), candles following the REST ones."""
    step = md.INTERVALS_MS[interval]
    index = now // step + n // KLINE_UPDATES_PER_CANDLE
    start = index * step
    p = md.price(base)
    drift = (index % 11 - 5) * 0.01
    o, c = p + drift, p - drift
    closed = n % KLINE_UPDATES_PER_CANDLE == KLINE_UPDATES_PER_CANDLE - 1
    return {
        "e": "kline",
        "E": start + (n % KLINE_UPDATES_PER_CANDLE) * (step // KLINE_UPDATES_PER_CANDLE),
        "s": symbol_id,
        "k": {
            "t": start, "T": start + step - 1, "s": symbol_id, "i": interval,
            "f": 1, "L": 10, "o": _f(o), "c": _f(c), "h": _f(max(o, c) + 0.05),
            "l": _f(min(o, c) - 0.05), "v": "10.00000000", "n": 10, "x": closed,
            "q": _f(10 * p), "V": "5.00000000", "Q": _f(5 * p), "B": "0",
        },
    }  # fmt: skip
