"""The one upstream watch loop of a stream: validate, watch, deliver, retry, stop cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import structlog

from app.domain.errors import PERMANENT_ERRORS, DomainError
from app.domain.streams.backoff import Backoff
from app.domain.streams.candles import GapFillBounds, by_open_time, fetch_gap
from app.domain.streams.model import StreamRequest, SubscriptionRejected
from app.domain.streams.watchdog import SilentStream
from app.domain.validation import check_symbol_listed, check_timeframe_supported
from app.ports.exchange_gateway import WATCH_METHODS, Capabilities, ExchangeGateway
from app.ports.instance_cache import InstanceCache

log = structlog.get_logger("app.domain.streams.hub")  # the event names operators know

UN_WATCH_TIMEOUT_SECONDS = 5.0
GENERIC_ERROR = "Stream failed; retrying"


class UpstreamEvents(Protocol):
    """What the loop reports (``app.domain.streams.events.StreamEvents``)."""

    def on_ready(self) -> None: ...
    def on_data(self, data: Any, restarted: bool) -> None: ...
    def on_error(self, message: str, error: BaseException) -> None: ...
    def on_stale(self, message: str, error: BaseException) -> None: ...
    def on_end(self, message: str, error: BaseException) -> None: ...


async def validate(gateway: ExchangeGateway, request: StreamRequest) -> StreamRequest:
    """Permanent problems, found before anyone is told ``subscribed`` or a REST watch waits.

    The symbol and timeframe rules are the shared ones (``app.domain.validation``), so the
    stream paths refuse what the fetch paths refuse, with the same text.

    Returns:
        The request naming its market the way the exchange lists it (``BTCUSDT`` ->
        ``BTC/USDT``; a bare pair on a futures instance -> its linear swap), so every
        spelling of one market shares one upstream.

    Raises:
        SubscriptionRejected: the exchange has no such watch method (errorType NotSupported).
        BadSymbol: the exchange does not list the symbol.
        BadInput: the exchange does not offer the ohlcv timeframe.
    """
    method = WATCH_METHODS[request.data_type]
    if not gateway.has(method):
        raise SubscriptionRejected(
            f"{request.exchange_id} does not support {method}", error_type="NotSupported"
        )
    if request.data_type == "balance":
        return request
    capabilities = await gateway.capabilities()
    if request.data_type == "ohlcv":
        check_timeframe_supported(
            request.exchange_id, request.timeframe or "1m", capabilities.timeframes
        )
    symbol = listed_symbol(request, capabilities)
    return request if symbol == request.symbol else dataclasses.replace(request, symbol=symbol)


def listed_symbol(request: StreamRequest, capabilities: Capabilities) -> str:
    """The listed symbol a request's symbol names (as ccxt's ``market()`` resolves it)."""
    symbol, listed = request.symbol, capabilities.symbols
    if not listed:
        return symbol  # the backend does not say: take it as sent
    known = set(listed)
    if request.config.market_type == "futures" and ":" not in symbol:
        swap = f"{symbol}:{symbol.partition('/')[2]}"
        if swap in known:
            return swap
    if symbol in known:
        return symbol
    alias = capabilities.symbol_ids.get(symbol)
    if alias is not None and alias in known:
        return alias
    check_symbol_listed(request.exchange_id, symbol, listed)  # raises, or a settled form
    return symbol


def watch_once(gateway: ExchangeGateway, request: StreamRequest) -> Awaitable[Any]:
    data_type, symbol = request.data_type, request.symbol
    if data_type == "ticker":
        return gateway.watch_ticker(symbol)
    if data_type == "orderbook":
        return gateway.watch_order_book(symbol)
    if data_type == "trades":
        return gateway.watch_trades(symbol)
    if data_type == "ohlcv":
        return gateway.watch_ohlcv(symbol, request.timeframe or "1m")
    return gateway.watch_balance()


async def run_upstream(
    request: StreamRequest,
    cache: InstanceCache,
    events: UpstreamEvents,
    *,
    backoff: Backoff,
    watchdog: float | None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    previous: asyncio.Task[None] | None = None,
    gap_fill: GapFillBounds = GapFillBounds(),  # noqa: B008 - frozen, shared safely
) -> None:
    """Run until cancelled (last subscriber left) or a permanent error ends the stream.
    ``gap_fill`` bounds the REST used to fill an ohlcv stream's gap after a restart."""
    if previous is not None and not previous.done():
        # The previous loop of this stream is still un-watching: let it finish first, or its
        # un_watch would cancel the exchange subscription this loop is about to make.
        # asyncio.wait neither raises the previous loop's own CancelledError nor swallows a
        # cancellation of this loop (suppress(BaseException) or 3.11's wait_for could).
        await asyncio.wait({previous}, timeout=UN_WATCH_TIMEOUT_SECONDS + 1)
    async with cache.hold(request.config) as gateway:
        await validate(gateway, request)
        events.on_ready()
        try:
            await _loop(gateway, request, events, backoff, watchdog, sleep, gap_fill)
        finally:
            await _un_watch(gateway, request)


async def _loop(
    gateway: ExchangeGateway,
    request: StreamRequest,
    events: UpstreamEvents,
    backoff: Backoff,
    watchdog: float | None,
    sleep: Callable[[float], Awaitable[None]],
    gap_fill: GapFillBounds,
) -> None:
    attempt = 0
    restarted = True
    last_open: Any = None
    """ohlcv: open time of the newest candle delivered, for the gap fill after a restart."""
    pending: asyncio.Task[Any] | None = None
    try:
        while True:
            if pending is None:
                pending = _arm(gateway, request)
            try:
                try:
                    async with asyncio.timeout(watchdog):
                        data = await pending  # a timeout cancels the pending watch too
                except TimeoutError:
                    raise SilentStream(watchdog or 0) from None
            except asyncio.CancelledError:
                raise
            except SilentStream as exc:
                pending = None
                events.on_stale(str(exc), exc)
                await _un_watch(gateway, request)  # CCXT does not resubscribe by itself
                restarted = True
                continue
            except PERMANENT_ERRORS as exc:
                pending = None
                events.on_end(exc.details, exc)
                return
            except Exception as exc:  # noqa: BLE001 - any failure is retried with backoff
                pending = None
                message = exc.details if isinstance(exc, DomainError) else GENERIC_ERROR
                events.on_error(message, exc)
                await sleep(backoff.delay(attempt))
                attempt += 1
                restarted = True
                continue
            attempt = 0
            # Re-arm before fanning out: ccxt resolves an update only to a watch that is
            # already waiting, so one must be pending while this update is delivered. The
            # yield lets the new watch task register with the exchange library first (its
            # first step runs before this task resumes: the loop's ready queue is FIFO).
            pending = _arm(gateway, request)
            await asyncio.sleep(0)
            if request.data_type == "ohlcv":
                if restarted and last_open is not None:
                    data = await _fill_gap(gateway, request, data, last_open, gap_fill)
                last_open = _newest_open(data, last_open)
            events.on_data(data, restarted)
            restarted = False
    finally:
        if pending is not None and not pending.done():
            pending.cancel()


async def _fill_gap(
    gateway: ExchangeGateway,
    request: StreamRequest,
    live: Any,
    since: Any,
    bounds: GapFillBounds,
) -> Any:
    """The candles from ``since`` (the newest delivered before the restart) up to the live
    ones, from REST paged forward within ``bounds``, so a client's series has no gap; the
    live versions win, and each open time appears once. On a failed first request the live
    candles go alone; past the bounds the oldest missed candles are sent (they continue the
    client's series) and the rest stays a gap, logged."""
    live_rows = by_open_time(live) if isinstance(live, list) else {}
    later = [t for t in live_rows if isinstance(t, int) and t > since]
    if live_rows and not later:
        return _from(live_rows, since)  # still the same candle: nothing was missed
    timeframe = request.timeframe or "1m"
    try:
        gap = await fetch_gap(
            gateway, request.symbol, timeframe, since, min(later) if later else None, bounds
        )
    except Exception:  # noqa: BLE001 - best effort
        return live
    if not gap.complete:
        log.warning(
            "ohlcv_gap_fill_incomplete",
            symbol=request.symbol,
            timeframe=timeframe,
            candles=len(gap.rows),
            pages=gap.pages,
            max_pages=bounds.max_pages,
            max_candles=bounds.max_candles,
        )
    merged = {**gap.rows, **live_rows}
    return _from(merged, since)


def _from(rows: dict[Any, list[Any]], since: Any) -> list[list[Any]]:
    """The rows from open time ``since`` on, in order."""
    return [rows[t] for t in sorted(rows) if t >= since]


def _newest_open(rows: Any, current: Any) -> Any:
    if isinstance(rows, list):
        for row in rows:
            if isinstance(row, list) and row and (current is None or row[0] > current):
                current = row[0]
    return current


def _arm(gateway: ExchangeGateway, request: StreamRequest) -> asyncio.Task[Any]:
    """Start the next watch call as its own task, so it waits while we deliver."""
    task: asyncio.Task[Any] = asyncio.ensure_future(watch_once(gateway, request))
    task.add_done_callback(_consume_result)
    return task


def _consume_result(task: asyncio.Task[Any]) -> None:
    # A watch cancelled or failed while nobody awaited it (the loop stopped) is not an error
    # worth a "never retrieved" warning; one the loop awaits is handled there.
    if not task.cancelled():
        task.exception()


async def _un_watch(gateway: ExchangeGateway, request: StreamRequest) -> None:
    # asyncio.timeout, not wait_for: on Python 3.11 wait_for can lose a cancellation that
    # arrives as the inner call completes, and a lost cancel leaves the loop running forever.
    with contextlib.suppress(Exception):  # TimeoutError included; CancelledError is not
        async with asyncio.timeout(UN_WATCH_TIMEOUT_SECONDS):
            await gateway.un_watch(request.data_type, request.symbol, request.timeframe)
