"""Maps domain errors to the contract's `{error, details, errorType}` bodies and status codes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from app.domain import errors as domain
from app.observability import scrub_text

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


class ApiError(Exception):
    """An error answer in the contract's shape, raised by handlers, rendered by the app."""

    def __init__(
        self,
        status: int,
        error: str,
        details: str,
        error_type: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.details = details
        self.error_type = error_type
        self.headers = headers or {}

    def body(self) -> dict[str, str]:
        return {"error": self.error, "details": self.details, "errorType": self.error_type}


def status_for(error: domain.DomainError) -> int:
    for error_class, status in STATUS_BY_ERROR:
        if isinstance(error, error_class):
            return status
    return 500


@contextmanager
def endpoint_errors(error_text: str) -> Iterator[None]:
    """Turn a domain error raised inside the block into an ApiError with the endpoint's text.

    ``error_text`` is the fixed text a client may match on (e.g. "Failed to fetch ticker").
    Errors that are not DomainErrors are our own bugs: they propagate and become a 500.
    """
    try:
        yield
    except domain.DomainError as exc:
        # Our own budget refusal says when to come back (issue 9).
        retry_after = getattr(exc, "retry_after_header", None)
        raise ApiError(
            status_for(exc),
            exc.headline or error_text,
            scrub_text(exc.details),
            exc.error_type,
            headers={"Retry-After": retry_after} if isinstance(retry_after, str) else None,
        ) from exc
