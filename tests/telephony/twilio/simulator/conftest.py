"""Real-socket doubles for the Twilio simulator's tests.

`OurServer` stands where phonebridge's /twilio/* views stand: it checks X-Twilio-Signature
with the official RequestValidator (as telephony/twilio/webhooks.py does), records every
form, and answers the voice webhook with TwiML. `StreamServer` stands where our media socket
stands: it records Twilio's frames and echoes `media` back with the streamSid, as a
bidirectional <Connect><Stream> server must.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]
from websockets.asyncio.server import ServerConnection, serve

from telephony.simulation.server import serve_asgi
from telephony.twilio.simulator.carrier import Carrier
from telephony.twilio.simulator.server import running_simulator
from tests.live import read_body
from tests.telephony.telnyx.simulator.conftest import EchoServer

NUMBER = "+15550001111"
CALLER = "+15557654321"


@dataclass
class Form:
    path: str
    params: dict[str, str]
    headers: dict[str, str]
    verified: bool


@dataclass
class OurServer:
    token: str = ""
    url: str = ""
    twiml: str = "<Response><Hangup/></Response>"
    forms: list[Form] = field(default_factory=list)
    arrived: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = (await read_body(receive)).decode()
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        params = dict(parse_qsl(body, keep_blank_values=True))
        url = self.url + scope["path"]
        verified = RequestValidator(self.token).validate(
            url, params, headers.get("x-twilio-signature", "")
        )
        async with self.arrived:
            self.forms.append(Form(scope["path"], params, headers, verified))
            self.arrived.notify_all()
        status, reply = (200, self.twiml) if scope["path"] == "/twilio/voice" else (204, "")
        if not verified:
            status, reply = 403, ""
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": reply.encode()})

    def at(self, path: str) -> list[Form]:
        return [f for f in self.forms if f.path == path]

    async def wait_for(self, path: str, count: int = 1, timeout: float = 10, **match: str) -> Form:
        def found() -> list[Form]:
            return [f for f in self.at(path) if all(f.params.get(k) == v for k, v in match.items())]

        async with self.arrived:
            await asyncio.wait_for(self.arrived.wait_for(lambda: len(found()) >= count), timeout)
        return found()[count - 1]


@dataclass
class StreamServer(EchoServer):
    """Telnyx's echo server's recording and waiting, with Twilio's echo: media carries the
    streamSid back (https://www.twilio.com/docs/voice/media-streams/websocket-messages#send-a-media-message)."""

    async def handler(self, ws: ServerConnection) -> None:
        self.connection = ws
        try:
            async for message in ws:
                frame = json.loads(message)
                self.frames.append(frame)
                if self.echo and frame["event"] == "media":
                    reply = {
                        "event": "media",
                        "streamSid": frame["streamSid"],
                        "media": {"payload": frame["media"]["payload"]},
                    }
                    await ws.send(json.dumps(reply))
        finally:
            self.closed.set()


@pytest.fixture
async def stream_server():
    stream = StreamServer()
    async with serve(stream.handler, "127.0.0.1", 0, compression=None) as server:
        port = server.sockets[0].getsockname()[1]
        stream.url = f"ws://127.0.0.1:{port}/twilio/media/abc/token"
        yield stream


@pytest.fixture
async def ours():
    server = OurServer()
    async with serve_asgi(server) as served:
        server.url = served.url
        yield server


@pytest.fixture
async def sim(ours):
    carrier = Carrier(seed=7, webhook_timeout_s=2.0)
    ours.token = carrier.auth_token
    carrier.seed(
        phone_number=NUMBER,
        voice_url=ours.url + "/twilio/voice",
        status_callback=ours.url + "/twilio/status",
    )
    async with running_simulator(carrier) as running:
        yield running


@pytest.fixture
async def api(sim):
    auth = (sim.account_sid, sim.auth_token)
    base = f"{sim.base_url}/2010-04-01/Accounts/{sim.account_sid}"
    async with httpx.AsyncClient(base_url=base, auth=auth, timeout=5) as client:
        yield client


def connect_twiml(url: str, **parameters: str) -> str:
    params = "".join(f'<Parameter name="{k}" value="{v}"/>' for k, v in parameters.items())
    return f'<Response><Connect><Stream url="{url}">{params}</Stream></Connect></Response>'
