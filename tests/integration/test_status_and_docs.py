"""GET /api/status, the status page's files, and the API docs served without any CDN."""

from __future__ import annotations

import re
from typing import Any

from litestar.testing import AsyncTestClient

from app.testing.fakes import FakeBackend
from tests.support.app import AUTH, http_client, make_app, make_settings

Client = AsyncTestClient[Any]
EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", re.IGNORECASE)


async def test_status_page_is_open_holds_no_data_and_loads_only_local_files(client: Client) -> None:
    page = await client.get("/status")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert not EXTERNAL.search(page.text)
    assert "script-src 'self'" in page.headers["content-security-policy"]
    for asset, kind in (("status.js", "javascript"), ("status.css", "css")):
        response = await client.get(f"/status/{asset}")
        assert response.status_code == 200 and kind in response.headers["content-type"]
        assert not EXTERNAL.search(response.text)
    assert (await client.get("/status/../app.py")).status_code == 404
    assert (await client.get("/status/app.py")).status_code == 404
    script = (await client.get("/status/status.js")).text
    assert "history.replaceState" in script and "sessionStorage" in script


async def test_status_json_needs_the_token_and_lists_live_streams(
    client: Client, fake_backend: FakeBackend
) -> None:
    assert (await client.get("/api/status")).status_code == 401
    response = await client.get("/api/status", headers=AUTH)
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["streams"] == [] and data["cache"]["size"] == 0
    assert data["stats"]["subscriptions"] == 0 and data["connections"] == 0


async def test_docs_reference_no_external_host_and_their_assets_are_served(client: Client) -> None:
    for path in ("/schema", "/schema/swagger"):
        page = await client.get(path)
        assert page.status_code == 200
        assert not EXTERNAL.search(page.text), path
        assets = re.findall(r"""(?:src|href)=["'](/schema/assets/[^"']+)["']""", page.text)
        assert {a.rsplit("/", 1)[1] for a in assets} >= {
            "swagger-ui-bundle.js",
            "swagger-ui-standalone-preset.js",
            "swagger-ui.css",
        }
        for asset in assets:
            served = await client.get(asset)
            assert served.status_code == 200 and len(served.content) > 500, asset
    bundle = await client.get("/schema/assets/swagger-ui-bundle.js")
    assert "SwaggerUIBundle" in bundle.text
    assert (await client.get("/schema/assets/index.html")).status_code == 404


async def test_docs_assets_go_away_with_the_docs() -> None:
    settings = make_settings(docs_enabled=False)
    async with http_client(make_app(settings, [FakeBackend()])) as client:
        response = await client.get("/schema/assets/swagger-ui-bundle.js", headers=AUTH)
    assert response.status_code == 404
