"""Twilio's callbacks and requests on a call's timeline, in an operator's words.

Twilio's events are stored by telephony.twilio.handlers with their form parameters under
`params`; the types are `twilio.voice` (the voice webhook), `twilio.call.<CallStatus>`
(https://www.twilio.com/docs/voice/api/call-resource#call-status-values),
`twilio.stream-started`/`-stopped`/`-error` (the <Stream> statusCallback),
`twilio.recording.<RecordingStatus>` and `twilio.amd` (AsyncAmd's callback). Twilio's REST
errors carry `code`, `message` and `more_info` (https://www.twilio.com/docs/usage/twilios-response#response-formats-exceptions),
which telephony.twilio.client keeps as error_code, error_title and error_detail.
"""

from __future__ import annotations

from typing import Any

from calls.models import CarrierCommand

# CallStatus as operators say it: "in-progress" is the moment the call was answered.
_STATUS_WORDS = {
    "queued": "queued",
    "initiated": "dialing",
    "ringing": "ringing",
    "in-progress": "answered",
    "completed": "completed",
    "busy": "busy",
    "no-answer": "no answer",
    "canceled": "canceled before the answer",
    "failed": "failed",
}
_STREAM_WORDS = {
    "stream-started": "stream started",
    "stream-stopped": "stream stopped",
    "stream-error": "stream error",
}


def twilio_event_words(event_type: str, params: dict[str, Any]) -> tuple[str, str] | None:
    """(title, detail) for one of Twilio's callbacks; None for any other event."""
    if not event_type.startswith("twilio."):
        return None
    kind = event_type.removeprefix("twilio.")
    if kind == "voice":
        return "Twilio: incoming call", _route(params)
    if kind.startswith("call."):
        status = kind.removeprefix("call.")
        return f"Twilio: {_STATUS_WORDS.get(status, status)}", _status_detail(status, params)
    if kind in _STREAM_WORDS:
        return f"Twilio: {_STREAM_WORDS[kind]}", _stream_detail(params)
    if kind.startswith("recording."):
        status = kind.removeprefix("recording.").replace("-", " ")
        return f"Twilio: recording {status}", _recording_detail(params)
    if kind == "amd":
        return "Twilio: answering machine detection", _facts(params, ("AnsweredBy",))
    return f"Twilio: {kind}", ""


def twilio_command_error(command: CarrierCommand) -> str:
    """'Twilio error 21211: Invalid 'To' Phone Number. <more_info>', or the failure as the
    client recorded it when Twilio never answered."""
    if not (command.error_code or command.error_title):
        return command.error_detail or "Failed"
    code = f" {command.error_code}" if command.error_code else ""
    text = f"Twilio error{code}: {command.error_title}".rstrip(": ")
    return f"{text}. {command.error_detail}" if command.error_detail else text


def _route(params: dict[str, Any]) -> str:
    direction = params.get("Direction") or "?"
    return f"{params.get('From') or '?'} → {params.get('To') or '?'} ({direction})"


def _status_detail(status: str, params: dict[str, Any]) -> str:
    parts = []
    if status == "initiated" and params.get("From"):
        parts.append(_route(params))
    if (duration := params.get("CallDuration")) not in (None, ""):
        parts.append(f"CallDuration {duration} s")
    parts.append(_facts(params, ("SipResponseCode", "AnsweredBy")))
    return ", ".join(part for part in parts if part)


def _stream_detail(params: dict[str, Any]) -> str:
    return _facts(params, ("StreamSid", "StreamName", "StreamError"))


def _recording_detail(params: dict[str, Any]) -> str:
    parts = [_facts(params, ("RecordingSid",))]
    if (duration := params.get("RecordingDuration")) not in (None, ""):
        parts.append(f"{duration} s")
    if channels := params.get("RecordingChannels"):
        parts.append(f"{channels} channel{'s' if str(channels) != '1' else ''}")
    if error := params.get("ErrorCode"):
        parts.append(f"Twilio error {error}")
    return ", ".join(p for p in parts if p)


_LABELS = {"SipResponseCode": "SIP", "StreamSid": "stream", "StreamName": "name"}


def _facts(params: dict[str, Any], names: tuple[str, ...]) -> str:
    """The named parameters that are present, as 'label value'."""
    return ", ".join(
        f"{_LABELS.get(name, name)} {params[name]}"
        for name in names
        if params.get(name) not in (None, "")
    )
