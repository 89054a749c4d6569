"""Edges of the open pages: unknown /schema/* and /status/* paths answer the documented JSON
404, text answers name their charset once, and the separate metrics port serves /metrics only.
"""

from __future__ import annotations

from typing import Any

import httpx
from litestar.testing import AsyncTestClient

from app.testing.fakes import FakeBackend
from tests.support.app import AUTH, http_client, make_app, make_settings
from tests.support.server import served_client

Client = AsyncTestClient[Any]
NOT_FOUND = {"error": "Not found", "details": "Not Found", "errorType": "NotFoundException"}


async def test_unknown_docs_and_status_paths_answer_the_documented_json_404(
    client: Client,
) -> None:
    # The server's answer to any unknown path: the reference for the ones below.
    elsewhere = await client.get("/no/such/path")
    assert elsewhere.status_code == 404 and elsewhere.json() == NOT_FOUND
    for path in (
        "/schema/nope",
        "/schema/redoc",  # a docs renderer this server does not serve
        "/schema/openapi.foo",
        "/schema/swagger/nope",
        "/schema/assets/nope.js",
        "/status/nope.js",
    ):
        response = await client.get(path)
        assert response.status_code == 404, path
        assert response.headers["content-type"] == "application/json", path
        assert response.json() == NOT_FOUND, path
    # Positive control: what the docs and the status page do serve still answers.
    for path in ("/schema", "/schema/swagger", "/schema/openapi.json", "/status/status.js"):
        assert (await client.get(path)).status_code == 200, path


async def test_text_answers_name_their_charset_once() -> None:
    settings = make_settings(metrics_public=True)
    async with http_client(make_app(settings, [FakeBackend()])) as client:
        expected = {
            "/status": "text/html; charset=utf-8",
            "/status/status.js": "text/javascript; charset=utf-8",
            "/status/status.css": "text/css; charset=utf-8",
            "/schema": "text/html; charset=utf-8",
            "/schema/assets/swagger-ui.css": "text/css; charset=utf-8",
            "/schema/assets/swagger-ui-bundle.js": "text/javascript; charset=utf-8",
            "/metrics": "text/plain; version=0.0.4; charset=utf-8",  # Prometheus' own type
        }
        for path, content_type in expected.items():
            response = await client.get(path, headers=AUTH)
            assert response.status_code == 200, path
            assert response.headers["content-type"] == content_type, path


async def test_the_metrics_port_serves_metrics_and_nothing_else() -> None:
    settings = make_settings(metrics_port=0)
    application = make_app(settings, [FakeBackend()])
    async with served_client(application), httpx.AsyncClient() as plain:
        port = application.container.metrics().http_port
        assert port
        base = f"http://127.0.0.1:{port}"
        scraped = await plain.get(f"{base}/metrics")
        assert scraped.status_code == 200
        assert "profitmaker_socketio_connections" in scraped.text
        assert scraped.headers["content-type"].startswith("text/plain")
        for path in ("/", "/foo", "/metricsx", "/metrics/extra", "/api/backends"):
            response = await plain.get(base + path)
            assert response.status_code == 404, path
            assert response.json() == NOT_FOUND, path
            assert "profitmaker_" not in response.text
