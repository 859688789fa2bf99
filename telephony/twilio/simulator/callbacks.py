"""The parameters of Twilio's requests to our server, as Twilio names them.

References: the voice webhook https://www.twilio.com/docs/usage/webhooks/voice-webhooks
(AccountSid, CallSid, From, To, CallStatus, Direction, ApiVersion, Caller, Called and the
geographic fields); status callbacks https://www.twilio.com/docs/voice/api/call-resource#statuscallback
(plus CallbackSource, SequenceNumber, Timestamp; on the final one CallDuration, Duration and
SipResponseCode; AnsweredBy when AMD ran); AMD https://www.twilio.com/docs/voice/answering-machine-detection
(AnsweredBy, MachineDetectionDuration); recordings https://www.twilio.com/docs/voice/api/recording#recordingstatuscallback.
"""

from __future__ import annotations

import math

from telephony.twilio.simulator.account import API_VERSION, rfc2822
from telephony.twilio.simulator.calls import SimCall

# The SIP answer each final status reports (Twilio's "SipResponseCode").
SIP_CODES = {"completed": 200, "busy": 486, "no-answer": 487, "canceled": 487, "failed": 404}
_GEO = ("City", "State", "Zip", "Country")


def call_params(call: SimCall, status: str | None = None) -> dict[str, str]:
    """What every request about `call` carries (the voice webhook is exactly this)."""
    params = {
        "AccountSid": call.account_sid,
        "ApiVersion": API_VERSION,
        "CallSid": call.sid,
        "CallStatus": status or call.status,
        "Called": call.to,
        "Caller": call.from_,
        "Direction": call.direction,
        "From": call.from_,
        "To": call.to,
    }
    for side in ("From", "To", "Caller", "Called"):
        for part in _GEO:
            params[f"{side}{part}"] = "US" if part == "Country" else ""
    if call.answered_by:
        params["AnsweredBy"] = call.answered_by
    return params


def status_params(call: SimCall, status: str) -> dict[str, str]:
    params = {
        **call_params(call, status),
        "CallbackSource": "call-progress-events",
        "SequenceNumber": str(call.next_sequence()),
        "Timestamp": rfc2822(),
    }
    if status not in ("queued", "initiated", "ringing", "in-progress"):
        params["CallDuration"] = str(call.duration)
        params["Duration"] = str(math.ceil(call.duration / 60))  # billed minutes
        params["SipResponseCode"] = str(call.sip_response_code or SIP_CODES.get(status, 200))
    return params


def amd_params(call: SimCall, answered_by: str, duration_ms: int) -> dict[str, str]:
    return {
        "AccountSid": call.account_sid,
        "CallSid": call.sid,
        "AnsweredBy": answered_by,
        "MachineDetectionDuration": str(duration_ms),
    }


def recording_params(call: SimCall, recording: dict[str, object]) -> dict[str, str]:
    return {
        "AccountSid": call.account_sid,
        "CallSid": call.sid,
        "RecordingSid": str(recording["sid"]),
        "RecordingUrl": str(recording["media_url"]),
        "RecordingStatus": str(recording["status"]),
        "RecordingDuration": str(recording["duration"] or 0),
        "RecordingChannels": str(recording["channels"]),
        "RecordingStartTime": str(recording["start_time"]),
        "RecordingSource": str(recording["source"]),
        "RecordingTrack": "both",
        "ErrorCode": "0",
    }


def stream_params(call: SimCall, stream_sid: str, name: str, event: str) -> dict[str, str]:
    # <Stream statusCallback>: https://www.twilio.com/docs/voice/twiml/stream#statuscallback
    return {
        "AccountSid": call.account_sid,
        "CallSid": call.sid,
        "StreamSid": stream_sid,
        "StreamName": name or stream_sid,
        "StreamEvent": event,
        "Timestamp": rfc2822(),
    }
