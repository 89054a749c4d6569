"""A balance stream's credentials never reach its subscribers' error events or the logs."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest
import structlog

from app.domain.errors import AuthenticationFailed, ExchangeUnreachable
from app.observability import configure_logging
from app.testing.fakes import FakeBackend
from tests.e2e.test_socketio import Connect, authed, gateway

API_KEY = "SOCKETKEY-0123456789"
SECRET = "SOCKETSECRET-9876543210"


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure_logging("debug", "json", stream=stream)
    yield stream
    structlog.reset_defaults()
    logging.getLogger().handlers.clear()


async def test_exchange_errors_quoting_credentials_are_scrubbed(
    connect: Connect, fake_backend: FakeBackend, log_stream: io.StringIO
) -> None:
    client = await authed(connect)
    config = {"exchangeId": "fake", "ccxtType": "pro", "apiKey": API_KEY, "secret": SECRET}
    await client.emit(
        "subscribe", {"exchangeId": "fake", "symbol": "", "dataType": "balance", "config": config}
    )
    subscribed = await client.expect("subscribed")
    gw = await gateway(fake_backend, "balance", "")
    gw.fail_next("watch_balance", ExchangeUnreachable(f"reset while using key {API_KEY}"))
    gw.push("balance", "", {"total": {}})
    await client.expect("data")
    stream_error = await client.expect("error")
    assert stream_error["subscriptionId"] == subscribed["subscriptionId"]
    assert API_KEY not in stream_error["error"] and "[REDACTED]" in stream_error["error"]

    # A refused subscription whose error quotes the secret.
    gw.fail_next("capabilities", AuthenticationFailed(f"bad secret {SECRET}"))
    await client.emit(
        "subscribe",
        {"exchangeId": "fake", "symbol": "BTC/USDT", "dataType": "ticker", "config": config},
    )
    refused = await client.expect("subscription_error")
    assert SECRET not in str(refused)
    logs = log_stream.getvalue()
    assert "stream_" in logs, "the scenario must have logged"
    assert API_KEY not in logs and SECRET not in logs
