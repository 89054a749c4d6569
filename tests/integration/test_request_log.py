"""One log line per HTTP request, with its fields, through the whole served application."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import structlog

from app.observability import configure_logging
from app.testing.fakes import FakeBackend
from tests.support.app import AUTH, make_app, make_settings
from tests.support.server import running_server


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure_logging("info", "json", stream=stream)
    yield stream
    structlog.reset_defaults()
    logging.getLogger().handlers.clear()


def request_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    return [line for line in lines if line.get("event") == "http_request"]


async def test_each_request_writes_one_line_with_its_fields(log_stream: io.StringIO) -> None:
    application = make_app(make_settings(), [FakeBackend()])
    async with running_server(application) as base_url, httpx.AsyncClient(base_url=base_url) as c:
        health = await c.get("/health?probe=1")
        denied = await c.post("/api/exchange/fetchTicker", json={})
        mine = await c.get("/api/backends", headers={**AUTH, "X-Request-ID": "req-42.a_b"})
        odd = await c.get("/health", headers={"X-Request-ID": "no spaces allowed"})
        # UTF-8 "ü½": latin-1 letters to isalnum(); would come back double-encoded.
        utf8 = await c.get("/health", headers={"X-Request-ID": "abc\u00fc\u00bd".encode()})
    lines = request_lines(log_stream)[:4]
    assert [(ln["method"], ln["path"], ln["status"]) for ln in lines] == [
        ("GET", "/health", 200),  # never the query
        ("POST", "/api/exchange/fetchTicker", 401),
        ("GET", "/api/backends", 200),
        ("GET", "/health", 200),
    ]
    for line, response in zip(lines, (health, denied, mine, odd), strict=True):
        assert line["level"] == "info" and line["logger"] == "app.http"
        assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
        assert line["request_id"] == response.headers["x-request-id"]
        assert line["timestamp"].endswith("Z")
    assert mine.headers["x-request-id"] == "req-42.a_b"  # a sane incoming id is kept
    assert len(odd.headers["x-request-id"]) == 32  # an unsafe one is replaced
    assert len(health.headers["x-request-id"]) == 32
    assert health.headers["x-request-id"] != odd.headers["x-request-id"]
    assert len(utf8.headers["x-request-id"]) == 32  # replaced, not echoed re-encoded
    assert request_lines(log_stream)[4]["request_id"] == utf8.headers["x-request-id"]


async def test_lines_inside_a_request_carry_its_request_id(log_stream: io.StringIO) -> None:
    """The request id is bound for the request's whole life, not only the closing line."""
    backend = FakeBackend()
    application = make_app(make_settings(), [backend])
    config = {"exchangeId": "fake"}
    async with running_server(application) as base_url, httpx.AsyncClient(base_url=base_url) as c:
        await c.post("/api/exchange/instance", json=config, headers=AUTH)
        backend.created[0].fail_next("fetch_ticker", RuntimeError("our own bug"))
        crashed = await c.post(
            "/api/exchange/fetchTicker",
            json={"config": config, "symbol": "BTC/USDT"},
            headers={**AUTH, "X-Request-ID": "rid-inside-1"},
        )
    assert crashed.status_code == 500
    lines = [json.loads(line) for line in log_stream.getvalue().splitlines()]
    inside = [ln for ln in lines if ln.get("event") == "unhandled_error"]
    assert inside and all(ln["request_id"] == "rid-inside-1" for ln in inside)
    assert request_lines(log_stream)[-1]["request_id"] == "rid-inside-1"
    assert request_lines(log_stream)[-1]["status"] == 500
