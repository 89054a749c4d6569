"""Named tokens with quotas (429 + Retry-After), revocation by reload, and GET /ready."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from structlog.testing import capture_logs

from app.entrypoints.operations import reload_tokens
from app.settings import TokenSettings
from app.testing.fakes import FakeBackend
from tests.support.app import AUTH, TOKEN, http_client, make_app, make_settings

BODY = {"config": {"exchangeId": "fake"}, "symbol": "BTC/USDT"}
ALPHA, BETA = "alpha-token-value-0001", "beta-token-value-0002"


def sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def settings_with_tokens(**overrides: Any) -> Any:
    settings = make_settings(**overrides)
    settings.tokens = [
        TokenSettings(name="desk-a", sha256=sha(ALPHA), requests_per_minute=2),
        TokenSettings(name="desk-b", sha256=sha(BETA)),
    ]
    return settings


async def ticker(client: AsyncTestClient[Any], token: str) -> Any:
    return await client.post("/api/exchange/fetchTicker", json=BODY, headers=bearer(token))


async def test_named_tokens_work_beside_api_token() -> None:
    async with http_client(make_app(settings_with_tokens(), [FakeBackend()])) as client:
        for token in (TOKEN, ALPHA, BETA):
            assert (await ticker(client, token)).status_code == 200
        assert (await ticker(client, sha(ALPHA))).status_code == 403  # the hash is not a token


async def test_quota_gives_429_with_retry_after_and_the_error_body() -> None:
    async with http_client(make_app(settings_with_tokens(), [FakeBackend()])) as client:
        assert (await ticker(client, ALPHA)).status_code == 200
        assert (await ticker(client, ALPHA)).status_code == 200
        refused = await ticker(client, ALPHA)
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "30"  # 2 a minute: one every 30 s
        assert refused.json() == {
            "error": "Too many requests",
            "details": "Token quota of 2 requests per minute exceeded",
            "errorType": "QuotaExceeded",
        }
        # Other tokens are not affected by desk-a's quota.
        assert (await ticker(client, BETA)).status_code == 200
        assert (await ticker(client, TOKEN)).status_code == 200


async def test_request_log_names_the_token_never_its_value(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from app.entrypoints.request_log import RequestLogMiddleware

    # The line is written at INFO: set the level here (and restore it after), never rely on
    # what an earlier test left on the root logger (it is WARNING in a fresh process).
    caplog.set_level(logging.INFO, logger="app.http")
    application = make_app(settings_with_tokens(), [FakeBackend()])
    wrapped = RequestLogMiddleware(application.http)
    async with AsyncTestClient(app=wrapped) as client:  # type: ignore[arg-type]
        with capture_logs() as logs:
            assert (await ticker(client, BETA)).status_code == 200
    lines = [entry for entry in logs if entry["event"] == "http_request"]
    assert lines and lines[-1]["token_name"] == "desk-b"
    assert BETA not in repr(logs) and sha(BETA) not in repr(logs)


async def test_reload_revokes_a_token_for_new_requests(tmp_path: Path) -> None:
    config = tmp_path / "profitmaker.toml"
    config.write_text(
        f'[[tokens]]\nname = "desk-a"\nsha256 = "{sha(ALPHA)}"\n'
        f'[[tokens]]\nname = "desk-b"\nsha256 = "{sha(BETA)}"\n'
    )
    from app.settings import load_settings

    settings = load_settings(config, env={"API_TOKEN": TOKEN})
    application = make_app(settings, [FakeBackend()])
    async with http_client(application) as client:
        assert (await ticker(client, ALPHA)).status_code == 200
        config.write_text(f'[[tokens]]\nname = "desk-b"\nsha256 = "{sha(BETA)}"\n')
        assert await reload_tokens(application.container, settings, str(config))
        assert (await ticker(client, ALPHA)).status_code == 403
        assert (await ticker(client, BETA)).status_code == 200
        assert (await ticker(client, TOKEN)).status_code == 200
        config.write_text("[[tokens]]\nname = 'bad'\nsha256 = 'not-hex'\n")
        assert not await reload_tokens(application.container, settings, str(config))
        assert (await ticker(client, BETA)).status_code == 200  # a bad file keeps the tokens


async def test_ready_is_open_and_turns_503_when_a_check_fails() -> None:
    application = make_app(make_settings(), [FakeBackend()])
    async with http_client(application) as client:
        response = await client.get("/ready")
        assert response.status_code == 200, response.text
        names = [c["name"] for c in response.json()["checks"]]
        assert names == ["started", "backends", "streams"]

        async def redis_down() -> str | None:
            return "redis at 127.0.0.1:6379 refused the connection"

        application.container.readiness().add("redis", redis_down)
        response = await client.get("/ready")
        assert response.status_code == 503
        body = response.json()
        assert body["error"] == "Not ready" and body["errorType"] == "NotReady"
        assert body["details"] == "redis: redis at 127.0.0.1:6379 refused the connection"
        assert (await client.get("/health")).status_code == 200  # liveness is unchanged


async def test_ready_is_503_without_any_backend() -> None:
    async with http_client(make_app(make_settings(), [])) as client:
        response = await client.get("/ready")
        assert response.status_code == 503
        assert "backends: no exchange backend loaded" in response.json()["details"]
        assert (await client.get("/api/backends", headers=AUTH)).status_code == 200
