"""What an operator of a cluster sees of stream ownership (ADR 0170): the Prometheus families
(streams by role, leases taken and lost, publishes refused, reports dropped) and the owner
node in ``/api/status``, on two real server applications sharing one real redis-server.
"""

from __future__ import annotations

import re
from contextlib import AsyncExitStack

import httpx

from app.testing import eventually
from app.testing.fakes import FakeBackend
from tests.e2e.socketio_client import EventClient
from tests.support.app import AUTH, TOKEN, make_app, make_settings
from tests.support.server import running_server

TICKER = {
    "exchangeId": "fake",
    "symbol": "BTC/USDT",
    "dataType": "ticker",
    "config": {"exchangeId": "fake", "marketType": "spot", "ccxtType": "pro"},
}
TTL = 1.5  # rounds every 0.5 s: a takeover within ~2 s


async def sample(http: httpx.AsyncClient, family: str, **labels: str) -> float:
    """One sample of ``family`` with exactly ``labels`` from ``/metrics``."""
    text = (await http.get("/metrics", headers=AUTH)).text
    rendered = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = rf"^{re.escape(family)}\{{{re.escape(rendered)}\}} (\S+)$"
    match = re.search(pattern, text, re.MULTILINE)
    assert match is not None, f"{family}{{{rendered}}} missing"
    return float(match.group(1))


async def status(http: httpx.AsyncClient) -> dict:  # type: ignore[type-arg]
    data: dict = (await http.get("/api/status", headers=AUTH)).json()["data"]  # type: ignore[type-arg]
    return data


async def test_roles_owner_node_and_a_takeover_are_visible(redis_url: str) -> None:
    settings = make_settings(cluster={"redis_url": redis_url, "lease_ttl_seconds": TTL})
    backends = [FakeBackend(), FakeBackend()]
    apps = [make_app(settings, [backend]) for backend in backends]
    names = [app.container.stream_ownership().node_id for app in apps]
    async with AsyncExitStack() as stack, AsyncExitStack() as a_stack:
        a_url = await a_stack.enter_async_context(running_server(apps[0]))
        b_url = await stack.enter_async_context(running_server(apps[1]))
        a_http = await stack.enter_async_context(httpx.AsyncClient(base_url=a_url, timeout=10))
        b_http = await stack.enter_async_context(httpx.AsyncClient(base_url=b_url, timeout=10))
        clients = []
        for url in (a_url, b_url):
            client = EventClient()
            stack.push_async_callback(client.close)
            await client.connect(url, auth={"token": TOKEN})
            await client.emit("subscribe", TICKER)
            assert (await client.expect("subscribed"))["dataType"] == "ticker"
            clients.append(client)
            if url == a_url:  # a owns before b joins
                await eventually(lambda: backends[0].created != [] and watching(backends[0]))

        async def roles_settled() -> bool:
            return (
                await sample(a_http, "profitmaker_cluster_streams", role="owner") == 1
                and await sample(b_http, "profitmaker_cluster_streams", role="follower") == 1
            )

        await eventually(roles_settled, message="a owns, b follows")
        assert await sample(a_http, "profitmaker_cluster_streams", role="follower") == 0
        assert await sample(b_http, "profitmaker_cluster_streams", role="owner") == 0
        assert (
            await sample(a_http, "profitmaker_cluster_leases_acquired_total", previous="none") == 1
        )
        for family, label, words in (
            ("profitmaker_cluster_leases_lost_total", "reason", ("taken", "unreachable")),
            ("profitmaker_cluster_publishes_refused_total", "reason", ("fence", "queue_full")),
            ("profitmaker_cluster_reports_dropped_total", "reason", ("stale_fence",)),
        ):
            for word in words:  # every series exists from the start, at 0
                assert await sample(b_http, family, **{label: word}) == 0

        # The status JSON names this node and, per stream, the node running its upstream.
        for http, here in ((a_http, names[0]), (b_http, names[1])):
            cluster = (await status(http))["cluster"]
            assert cluster["node"] == here
            streams = (await status(http))["streams"]
            assert [s["ownerNode"] for s in streams] == [names[0]]
        assert (await status(a_http))["cluster"]["streams"] == {
            "owner": 1,
            "follower": 0,
            "alone": 0,
        }
        assert (await status(b_http))["cluster"]["streams"]["follower"] == 1

        # Labels stay bounded: no symbol, stream key or node name in any cluster family.
        text = (await b_http.get("/metrics", headers=AUTH)).text
        cluster_lines = [line for line in text.splitlines() if "profitmaker_cluster_" in line]
        assert len(cluster_lines) > 10  # positive control: the families are there
        assert "profitmaker_cluster_publishes_skipped_total 0.0" in cluster_lines
        for line in cluster_lines:
            assert "BTC" not in line and names[0] not in line and names[1] not in line

        await a_stack.aclose()  # a shuts down: b takes the lease over
        await eventually(lambda: watching(backends[1]), timeout=10, message="b runs the upstream")

        async def b_took_over() -> bool:
            taken = "profitmaker_cluster_leases_acquired_total"
            return await sample(b_http, taken, previous="follower") == 1

        await eventually(b_took_over, message="takeover counted")
        assert await sample(b_http, "profitmaker_cluster_streams", role="owner") == 1
        assert [s["ownerNode"] for s in (await status(b_http))["streams"]] == [names[1]]


def watching(backend: FakeBackend) -> bool:
    return sum(g.pending_watchers("ticker", "BTC/USDT") for g in backend.created) == 1
