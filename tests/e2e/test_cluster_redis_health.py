"""A cluster node while its Redis goes away and comes back (issue 12, ADR 0150).

``/ready`` fails on ``redis`` while Redis is down (and only in cluster mode), the
``profitmaker_redis_up`` gauge and ``/api/status`` say so, local Socket.IO replies keep
working, and everything recovers by itself when Redis returns: cross-node emits included.
Never the URL (it may hold a password) in any of these answers.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import httpx
import pytest

from app.adapters.socketio.cluster_manager import RedisClientManager
from app.testing import eventually
from app.testing.fakes import FakeBackend
from tests.e2e.socketio_client import EventClient
from tests.support.app import AUTH, TOKEN, make_app, make_settings
from tests.support.redis_server import RedisServer, free_port
from tests.support.server import running_server

RECOVERY_TIMEOUT_S = 15.0
"""The listener retries every 0.5 s doubling to 5 s: a restart is seen within ~6 s."""


@pytest.fixture
async def nodes(
    own_redis_server: RedisServer,
) -> AsyncIterator[list[tuple[str, RedisClientManager]]]:
    """Two nodes on a Redis this test may kill: (base URL, Socket.IO manager) each."""
    async with AsyncExitStack() as stack:
        made = []
        for _ in range(2):
            application = make_app(
                make_settings(cluster={"redis_url": own_redis_server.url}), [FakeBackend()]
            )
            base = await stack.enter_async_context(running_server(application))
            manager = application.container.socketio_manager()
            assert isinstance(manager, RedisClientManager)
            made.append((base, manager))
        yield made


async def redis_up(http: httpx.AsyncClient) -> float:
    text = (await http.get("/metrics", headers=AUTH)).text
    match = re.search(r"^profitmaker_redis_up (\S+)$", text, re.MULTILINE)
    assert match is not None, "profitmaker_redis_up missing"
    return float(match.group(1))


async def test_ready_follows_redis_down_and_back(
    nodes: list[tuple[str, RedisClientManager]], own_redis_server: RedisServer
) -> None:
    (a_url, a_manager), (_b_url, b_manager) = nodes
    async with httpx.AsyncClient(base_url=a_url, timeout=10) as http:
        await eventually(lambda: a_manager.up, message="listener subscribed")
        ready = await http.get("/ready")
        assert ready.status_code == 200
        assert {"name": "redis", "ok": True, "reason": None} in ready.json()["checks"]
        assert await redis_up(http) == 1.0
        status = (await http.get("/api/status", headers=AUTH)).json()["data"]
        assert status["cluster"]["mode"] == "cluster" and status["cluster"]["redis"] == "up"

        client = EventClient()
        await client.connect(a_url, auth={"token": TOKEN})
        try:
            own_redis_server.kill()
            down = await http.get("/ready")
            assert down.status_code == 503
            body = down.json()
            assert body["errorType"] == "NotReady"
            assert "redis: redis unreachable (ConnectionError)" in body["details"]
            assert str(own_redis_server.port) not in down.text  # no address, no URL
            await eventually(lambda: a_manager.up is False, message="listener saw the outage")
            assert await redis_up(http) == 0.0
            status = (await http.get("/api/status", headers=AUTH)).json()["data"]
            assert status["cluster"]["mode"] == "cluster" and status["cluster"]["redis"] == "down"

            # Local replies do not need Redis: this node still answers its own clients.
            await client.emit("unsubscribe", {"subscriptionId": "x"})
            assert await client.expect("unsubscribed") == {"subscriptionId": "x"}

            own_redis_server.start()

            async def ready_again() -> bool:
                return (await http.get("/ready")).status_code == 200

            await eventually(ready_again, timeout=RECOVERY_TIMEOUT_S, message="ready again")
            await eventually(
                lambda: a_manager.up and b_manager.up,
                timeout=RECOVERY_TIMEOUT_S,
                message="both listeners resubscribed",
            )
            assert await redis_up(http) == 1.0
            # Cross-node emits work again: node B reaches node A's client through Redis.
            sid = client.sio.get_sid("/")
            await b_manager.server.emit("notice", {"text": "back"}, to=sid)
            assert await client.expect("notice") == {"text": "back"}
        finally:
            await client.close()


async def test_a_node_starts_without_redis_and_never_shows_the_password(
    capsys: pytest.CaptureFixture[str],
) -> None:
    secret = "hunter2-not-real"
    url = f"redis://:{secret}@127.0.0.1:{free_port()}/0"  # nothing listens there
    # A configured key secret: without one a node waits for Redis to hand it out (ADR 0142).
    cluster = {"redis_url": url, "key_secret": "test-key-secret-not-a-secret"}
    application = make_app(make_settings(cluster=cluster), [FakeBackend()])
    manager = application.container.socketio_manager()
    assert isinstance(manager, RedisClientManager)
    async with (
        running_server(application) as base,
        httpx.AsyncClient(base_url=base, timeout=10) as http,
    ):
        await eventually(lambda: manager.up is False, message="listener saw no Redis")
        ready = await http.get("/ready")
        status = await http.get("/api/status", headers=AUTH)
        metrics = await http.get("/metrics", headers=AUTH)
        health = await http.get("/health")
    assert health.status_code == 200  # the node serves; it is just not ready
    assert ready.status_code == 503
    assert "redis: redis unreachable (ConnectionError)" in ready.json()["details"]
    cluster = status.json()["data"]["cluster"]
    assert cluster["mode"] == "cluster" and cluster["redis"] == "down"
    assert "profitmaker_redis_up 0.0" in metrics.text
    logs = capsys.readouterr()
    assert "redis_unreachable" in logs.out + logs.err  # positive control: the outage is logged
    for text in (ready.text, status.text, metrics.text, logs.out, logs.err):
        assert secret not in text
