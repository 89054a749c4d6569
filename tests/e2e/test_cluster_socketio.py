"""Socket.IO rooms and emits across the nodes of a cluster (issue 12 item 5, ADR 0150).

Two applications in this process, each under its own uvicorn on a loopback port, share one
real redis-server: what one node emits to a room, to a sid or as a disconnect reaches the
clients of the other. With no ``redis_url`` the default in-process manager stays.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import pytest
import redis
import socketio

from app.adapters.socketio.cluster_manager import RedisClientManager, channel_for
from app.entrypoints.asgi import Application
from app.testing import eventually
from app.testing.fakes import FakeBackend
from tests.e2e.socketio_client import EventClient
from tests.support.app import TOKEN, make_app, make_settings
from tests.support.server import running_server


class Node:
    """One cluster node: its application, base URL and Socket.IO server."""

    def __init__(self, application: Application, url: str) -> None:
        self.application = application
        self.url = url
        manager = application.container.socketio_manager()
        assert isinstance(manager, RedisClientManager)
        self.manager = manager
        self.sio: socketio.AsyncServer = manager.server


@asynccontextmanager
async def cluster(redis_url: str, size: int = 2) -> AsyncIterator[list[Node]]:
    """``size`` nodes on one Redis, each listening on the cluster's channel."""
    async with AsyncExitStack() as stack:
        nodes = []
        for _ in range(size):
            settings = make_settings(cluster={"redis_url": redis_url})
            application = make_app(settings, [FakeBackend()])
            url = await stack.enter_async_context(running_server(application))
            nodes.append(Node(application, url))
        for node in nodes:
            await asyncio.wait_for(node.manager.subscribed.wait(), 5)
        yield nodes


@asynccontextmanager
async def clients() -> AsyncIterator[Any]:
    made: list[EventClient] = []

    async def connect(node: Node) -> EventClient:
        client = EventClient()
        await client.connect(node.url, auth={"token": TOKEN})
        made.append(client)
        return client

    try:
        yield connect
    finally:
        for client in made:
            await client.close()


def sid_of(client: EventClient) -> str:
    sid = client.sio.get_sid("/")
    assert isinstance(sid, str)
    return sid


def publish_calls(url: str) -> int:
    with redis.Redis.from_url(url) as r:
        stats = r.info("commandstats")
    return int(stats.get("cmdstat_publish", {}).get("calls", 0))


async def test_an_emit_on_one_node_reaches_a_sid_and_a_room_on_another(redis_url: str) -> None:
    async with cluster(redis_url) as (a, b), clients() as connect:
        on_a = await connect(a)
        also_on_a = await connect(a)
        on_b = await connect(b)
        await eventually(lambda: a.manager.is_connected(sid_of(on_a), "/"))

        # To one sid of another node.
        await b.sio.emit("notice", {"text": "to you"}, to=sid_of(on_a))
        assert await on_a.expect("notice") == {"text": "to you"}

        # A room joined on node A (by node B's call), emitted to from node B.
        await b.sio.enter_room(sid_of(on_a), "desk")
        await eventually(lambda: sid_of(on_a) in a.manager.rooms["/"].get("desk", {}))
        await b.sio.emit("notice", {"text": "desk"}, room="desk")
        assert await on_a.expect("notice") == {"text": "desk"}
        # Positive control first (a broadcast reaches everyone), then: the room was not it.
        await b.sio.emit("broadcast", {"text": "all"})
        assert await also_on_a.expect("broadcast") == {"text": "all"}
        assert await on_b.expect("broadcast") == {"text": "all"}
        assert await on_a.expect("broadcast") == {"text": "all"}
        assert also_on_a.queues["notice"].empty()
        assert on_b.queues["notice"].empty()

        # A disconnect issued on node B closes a client of node A.
        await b.sio.disconnect(sid_of(also_on_a))
        await asyncio.wait_for(also_on_a.disconnected.wait(), 5)
        assert on_a.sio.connected


async def test_a_write_only_redis_manager_elsewhere_can_emit_to_the_cluster(
    redis_url: str,
) -> None:
    """The message format is AsyncRedisManager's: an external process can emit too."""
    async with cluster(redis_url, size=1) as (a,), clients() as connect:
        on_a = await connect(a)
        external = socketio.AsyncRedisManager(
            redis_url, channel=channel_for(a.manager._client), write_only=True
        )
        try:
            await external.emit("notice", {"text": "from outside"}, room=sid_of(on_a))
            assert await on_a.expect("notice") == {"text": "from outside"}
        finally:
            if external.redis is not None:
                await external.redis.aclose()


async def test_replies_to_a_local_sid_never_touch_redis(redis_url: str) -> None:
    async with cluster(redis_url) as (a, _b):
        client = EventClient()
        await client.connect(a.url)  # not authenticated yet: the reply comes below
        try:
            before = publish_calls(redis_url)
            await client.authenticate(TOKEN)  # `authenticated` is emitted to=sid
            await client.emit("subscribe", {"exchangeId": "nope", "symbol": "BTC/USDT"})
            await client.expect("subscription_error")
            assert publish_calls(redis_url) == before
            # Positive control: an emit to a room goes through Redis.
            await a.sio.emit("notice", {"text": "room"}, room="nobody-here")
            assert publish_calls(redis_url) == before + 1
        finally:
            await client.close()


async def test_the_channel_names_the_redis_database() -> None:
    """Redis pub/sub ignores databases: two clusters on db 1 and db 2 get two channels."""
    from redis.asyncio import Redis

    one = Redis.from_url("redis://127.0.0.1:1/1")
    two = Redis.from_url("redis://127.0.0.1:1/2")
    default = Redis.from_url("redis://127.0.0.1:1")
    assert channel_for(one) == "profitmaker:1:socketio"
    assert channel_for(two) == "profitmaker:2:socketio"
    assert channel_for(default) == "profitmaker:0:socketio"
    for client in (one, two, default):
        await client.aclose()


async def test_without_redis_url_the_default_manager_stays(fake_backend: FakeBackend) -> None:
    application = make_app(make_settings(), [fake_backend])
    assert application.container.socketio_manager() is None
    async with running_server(application) as url:
        import httpx

        async with httpx.AsyncClient(base_url=url) as http:
            ready = (await http.get("/ready")).json()
            status = await http.get("/api/status", headers={"Authorization": f"Bearer {TOKEN}"})
            metrics = await http.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        client = EventClient()
        await client.connect(url, auth={"token": TOKEN})
        try:
            # socketio.ASGIApp keeps the Socket.IO server as ``engineio_server``.
            assert type(application.asgi.engineio_server.manager) is socketio.AsyncManager
            assert application.asgi.engineio_server.manager.is_connected(sid_of(client), "/")
        finally:
            await client.close()
    assert {c["name"] for c in ready["checks"]} == {"started", "backends", "streams"}
    assert status.json()["data"]["cluster"] == {"mode": "single"}
    assert "profitmaker_socketio_connections" in metrics.text  # positive control
    assert "profitmaker_redis_up" not in metrics.text


async def test_shutdown_stops_the_listener_and_leaves_no_task(redis_url: str) -> None:
    async with cluster(redis_url, size=1) as (a,):
        listener = a.manager.thread
        assert listener is not None and not listener.done()
    assert listener.done()
    assert a.manager.thread is None
    leftovers = [t for t in asyncio.all_tasks() if "_thread" in repr(t.get_coro())]
    assert leftovers == []
    with redis.Redis.from_url(redis_url) as r:  # nobody listens on the channel any more
        assert r.pubsub_numsub(a.manager.channel) == [(a.manager.channel.encode(), 0)]


@pytest.mark.parametrize("transport", ["polling"])
async def test_a_polling_client_gets_a_cross_node_emit(redis_url: str, transport: str) -> None:
    async with cluster(redis_url) as (a, b):
        client = EventClient()
        await client.connect(a.url, auth={"token": TOKEN}, transports=[transport])
        try:
            await b.sio.emit("notice", {"text": "polled"}, to=sid_of(client))
            assert await client.expect("notice") == {"text": "polled"}
        finally:
            await client.close()
