"""Real-socket doubles for the simulator's tests: a media echo server (the webhook receiver is
one level up, shared with the embedded adapter's tests)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from websockets.asyncio.server import ServerConnection, serve

from telephony.telnyx.simulator.carrier import Carrier
from telephony.telnyx.simulator.server import running_simulator

API_KEY = "KEYTEST"
APP_ID = "1000000000000000001"
NUMBER = "+15550100000"
CALLER = "+15550001111"


@dataclass
class EchoServer:
    """A media WebSocket server that records frames and echoes `media` payloads back."""

    echo: bool = True
    frames: list[dict[str, Any]] = field(default_factory=list)
    arrival: list[float] = field(default_factory=list)
    request_headers: dict[str, str] = field(default_factory=dict)
    close_code: int | None = None
    connection: ServerConnection | None = None
    url: str = ""
    closed: asyncio.Event = field(default_factory=asyncio.Event)

    async def handler(self, ws: ServerConnection) -> None:
        self.connection = ws
        assert ws.request is not None
        self.request_headers = {k.lower(): v for k, v in ws.request.headers.raw_items()}
        loop = asyncio.get_running_loop()
        try:
            async for message in ws:
                frame = json.loads(message)
                self.frames.append(frame)
                self.arrival.append(loop.time())
                if self.echo and frame["event"] == "media" and frame["media"]["track"] == "inbound":
                    reply = {"event": "media", "media": {"payload": frame["media"]["payload"]}}
                    await ws.send(json.dumps(reply))
        finally:
            self.close_code = ws.close_code
            self.closed.set()

    def of(self, event: str) -> list[dict[str, Any]]:
        return [f for f in self.frames if f["event"] == event]

    async def wait_frames(self, event: str, count: int = 1, timeout: float = 5) -> list[dict]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(self.of(event)) < count:
            if loop.time() > deadline:
                raise TimeoutError(f"fewer than {count} {event} frames")
            await asyncio.sleep(0.005)
        return self.of(event)

    async def send(self, frame: dict[str, Any]) -> None:
        assert self.connection is not None
        await self.connection.send(json.dumps(frame))


@pytest.fixture
async def echo_server():
    echo = EchoServer()
    async with serve(echo.handler, "127.0.0.1", 0, compression=None) as server:
        port = server.sockets[0].getsockname()[1]
        echo.url = f"ws://127.0.0.1:{port}/telnyx/media/abc/token"
        yield echo


@pytest.fixture
async def sim(receiver):
    carrier = Carrier(webhook_backoff_s=0.01, webhook_timeout_s=1.0, seed=7)
    carrier.seed(
        api_keys=[API_KEY],
        connection_id=APP_ID,
        webhook_event_url=receiver.url,
        phone_number=NUMBER,
    )
    async with running_simulator(carrier) as running:
        yield running


@pytest.fixture
async def api(sim):
    headers = {"Authorization": f"Bearer {API_KEY}"}
    async with httpx.AsyncClient(base_url=sim.base_url, headers=headers, timeout=5) as client:
        yield client
