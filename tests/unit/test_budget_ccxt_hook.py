"""The ccxt hook: prices requests in exchange weight before ccxt's own fetch2, learns the used
weight and the published limit, stops the exchange on 429/418 (a stand-in ccxt instance)."""

from __future__ import annotations

from typing import Any

import pytest

from app.adapters.budget import InMemoryRateBudget
from app.adapters.ccxt.budget_hook import CcxtBudgetHook
from app.domain.budget.model import BudgetExhausted
from app.domain.budget.rules import BINANCE_RULES
from tests.support.clock import ManualWallClock

BASE = "http://127.0.0.1:9/api.binance.com"


class StandInExchange:
    """The three ccxt members the hook uses, with binance's URL layout and cost rule."""

    def __init__(self) -> None:
        self.urls = {"api": {"public": f"{BASE}/api/v3", "fapiPublic": f"{BASE}/fapi/v1"}}
        self.sent: list[tuple[str, Any]] = []
        self.answer: dict[str, Any] = {}

    def calculate_rate_limiter_cost(
        self, api: Any, method: str, path: str, params: dict[str, Any], config: dict[str, Any]
    ) -> float:
        return float(config.get("cost", 1))

    async def fetch2(
        self,
        path: str,
        api: Any = "public",
        method: str = "GET",
        params: dict[str, Any] | None = None,
        config: dict[str, Any] | None = None,
    ) -> Any:
        self.sent.append((path, api))
        return self.answer

    def on_rest_response(
        self,
        code: int,
        reason: str,
        url: str,
        method: str,
        headers: dict[str, str],
        body: str,
        request_headers: Any,
        request_body: Any,
    ) -> str:
        return body.strip()


def hooked(limit_wait_s: float = 0.0) -> tuple[StandInExchange, InMemoryRateBudget]:
    exchange = StandInExchange()
    budget = InMemoryRateBudget(ManualWallClock(1_700_000_040.0), max_queue_wait_s=limit_wait_s)
    CcxtBudgetHook(exchange, budget, BINANCE_RULES).install()
    return exchange, budget


async def test_requests_are_priced_in_binance_weight_per_family() -> None:
    exchange, budget = hooked()
    await exchange.fetch2("ticker/24hr", "public", "GET", {"symbol": "BTCUSDT"}, {"cost": 0.4})
    await exchange.fetch2("depth", "fapiPublic", "GET", {"limit": 1000}, {"cost": 20})
    families = budget.snapshot()["binance"]["families"]
    assert families["api"]["weightUsed"] == pytest.approx(2)  # spot cost 0.4 = weight 2
    assert families["fapi"]["weightUsed"] == pytest.approx(20)
    assert [path for path, _ in exchange.sent] == ["ticker/24hr", "depth"]


async def test_exchange_info_sets_the_published_limit() -> None:
    exchange, budget = hooked()
    exchange.answer = {
        "rateLimits": [
            {
                "rateLimitType": "REQUEST_WEIGHT",
                "interval": "MINUTE",
                "intervalNum": 1,
                "limit": 600,
            }
        ]
    }
    await exchange.fetch2("exchangeInfo", "public", "GET", {}, {"cost": 4})
    assert budget.snapshot()["binance"]["families"]["api"]["weightPerMinute"] == 600


async def test_used_weight_header_is_learned_for_the_family_of_the_url() -> None:
    exchange, budget = hooked()
    exchange.on_rest_response(
        200,
        "OK",
        f"{BASE}/fapi/v1/depth?symbol=X",
        "GET",
        {"X-MBX-USED-WEIGHT-1M": "1234"},
        " {} ",
        {},
        None,
    )
    families = budget.snapshot()["binance"]["families"]
    assert families["fapi"]["exchangeReportedUsed"] == 1234 and "api" not in families


async def test_a_418_stops_the_exchange_and_nothing_more_is_sent() -> None:
    exchange, budget = hooked()
    assert (
        exchange.on_rest_response(
            418,
            "I'm a teapot",
            f"{BASE}/api/v3/time",
            "GET",
            {"Retry-After": "120"},
            " {} ",
            {},
            None,
        )
        == "{}"
    )
    with pytest.raises(BudgetExhausted) as caught:
        await exchange.fetch2("time", "public", "GET", {}, {"cost": 0.2})
    assert caught.value.retry_after_header == "120" and exchange.sent == []
    assert budget.snapshot()["binance"]["stops"] == {"418": 1}


async def test_a_429_without_retry_after_stops_for_a_minute() -> None:
    exchange, budget = hooked()
    exchange.on_rest_response(429, "Too Many", f"{BASE}/api/v3/depth", "GET", {}, "", {}, None)
    assert budget.snapshot()["binance"]["stoppedForSeconds"] == 60
