"""The shared rate budget: binance rules as data, windows, waits, stops, published limits."""

from __future__ import annotations

import asyncio

import pytest

from app.adapters.budget import InMemoryRateBudget
from app.domain.budget.model import BudgetExhausted
from app.domain.budget.rules import BINANCE_RULES, request_weight_per_minute, rules_for
from tests.support.clock import ManualWallClock

MINUTE_START = 1_700_000_040.0  # a UTC minute boundary (divisible by 60)


def limiter(clock: ManualWallClock, limit: float = 100, wait_s: float = 2.0) -> InMemoryRateBudget:
    budget = InMemoryRateBudget(clock, max_queue_wait_s=wait_s, reserve_fraction=0.1)
    budget.configure(rules_for("binance", rate_limit_ms=50, weight_per_minute=limit))
    return budget


def test_binance_families_and_weights_follow_the_published_tables() -> None:
    rules = BINANCE_RULES
    assert rules.family_for("public").name == "api" and rules.family_for(["private"]).name == "api"
    assert rules.family_for("fapiPublicV2").name == "fapi"
    assert rules.family_for("dapiPrivate").name == "dapi"
    assert rules.family_for("sapiV3").name == "sapi"
    # ccxt prices spot at 0.2 x weight: ticker/24hr with a symbol 0.4 -> 2, depth 1000 -> 50
    assert rules.weight_of("public", 0.4) == pytest.approx(2)
    assert rules.weight_of("public", 10) == pytest.approx(50)
    assert rules.weight_of("fapiPublic", 20) == pytest.approx(20)
    assert [rules.families[f].weight_per_minute for f in ("api", "fapi", "dapi")] == [
        6000,
        2400,
        2400,
    ]


def test_rate_limits_from_exchange_info() -> None:
    published = [
        {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
        {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
    ]
    assert request_weight_per_minute(published) == 6000
    assert request_weight_per_minute([]) is None and request_weight_per_minute(None) is None
    per_second = [
        {"rateLimitType": "REQUEST_WEIGHT", "interval": "SECOND", "intervalNum": 1, "limit": 10}
    ]
    assert request_weight_per_minute(per_second) == 600


async def test_grants_until_the_ceiling_then_refuses_with_retry_after() -> None:
    clock = ManualWallClock(MINUTE_START + 10)
    budget = limiter(clock, limit=100, wait_s=0)
    for _ in range(9):
        await budget.acquire("binance", "api", 10)  # 90 = the 10 % reserve's ceiling
    with pytest.raises(BudgetExhausted) as caught:
        await budget.acquire("binance", "api", 10)
    assert caught.value.retry_after_s == pytest.approx(50)  # the window ends at +60
    assert (
        caught.value.retry_after_header == "50" and caught.value.error_type == "RateLimitExceeded"
    )
    family = budget.snapshot()["binance"]["families"]["api"]
    assert (family["weightUsed"], family["weightLeft"], family["requests"], family["refused"]) == (
        90,
        10,
        9,
        1,
    )


async def test_a_request_waits_for_the_next_window_when_the_wait_is_short() -> None:
    clock = ManualWallClock(MINUTE_START + 59.5)
    budget = limiter(clock, limit=100, wait_s=2.0)
    for _ in range(9):
        await budget.acquire("binance", "api", 10)
    await budget.acquire("binance", "api", 10)  # waits 0.5 s for the new minute
    assert clock.time() >= MINUTE_START + 60 and len(clock.slept) == 1
    assert budget.snapshot()["binance"]["families"]["api"]["waited"] == 1


async def test_families_have_separate_budgets() -> None:
    clock = ManualWallClock(MINUTE_START)
    budget = limiter(clock, limit=100, wait_s=0)
    for _ in range(9):
        await budget.acquire("binance", "api", 10)
    await budget.acquire("binance", "fapi", 10)  # USD-M is untouched by spot's weight


async def test_the_exchange_count_raises_ours() -> None:
    clock = ManualWallClock(MINUTE_START)
    budget = limiter(clock, limit=100, wait_s=0)
    await budget.acquire("binance", "api", 10)
    budget.observe_used("binance", "api", 85)  # another process on the IP spent 75
    with pytest.raises(BudgetExhausted):
        await budget.acquire("binance", "api", 10)
    clock.advance(60)  # next minute: the count starts again
    await budget.acquire("binance", "api", 10)


async def test_a_429_stops_every_family_until_retry_after_then_lets_requests_go() -> None:
    clock = ManualWallClock(MINUTE_START)
    budget = limiter(clock, limit=100, wait_s=30)
    budget.stop("binance", 429, 7)
    for family in ("api", "fapi"):
        with pytest.raises(BudgetExhausted) as caught:  # at once, even with a long queue wait
            await budget.acquire("binance", family, 1)
        assert caught.value.retry_after_s == pytest.approx(7)
    assert clock.slept == []
    clock.advance(7)
    await budget.acquire("binance", "api", 1)
    snap = budget.snapshot()["binance"]
    assert snap["stops"] == {"429": 1} and snap["stoppedSecondsTotal"] == 7


async def test_overlapping_stops_count_their_time_once() -> None:
    clock = ManualWallClock(MINUTE_START)
    budget = limiter(clock)
    budget.stop("binance", 429, 10)
    clock.advance(5)
    budget.stop("binance", 418, 120)
    snap = budget.snapshot()["binance"]
    assert snap["stoppedSecondsTotal"] == 125 and snap["stops"] == {"418": 1, "429": 1}


async def test_published_limit_applies_unless_the_operator_set_one() -> None:
    clock = ManualWallClock(MINUTE_START)
    plain = InMemoryRateBudget(clock, max_queue_wait_s=0, reserve_fraction=0)
    plain.configure(rules_for("binance", rate_limit_ms=50))
    plain.set_published_limit("binance", "api", 20)
    await plain.acquire("binance", "api", 20)
    with pytest.raises(BudgetExhausted):
        await plain.acquire("binance", "api", 1)
    assert plain.snapshot()["binance"]["families"]["api"]["limitSource"] == "exchangeInfo"
    operator = limiter(clock, limit=100)
    operator.set_published_limit("binance", "api", 20)
    assert operator.snapshot()["binance"]["families"]["api"]["weightPerMinute"] == 100


async def test_unknown_exchanges_share_ccxt_s_model_across_instances() -> None:
    clock = ManualWallClock(MINUTE_START)
    budget = InMemoryRateBudget(clock, max_queue_wait_s=0, reserve_fraction=0)
    budget.configure(rules_for("kraken", rate_limit_ms=3000))  # 20 cost per minute
    await asyncio.gather(*(budget.acquire("kraken", "default", 1) for _ in range(20)))
    with pytest.raises(BudgetExhausted):
        await budget.acquire("kraken", "default", 1)
