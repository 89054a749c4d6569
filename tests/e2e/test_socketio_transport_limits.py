"""Transport limits of the real server (issue 10 item 9, ADR 0070), with raw engine.io frames.

Each example of the issue is reproduced exactly: attachment floods, a placeholder naming a
missing attachment, long-polling batches, and a too-deep payload on every event.
"""

from __future__ import annotations

import asyncio
import json
import resource
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from app.entrypoints.asgi import Application
from app.testing import eventually
from app.testing.fakes import FakeBackend
from tests.e2e.raw_engineio import RawPolling, RawWebSocket, event_packet, nested, raw_event
from tests.support.app import TOKEN, make_app, make_settings

AUTH = {"token": TOKEN}
NESTING_ERROR = "JSON is nested deeper than 64 levels"


def bogus(i: int) -> dict[str, Any]:
    """A subscribe the server refuses at once (its answer is one subscription_error)."""
    return {"exchangeId": "fake", "symbol": f"S{i}/USDT", "dataType": "bogus"}


def rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.fixture
def transport_settings() -> dict[str, Any]:
    return {}


@pytest.fixture
def application(
    fake_backend: FakeBackend, stream_settings: dict[str, Any], transport_settings: dict[str, Any]
) -> Application:
    settings = make_settings(streams=stream_settings, socketio=transport_settings)
    return make_app(settings, [fake_backend])


@pytest.fixture
async def ws(server_url: str) -> AsyncIterator[Any]:
    opened: list[RawWebSocket] = []

    async def open_(answer_pings: bool = True) -> RawWebSocket:
        raw = await RawWebSocket.open(server_url, answer_pings)
        opened.append(raw)
        return raw

    yield open_
    for raw in opened:
        await raw.close()


@pytest.fixture
async def http(server_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server_url, timeout=10) as client:
        yield client


# -- (a) attachments: count and bytes, before and after authentication -------------------------


async def test_a_million_attachments_announced_closes_the_connection(ws: Any) -> None:
    """The issue's example: no token, 1,000,000 attachments, then 200 frames of 900 KB."""
    raw = await ws()
    await raw.join()
    before = rss_mib()
    await raw.send('451000000-["subscribe",{"_placeholder":true,"num":0}]')
    frame = b"x" * 900_000
    sent = 0
    for sent in range(1, 201):  # noqa: B007 - the count is asserted below
        if raw.closed.is_set() or not await raw.send_bytes(frame):
            break
    assert await raw.wait_closed()
    assert sent < 200
    grown = rss_mib() - before
    assert grown < 60, f"server RSS grew {grown:.0f} MiB (unbounded: ~175 MiB)"
    # Positive control: a well-behaved client on the same server is served.
    other = await ws()
    await other.join(AUTH)
    await other.send(event_packet("subscribe", bogus(1)))
    assert (await other.next_event())[0] == "subscription_error"


async def test_binary_before_authentication_closes_the_connection(ws: Any) -> None:
    raw = await ws()
    await raw.join()
    await raw.send('451-["authenticate",{"_placeholder":true,"num":0}]')
    assert await raw.wait_closed()


async def test_attachment_bytes_are_bounded_and_rss_stays_flat(ws: Any) -> None:
    """The issue's flood: 10 attachments announced, then 200 frames of 900 KB."""
    raw = await ws()
    await raw.join(AUTH)
    placeholders = ",".join(f'{{"_placeholder":true,"num":{i}}}' for i in range(10))
    await raw.send(f'4510-["subscribe",{placeholders}]')
    frame = b"x" * 900_000
    before = rss_mib()
    sent = 0
    for sent in range(1, 201):  # noqa: B007 - the count is asserted below
        if not await raw.send_bytes(frame):
            break
        if raw.closed.is_set():
            break
    assert await raw.wait_closed()
    grown = rss_mib() - before
    assert sent < 200, "the server kept reading attachments past its byte limit"
    assert grown < 60, f"server RSS grew {grown:.0f} MiB (unbounded: ~175 MiB)"


async def test_ten_small_attachments_are_accepted_and_eleven_close(ws: Any) -> None:
    raw = await ws()
    await raw.join(AUTH)
    placeholders = ",".join(f'{{"_placeholder":true,"num":{i}}}' for i in range(10))
    await raw.send(f'4510-["unsubscribe",{placeholders}]')
    for _ in range(10):
        assert await raw.send_bytes(b"abc")
    event, payload = await raw.next_event()
    assert event == "unsubscribe_error"  # the payload is bytes, not {subscriptionId}
    assert payload == {"error": "Missing subscriptionId"}
    placeholders = ",".join(f'{{"_placeholder":true,"num":{i}}}' for i in range(11))
    await raw.send(f'4511-["unsubscribe",{placeholders}]')
    assert await raw.wait_closed()


# -- (b) a placeholder naming a missing attachment -----------------------------------------------


async def test_placeholder_to_a_missing_attachment_closes_and_drops_subscriptions(
    ws: Any, application: Application, fake_backend: FakeBackend
) -> None:
    streams = application.container.stream_service()
    raw = await ws()
    await raw.join(AUTH)
    ticker = {"exchangeId": "fake", "symbol": "BTC/USDT", "dataType": "ticker"}
    await raw.send(event_packet("subscribe", ticker))
    assert (await raw.next_event())[0] == "subscribed"
    assert streams.stats()["subscriptions"] == 1
    await raw.send('451-["unsubscribe",{"subscriptionId":{"_placeholder":true,"num":3}}]')
    assert await raw.wait_closed()  # not deaf: closed, so the client reconnects
    await eventually(lambda: streams.stats()["subscriptions"] == 0)


@pytest.mark.parametrize(
    "packet",
    [
        '451-["x",{"_placeholder":true,"num":-1}]',
        '451-["x",{"_placeholder":true,"num":"0"}]',
        '451-["x",{"_placeholder":true,"num":1}]',
    ],
)
async def test_every_illegal_placeholder_closes(ws: Any, packet: str) -> None:
    raw = await ws()
    await raw.join(AUTH)
    await raw.send(packet)
    assert await raw.wait_closed()


async def test_text_where_an_attachment_was_due_closes(ws: Any) -> None:
    raw = await ws()
    await raw.join(AUTH)
    await raw.send('451-["x",{"_placeholder":true,"num":0}]')
    await raw.send(event_packet("subscribe", bogus(1)))
    assert await raw.wait_closed()


async def test_binary_event_with_no_attachments_is_a_plain_event(ws: Any) -> None:
    raw = await ws()
    await raw.join(AUTH)
    await raw.send('450-["subscribe",' + json.dumps(bogus(1)) + "]")
    assert (await raw.next_event())[0] == "subscription_error"
    await raw.send(event_packet("subscribe", bogus(2)))
    assert (await raw.next_event())[0] == "subscription_error"


async def test_unparsable_packet_closes_the_connection(ws: Any) -> None:
    raw = await ws()
    await raw.join(AUTH)
    await raw.send('42["subscribe",{"exchangeId":')
    assert await raw.wait_closed()


# -- (c) long-polling batches --------------------------------------------------------------------


@pytest.mark.parametrize("count", [18, 40, 300])
async def test_a_polling_batch_of_subscribes_gets_every_answer(
    http: httpx.AsyncClient, count: int
) -> None:
    session = await RawPolling.open(http)
    assert (await session.post("40" + json.dumps(AUTH))).status_code == 200
    assert (await session.get())[0] == 200  # the namespace CONNECT answer
    answer = await session.post(*(event_packet("subscribe", bogus(i)) for i in range(count)))
    assert answer.status_code == 200
    errors: list[Any] = []
    for _ in range(20):
        errors += [p for e, p in await session.events() if e == "subscription_error"]
        if len(errors) >= count:
            break
    assert sorted(e["symbol"] for e in errors) == sorted(f"S{i}/USDT" for i in range(count))


@pytest.mark.parametrize("transport_settings", [{"max_payload_packets": 50}])
async def test_a_polling_batch_beyond_the_bound_fails_loudly(http: httpx.AsyncClient) -> None:
    session = await RawPolling.open(http)
    assert (await session.post("40" + json.dumps(AUTH))).status_code == 200
    assert (await session.get())[0] == 200
    at_bound = await session.post(*(event_packet("subscribe", bogus(i)) for i in range(50)))
    assert at_bound.status_code == 200
    beyond = await session.post(*(event_packet("subscribe", bogus(i)) for i in range(51)))
    assert beyond.status_code == 400
    # The session is gone: the client learns on its next request, and reconnects.
    assert (await session.get())[0] == 400


# -- (e2) payloads nested too deep ---------------------------------------------------------------


@pytest.mark.parametrize("depth", [65, 1_000, 100_000])
async def test_a_too_deep_subscribe_gets_subscription_error(ws: Any, depth: int) -> None:
    raw = await ws()
    await raw.join(AUTH)
    # The packet array is level 1: the payload at `depth - 1` makes the whole `depth`.
    await raw.send(raw_event("subscribe", '{"params":' + nested(depth - 2) + "}"))
    event, payload = await raw.next_event()
    assert event == "subscription_error"
    assert payload["error"] == NESTING_ERROR
    # The connection still works.
    await raw.send(event_packet("subscribe", bogus(1)))
    event, payload = await raw.next_event()
    assert (event, payload["error"]) == ("subscription_error", "Unsupported data type: bogus")


async def test_a_payload_at_the_limit_is_read_normally(ws: Any) -> None:
    raw = await ws()
    await raw.join(AUTH)
    await raw.send(
        raw_event("subscribe", json.dumps(bogus(1))[:-1] + ',"params":' + nested(62) + "}")
    )
    event, payload = await raw.next_event()
    assert event == "subscription_error"
    assert payload["error"] != NESTING_ERROR


@pytest.mark.parametrize("event_name", ["authenticate", "unsubscribe", "anything"])
async def test_a_too_deep_payload_on_other_events_gets_error(ws: Any, event_name: str) -> None:
    raw = await ws()
    await raw.join(AUTH)
    await raw.send(raw_event(event_name, nested(1_000)))
    event, payload = await raw.next_event()
    assert (event, payload["error"]) == ("error", NESTING_ERROR)


async def test_a_too_deep_subscribe_over_polling_gets_subscription_error(
    http: httpx.AsyncClient,
) -> None:
    session = await RawPolling.open(http)
    await session.post("40" + json.dumps(AUTH))
    await session.get()
    await session.post(raw_event("subscribe", nested(1_000)), event_packet("subscribe", bogus(1)))
    answers: list[Any] = []
    for _ in range(5):
        answers += [p["error"] for e, p in await session.events() if e == "subscription_error"]
        if len(answers) >= 2:
            break
    assert answers == [NESTING_ERROR, "Unsupported data type: bogus"]


async def test_a_too_deep_handshake_auth_closes(ws: Any) -> None:
    raw = await ws()
    await raw.send('40{"token":' + nested(1_000) + "}")
    assert await raw.wait_closed()


# -- (d) a slow long-polling reader gets one, current, version per stream ------------------------

POLLED_STREAMS = [
    ("ticker", "BTC/USDT"),
    ("ticker", "ETH/USDT"),
    ("orderbook", "BTC/USDT"),
    ("trades", "BTC/USDT"),
]


def version_of(data_type: str, data: Any) -> Any:
    if data_type == "ticker":
        return data["last"]
    if data_type == "orderbook":
        return data["nonce"]
    return [trade["id"] for trade in data]


async def push_version(fake_backend: FakeBackend, data_type: str, symbol: str, v: int) -> None:
    gateway = await fake_backend.watching_gateway(data_type, symbol)
    sample = gateway.sample(data_type, symbol)
    if data_type == "ticker":
        data: Any = {**sample, "last": v}
    elif data_type == "orderbook":
        data = {**sample, "nonce": v}
    else:
        data = [{**sample[0], "id": f"t{v}"}]
    assert gateway.push(data_type, symbol, data) == 1


async def polling_subscriber(http: httpx.AsyncClient) -> RawPolling:
    session = await RawPolling.open(http)
    await session.post("40" + json.dumps(AUTH))
    await session.get()
    await session.post(
        *(
            event_packet("subscribe", {"exchangeId": "fake", "symbol": s, "dataType": t})
            for t, s in POLLED_STREAMS
        )
    )
    subscribed: list[Any] = []
    for _ in range(10):
        subscribed += [p for e, p in await session.events() if e == "subscribed"]
        if len(subscribed) == len(POLLED_STREAMS):
            break
    assert len(subscribed) == len(POLLED_STREAMS)
    return session


async def test_a_slow_polling_reader_gets_only_the_latest_version_per_stream(
    http: httpx.AsyncClient, fake_backend: FakeBackend
) -> None:
    session = await polling_subscriber(http)
    for v in range(1, 7):  # six versions of every stream while the reader does not poll
        for data_type, symbol in POLLED_STREAMS:
            await push_version(fake_backend, data_type, symbol, v)
    for data_type, symbol in POLLED_STREAMS:  # every update has been delivered to the publisher
        await fake_backend.watching_gateway(data_type, symbol)
    data = [p for e, p in await session.events() if e == "data"]
    got = sorted(
        (p["dataType"], p["symbol"], repr(version_of(p["dataType"], p["data"]))) for p in data
    )
    assert got == sorted(
        [
            ("ticker", "BTC/USDT", "6"),
            ("ticker", "ETH/USDT", "6"),
            ("orderbook", "BTC/USDT", "6"),
            ("trades", "BTC/USDT", repr([f"t{v}" for v in range(1, 7)])),
        ]
    )


async def test_a_waiting_poll_gets_an_update_at_once(
    http: httpx.AsyncClient, fake_backend: FakeBackend
) -> None:
    """Positive control: latest-wins does not hold an update back from a GET that waits."""
    session = await polling_subscriber(http)
    poll = asyncio.create_task(session.events(timeout=3))
    await push_version(fake_backend, "ticker", "ETH/USDT", 7)
    events = await poll  # well before the 25 s a GET waits when nothing comes
    assert [(e, p["symbol"], p["data"]["last"]) for e, p in events] == [("data", "ETH/USDT", 7)]


# -- (e) the other limits: heartbeat, namespace join, unauthenticated, backlog, size -------------


async def test_the_handshake_announces_the_configured_heartbeat_and_size(ws: Any) -> None:
    raw = await ws()
    assert raw.handshake["pingInterval"] == 25_000
    assert raw.handshake["pingTimeout"] == 20_000
    assert raw.handshake["maxPayload"] == 1_000_000


@pytest.mark.parametrize(
    "transport_settings", [{"ping_interval_seconds": 1, "ping_timeout_seconds": 1}]
)
async def test_a_client_that_stops_answering_pings_is_closed(ws: Any) -> None:
    silent = await ws(answer_pings=False)
    await silent.join(AUTH)
    alive = await ws()
    await alive.join(AUTH)
    assert await silent.wait_closed(timeout=6)
    assert not alive.closed.is_set()
    await alive.send(event_packet("subscribe", bogus(1)))
    assert (await alive.next_event())[0] == "subscription_error"


@pytest.mark.parametrize("transport_settings", [{"connect_timeout_seconds": 0.3}])
async def test_a_session_that_joins_no_namespace_is_closed(ws: Any) -> None:
    idle = await ws()
    joined = await ws()
    await joined.join(AUTH)
    assert await idle.wait_closed()
    assert not joined.closed.is_set()
    await joined.send(event_packet("subscribe", bogus(1)))
    assert (await joined.next_event())[0] == "subscription_error"


@pytest.mark.parametrize("transport_settings", [{"max_unauthenticated_connections": 2}])
async def test_unauthenticated_connections_are_capped(ws: Any, http: httpx.AsyncClient) -> None:
    first = await ws()
    await first.join()
    second = await ws()
    await second.join()
    params = {"EIO": "4", "transport": "polling"}
    refused = await http.get("/socket.io/", params=params)
    assert refused.status_code == 401
    await first.send(event_packet("authenticate", AUTH))
    assert (await first.next_event())[0] == "authenticated"
    admitted = await http.get("/socket.io/", params=params)
    assert admitted.status_code == 200


@pytest.mark.parametrize("transport_settings", [{"max_queued_packets": 8}])
async def test_a_client_that_does_not_read_its_replies_is_closed(http: httpx.AsyncClient) -> None:
    reader = await RawPolling.open(http)
    await reader.post("40")
    await reader.get()
    await reader.post(*(event_packet("subscribe", bogus(i)) for i in range(5)))
    answers: list[Any] = []
    for _ in range(5):
        answers += await reader.events()
        if len(answers) >= 5:
            break
    assert [e for e, _ in answers] == ["subscription_error"] * 5  # positive control
    hoarder = await RawPolling.open(http)
    await hoarder.post("40")
    await hoarder.get()
    await hoarder.post(*(event_packet("subscribe", bogus(i)) for i in range(40)))

    async def session_gone() -> bool:
        return (await hoarder.post("6")).status_code == 400  # engine.io NOOP

    await eventually(session_gone)


@pytest.mark.parametrize("transport_settings", [{"max_events_before_auth": 3}])
async def test_events_before_authentication_are_capped(ws: Any) -> None:
    anonymous = await ws()
    await anonymous.join()
    for i in range(3):
        await anonymous.send(event_packet("subscribe", bogus(i)))
        event, payload = await anonymous.next_event()
        assert (event, payload["error"]) == ("subscription_error", "Not authenticated")
    await anonymous.send(event_packet("subscribe", bogus(4)))
    assert await anonymous.wait_closed()
    member = await ws()  # the cap does not apply once authenticated
    await member.join(AUTH)
    for i in range(6):
        await member.send(event_packet("subscribe", bogus(i)))
        assert (await member.next_event())[0] == "subscription_error"
    assert not member.closed.is_set()


@pytest.mark.parametrize("transport_settings", [{"max_http_buffer_size": 10_000}])
async def test_messages_over_the_size_limit_close(ws: Any, http: httpx.AsyncClient) -> None:
    raw = await ws()
    await raw.join(AUTH)
    padded = {**bogus(1), "pad": "x" * 5_000}
    await raw.send(event_packet("subscribe", padded))
    assert (await raw.next_event())[0] == "subscription_error"  # under the limit: read
    await raw.send(event_packet("subscribe", {**bogus(1), "pad": "x" * 20_000}))
    assert await raw.wait_closed()
    session = await RawPolling.open(http)
    await session.post("40" + json.dumps(AUTH))
    await session.get()
    too_big = await session.post(event_packet("subscribe", {**bogus(1), "pad": "x" * 20_000}))
    assert too_big.status_code == 400
    assert (await session.get())[0] == 400  # the session is gone
