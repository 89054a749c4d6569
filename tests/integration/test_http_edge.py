"""The HTTP edge (issue 10 items 4, 7, 8): bodies as the original accepted them, one nesting
limit, headers that survive the error pipeline, HEAD, and params that cannot relabel answers.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar import get
from litestar.exceptions import NotAuthorizedException, TooManyRequestsException
from litestar.testing import AsyncTestClient

from app.domain.nesting import MAX_NESTING_DEPTH
from app.entrypoints.asgi import Application
from app.entrypoints.http.body import DEFAULT_MAX_BODY_BYTES
from app.testing.fakes import FakeBackend
from tests.support.app import AUTH, make_app, make_settings
from tests.support.server import running_server

Client = AsyncTestClient[Any]
CONFIG = {"exchangeId": "fake"}
PRO = {"exchangeId": "fake", "ccxtType": "pro"}
JSON = {**AUTH, "Content-Type": "application/json"}

# Every POST endpoint, with a body it accepts and its fixed `error` text.
ENDPOINTS: list[tuple[str, dict[str, Any], str]] = [
    ("/api/exchange/instance", {"exchangeId": "fake"}, "Failed to create exchange instance"),
    (
        "/api/exchange/fetchTicker",
        {"config": CONFIG, "symbol": "BTC/USDT"},
        "Failed to fetch ticker",
    ),
    (
        "/api/exchange/fetchOrderBook",
        {"config": CONFIG, "symbol": "BTC/USDT"},
        "Failed to fetch orderbook",
    ),
    (
        "/api/exchange/fetchTrades",
        {"config": CONFIG, "symbol": "BTC/USDT"},
        "Failed to fetch trades",
    ),
    ("/api/exchange/fetchOHLCV", {"config": CONFIG, "symbol": "BTC/USDT"}, "Failed to fetch OHLCV"),
    (
        "/api/exchange/fetchBalance",
        {"config": {**CONFIG, "apiKey": "key-123456", "secret": "secret-abcdef"}},
        "Failed to fetch balance",
    ),
    ("/api/exchange/capabilities", {"config": CONFIG}, "Failed to get capabilities"),
    ("/api/exchange/watchTicker", {"config": PRO, "symbol": "BTC/USDT"}, "Failed to watch ticker"),
    (
        "/api/exchange/watchOrderBook",
        {"config": PRO, "symbol": "BTC/USDT"},
        "Failed to watch orderbook",
    ),
    ("/api/exchange/watchTrades", {"config": PRO, "symbol": "BTC/USDT"}, "Failed to watch trades"),
    ("/api/exchange/watchOHLCV", {"config": PRO, "symbol": "BTC/USDT"}, "Failed to watch OHLCV"),
    (
        "/api/exchange/watchBalance",
        {"config": {**PRO, "apiKey": "key-123456", "secret": "secret-abcdef"}},
        "Failed to watch balance",
    ),
    ("/api/proxy/request", {"url": "http://nowhere.test/"}, "Proxy request failed"),
]
IDS = [path.rsplit("/", 1)[1] for path, _, _ in ENDPOINTS]


def deep(levels: int) -> Any:
    """A JSON value of exactly ``levels`` nested objects."""
    value: Any = {}
    for _ in range(levels - 1):
        value = {"x": value}
    return value


def with_deep_part(body: dict[str, Any], levels: int) -> dict[str, Any]:
    """``body`` with a value that makes the whole body ``levels`` deep."""
    key = "exchangeId" if "exchangeId" in body else ("body" if "url" in body else "params")
    if key == "exchangeId":  # the instance body is the config itself: nest an ignored field
        return {**body, "extra": deep(levels - 1)}
    return {**body, key: deep(levels - 1)}


# -- nesting: one limit on every endpoint ----------------------------------------------------


@pytest.mark.parametrize(("path", "body", "error"), ENDPOINTS, ids=IDS)
@pytest.mark.parametrize("levels", [MAX_NESTING_DEPTH + 1, 1_000, 50_000])
async def test_bodies_nested_beyond_the_limit_answer_400_on_every_endpoint(
    client: Client, path: str, body: dict[str, Any], error: str, levels: int
) -> None:
    raw = json.dumps(with_deep_part(body, levels)) if levels < 900 else _deep_text(body, levels)
    response = await client.post(path, content=raw, headers=JSON)
    assert response.status_code == 400, response.text
    assert response.json() == {
        "error": error,
        "details": f"JSON is nested deeper than {MAX_NESTING_DEPTH} levels",
        "errorType": "NestingTooDeep",
    }


def _deep_text(body: dict[str, Any], levels: int) -> str:
    # json.dumps itself recurses: build the deep text by hand (2 KB for 1,000 levels).
    marker = json.dumps(with_deep_part(body, 2))
    return marker.replace("{}", '{"x":' * (levels - 2) + "{}" + "}" * (levels - 2), 1)


async def test_a_body_exactly_at_the_limit_is_accepted(client: Client) -> None:
    body = with_deep_part({"config": CONFIG, "symbol": "BTC/USDT"}, MAX_NESTING_DEPTH)
    response = await client.post("/api/exchange/fetchTicker", json=body, headers=AUTH)
    assert response.status_code == 200, response.text


# -- headers survive the error pipeline, HEAD ----------------------------------------------


async def test_405_carries_allow(client: Client) -> None:
    response = await client.get("/api/exchange/fetchTicker", headers=AUTH)
    assert response.status_code == 405
    assert "POST" in response.headers["allow"].split(", ")
    assert response.json()["error"] == "Method not allowed"


async def test_every_header_an_http_error_carries_is_sent() -> None:
    @get("/retry")
    async def retry() -> None:
        raise TooManyRequestsException(headers={"Retry-After": "7"})

    @get("/challenge")
    async def challenge() -> None:
        raise NotAuthorizedException(headers={"WWW-Authenticate": 'Bearer realm="x"'})

    application = make_app(make_settings(), [FakeBackend()])
    application.http.register(retry)
    application.http.register(challenge)
    async with AsyncTestClient(app=application.http) as test_client:
        retried = await test_client.get("/retry", headers=AUTH)
        challenged = await test_client.get("/challenge", headers=AUTH)
    assert retried.status_code == 429 and retried.headers["retry-after"] == "7"
    assert challenged.status_code == 401
    assert challenged.headers["www-authenticate"] == 'Bearer realm="x"'
    assert set(retried.json()) == {"error", "details", "errorType"}


async def test_401_names_the_bearer_scheme_and_keeps_the_contract_body(client: Client) -> None:
    response = await client.post("/api/exchange/fetchTicker", json={})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json() == {"error": "Access token required"}


@pytest.fixture
async def server(fake_backend: FakeBackend) -> AsyncIterator[httpx.AsyncClient]:
    application: Application = make_app(make_settings(), [fake_backend])
    async with running_server(application) as url, httpx.AsyncClient(base_url=url) as http:
        yield http


async def test_get_routes_answer_head_without_a_body(server: httpx.AsyncClient) -> None:
    health = await server.head("/health")
    assert health.status_code == 200 and health.content == b""
    assert int(health.headers["content-length"]) > 0  # what the GET would have sent
    backends = await server.head("/api/backends", headers=AUTH)
    assert backends.status_code == 200 and backends.content == b""
    assert (await server.head("/api/backends")).status_code == 401  # HEAD is no way around auth
    post_only = await server.head("/api/exchange/fetchTicker", headers=AUTH)
    assert post_only.status_code == 405 and "POST" in post_only.headers["allow"]
    assert (await server.get("/health")).json()["status"] == "ok"  # GET unchanged


# -- bodies the original accepted: BOM, gzip, deflate ----------------------------------------

TICKER = json.dumps({"config": CONFIG, "symbol": "BTC/USDT"}).encode()


async def test_a_utf8_byte_order_mark_before_the_json_is_accepted(client: Client) -> None:
    response = await client.post(
        "/api/exchange/fetchTicker", content=b"\xef\xbb\xbf" + TICKER, headers=JSON
    )
    assert response.status_code == 200, response.text
    assert response.json()["data"]["symbol"] == "BTC/USDT"


async def test_a_body_that_is_not_utf8_is_400_not_a_crash(client: Client) -> None:
    raw = b'{"config":{"exchangeId":"fake"},"symbol":"\xff\xfe"}'
    response = await client.post("/api/exchange/fetchTicker", content=raw, headers=JSON)
    assert response.status_code == 400
    assert response.json() == {
        "error": "Failed to fetch ticker",
        "details": "Request body is not valid UTF-8 (byte 42)",
        "errorType": "BadInput",
    }


def raw_deflate(data: bytes) -> bytes:
    packer = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return packer.compress(data) + packer.flush()


@pytest.mark.parametrize(
    ("coding", "encode"),
    [
        ("gzip", gzip.compress),
        ("x-gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("deflate", raw_deflate),
        ("GZIP", gzip.compress),
    ],
)
async def test_compressed_bodies_are_decoded(client: Client, coding: str, encode: Any) -> None:
    response = await client.post(
        "/api/exchange/fetchTicker",
        content=encode(TICKER),
        headers={**JSON, "Content-Encoding": coding},
    )
    assert response.status_code == 200, response.text
    assert response.json()["data"]["symbol"] == "BTC/USDT"


async def test_an_unknown_coding_is_415_naming_it_never_malformed_json(client: Client) -> None:
    response = await client.post(
        "/api/exchange/fetchTicker",
        content=b"\x00\x01binary",
        headers={**JSON, "Content-Encoding": "br"},
    )
    assert response.status_code == 415
    body = response.json()
    assert body["error"] == "Failed to fetch ticker"
    assert "'br' is not supported" in body["details"]
    assert "malformed" not in body["details"].lower()


async def test_a_broken_gzip_body_is_400_saying_so(client: Client) -> None:
    response = await client.post(
        "/api/exchange/fetchTicker",
        content=b"not gzip at all",
        headers={**JSON, "Content-Encoding": "gzip"},
    )
    assert response.status_code == 400
    assert response.json()["details"] == "Request body is not valid gzip data"
    truncated = await client.post(
        "/api/exchange/fetchTicker",
        content=gzip.compress(TICKER)[:-12],
        headers={**JSON, "Content-Encoding": "gzip"},
    )
    assert truncated.status_code == 400 and "gzip" in truncated.json()["details"]


async def test_the_size_limit_applies_after_decoding(client: Client) -> None:
    """A 10 KB gzip bomb that inflates past the limit is refused without inflating it all."""
    padding = " " * (DEFAULT_MAX_BODY_BYTES + 10)
    bomb = gzip.compress(TICKER[:-1] + b',"pad":"' + padding.encode() + b'"}')
    assert len(bomb) < 100_000
    response = await client.post(
        "/api/exchange/fetchTicker", content=bomb, headers={**JSON, "Content-Encoding": "gzip"}
    )
    assert response.status_code == 413
    assert response.json()["error"] == "Request body too large"


# -- params cannot change what the answer claims to be ---------------------------------------


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (
            "fetchOrderBook",
            {"config": CONFIG, "symbol": "BTC/USDT", "params": {"symbol": "ETHUSDT"}},
        ),
        (
            "fetchOHLCV",
            {
                "config": CONFIG,
                "symbol": "BTC/USDT",
                "timeframe": "1m",
                "params": {"interval": "1h"},
            },
        ),
        ("fetchTicker", {"config": CONFIG, "symbol": "BTC/USDT", "params": {"instId": "ETH-USDT"}}),
        ("fetchTrades", {"config": CONFIG, "symbol": "BTC/USDT", "params": {"startTime": 1}}),
        ("fetchOHLCV", {"config": CONFIG, "symbol": "BTC/USDT", "params": {"endTime": 1}}),
        ("fetchOrderBook", {"config": CONFIG, "symbol": "BTC/USDT", "params": {"depth": 5}}),
        ("watchOrderBook", {"config": PRO, "symbol": "BTC/USDT", "params": {"symbol": "ETHUSDT"}}),
        ("watchOHLCV", {"config": PRO, "symbol": "BTC/USDT", "params": {"interval": "1h"}}),
    ],
)
async def test_params_that_relabel_the_answer_are_refused(
    client: Client, fake_backend: FakeBackend, path: str, body: dict[str, Any]
) -> None:
    response = await client.post(f"/api/exchange/{path}", json=body, headers=AUTH)
    assert response.status_code == 400, response.text
    assert response.json()["errorType"] == "ReservedParam"
    assert "is not allowed" in response.json()["details"]
    assert not any(
        gw.calls[name]
        for gw in fake_backend.created
        for name in gw.calls
        if name.startswith(("fetch_", "watch_"))
    )


async def test_exchange_specific_params_still_reach_the_exchange(
    client: Client, fake_backend: FakeBackend
) -> None:
    body = {"config": CONFIG, "symbol": "BTC/USDT", "params": {"type": "spot", "recvWindow": 5000}}
    response = await client.post("/api/exchange/fetchOrderBook", json=body, headers=AUTH)
    assert response.status_code == 200, response.text
    assert fake_backend.created[0].last_args["fetch_order_book"][2] == body["params"]


# -- the contract lives in the repository ----------------------------------------------------


ROOT = Path(__file__).resolve().parents[2]


def test_the_contract_is_in_the_repository_and_linked_from_the_readme() -> None:
    contract = (ROOT / "docs" / "api.md").read_text()
    assert "## 3. Socket.IO" in contract and "## 5. Status codes" in contract
    assert "(docs/api.md)" in (ROOT / "README.md").read_text()


async def test_the_openapi_description_links_the_contract(client: Client) -> None:
    schema = await client.get("/schema/openapi.json")
    assert "docs/api.md" in schema.json()["info"]["description"]
