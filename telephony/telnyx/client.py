"""Telnyx Call Control REST client (API v2): one async chokepoint for every request.

Reference: https://developers.telnyx.com/docs/voice/programmable-voice/sending-commands and
telnyx-protocol.md §3. Every logical command carries a fresh UUID `command_id`, reused on
retries so Telnyx runs it once (§3.2). 5xx, 408, 429, timeouts and connection errors are
retried with capped exponential backoff (429 honours Retry-After / x-ratelimit-reset); other
4xx are final. Errors arrive as `{"errors": [{"code", "title", "detail"}]}` and become
`TelnyxError`. Every mutating request is logged as a `CarrierCommand` row.
"""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Literal
from urllib.parse import quote

import httpx
from django.conf import settings

from calls.models import Call
from calls.redaction import redact_text
from telephony import metrics
from telephony.carrier import CarrierError, DialedCall
from telephony.carrier_http import CarrierHttpClient
from telephony.command_log import Command, Failure
from telephony.http import LoopClients, backoff, json_object, retry_after

RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
MAX_BACKOFF_SECONDS = 4.0
RETRY_HEADERS = ("retry-after", "x-ratelimit-reset")  # both in seconds
ALREADY_ENDED = "90018"
RejectCause = Literal["CALL_REJECTED", "USER_BUSY"]


class TelnyxError(CarrierError):
    """A request Telnyx refused (its code, title and detail) or that never got an answer."""

    carrier = "Telnyx"

    @property
    def already_ended(self) -> bool:
        return self.code == ALREADY_ENDED


def encode_client_state(value: str) -> str:
    """Telnyx requires client_state to be base64; we carry our call id in it."""
    return base64.b64encode(value.encode()).decode()


def decode_client_state(value: object) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return base64.b64decode(value, validate=True).decode()
    except ValueError:
        return None


class TelnyxClient(CarrierHttpClient):
    def __init__(
        self,
        *,
        api_key: str,
        base_url: str,
        timeout: float = 5.0,
        max_attempts: int = 4,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        super().__init__(
            base_url=base_url,
            timeout=timeout,
            max_attempts=max_attempts,
            transport=transport,
            sleep=sleep,
            headers={"Authorization": f"Bearer {api_key}"},
        )

    # The chokepoint ------------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        name: str,
        json: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        call: Call | None = None,
        command_id: str | None = None,
    ) -> dict[str, Any]:
        """Send one logical request (retrying as needed) and return the decoded JSON body."""
        body = dict(json) if json is not None else None
        if body is not None and command_id:
            body["command_id"] = command_id
        command = await Command.start(
            carrier=Call.Carrier.TELNYX,
            call=call,
            name=name,
            method=method,
            path=path,
            request_body=body or {},
            command_id=command_id,
            logged=method != "GET",  # reads are not commands
            observe=_measure,
        )

        async def attempt(number: int) -> httpx.Response | Failure:
            try:
                response = await self._http.request(
                    method, path.lstrip("/"), json=body, params=params
                )
            except httpx.TransportError as exc:  # timeouts and connection errors
                error = TelnyxError(
                    f"{name}: no response from Telnyx ({type(exc).__name__})", permanent=False
                )
                return Failure(error, _backoff(number))
            if response.is_success:
                return response
            delay = retry_after(response, cap=MAX_BACKOFF_SECONDS * 2, headers=RETRY_HEADERS)
            return Failure(_error_from(response, name), delay or _backoff(number))

        return await self._send(command, attempt, errors=TelnyxError)

    # Call commands -------------------------------------------------------------------
    # Reference: https://developers.telnyx.com/api-reference/call-commands

    async def dial(self, *, call: Call | None = None, **params: Any) -> DialedCall:
        # Reference: https://developers.telnyx.com/api-reference/call-commands/dial
        data = await self._command("POST", "calls", "dial", params, call)
        payload = data.get("data") or {}
        return DialedCall(
            call_control_id=str(payload.get("call_control_id", "")),
            call_leg_id=str(payload.get("call_leg_id", "")),
            call_session_id=str(payload.get("call_session_id", "")),
        )

    async def answer(self, call_control_id: str, **params: Any) -> dict[str, Any]:
        return await self._action(call_control_id, "answer", **params)

    async def hangup(self, call_control_id: str, **params: Any) -> dict[str, Any]:
        return await self._action(call_control_id, "hangup", **params)

    async def reject(
        self, call_control_id: str, *, cause: RejectCause, **params: Any
    ) -> dict[str, Any]:
        # Reference: https://developers.telnyx.com/api-reference/call-commands/reject-a-call
        # Only a ringing (parked) inbound call can be rejected; the caller then hears a busy
        # tone (USER_BUSY) or the network's "call rejected" (CALL_REJECTED).
        return await self._action(call_control_id, "reject", cause=cause, **params)

    async def transfer(self, call_control_id: str, *, to: str, **params: Any) -> dict[str, Any]:
        return await self._action(call_control_id, "transfer", to=to, **params)

    async def speak(
        self, call_control_id: str, *, payload: str, voice: str, **params: Any
    ) -> dict[str, Any]:
        return await self._action(call_control_id, "speak", payload=payload, voice=voice, **params)

    async def send_dtmf(
        self, call_control_id: str, *, digits: str, **params: Any
    ) -> dict[str, Any]:
        return await self._action(call_control_id, "send_dtmf", digits=digits, **params)

    async def record_start(self, call_control_id: str, **params: Any) -> dict[str, Any]:
        params = {"format": "wav", "channels": "dual", **params}
        return await self._action(call_control_id, "record_start", **params)

    async def record_stop(self, call_control_id: str, **params: Any) -> dict[str, Any]:
        return await self._action(call_control_id, "record_stop", **params)

    async def streaming_start(self, call_control_id: str, **params: Any) -> dict[str, Any]:
        return await self._action(call_control_id, "streaming_start", **params)

    async def transcription_start(self, call_control_id: str, **params: Any) -> dict[str, Any]:
        return await self._action(call_control_id, "transcription_start", **params)

    async def get_call(self, call_control_id: str) -> dict[str, Any]:
        data = await self.request(
            "GET", f"calls/{quote(call_control_id, safe=':')}", name="get_call"
        )
        return data.get("data") or {}

    async def _action(
        self, call_control_id: str, action: str, *, call: Call | None = None, **params: Any
    ) -> dict[str, Any]:
        # Ids come from webhooks: quote them, so no id can reach another path or break the URL.
        path = f"calls/{quote(call_control_id, safe=':')}/actions/{action}"
        return await self._command("POST", path, action, params, call)

    async def _command(
        self, method: str, path: str, name: str, params: dict[str, Any], call: Call | None
    ) -> dict[str, Any]:
        command_id = str(params.pop("command_id", None) or uuid.uuid4())
        body = {k: v for k, v in params.items() if v is not None}
        return await self.request(
            method, path, name=name, json=body, call=call, command_id=command_id
        )

    # Account resources (used by provision_telnyx) -------------------------------------
    # Reference: https://developers.telnyx.com/api-reference/call-control-applications

    async def list_call_control_apps(self, **filters: Any) -> list[dict[str, Any]]:
        return await self._list("call_control_applications", filters)

    async def get_call_control_app(self, app_id: str) -> dict[str, Any]:
        return await self._get(f"call_control_applications/{app_id}")

    async def create_call_control_app(self, **fields: Any) -> dict[str, Any]:
        data = await self.request(
            "POST", "call_control_applications", name="create_call_control_app", json=fields
        )
        return data.get("data") or {}

    async def update_call_control_app(self, app_id: str, **fields: Any) -> dict[str, Any]:
        data = await self.request(
            "PATCH",
            f"call_control_applications/{app_id}",
            name="update_call_control_app",
            json=fields,
        )
        return data.get("data") or {}

    async def delete_call_control_app(self, app_id: str) -> dict[str, Any]:
        data = await self.request(
            "DELETE", f"call_control_applications/{app_id}", name="delete_call_control_app"
        )
        return data.get("data") or {}

    async def find_phone_number(self, phone_number: str) -> dict[str, Any] | None:
        found = await self._list("phone_numbers", {"filter[phone_number]": phone_number})
        return found[0] if found else None

    async def list_phone_numbers(self) -> list[str]:
        """The account's numbers, E.164 (the Dial page's "From" choices)."""
        # Reference: https://developers.telnyx.com/api/numbers/list-phone-numbers
        found = await self._list("phone_numbers", {})
        return [str(n["phone_number"]) for n in found if n.get("phone_number")]

    async def update_phone_number(self, number_id: str, **fields: Any) -> dict[str, Any]:
        data = await self.request(
            "PATCH", f"phone_numbers/{number_id}", name="update_phone_number", json=fields
        )
        return data.get("data") or {}

    async def list_outbound_voice_profiles(self) -> list[dict[str, Any]]:
        return await self._list("outbound_voice_profiles", {})

    async def is_verified_number(self, phone_number: str) -> bool:
        try:
            await self._get(f"verified_numbers/{phone_number}")
        except TelnyxError as exc:
            if exc.status_code == 404:
                return False
            raise
        return True

    async def _get(self, path: str) -> dict[str, Any]:
        data = await self.request("GET", path, name=f"get {path.split('/')[0]}")
        return data.get("data") or {}

    async def _list(self, path: str, filters: dict[str, Any]) -> list[dict[str, Any]]:
        params = {"page[size]": 250, **filters}
        data = await self.request("GET", path, name=f"list {path}", params=params)
        items = data.get("data") or []
        return items if isinstance(items, list) else []


def _backoff(attempt: int) -> float:
    # Telnyx asks for an immediate first retry on 5xx (§3.2); then exponential, with jitter.
    if attempt == 1:
        return 0.05
    return backoff(0.25 * 2 ** (attempt - 2), cap=MAX_BACKOFF_SECONDS)


def _measure(name: str, seconds: float, error: CarrierError | None) -> None:
    metrics.TELNYX_COMMAND_SECONDS.labels(name).observe(seconds)
    if error is not None and not error.already_ended:
        code = metrics.error_code_label(error.code, error.status_code)
        metrics.TELNYX_COMMAND_ERRORS.labels(name, code).inc()


def _error_from(response: httpx.Response, name: str) -> TelnyxError:
    errors = json_object(response).get("errors")
    first = errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], dict) else {}
    code, title = str(first.get("code") or ""), str(first.get("title") or "")
    # Telnyx may quote our request back (a stream_url it refused): the token must not reach
    # the command log, the call's failure reason or an operator's message.
    detail = redact_text(str(first.get("detail") or ""))
    summary = f"{name}: HTTP {response.status_code}"
    if code or title:
        summary += f", Telnyx error {code} {title}".rstrip()
    return TelnyxError(
        summary,
        status_code=response.status_code,
        code=code,
        title=title or response.reason_phrase,
        detail=detail,
        permanent=response.status_code not in RETRYABLE_STATUSES,
    )


def _new_client() -> TelnyxClient:
    return TelnyxClient(
        api_key=settings.TELNYX_API_KEY,
        base_url=settings.TELNYX_API_BASE_URL,
        timeout=settings.TELNYX_API_TIMEOUT,
        max_attempts=settings.TELNYX_API_MAX_ATTEMPTS,
    )


_clients = LoopClients(_new_client)
# This event loop's client (built from the settings on first use), a test's fake carrier's
# installed in its place, and forgetting them all (tests change the base URL between cases).
get_client, install_client, reset_clients = _clients.get, _clients.install, _clients.reset


__all__ = [
    "TelnyxClient",
    "TelnyxError",
    "decode_client_state",
    "encode_client_state",
    "get_client",
    "install_client",
    "reset_clients",
]
