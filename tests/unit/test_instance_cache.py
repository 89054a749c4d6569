"""InMemoryInstanceCache: keys, single-flight, shared markets, TTL, LRU, holds and closing."""

from __future__ import annotations

import asyncio

import pytest

from app.adapters.cache.keys import CacheKeyer
from app.adapters.cache.memory import InMemoryInstanceCache
from app.domain.config import Credentials, ExchangeConfig
from app.domain.errors import ExchangeUnavailable
from app.settings import CacheSettings
from app.testing import eventually
from app.testing.fakes import FakeBackend, FakeExchangeGateway


class ManualClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def config(api_key: str | None = None, secret: str | None = None, **kw: object) -> ExchangeConfig:
    return ExchangeConfig(
        exchange_id="fake",
        credentials=Credentials(api_key=api_key, secret=secret),
        **kw,  # type: ignore[arg-type]
    )


def make_cache(
    backend: FakeBackend, clock: ManualClock | None = None, **settings: object
) -> InMemoryInstanceCache:
    return InMemoryInstanceCache(
        backend.create,
        CacheSettings(**settings),
        clock=clock or ManualClock(),  # type: ignore[arg-type]
    )


def loads(backend: FakeBackend) -> int:
    return sum(g.calls["load_markets"] for g in backend.created)


# -- keys ---------------------------------------------------------------------------------


def test_keys_sharing_a_prefix_of_the_api_key_are_different() -> None:
    keyer = CacheKeyer()
    a = keyer.key_for(config("ABCDEFGH-user-one", "s"))
    b = keyer.key_for(config("ABCDEFGH-user-two", "s"))
    assert a != b


def test_same_key_with_another_secret_is_another_instance_key() -> None:
    keyer = CacheKeyer()
    assert keyer.key_for(config("KEY", "old-secret")) != keyer.key_for(config("KEY", "new-secret"))


def test_credential_fields_cannot_be_shifted_into_each_other() -> None:
    keyer = CacheKeyer()
    assert keyer.key_for(config("ab", "c")) != keyer.key_for(config("a", "bc"))


def test_a_key_reveals_no_part_of_any_credential() -> None:
    keyer = CacheKeyer()
    key = keyer.key_for(config("APIKEY1234567890", "SECRETSECRET"))
    for fragment in ("APIKEY", "1234", "SECRET"):
        assert fragment not in key
    assert key.startswith("fake:spot:regular:live:cred-")


def test_keys_differ_between_processes_secret() -> None:
    cfg = config("KEY", "SECRET")
    assert CacheKeyer(b"a" * 32).key_for(cfg) != CacheKeyer(b"b" * 32).key_for(cfg)


def test_public_key_names_every_config_field() -> None:
    keyer = CacheKeyer()
    assert keyer.key_for(config(market_type="futures", ccxt_type="pro", sandbox=True)) == (
        "fake:futures:pro:sandbox:public"
    )


# -- creation -----------------------------------------------------------------------------


async def test_twenty_concurrent_cold_requests_create_one_instance_and_load_markets_once() -> None:
    backend = FakeBackend(load_markets_delay=0.05)
    cache = make_cache(backend)
    gateways = await asyncio.gather(*(cache.get(config()) for _ in range(20)))
    assert len({id(g) for g in gateways}) == 1
    assert len(backend.created) == 1
    assert loads(backend) == 1


async def test_instances_differing_only_in_credentials_share_markets_without_copying() -> None:
    backend = FakeBackend(load_markets_delay=0.02)
    cache = make_cache(backend)
    gateways = await asyncio.gather(*(cache.get(config(f"key-{i}", "s")) for i in range(10)))
    assert len({id(g) for g in gateways}) == 10
    assert loads(backend) == 1
    first = gateways[0]
    assert isinstance(first, FakeExchangeGateway)
    assert all(g.markets is first.markets for g in gateways)  # type: ignore[attr-defined]


async def test_other_market_type_loads_its_own_markets() -> None:
    backend = FakeBackend()
    cache = make_cache(backend)
    await cache.get(config())
    await cache.get(config(market_type="futures"))
    await cache.get(config(sandbox=True))
    assert loads(backend) == 3


async def test_a_cancelled_request_does_not_cancel_the_load_others_wait_for() -> None:
    backend = FakeBackend(load_markets_delay=0.05)
    cache = make_cache(backend)
    first = asyncio.create_task(cache.get(config()))
    second = asyncio.create_task(cache.get(config()))
    # Both requests are waiting once the one load has begun.
    await eventually(lambda: loads(backend) == 1)
    first.cancel()
    gateway = await second
    assert gateway.markets_loaded
    assert loads(backend) == 1


async def test_failed_market_load_is_retried_and_expires_soon() -> None:
    clock = ManualClock()
    backend = FakeBackend()
    cache = make_cache(backend, clock, failed_markets_ttl_seconds=30, ttl_seconds=3600)
    probe = backend.create(config())  # the gateway the cache will get next is a new one
    backend.created.clear()

    original_create = backend.create

    def create_failing(cfg: ExchangeConfig) -> FakeExchangeGateway:
        gateway = original_create(cfg)
        gateway.fail_next("load_markets", ExchangeUnavailable("down"), times=2)
        return gateway

    cache._factory = create_failing
    with pytest.raises(ExchangeUnavailable):
        await cache.get(config())
    clock.now += 31
    assert await cache.sweep() == 1, "a failed instance must leave after the short TTL"
    assert backend.created[0].closed
    with pytest.raises(ExchangeUnavailable):
        await cache.get(config())
    with pytest.raises(ExchangeUnavailable):
        await cache.get(config())  # same instance, second failure, no new instance
    assert len(backend.created) == 2
    gateway = await cache.get(config())  # the third attempt succeeds on the same instance
    assert gateway is backend.created[1] and gateway.markets_loaded
    assert probe is not gateway


# -- eviction and closing -------------------------------------------------------------------


async def test_expired_instances_are_swept_and_closed() -> None:
    clock = ManualClock()
    backend = FakeBackend()
    cache = make_cache(backend, clock, ttl_seconds=100)
    gateway = await cache.get(config())
    clock.now += 50
    assert await cache.sweep() == 0
    clock.now += 51
    assert await cache.sweep() == 1
    assert gateway.closed  # type: ignore[attr-defined]
    assert cache.size() == 0


async def test_an_expired_instance_is_replaced_on_the_next_request() -> None:
    clock = ManualClock()
    backend = FakeBackend()
    cache = make_cache(backend, clock, ttl_seconds=10)
    old = await cache.get(config())
    clock.now += 11
    new = await cache.get(config())
    assert new is not old
    await asyncio.sleep(0)  # let the background close run
    await cache.sweep()
    assert old.closed  # type: ignore[attr-defined]


async def test_lru_cap_evicts_the_least_recently_used_and_closes_it() -> None:
    backend = FakeBackend()
    cache = make_cache(backend, max_size=2)
    a = await cache.get(config("a", "s"))
    b = await cache.get(config("b", "s"))
    await cache.get(config("a", "s"))  # a is now the most recently used
    await cache.get(config("c", "s"))
    await cache.sweep()  # drains background closes
    assert cache.size() == 2
    assert b.closed and not a.closed  # type: ignore[attr-defined]


async def test_held_instance_is_not_closed_by_eviction_until_released() -> None:
    clock = ManualClock()
    backend = FakeBackend()
    cache = make_cache(backend, clock, ttl_seconds=10)
    async with cache.hold(config()) as gateway:
        clock.now += 11
        assert await cache.sweep() == 1
        assert not gateway.closed  # type: ignore[attr-defined]
    assert gateway.closed  # type: ignore[attr-defined]


async def test_shutdown_closes_every_instance() -> None:
    backend = FakeBackend()
    cache = make_cache(backend)
    gateways = [await cache.get(config(f"k{i}", "s")) for i in range(5)]
    cache.start_sweeper()
    await cache.aclose()
    assert all(g.closed for g in gateways)  # type: ignore[attr-defined]
    assert cache.size() == 0


async def test_sweeper_runs_on_its_interval() -> None:
    clock = ManualClock()
    backend = FakeBackend()
    cache = make_cache(backend, clock, ttl_seconds=1, sweep_interval_seconds=0.01)
    gateway = await cache.get(config())
    clock.now += 2
    cache.start_sweeper()
    await eventually(lambda: gateway.closed, message="the sweeper closed the expired instance")
    await cache.aclose()
    assert gateway.closed  # type: ignore[attr-defined]
