"""A field of the wrong JSON type gets one text on every transport: REST fetch, REST watch
and Socket.IO subscribe (the REST body is typed by msgspec first, the Socket.IO payload by the
domain; both now name the field in the domain's words). The original server fixes none of
these texts; the ones it does fix ("Missing required parameters"...) are not touched here.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from app.testing import eventually
from tests.e2e.socketio_client import EventClient
from tests.support.app import AUTH, TOKEN

CONFIG = {"exchangeId": "fake", "ccxtType": "pro"}
ONE_OF_MARKET = 'marketType must be one of "spot", "futures"'
ONE_OF_CCXT = 'ccxtType must be one of "regular", "pro"'

# (case, fields beyond config and symbol, config fields, the one expected text)
CASES: list[tuple[str, dict[str, Any], dict[str, Any], str]] = [
    ("symbol int", {"symbol": 123}, {}, "symbol must be a string"),
    ("symbol array", {"symbol": ["BTC/USDT"]}, {}, "symbol must be a string"),
    ("timeframe int", {"timeframe": 5}, {}, "timeframe must be a string like 1m, 1h or 1d"),
    ("params array", {"params": [1]}, {}, "params must be a JSON object"),
    ("params string", {"params": "x"}, {}, "params must be a JSON object"),
    ("config string", {"config": "binance"}, {}, "config must be a JSON object"),
    ("config.exchangeId int", {}, {"exchangeId": 5}, "exchangeId must be a string"),
    ("marketType int", {}, {"marketType": 5}, ONE_OF_MARKET),
    ("marketType unknown", {}, {"marketType": "options"}, ONE_OF_MARKET),
    ("ccxtType int", {}, {"ccxtType": 5}, ONE_OF_CCXT),
    ("sandbox string", {}, {"sandbox": "yes"}, "sandbox must be a boolean"),
    ("apiKey int", {}, {"apiKey": 5, "secret": "s"}, "apiKey must be a string"),
    ("secret int", {}, {"apiKey": "k", "secret": 5}, "secret must be a string"),
    (
        "password int",
        {},
        {"apiKey": "k", "secret": "s", "password": 5},
        "password must be a string",
    ),
]


async def subscription_error(url: str, payload: dict[str, Any]) -> Any:
    client = EventClient()
    await client.connect(url, auth={"token": TOKEN})
    try:
        await client.emit("subscribe", payload)
        event: str = await eventually(
            lambda: next(
                (e for e in ("subscription_error", "subscribed") if not client.queues[e].empty()),
                None,
            ),
            timeout=10,
            message="an answer to subscribe",
        )
        assert event == "subscription_error", client.queues[event].get_nowait()
        return client.queues[event].get_nowait()["error"]
    finally:
        await client.close()


@pytest.mark.parametrize(("case", "fields", "config", "text"), CASES, ids=[c[0] for c in CASES])
async def test_one_text_for_a_wrong_type_on_rest_and_socketio(
    server_url: str, case: str, fields: dict[str, Any], config: dict[str, Any], text: str
) -> None:
    data_type = "ohlcv" if "timeframe" in fields else "ticker"
    body = {"config": {**CONFIG, **config}, "symbol": "BTC/USDT", **fields}
    fetch, watch = (
        ("fetchOHLCV", "watchOHLCV")
        if data_type == "ohlcv"
        else (
            "fetchTicker",
            "watchTicker",
        )
    )
    async with httpx.AsyncClient(base_url=server_url, headers=AUTH, timeout=10) as client:
        for path in (fetch, watch):
            response = await client.post(f"/api/exchange/{path}", json=body)
            assert response.status_code == 400, (path, response.text)
            assert response.json()["details"] == text, path
            assert response.json()["errorType"] == "BadInput", path
    payload = {"exchangeId": "fake", "dataType": data_type, **body}
    assert await subscription_error(server_url, payload) == text


async def test_instance_names_its_top_level_config_fields_alike(server_url: str) -> None:
    async with httpx.AsyncClient(base_url=server_url, headers=AUTH) as client:
        for body, text in (
            ({"exchangeId": 5}, "exchangeId must be a string"),
            ({"exchangeId": "fake", "marketType": 5}, ONE_OF_MARKET),
            ({"exchangeId": "fake", "sandbox": "yes"}, "sandbox must be a boolean"),
        ):
            response = await client.post("/api/exchange/instance", json=body)
            assert (response.status_code, response.json()["details"]) == (400, text), body
        # Positive control: the same route takes the right types.
        ok = await client.post("/api/exchange/instance", json={"exchangeId": "fake"})
        assert ok.status_code == 200 and ok.json()["success"] is True
    # The top-level exchangeId of a subscription: the same words as the config's.
    payload = {"exchangeId": 5, "dataType": "ticker", "symbol": "BTC/USDT"}
    assert await subscription_error(server_url, payload) == "exchangeId must be a string"


async def test_null_reads_as_absent_and_the_originals_fixed_texts_stay(server_url: str) -> None:
    async with httpx.AsyncClient(base_url=server_url, headers=AUTH) as client:
        absent = await client.post("/api/exchange/fetchTicker", json={"config": CONFIG})
        null = await client.post(
            "/api/exchange/fetchTicker", json={"config": CONFIG, "symbol": None}
        )
    assert absent.json()["details"] == null.json()["details"] == "symbol is required"
    assert absent.json()["error"] == null.json()["error"] == "Failed to fetch ticker"
    # The original's Socket.IO text for a missing field is kept as it defines it.
    payload = {"exchangeId": "fake", "dataType": "ticker", "symbol": None, "config": CONFIG}
    assert await subscription_error(server_url, payload) == "Missing required parameters"
