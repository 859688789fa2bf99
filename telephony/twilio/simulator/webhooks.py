"""Twilio's webhooks: form-encoded requests signed with the account's auth token.

Reference: https://www.twilio.com/docs/usage/webhooks/webhooks-security. X-Twilio-Signature is
base64(HMAC-SHA1(auth token, the full URL requested + each POST parameter's name and value,
sorted by name)); the official package's `RequestValidator.compute_signature` computes it
here, so the simulator signs exactly as the package validates. Retries follow Twilio's
default connection overrides (https://www.twilio.com/docs/usage/webhooks/webhooks-connection-overrides:
rc=1, rp=ct,rt): one retry after a connect or read timeout, none after an HTTP answer. The
voice webhook (the TwiML request) is answered in-line (`fetch_twiml`); status, AMD and
recording callbacks queue per call, in order, like Telnyx's.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]  # no stubs

from telephony.simulation.scenario import WebhookFaults
from telephony.simulation.webhooks import Delivery, WebhookEvent, WebhookSender

SIGNATURE_HEADER = "X-Twilio-Signature"
VOICE_TIMEOUT_S = 15.0  # Twilio waits 15 s for TwiML (the rt/tt defaults)


@dataclass
class Callback(WebhookEvent):
    method: str = "POST"

    @property
    def call_id(self) -> str | None:
        return self.payload.get("CallSid")


@dataclass(frozen=True)
class TwimlAnswer:
    status: int | None
    body: str
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class TwilioWebhookSender(WebhookSender):
    carrier_name = "Twilio"

    def __init__(self, auth_token: str, **options: Any) -> None:
        options.setdefault("max_attempts", 2)
        super().__init__(**options)
        self.validator = RequestValidator(auth_token)
        # A token nobody trusts, for bad-signature faults.
        self._forger = RequestValidator(secrets.token_hex(16))

    def signed(
        self, url: str, params: dict[str, str], *, method: str = "POST", fault: str | None = None
    ) -> tuple[str, bytes, dict[str, str]]:
        """The URL, body and headers of one signed request."""
        if method == "GET":
            url = f"{url}{'&' if '?' in url else '?'}{urlencode(params)}"
            body, signed_params = b"", {}
        else:
            body, signed_params = urlencode(params).encode(), params
        validator = self._forger if fault == "bad_signature" else self.validator
        headers = {
            "content-type": "application/x-www-form-urlencoded",
            "user-agent": "TwilioProxy/1.1",
            "i-twilio-idempotency-token": secrets.token_hex(16),
            SIGNATURE_HEADER: validator.compute_signature(url, signed_params),
        }
        if fault == "missing_header":
            del headers[SIGNATURE_HEADER]
        return url, body, headers

    async def fetch_twiml(
        self,
        url: str,
        params: dict[str, str],
        *,
        method: str = "POST",
        faults: WebhookFaults | None = None,
    ) -> TwimlAnswer:
        """Ask our server what to do with a call (the voice webhook); its answer is TwiML.

        A corrupted attempt (a fault) is followed by a clean one, so the server sees the
        forgery and the call still goes on; a real answer, whatever it is, is final.
        """
        event = Callback("voice", params, url=url, method=method, faults=faults)
        fault = self._pick_fault(event, 1)
        answer = await self._ask(event, url, 1, fault)
        if fault is not None:
            answer = await self._ask(event, url, 2, None)
        return answer

    async def _ask(self, event: Callback, url: str, attempt: int, fault: str | None) -> TwimlAnswer:
        target, body, headers = self.signed(url, event.payload, method=event.method, fault=fault)
        started = time.monotonic()
        try:
            response = await self._http(event.call_id).request(
                event.method,
                target,
                content=body or None,
                headers=headers,
                timeout=VOICE_TIMEOUT_S,
            )
        except httpx.HTTPError as exc:
            answer = TwimlAnswer(None, "", f"{type(exc).__name__}: {exc}"[:200])
        else:
            answer = TwimlAnswer(response.status_code, response.text)
        latency_ms = (time.monotonic() - started) * 1000
        self._record(event, url, attempt, answer.status, latency_ms, answer.error, fault)
        return answer

    def _encode(
        self, event: WebhookEvent, url: str, attempt: int, fault: str | None
    ) -> tuple[bytes, dict[str, str]]:
        # Only POST goes through the queue: phonebridge asks for POST callbacks.
        _, body, headers = self.signed(url, event.payload, fault=fault)
        return body, headers

    def _should_retry(self, delivery: Delivery) -> bool:
        if delivery.fault in ("bad_signature", "missing_header"):
            return True  # the corruption was ours; the clean retry lets the call go on
        return delivery.status is None  # rp=ct,rt: timeouts only, never an HTTP answer
