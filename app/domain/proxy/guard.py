"""SSRF guard: decides whether the proxy may contact a URL, and at which addresses."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from app.domain.errors import ProxyRefused
from app.domain.proxy.addresses import blocked_reason, looks_like_ipv4, parse_ipv4_spelling
from app.domain.proxy.policy import IPAddress, ProxyPolicy, normalise_hostname
from app.ports.resolver import Resolver

_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True, slots=True)
class Target:
    """A URL the guard has parsed and rebuilt; ``url`` is what gets sent, never the raw text."""

    scheme: str
    host: str
    """ASCII host name, or the canonical text of an IP literal."""
    port: int
    ip: IPAddress | None
    url: str
    log_url: str
    """scheme://host[:port]/path: no credentials, query or fragment (they may hold secrets)."""


@dataclass(frozen=True, slots=True)
class VettedTarget:
    target: Target
    addresses: tuple[str, ...]
    """Every address the host resolved to; all of them passed the guard."""


def _refuse(details: str) -> ProxyRefused:
    return ProxyRefused(details)


def _split(url: str) -> SplitResult:
    if any(ord(char) <= 0x20 or ord(char) == 0x7F for char in url):
        raise _refuse("URL contains whitespace or control characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise _refuse("URL is malformed") from None
    return parts


def _host_of(parts: SplitResult) -> tuple[str, IPAddress | None]:
    raw = parts.hostname or ""
    if not raw:
        raise _refuse("URL has no host")
    if ":" in raw or "%" in raw:
        try:
            address = ipaddress.IPv6Address(raw)
        except ValueError:
            raise _refuse("URL host is not a valid IPv6 address") from None
        if address.scope_id:
            raise _refuse("IPv6 zone identifiers are not allowed")
        return str(address), address
    if looks_like_ipv4(raw):
        v4 = parse_ipv4_spelling(raw)
        if v4 is None:
            raise _refuse("URL host is not a valid IPv4 address")
        return str(v4), v4
    host = normalise_hostname(raw)
    if host is None:
        raise _refuse("URL host is not a valid host name")
    return host, None


def parse_target(url: str) -> Target:
    """Check scheme, credentials and host syntax; rebuild the URL from what was understood.

    Sending the rebuilt URL means the HTTP client cannot read a different host from the text
    than the one vetted here.

    Raises:
        ProxyRefused: the URL is not an http(s) URL to a well-formed host without credentials.
    """
    parts = _split(url)
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise _refuse(f"Scheme '{scheme or '(none)'}' is not allowed: use http or https")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise _refuse("URLs with credentials (user:password@) are not allowed")
    host, ip = _host_of(parts)
    port = _DEFAULT_PORTS[scheme] if parts.port is None else parts.port
    if port == 0:
        raise _refuse("Port 0 is not allowed")
    authority = f"[{host}]" if isinstance(ip, ipaddress.IPv6Address) else host
    if parts.port is not None and parts.port != _DEFAULT_PORTS[scheme]:
        authority = f"{authority}:{port}"
    path = parts.path or "/"
    query = f"?{parts.query}" if parts.query else ""
    return Target(
        scheme=scheme,
        host=host,
        port=port,
        ip=ip,
        url=f"{scheme}://{authority}{path}{query}",
        log_url=f"{scheme}://{authority}{path}",
    )


def log_url_of(url: str) -> str:
    """scheme://host/path of any URL, for logs; never the query, fragment or credentials."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        return f"{parts.scheme}://{host}{parts.path}" if host else "(unparsable URL)"
    except ValueError:
        return "(unparsable URL)"


class SsrfGuard:
    """Refuses URLs that lead to loopback, private, link-local and other internal addresses."""

    def __init__(self, policy: ProxyPolicy, resolver: Resolver) -> None:
        self._policy = policy
        self._resolver = resolver

    def check_method(self, method: str) -> str:
        """The method upper-cased, if the policy allows it.

        Raises:
            ProxyRefused: the method is not on the allow-list.
        """
        normalised = method.strip().upper()
        if normalised not in self._policy.allowed_methods:
            shown = normalised if normalised.isalpha() and len(normalised) <= 20 else "(invalid)"
            allowed = ", ".join(sorted(self._policy.allowed_methods))
            raise _refuse(f"Method {shown} is not allowed (allowed: {allowed})")
        return normalised

    async def vet(self, url: str) -> VettedTarget:
        """Parse the URL and check every address its host resolves to.

        Raises:
            ProxyRefused: the URL or any of its addresses is off limits.
            ProxyFailed: the host name does not resolve.
        """
        target = parse_target(url)
        if target.ip is not None:
            addresses: list[IPAddress] = [target.ip]
        else:
            addresses = [self._address(text) for text in await self._resolver.resolve(target.host)]
        if not addresses:
            raise _refuse(f"Host {target.host} resolved to no addresses")
        if not self._policy.allow.allows_host(target.host):
            for address in addresses:
                reason = blocked_reason(address)
                if reason is not None and not self._policy.allow.allows_address(address):
                    raise _refuse(f"Target address {address} is in a blocked range ({reason})")
        return VettedTarget(target, tuple(dict.fromkeys(str(address) for address in addresses)))

    @staticmethod
    def _address(text: str) -> IPAddress:
        try:
            return ipaddress.ip_address(text)
        except ValueError:
            raise _refuse("Host resolved to an address that cannot be parsed") from None
