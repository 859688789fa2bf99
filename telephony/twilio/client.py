"""Twilio's REST API (2010-04-01): one async chokepoint for every request.

Reference: https://www.twilio.com/docs/usage/requests-to-twilio (form-encoded bodies, HTTP
basic auth with the Account SID and Auth Token, or an API key's SID and secret),
https://www.twilio.com/docs/usage/twilios-response (errors are
`{"code", "message", "more_info", "status"}`), https://www.twilio.com/docs/api/errors/20429
(429 Too Many Requests: back off and retry) and the Call resource
https://www.twilio.com/docs/voice/api/call-resource.

Every request is logged as a `CarrierCommand(carrier="twilio")`, secrets and media tokens
redacted. 429, 5xx, timeouts and connection errors are retried with capped back-off,
honouring Retry-After. Twilio has no idempotency key, so creating a call is made retry-safe
here: before a POST Calls.json whose outcome is unknown is sent again, Twilio is asked for
the calls it created from and to the same numbers since the first attempt, and one it made
is adopted instead of dialing twice (`_create_once`).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote

import httpx
from django.conf import settings

from calls.models import Call
from calls.redaction import redact_text
from telephony.carrier import CarrierError
from telephony.carrier_http import CarrierHttpClient
from telephony.command_log import Command, Failure, Interrupted
from telephony.http import LoopClients, backoff, json_object, retry_after

logger = logging.getLogger(__name__)

API_VERSION = "2010-04-01"
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_BACKOFF_SECONDS = 4.0
# 21220: "Invalid call state for the requested action": the call is no longer in progress.
ALREADY_ENDED = "21220"
NOT_FOUND = "20404"
# A created call's date_created is in whole seconds, and Twilio's clock is not ours.
CLOCK_SLACK = timedelta(seconds=5)


class TwilioError(CarrierError):
    """A request Twilio refused (its code, message and more_info) or that never got an answer.
    Operators read "Twilio error 21211: Invalid 'To' Phone Number. <more_info link>"."""

    carrier = "Twilio"

    @property
    def already_ended(self) -> bool:
        return self.code == ALREADY_ENDED


class _UnknownOutcome(Interrupted):
    """A create that may have reached Twilio: it must not simply be sent again."""

    error: TwilioError


class TwilioClient(CarrierHttpClient):
    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str = "",
        api_key: str = "",
        api_secret: str = "",
        base_url: str,
        timeout: float = 5.0,
        max_attempts: int = 4,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.account_sid = account_sid
        # An API key, when given, signs requests instead of the Auth Token (which still
        # verifies webhooks): Twilio's recommended split for production.
        user, password = (api_key, api_secret) if api_key else (account_sid, auth_token)
        super().__init__(
            base_url=base_url,
            timeout=timeout,
            max_attempts=max_attempts,
            transport=transport,
            sleep=sleep,
            auth=httpx.BasicAuth(user, password),
        )

    def account_path(self, tail: str) -> str:
        return f"{API_VERSION}/Accounts/{quote(self.account_sid, safe='')}/{tail}"

    # The chokepoint ------------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        name: str,
        data: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        call: Call | None = None,
        unknown_outcome_fatal: bool = False,
    ) -> dict[str, Any]:
        """Send one logical request (retrying as needed); return the decoded JSON body.

        With `unknown_outcome_fatal`, a failure after which Twilio may have acted (a timeout
        once the request was sent, a 5xx) raises _UnknownOutcome instead of retrying."""
        form = _form(data)
        command = await Command.start(
            carrier=Call.Carrier.TWILIO,
            call=call,
            name=name,
            method=method,
            path=path,
            # Inline TwiML holds the media URL, token and all: redacted before it is stored.
            request_body={**(params or {}), **(form or {})},
        )

        async def attempt(number: int) -> httpx.Response | Failure:
            outcome, delay, unknown = await self._attempt(method, path, name, form, params)
            if isinstance(outcome, httpx.Response):
                return outcome
            if unknown and unknown_outcome_fatal and not outcome.permanent:
                raise _UnknownOutcome(outcome, delay)
            return Failure(outcome, delay)

        return await self._send(command, attempt, errors=TwilioError)

    async def _attempt(
        self,
        method: str,
        path: str,
        name: str,
        form: dict[str, Any] | None,
        params: dict[str, Any] | None,
    ) -> tuple[httpx.Response | TwilioError, float, bool]:
        """One HTTP exchange: (the successful response, or the error), the back-off, and
        whether Twilio may have acted on a request that failed."""
        try:
            response = await self._http.request(method, path, data=form, params=params)
        except httpx.TransportError as exc:
            error = TwilioError(
                f"{name}: no response from Twilio ({type(exc).__name__})", permanent=False
            )
            # A connection never made cannot have created anything; anything later might.
            sent = not isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
            return error, _backoff(), sent
        if response.is_success:
            return response, 0.0, False
        error = _error_from(response, name)
        delay = retry_after(response, cap=MAX_BACKOFF_SECONDS * 2) or _backoff()
        # 429 refused the request unseen; a 5xx may have come after the work was done.
        return error, delay, response.status_code >= 500

    # Calls ---------------------------------------------------------------------------
    # Reference: https://www.twilio.com/docs/voice/api/call-resource

    async def create_call(self, *, call: Call | None = None, **fields: Any) -> dict[str, Any]:
        """POST Calls.json (To, From, Twiml or Url, StatusCallback, …), at most once."""
        return await self._create_once(fields, call)

    async def update_call(
        self, call_sid: str, *, call: Call | None = None, name: str = "update", **fields: Any
    ) -> dict[str, Any]:
        """POST Calls/{sid}.json: new TwiML (Twiml=…) or Status=completed (hang up)."""
        return await self.request(
            "POST", self._call_path(call_sid), name=name, data=fields, call=call
        )

    async def fetch_call(self, call_sid: str, *, call: Call | None = None) -> dict[str, Any]:
        return await self.request("GET", self._call_path(call_sid), name="fetch_call", call=call)

    async def list_calls(self, **filters: Any) -> list[dict[str, Any]]:
        data = await self.request(
            "GET", self.account_path("Calls.json"), name="list_calls", params=filters
        )
        calls = data.get("calls")
        return [c for c in calls if isinstance(c, dict)] if isinstance(calls, list) else []

    # Recordings: https://www.twilio.com/docs/voice/api/recording#create-a-recording-resource

    async def start_recording(
        self, call_sid: str, *, call: Call | None = None, status_callback: str = ""
    ) -> dict[str, Any]:
        fields = {
            "RecordingChannels": "dual",  # caller on one channel, us on the other
            "RecordingStatusCallback": status_callback or None,
            "RecordingStatusCallbackEvent": "completed absent" if status_callback else None,
        }
        path = self._call_path(call_sid, "/Recordings.json")
        return await self.request("POST", path, name="recording_start", data=fields, call=call)

    async def stop_recording(
        self, call_sid: str, recording_sid: str = "Twilio.CURRENT", *, call: Call | None = None
    ) -> dict[str, Any]:
        # "Twilio.CURRENT" names the call's recording in progress, whatever its sid.
        path = self._call_path(call_sid, f"/Recordings/{quote(recording_sid, safe='.')}.json")
        return await self.request(
            "POST", path, name="recording_stop", data={"Status": "stopped"}, call=call
        )

    # Phone numbers (provision_twilio, the Dial page's From numbers)
    # Reference: https://www.twilio.com/docs/phone-numbers/api/incomingphonenumber-resource

    async def list_incoming_numbers(self, phone_number: str = "") -> list[dict[str, Any]]:
        params: dict[str, Any] = {"PageSize": 1000}
        if phone_number:
            params["PhoneNumber"] = phone_number
        data = await self.request(
            "GET",
            self.account_path("IncomingPhoneNumbers.json"),
            name="list_incoming_numbers",
            params=params,
        )
        found = data.get("incoming_phone_numbers")
        return [n for n in found if isinstance(n, dict)] if isinstance(found, list) else []

    async def update_incoming_number(self, number_sid: str, **fields: Any) -> dict[str, Any]:
        path = self.account_path(f"IncomingPhoneNumbers/{quote(number_sid, safe='')}.json")
        return await self.request("POST", path, name="update_incoming_number", data=fields)

    def _call_path(self, call_sid: str, tail: str = ".json") -> str:
        # Sids come from webhooks: quoted, so none can reach another path.
        return self.account_path(f"Calls/{quote(call_sid, safe='')}{tail}")

    # Retry-safe create -----------------------------------------------------------------

    async def _create_once(self, fields: dict[str, Any], call: Call | None) -> dict[str, Any]:
        since = datetime.now(UTC) - CLOCK_SLACK
        known: set[str] = set()
        path = self.account_path("Calls.json")
        for attempt in range(1, self.max_attempts + 1):
            try:
                return await self.request(
                    "POST", path, name="dial", data=fields, call=call, unknown_outcome_fatal=True
                )
            except _UnknownOutcome as unknown:
                # Even after the last attempt: a call Twilio did create must not be reported
                # as failed while it rings.
                await self._sleep(unknown.delay)
                created = await self._created_since(fields, since, known, unknown.error, call)
                if created is not None:
                    sid = created.get("sid")
                    logger.info("dial: adopting call %s, created by an earlier attempt", sid)
                    return created
                if attempt >= self.max_attempts:
                    raise unknown.error from None
        raise AssertionError("unreachable")  # the last attempt returns or raises

    async def _created_since(
        self,
        fields: dict[str, Any],
        since: datetime,
        known: set[str],
        error: TwilioError,
        call: Call | None,
    ) -> dict[str, Any] | None:
        """A call from and to the same numbers that Twilio created since `since` and that no
        other Call of ours holds: the one our unanswered attempt made (its "initiated"
        callback may already have given `call` its sid). If Twilio cannot say, the dial is
        not sent again (better no call than two)."""
        try:
            listed = await self.list_calls(
                To=fields.get("To"), From=fields.get("From"), **{"StartTime>": f"{since:%Y-%m-%d}"}
            )
        except TwilioError:
            raise TwilioError(
                f"{error}; Twilio could not be asked whether the call was placed, so it was "
                "not dialed again",
                status_code=error.status_code,
                code=error.code,
                title=error.title,
                detail=error.detail,
                permanent=True,
            ) from None
        fresh = [c for c in listed if _created_at(c) >= since and c.get("sid") not in known]
        sids = [str(c.get("sid")) for c in fresh]
        others = Call.objects.filter(call_control_id__in=sids)
        if call is not None:
            others = others.exclude(pk=call.pk)
        taken = {sid async for sid in others.values_list("call_control_id", flat=True)}
        for candidate in fresh:
            if candidate.get("sid") not in taken:
                return candidate
        known.update(sids)
        return None


def _form(data: dict[str, Any] | None) -> dict[str, Any] | None:
    """Twilio's form fields: None values left out, booleans as Twilio spells them."""
    if data is None:
        return None
    return {
        key: ("true" if value else "false") if isinstance(value, bool) else value
        for key, value in data.items()
        if value is not None
    }


def _created_at(resource: dict[str, Any]) -> datetime:
    """A resource's date_created (RFC 2822, as Twilio writes it), or the distant past."""
    try:
        parsed = parsedate_to_datetime(str(resource.get("date_created") or ""))
    except (TypeError, ValueError):
        return datetime.min.replace(tzinfo=UTC)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _error_from(response: httpx.Response, name: str) -> TwilioError:
    body = json_object(response)
    code = str(body.get("code") or "")
    # Twilio may quote our TwiML back (a Stream url it refused): no token may leave here.
    message = redact_text(str(body.get("message") or response.reason_phrase))
    more_info = str(body.get("more_info") or "")
    summary = f"{name}: HTTP {response.status_code}"
    if code:
        summary += f", Twilio error {code}"
    return TwilioError(
        f"{summary}: {message}",
        status_code=response.status_code,
        code=code,
        title=message[:255],
        detail=more_info,
        permanent=response.status_code not in RETRYABLE_STATUSES,
    )


def _backoff() -> float:
    return backoff(0.25, cap=MAX_BACKOFF_SECONDS)


def _new_client() -> TwilioClient:
    return TwilioClient(
        account_sid=settings.TWILIO_ACCOUNT_SID,
        auth_token=settings.TWILIO_AUTH_TOKEN,
        api_key=settings.TWILIO_API_KEY,
        api_secret=settings.TWILIO_API_SECRET,
        base_url=settings.TWILIO_API_BASE_URL,
        timeout=settings.TWILIO_API_TIMEOUT,
        max_attempts=settings.TWILIO_API_MAX_ATTEMPTS,
    )


_clients = LoopClients(_new_client)
# This event loop's client (built from the settings on first use), a test's fake carrier's
# installed in its place, and forgetting them all (tests change the base URL between cases).
get_client, install_client, reset_clients = _clients.get, _clients.install, _clients.reset


def new_attempt_id() -> str:
    """A unique mark for one logical dial, carried in its StatusCallback URL."""
    return uuid.uuid4().hex
