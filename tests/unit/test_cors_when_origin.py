"""CorsWhenOrigin: Litestar's CORS middleware only for requests with an Origin header."""

from __future__ import annotations

from typing import Any

from litestar import Litestar, get
from litestar.config.cors import CORSConfig
from litestar.testing import AsyncTestClient

from app.entrypoints.http.cors import CorsWhenOrigin, skip_cors_without_origin


@get("/x")
async def x() -> dict[str, str]:
    return {"ok": "yes"}


def _app(cors: bool) -> Litestar:
    app = Litestar(
        route_handlers=[x],
        cors_config=CORSConfig(allow_origins=["http://a.test"]) if cors else None,
        logging_config=None,
    )
    skip_cors_without_origin(app)
    return app


async def test_cors_answers_only_requests_with_an_origin() -> None:
    app = _app(cors=True)
    assert isinstance(app.asgi_handler, CorsWhenOrigin)
    async with AsyncTestClient(app=app) as client:
        plain = await client.get("/x")
        allowed = await client.get("/x", headers={"Origin": "http://a.test"})
        other = await client.get("/x", headers={"Origin": "http://b.test"})
        preflight = await client.options(
            "/x", headers={"Origin": "http://a.test", "Access-Control-Request-Method": "GET"}
        )
    assert plain.status_code == 200 and "access-control-allow-origin" not in plain.headers
    assert allowed.headers["access-control-allow-origin"] == "http://a.test"
    assert "access-control-allow-origin" not in other.headers  # positive control above
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "http://a.test"


def test_an_app_without_cors_is_left_alone() -> None:
    app = _app(cors=False)
    before: Any = app.asgi_handler
    skip_cors_without_origin(app)
    assert app.asgi_handler is before and not isinstance(before, CorsWhenOrigin)
