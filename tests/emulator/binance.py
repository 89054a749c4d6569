"""BinanceEmulator: the binance REST endpoints ccxt uses, served by aiohttp on 127.0.0.1.

Paths are binance's own, optionally prefixed with the original host name (see
``overrides.emulator_overrides``): ``/api.binance.com/api/v3/exchangeInfo``. ``counts`` is
keyed by the path without that prefix; ``host_counts`` by the host.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import hmac
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Self

from aiohttp import web

from tests.emulator import market_data as md
from tests.emulator.binance_ws import DEFAULT_INTERVAL, BinanceWsEmulator
from tests.emulator.overrides import emulator_overrides
from tests.emulator.weights import IpWeights, request_weight

API_KEY = "emulator-api-key"
SECRET = "emulator-secret"

FAILURE_KINDS = ("rate_limit", "unavailable", "delay", "bad_symbol", "auth", "server_error")


@dataclass
class Failure:
    """An injected failure for requests whose path contains ``path_contains``."""

    path_contains: str
    kind: str
    times: int = 1
    delay: float = 0.0


class Hold:
    """Requests whose path contains ``path_contains`` wait here until ``release()``.

    A test holds an exchange call open to make "while a call is in flight" a fact rather
    than a hope about timing; ``waiting`` says how many requests are held now.
    """

    def __init__(self, path_contains: str) -> None:
        self.path_contains = path_contains
        self.waiting = 0
        self.arrived = 0
        self._released = asyncio.Event()

    def release(self) -> None:
        """Let every held request (and every later one) through."""
        self._released.set()

    async def wait(self) -> None:
        self.arrived += 1
        self.waiting += 1
        try:
            await self._released.wait()
        finally:
            self.waiting -= 1


def _error(status: int, code: int, msg: str) -> web.Response:
    return web.json_response({"code": code, "msg": msg}, status=status)


class BinanceEmulator:
    """A deterministic binance: spot, USD-M and COIN-M markets, public data and one signed call."""

    def __init__(
        self,
        *,
        symbols: int | Sequence[str] = 5,
        api_key: str = API_KEY,
        secret: str = SECRET,
        now_ms: int = md.NOW_MS,
        ws_interval: float = DEFAULT_INTERVAL,
        weight_limit: int | None = None,
        accounts: dict[str, str] | None = None,
        real_time: bool = False,
        moving_book: bool = False,
    ) -> None:
        self.bases = md.bases(symbols)
        # WebSocket streams (ccxt.pro) on the same server: see binance_ws.py (``real_time``:
        # the wall clock for REST and streams alike; ``moving_book``: a book that moves).
        self.ws = BinanceWsEmulator(
            self.bases,
            now_ms=now_ms,
            interval=ws_interval,
            real_time=real_time,
            moving_book=moving_book,
        )
        self.api_key = api_key
        self.secret = secret
        # Extra API keys (key -> secret) the signed endpoints accept, besides api_key.
        self.accounts: dict[str, str] = {api_key: secret, **(accounts or {})}
        # Per-IP weight per minute: X-MBX-USED-WEIGHT-1M always; 429/418 over weight_limit.
        self.weights = IpWeights(weight_limit)
        self.counts: collections.Counter[str] = collections.Counter()
        self.host_counts: collections.Counter[str] = collections.Counter()
        self.requests: list[tuple[str, str, str]] = []  # (method, host, path?query)
        self.failures: list[Failure] = []
        self.holds: list[Hold] = []
        self.base_url = ""
        self._runner: web.AppRunner | None = None
        self._extra_routes: list[tuple[str, Any]] = []
        self._spot_info: bytes | None = None
        self._fapi_info: bytes | None = None
        self._dapi_info: bytes | None = None

    @property
    def now_ms(self) -> int:
        """The emulator's clock in ms (shared with ``ws``: fixed, or the wall clock)."""
        return self.ws.now_ms

    @now_ms.setter
    def now_ms(self, value: int) -> None:
        self.ws.now_ms = value

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> str:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base_url = f"http://127.0.0.1:{port}"
        return self.base_url

    async def stop(self) -> None:
        await self.ws.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # -- test controls -------------------------------------------------------------------

    def overrides(self, *, pro: bool = False, **extra: Any) -> dict[str, Any]:
        """ccxt constructor config pointing binance at this emulator, plus ``extra`` keys."""
        config = emulator_overrides(self.base_url, "binance", pro=pro)
        for key, value in extra.items():
            if isinstance(value, dict) and isinstance(config.get(key), dict):
                config[key] = {**config[key], **value}
            else:
                config[key] = value
        return config

    def fail(self, path_contains: str, kind: str, *, times: int = 1, delay: float = 0.0) -> None:
        """Make the next ``times`` requests whose path contains ``path_contains`` fail.

        kinds: rate_limit (429, -1003), unavailable (503 plain text), delay (sleep ``delay``
        seconds, then answer normally), bad_symbol (400, -1121), auth (401, -2015),
        server_error (500, -1000).
        """
        if kind not in FAILURE_KINDS:
            raise ValueError(f"unknown failure kind {kind!r}")
        self.failures.append(Failure(path_contains, kind, times, delay))

    def hold(self, path_contains: str) -> Hold:
        """Hold requests whose path contains ``path_contains`` (after their weight is
        counted) until the returned ``Hold`` is released. Release it before the emulator
        stops, or the held requests end with the server."""
        held = Hold(path_contains)
        self.holds.append(held)
        return held

    def count(self, suffix: str) -> int:
        """Requests whose path (without host prefix) ends with ``suffix``."""
        return sum(n for path, n in self.counts.items() if path.endswith(suffix))

    @property
    def exchange_info_loads(self) -> int:
        return self.count("/exchangeInfo")

    # -- dispatch ------------------------------------------------------------------------

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        host, path = _split_host(request.path)
        if self.ws.is_websocket(request):
            return await self.ws.handle(request, path)
        self.counts[path] += 1
        self.host_counts[host] += 1
        self.requests.append((request.method, host, request.path_qs))
        section, endpoint = _section_endpoint(path)
        verdict = self.weights.charge(
            request.remote or "?", section, request_weight(section, endpoint, request.query)
        )
        used_header = {"X-MBX-USED-WEIGHT-1M": str(verdict.used)}
        if verdict.status != 200:
            body = {"code": -1003, "msg": "Way too much request weight used; IP banned."}
            if verdict.status == 429:
                body["msg"] = (
                    f"Too many requests; current limit is {self.weights.limit} request weight."
                )
            return web.json_response(
                body,
                status=verdict.status,
                headers={**used_header, "Retry-After": str(verdict.retry_after)},
            )
        for held in self.holds:
            if held.path_contains in path:
                await held.wait()
        failure = self._take_failure(path)
        if failure is not None:
            if failure.kind == "delay":
                await asyncio.sleep(failure.delay)
            else:
                response = _failure_response(failure.kind)
                response.headers.update(used_header)
                return response
        response = await self._route(request, path)
        response.headers.update(used_header)
        return response

    def _take_failure(self, path: str) -> Failure | None:
        for failure in self.failures:
            if failure.path_contains in path and failure.times > 0:
                failure.times -= 1
                if failure.times == 0:
                    self.failures.remove(failure)
                return failure
        return None

    async def _route(self, request: web.Request, path: str) -> web.Response:
        section, endpoint = _section_endpoint(path)
        q = request.query
        if endpoint == "exchangeInfo":
            return self._exchange_info(section)
        if endpoint in ("time", "ping"):
            return web.json_response({"serverTime": self.now_ms} if endpoint == "time" else {})
        if endpoint == "account" and section == "api":
            return self._account(request)
        symbol_id = q.get("symbol")
        if endpoint in ("ticker/24hr", "depth", "aggTrades", "trades", "klines"):
            base = md.base_for(self.bases, section, symbol_id)
            if base is None:
                return _error(400, -1121, "Invalid symbol.")
            if endpoint == "ticker/24hr":
                return web.json_response(md.ticker(symbol_id or "", base, self.now_ms, section))
            if endpoint == "depth":
                limit = _int(q, "limit", 100)
                if section == "api":  # spot: consistent with the diff-depth stream's U/u ids
                    return web.json_response(self.ws.depth_snapshot(base, limit, self.now_ms))
                return web.json_response(md.depth(base, limit, self.now_ms))
            if endpoint in ("aggTrades", "trades"):
                rows = md.trades(
                    base,
                    _int(q, "startTime"),
                    _int(q, "endTime"),
                    min(_int(q, "limit", 500) or 500, 1000),
                    self.now_ms,
                    aggregated=endpoint == "aggTrades",
                )
                return web.json_response(rows)
            rows = md.klines(
                base,
                q.get("interval", "1m"),
                _int(q, "startTime"),
                _int(q, "endTime"),
                min(_int(q, "limit", 500) or 500, 1500),
                self.now_ms,
            )
            if rows is None:
                return _error(400, -1120, "Invalid interval.")
            return web.json_response(rows)
        return _error(404, -1000, f"emulator: no route for {request.method} {path}")

    def _exchange_info(self, section: str) -> web.Response:
        # Cached bytes: the benchmark loads 2,000 symbols many times.
        if section == "fapi":
            self._fapi_info = self._fapi_info or self._info(md.fapi_exchange_info(self.bases), 2400)
            body = self._fapi_info
        elif section == "dapi":
            self._dapi_info = self._dapi_info or self._info(md.dapi_exchange_info(self.bases), 2400)
            body = self._dapi_info
        else:
            self._spot_info = self._spot_info or self._info(md.spot_exchange_info(self.bases), 6000)
            body = self._spot_info
        return web.Response(body=body, content_type="application/json")

    def _info(self, info: dict[str, Any], default_limit: int) -> bytes:
        """exchangeInfo publishes the REQUEST_WEIGHT limit this emulator applies."""
        limit = self.weights.limit if self.weights.limit is not None else default_limit
        info["rateLimits"] = [
            {
                "rateLimitType": "REQUEST_WEIGHT",
                "interval": "MINUTE",
                "intervalNum": 1,
                "limit": limit,
            },
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
            {
                "rateLimitType": "RAW_REQUESTS",
                "interval": "MINUTE",
                "intervalNum": 5,
                "limit": 61000,
            },
        ]
        return _dump(info)

    def _account(self, request: web.Request) -> web.Response:
        raw = request.rel_url.raw_query_string
        payload, sep, signature = raw.rpartition("&signature=")
        secret = self.accounts.get(request.headers.get("X-MBX-APIKEY", ""))
        expected = hmac.new((secret or "").encode(), payload.encode(), hashlib.sha256).hexdigest()
        if not sep or secret is None or not hmac.compare_digest(signature, expected):
            return _error(401, -2015, "Invalid API-key, IP, or permissions for action.")
        return web.json_response(md.account(self.now_ms))


def _section_endpoint(path: str) -> tuple[str, str]:
    """``/api/v3/ticker/24hr`` -> ``("api", "ticker/24hr")``."""
    section, _, endpoint = path.lstrip("/").partition("/")
    return section, endpoint.split("/", 1)[-1]  # drop the version


def _split_host(path: str) -> tuple[str, str]:
    first, _sep, rest = path.lstrip("/").partition("/")
    if "." in first:
        return first, "/" + rest
    return "", path


def _int(query: Any, name: str, default: int | None = None) -> int | None:
    value = query.get(name)
    return int(value) if value not in (None, "") else default


def _dump(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()


def _failure_response(kind: str) -> web.Response:
    if kind == "rate_limit":
        response = _error(429, -1003, "Too many requests; current limit is 6000 request weight.")
        response.headers["Retry-After"] = "1"
        return response
    if kind == "unavailable":
        return web.Response(status=503, text="Service Unavailable")
    if kind == "bad_symbol":
        return _error(400, -1121, "Invalid symbol.")
    if kind == "auth":
        return _error(401, -2015, "Invalid API-key, IP, or permissions for action.")
    return _error(500, -1000, "An unknown error occurred while processing the request.")
