"""Webhook payloads (`data.payload`) for each event type (telnyx-protocol.md §2.4).

Fields follow the OpenAPI schemas plus what real captures carry (`calling_party_type`,
`end_time`, `codec`); `client_state` echoes the last one a command gave, or null.
"""

from __future__ import annotations

import uuid
from typing import Any

from telephony.telnyx.simulator.calls import SimCall, StreamParams
from telephony.telnyx.simulator.clock import iso_micro, now_utc

_SIP_CAUSES = {
    "normal_clearing": "200",
    "originator_cancel": "487",
    "call_rejected": "403",
    "user_busy": "486",
    "timeout": "408",
    "no_answer": "480",
    "time_limit": "200",
}


def common(call: SimCall) -> dict[str, Any]:
    return {
        "call_control_id": call.call_control_id,
        "call_leg_id": call.call_leg_id,
        "call_session_id": call.call_session_id,
        "connection_id": call.connection_id,
        "client_state": call.client_state,
    }


def parties(call: SimCall) -> dict[str, Any]:
    return {
        **common(call),
        "from": call.from_,
        "to": call.to,
        "direction": call.direction,
        "state": call.state,
        "start_time": iso_micro(call.start_time),
        "calling_party_type": "pstn",
        "tags": list(call.scenario.tags),
        "custom_headers": [],
        "sip_headers": [],
    }


def initiated(call: SimCall) -> dict[str, Any]:
    return {
        **parties(call),
        "caller_id_name": call.from_,
        "from_sip_uri": f"{call.from_}@sip.telnyx.com",
        "to_sip_uri": f"{call.to}@sip.telnyx.com",
        "offered_codecs": "PCMU,PCMA,G722",
        "connection_codecs": "PCMU,PCMA,G722",
        "shaken_stir_attestation": "A",
        "shaken_stir_validated": True,
    }


def answered(call: SimCall) -> dict[str, Any]:
    codec = call.scenario.codec.upper()
    rate = 16000 if codec == "L16" else 8000
    payload = {**parties(call), "codec": codec, "sampling_rate": rate}
    if call.stream is not None:
        payload["stream_url"] = call.stream.url
        payload["stream_track"] = call.stream.track
    return payload


def hangup(call: SimCall) -> dict[str, Any]:
    cause = call.hangup_cause or "normal_clearing"
    return {
        **parties(call),
        "hangup_cause": cause,
        "hangup_source": call.hangup_source or "unknown",
        "sip_hangup_cause": _SIP_CAUSES.get(cause, "unspecified"),
        "end_time": iso_micro(call.end_time or now_utc()),
        "telnyx_error": None,
        "call_quality_stats": _quality_stats(call),
    }


def _quality_stats(call: SimCall) -> dict[str, Any] | None:
    if call.answer_time is None:
        return None
    sent = sum(m.frames_sent for m in call.media_reports)
    received = sum(m.frames_received for m in call.media_reports)
    # Telnyx reports these as strings.
    return {
        "inbound": {
            "jitter_max_variance": "0.00",
            "jitter_packet_count": "0",
            "mos": "4.50",
            "packet_count": str(sent),
            "skip_packet_count": "0",
        },
        "outbound": {"packet_count": str(received), "skip_packet_count": "0"},
    }


def streaming(call: SimCall, stream: StreamParams) -> dict[str, Any]:
    return {**common(call), "stream_url": stream.url}


def streaming_failed(call: SimCall, stream: StreamParams, reason: str) -> dict[str, Any]:
    return {
        **common(call),
        "failure_reason": reason,
        "stream_id": stream.stream_id,
        "stream_params": {"stream_url": stream.url, "track": stream.track},
        "stream_type": "websocket",
    }


def machine_detection(call: SimCall, result: str) -> dict[str, Any]:
    return {**common(call), "from": call.from_, "to": call.to, "result": result}


def dtmf(call: SimCall, digit: str) -> dict[str, Any]:
    return {**common(call), "from": call.from_, "to": call.to, "digit": digit}


def speak(call: SimCall, status: str | None = None) -> dict[str, Any]:
    return {**common(call), **({"status": status} if status else {})}


def playback(call: SimCall, body: dict[str, Any], status: str | None = None) -> dict[str, Any]:
    payload = {
        **common(call),
        "media_url": body.get("audio_url"),
        "media_name": body.get("media_name"),
        "overlay": bool(body.get("overlay", False)),
    }
    if status:
        payload.update(status=status, status_detail=None)
    return payload


def bridged(call: SimCall, to: str) -> dict[str, Any]:
    return {**common(call), "from": call.from_, "to": to}


def transcription(call: SimCall, text: str, *, is_final: bool, track: str) -> dict[str, Any]:
    data = {
        "transcript": text,
        "confidence": 0.93 if is_final else 0.71,
        "is_final": is_final,
        "transcription_track": track,
    }
    return {**common(call), "transcription_data": data}


def new_recording(call: SimCall, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "recording_id": str(uuid.uuid4()),
        "format": body.get("format", "mp3"),
        "channels": body.get("channels", "single"),
        "started_at": now_utc(),
    }


def recording_saved(call: SimCall, recording: dict[str, Any]) -> dict[str, Any]:
    base = f"https://simulator.invalid/recordings/{recording['recording_id']}"
    urls = {"mp3": f"{base}.mp3", "wav": f"{base}.wav"}
    return {
        **common(call),
        "recording_id": recording["recording_id"],
        "format": recording["format"],
        "channels": recording["channels"],
        "recording_started_at": iso_micro(recording["started_at"]),
        "recording_ended_at": iso_micro(now_utc()),
        "start_time": iso_micro(recording["started_at"]),
        "end_time": iso_micro(now_utc()),
        "recording_urls": urls,
        "public_recording_urls": {"mp3": None, "wav": None},
        "calling_party_type": "pstn",
    }
