"""A real-socket webhook receiver: what Telnyx's webhooks reach when they do not reach us."""

from __future__ import annotations

import asyncio
import base64
import json
from collections import deque
from dataclasses import dataclass
from typing import Any

from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from tests.live import read_body


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
