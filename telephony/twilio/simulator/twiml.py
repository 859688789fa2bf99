"""Reading the TwiML our server answers with, as Twilio's voice engine does.

Reference: https://www.twilio.com/docs/voice/twiml. The simulator knows the verbs phonebridge
uses: <Connect><Stream> (bidirectional stream, /twiml/stream), <Start><Stream> (one-way),
<Reject reason> (/twiml/reject), <Hangup>, <Dial> (/twiml/dial), <Play digits>
(/twiml/play), <Say> (/twiml/say), <Pause length> and <Redirect>. A document that does not
parse is Twilio's error 12100 (the call hears "an application error has occurred" and ends);
an unknown verb is 12200 (schema validation warning) and is skipped.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

PARSE_FAILURE = 12100  # https://www.twilio.com/docs/api/errors/12100
SCHEMA_WARNING = 12200  # https://www.twilio.com/docs/api/errors/12200
_KNOWN = {"Connect", "Start", "Reject", "Hangup", "Dial", "Play", "Say", "Pause", "Redirect"}


class TwimlError(ValueError):
    def __init__(self, code: int, detail: str) -> None:
        super().__init__(f"TwiML error {code}: {detail}")
        self.code = code


@dataclass(frozen=True)
class StreamSpec:
    url: str
    bidirectional: bool
    track: str = "inbound_track"
    name: str = ""
    status_callback: str = ""
    parameters: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Verb:
    name: str
    attributes: dict[str, str]
    text: str = ""
    stream: StreamSpec | None = None


def parse(document: str) -> tuple[list[Verb], list[int]]:
    """The verbs of `document` in order, and the warnings Twilio would log about it."""
    try:
        root = ET.fromstring(document.strip())  # noqa: S314 - our own server's answer
    except ET.ParseError as exc:
        raise TwimlError(PARSE_FAILURE, f"the document does not parse: {exc}") from None
    if root.tag != "Response":
        raise TwimlError(PARSE_FAILURE, f"the root element is <{root.tag}>, not <Response>")
    verbs: list[Verb] = []
    warnings: list[int] = []
    for element in root:
        if element.tag not in _KNOWN:
            warnings.append(SCHEMA_WARNING)
            continue
        verbs.append(_verb(element))
    return verbs, warnings


def _verb(element: ET.Element) -> Verb:
    attributes = dict(element.attrib)
    text = (element.text or "").strip()
    if element.tag in ("Connect", "Start"):
        stream = element.find("Stream")
        if stream is None or not stream.get("url"):
            raise TwimlError(SCHEMA_WARNING, f"<{element.tag}> holds no <Stream url>")
        return Verb(element.tag, attributes, stream=_stream(stream, element.tag == "Connect"))
    if element.tag == "Dial":
        number = element.find("Number")
        text = (number.text or "").strip() if number is not None else text
    return Verb(element.tag, attributes, text)


def _stream(element: ET.Element, bidirectional: bool) -> StreamSpec:
    parameters = {
        p.get("name", ""): p.get("value", "") for p in element.findall("Parameter") if p.get("name")
    }
    return StreamSpec(
        url=element.get("url", ""),
        bidirectional=bidirectional,
        track=element.get("track", "inbound_track"),
        name=element.get("name", ""),
        status_callback=element.get("statusCallback", ""),
        parameters=parameters,
    )
