"""`manage.py simulate_call` against a stand-in phonebridge server, over real sockets."""

from __future__ import annotations

import asyncio
import json
import socket
from io import StringIO
from typing import Any

import httpx
import pytest
from django.core.management import call_command

from telephony.telnyx.simulator.server import serve_asgi
from tests.telephony.telnyx.simulator.conftest import APP_ID

pytestmark = pytest.mark.timeout(60)

SEED_HEX = "11" * 32


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class StandInServer:
    """Answers every inbound call with a stream to the echo server, as phonebridge does."""

    def __init__(self, api_base: str, media_url: str) -> None:
        self.api_base = api_base
        self.media_url = media_url
        self.events: list[dict[str, Any]] = []
        self._tasks: set[asyncio.Task] = set()

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        message = await receive()
        event = json.loads(message["body"])["data"]
        self.events.append(event)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        if event["event_type"] == "call.initiated" and event["payload"]["direction"] == "incoming":
            task = asyncio.create_task(self._answer(event["payload"]["call_control_id"]))
            self._tasks.add(task)

    async def _answer(self, call_id: str) -> None:
        body = {
            "stream_url": self.media_url,
            "stream_bidirectional_mode": "rtp",
            "stream_bidirectional_codec": "PCMU",
        }
        async with httpx.AsyncClient(headers={"Authorization": "Bearer any"}) as client:
            await client.post(f"{self.api_base}/calls/{call_id}/actions/answer", json=body)


def run_command(*args: str) -> str:
    out = StringIO()
    call_command("simulate_call", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


async def dial_when_up(api_base: str, body: dict[str, Any]) -> httpx.Response:
    async with httpx.AsyncClient(headers={"Authorization": "Bearer any"}) as client:
        for _ in range(100):
            try:
                return await client.post(f"{api_base}/calls", json=body)
            except httpx.ConnectError:
                await asyncio.sleep(0.05)
    raise TimeoutError("the simulator never came up")


async def test_it_rings_the_server_and_reports_each_call(echo_server, settings):
    settings.TELNYX_API_KEY = ""
    port = free_port()
    api_base = f"http://127.0.0.1:{port}/_simulator/telnyx/v2"
    stand_in = StandInServer(api_base, echo_server.url)
    async with serve_asgi(stand_in) as served:
        args = f"--server {served.url} --listen 127.0.0.1:{port} --calls 2 --concurrency 2"
        args += f" --duration 0.5 --seed-hex {SEED_HEX} --dtmf 7 --dtmf-at 0.1"
        output = await asyncio.to_thread(run_command, *args.split())

    assert f"TELNYX_API_BASE_URL={api_base}" in output
    assert "TELNYX_PUBLIC_KEY=" in output
    call_lines = [line for line in output.splitlines() if line.startswith("v3:")]
    assert len(call_lines) == 2
    assert all(" ok " in line and "hangup=normal_clearing/caller" in line for line in call_lines)
    assert "calls: 2 ok: 2 failed: 0" in output
    types = [e["event_type"] for e in stand_in.events]
    assert types.count("call.hangup") == 2
    assert "call.dtmf.received" in types


async def test_it_answers_the_server_s_dials_until_enough_calls_ended(
    echo_server, receiver, settings
):
    settings.TELNYX_API_KEY = ""
    settings.TELNYX_CALL_CONTROL_APP_ID = APP_ID
    port = free_port()
    server = receiver.url.removesuffix("/telnyx/events")
    args = f"--serve-outbound --server {server} --listen 127.0.0.1:{port} --calls 1"
    args += f" --duration 0.4 --seed-hex {SEED_HEX}"
    serving = asyncio.create_task(asyncio.to_thread(run_command, *args.split()))
    body = {
        "connection_id": APP_ID,
        "to": "+15557654321",
        "from": "+15550100000",
        "stream_url": echo_server.url,
        "stream_bidirectional_mode": "rtp",
    }

    response = await dial_when_up(f"http://127.0.0.1:{port}/_simulator/telnyx/v2", body)
    output = await asyncio.wait_for(serving, 20)

    assert response.status_code == 200
    assert "calls: 1 ok: 1 failed: 0" in output
    assert "hangup=normal_clearing/callee" in output
    await receiver.wait_for("call.hangup")
