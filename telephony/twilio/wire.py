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
import binascii
import json
from collections.abc import Callable
from typing import Any

from telephony import storable
from telephony.media.frames import (
    BadFrame,
    Connected,
    Dtmf,
    InboundFrame,
    Mark,
    Media,
    Start,
    Stop,
    UnknownEvent,
    Wire,
)

DTMF_DIGITS = "0123456789*#ABCDabcd"
# Twilio's names for its one audio format, as telephony.media.codecs names it.
ENCODINGS = {"audio/x-mulaw": "PCMU"}


def parse_frame(text: str | None, data: bytes | None = None) -> InboundFrame:
    """Read one WebSocket message: `text` for a text frame, else the bytes of a binary one."""
    if text is None:
        return BadFrame("binary_frame", f"{len(data or b'')} bytes")  # Twilio sends text only
    try:
        message = storable.loads(text)
    except ValueError:
        return BadFrame("malformed_json")
    event = message.get("event") if isinstance(message, dict) else None
    parse = _PARSERS.get(event) if isinstance(event, str) else None
    if parse is None:
        return UnknownEvent(event)
    return parse(message)


def _connected(message: dict[str, Any]) -> Connected:
    return Connected()  # Twilio's greeting carries no token: ours is in the path


def _start(message: dict[str, Any]) -> Start:
    start = _object(message, "start")
    media_format = _object(start, "mediaFormat")
    encoding = str(media_format.get("encoding") or "audio/x-mulaw")
    return Start(
        stream_id=str(message.get("streamSid") or start.get("streamSid") or ""),
        # An encoding we do not know is passed on as is: the session refuses it by name.
        encoding=ENCODINGS.get(encoding.lower(), encoding),
        sample_rate=_int_or_none(media_format.get("sampleRate")),
        carrier_call_id=str(start.get("callSid") or ""),
        media_format=media_format,
        custom_parameters=_object(start, "customParameters"),
    )


def _media(message: dict[str, Any]) -> Media | BadFrame:
    media = message.get("media")
    if not isinstance(media, dict):
        return BadFrame("media_without_body", event="media")
    track = str(media.get("track") or "inbound").removesuffix("_track")
    if track != "inbound":
        return Media(None, b"", track)  # the outbound track (tracks="both_tracks"): not ours
    payload = media.get("payload")
    if not isinstance(payload, str) or not payload:
        return BadFrame("missing_payload", event="media")
    try:
        audio = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        return BadFrame("bad_base64", event="media")
    # `chunk` counts this track's media messages from 1; `sequenceNumber` counts every
    # message of the stream, so it is the fallback only.
    return Media(_int_or_none(media.get("chunk"), message.get("sequenceNumber")), audio)


def _dtmf(message: dict[str, Any]) -> Dtmf | BadFrame:
    digit = str(_object(message, "dtmf").get("digit") or "")
    if len(digit) != 1 or digit not in DTMF_DIGITS:
        return BadFrame("bad_dtmf", repr(digit)[:40], event="dtmf")
    # Twilio's dtmf message has no time of its own: its sequence number places it.
    return Dtmf(digit, message.get("sequenceNumber"))


def _mark(message: dict[str, Any]) -> Mark:
    return Mark(str(_object(message, "mark").get("name") or ""))


def _stop(message: dict[str, Any]) -> Stop:
    return Stop()


_PARSERS: dict[str, Callable[[dict[str, Any]], InboundFrame]] = {
    "connected": _connected,
    "start": _start,
    "media": _media,
    "dtmf": _dtmf,
    "mark": _mark,
    "stop": _stop,
}


def _object(message: dict[str, Any], key: str) -> dict[str, Any]:
    value = message.get(key)
    return value if isinstance(value, dict) else {}


def _int_or_none(*values: object) -> int | None:
    for value in values:
        try:
            return int(str(value))
        except (TypeError, ValueError):
            continue
    return None


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
