"""Shutdown stops accepting, lets in-flight requests finish, then closes every instance."""

from __future__ import annotations

import asyncio

import httpx

from app.testing import eventually
from app.testing.fakes import FakeBackend
from tests.support.app import AUTH, make_app, make_settings
from tests.support.server import running_server


async def test_in_flight_request_finishes_and_instances_are_closed() -> None:
    backend = FakeBackend(load_markets_delay=0.5)
    application = make_app(make_settings(), [backend])
    async with httpx.AsyncClient(headers=AUTH, timeout=10) as client:
        async with running_server(application, graceful_seconds=5) as base_url:
            warm = await client.post(
                f"{base_url}/api/exchange/instance",
                json={"exchangeId": "fake", "apiKey": "warm", "secret": "s"},
            )
            assert warm.status_code == 200
            in_flight = asyncio.create_task(
                # Another market type: its markets load afresh, taking load_markets_delay.
                client.post(
                    f"{base_url}/api/exchange/instance",
                    json={"exchangeId": "fake", "marketType": "futures"},
                )
            )
            await eventually(
                lambda: len(backend.created) == 2, message="the slow request is inside the server"
            )
            assert not in_flight.done()
        # Leaving the block asked the server to stop; the slow request must still succeed.
        response = await in_flight
    assert response.status_code == 200
    assert all(gateway.closed for gateway in backend.created)
    assert backend.closed
