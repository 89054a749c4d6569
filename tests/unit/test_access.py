"""Named tokens, their quotas and their reload, with an injected clock."""

from __future__ import annotations

import hashlib

import pytest

from app.adapters.metrics import RecordingMetrics
from app.adapters.quota import InProcessQuotaStore
from app.domain.access import API_TOKEN_NAME, AccessService, NamedToken, QuotaExceeded, TokenBook


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def named(name: str, value: str, **quotas: int) -> NamedToken:
    return NamedToken(name, hashlib.sha256(value.encode()).digest(), **quotas)


def service(
    *tokens: NamedToken, clock: Clock | None = None
) -> tuple[AccessService, RecordingMetrics]:
    metrics = RecordingMetrics()
    store = InProcessQuotaStore(clock or Clock())
    return AccessService(TokenBook.build("primary", tokens), store, metrics), metrics


def test_identify_finds_api_token_and_named_tokens_and_nothing_else() -> None:
    access, _ = service(named("desk-a", "alpha"), named("desk-b", "beta"))
    assert access.identify("primary").name == API_TOKEN_NAME  # type: ignore[union-attr]
    assert access.identify(b"alpha").name == "desk-a"  # type: ignore[union-attr]
    assert access.identify("beta").name == "desk-b"  # type: ignore[union-attr]
    for wrong in ("alph", "alpha ", "", None, "x" * 5000):
        assert access.identify(wrong) is None


def test_the_book_keeps_no_token_value() -> None:
    book = TokenBook.build("primary", [named("desk-a", "alpha")])
    held = repr([(t.name, t.sha256) for t in book._tokens])
    assert "alpha" not in held and "primary" not in held
    assert book.names == [API_TOKEN_NAME, "desk-a"]


async def test_quota_allows_a_minute_burst_then_tells_when_to_retry() -> None:
    clock = Clock()
    token = named("desk-a", "alpha", requests_per_minute=3)
    access, metrics = service(token, clock=clock)
    for _ in range(3):
        await access.admit_request(token)
    with pytest.raises(QuotaExceeded) as refused:
        await access.admit_request(token)
    assert refused.value.retry_after_seconds == 20  # one request every 60/3 s
    assert metrics.counts[("token_request", "desk-a", "quota")] == 1
    assert metrics.counts[("token_request", "desk-a", "ok")] == 3
    clock.now += 20
    await access.admit_request(token)  # one more after the interval
    with pytest.raises(QuotaExceeded):
        await access.admit_request(token)


async def test_tokens_without_quota_are_never_refused() -> None:
    token = named("free", "gamma")
    access, metrics = service(token)
    for _ in range(500):
        await access.admit_request(token)
    assert metrics.counts[("token_request", "free", "ok")] == 500


async def test_reload_revokes_removed_tokens_and_keeps_the_others() -> None:
    a, b = named("desk-a", "alpha"), named("desk-b", "beta", max_subscriptions=1)
    access, _ = service(a, b)
    await access.reload(TokenBook.build("primary", [b]))
    assert access.identify("alpha") is None and not access.is_active("desk-a")
    assert access.identify("beta") == b and access.is_active("desk-b")
    assert access.identify("primary") is not None


def test_subscription_quota() -> None:
    access, metrics = service(named("desk-b", "beta", max_subscriptions=2), named("free", "f"))
    assert access.subscription_allowed("desk-b", 1)
    assert not access.subscription_allowed("desk-b", 2)
    assert access.subscription_allowed("free", 10_000)
    assert not access.subscription_allowed("revoked-or-unknown", 0)
    assert metrics.counts[("token_request", "desk-b", "quota")] == 1


def test_a_book_still_accepts_a_token_until_it_is_removed_or_rotated() -> None:
    a = named("desk-a", "alpha", max_subscriptions=5)
    assert TokenBook.build("primary", [a]).still_accepts(a)
    assert TokenBook.build(
        "primary", [named("desk-a", "alpha", max_subscriptions=1)]
    ).still_accepts(a)  # a quota change keeps the token
    assert not TokenBook.build("primary", []).still_accepts(a)  # removed
    assert not TokenBook.build("primary", [named("desk-a", "alpha-2")]).still_accepts(a)  # rotated


async def test_reload_listeners_hear_every_reload_even_after_one_fails() -> None:
    a = named("desk-a", "alpha")
    access, _ = service(a)
    heard: list[list[str]] = []

    async def broken(book: TokenBook) -> None:
        raise RuntimeError("listener bug")

    async def listener(book: TokenBook) -> None:
        heard.append(book.names)

    access.add_reload_listener(broken)
    access.add_reload_listener(listener)
    await access.reload(TokenBook.build("primary", []))
    await access.reload(TokenBook.build("primary", [a]))
    assert heard == [[API_TOKEN_NAME], [API_TOKEN_NAME, "desk-a"]]
    assert access.is_active("desk-a")  # the failing listener did not undo the reload
