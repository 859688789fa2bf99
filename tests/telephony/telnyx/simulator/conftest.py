"""Real-socket doubles for the simulator's tests: a webhook receiver and a media echo server."""

from __future__ import annotations

import asyncio
import base64
import json
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey
from websockets.asyncio.server import ServerConnection, serve

from telephony.telnyx.simulator.carrier import Carrier
from telephony.telnyx.simulator.server import running_simulator, serve_asgi
from tests.live import read_body

API_KEY = "KEYTEST"
APP_ID = "1000000000000000001"
NUMBER = "+15550100000"
CALLER = "+15550001111"


@dataclass
class Received:
    body: bytes
    headers: dict[str, str]
    status: int

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.body)

    @property
    def event_type(self) -> str:
        return self.json["data"]["event_type"]

    @property
    def payload(self) -> dict[str, Any]:
        return self.json["data"]["payload"]

    def verified_by(self, public_key_b64: str) -> bool:
        key = VerifyKey(base64.b64decode(public_key_b64))
        try:
            signature = base64.b64decode(self.headers["telnyx-signature-ed25519"])
            signed = self.headers["telnyx-timestamp"].encode() + b"|" + self.body
            key.verify(signed, signature)
        except (KeyError, BadSignatureError, ValueError):
            return False
        return True


class WebhookReceiver:
    """A minimal ASGI endpoint that records every POST and answers with queued statuses."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.statuses: deque[int] = deque()
        self.delay_s = 0.0
        self._arrived = asyncio.Condition()

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = await read_body(receive)
        status = self.statuses.popleft() if self.statuses else 200
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        async with self._arrived:
            self.received.append(Received(body, headers, status))
            self._arrived.notify_all()
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    def events(self, call_control_id: str | None = None) -> list[Received]:
        return [
            r
            for r in self.received
            if call_control_id is None or r.payload.get("call_control_id") == call_control_id
        ]

    def types(self, call_control_id: str | None = None) -> list[str]:
        return [r.event_type for r in self.events(call_control_id)]

    async def wait_for(
        self,
        event_type: str,
        call_control_id: str | None = None,
        *,
        count: int = 1,
        timeout: float = 5,
    ) -> Received:
        def matching() -> list[Received]:
            return [r for r in self.events(call_control_id) if r.event_type == event_type]

        async with self._arrived:
            await asyncio.wait_for(
                self._arrived.wait_for(lambda: len(matching()) >= count), timeout
            )
        return matching()[count - 1]


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
async def receiver():
    hook = WebhookReceiver()
    async with serve_asgi(hook) as served:
        hook.url = served.url + "/telnyx/events"  # type: ignore[attr-defined]
        yield hook


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
