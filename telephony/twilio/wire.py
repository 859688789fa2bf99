"""Twilio's Media Streams WebSocket format: JSON text frames both ways.

Reference: https://www.twilio.com/docs/voice/media-streams/websocket-messages

In, with an `event` field: `connected` (`protocol`, `version`), `start` (`streamSid`,
`start.callSid`, `start.tracks`, `start.mediaFormat` {encoding "audio/x-mulaw",
sampleRate 8000, channels 1}, `start.customParameters`), `media` (`sequenceNumber`,
`media.track`, `media.chunk`, `media.timestamp`, base64 `media.payload`), `mark` (the echo
of ours: Twilio sends it once the audio before it has played, or when `clear` drops it),
`dtmf` (`dtmf.digit`, `dtmf.track`) and `stop`. Counters are strings, as in Telnyx's.
Out: `media` (base64 μ-law in `media.payload`), `mark` and `clear`, each with the
`streamSid` of the stream, which Twilio requires.

`parse_frame` is a pure function from one message to a telephony.media.frames value.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from telephony.media.frames import BadFrame, Connected, Dtmf, InboundFrame, Start, Wire
from telephony.media.json_frames import (
    Parser,
    dtmf_frame,
    int_or_none,
    mark_frame,
    media_frame,
    object_at,
    parse_json_frame,
    stop_frame,
)

# Twilio's names for its one audio format, as telephony.media.codecs names it.
ENCODINGS = {"audio/x-mulaw": "PCMU"}


def parse_frame(text: str | None, data: bytes | None = None) -> InboundFrame:
    """Read one WebSocket message: `text` for a text frame, else the bytes of a binary one."""
    return parse_json_frame(text, data, _PARSERS)


def _connected(message: dict[str, Any]) -> Connected:
    return Connected()  # Twilio's greeting carries no token: ours is in the path


def _start(message: dict[str, Any]) -> Start:
    start = object_at(message, "start")
    media_format = object_at(start, "mediaFormat")
    encoding = str(media_format.get("encoding") or "audio/x-mulaw")
    return Start(
        stream_id=str(message.get("streamSid") or start.get("streamSid") or ""),
        # An encoding we do not know is passed on as is: the session refuses it by name.
        encoding=ENCODINGS.get(encoding.lower(), encoding),
        sample_rate=int_or_none(media_format.get("sampleRate")),
        carrier_call_id=str(start.get("callSid") or ""),
        media_format=media_format,
        custom_parameters=object_at(start, "customParameters"),
    )


def _dtmf(message: dict[str, Any]) -> Dtmf | BadFrame:
    # Twilio's dtmf message has no time of its own: its sequence number places it.
    return dtmf_frame(message, message.get("sequenceNumber"), detail_chars=40)


_PARSERS: dict[str, Parser] = {
    "connected": _connected,
    "start": _start,
    "media": lambda message: media_frame(message, "sequenceNumber"),
    "dtmf": _dtmf,
    "mark": mark_frame,
    "stop": stop_frame,
}


# What we send ---------------------------------------------------------------------------


def media_message(stream_id: str, payload: bytes) -> str:
    # 50 a second per call: concatenation, and json.dumps only for the id (it came from the
    # peer, so it is escaped; base64 needs no escaping).
    return (
        '{"event":"media","streamSid":'
        + json.dumps(stream_id)
        + ',"media":{"payload":"'
        + base64.b64encode(payload).decode()
        + '"}}'
    )


def mark_message(stream_id: str, name: str) -> str:
    return json.dumps({"event": "mark", "streamSid": stream_id, "mark": {"name": name}})


def clear_message(stream_id: str) -> str:
    return json.dumps({"event": "clear", "streamSid": stream_id})


WIRE = Wire(
    carrier="Twilio",
    parse=parse_frame,
    media=media_message,
    mark=mark_message,
    clear=clear_message,
    # Twilio plays only what it streams: μ-law at 8 kHz, mono.
    outbound_codec="PCMU",
)
