"""Maps every ccxt exception to the domain error hierarchy, scrubbing secrets from its text.

ccxt's messages can carry the request URL (signed query strings hold the signature and
sometimes the key), request headers and the response body. ``details`` keeps the message,
minus URL query strings and any occurrence of the instance's credentials.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterable

from app.domain import errors as domain

# ccxt class name -> domain class, checked along the exception's MRO so that the most
# specific ccxt class wins (BadSymbol before BadRequest, RateLimitExceeded before NetworkError).
# Names, not classes: ccxt is imported lazily and this module must stay importable without it.
CCXT_TO_DOMAIN: dict[str, type[domain.DomainError]] = {
    "BadSymbol": domain.BadSymbol,
    "NotSupported": domain.NotSupported,
    "AuthenticationError": domain.AuthenticationFailed,
    "PermissionDenied": domain.AuthenticationFailed,
    "AccountNotEnabled": domain.AuthenticationFailed,
    "AccountSuspended": domain.AuthenticationFailed,
    "BadRequest": domain.BadInput,
    "ArgumentsRequired": domain.BadInput,
    "InvalidOrder": domain.BadInput,
    "InsufficientFunds": domain.BadInput,
    "InvalidAddress": domain.BadInput,
    "RateLimitExceeded": domain.RateLimited,
    "DDoSProtection": domain.RateLimited,
    "OnMaintenance": domain.ExchangeUnavailable,
    "ExchangeNotAvailable": domain.ExchangeUnavailable,
    "RequestTimeout": domain.ExchangeTimeout,
    "ExchangeClosedByUser": domain.ExchangeUnreachable,
    "NetworkError": domain.ExchangeUnreachable,
    "ExchangeError": domain.ExchangeError,
    "OperationFailed": domain.ExchangeError,
    "BaseError": domain.ExchangeError,
}

_URL_QUERY = re.compile(r"((?:https?|wss?)://[^\s?#\"'<>]+)\?[^\s#\"'<>]*", re.IGNORECASE)
_SECRET_PARAM = re.compile(
    r"((?:signature|sign|api[_-]?key|apikey|secret|password|passphrase|listenKey)"
    r"[\"']?\s*[=:]\s*[\"']?)[^\s&\"',}]+",
    re.IGNORECASE,
)
REDACTED = "[redacted]"
MAX_DETAILS = 2000


def scrub(text: str, secrets: Iterable[str | None] = ()) -> str:
    """Remove URL query strings, signature-like parameters and the given secret values."""
    for secret in secrets:
        if not secret:
            continue
        for form in {secret, urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret)}:
            text = text.replace(form, REDACTED)
    text = _URL_QUERY.sub(r"\1?" + REDACTED, text)
    text = _SECRET_PARAM.sub(r"\1" + REDACTED, text)
    if len(text) > MAX_DETAILS:
        text = text[:MAX_DETAILS] + "..."
    return text


def _is_ccxt(exc: BaseException) -> bool:
    return any(cls.__module__.startswith("ccxt") for cls in type(exc).__mro__[:-2])


def domain_class_for(exc: BaseException) -> type[domain.DomainError]:
    """The domain class for an exception raised by ccxt or by the I/O under it."""
    if _is_ccxt(exc):
        for cls in type(exc).__mro__:
            if cls.__module__.startswith("ccxt") and cls.__name__ in CCXT_TO_DOMAIN:
                return CCXT_TO_DOMAIN[cls.__name__]
        return domain.ExchangeError
    if isinstance(exc, TimeoutError):
        return domain.ExchangeTimeout
    if isinstance(exc, (ConnectionError, OSError)):
        return domain.ExchangeUnreachable
    return domain.ExchangeError


def map_error(exc: BaseException, secrets: Iterable[str | None] = ()) -> domain.DomainError:
    """Translate an exception to a DomainError whose text reveals none of ``secrets``.

    Domain errors pass through unchanged. ``error_type`` is the ccxt class name for ccxt
    errors and the exception's own class name otherwise.
    """
    if isinstance(exc, domain.DomainError):
        return exc
    message = str(exc) or type(exc).__name__
    return domain_class_for(exc)(scrub(message, secrets), error_type=type(exc).__name__)
