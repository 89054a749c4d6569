"""Which IP addresses the proxy must never reach, and the odd ways IPv4 can be spelt."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

from app.domain.proxy.policy import IPAddress

_V4 = ipaddress.IPv4Network
_V6 = ipaddress.IPv6Network

# Checked in order; the first match names the reason. Anything not global falls through to
# the ``is_global`` backstop at the end, so a range missing here is still refused.
_BLOCKED_V4: tuple[tuple[ipaddress.IPv4Network, str], ...] = (
    (_V4("0.0.0.0/8"), "unspecified"),
    (_V4("10.0.0.0/8"), "private"),
    (_V4("100.64.0.0/10"), "CGNAT"),
    (_V4("127.0.0.0/8"), "loopback"),
    (_V4("169.254.0.0/16"), "link-local"),
    (_V4("172.16.0.0/12"), "private"),
    (_V4("192.0.0.0/24"), "reserved"),
    (_V4("192.0.2.0/24"), "documentation"),
    (_V4("192.88.99.0/24"), "reserved"),
    (_V4("192.168.0.0/16"), "private"),
    (_V4("198.18.0.0/15"), "benchmarking"),
    (_V4("198.51.100.0/24"), "documentation"),
    (_V4("203.0.113.0/24"), "documentation"),
    (_V4("224.0.0.0/4"), "multicast"),
    (_V4("240.0.0.0/4"), "reserved"),
)

_BLOCKED_V6: tuple[tuple[ipaddress.IPv6Network, str], ...] = (
    (_V6("::/128"), "unspecified"),
    (_V6("::1/128"), "loopback"),
    (_V6("::/96"), "IPv4-compatible IPv6"),
    (_V6("64:ff9b:1::/48"), "private"),
    (_V6("100::/64"), "reserved"),
    (_V6("2001::/32"), "Teredo"),
    (_V6("2001:db8::/32"), "documentation"),
    (_V6("3fff::/20"), "documentation"),
    (_V6("2001::/23"), "reserved"),
    (_V6("fc00::/7"), "private"),
    (_V6("fe80::/10"), "link-local"),
    (_V6("fec0::/10"), "private"),
    (_V6("ff00::/8"), "multicast"),
)

_GLOBAL_UNICAST_V6 = _V6("2000::/3")
_NAT64 = _V6("64:ff9b::/96")
_SIX_TO_FOUR = _V6("2002::/16")


def _embedded_v4(address: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address, str] | None:
    """The IPv4 address a v6 form carries (mapped, NAT64, 6to4), with the form's name."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped, "IPv4-mapped"
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF), "NAT64"
    if address in _SIX_TO_FOUR and address.sixtofour is not None:
        return address.sixtofour, "6to4"
    return None


def blocked_reason(address: IPAddress) -> str | None:
    """Why the address is off limits ("loopback", "private"...), or None for a public one."""
    if isinstance(address, ipaddress.IPv6Address):
        address = ipaddress.IPv6Address(int(address))  # drop any %zone: it changes nothing here
        embedded = _embedded_v4(address)
        if embedded is not None:
            inner, form = embedded
            reason = blocked_reason(inner)
            return None if reason is None else f"{reason}, {form} {inner}"
        for network6, name in _BLOCKED_V6:
            if address in network6:
                return name
        if address not in _GLOBAL_UNICAST_V6 or not address.is_global:
            return "reserved"
        return None
    for network4, name in _BLOCKED_V4:
        if address in network4:
            return name
    return None if address.is_global else "reserved"


def _ipv4_part(text: str) -> int | None:
    """One dotted part in C ``inet_aton`` style: 0x hex, leading-zero octal, else decimal."""
    base: int = 10
    if text[:2].lower() == "0x":
        text, base = text[2:], 16
        if not text:
            return 0
    elif len(text) > 1 and text.startswith("0"):
        text, base = text[1:], 8
    valid: Callable[[str], bool] = {
        10: str.isdigit,
        8: lambda s: all(c in "01234567" for c in s),
        16: lambda s: all(c in "0123456789abcdefABCDEF" for c in s),
    }[base]
    return int(text, base) if text and valid(text) else None


def looks_like_ipv4(host: str) -> bool:
    """True when the host ends in a number, so it must be read as IPv4 (WHATWG URL rule)."""
    parts = host.rstrip(".").split(".") if host.rstrip(".") else []
    return bool(parts) and _ipv4_part(parts[-1]) is not None


def parse_ipv4_spelling(host: str) -> ipaddress.IPv4Address | None:
    """Read any IPv4 spelling the C resolver accepts: 2130706433, 0177.0.0.1, 0x7f.1, 127.1.

    Returns None when the text is not a valid IPv4 spelling.
    """
    stripped = host.removesuffix(".")
    parts = stripped.split(".")
    if not 1 <= len(parts) <= 4 or any(not part for part in parts):
        return None
    numbers = [_ipv4_part(part) for part in parts]
    if any(number is None for number in numbers):
        return None
    values = [number for number in numbers if number is not None]
    *head, last = values
    if any(value > 255 for value in head) or last >= 256 ** (5 - len(values)):
        return None
    result = last
    for index, value in enumerate(head):
        result += value << (8 * (3 - index))
    return ipaddress.IPv4Address(result)
