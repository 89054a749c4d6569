"""The Litestar application: routes, auth, CORS, error shapes and the OpenAPI docs."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

from litestar import Litestar, Router, get
from litestar.config.cors import CORSConfig
from litestar.di import NamedDependency, Provide
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme

from app import __version__
from app.adapters.backends import BackendRegistry
from app.entrypoints.http.auth import BearerAuthMiddleware
from app.entrypoints.http.body import JsonBodyMiddleware
from app.entrypoints.http.budget import budget_stats
from app.entrypoints.http.cors import skip_cors_without_origin
from app.entrypoints.http.docs_assets import docs_asset, swagger_plugin
from app.entrypoints.http.exception_handlers import EXCEPTION_HANDLERS
from app.entrypoints.http.exchange import ExchangeController
from app.entrypoints.http.health import health
from app.entrypoints.http.openapi import docs_router, error_responses
from app.entrypoints.http.ops import metrics, ready
from app.entrypoints.http.proxy import proxy_request
from app.entrypoints.http.status import STATUS_PATH, status_asset, status_json, status_page
from app.entrypoints.http.streams import stream_stats
from app.entrypoints.http.watch import WatchController
from app.settings import Settings

DOCS_PATH = "/schema"
CORS_METHODS = ["GET", "POST", "PUT", "DELETE", "OPTIONS"]
CORS_HEADERS = ["Content-Type", "Authorization", "X-Requested-With"]
# Response headers a browser page may read across origins (beyond the CORS-safelisted ones):
# where a read came from and how old it is (ADR 0100), the request id, and how long to wait
# after a 429. Without this list `response.headers.get("X-Data-Source")` is null in a browser.
CORS_EXPOSE_HEADERS = ["X-Data-Source", "X-Data-Age-Ms", "X-Request-Id", "Retry-After"]

Lifespan = Callable[[Litestar], AbstractAsyncContextManager[None]]


@get(
    "/api/backends",
    tags=["introspection"],
    summary="Loaded exchange backends and plugin errors",
    responses=error_responses(),
)
async def list_backends(backend_catalog: NamedDependency[BackendRegistry]) -> dict[str, Any]:
    return {"success": True, "data": backend_catalog.describe()}


def open_handlers() -> list[Any]:
    """Handlers that never need a token or a body: they run without route middleware.

    Litestar wraps every route that has middleware in a second exception layer; these
    routes (liveness, readiness, the status page) skip it, the token gate and the body
    check, none of which they used (ADR 0121). Their paths are also among the gate's open
    prefixes, so a plugin route below them stays open as before.
    """
    return [health, ready, status_page, status_asset]


def route_handlers() -> list[Any]:
    """Every REST handler. New entrypoint modules add theirs here (they get the token gate
    and the body check unless also listed in ``open_handlers``)."""
    return [
        health,
        list_backends,
        ExchangeController,
        WatchController,
        stream_stats,
        proxy_request,
        budget_stats,
        ready,
        metrics,
        status_page,
        status_asset,
        status_json,
    ]


def create_http_app(
    settings: Settings,
    services: Mapping[str, Callable[[], Any]],
    *,
    lifespan: Sequence[Lifespan] = (),
    extra_handlers: Sequence[Any] = (),
) -> Litestar:
    """Build the Litestar app.

    Args:
        settings: the process settings.
        services: dependency name -> zero-argument callable returning the service (the
            composition root passes its providers; handlers receive them by parameter name).
        lifespan: async context managers run around the app's life (start/stop resources).
        extra_handlers: additional route handlers (plugins, tests).
    """
    open_prefixes = (
        ("/health", "/ready", STATUS_PATH)
        + ((DOCS_PATH,) if settings.docs_enabled else ())
        + (("/metrics",) if settings.metrics_public else ())
    )
    openapi = (
        OpenAPIConfig(
            title="profitmaker-server",
            version=__version__,
            description=(
                "CCXT behind one authenticated endpoint. Every path except /health, /ready, the "
                "/status page and the "
                "docs needs `Authorization: Bearer <token>`. Errors are "
                "`{error, details, errorType}` with a fixed `error` text per endpoint. "
                "The whole contract (status table, Socket.IO protocol) is `docs/api.md` in the "
                "repository."
            ),
            path=DOCS_PATH,
            openapi_router=docs_router(DOCS_PATH),  # its 404s in our error format
            render_plugins=[swagger_plugin()],  # assets served locally: no CDN (ADR 0092)
            components=Components(
                security_schemes={"BearerToken": SecurityScheme(type="http", scheme="bearer")}
            ),
            security=[{"BearerToken": []}],
        )
        if settings.docs_enabled
        else None
    )
    unguarded = open_handlers()
    access_provider = services["access_service"]

    def access() -> Any:
        # A plain function: Litestar deep-copies a Router's middleware arguments, and a copy
        # of a container provider would be a second AccessService (reloads would miss it).
        return access_provider()

    guarded = Router(
        path="/",
        route_handlers=[
            *(h for h in route_handlers() if h not in unguarded),
            *extra_handlers,
        ],
        middleware=[
            DefineMiddleware(
                BearerAuthMiddleware,
                access=access,
                open_prefixes=open_prefixes,
            ),
            DefineMiddleware(JsonBodyMiddleware),
        ],
    )
    app = Litestar(
        route_handlers=[
            *unguarded,
            guarded,
            *([docs_asset] if settings.docs_enabled else []),
        ],
        dependencies={
            name: Provide(_provider(factory), sync_to_thread=False)
            for name, factory in services.items()
        },
        cors_config=CORSConfig(
            allow_origins=list(settings.cors_origins),
            allow_methods=CORS_METHODS,  # type: ignore[arg-type]
            allow_headers=CORS_HEADERS,
            expose_headers=CORS_EXPOSE_HEADERS,
        ),
        exception_handlers=EXCEPTION_HANDLERS,
        openapi_config=openapi,
        lifespan=list(lifespan),
        debug=False,
        logging_config=None,  # logging is configured once, by the composition root
    )
    skip_cors_without_origin(app)
    return app


def _provider(factory: Callable[[], Any]) -> Callable[[], Any]:
    def provide() -> Any:
        return factory()

    return provide
