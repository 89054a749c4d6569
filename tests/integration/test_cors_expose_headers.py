"""A browser page on another origin can read our own response headers (X-Data-Source, ...)."""

from __future__ import annotations

from app.testing.fakes import FakeBackend
from tests.support.app import AUTH, http_client, make_app, make_settings

BODY = {"config": {"exchangeId": "fake"}, "symbol": "BTC/USDT"}
ORIGIN = {"Origin": "http://terminal.example"}


async def test_cross_origin_answers_expose_the_data_source_request_id_and_retry_after() -> None:
    async with http_client(make_app(make_settings(), [FakeBackend()])) as client:
        read = await client.post("/api/exchange/fetchTicker", json=BODY, headers={**AUTH, **ORIGIN})
        refused = await client.post("/api/exchange/fetchTicker", json=BODY, headers=ORIGIN)
        same_origin = await client.post("/api/exchange/fetchTicker", json=BODY, headers=AUTH)
    assert read.status_code == 200 and read.headers["x-data-source"] == "exchange"
    exposed = {h.strip().lower() for h in read.headers["access-control-expose-headers"].split(",")}
    assert exposed >= {"x-data-source", "x-data-age-ms", "x-request-id", "retry-after"}
    assert "access-control-expose-headers" in refused.headers  # errors too (a 401 here)
    # positive control: without an Origin header there is no CORS answer at all
    assert same_origin.status_code == 200
    assert "access-control-expose-headers" not in same_origin.headers
