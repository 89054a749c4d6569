"""Every failure leaves as `{error, details, errorType}`: never an HTML page or a bare 500."""

from __future__ import annotations

import re
from typing import Any

import structlog
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.types import ExceptionHandlersMap

from app.domain.errors import DomainError
from app.domain.validation import field_error
from app.entrypoints.http.errors import domain_error_handler, error_response, error_text

log = structlog.get_logger(__name__)

# Statuses whose `error` text does not depend on the route (no route, or not its failure).
_FIXED_TEXTS = {404: "Not found", 405: "Method not allowed", 413: "Request body too large"}


def validation_error_handler(
    request: Request[Any, Any, Any], exc: ValidationException
) -> Response[Any]:
    """A body the route's schema refuses: 400 with the route's text and a readable reason."""
    return error_response(400, error_text(request, "Bad request"), _explain(exc), "BadInput")


def http_error_handler(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    """Framework answers (404, 405, 413, 415...): their status, and every header they carry."""
    status = exc.status_code
    if status == 400:
        return error_response(
            400, error_text(request, "Bad request"), _explain(exc), "BadInput", exc.headers
        )
    fallback = exc.detail or "Request failed"
    error = _FIXED_TEXTS.get(status) or error_text(request, fallback)
    return error_response(status, error, exc.detail, type(exc).__name__, exc.headers)


def internal_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """Our own bug: log it with its traceback (redacted), tell the client only that it happened."""
    log.error("unhandled_error", path=request.url.path, exc_info=exc)
    return error_response(
        500, error_text(request, "Internal server error"), "Internal server error", "InternalError"
    )


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    DomainError: domain_error_handler,
    ValidationException: validation_error_handler,
    HTTPException: http_error_handler,
    Exception: internal_error_handler,
}
"""Litestar ``exception_handlers``: the most specific class of an exception wins."""


_MISSING_FIELD = re.compile(r"Object missing required field `([^`]+)`(?: - at `\$\.?([^`]*)`)?")


def _readable(message: str) -> str:
    """msgspec's "Object missing required field `symbol`" -> "symbol is required"."""
    match = _MISSING_FIELD.search(message)
    if match:
        field, parent = match.group(1), match.group(2)
        return f"{parent + '.' if parent else ''}{field} is required"
    return message


def _field_error(key: object, message: str) -> str | None:
    """The domain's text for a field of the wrong type (or an unknown choice), the words a
    Socket.IO payload gets for the same field; None to keep msgspec's own message. A null
    where a value is required reads as the field's absence does: ``<field> is required``."""
    if not isinstance(key, str) or key == "data":
        return None
    if message.startswith("Expected `") and message.endswith("got `null`"):
        return f"{key} is required"  # as if it were absent (``_readable``)
    if message.startswith(("Expected `", "Invalid enum value")):
        return field_error(key)
    return None


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
                elif (same := _field_error(key, message)) is not None:
                    parts.append(same)
                else:
                    parts.append(
                        f"{key}: {message}" if key and str(key) not in message else message
                    )
        if parts:
            return "; ".join(parts)
    detail = exc.detail or "Bad request"
    if "Validation failed" in detail or "decode" in detail.lower():
        return "Request body must be a JSON object"
    return detail
