"""The API docs UI without a CDN: Swagger UI 5's files from the pinned ``swagger-ui-py``
package, served under ``/schema/assets/`` (ADR 0092). The docs then work offline.

Swagger UI 5 is needed: Litestar's schema is OpenAPI 3.1, which Swagger UI 4 cannot render.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from litestar import Response, get
from litestar.exceptions import NotFoundException
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.params import FromPath

ASSETS_PATH = "/schema/assets"
# Litestar appends "; charset=utf-8" to every text/* media type itself: name none here.
_MEDIA_TYPES = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui-standalone-preset.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon-32x32.png": "image/png",
}


def _bundle_dir() -> Path:
    # Located without importing the package: its __init__ wires handlers for other frameworks.
    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("swagger-ui-py is not installed (pyproject.toml pins it)")
    return Path(next(iter(spec.submodule_search_locations))) / "static"


def swagger_plugin() -> SwaggerRenderPlugin:
    """Swagger UI at ``/schema`` and ``/schema/swagger``, every asset from this server."""
    return SwaggerRenderPlugin(
        js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
        css_url=f"{ASSETS_PATH}/swagger-ui.css",
        standalone_preset_js_url=f"{ASSETS_PATH}/swagger-ui-standalone-preset.js",
        favicon=f"<link rel='icon' type='image/png' href='{ASSETS_PATH}/favicon-32x32.png'>",
        path=["/", "/swagger"],
    )


@get(ASSETS_PATH + "/{name:str}", include_in_schema=False, cache=False)
async def docs_asset(name: FromPath[str]) -> Response[bytes]:
    """One Swagger UI file; 404 (our error body) for any name not on the list (no path is
    ever joined)."""
    media_type = _MEDIA_TYPES.get(name)
    if media_type is None:
        raise NotFoundException()  # the documented error body, as for any unknown path
    body = (_bundle_dir() / name).read_bytes()
    return Response(body, media_type=media_type, headers={"Cache-Control": "max-age=86400"})
