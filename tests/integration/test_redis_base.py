"""The Redis base of the cluster (issue 12): the setting, and the test server fixtures."""

from __future__ import annotations

import pytest
import redis

from app.settings import SettingsError, load_settings
from tests.support.redis_server import RedisServer


def test_redis_url_comes_from_env_and_toml(tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert load_settings(env={}).cluster.redis_url is None
    assert load_settings(env={"REDIS_URL": "redis://127.0.0.1:6390/2"}).cluster.redis_url == (
        "redis://127.0.0.1:6390/2"
    )
    config = tmp_path / "c.toml"
    config.write_text('[cluster]\nredis_url = "redis://127.0.0.1:6391/0"\n')
    assert load_settings(config, env={}).cluster.redis_url == "redis://127.0.0.1:6391/0"
    # The environment wins over the file, as for every other setting.
    both = load_settings(config, env={"REDIS_URL": "redis://127.0.0.1:6392/0"})
    assert both.cluster.redis_url == "redis://127.0.0.1:6392/0"
    assert load_settings(env={"REDIS_URL": "  "}).cluster.redis_url is None


def test_a_bad_redis_url_is_refused_without_echoing_it() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(env={"REDIS_URL": "http://user:hunter2@127.0.0.1:6379"})
    assert "redis_url must start with" in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_redis_url_fixture_gives_an_empty_database(redis_url: str) -> None:
    with redis.Redis.from_url(redis_url) as client:
        assert client.dbsize() == 0
        client.set("left-behind", "1")
        assert client.dbsize() == 1


def test_own_server_survives_a_restart_on_the_same_port(own_redis_server: RedisServer) -> None:
    port = own_redis_server.port
    with redis.Redis.from_url(own_redis_server.url) as client:
        assert client.ping()
    own_redis_server.kill()
    with (
        redis.Redis.from_url(own_redis_server.url, socket_connect_timeout=0.5) as client,
        pytest.raises(redis.ConnectionError),
    ):
        client.ping()
    own_redis_server.start()
    assert own_redis_server.port == port
    with redis.Redis.from_url(own_redis_server.url) as client:
        assert client.ping()


async def test_container_gives_no_client_without_redis_url_and_one_with_it(redis_url: str) -> None:
    from app.container import build_container

    assert build_container(load_settings(env={})).redis() is None
    client = build_container(load_settings(env={"REDIS_URL": redis_url})).redis()
    assert client is not None
    try:
        assert await client.ping()
    finally:
        await client.aclose()
