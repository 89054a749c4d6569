"""SimGateway: the ExchangeGateway port over a SimWorld, paced by an injectable clock."""

from __future__ import annotations

from typing import Any

from app.domain.config import ExchangeConfig
from app.domain.errors import BadInput
from app.plugin.base import BaseGateway
from app.ports.exchange_gateway import DATA_TYPES, Capabilities, Json

from .account import balance
from .book import order_book
from .clock import Clock
from .history import MarketView, timeframe_ms
from .markets import FEES, HAS, TIMEFRAMES, resolve_symbol
from .streams import StreamPacer
from .ticker import ticker
from .world import SimWorld


class SimGateway(BaseGateway):
    """One simulated exchange instance: REST-like fetches and clock-paced watches.

    BaseGateway carries config, exchange_id, markets, closed, has() (from HAS) and close().
    """

    HAS = HAS

    def __init__(
        self, world: SimWorld, config: ExchangeConfig, clock: Clock, tick_hz: float
    ) -> None:
        super().__init__(config)
        self._world = world
        self._clock = clock
        self._streams = StreamPacer(clock, tick_hz)

    @property
    def active_streams(self) -> int:
        return self._streams.active

    async def load_markets(self, *, share_from: Any = None) -> None:
        if isinstance(share_from, SimGateway) and share_from.markets is not None:
            self._markets = share_from.markets  # the same dict: shared, not copied
            return
        self._markets = self._world.markets

    async def capabilities(self) -> Capabilities:
        return Capabilities(
            has=dict(HAS),
            symbols=list(self._world.symbols),
            timeframes={name: name for name in TIMEFRAMES},
            fees={key: dict(value) for key, value in FEES.items()},
        )

    # -- fetch ----------------------------------------------------------------------------

    def _view(self, symbol: object) -> MarketView:
        resolved = resolve_symbol(symbol, self._world.markets, self._config.market_type)
        return self._world.views[resolved]

    def _now(self) -> int:
        return self._clock.now_ms()

    async def fetch_ticker(self, symbol: str, params: Json | None = None) -> Json:
        return ticker(self._view(symbol), self._world.seed, self._now())

    async def fetch_order_book(
        self, symbol: str, limit: int | None = None, params: Json | None = None
    ) -> Json:
        return order_book(self._view(symbol), self._world.seed, self._now(), limit)

    async def fetch_trades(
        self,
        symbol: str,
        since: int | None = None,
        limit: int | None = None,
        params: Json | None = None,
    ) -> list[Json]:
        view = self._view(symbol)
        _check_since(since)
        return [view.trade_json(t) for t in view.trades(since, limit, self._now())]

    async def fetch_ohlcv(
        self,
        symbol: str,
        timeframe: str = "1m",
        since: int | None = None,
        limit: int | None = None,
        params: Json | None = None,
    ) -> list[list[float]]:
        view = self._view(symbol)
        _check_since(since)
        return view.ohlcv(timeframe, since, limit, self._now())

    async def fetch_balance(self, params: Json | None = None) -> Json:
        return balance(self._world.seed, self._api_key(), self._world.currencies, self._now())

    # -- watch ----------------------------------------------------------------------------

    async def watch_ticker(self, symbol: str, params: Json | None = None) -> Json:
        view = self._view(symbol)
        seed = self._world.seed
        result: Json = await self._streams.next(
            ("ticker", view.symbol, None), lambda _prev, now: ticker(view, seed, now)
        )
        return result

    async def watch_order_book(
        self, symbol: str, limit: int | None = None, params: Json | None = None
    ) -> Json:
        view = self._view(symbol)
        seed = self._world.seed
        order_book(view, seed, self._now(), limit)  # bad limits fail now, not at the tick
        result: Json = await self._streams.next(
            ("orderbook", view.symbol, None),
            lambda _prev, now: order_book(view, seed, now, limit),
            variant=limit,
        )
        return result

    async def watch_trades(
        self,
        symbol: str,
        since: int | None = None,
        limit: int | None = None,
        params: Json | None = None,
    ) -> list[Json]:
        """New trades since the previous tick; ticks without trades are skipped."""
        view = self._view(symbol)

        def produce(prev: int, now: int) -> list[Json] | None:
            fresh = view.trades_between(prev, now)
            return [view.trade_json(t) for t in fresh] or None

        result: list[Json] = await self._streams.next(("trades", view.symbol, None), produce)
        return result

    async def watch_ohlcv(
        self,
        symbol: str,
        timeframe: str = "1m",
        since: int | None = None,
        limit: int | None = None,
        params: Json | None = None,
    ) -> list[list[float]]:
        """The current (still open) candle, as ccxt's watchOHLCV reports an update."""
        view = self._view(symbol)
        timeframe_ms(timeframe)
        result: list[list[float]] = await self._streams.next(
            ("ohlcv", view.symbol, timeframe),
            lambda _prev, now: view.ohlcv(timeframe, None, 1, now),
        )
        return result

    async def watch_balance(self, params: Json | None = None) -> Json:
        api_key = self._api_key()
        world = self._world
        result: Json = await self._streams.next(
            ("balance", "", None),
            lambda _prev, now: balance(world.seed, api_key, world.currencies, now),
        )
        return result

    async def un_watch(self, data_type: str, symbol: str, timeframe: str | None = None) -> None:
        if data_type not in DATA_TYPES:
            raise BadInput(f"unknown data type {data_type[:32]!r}")
        if data_type == "balance":
            resolved = ""
        else:
            try:
                resolved = self._view(symbol).symbol
            except BadInput:
                return  # nothing can be streaming for a symbol we do not list
        self._streams.stop((data_type, resolved, timeframe if data_type == "ohlcv" else None))

    async def on_close(self) -> None:
        self._streams.close()

    def _api_key(self) -> str:
        self.require_credentials()
        credentials = self._config.credentials
        return credentials.api_key or credentials.secret or credentials.password or ""


def _check_since(since: object) -> None:
    if since is not None and (isinstance(since, bool) or not isinstance(since, int)):
        raise BadInput("since must be an integer (ms)")
