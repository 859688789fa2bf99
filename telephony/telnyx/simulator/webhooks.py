"""Webhook delivery as Telnyx does it (telnyx-protocol.md §2.1-2.3).

Each event is POSTed as `{"data": {"record_type": "event", "event_type", "id", "occurred_at",
"payload"}, "meta": {"attempt", "delivered_to"}}`, signed with Ed25519 and re-signed on every
attempt. Lanes, retries, failover and faults are telephony.simulation.webhooks'.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from telephony.simulation.webhooks import Delivery, WebhookEvent
from telephony.simulation.webhooks import WebhookSender as _Sender
from telephony.telnyx.signing import SIGNATURE_HEADER, WebhookSigner
from telephony.telnyx.simulator.clock import iso_micro, now_utc

__all__ = ["Delivery", "Event", "WebhookSender"]


@dataclass
class Event(WebhookEvent):
    api_version: str = "2"
    occurred_at: str = field(default_factory=lambda: iso_micro(now_utc()))

    @property
    def call_id(self) -> str | None:
        return self.payload.get("call_control_id")

    def body(self, attempt: int, url: str) -> bytes:
        # API v1 apps (the OpenAPI default!) get v1-style names, so a server that forgot to ask
        # for "2" sees unknown events instead of silently working here and failing on Telnyx.
        event_type = (
            self.event_type if self.api_version == "2" else self.event_type.replace(".", "_")
        )
        data = {
            "record_type": "event",
            "event_type": event_type,
            "id": self.id,
            "occurred_at": self.occurred_at,
            "payload": self.payload,
        }
        return json.dumps(
            {"data": data, "meta": {"attempt": attempt, "delivered_to": url}}
        ).encode()


class WebhookSender(_Sender):
    carrier_name = "Telnyx"

    def __init__(self, signer: WebhookSigner, **options: Any) -> None:
        super().__init__(**options)
        self.signer = signer
        self._forger = WebhookSigner()  # a key nobody trusts, for bad-signature faults

    def _encode(
        self, event: WebhookEvent, url: str, attempt: int, fault: str | None
    ) -> tuple[bytes, dict[str, str]]:
        assert isinstance(event, Event)
        body = event.body(attempt, url)
        return body, self._headers(event, body, fault)

    def _headers(self, event: Event, body: bytes, fault: str | None) -> dict[str, str]:
        timestamp = int(time.time()) + (event.faults or self.faults).skew_s
        signer = self._forger if fault == "bad_signature" else self.signer
        headers = {
            "content-type": "application/json",
            "user-agent": "telnyx-webhooks",
            **signer.sign(body, timestamp),
        }
        if fault == "missing_header":
            del headers[SIGNATURE_HEADER]
        return headers
