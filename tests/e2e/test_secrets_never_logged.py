"""Credentials and the API token never reach a log line or an error body."""

from __future__ import annotations

import io
import logging

import httpx
import pytest
import structlog

from app.domain.errors import AuthenticationFailed
from app.observability import configure_logging
from app.testing.fakes import FakeBackend
from tests.support.app import TOKEN, make_app, make_settings
from tests.support.server import running_server

API_KEY = "AKIAUNIQUEAPIKEY0001"
SECRET = "s3cr3t-VALUE-never-logged-0002"
PASSWORD = "pass-phrase-0003"


@pytest.fixture
def log_stream() -> io.StringIO:
    stream = io.StringIO()
    configure_logging("debug", "json", stream=stream)
    yield stream
    structlog.reset_defaults()
    logging.getLogger().handlers.clear()


async def test_no_log_line_or_error_body_contains_a_credential(log_stream: io.StringIO) -> None:
    backend = FakeBackend()
    application = make_app(make_settings(), [backend])
    config = {"exchangeId": "fake", "apiKey": API_KEY, "secret": SECRET, "password": PASSWORD}
    headers = {"Authorization": f"Bearer {TOKEN}"}
    bodies: list[str] = []
    async with (
        running_server(application) as base_url,
        httpx.AsyncClient(base_url=base_url, headers=headers) as client,
    ):
        for path, body in [
            ("instance", config),
            ("fetchBalance", {"config": config}),
            ("fetchTicker", {"config": config, "symbol": "NOPE/USDT"}),
            ("fetchTicker", {"config": {**config, "marketType": "bad"}, "symbol": "BTC/USDT"}),
        ]:
            bodies.append((await client.post(f"/api/exchange/{path}", json=body)).text)
        # An exchange error whose text quotes the credentials, as some exchanges do.
        backend.created[0].fail_next(
            "fetch_balance",
            AuthenticationFailed(
                f"invalid key {API_KEY} for secret {SECRET}", error_type="AuthenticationError"
            ),
        )
        refused = await client.post("/api/exchange/fetchBalance", json={"config": config})
        bodies.append(refused.text)
        # Our own bug, with the key inside the exception text and its traceback.
        backend.created[0].fail_next("fetch_ticker", RuntimeError(f"boom {API_KEY} {SECRET}"))
        crashed = await client.post(
            "/api/exchange/fetchTicker", json={"config": config, "symbol": "BTC/USDT"}
        )
        bodies.append(crashed.text)
        await client.post("/api/exchange/fetchTicker?apiKey=" + API_KEY, json={})
    assert refused.status_code == 400 and "[REDACTED]" in refused.json()["details"]
    assert crashed.status_code == 500
    logs = log_stream.getvalue()
    assert "http_request" in logs and "unhandled_error" in logs, "the scenario must have logged"
    for secret in (API_KEY, SECRET, PASSWORD, TOKEN):
        assert secret not in logs
        for body in bodies:
            assert secret not in body
