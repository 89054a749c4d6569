"""The RateBudget contract, one suite run against the in-process and the Redis adapter.

Both on a manual clock (the Redis scripts take the node's clock time, not Redis TIME), so a
minute's window passes in no real time. ``refresh()`` before ``snapshot()``: the Redis
adapter's copy of the shared figures is brought up to date there (a no-op in process).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from app.adapters.budget import InMemoryRateBudget
from app.domain.budget.model import BudgetExhausted
from app.domain.budget.rules import rules_for
from app.ports.budget import RateBudget
from tests.support.clock import ManualWallClock

MINUTE_START = 1_700_000_040.0  # a UTC minute boundary (divisible by 60)

Make = Callable[..., RateBudget]


@pytest.fixture(params=["in-process", "redis"])
async def make_budget(request: pytest.FixtureRequest) -> AsyncIterator[Make]:
    """``make_budget(clock, max_queue_wait_s=..., reserve_fraction=...)`` of either kind."""
    clients: list[Any] = []

    if request.param == "in-process":

        def make(clock: ManualWallClock, **options: Any) -> RateBudget:
            return InMemoryRateBudget(clock, **options)

        yield make
        return

    from redis.asyncio import Redis

    from app.adapters.budget.redis_limiter import RedisRateBudget

    url = request.getfixturevalue("redis_url")

    def make_redis(clock: ManualWallClock, **options: Any) -> RateBudget:
        client = Redis.from_url(url)
        clients.append(client)
        return RedisRateBudget(client, clock, **options)

    try:
        yield make_redis
    finally:
        for client in clients:
            await client.aclose()


def limiter(make: Make, clock: ManualWallClock, limit: float = 100, wait_s: float = 2.0) -> Any:
    budget = make(clock, max_queue_wait_s=wait_s, reserve_fraction=0.1)
    budget.configure(rules_for("binance", rate_limit_ms=50, weight_per_minute=limit))
    return budget


async def snapshot(budget: RateBudget) -> dict[str, Any]:
    await budget.refresh()
    return budget.snapshot()


async def test_grants_until_the_ceiling_then_refuses_with_retry_after(make_budget: Make) -> None:
    clock = ManualWallClock(MINUTE_START + 10)
    budget = limiter(make_budget, clock, limit=100, wait_s=0)
    for _ in range(9):
        await budget.acquire("binance", "api", 10)  # 90 = the 10 % reserve's ceiling
    with pytest.raises(BudgetExhausted) as caught:
        await budget.acquire("binance", "api", 10)
    assert caught.value.retry_after_s == pytest.approx(50)  # the window ends at +60
    assert caught.value.retry_after_header == "50"
    assert caught.value.error_type == "RateLimitExceeded"
    family = (await snapshot(budget))["binance"]["families"]["api"]
    assert (family["weightUsed"], family["weightLeft"], family["requests"], family["refused"]) == (
        90,
        10,
        9,
        1,
    )


async def test_a_request_heavier_than_the_ceiling_goes_alone_in_an_empty_window(
    make_budget: Make,
) -> None:
    clock = ManualWallClock(MINUTE_START)
    budget = limiter(make_budget, clock, limit=100, wait_s=0)
    await budget.acquire("binance", "api", 250)  # depth 5000: alone, in an empty window
    with pytest.raises(BudgetExhausted):
        await budget.acquire("binance", "api", 1)


async def test_a_request_waits_for_the_next_window_when_the_wait_is_short(
    make_budget: Make,
) -> None:
    clock = ManualWallClock(MINUTE_START + 59.5)
    budget = limiter(make_budget, clock, limit=100, wait_s=2.0)
    for _ in range(9):
        await budget.acquire("binance", "api", 10)
    await budget.acquire("binance", "api", 10)  # waits 0.5 s for the new minute
    assert clock.time() >= MINUTE_START + 60 and len(clock.slept) == 1
    family = (await snapshot(budget))["binance"]["families"]["api"]
    assert family["waited"] == 1 and family["weightUsed"] == 10


async def test_families_have_separate_budgets(make_budget: Make) -> None:
    clock = ManualWallClock(MINUTE_START)
    budget = limiter(make_budget, clock, limit=100, wait_s=0)
    for _ in range(9):
        await budget.acquire("binance", "api", 10)
    await budget.acquire("binance", "fapi", 10)  # USD-M is untouched by spot's weight
    with pytest.raises(BudgetExhausted):  # positive control: spot itself is full
        await budget.acquire("binance", "api", 10)


async def test_the_exchange_count_raises_ours(make_budget: Make) -> None:
    clock = ManualWallClock(MINUTE_START)
    budget = limiter(make_budget, clock, limit=100, wait_s=0)
    await budget.acquire("binance", "api", 10)
    budget.observe_used("binance", "api", 85)  # another process on the IP spent 75
    await budget.refresh()
    with pytest.raises(BudgetExhausted):
        await budget.acquire("binance", "api", 10)
    family = (await snapshot(budget))["binance"]["families"]["api"]
    assert family["exchangeReportedUsed"] == 85 and family["weightUsed"] == 85
    clock.advance(60)  # next minute: the count starts again
    await budget.acquire("binance", "api", 10)


async def test_a_429_stops_every_family_until_retry_after_then_lets_requests_go(
    make_budget: Make,
) -> None:
    clock = ManualWallClock(MINUTE_START)
    budget = limiter(make_budget, clock, limit=100, wait_s=30)
    budget.stop("binance", 429, 7)
    for family in ("api", "fapi"):
        with pytest.raises(BudgetExhausted) as caught:  # at once, even with a long queue wait
            await budget.acquire("binance", family, 1)
        assert caught.value.retry_after_s == pytest.approx(7)
    assert clock.slept == []
    clock.advance(7)
    await budget.acquire("binance", "api", 1)
    snap = (await snapshot(budget))["binance"]
    assert snap["stops"] == {"429": 1} and snap["stoppedSecondsTotal"] == 7


async def test_overlapping_stops_count_their_time_once(make_budget: Make) -> None:
    clock = ManualWallClock(MINUTE_START)
    budget = limiter(make_budget, clock)
    budget.stop("binance", 429, 10)
    await budget.refresh()
    clock.advance(5)
    budget.stop("binance", 418, 120)
    snap = (await snapshot(budget))["binance"]
    assert snap["stoppedSecondsTotal"] == 125 and snap["stops"] == {"418": 1, "429": 1}
    assert snap["stoppedForSeconds"] == 120


async def test_published_limit_applies_unless_the_operator_set_one(make_budget: Make) -> None:
    clock = ManualWallClock(MINUTE_START)
    plain = make_budget(clock, max_queue_wait_s=0, reserve_fraction=0)
    plain.configure(rules_for("binance", rate_limit_ms=50))
    plain.set_published_limit("binance", "api", 20)
    await plain.acquire("binance", "api", 20)
    with pytest.raises(BudgetExhausted):
        await plain.acquire("binance", "api", 1)
    family = (await snapshot(plain))["binance"]["families"]["api"]
    assert family["limitSource"] == "exchangeInfo" and family["weightPerMinute"] == 20
    operator = limiter(make_budget, clock, limit=100)
    operator.set_published_limit("binance", "api", 20)
    assert (await snapshot(operator))["binance"]["families"]["api"]["weightPerMinute"] == 100


async def test_unknown_exchanges_share_ccxt_s_model_across_instances(make_budget: Make) -> None:
    clock = ManualWallClock(MINUTE_START)
    budget = make_budget(clock, max_queue_wait_s=0, reserve_fraction=0)
    budget.configure(rules_for("kraken", rate_limit_ms=3000))  # 20 cost per minute
    await asyncio.gather(*(budget.acquire("kraken", "default", 1) for _ in range(20)))
    with pytest.raises(BudgetExhausted):
        await budget.acquire("kraken", "default", 1)
    family = (await snapshot(budget))["kraken"]["families"]["default"]
    assert family["requests"] == 20 and family["refused"] == 1


async def test_an_exchange_nobody_configured_gets_the_default_rules(make_budget: Make) -> None:
    clock = ManualWallClock(MINUTE_START)
    budget = make_budget(clock, max_queue_wait_s=0, reserve_fraction=0)
    await budget.acquire("okx", "default", 1)
    assert (await snapshot(budget))["okx"]["families"]["default"]["requests"] == 1
