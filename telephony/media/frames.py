"""What a carrier's media socket says, in carrier-neutral terms, and what a session needs of it.

Carriers that stream a call over a WebSocket (Telnyx's media streaming, Twilio's Media
Streams) all send the same few things: a greeting (`Connected`), the stream's audio format
(`Start`), audio (`Media`), key presses (`Dtmf`), the echoes of the playback marks we sent
(`Mark`), warnings (`CarrierWarning`) and the end (`Stop`). A carrier's wire module (such as
telephony.telnyx.wire) turns each WebSocket message into one of these, or into `BadFrame` or
`UnknownEvent`, and builds the three messages we send back; `Wire` bundles that for
`MediaSession`, which never sees the carrier's JSON.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Connected:
    auth_token: str = ""  # the stream's token, for carriers that echo it in their greeting


@dataclass(frozen=True, slots=True)
class Start:
    stream_id: str
    encoding: str  # the caller's audio, as the carrier names it (codecs.get_codec)
    sample_rate: int | None  # None: the encoding's usual rate
    from_: str = ""
    to: str = ""
    carrier_call_id: str = ""  # Telnyx's call_control_id, Twilio's callSid
    media_format: dict[str, Any] = field(default_factory=dict)  # as announced, for the history
    # What we asked the carrier to pass along when it opened the stream (Twilio's
    # <Parameter>s); empty for carriers that have none.
    custom_parameters: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Media:
    seq: int | None  # where it goes in the stream; None when the frame has no usable number
    payload: bytes  # codec bytes; left empty for a track we do not play
    track: str = "inbound"  # "inbound" is the caller; carriers may also stream what they play


@dataclass(frozen=True, slots=True)
class Dtmf:
    digit: str  # one of 0-9, *, #, A-D or a-d, as received
    occurred_at: object = None  # the carrier's timestamp, stored as received


@dataclass(frozen=True, slots=True)
class Mark:
    name: str


@dataclass(frozen=True, slots=True)
class CarrierWarning:
    summary: str  # for the log
    payload: dict[str, Any]  # for the call's history


@dataclass(frozen=True, slots=True)
class Stop:
    pass


@dataclass(frozen=True, slots=True)
class UnknownEvent:
    event: object  # whatever stood in the event field, if anything


@dataclass(frozen=True, slots=True)
class BadFrame:
    """A message that breaks the carrier's format. `reason` is stable: it is stored with the
    call's events. `event` names the event the frame claimed to be, "" if it got no further
    than being unreadable (not JSON, binary, too big)."""

    reason: str
    detail: str = ""
    event: str = ""


InboundFrame = (
    Connected | Start | Media | Dtmf | Mark | CarrierWarning | Stop | UnknownEvent | BadFrame
)


@dataclass(frozen=True)
class Wire:
    """A carrier's media socket format: read one message, write the three we send.

    The writers take the stream's id first: Twilio keys what we send by its streamSid, while
    Telnyx needs none.
    """

    carrier: str  # for logs and stored reasons ("stopped by Telnyx")
    parse: Callable[[str | None, bytes | None], InboundFrame]  # a text or a binary message
    media: Callable[[str, bytes], str]  # (stream id, codec bytes of one 20 ms frame)
    mark: Callable[[str, str], str]  # (stream id, mark name)
    clear: Callable[[str], str]  # (stream id)
    # The codec of what we send, when the carrier fixes it (Twilio plays μ-law 8 kHz only);
    # "" when we chose it ourselves (Telnyx's STREAM_BIDIRECTIONAL_CODEC).
    outbound_codec: str = ""
