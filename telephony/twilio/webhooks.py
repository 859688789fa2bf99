"""Twilio webhook verification and parsing.

Signature (https://www.twilio.com/docs/usage/webhooks/webhooks-security): the
X-Twilio-Signature header is base64 HMAC-SHA1, keyed with the account's Auth Token, over the
full URL Twilio requested (scheme, host, path and query) followed, for a form body, by every
POST parameter sorted by name, each name then value; a JSON body is instead covered by a
bodySHA256 query parameter (its hex SHA-256). The official package's RequestValidator does
the arithmetic, trying the URL with and without its port, as Twilio is inconsistent there.

Behind ngrok or a TLS-terminating proxy the request reaches us as plain HTTP on another
host; the URL Twilio signed is the public one, rebuilt as telephony.public_host builds the
URLs we give Twilio (PUBLIC_HOST, else the ngrok tunnel; https unless loopback). The URL the
request itself names (honouring BEHIND_TLS_PROXY's X-Forwarded-Proto) is tried too, for a
server Twilio reaches directly.

Parameters: form-encoded (CallSid, AccountSid, From, To, CallStatus, Direction, and per
callback SequenceNumber, Timestamp, CallDuration, SipResponseCode, AnsweredBy, StreamSid,
StreamEvent, RecordingSid, RecordingUrl...): https://www.twilio.com/docs/voice/twiml#request-parameters
and https://www.twilio.com/docs/voice/api/call-resource#statuscallback.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import parse_qs, urlsplit

from django.core.exceptions import TooManyFieldsSent
from django.http import QueryDict
from django.utils import timezone
from twilio.request_validator import (  # type: ignore[import-untyped]  # no stubs
    RequestValidator,
    get_signature_algorithm,
)

SIGNATURE_HEADER = "X-Twilio-Signature"
SETTINGS_HEADER = "X-Twilio-Webhooks-Signature-Settings"
CALL_SID = re.compile(r"CA[0-9a-fA-F]{32}")
MAX_VALUE = 2048  # per parameter: Twilio's are ids, numbers, statuses and URLs


class BadSignature(Exception):
    """The request is not provably from Twilio; `str(exc)` is a short reason for the log."""


class BadRequest(ValueError):
    """The request verified but is not a Twilio webhook we can read; `str(exc)` says why."""


def verify_signature(
    *,
    urls: list[str],
    body: bytes,
    content_type: str,
    signature: str | None,
    auth_token: str,
    signature_settings: str | None = None,
) -> None:
    """Raise BadSignature unless `signature` signs the request as Twilio sent it to one of
    `urls` (the candidates for the URL Twilio requested)."""
    if not signature:
        raise BadSignature(f"missing {SIGNATURE_HEADER} header")
    if not auth_token:
        raise BadSignature("TWILIO_AUTH_TOKEN is not set, so no signature can be checked")
    validator = RequestValidator(auth_token)
    algorithm = get_signature_algorithm(signature_settings)
    for url in dict.fromkeys(urls):
        params = _signed_params(url, body, content_type)
        if validator.validate(url, params, signature, algorithm):
            return
    raise BadSignature("signature does not match")


def _signed_params(url: str, body: bytes, content_type: str) -> QueryDict | str:
    if content_type.startswith("application/json"):
        # Covered by the URL's bodySHA256, which the validator checks against the body.
        if "bodySHA256" not in parse_qs(urlsplit(url).query):
            raise BadSignature("a JSON body must come with a bodySHA256 query parameter")
        try:
            return body.decode()
        except UnicodeDecodeError:
            raise BadSignature("JSON body is not UTF-8") from None
    try:
        return QueryDict(body, encoding="utf-8")
    except TooManyFieldsSent:
        raise BadSignature("more form fields than any Twilio webhook has") from None


@dataclass(frozen=True)
class TwilioEvent:
    """One webhook: `id` is unique per distinct callback, so Twilio's retries (and replays of
    a captured request) are stored once."""

    id: str
    type: str
    call_sid: str
    params: dict[str, str]
    occurred_at: datetime
    call_ref: str  # our call's id from the callback URL's `call` query parameter, if any

    def get(self, name: str) -> str:
        return self.params.get(name, "")


def parse_params(body: bytes, content_type: str) -> dict[str, str]:
    """The form's parameters, one value each; BadRequest when the body is not a form."""
    if content_type.startswith("application/json"):
        raise BadRequest("expected a form-encoded body, got JSON")
    try:
        form = QueryDict(body, encoding="utf-8")
    except TooManyFieldsSent:
        raise BadRequest("more form fields than any Twilio webhook has") from None
    params = {key: form.get(key, "") for key in form}
    if "\x00" in "".join(params.values()) or any(len(v) > MAX_VALUE for v in params.values()):
        raise BadRequest("a parameter is too long or holds a NUL byte")  # no database stores it
    return params


def parse_event(kind: str, params: dict[str, str], query: dict[str, str]) -> TwilioEvent:
    """A callback of `kind` ("voice", "status", "recording", "amd") as one event."""
    call_sid = params.get("CallSid", "")
    if not CALL_SID.fullmatch(call_sid):
        raise BadRequest("CallSid is missing or not a Twilio call sid (CA + 32 hex digits)")
    event_type, key = _type_and_key(kind, params)
    return TwilioEvent(
        id=f"twilio:{call_sid}:{key}"[:128],
        type=event_type,
        call_sid=call_sid,
        params=params,
        occurred_at=_parse_time(params.get("Timestamp")),
        call_ref=query.get("call", "")[:64],
    )


def _type_and_key(kind: str, params: dict[str, str]) -> tuple[str, str]:
    if kind == "voice":
        return "twilio.voice", "voice"
    if kind == "recording":
        status = _word(params.get("RecordingStatus"), "RecordingStatus")
        sid = params.get("RecordingSid", "")[:40]
        return f"twilio.recording.{status}", f"recording:{sid}:{status}"
    if kind == "amd":
        answered_by = _word(params.get("AnsweredBy"), "AnsweredBy")
        return "twilio.amd", f"amd:{answered_by}"
    if params.get("StreamEvent"):  # a <Stream statusCallback> (stream-started/-stopped/-error)
        stream_event = _word(params.get("StreamEvent"), "StreamEvent")
        stream = params.get("StreamSid", "")[:40]
        return f"twilio.{stream_event}", f"stream:{stream}:{stream_event}"
    status = _word(params.get("CallStatus"), "CallStatus")
    # SequenceNumber orders one call's status callbacks; with it, the same status sent twice
    # by Twilio (a retry) is one event, two distinct ones (never, in practice) are two.
    sequence = params.get("SequenceNumber", "")[:10]
    return f"twilio.call.{status}", f"{status}:{sequence}" if sequence else status


def _word(value: str | None, name: str) -> str:
    if not value or not re.fullmatch(r"[a-z][a-z_-]{0,39}", value):
        raise BadRequest(f"{name} is missing or not one of Twilio's values")
    return value


def _parse_time(value: str | None) -> datetime:
    try:
        parsed = parsedate_to_datetime(value) if value else None
    except (TypeError, ValueError):
        parsed = None
    if parsed is None:
        return timezone.now()
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
