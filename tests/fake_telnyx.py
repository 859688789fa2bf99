"""A stand-in for Telnyx's cloud, which cannot run here: it answers the real TelnyxClient
(and so the real services) over httpx.MockTransport."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

import httpx

from telephony.telnyx import client as telnyx_client


@dataclass
class FakeTelnyx:
    """Telnyx's cloud cannot run here: this answers the real client over httpx.MockTransport.

    `responses` maps a path suffix (e.g. "actions/answer" or "calls") to a list of
    (status, body, headers) answers used in turn; anything else gets 200 {"data":{"result":"ok"}}.
    """

    requests: list[httpx.Request] = field(default_factory=list)
    responses: dict[str, list[tuple[int, dict[str, Any], dict[str, str]]]] = field(
        default_factory=dict
    )
    sleeps: list[float] = field(default_factory=list)
    delay: float = 0.0  # seconds Telnyx takes to answer
    arrived_at: list[float] = field(default_factory=list)  # loop.time() of each request

    async def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        self.arrived_at.append(asyncio.get_running_loop().time())
        if self.delay:
            await asyncio.sleep(self.delay)
        for suffix, queue in self.responses.items():
            if request.url.path.endswith(suffix) and queue:
                status, body, headers = queue.pop(0)
                if status == 0:
                    raise httpx.ConnectTimeout("simulated timeout", request=request)
                return httpx.Response(status, json=body, headers=headers)
        if request.url.path.endswith("/calls") and request.method == "POST":
            return httpx.Response(
                200,
                json={
                    "data": {
                        "call_control_id": f"v3:dialed-{len(self.requests)}",
                        "call_leg_id": "leg-1",
                        "call_session_id": "session-1",
                        "is_alive": False,
                        "record_type": "call",
                    }
                },
            )
        return httpx.Response(200, json={"data": {"result": "ok"}})

    def bodies(self, suffix: str) -> list[dict[str, Any]]:
        return [json.loads(r.content) for r in self.requests if r.url.path.endswith(suffix)]

    def fail(
        self,
        suffix: str,
        status: int,
        code: str = "",
        title: str = "",
        detail: str = "",
        **headers: str,
    ) -> None:
        body = {"errors": [{"code": code, "title": title, "detail": detail}]} if code else {}
        self.responses.setdefault(suffix, []).append((status, body, headers))

    def time_out(self, suffix: str) -> None:
        self.responses.setdefault(suffix, []).append((0, {}, {}))

    def client(self) -> telnyx_client.TelnyxClient:
        async def no_wait(seconds: float) -> None:
            self.sleeps.append(seconds)

        return telnyx_client.TelnyxClient(
            api_key="KEYTEST",
            base_url="https://api.telnyx.test/v2",
            transport=httpx.MockTransport(self.handler),
            sleep=no_wait,
        )
