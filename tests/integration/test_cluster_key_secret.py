"""One instance-key secret for the cluster (issue 12 item 3, ADR 0142), on a real redis-server."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from redis.asyncio import Redis

from app.adapters.cache.keys import CacheKeyer
from app.adapters.cluster.key_secret import (
    SECRET_KEY,
    KeySecretUnavailable,
    cluster_key_secret,
    keep_key_secret,
)
from app.domain.config import Credentials, ExchangeConfig
from app.settings import ClusterSettings, load_settings
from app.testing import eventually
from tests.support.redis_server import RedisServer, free_port

ALICE = ExchangeConfig("binance", credentials=Credentials(api_key="alice-key", secret="a-secret"))
BOB = ExchangeConfig("binance", credentials=Credentials(api_key="bob-key", secret="b-secret"))


async def keyer_of(redis_url: str, key_secret: str | None = None) -> CacheKeyer:
    """A node's keyer after start: the cluster's secret adopted."""
    async with Redis.from_url(redis_url) as redis:
        keyer = CacheKeyer()
        keyer.adopt(
            await cluster_key_secret(
                redis, ClusterSettings(redis_url=redis_url, key_secret=key_secret)
            )
        )
        return keyer


async def test_nodes_share_the_secret_generated_once_in_redis(redis_url: str) -> None:
    one, two = await keyer_of(redis_url), await keyer_of(redis_url)
    assert one.key_for(ALICE) == two.key_for(ALICE)  # equal credentials, equal keys everywhere
    assert one.key_for(ALICE) != one.key_for(BOB)  # different ones never collide
    for key in (one.key_for(ALICE), one.key_for(BOB)):
        assert "alice" not in key and "bob" not in key and "secret" not in key
    # Positive control: a process secret of its own (no cluster) keys the same credentials apart.
    assert CacheKeyer().key_for(ALICE) != one.key_for(ALICE)


async def test_a_configured_secret_is_used_and_never_written_to_redis(redis_url: str) -> None:
    one = await keyer_of(redis_url, key_secret="operator-chosen-secret")
    two = await keyer_of(redis_url, key_secret="operator-chosen-secret")
    other = await keyer_of(redis_url, key_secret="another-secret")
    assert one.key_for(ALICE) == two.key_for(ALICE) != other.key_for(ALICE)
    async with Redis.from_url(redis_url) as redis:
        assert await redis.get(SECRET_KEY) is None


async def test_a_running_node_puts_the_secret_back_after_redis_lost_it(
    own_redis_server: RedisServer,
) -> None:
    url = own_redis_server.url
    async with Redis.from_url(url) as redis:
        secret = await cluster_key_secret(redis, ClusterSettings(redis_url=url))
        keeper = asyncio.create_task(keep_key_secret(redis, secret, every=0.05))
        try:
            own_redis_server.restart()  # empty again: no persistence

            async def restored() -> bool:
                with contextlib.suppress(Exception):
                    return bool(await redis.get(SECRET_KEY) == secret)
                return False

            await eventually(restored, timeout=5, interval=0.05)
        finally:
            keeper.cancel()
    later = await keyer_of(url)  # a node that starts now reads the cluster's secret
    first = CacheKeyer()
    first.adopt(secret)
    assert later.key_for(ALICE) == first.key_for(ALICE)


async def test_without_redis_and_without_a_configured_secret_the_node_does_not_start() -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    async with Redis.from_url(url, socket_connect_timeout=0.2) as redis:
        with pytest.raises(KeySecretUnavailable, match=r"\[cluster\] key_secret"):
            await cluster_key_secret(redis, ClusterSettings(redis_url=url), wait_seconds=0.3)


def test_the_secret_and_the_redis_url_never_show_in_the_settings_repr() -> None:
    settings = load_settings(
        env={
            "API_TOKEN": "t",
            "REDIS_URL": "redis://:redis-password@127.0.0.1:1/0",
            "CLUSTER_KEY_SECRET": "the-key-secret",
        }
    )
    assert settings.cluster.key_secret == "the-key-secret"
    shown = repr(settings)
    assert "redis-password" not in shown and "the-key-secret" not in shown
    assert "redis_url=set" in shown  # positive control: the cluster section is shown
