"""The emulator's binance weight rules: per-IP minute windows, X-MBX-USED-WEIGHT-1M, 429, 418."""

from __future__ import annotations

import aiohttp

from tests.emulator import BinanceEmulator
from tests.emulator.weights import IpWeights, request_weight


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_040.0  # a minute boundary

    def __call__(self) -> float:
        return self.now


def test_published_weights() -> None:
    assert request_weight("api", "ticker/24hr", {"symbol": "BTCUSDT"}) == 2
    assert request_weight("api", "ticker/24hr", {}) == 80
    assert [
        request_weight("api", "depth", {"limit": str(n)}) for n in (5, 100, 500, 1000, 5000)
    ] == [5, 5, 25, 50, 250]
    assert request_weight("fapi", "depth", {"limit": "1000"}) == 20
    assert request_weight("api", "exchangeInfo", {}) == 20


def test_over_the_limit_429_then_calling_again_is_a_418_ban() -> None:
    clock = Clock()
    weights = IpWeights(10, clock=clock, ban_seconds=120)
    assert [weights.charge("1.1.1.1", "api", 5).status for _ in range(2)] == [200, 200]
    clock.now += 15
    over = weights.charge("1.1.1.1", "api", 5)
    assert (over.status, over.used, over.retry_after) == (429, 15, 45)  # to the minute's end
    assert weights.charge("2.2.2.2", "api", 5).status == 200  # per IP
    assert weights.charge("1.1.1.1", "fapi", 1).status == 418  # again while Retry-After runs
    clock.now += 60  # the window rolled, but the ban holds
    banned = weights.charge("1.1.1.1", "api", 1)
    assert banned.status == 418 and banned.retry_after == 60
    clock.now += 61
    assert weights.charge("1.1.1.1", "api", 1).status == 200
    assert weights.statuses == {200: 4, 429: 1, 418: 2}


def test_waiting_out_retry_after_is_not_banned() -> None:
    clock = Clock()
    weights = IpWeights(10, clock=clock)
    weights.charge("ip", "api", 11)
    clock.now += 60
    assert weights.charge("ip", "api", 1).status == 200 and weights.statuses[418] == 0


async def test_answers_carry_the_used_weight_and_exchange_info_the_limit() -> None:
    async with BinanceEmulator(weight_limit=10) as emulator, aiohttp.ClientSession() as session:
        async with session.get(f"{emulator.base_url}/api/v3/time") as response:
            assert response.status == 200 and int(response.headers["X-MBX-USED-WEIGHT-1M"]) >= 1
        # exchangeInfo weighs 20: over the limit of 10 whatever minute it lands in
        async with session.get(f"{emulator.base_url}/api/v3/exchangeInfo") as response:
            assert response.status == 429 and int(response.headers["Retry-After"]) >= 1
            assert (await response.json())["code"] == -1003
        async with session.get(f"{emulator.base_url}/api/v3/time") as response:
            assert response.status == 418 and int(response.headers["Retry-After"]) == 120
        assert emulator.weights.statuses[429] == 1 and emulator.weights.statuses[418] == 1
    async with BinanceEmulator(weight_limit=600) as emulator, aiohttp.ClientSession() as session:
        async with session.get(f"{emulator.base_url}/api/v3/exchangeInfo") as response:
            info = await response.json()
        assert {
            "rateLimitType": "REQUEST_WEIGHT",
            "interval": "MINUTE",
            "intervalNum": 1,
            "limit": 600,
        } in info["rateLimits"]
