"""The raw road of the hot reads answers exactly as the Litestar routes would (ADR 0121).

Two identical applications get the same requests in the same order: one with the road, one
with it switched off (every request through Litestar). Status, headers (but the request id
and the data age) and body must be equal, and the road must have answered exactly the
ordinary requests (the Litestar app is not entered for them).
"""

from __future__ import annotations

import gzip
import io
import json
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
import structlog
from litestar.testing import AsyncTestClient

from app.domain.errors import ExchangeUnavailable
from app.entrypoints.asgi import Application
from app.observability import configure_logging
from app.settings import TokenSettings
from app.testing.fakes import FakeBackend
from tests.support.app import AUTH, make_app, make_settings

TICKER = "/api/exchange/fetchTicker"
BODY = {"config": {"exchangeId": "fake"}, "symbol": "BTC/USDT"}
JSON = {"Content-Type": "application/json"}
QUOTA_TOKEN = "quota-token-value-0001"
IGNORED = {"x-request-id", "x-data-age-ms"}


@dataclass
class Side:
    """One application, a client on it, and how many requests reached its Litestar app."""

    application: Application
    backend: FakeBackend
    client: AsyncTestClient[Any]
    entered: list[str] = field(default_factory=list)


def _settings() -> Any:
    import hashlib

    settings = make_settings()
    digest = hashlib.sha256(QUOTA_TOKEN.encode()).hexdigest()
    settings.tokens = [TokenSettings(name="desk-q", sha256=digest, requests_per_minute=3)]
    return settings


@asynccontextmanager
async def side(*, road: bool) -> AsyncIterator[Side]:
    backend = FakeBackend()
    application = make_app(_settings(), [backend])
    assert application.fast_reads is not None
    assert set(application.fast_reads.roads) == {
        TICKER,
        "/api/exchange/fetchOrderBook",
        "/api/exchange/fetchTrades",
        "/api/exchange/fetchOHLCV",
    }
    if not road:
        application.fast_reads.roads.clear()
    http = application.http
    inner = http.asgi_handler
    entered: list[str] = []

    async def counting(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            entered.append(scope["path"])
        await inner(scope, receive, send)

    http.asgi_handler = counting
    async with AsyncTestClient(app=application) as client:  # type: ignore[arg-type]
        yield Side(application, backend, client, entered)


def _answer(response: Any) -> tuple[int, list[tuple[str, str]], bytes]:
    headers = [
        # Litestar lists a 405's Allow methods from a set: the order varies between apps.
        (k, ", ".join(sorted(v.split(", "))) if k == "allow" else v)
        for k, v in response.headers.multi_items()
        if k not in IGNORED
    ]
    return response.status_code, headers, response.content


@dataclass(frozen=True)
class Case:
    name: str
    road: bool  # True: the raw road answers; False: handed to Litestar
    path: str = TICKER
    body: Any = None  # JSON value, or bytes sent as they are
    headers: dict[str, str] = field(default_factory=lambda: {**AUTH, **JSON})


CASES = [
    Case("ordinary, from the exchange", True, body=BODY),
    Case("ordinary, from the cache", True, body=BODY),
    Case("maxAgeMs 0 and params", True, body={**BODY, "maxAgeMs": 0, "params": {"a": [1]}}),
    Case("lax number text", True, body={**BODY, "maxAgeMs": "0"}),
    Case("unknown field", True, body={**BODY, "extra": 1}),
    Case(
        "duplicate key",
        True,
        body=b'{"config":{"exchangeId":"fake"},"symbol":"X","symbol":"BTC/USDT"}',
    ),
    Case(
        "+json media type",
        True,
        body=BODY,
        headers={**AUTH, "Content-Type": "application/vnd.x+json; charset=utf-8"},
    ),
    Case("order book", True, "/api/exchange/fetchOrderBook", {**BODY, "limit": 5}),
    Case("trades", True, "/api/exchange/fetchTrades", {**BODY, "limit": 3, "since": 1}),
    Case("ohlcv", True, "/api/exchange/fetchOHLCV", {**BODY, "timeframe": "1h", "limit": 2}),
    Case(
        "unknown exchange: a read error",
        True,
        body={"config": {"exchangeId": "nope"}, "symbol": "BTC/USDT"},
    ),
    Case("bad symbol: a read error", True, body={**BODY, "symbol": "NOPE/USDT"}),
    Case(
        "bad market type",
        False,
        body={"config": {"exchangeId": "fake", "marketType": "x"}, "symbol": "BTC/USDT"},
    ),
    Case("missing symbol", False, body={"config": {"exchangeId": "fake"}}),
    Case("not JSON", False, body=b"{"),
    Case("JSON null", False, body=b"null"),
    Case("not UTF-8", False, body=b'{"config":{"exchangeId":"fake"},"symbol":"\xff"}'),
    Case("negative maxAgeMs", False, body={**BODY, "maxAgeMs": -1}),
    Case("byte-order mark", False, body=b"\xef\xbb\xbf" + json.dumps(BODY).encode()),
    Case("too deep", False, body={**BODY, "params": json.loads("[" * 70 + "]" * 70)}),
    Case("no token", False, body=BODY, headers=JSON),
    Case("wrong token", False, body=BODY, headers={"Authorization": "Bearer nope", **JSON}),
    Case("basic scheme", False, body=BODY, headers={"Authorization": "Basic abc", **JSON}),
    Case("text/plain", False, body=BODY, headers={**AUTH, "Content-Type": "text/plain"}),
    Case(
        "origin (CORS)", False, body=BODY, headers={**AUTH, **JSON, "Origin": "http://127.0.0.1:9"}
    ),
    Case(
        "gzip body",
        False,
        body=gzip.compress(json.dumps(BODY).encode()),
        headers={**AUTH, **JSON, "Content-Encoding": "gzip"},
    ),
    Case("trailing slash", False, path=TICKER + "/", body=BODY),
    Case("GET, not POST", False, body=None),
]


async def _send(s: Side, case: Case) -> Any:
    if case.body is None:
        return await s.client.get(case.path, headers=case.headers)
    content = case.body if isinstance(case.body, bytes) else json.dumps(case.body).encode()
    return await s.client.post(case.path, content=content, headers=case.headers)


async def test_the_road_answers_as_litestar_would() -> None:
    async with side(road=True) as fast, side(road=False) as slow:
        for case in CASES:
            before = len(fast.entered)
            fast_answer = _answer(await _send(fast, case))
            slow_answer = _answer(await _send(slow, case))
            assert fast_answer == slow_answer, case.name
            took_road = len(fast.entered) == before
            assert took_road == case.road, case.name
            assert slow.entered[-1] == case.path  # positive control: Litestar saw each one
        statuses = {case.name: _answer(await _send(slow, case))[0] for case in CASES[:2]}
        assert statuses == {case.name: 200 for case in CASES[:2]}


async def test_read_failures_are_rendered_by_the_routes_handlers() -> None:
    async with side(road=True) as fast, side(road=False) as slow:
        answers = []
        for s in (fast, slow):
            await _send(s, Case("create the instance", True, body={**BODY, "maxAgeMs": 0}))
            gateway = s.backend.created[0]
            gateway.fail_next("fetch_ticker", ExchangeUnavailable("exchange down"))
            down = await _send(s, Case("down", True, body={**BODY, "maxAgeMs": 0}))
            gateway.fail_next("fetch_ticker", RuntimeError("our own bug"))
            bug = await _send(s, Case("bug", True, body={**BODY, "maxAgeMs": 0}))
            answers.append((_answer(down), _answer(bug)))
        assert answers[0] == answers[1]
        (down_status, _, down_body), (bug_status, _, bug_body) = answers[0]
        assert down_status == 503 and json.loads(down_body)["error"] == "Failed to fetch ticker"
        assert bug_status == 500 and json.loads(bug_body) == {
            "error": "Failed to fetch ticker",
            "details": "Internal server error",
            "errorType": "InternalError",
        }
        assert fast.entered == []  # all on the road, failures included


async def test_quota_is_spent_once_per_request_on_either_road() -> None:
    """3 a minute: a body refused by Litestar's check spends one (its gate), the road's
    answers one each, and the fourth request is refused with the gate's 429."""
    headers = {"Authorization": f"Bearer {QUOTA_TOKEN}", **JSON}
    async with side(road=True) as fast:
        refused_body = await _send(fast, Case("x", False, body=b"{", headers=headers))
        first = await _send(fast, Case("x", True, body=BODY, headers=headers))
        second = await _send(fast, Case("x", True, body=BODY, headers=headers))
        third = await _send(fast, Case("x", True, body=BODY, headers=headers))
    assert (refused_body.status_code, first.status_code, second.status_code) == (400, 200, 200)
    assert third.status_code == 429
    assert third.json()["error"] == "Too many requests"
    assert third.headers["retry-after"].isdigit()
    assert fast.entered == [TICKER]  # only the bad body went to Litestar


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure_logging("info", "json", stream=stream)
    yield stream
    structlog.reset_defaults()
    logging.getLogger().handlers.clear()


async def test_the_road_still_logs_and_counts_each_request(log_stream: io.StringIO) -> None:
    headers = {"Authorization": f"Bearer {QUOTA_TOKEN}", **JSON}
    async with side(road=True) as fast:
        ok = await _send(fast, Case("x", True, body=BODY, headers=headers))
        denied = await _send(fast, Case("x", False, body=BODY, headers=JSON))
        exposition = fast.application.container.metrics().exposition().decode()
    assert fast.entered == [TICKER]  # the 401 came from Litestar's gate, the 200 from the road
    lines = [json.loads(x) for x in log_stream.getvalue().splitlines()]
    requests = [x for x in lines if x.get("event") == "http_request"]
    assert [(x["path"], x["status"], x["token_name"]) for x in requests] == [
        (TICKER, 200, "desk-q"),
        (TICKER, 401, None),
    ]
    assert [x["request_id"] for x in requests] == [
        ok.headers["x-request-id"],
        denied.headers["x-request-id"],
    ]
    assert QUOTA_TOKEN not in log_stream.getvalue()
    route = f'route="{TICKER}"'
    assert (
        f'profitmaker_http_requests_total{{method="POST",{route},status="200"}} 1.0' in exposition
    )
    assert (
        f'profitmaker_http_requests_total{{method="POST",{route},status="401"}} 1.0' in exposition
    )
