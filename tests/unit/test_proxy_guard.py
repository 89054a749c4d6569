"""The SSRF guard over every blocked range and IPv4 spelling, with a stub resolver."""

from __future__ import annotations

import pytest

from app.domain.errors import ProxyRefused
from app.domain.proxy import ProxyFailed, ProxyPolicy, SsrfGuard
from app.domain.proxy.guard import log_url_of, parse_target

PUBLIC_V4 = "93.184.216.34"
PUBLIC_V6 = "2606:2800:220:1:248:1893:25c8:1946"


class StubResolver:
    """Answers from a table; never touches DNS. Records each lookup."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table
        self.calls: list[str] = []

    async def resolve(self, host: str) -> list[str]:
        self.calls.append(host)
        if host not in self.table:
            raise ProxyFailed(f"Could not resolve host {host}")
        return list(self.table[host])


DNS = {
    "example.test": [PUBLIC_V4, PUBLIC_V6],
    "localhost": ["127.0.0.1", "::1"],
    "metadata.test": ["169.254.169.254"],
    "mixed.test": [PUBLIC_V4, "10.0.0.5"],
    "mixed6.test": [PUBLIC_V6, "fe80::1%eth0"],
    "ula.test": ["fd00::1"],
    "cgnat.test": ["100.64.1.1"],
    "mapped.test": ["::ffff:192.168.0.1"],
    "empty.test": [],
    "gateway.internal": ["10.0.0.9"],
    "other.internal": ["10.0.0.9"],
    "svc.internal": ["10.20.1.1"],
    "split.internal": ["10.20.1.1", "10.30.0.1"],
}


def guard(*allow: str) -> tuple[SsrfGuard, StubResolver]:
    resolver = StubResolver(DNS)
    return SsrfGuard(ProxyPolicy.build(allow=allow), resolver), resolver


BLOCKED = [
    # (url, reason in the details)
    ("http://127.0.0.1/", "loopback"),
    ("http://127.255.255.254:8080/x", "loopback"),
    ("http://10.0.0.5/", "private"),
    ("http://172.16.0.1/", "private"),
    ("http://172.31.255.255/", "private"),
    ("http://192.168.1.1/", "private"),
    ("http://169.254.169.254/latest/meta-data/", "link-local"),
    ("http://100.64.0.1/", "CGNAT"),
    ("http://100.127.255.255/", "CGNAT"),
    ("http://224.0.0.1/", "multicast"),
    ("http://239.255.255.250/", "multicast"),
    ("http://0.0.0.0/", "unspecified"),
    ("http://240.0.0.1/", "reserved"),
    ("http://255.255.255.255/", "reserved"),
    ("http://192.0.0.8/", "reserved"),
    ("http://192.0.2.1/", "documentation"),
    ("http://198.18.0.1/", "benchmarking"),
    ("http://[::1]/", "loopback"),
    ("http://[::]/", "unspecified"),
    ("http://[fc00::1]/", "private"),
    ("http://[fd12:3456::1]/", "private"),
    ("http://[fe80::1]/", "link-local"),
    ("http://[fec0::1]/", "private"),
    ("http://[ff02::1]/", "multicast"),
    ("http://[::ffff:127.0.0.1]/", "loopback, IPv4-mapped 127.0.0.1"),
    ("http://[::ffff:169.254.169.254]/", "link-local, IPv4-mapped"),
    ("http://[::ffff:10.1.2.3]/", "private, IPv4-mapped"),
    ("http://[::127.0.0.1]/", "IPv4-compatible"),
    ("http://[::10.0.0.1]/", "IPv4-compatible"),
    ("http://[64:ff9b::a00:5]/", "private, NAT64 10.0.0.5"),
    ("http://[64:ff9b::7f00:1]/", "loopback, NAT64"),
    ("http://[64:ff9b:1::1]/", "private"),
    ("http://[2002:a9fe:a9fe::1]/", "link-local, 6to4 169.254.169.254"),
    ("http://[2002:7f00:1::]/", "loopback, 6to4"),
    ("http://[2001:0:4136:e378::1]/", "Teredo"),
    ("http://[2001:db8::1]/", "documentation"),
    ("http://[100::1]/", "reserved"),
    ("http://[4000::1]/", "reserved"),
    # IPv4 spellings the C resolver accepts
    ("http://2130706433/", "loopback"),
    ("http://0177.0.0.1/", "loopback"),
    ("http://0x7f.0.0.1/", "loopback"),
    ("http://0X7F.0.0.1/", "loopback"),
    ("http://127.1/", "loopback"),
    ("http://127.0.1/", "loopback"),
    ("http://0x7f000001/", "loopback"),
    ("http://017700000001/", "loopback"),
    ("http://0/", "unspecified"),
    ("http://127.0.0.1./", "loopback"),
    ("http://0xa9.0xfe.0xa9.0xfe/", "link-local"),
    ("http://2852039166/", "link-local"),
    ("http://012.0.0.1/", "private"),
    # host names, every resolved address checked (A and AAAA)
    ("http://localhost/", "loopback"),
    ("http://LOCALHOST./", "loopback"),
    ("http://metadata.test/computeMetadata/v1/", "link-local"),
    ("http://mixed.test/", "private"),
    ("http://mixed6.test/", "link-local"),
    ("http://ula.test/", "private"),
    ("http://cgnat.test/", "CGNAT"),
    ("http://mapped.test/", "private, IPv4-mapped"),
]


@pytest.mark.parametrize(("url", "reason"), BLOCKED)
async def test_blocked_targets_are_refused_with_the_range_named(url: str, reason: str) -> None:
    ssrf, _ = guard()
    with pytest.raises(ProxyRefused) as refused:
        await ssrf.vet(url)
    assert refused.value.details.startswith("Target address ")
    assert f"is in a blocked range ({reason}" in refused.value.details


async def test_details_name_the_address_and_range() -> None:
    ssrf, _ = guard()
    with pytest.raises(ProxyRefused) as refused:
        await ssrf.vet("http://10.0.0.5/")
    assert refused.value.details == "Target address 10.0.0.5 is in a blocked range (private)"


async def test_a_host_with_one_public_and_one_private_address_is_refused() -> None:
    ssrf, resolver = guard()
    with pytest.raises(ProxyRefused, match=r"10\.0\.0\.5 is in a blocked range"):
        await ssrf.vet("https://mixed.test/api")
    assert resolver.calls == ["mixed.test"]


MALFORMED = [
    ("ftp://example.test/", "Scheme 'ftp' is not allowed"),
    ("file:///etc/passwd", "Scheme 'file' is not allowed"),
    ("gopher://example.test/", "Scheme 'gopher'"),
    ("javascript:alert(1)", "Scheme 'javascript'"),
    ("//example.test/", "Scheme '(none)'"),
    ("example.test/path", "Scheme '(none)'"),
    ("http://user:pass@example.test/", "credentials"),
    ("http://user@example.test/", "credentials"),
    ("http://:@example.test/", "credentials"),
    ("http://example.test\\@127.0.0.1/", "credentials"),
    ("http:///path", "no host"),
    ("http://exa mple.test/", "whitespace or control"),
    ("http://example.test/\r\nX: y", "whitespace or control"),
    ("http://256.1.1.1/", "not a valid IPv4"),
    ("http://1.2.3.4.5/", "not a valid IPv4"),
    ("http://08.0.0.1/", "not a valid IPv4"),
    ("http://[fe80::1%25eth0]/", "zone"),
    ("http://[::1/", "malformed"),
    ("http://example.test:99999/", "malformed"),
    ("http://example.test:0/", "Port 0"),
    ("http://exa_mple!.test/", "not a valid host name"),
]


@pytest.mark.parametrize(("url", "details"), MALFORMED)
async def test_bad_urls_are_refused_before_any_lookup(url: str, details: str) -> None:
    ssrf, resolver = guard()
    with pytest.raises(ProxyRefused) as refused:
        await ssrf.vet(url)
    assert details in refused.value.details
    assert resolver.calls == []


ALLOWED = [
    (f"http://{PUBLIC_V4}/", (PUBLIC_V4,)),
    (f"http://[{PUBLIC_V6}]:8443/", (PUBLIC_V6,)),
    ("https://example.test/api?x=1", (PUBLIC_V4, PUBLIC_V6)),
    ("HTTPS://EXAMPLE.test./", (PUBLIC_V4, PUBLIC_V6)),
    ("http://1572395042/", (PUBLIC_V4,)),  # 93.184.216.34 as one number
    ("http://[64:ff9b::5db8:d822]/", ("64:ff9b::5db8:d822",)),  # NAT64 of a public address
    ("http://[::ffff:93.184.216.34]/", ("::ffff:5db8:d822",)),
]


@pytest.mark.parametrize(("url", "addresses"), ALLOWED)
async def test_public_targets_pass_with_every_vetted_address(
    url: str, addresses: tuple[str, ...]
) -> None:
    ssrf, _ = guard()
    vetted = await ssrf.vet(url)
    assert vetted.addresses == addresses


async def test_ip_literals_are_not_resolved() -> None:
    ssrf, resolver = guard()
    await ssrf.vet(f"http://{PUBLIC_V4}/")
    with pytest.raises(ProxyRefused):
        await ssrf.vet("http://2130706433/")
    assert resolver.calls == []


async def test_a_host_without_addresses_is_refused_and_unknown_hosts_fail() -> None:
    ssrf, _ = guard()
    with pytest.raises(ProxyRefused, match="resolved to no addresses"):
        await ssrf.vet("http://empty.test/")
    with pytest.raises(ProxyFailed, match=r"Could not resolve host nowhere\.test"):
        await ssrf.vet("http://nowhere.test/")


ALLOW_LIST = [
    # (allow entries, url, allowed?)
    (["127.0.0.1"], "http://127.0.0.1:8080/", True),
    (["127.0.0.1"], "http://2130706433/", True),
    (["127.0.0.1"], "http://[::ffff:127.0.0.1]/", True),
    (["127.0.0.1"], "http://127.0.0.2/", False),
    (["127.0.0.1"], "http://localhost/", False),  # ::1 is not listed
    (["127.0.0.1", "::1"], "http://localhost/", True),
    (["10.20.0.0/16"], "http://10.20.5.5/", True),
    (["10.20.0.0/16"], "http://10.21.0.1/", False),
    (["10.20.0.0/16"], "http://svc.internal/", True),
    (["10.20.0.0/16"], "http://split.internal/", False),  # 10.30.0.1 is outside the range
    (["gateway.internal"], "http://gateway.internal/", True),
    (["gateway.internal"], "http://GATEWAY.Internal./", True),
    (["gateway.internal"], "http://other.internal/", False),  # same address, other name
    (["gateway.internal"], "http://10.0.0.9/", False),
    (["fd00::/8"], "http://ula.test/", True),
    (["[::1]"], "http://[::1]/", True),
    (["169.254.169.254"], "http://169.254.169.254/", True),
]


@pytest.mark.parametrize(("allow", "url", "allowed"), ALLOW_LIST)
async def test_operator_allow_list_exempts_exactly_what_it_names(
    allow: list[str], url: str, allowed: bool
) -> None:
    ssrf, _ = guard(*allow)
    if allowed:
        assert (await ssrf.vet(url)).addresses
    else:
        with pytest.raises(ProxyRefused, match="blocked range"):
            await ssrf.vet(url)


async def test_the_allow_list_does_not_lift_scheme_or_credential_checks() -> None:
    ssrf, _ = guard("127.0.0.1", "gateway.internal")
    for url in ("ftp://127.0.0.1/", "http://u:p@gateway.internal/"):
        with pytest.raises(ProxyRefused):
            await ssrf.vet(url)


@pytest.mark.parametrize("entry", ["not a host", "10.0.0.0/33", "http://x/", ""])
def test_an_unparsable_allow_entry_is_a_config_error(entry: str) -> None:
    with pytest.raises(ValueError, match=r"proxy\.allow"):
        ProxyPolicy.build(allow=[entry])


@pytest.mark.parametrize(
    ("method", "ok"),
    [
        ("GET", True),
        ("post", True),
        (" Head ", True),
        ("TRACE", False),
        ("CONNECT", False),
        ("G\r\nET", False),
    ],
)
def test_methods_outside_the_allow_list_are_refused(method: str, ok: bool) -> None:
    ssrf, _ = guard()
    if ok:
        assert ssrf.check_method(method) == method.strip().upper()
    else:
        with pytest.raises(ProxyRefused, match="is not allowed"):
            ssrf.check_method(method)


def test_the_url_sent_is_rebuilt_from_what_was_vetted() -> None:
    target = parse_target("HTTP://0x7f.1:8080/a/b?sig=SECRET#frag")
    assert target.url == "http://127.0.0.1:8080/a/b?sig=SECRET"
    assert target.log_url == "http://127.0.0.1:8080/a/b"
    assert parse_target("https://Example.TEST:443").url == "https://example.test/"
    assert parse_target("http://bücher.test/").host == "xn--bcher-kva.test"


def test_log_urls_never_carry_query_fragment_or_credentials() -> None:
    assert log_url_of("https://u:p@api.test:8443/v1/x?signature=abc#f") == "https://api.test/v1/x"
    assert log_url_of("http://[::1") == "(unparsable URL)"
