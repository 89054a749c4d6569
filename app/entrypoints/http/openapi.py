"""OpenAPI entries for the error answers of each endpoint (our body, not Litestar's), and the
router the docs are served from."""

from __future__ import annotations

from litestar import Response, Router
from litestar.enums import MediaType
from litestar.exceptions import NotFoundException
from litestar.openapi.datastructures import ResponseSpec

from app.entrypoints.http.schemas import ErrorBody

_MEANING = {
    400: "Bad input: body, config, symbol, params, unknown exchange, credentials refused",
    401: "Access token required",
    403: "Invalid token",
    408: "Request timeout: the whole exchange overran the timeout",
    413: "Request body too large (after decoding its Content-Encoding)",
    415: "Content-Encoding other than gzip or deflate",
    429: "Rate limited: by the exchange, or by our shared budget for it (then with Retry-After)",
    500: "Internal server error (our own bug)",
    501: "Not supported by this exchange",
    502: "Exchange unreachable, answered with an error, or its stream failed",
    503: "Exchange unavailable (maintenance), or its stream ended",
    504: "Exchange timed out, or no stream update in time",
}


def error_responses(
    *statuses: int, meaning: dict[int, str] | None = None
) -> dict[int, ResponseSpec]:
    """OpenAPI entries for the error statuses an endpoint can answer (401/403 always).

    Args:
        statuses: the statuses besides 401 and 403.
        meaning: descriptions that replace the generic ones, by status.
    """
    texts = {**_MEANING, **(meaning or {})}
    return {
        status: ResponseSpec(ErrorBody, description=texts.get(status, ""), generate_examples=False)
        for status in (401, 403, *statuses)
    }


BODY_ERRORS = (400, 413, 415)
"""What any endpoint with a JSON body can answer about the body itself."""

EXCHANGE_ERRORS = error_responses(*BODY_ERRORS, 429, 501, 502, 503, 504)
WATCH_ERRORS = error_responses(*BODY_ERRORS, 429, 502, 503, 504)


def docs_router(path: str) -> Router:
    """The router Litestar mounts the docs on (``OpenAPIConfig.openapi_router``).

    Litestar answers an unknown path under it (``/schema/nope``) with its own HTML 404 page;
    here every 404 leaves through our exception handlers instead, so it is the documented
    ``{error: "Not found", details, errorType}`` as anywhere else on the server.
    """
    return Router(path, route_handlers=[], include_in_schema=False, after_request=_json_not_found)


async def _json_not_found(response: Response[object]) -> Response[object]:
    if response.status_code == 404 and response.media_type == MediaType.HTML:
        raise NotFoundException()
    return response


__all__ = ["BODY_ERRORS", "EXCHANGE_ERRORS", "WATCH_ERRORS", "docs_router", "error_responses"]
