"""Bearer auth, CORS as the original, health and the OpenAPI docs."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from app.testing.fakes import FakeBackend
from tests.support.app import AUTH, TOKEN, http_client, make_app, make_settings

Client = AsyncTestClient[Any]
BODY = {"config": {"exchangeId": "fake"}, "symbol": "BTC/USDT"}


async def test_missing_token_is_401(client: Client) -> None:
    response = await client.post("/api/exchange/fetchTicker", json=BODY)
    assert response.status_code == 401
    assert response.json() == {"error": "Access token required"}


@pytest.mark.parametrize(
    "header", ["Bearer ", "Bearer", "Basic dXNlcjpwYXNz", "token-without-scheme"]
)
async def test_empty_or_non_bearer_token_is_401(client: Client, header: str) -> None:
    response = await client.post(
        "/api/exchange/fetchTicker", json=BODY, headers={"Authorization": header}
    )
    assert response.status_code == 401


@pytest.mark.parametrize("token", ["wrong", TOKEN + "x", TOKEN[:-1], "your-secret-token"])
async def test_wrong_token_is_403(client: Client, token: str) -> None:
    response = await client.post(
        "/api/exchange/fetchTicker", json=BODY, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 403
    assert response.json() == {"error": "Invalid token"}


async def test_right_token_passes_and_scheme_is_case_insensitive(client: Client) -> None:
    ok = await client.post("/api/exchange/fetchTicker", json=BODY, headers=AUTH)
    lower = await client.post(
        "/api/exchange/fetchTicker", json=BODY, headers={"Authorization": f"bearer {TOKEN}"}
    )
    assert ok.status_code == 200 and lower.status_code == 200


async def test_auth_comes_before_body_validation(client: Client) -> None:
    response = await client.post("/api/exchange/fetchTicker", content=b"{broken")
    assert response.status_code == 401


async def test_health_is_open_and_shaped_like_the_original(client: Client) -> None:
    response = await client.get("/health")
    body = response.json()
    assert response.status_code == 200 and body["status"] == "ok"
    assert body["timestamp"].endswith("Z") and "T" in body["timestamp"]


async def test_default_token_works_when_no_api_token_is_set() -> None:
    settings = make_settings(api_token=None)
    settings.api_token = None
    async with http_client(make_app(settings, [FakeBackend()])) as client:
        response = await client.post(
            "/api/exchange/fetchTicker",
            json=BODY,
            headers={"Authorization": "Bearer your-secret-token"},
        )
    assert response.status_code == 200


async def test_cors_preflight_is_204_without_auth(client: Client) -> None:
    response = await client.options(
        "/api/exchange/fetchTicker",
        headers={
            "Origin": "http://terminal.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type,x-requested-with",
        },
    )
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == "*"
    methods = response.headers["access-control-allow-methods"]
    assert all(m in methods for m in ("GET", "POST", "PUT", "DELETE", "OPTIONS"))
    allowed = response.headers["access-control-allow-headers"].lower()
    assert all(h in allowed for h in ("content-type", "authorization", "x-requested-with"))


async def test_cors_headers_are_on_errors_too(client: Client) -> None:
    response = await client.post(
        "/api/exchange/fetchTicker", json=BODY, headers={"Origin": "http://terminal.example"}
    )
    assert response.status_code == 401
    assert response.headers["access-control-allow-origin"] == "*"


async def test_cors_origins_are_configurable() -> None:
    settings = make_settings(cors_origins=["https://app.example"])
    async with http_client(make_app(settings, [FakeBackend()])) as client:
        allowed = await client.get("/health", headers={"Origin": "https://app.example"})
        denied = await client.get("/health", headers={"Origin": "https://evil.example"})
    assert allowed.headers.get("access-control-allow-origin") == "https://app.example"
    assert "access-control-allow-origin" not in denied.headers


async def test_openapi_documents_every_endpoint_body_and_error(client: Client) -> None:
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    spec = response.json()
    paths = spec["paths"]
    for name in (
        "instance",
        "fetchTicker",
        "fetchOrderBook",
        "fetchTrades",
        "fetchOHLCV",
        "fetchBalance",
        "capabilities",
    ):
        operation = paths[f"/api/exchange/{name}"]["post"]
        assert "requestBody" in operation, name
        for status in ("200", "400", "401", "403", "501", "502", "503", "504"):
            assert status in operation["responses"], (name, status)
    assert "/health" in paths
    schemas = spec["components"]["schemas"]
    assert {"ErrorBody", "ExchangeConfigBody", "SymbolRequest", "InstanceResponse"} <= set(schemas)
    assert spec["components"]["securitySchemes"]["BearerToken"]["scheme"] == "bearer"


async def test_docs_ui_is_open_without_a_token(client: Client) -> None:
    response = await client.get("/schema")
    assert response.status_code == 200 and "<html" in response.text.lower()


async def test_docs_can_be_turned_off() -> None:
    async with http_client(make_app(make_settings(docs_enabled=False), [FakeBackend()])) as client:
        response = await client.get("/schema/openapi.json")
    assert response.status_code in (401, 404)


async def test_backends_introspection_lists_loaded_backends(client: Client) -> None:
    response = await client.get("/api/backends", headers=AUTH)
    assert response.status_code == 200
    assert response.json()["data"] == [
        {"name": "fake", "status": "loaded", "exchanges": 1, "error": None}
    ]
