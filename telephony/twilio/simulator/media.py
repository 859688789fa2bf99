"""The far party's media socket as Twilio opens it: the Media Streams protocol.

Reference: https://www.twilio.com/docs/voice/media-streams/websocket-messages. Twilio sends
`connected` ({"protocol": "Call", "version": "1.0.0"}), `start` (streamSid "MZ…", accountSid,
callSid, tracks, mediaFormat {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
customParameters from the <Parameter>s), then `media` every 20 ms (sequenceNumber, media.track,
chunk and timestamp in ms, all strings; 160 bytes of base64 μ-law), `dtmf` and finally `stop`.
From a bidirectional (<Connect>) stream it takes `media`, `mark` and `clear`, each carrying
the streamSid; it echoes a `mark` once the audio before it has played, and every pending one
on `clear`. What it cannot take it logs as a warning and ignores (31950 a frame it cannot
decode, 31951 one that breaks the protocol, such as another stream's streamSid): nothing
comes back on the socket. Pacing and playout are telephony/simulation's.
"""

from __future__ import annotations

from typing import Any

from telephony.simulation import audio
from telephony.simulation.ear import Fault
from telephony.simulation.media import FarPartyMedia, Hook
from telephony.twilio.simulator.account import new_sid
from telephony.twilio.simulator.calls import SimCall
from telephony.twilio.simulator.twiml import StreamSpec

MALFORMED = 31950  # https://www.twilio.com/docs/api/errors/31950
INVALID = 31951  # https://www.twilio.com/docs/api/errors/31951
_MEDIA_TEMPLATE = (
    '{"event":"media","sequenceNumber":"%d","media":{"track":"%s","chunk":"%d",'
    '"timestamp":"%d","payload":"%s"},"streamSid":"%s"}'
)
# <Start><Stream track>; <Connect><Stream> takes only inbound_track (error 31941).
_TRACKS = {
    "inbound_track": ("inbound",),
    "outbound_track": ("outbound",),
    "both_tracks": ("inbound", "outbound"),
}


class TwilioEarWire:
    stream_field: str | None = "streamSid"

    def mark_frame(self, stream_id: str, seq: str, name: str) -> dict[str, Any]:
        return {
            "event": "mark",
            "sequenceNumber": seq,
            "streamSid": stream_id,
            "mark": {"name": name},
        }

    def error_frame(
        self, stream_id: str, fault: Fault, detail: str
    ) -> tuple[int, dict[str, Any] | None]:
        return (MALFORMED if fault == "binary" else INVALID), None


class TwilioMedia(FarPartyMedia):
    call: SimCall

    def __init__(
        self,
        call: SimCall,
        spec: StreamSpec,
        *,
        on_connected: Hook,
        on_ended: Hook,
        on_failed: Hook,
    ) -> None:
        self.call = call
        self.spec = spec
        super().__init__(
            url=spec.url,
            stream_id=new_sid("MZ"),
            scenario=call.scenario,
            encoding="PCMU",  # Twilio streams only 8 kHz μ-law
            sample_rate=8000,
            reply=audio.codec_for("PCMU", 8000, False),
            mode="rtp" if spec.bidirectional else None,
            tracks=_TRACKS.get(spec.track, ("inbound",)),
            reports=call.media_reports,
            wire=TwilioEarWire(),
            on_connected=on_connected,
            on_ended=on_ended,
            on_failed=on_failed,
        )

    async def _open_stream(self) -> None:
        await self._send({"event": "connected", "protocol": "Call", "version": "1.0.0"})
        self._on_connected(self)
        start = {
            "accountSid": self.call.account_sid,
            "streamSid": self.stream_id,
            "callSid": self.call.sid,
            "tracks": list(self.tracks),
            "customParameters": dict(self.spec.parameters),
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
        }
        seq = self._next_seq()
        await self._send(
            {"event": "start", "sequenceNumber": seq, "start": start, "streamSid": self.stream_id}
        )

    def _media_text(self, seq: int, track: str, chunk: int, timestamp_ms: int, payload: str) -> str:
        return _MEDIA_TEMPLATE % (seq, track, chunk, timestamp_ms, payload, self.stream_id)

    def _stop_frame(self) -> dict[str, Any]:
        stop = {"accountSid": self.call.account_sid, "callSid": self.call.sid}
        return {
            "event": "stop",
            "sequenceNumber": self._next_seq(),
            "streamSid": self.stream_id,
            "stop": stop,
        }

    def _dtmf_frame(self, digit: str) -> dict[str, Any]:
        return {
            "event": "dtmf",
            "streamSid": self.stream_id,
            "sequenceNumber": self._next_seq(),
            "dtmf": {"track": "inbound_track", "digit": digit},
        }
