"""TwiML documents phonebridge sends Twilio: built as XML trees, never by concatenation, so no
value (a number, a spoken text, a URL) can break out of its attribute or element.

Reference: https://www.twilio.com/docs/voice/twiml (<Connect><Stream> and <Parameter>:
/twiml/stream; <Dial><Number>: /twiml/dial; <Play digits>: /twiml/play; <Say>: /twiml/say;
<Hangup>, <Reject reason="busy|rejected">: /twiml/reject).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Literal

RejectReason = Literal["busy", "rejected"]


def connect_stream(
    url: str,
    *,
    parameters: Mapping[str, str] | None = None,
    status_callback: str = "",
    before: ET.Element | None = None,
) -> str:
    """<Connect><Stream url=…>: a bidirectional stream; the call stays until the socket closes
    or the call is updated. `before` (a <Play digits>, say) runs first."""
    response = ET.Element("Response")
    if before is not None:
        response.append(before)
    stream = ET.SubElement(ET.SubElement(response, "Connect"), "Stream", url=url)
    if status_callback:
        stream.set("statusCallback", status_callback)
        stream.set("statusCallbackMethod", "POST")
    for name, value in (parameters or {}).items():
        ET.SubElement(stream, "Parameter", name=str(name), value=str(value))
    return _document(response)


def play_digits(digits: str) -> ET.Element:
    """<Play digits=…/>: DTMF tones into the call ("w" is a half-second pause)."""
    return ET.Element("Play", digits=digits)


def dial(number: str, *, caller_id: str = "") -> str:
    """<Dial><Number>: transfer the call to `number` (the stream ends: TwiML moved on)."""
    response = ET.Element("Response")
    verb = ET.SubElement(response, "Dial")
    if caller_id:
        verb.set("callerId", caller_id)
    ET.SubElement(verb, "Number").text = number
    return _document(response)


def say(text: str, *, voice: str = "", then_hang_up: bool = True) -> str:
    """<Say> (the apology), then <Hangup> unless the call should go on."""
    response = ET.Element("Response")
    element = ET.SubElement(response, "Say")
    if voice:
        element.set("voice", voice)
    element.text = text
    if then_hang_up:
        ET.SubElement(response, "Hangup")
    return _document(response)


def hang_up() -> str:
    response = ET.Element("Response")
    ET.SubElement(response, "Hangup")
    return _document(response)


def reject(reason: RejectReason = "busy") -> str:
    """<Reject>: refuse a call before it is answered (no charge); the caller hears a busy
    tone (`busy`) or the network's "not in service" (`rejected`)."""
    response = ET.Element("Response")
    ET.SubElement(response, "Reject", reason=reason)
    return _document(response)


def _document(element: ET.Element) -> str:
    return '<?xml version="1.0" encoding="UTF-8"?>' + ET.tostring(element, encoding="unicode")
