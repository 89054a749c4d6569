"""ProxyService over fake ports: redirects, method and body rules, timeouts, logs."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from structlog.testing import capture_logs

from app.domain.errors import BadInput, ProxyRefused, ProxyTimeout
from app.domain.proxy import ProxyCall, ProxyFailed, ProxyPolicy, ProxyService
from app.ports.outbound_http import OutboundHttp, OutboundRequest, OutboundResponse
from tests.unit.test_proxy_guard import DNS, PUBLIC_V4, StubResolver

Reply = OutboundResponse | Callable[[OutboundRequest], OutboundResponse]


class FakeOutboundHttp:
    """Answers by URL from a script; records every request it was asked to send."""

    def __init__(self, script: dict[str, Reply], delay: float = 0.0) -> None:
        self.script = script
        self.delay = delay
        self.sent: list[OutboundRequest] = []

    async def send(self, request: OutboundRequest) -> OutboundResponse:
        self.sent.append(request)
        if self.delay:
            await asyncio.sleep(self.delay)
        reply = self.script[request.url]
        return reply(request) if callable(reply) else reply

    async def aclose(self) -> None:
        pass


def ok(body: bytes = b'{"ok":true}', status: int = 200, **headers: str) -> OutboundResponse:
    return OutboundResponse(status, "OK", tuple(headers.items()), body)


def redirect(location: str, status: int = 302) -> OutboundResponse:
    return OutboundResponse(status, "Found", (("Location", location),), b"")


DNS_EXTRA = {**DNS, "a.test": [PUBLIC_V4], "b.test": [PUBLIC_V4]}


def service(
    script: dict[str, Reply], **policy: object
) -> tuple[ProxyService, FakeOutboundHttp, StubResolver]:
    http = FakeOutboundHttp(script)
    resolver = StubResolver(DNS_EXTRA)
    return ProxyService(http, resolver, ProxyPolicy.build(**policy)), http, resolver  # type: ignore[arg-type]


def test_the_fake_satisfies_the_port() -> None:
    assert isinstance(FakeOutboundHttp({}), OutboundHttp)


async def test_json_and_text_bodies_and_status_are_reported() -> None:
    svc, http, _ = service(
        {
            "https://a.test/json": ok(b'{"a":[1,2]}'),
            "https://a.test/text": ok(b"plain \xc3\xa9", status=404),
            "https://a.test/latin": OutboundResponse(200, "OK", (), b"caf\xe9", "latin-1"),
        }
    )
    result = await svc.forward(ProxyCall(url="https://a.test/json"))
    assert (result.status, result.success, result.data) == (200, True, {"a": [1, 2]})
    result = await svc.forward(ProxyCall(url="https://a.test/text"))
    assert (result.status, result.success, result.data) == (404, False, "plain é")
    assert (await svc.forward(ProxyCall(url="https://a.test/latin"))).data == "café"
    assert http.sent[0].connect_to == (PUBLIC_V4,)


async def test_duplicate_response_headers_are_joined_under_lower_case_names() -> None:
    response = OutboundResponse(200, "OK", (("X-A", "1"), ("x-a", "2"), ("Content-Type", "t")), b"")
    svc, _, _ = service({"https://a.test/": response})
    result = await svc.forward(ProxyCall(url="https://a.test/"))
    assert result.headers == {"x-a": "1, 2", "content-type": "t"}
    assert result.data == ""


async def test_redirects_are_followed_and_each_hop_is_vetted() -> None:
    svc, http, resolver = service(
        {
            "https://a.test/start": redirect("/next"),
            "https://a.test/next": redirect("https://b.test/end#frag", 301),
            "https://b.test/end": ok(),
        }
    )
    result = await svc.forward(ProxyCall(url="https://a.test/start"))
    assert result.data == {"ok": True}
    assert [r.url for r in http.sent] == [
        "https://a.test/start",
        "https://a.test/next",
        "https://b.test/end",
    ]
    assert resolver.calls == ["a.test", "a.test", "b.test"]


async def test_a_redirect_to_a_private_address_is_refused_before_sending() -> None:
    svc, http, _ = service(
        {"https://a.test/": redirect("http://169.254.169.254/latest/meta-data/")}
    )
    with pytest.raises(
        ProxyRefused, match=r"169\.254\.169\.254 is in a blocked range \(link-local\)"
    ):
        await svc.forward(ProxyCall(url="https://a.test/"))
    assert [r.url for r in http.sent] == ["https://a.test/"]


async def test_303_and_post_302_turn_into_a_bodyless_get_but_307_keeps_everything() -> None:
    svc, http, _ = service(
        {
            "https://a.test/303": redirect("/done", 303),
            "https://a.test/307": redirect("/done", 307),
            "https://a.test/done": ok(),
        }
    )
    await svc.forward(ProxyCall(url="https://a.test/303", method="POST", body={"x": 1}))
    follow = http.sent[1]
    assert (follow.method, follow.body) == ("GET", None)
    assert not any(name.lower() == "content-type" for name, _ in follow.headers)
    await svc.forward(ProxyCall(url="https://a.test/307", method="PUT", body="raw"))
    follow = http.sent[3]
    assert (follow.method, follow.body) == ("PUT", b"raw")


async def test_credentials_do_not_follow_a_redirect_to_another_origin() -> None:
    svc, http, _ = service(
        {
            "https://a.test/": redirect("/same"),
            "https://a.test/same": redirect("https://b.test/"),
            "https://b.test/": ok(),
        }
    )
    headers = {"Authorization": "Bearer t", "Cookie": "c=1", "X-Keep": "y"}
    await svc.forward(ProxyCall(url="https://a.test/", headers=headers))
    names = [{name for name, _ in request.headers} for request in http.sent]
    assert names[1] == {"Authorization", "Cookie", "X-Keep"}
    assert names[2] == {"X-Keep"}


async def test_too_many_redirects_fail_and_zero_returns_the_redirect_itself() -> None:
    loop = {"https://a.test/": redirect("https://a.test/")}
    svc, http, _ = service(loop, max_redirects=3)
    with pytest.raises(ProxyFailed, match=r"Too many redirects \(more than 3\)"):
        await svc.forward(ProxyCall(url="https://a.test/"))
    assert len(http.sent) == 4
    svc, http, _ = service(loop, max_redirects=0)
    result = await svc.forward(ProxyCall(url="https://a.test/"))
    assert (result.status, result.headers) == (302, {"location": "https://a.test/"})


async def test_the_timeout_covers_the_whole_exchange_and_is_clamped() -> None:
    svc, http, _ = service({"https://a.test/": ok()}, min_timeout_ms=50, max_timeout_ms=80)
    http.delay = 5.0
    with pytest.raises(ProxyTimeout) as timeout:
        await asyncio.wait_for(svc.forward(ProxyCall(url="https://a.test/", timeout_ms=999_999)), 2)
    assert timeout.value.details == "Request timed out after 80ms"
    with pytest.raises(ProxyTimeout, match="after 50ms"):
        await asyncio.wait_for(svc.forward(ProxyCall(url="https://a.test/", timeout_ms=1)), 2)
    assert 0 < http.sent[0].timeout_seconds <= 0.08


async def test_an_adapter_timeout_is_reported_with_the_callers_timeout() -> None:
    def slow(_: OutboundRequest) -> OutboundResponse:
        raise ProxyTimeout("read timeout")

    svc, _, _ = service({"https://a.test/": slow})
    with pytest.raises(ProxyTimeout, match="after 1500ms"):
        await svc.forward(ProxyCall(url="https://a.test/", timeout_ms=1500))


async def test_missing_url_disabled_proxy_and_bad_headers_are_refused_without_sending() -> None:
    svc, http, _ = service({})
    with pytest.raises(BadInput, match="URL is required"):
        await svc.forward(ProxyCall(url=""))
    with pytest.raises(ProxyRefused, match="line break"):
        await svc.forward(ProxyCall(url="https://a.test/", headers={"X": "a\r\nHost: evil"}))
    with pytest.raises(ProxyRefused, match="HTTP tokens"):
        await svc.forward(ProxyCall(url="https://a.test/", headers={"Bad Name": "x"}))
    disabled, _, _ = service({}, enabled=False)
    with pytest.raises(ProxyRefused, match="disabled"):
        await disabled.forward(ProxyCall(url="https://a.test/"))
    assert http.sent == []


async def test_logs_carry_scheme_host_and_path_but_never_query_or_headers() -> None:
    svc, _, _ = service({"https://a.test/v1/order?signature=SECRETSIG": ok()})
    with capture_logs() as logs:
        await svc.forward(
            ProxyCall(
                url="https://a.test/v1/order?signature=SECRETSIG",
                headers={"X-MBX-APIKEY": "SECRETKEY"},
            )
        )
        with pytest.raises(ProxyRefused):
            await svc.forward(ProxyCall(url="http://10.0.0.1/?token=SECRETTOKEN"))
    assert [entry["event"] for entry in logs] == ["proxy.forwarded", "proxy.refused"]
    assert logs[0]["target"] == "https://a.test/v1/order"
    assert logs[1]["target"] == "http://10.0.0.1/"
    assert "SECRET" not in repr(logs)
