"""Raw engine.io clients for transport tests: exact frames, nothing a real client would fix up.

``RawWebSocket`` speaks engine.io v4 over aiohttp's websocket client; ``RawPolling`` speaks
long-polling over httpx. Both decode what the server sends into ``(event, payload)`` pairs for
Socket.IO events, so a test can say which answers came, and whether the transport closed.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import httpx

RECORD_SEPARATOR = "\x1e"


def event_packet(event: str, *args: Any) -> str:
    """A Socket.IO EVENT on namespace "/" as engine.io MESSAGE text (``42[...]``)."""
    return "42" + json.dumps([event, *args])


def nested(depth: int) -> str:
    """JSON text of an object nested ``depth`` levels deep (built as text: any depth)."""
    return '{"a":' * (depth - 1) + "{}" + "}" * (depth - 1)


def raw_event(event: str, payload_json: str) -> str:
    """``42["event", <payload_json>]`` with the payload spliced in as given."""
    return "42[" + json.dumps(event) + "," + payload_json + "]"


def decode_event(text: str) -> tuple[str, Any] | None:
    """``42["name", payload]`` -> ("name", payload); other packets -> None."""
    if not text.startswith("42"):
        return None
    body = json.loads(text[2:])
    return body[0], body[1] if len(body) > 1 else None


class RawWebSocket:
    """One engine.io websocket session; ``texts`` collects every text frame received."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        ws: aiohttp.ClientWebSocketResponse,
        answer_pings: bool = True,
    ):
        self.session = session
        self.answer_pings = answer_pings
        self.ws = ws
        self.handshake: dict[str, Any] = {}
        self.texts: asyncio.Queue[str] = asyncio.Queue()
        self.closed = asyncio.Event()
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def open(cls, base_url: str, answer_pings: bool = True) -> RawWebSocket:
        session = aiohttp.ClientSession()
        url = base_url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
        ws = await session.ws_connect(url, autoping=False, max_msg_size=0)
        raw = cls(session, ws, answer_pings)
        opening = await raw.next_text()
        assert opening.startswith("0"), opening
        raw.handshake = json.loads(opening[1:])
        return raw

    async def _read(self) -> None:
        try:
            async for message in self.ws:
                if message.type == aiohttp.WSMsgType.TEXT:
                    if message.data == "2":  # engine.io PING: answer like a client
                        if self.answer_pings:
                            await self.ws.send_str("3")
                        continue
                    self.texts.put_nowait(message.data)
                    if message.data == "1":  # engine.io CLOSE
                        break
        except (aiohttp.ClientError, ConnectionError):
            pass
        finally:
            self.closed.set()

    async def next_text(self, timeout: float = 3.0) -> str:
        return await asyncio.wait_for(self.texts.get(), timeout)

    async def send(self, text: str) -> None:
        await self.ws.send_str(text)

    async def send_bytes(self, data: bytes) -> bool:
        """Send one binary frame; False once the server has closed the connection."""
        if self.closed.is_set() or self.ws.closed:
            return False
        try:
            await self.ws.send_bytes(data)
        except (aiohttp.ClientError, ConnectionError, RuntimeError):
            return False
        return True

    async def join(self, auth: dict[str, Any] | None = None) -> str:
        """Join namespace "/" (``40``); returns the Socket.IO sid."""
        await self.send("40" + (json.dumps(auth) if auth is not None else ""))
        answer = await self.next_text()
        assert answer.startswith("40"), answer
        return str(json.loads(answer[2:])["sid"])

    async def next_event(self, timeout: float = 3.0) -> tuple[str, Any]:
        while True:
            decoded = decode_event(await self.next_text(timeout))
            if decoded is not None:
                return decoded

    async def wait_closed(self, timeout: float = 3.0) -> bool:
        try:
            await asyncio.wait_for(self.closed.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def close(self) -> None:
        await self.ws.close()
        self._reader.cancel()
        await self.session.close()


class RawPolling:
    """One engine.io long-polling session over httpx."""

    def __init__(self, client: httpx.AsyncClient, sid: str, handshake: dict[str, Any]):
        self.client = client
        self.sid = sid
        self.handshake = handshake

    @classmethod
    async def open(cls, client: httpx.AsyncClient) -> RawPolling:
        answer = await client.get("/socket.io/", params={"EIO": "4", "transport": "polling"})
        assert answer.status_code == 200, answer.text
        handshake = json.loads(answer.text[1:])
        return cls(client, handshake["sid"], handshake)

    def _params(self) -> dict[str, str]:
        return {"EIO": "4", "transport": "polling", "sid": self.sid}

    async def post(self, *packets: str) -> httpx.Response:
        return await self.client.post(
            "/socket.io/", params=self._params(), content=RECORD_SEPARATOR.join(packets)
        )

    async def get(self, timeout: float = 5.0) -> tuple[int, list[str]]:
        answer = await self.client.get("/socket.io/", params=self._params(), timeout=timeout)
        if answer.status_code != 200:
            return answer.status_code, []
        return 200, answer.text.split(RECORD_SEPARATOR)

    async def events(self, timeout: float = 5.0) -> list[tuple[str, Any]]:
        """One GET's Socket.IO events (PINGs answered)."""
        status, packets = await self.get(timeout)
        assert status == 200
        if "2" in packets:
            await self.post("3")
        return [e for e in (decode_event(p) for p in packets) if e is not None]
