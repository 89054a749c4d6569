"""The OpenAPI document marks the open probes open, and documents /ready's 503."""

from __future__ import annotations

from app.testing.fakes import FakeBackend
from tests.support.app import http_client, make_app, make_settings


async def test_health_and_ready_are_documented_as_open_and_ready_documents_its_503() -> None:
    async with http_client(make_app(make_settings(), [FakeBackend()])) as client:
        doc = (await client.get("/schema/openapi.json")).json()
        # What the document says matches what the server does: both answer without a token.
        for path in ("/health", "/ready"):
            assert (await client.get(path)).status_code in (200, 503), path
    assert doc["security"] == [{"BearerToken": []}]  # the document's default: a token
    assert doc["paths"]["/health"]["get"]["security"] == [{}]
    assert doc["paths"]["/ready"]["get"]["security"] == [{}]
    assert "503" in doc["paths"]["/ready"]["get"]["responses"]
    # Positive control: a token-checked route keeps the default requirement.
    assert "security" not in doc["paths"]["/api/budget"]["get"]
