"""REST endpoints of /api/exchange/* through the real app on a fake backend."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from app.domain import errors as domain
from app.testing.fakes import FakeBackend
from tests.support.app import AUTH

CONFIG = {"exchangeId": "fake"}
Client = AsyncTestClient[Any]


async def post(client: Client, path: str, body: Any) -> Any:
    return await client.post(f"/api/exchange/{path}", json=body, headers=AUTH)


def only_gateway(backend: FakeBackend) -> Any:
    assert len(backend.created) == 1
    return backend.created[0]


# -- success shapes --------------------------------------------------------------------------


async def test_instance_echoes_the_config_flat_with_defaults(client: Client) -> None:
    response = await post(client, "instance", {"exchangeId": "fake", "extra": "ignored"})
    assert response.status_code == 200
    assert response.json() == {
        "success": True,
        "exchangeId": "fake",
        "marketType": "spot",
        "ccxtType": "regular",
        "sandbox": False,
        "hasCredentials": False,
    }


async def test_instance_reports_credentials_without_echoing_them(client: Client) -> None:
    body = {
        "exchangeId": "fake",
        "apiKey": "K-123",
        "secret": "S-456",
        "sandbox": True,
        "marketType": "futures",
        "ccxtType": "pro",
    }
    response = await post(client, "instance", body)
    data = response.json()
    assert data["hasCredentials"] is True and data["sandbox"] is True
    assert (data["marketType"], data["ccxtType"]) == ("futures", "pro")
    assert "K-123" not in response.text and "S-456" not in response.text


async def test_fetch_ticker(client: Client, fake_backend: FakeBackend) -> None:
    response = await post(client, "fetchTicker", {"config": CONFIG, "symbol": "BTC/USDT"})
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True and body["data"]["symbol"] == "BTC/USDT"
    assert only_gateway(fake_backend).calls["fetch_ticker"] == 1


async def test_fetch_order_book_passes_limit(client: Client, fake_backend: FakeBackend) -> None:
    body = {"config": CONFIG, "symbol": "BTC/USDT", "limit": 5}
    response = await post(client, "fetchOrderBook", body)
    book = response.json()["data"]
    assert response.status_code == 200 and len(book["bids"]) <= 5
    assert only_gateway(fake_backend).last_args["fetch_order_book"][1] == 5


async def test_fetch_trades_honours_since_and_limit(
    client: Client, fake_backend: FakeBackend
) -> None:
    since = 1_699_900_000_000
    body = {"config": CONFIG, "symbol": "BTC/USDT", "since": since, "limit": 3}
    response = await post(client, "fetchTrades", body)
    trades = response.json()["data"]
    assert response.status_code == 200
    assert only_gateway(fake_backend).last_args["fetch_trades"][1:3] == (since, 3)
    assert 0 < len(trades) <= 3 and all(t["timestamp"] >= since for t in trades)


async def test_fetch_ohlcv_honours_timeframe_since_limit(
    client: Client, fake_backend: FakeBackend
) -> None:
    since = 1_699_900_000_000
    body = {"config": CONFIG, "symbol": "BTC/USDT", "timeframe": "1h", "since": since, "limit": 4}
    response = await post(client, "fetchOHLCV", body)
    rows = response.json()["data"]
    assert response.status_code == 200 and len(rows) == 4
    assert rows[0][0] >= since and rows[1][0] - rows[0][0] == 3_600_000
    assert only_gateway(fake_backend).last_args["fetch_ohlcv"][1:4] == ("1h", since, 4)


async def test_fetch_ohlcv_defaults_to_one_minute(
    client: Client, fake_backend: FakeBackend
) -> None:
    await post(client, "fetchOHLCV", {"config": CONFIG, "symbol": "BTC/USDT"})
    assert only_gateway(fake_backend).last_args["fetch_ohlcv"][1] == "1m"


async def test_params_are_passed_through(client: Client, fake_backend: FakeBackend) -> None:
    body = {"config": CONFIG, "symbol": "BTC/USDT", "params": {"type": "spot", "n": 1}}
    await post(client, "fetchTicker", body)
    assert only_gateway(fake_backend).last_args["fetch_ticker"][1] == {"type": "spot", "n": 1}


async def test_fetch_balance_with_credentials(client: Client) -> None:
    config = {**CONFIG, "apiKey": "key", "secret": "secret"}
    response = await post(client, "fetchBalance", {"config": config})
    data = response.json()["data"]
    assert response.status_code == 200
    for currency, free in data["free"].items():
        assert free + data["used"][currency] == pytest.approx(data["total"][currency])


async def test_capabilities_shape(client: Client) -> None:
    response = await post(client, "capabilities", {"config": CONFIG})
    data = response.json()["data"]
    assert response.status_code == 200
    assert set(data) == {"has", "markets", "symbols", "timeframes", "fees"}
    assert data["markets"] == data["symbols"] and "BTC/USDT" in data["symbols"]
    assert data["has"]["fetchTicker"] is True


async def test_instances_are_reused_across_requests(
    client: Client, fake_backend: FakeBackend
) -> None:
    for _ in range(3):
        await post(client, "fetchTicker", {"config": CONFIG, "symbol": "BTC/USDT"})
    assert len(fake_backend.created) == 1


# -- error texts and statuses ---------------------------------------------------------------

ENDPOINTS = [
    ("fetchTicker", "fetch_ticker", "Failed to fetch ticker", {"symbol": "BTC/USDT"}),
    ("fetchOrderBook", "fetch_order_book", "Failed to fetch orderbook", {"symbol": "BTC/USDT"}),
    ("fetchTrades", "fetch_trades", "Failed to fetch trades", {"symbol": "BTC/USDT"}),
    ("fetchOHLCV", "fetch_ohlcv", "Failed to fetch OHLCV", {"symbol": "BTC/USDT"}),
    ("fetchBalance", "fetch_balance", "Failed to fetch balance", {}),
    ("capabilities", "capabilities", "Failed to get capabilities", {}),
]
FAILURES = [
    (domain.BadSymbol("no such market", error_type="BadSymbol"), 400, "BadSymbol"),
    (domain.BadInput("bad", error_type="BadRequest"), 400, "BadRequest"),
    (
        domain.AuthenticationFailed("bad key", error_type="AuthenticationError"),
        400,
        "AuthenticationError",
    ),
    (domain.RateLimited("slow down", error_type="RateLimitExceeded"), 429, "RateLimitExceeded"),
    (domain.RateLimited("blocked", error_type="DDoSProtection"), 429, "DDoSProtection"),
    (domain.NotSupported("nope", error_type="NotSupported"), 501, "NotSupported"),
    (domain.ExchangeUnreachable("net", error_type="NetworkError"), 502, "NetworkError"),
    (domain.ExchangeError("odd", error_type="ExchangeError"), 502, "ExchangeError"),
    (
        domain.ExchangeUnavailable("maint", error_type="ExchangeNotAvailable"),
        503,
        "ExchangeNotAvailable",
    ),
    (domain.ExchangeTimeout("slow", error_type="RequestTimeout"), 504, "RequestTimeout"),
]


@pytest.mark.parametrize(("path", "method", "text", "extra"), ENDPOINTS)
@pytest.mark.parametrize(("error", "status", "error_type"), FAILURES)
async def test_exchange_failures_keep_the_fixed_text_and_get_a_meaningful_status(
    client: Client,
    fake_backend: FakeBackend,
    path: str,
    method: str,
    text: str,
    extra: dict[str, Any],
    error: domain.DomainError,
    status: int,
    error_type: str,
) -> None:
    config = {**CONFIG, "apiKey": "k", "secret": "s"}
    await post(client, "instance", config)
    only_gateway(fake_backend).fail_next(method, error)
    response = await post(client, path, {"config": config, **extra})
    assert response.status_code == status
    assert response.json() == {"error": text, "details": error.details, "errorType": error_type}


async def test_instance_failure_text(client: Client, fake_backend: FakeBackend) -> None:
    fake_backend.gateway_kwargs["load_markets_delay"] = 0
    original = fake_backend.create

    def failing(config: Any) -> Any:
        gateway = original(config)
        gateway.fail_next(
            "load_markets", domain.ExchangeUnavailable("down", error_type="ExchangeNotAvailable")
        )
        return gateway

    fake_backend.create = failing  # type: ignore[method-assign]
    response = await post(client, "instance", CONFIG)
    assert response.status_code == 503
    assert response.json()["error"] == "Failed to create exchange instance"


async def test_missing_exchange_id_on_instance(client: Client) -> None:
    response = await post(client, "instance", {"marketType": "spot"})
    assert response.status_code == 400
    assert response.json()["error"] == "exchangeId is required"


@pytest.mark.parametrize("name", ["constructor", "__proto__", "toString", "not-an-exchange"])
async def test_unknown_and_prototype_exchange_ids_are_400(client: Client, name: str) -> None:
    response = await post(
        client, "fetchTicker", {"config": {"exchangeId": name}, "symbol": "BTC/USDT"}
    )
    assert response.status_code == 400
    assert response.json()["errorType"] == "UnknownExchange"
    response = await post(client, "instance", {"exchangeId": name})
    assert response.status_code == 400
    assert response.json()["error"] == "Failed to create exchange instance"


async def test_balance_without_credentials(client: Client) -> None:
    response = await post(client, "fetchBalance", {"config": CONFIG})
    assert response.status_code == 400
    assert response.json()["error"] == "API credentials required for balance"


async def test_unknown_symbol_is_400_bad_symbol(client: Client) -> None:
    response = await post(client, "fetchTicker", {"config": CONFIG, "symbol": "NOPE/USDT"})
    assert response.status_code == 400
    assert response.json()["errorType"] == "BadSymbol"


# -- malformed input --------------------------------------------------------------------------

MALFORMED_BODIES = [
    ({"config": CONFIG}, "symbol is required"),
    ({"config": CONFIG, "symbol": ""}, "symbol is required"),
    ({"config": CONFIG, "symbol": 42}, "symbol"),
    ({"config": CONFIG, "symbol": ["BTC/USDT"]}, "symbol"),
    ({"config": "binance", "symbol": "BTC/USDT"}, "config"),
    ({"config": {"exchangeId": 5}, "symbol": "BTC/USDT"}, "exchangeId"),
    ({"config": {}, "symbol": "BTC/USDT"}, "exchangeId"),
    ({"symbol": "BTC/USDT"}, "config"),
    ({"config": {**CONFIG, "marketType": "margin"}, "symbol": "BTC/USDT"}, "marketType"),
    ({"config": {**CONFIG, "sandbox": "yes"}, "symbol": "BTC/USDT"}, "sandbox"),
    ({"config": CONFIG, "symbol": "BTC/USDT", "params": []}, "params"),
    ([1, 2, 3], "object"),
    ("just a string", "object"),
    (None, "body"),
]


@pytest.mark.parametrize(("body", "hint"), MALFORMED_BODIES)
async def test_malformed_bodies_are_400_in_the_error_shape(
    client: Client, body: Any, hint: str
) -> None:
    response = await post(client, "fetchTicker", body)
    assert response.status_code == 400, response.text
    payload = response.json()
    assert payload["error"] == "Failed to fetch ticker"
    assert hint.lower() in payload["details"].lower()


@pytest.mark.parametrize(
    ("path", "body", "hint"),
    [
        ("fetchTrades", {"config": CONFIG, "symbol": "BTC/USDT", "since": -1}, "since"),
        ("fetchTrades", {"config": CONFIG, "symbol": "BTC/USDT", "since": "yesterday"}, "since"),
        ("fetchTrades", {"config": CONFIG, "symbol": "BTC/USDT", "limit": 0}, "limit"),
        ("fetchOrderBook", {"config": CONFIG, "symbol": "BTC/USDT", "limit": 1.5}, "limit"),
        ("fetchOHLCV", {"config": CONFIG, "symbol": "BTC/USDT", "timeframe": 60}, "timeframe"),
        (
            "fetchOHLCV",
            {"config": CONFIG, "symbol": "BTC/USDT", "timeframe": "1h; drop"},
            "timeframe",
        ),
    ],
)
async def test_ill_typed_numbers_are_400(client: Client, path: str, body: Any, hint: str) -> None:
    response = await post(client, path, body)
    assert response.status_code == 400, response.text
    assert hint in response.json()["details"]


@pytest.mark.parametrize(
    ("raw", "content_type", "hint"),
    [
        (b"{not json", "application/json", "malformed"),
        (b"", "application/json", "body is required"),
        (b'{"config": {"exchangeId": "fake"}, "symbol": "BTC/USDT"}', "text/plain", "Content-Type"),
        (b"symbol=BTC", "application/x-www-form-urlencoded", "Content-Type"),
        (b'{"config": {"exchangeId": "fake"}, "symbol": "BTC/USDT"}', "", "Content-Type"),
    ],
)
async def test_malformed_json_and_wrong_content_types(
    client: Client, raw: bytes, content_type: str, hint: str
) -> None:
    headers = {**AUTH, "Content-Type": content_type} if content_type else dict(AUTH)
    response = await client.post("/api/exchange/fetchTicker", content=raw, headers=headers)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/json")
    payload = response.json()
    assert payload["error"] == "Failed to fetch ticker"
    assert hint.lower() in payload["details"].lower()


async def test_json_with_charset_is_accepted(client: Client) -> None:
    response = await client.post(
        "/api/exchange/fetchTicker",
        content=b'{"config": {"exchangeId": "fake"}, "symbol": "BTC/USDT"}',
        headers={**AUTH, "Content-Type": "application/json; charset=utf-8"},
    )
    assert response.status_code == 200


async def test_unknown_path_and_wrong_method_answer_json(client: Client) -> None:
    missing = await client.get("/api/nope", headers=AUTH)
    assert missing.status_code == 404 and missing.json()["error"] == "Not found"
    wrong = await client.get("/api/exchange/fetchTicker", headers=AUTH)
    assert wrong.status_code == 405 and "error" in wrong.json()


async def test_our_own_bug_is_a_500_with_the_endpoint_text_and_no_internals(
    client: Client, fake_backend: FakeBackend
) -> None:
    await post(client, "instance", CONFIG)
    only_gateway(fake_backend).fail_next("fetch_ticker", ZeroDivisionError("secret internals"))
    response = await post(client, "fetchTicker", {"config": CONFIG, "symbol": "BTC/USDT"})
    assert response.status_code == 500
    assert response.json() == {
        "error": "Failed to fetch ticker",
        "details": "Internal server error",
        "errorType": "InternalError",
    }
