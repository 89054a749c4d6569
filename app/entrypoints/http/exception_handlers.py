"""Every failure leaves as `{error, details, errorType}`: never an HTML page or a bare 500."""

from __future__ import annotations

import re
from typing import Any

import structlog
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException

from app.entrypoints.http.errors import ApiError
from app.entrypoints.http.exchange import ERROR_TEXTS

log = structlog.get_logger(__name__)


def _error(
    status: int,
    error: str,
    details: str | None,
    error_type: str,
    headers: dict[str, str] | None = None,
) -> Response[Any]:
    return Response(
        {"error": error, "details": details, "errorType": error_type},
        status_code=status,
        headers=headers,
    )


def api_error_handler(_request: Request[Any, Any, Any], exc: ApiError) -> Response[Any]:
    return _error(exc.status, exc.error, exc.details, exc.error_type, exc.headers or None)


def validation_error_handler(
    request: Request[Any, Any, Any], exc: ValidationException
) -> Response[Any]:
    return _error(400, ERROR_TEXTS.get(request.url.path, "Bad request"), _explain(exc), "BadInput")


def http_error_handler(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    status = exc.status_code
    if status == 400:
        return _error(
            400, ERROR_TEXTS.get(request.url.path, "Bad request"), _explain(exc), "BadInput"
        )
    texts = {404: "Not found", 405: "Method not allowed", 413: "Request body too large"}
    error = texts.get(status, exc.detail or "Request failed")
    return _error(status, error, exc.detail, type(exc).__name__)


def internal_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    # Our own bug: log it with its traceback (redacted), tell the client only that it happened.
    log.error("unhandled_error", path=request.url.path, exc_info=exc)
    error = ERROR_TEXTS.get(request.url.path, "Internal server error")
    return _error(500, error, "Internal server error", "InternalError")


_MISSING_FIELD = re.compile(r"Object missing required field `([^`]+)`(?: - at `\$\.?([^`]*)`)?")


def _readable(message: str) -> str:
    """msgspec's "Object missing required field `symbol`" -> "symbol is required"."""
    match = _MISSING_FIELD.search(message)
    if match:
        field, parent = match.group(1), match.group(2)
        return f"{parent + '.' if parent else ''}{field} is required"
    return message


def _explain(exc: HTTPException) -> str:
    """A readable reason for a rejected body (Litestar's own text is for developers)."""
    extra = exc.extra
    if (
        isinstance(extra, list)
        and len(extra) == 1
        and isinstance(extra[0], dict)
        and extra[0].get("key") == "data"
        and extra[0].get("message") in ("'data'", None)
    ):
        return "Request body is required (a JSON object)"
    if isinstance(extra, list) and extra:
        parts = []
        for item in extra:
            if isinstance(item, dict):
                message = str(item.get("message", ""))
                key = item.get("key")
                if "Object missing required field" in message or not message:
                    parts.append(_readable(message) if message else f"invalid field {key}")
                else:
                    parts.append(f"{key}: {message}" if key and str(key) not in message else message)
        if parts:
            return "; ".join(parts)
    detail = exc.detail or "Bad request"
    if "Validation failed" in detail or "decode" in detail.lower():
        return "Request body must be a JSON object"
    return detail
