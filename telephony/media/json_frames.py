"""Reading the JSON text frames that Telnyx's and Twilio's media sockets both send.

The two formats name things differently (`stream_id` or `streamSid`, `sequence_number` or
`sequenceNumber`) but are built the same way: one JSON object per message, its kind in
`event`, optional bodies under the event's name, counters as strings. What both read the same
lives here; each carrier's wire module keeps its own names and the events only it has.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from typing import Any

from telephony import storable
from telephony.media.frames import BadFrame, Dtmf, InboundFrame, Mark, Media, Stop, UnknownEvent

DTMF_DIGITS = "0123456789*#ABCDabcd"

Parser = Callable[[dict[str, Any]], InboundFrame]


def parse_json_frame(
    text: str | None, data: bytes | None, parsers: Mapping[str, Parser]
) -> InboundFrame:
    """Read one WebSocket message (`text` for a text frame, else the bytes of a binary one)
    with the parser `parsers` names for its event."""
    if text is None:
        # Both carriers send JSON text frames only; binary is garbage on these protocols.
        return BadFrame("binary_frame", f"{len(data or b'')} bytes")
    try:
        message = storable.loads(text)
    except ValueError:  # not JSON, or JSON no database stores (NaN, NUL, lone surrogates...)
        return BadFrame("malformed_json")
    event = message.get("event") if isinstance(message, dict) else None
    parse = parsers.get(event) if isinstance(event, str) else None
    if parse is None:
        return UnknownEvent(event)
    return parse(message)


def media_frame(message: dict[str, Any], sequence_key: str) -> Media | BadFrame:
    """A `media` message: base64 audio in `media.payload`, placed by `media.chunk`.

    `chunk` counts this track's media messages from 1; the message's own sequence number
    (`sequence_key`) counts every message of the stream (start, dtmf, mark echoes...), so its
    gaps are not losses and it is the fallback only.
    """
    media = message.get("media")
    if not isinstance(media, dict):
        return BadFrame("media_without_body", event="media")
    track = str(media.get("track") or "inbound").removesuffix("_track")
    if track != "inbound":
        # The outbound track (tracks "both_tracks"): not the caller, so never decoded.
        return Media(None, b"", track)
    payload = media.get("payload")
    if not isinstance(payload, str) or not payload:
        return BadFrame("missing_payload", event="media")
    try:
        audio = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        return BadFrame("bad_base64", event="media")
    return Media(int_or_none(media.get("chunk"), message.get(sequence_key)), audio)


def dtmf_frame(
    message: dict[str, Any], occurred_at: object, *, detail_chars: int | None = None
) -> Dtmf | BadFrame:
    """A `dtmf` message: one digit in `dtmf.digit`; a bad one is quoted (cut to
    `detail_chars` if given) in the BadFrame's detail."""
    digit = str(object_at(message, "dtmf").get("digit") or "")
    if len(digit) != 1 or digit not in DTMF_DIGITS:
        return BadFrame("bad_dtmf", repr(digit)[:detail_chars], event="dtmf")
    return Dtmf(digit, occurred_at)


def mark_frame(message: dict[str, Any]) -> Mark:
    """The echo of a mark we sent: its name in `mark.name`."""
    return Mark(str(object_at(message, "mark").get("name") or ""))


def stop_frame(message: dict[str, Any]) -> Stop:
    return Stop()


def object_at(message: dict[str, Any], key: str) -> dict[str, Any]:
    """`message[key]` if it is an object, else an empty one: the carriers' bodies are optional."""
    value = message.get(key)
    return value if isinstance(value, dict) else {}


def int_or_none(*values: object) -> int | None:
    """The first value that reads as an integer: both carriers send their counters as strings."""
    for value in values:
        try:
            return int(str(value))
        except (TypeError, ValueError):
            continue
    return None
