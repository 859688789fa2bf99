"""The simulated far party's media socket: Telnyx as a WebSocket client (telnyx-protocol.md §1).

It connects to the `stream_url` (with `x-telnyx-streaming-auth-token` when a token was given),
sends `connected`, `start`, then 20 ms `media` frames with string counters: `sequence_number`
and `chunk` rise by 1, `timestamp` by 20 (ms). Pacing and the ear are carrier-neutral
(telephony/simulation/media.py); this module is Telnyx's frames. The checklist is §1.8.
"""

from __future__ import annotations

from typing import Any

from telephony.media.codecs import Codec, UnsupportedCodec
from telephony.simulation import audio
from telephony.simulation.ear import Fault
from telephony.simulation.media import FarPartyMedia, Hook
from telephony.telnyx.simulator.calls import SimCall, StreamParams
from telephony.telnyx.simulator.clock import iso_micro, now_utc

_MEDIA_TEMPLATE = (
    '{"event":"media","sequence_number":"%d","stream_id":"%s","media":'
    '{"track":"%s","chunk":"%d","timestamp":"%d","payload":"%s"}}'
)
# What Telnyx answers on the socket to a frame it refuses (§1.3).
_ERRORS: dict[str, tuple[int, str]] = {
    "binary": (100003, "malformed_frame"),
    "malformed": (100003, "malformed_frame"),
    "wrong_stream": (100003, "malformed_frame"),
    "invalid_media": (100004, "invalid_media"),
    "rate_limit": (100005, "rate_limit_reached"),
}


class TelnyxEarWire:
    stream_field: str | None = None  # Telnyx does not ask our frames for the stream id

    def mark_frame(self, stream_id: str, seq: str, name: str) -> dict[str, Any]:
        return {
            "event": "mark",
            "stream_id": stream_id,
            "sequence_number": seq,
            "mark": {"name": name},
        }

    def error_frame(
        self, stream_id: str, fault: Fault, detail: str
    ) -> tuple[int, dict[str, Any] | None]:
        code, title = _ERRORS[fault]
        payload = {"code": code, "title": title, "detail": detail}
        return code, {"event": "error", "stream_id": stream_id, "payload": payload}


class MediaCaller(FarPartyMedia):
    call: SimCall

    def __init__(
        self,
        call: SimCall,
        stream: StreamParams,
        *,
        user_id: str,
        on_connected: Hook,
        on_ended: Hook,
        on_failed: Hook,
    ) -> None:
        self.call = call
        self.stream = stream
        self.user_id = user_id
        encoding, sample_rate = _inbound_format(stream, call.scenario.codec)
        super().__init__(
            url=stream.url,
            stream_id=stream.stream_id,
            scenario=call.scenario,
            encoding=encoding,
            sample_rate=sample_rate,
            reply=_reply_codec(stream, call.scenario.l16_big_endian),
            mode=stream.bidirectional_mode,
            tracks=_tracks(stream.track),
            reports=call.media_reports,
            wire=TelnyxEarWire(),
            on_connected=on_connected,
            on_ended=on_ended,
            on_failed=on_failed,
        )

    def _headers(self) -> dict[str, str]:
        if self.stream.auth_token:
            return {"x-telnyx-streaming-auth-token": self.stream.auth_token}
        return {}

    async def _open_stream(self) -> None:
        connected: dict[str, Any] = {"event": "connected", "version": "1.0.0"}
        if self.stream.auth_token:
            connected["connected"] = {"x-telnyx-streaming-auth-token": self.stream.auth_token}
        await self._send(connected)
        self._on_connected(self)  # streaming.started goes out between `connected` and `start`
        await self._send(self._start_frame())

    def _start_frame(self) -> dict[str, Any]:
        call = self.call
        media_format = {"encoding": self.encoding, "sample_rate": self.sample_rate, "channels": 1}
        start = {
            "user_id": self.user_id,
            "call_control_id": call.call_control_id,
            "call_session_id": call.call_session_id,
            "from": call.from_,
            "to": call.to,
            "tags": list(self.scenario.tags),
            "client_state": call.client_state,
            "custom_parameters": dict(self.stream.custom_parameters),
            "media_format": media_format,
        }
        seq = self._next_seq()
        return {
            "event": "start",
            "sequence_number": seq,
            "stream_id": self.stream_id,
            "start": start,
        }

    def _media_text(self, seq: int, track: str, chunk: int, timestamp_ms: int, payload: str) -> str:
        return _MEDIA_TEMPLATE % (seq, self.stream_id, track, chunk, timestamp_ms, payload)

    def _stop_frame(self) -> dict[str, Any]:
        stop = {"user_id": self.user_id, "call_control_id": self.call.call_control_id}
        frame = {"event": "stop", "sequence_number": self._next_seq()}
        return {**frame, "stream_id": self.stream_id, "stop": stop}

    def _dtmf_frame(self, digit: str) -> dict[str, Any]:
        return {
            "event": "dtmf",
            "stream_id": self.stream_id,
            "occurred_at": iso_micro(now_utc()),
            "sequence_number": self._next_seq(),
            "dtmf": {"digit": digit},
        }


def _inbound_format(stream: StreamParams, leg_codec: str) -> tuple[str, int]:
    """What Telnyx sends us: `stream_codec`, or the leg's own codec for "default" (§1.5)."""
    wanted = stream.codec if stream.codec in ("PCMU", "PCMA", "L16") else leg_codec.upper()
    return wanted, 16000 if wanted == "L16" else 8000


def _reply_codec(stream: StreamParams, big_endian: bool) -> Codec | None:
    """The codec the server must answer in, or None when we cannot decode it."""
    name = stream.bidirectional_codec
    rate = stream.bidirectional_sampling_rate or (16000 if name == "L16" else 8000)
    try:
        return audio.codec_for(name, rate, big_endian)
    except UnsupportedCodec:
        return None  # G722, OPUS, AMR-WB: accepted and counted, not decoded


def _tracks(stream_track: str) -> tuple[str, ...]:
    # What Telnyx puts on the outbound track is undocumented (§5 #6); we send codec silence.
    tracks = {"outbound_track": ("outbound",), "both_tracks": ("inbound", "outbound")}
    return tracks.get(stream_track, ("inbound",))
