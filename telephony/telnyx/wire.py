"""Telnyx's media WebSocket format (telnyx-protocol.md §1): JSON text frames both ways.

In, with an `event` field: `connected` (its `connected` object holds the stream's auth token
when Telnyx was given one), `start` (`stream_id` at top level, `start.media_format`), `media`
(`media.payload` is the base64 RTP payload without its header; `chunk`, `timestamp` and
`sequence_number` are strings; order is not guaranteed), `dtmf`, `mark` (the echo of ours),
`error` (a warning, its object under `payload`) and `stop`. Out: `media` (base64 codec bytes
in `media.payload`, no stream_id needed), `mark` and `clear`.

`parse_frame` is a pure function from one message to a telephony.media.frames value. What
breaks the format comes back as a `BadFrame` whose reason is stored with the call's events.
The payload's size is the session's to judge, since it depends on the codec `start` named.
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
    CarrierWarning,
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


def parse_frame(text: str | None, data: bytes | None = None) -> InboundFrame:
    """Read one WebSocket message: `text` for a text frame, else the bytes of a binary one."""
    if text is None:
        # Telnyx sends JSON text frames only; binary is garbage on this protocol.
        return BadFrame("binary_frame", f"{len(data or b'')} bytes")
    try:
        message = storable.loads(text)
    except ValueError:  # not JSON, or JSON no database stores (NaN, NUL, lone surrogates...)
        return BadFrame("malformed_json")
    event = message.get("event") if isinstance(message, dict) else None
    parse = _PARSERS.get(event) if isinstance(event, str) else None
    if parse is None:
        return UnknownEvent(event)
    return parse(message)


def _connected(message: dict[str, Any]) -> Connected:
    # Named as the upgrade header that may carry the same token (§1.1).
    token = _object(message, "connected").get("x-telnyx-streaming-auth-token")
    return Connected(auth_token=str(token or ""))


def _start(message: dict[str, Any]) -> Start:
    start = _object(message, "start")
    media_format = _object(start, "media_format")
    return Start(
        stream_id=str(message.get("stream_id") or ""),
        encoding=str(media_format.get("encoding") or "PCMU"),
        sample_rate=_int_or_none(media_format.get("sample_rate")),
        from_=str(start.get("from") or ""),
        to=str(start.get("to") or ""),
        carrier_call_id=str(start.get("call_control_id") or ""),
        media_format=media_format,
    )


def _media(message: dict[str, Any]) -> Media | BadFrame:
    media = message.get("media")
    if not isinstance(media, dict):
        return BadFrame("media_without_body", event="media")
    track = str(media.get("track") or "inbound").removesuffix("_track")
    if track != "inbound":
        return Media(None, b"", track)  # both_tracks: not the caller, so never decoded
    payload = media.get("payload")
    if not isinstance(payload, str) or not payload:
        return BadFrame("missing_payload", event="media")
    try:
        audio = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        return BadFrame("bad_base64", event="media")
    # `sequence_number` counts every frame of the stream (start, dtmf, mark echoes...), so
    # its gaps are not losses; `chunk` counts media frames only. Order by chunk when Telnyx
    # sends it (it always has), by sequence_number otherwise.
    return Media(_int_or_none(media.get("chunk"), message.get("sequence_number")), audio)


def _dtmf(message: dict[str, Any]) -> Dtmf | BadFrame:
    digit = str(_object(message, "dtmf").get("digit") or "")
    if len(digit) != 1 or digit not in DTMF_DIGITS:
        return BadFrame("bad_dtmf", repr(digit), event="dtmf")
    return Dtmf(digit, message.get("occurred_at"))


def _mark(message: dict[str, Any]) -> Mark:
    return Mark(str(_object(message, "mark").get("name") or ""))


def _error(message: dict[str, Any]) -> CarrierWarning:
    # A warning, not the end of the stream (§1.2): 100002 unknown_error, 100003
    # malformed_frame, 100004 invalid_media, 100005 rate_limit_reached.
    payload = _object(message, "payload")
    # Quoted in log lines, so cut short: a peer may send 64 KB of detail in every frame.
    code, title, detail = (_short(payload.get(key)) for key in ("code", "title", "detail"))
    return CarrierWarning(f"{code} {title}: {detail}", payload)


def _stop(message: dict[str, Any]) -> Stop:
    return Stop()


_PARSERS: dict[str, Callable[[dict[str, Any]], InboundFrame]] = {
    "connected": _connected,
    "start": _start,
    "media": _media,
    "dtmf": _dtmf,
    "mark": _mark,
    "error": _error,
    "stop": _stop,
}


def _object(message: dict[str, Any], key: str) -> dict[str, Any]:
    """`message[key]` if it is an object, else an empty one: Telnyx's bodies are optional."""
    value = message.get(key)
    return value if isinstance(value, dict) else {}


def _short(value: object, limit: int = 100) -> str:
    text = value if isinstance(value, str) else repr(value)[: limit + 1]
    return text if len(text) <= limit else text[:limit] + "..."


def _int_or_none(*values: object) -> int | None:
    """The first value that reads as an integer: Telnyx sends its counters as strings."""
    for value in values:
        try:
            return int(str(value))
        except (TypeError, ValueError):
            continue
    return None


# What we send ---------------------------------------------------------------------------


def media_message(stream_id: str, payload: bytes) -> str:
    # Concatenation, not json.dumps: 50 of these a second per call, and base64 needs no escaping.
    return '{"event":"media","media":{"payload":"' + base64.b64encode(payload).decode() + '"}}'


def mark_message(stream_id: str, name: str) -> str:
    return json.dumps({"event": "mark", "mark": {"name": name}})


def clear_message(stream_id: str) -> str:
    return json.dumps({"event": "clear"})


WIRE = Wire(
    carrier="Telnyx",
    parse=parse_frame,
    media=media_message,
    mark=mark_message,
    clear=clear_message,
)
