"""The one error pipeline: every failure leaves as ``{error, details, errorType}``.

- Each route declares its fixed ``error`` text once, ``opt=route_error("Failed to fetch
  ticker")``; ``error_text`` reads it back from the request's route.
- ``domain_error_handler`` maps the domain error tree (``app.domain.errors``) to a status with
  ``STATUS_BY_ERROR``; ``error`` is the error's own headline if it has one ("API credentials
  required for balance", "Request timeout"), else the route's text.
- Framework exceptions and our own bugs are handled in ``exception_handlers``, with the same
  ``error_response`` (which keeps the exception's headers).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from litestar import Request, Response

from app.domain import errors as domain
from app.observability import scrub_text

ERROR_OPT = "error"
"""The route ``opt`` key that holds the endpoint's fixed ``error`` text."""

# Most specific first: the first isinstance match wins.
STATUS_BY_ERROR: tuple[tuple[type[domain.DomainError], int], ...] = (
    (domain.ProxyTimeout, 408),
    # An unreachable upstream (DNS, refused, reset) is not our bug: 502, text kept.
    (domain.ProxyFailed, 502),
    (domain.BadInput, 400),
    (domain.NotSupported, 501),
    # Not 401/403: those mean "your bearer token" to a client; this is the exchange's refusal.
    (domain.AuthenticationFailed, 400),
    (domain.RateLimited, 429),
    (domain.ExchangeUnavailable, 503),
    (domain.ExchangeUnreachable, 502),
    (domain.ExchangeTimeout, 504),
    (domain.ExchangeError, 502),
)


def route_error(text: str) -> dict[str, str]:
    """The ``opt`` of a route whose failures answer with ``text`` as ``error``."""
    return {ERROR_OPT: text}


def status_for(error: domain.DomainError) -> int:
    """The HTTP status of a domain error (500 for a DomainError no row covers: our bug)."""
    for error_class, status in STATUS_BY_ERROR:
        if isinstance(error, error_class):
            return status
    return 500


def error_text(request: Request[Any, Any, Any], fallback: str) -> str:
    """The fixed ``error`` text of the request's route, or ``fallback`` (no route matched)."""
    handler = request.scope.get("route_handler")
    opt = getattr(handler, "opt", None) or {}
    text = opt.get(ERROR_OPT)
    return text if isinstance(text, str) else fallback


def error_response(
    status: int,
    error: str,
    details: str | None,
    error_type: str,
    headers: Mapping[str, str] | None = None,
) -> Response[Any]:
    """The contract's error body; ``headers`` (Allow, Retry-After...) are sent as given."""
    return Response(
        {"error": error, "details": details, "errorType": error_type},
        status_code=status,
        headers=dict(headers) if headers else None,
    )


def domain_error_handler(request: Request[Any, Any, Any], exc: domain.DomainError) -> Response[Any]:
    """Any domain error raised by a handler or a middleware of a route."""
    error = exc.headline or error_text(request, "Request failed")
    # Our own budget refusal (issue 9) says when to come back.
    retry_after = getattr(exc, "retry_after_header", None)
    headers = {"Retry-After": retry_after} if isinstance(retry_after, str) else None
    return error_response(status_for(exc), error, scrub_text(exc.details), exc.error_type, headers)


__all__ = [
    "ERROR_OPT",
    "STATUS_BY_ERROR",
    "domain_error_handler",
    "error_response",
    "error_text",
    "route_error",
    "status_for",
]
