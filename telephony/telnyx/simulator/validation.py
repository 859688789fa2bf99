"""Request-body checks for dial and call commands, with Telnyx's error codes (§1.7, §3.4)."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from telephony.numbers import is_e164
from telephony.telnyx.simulator import errors
from telephony.telnyx.simulator.calls import StreamParams

STREAM_TRACKS = ("inbound_track", "outbound_track", "both_tracks")
STREAM_CODECS = ("PCMU", "PCMA", "G722", "OPUS", "AMR-WB", "L16", "default")
# Case-sensitive, as Telnyx checks them: "pcmu" is a 422.
BIDIRECTIONAL_CODECS = ("PCMU", "PCMA", "G722", "OPUS", "AMR-WB", "L16")
BIDIRECTIONAL_MODES = ("mp3", "rtp")
BIDIRECTIONAL_RATES = (8000, 16000, 22050, 24000, 48000)
TARGET_LEGS = ("both", "self", "opposite")
REJECT_CAUSES = ("CALL_REJECTED", "USER_BUSY")
RECORD_FORMATS = ("wav", "mp3")
RECORD_CHANNELS = ("single", "dual")
TRANSCRIPTION_TRACKS = ("inbound", "outbound", "both")
AMD_MODES = ("premium", "detect", "detect_beep", "detect_words", "greeting_end", "disabled")
_DTMF = re.compile(r"^[0-9A-D*#wW]+$")
_SIP_URI = re.compile(r"^sips?:\S+@\S+$")


def client_state(body: dict[str, Any]) -> None:
    value = body.get("client_state")
    if value is None:
        return
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError, TypeError):
        raise errors.ApiError(
            422,
            "10028",
            "Invalid client_state",
            "client_state must be a valid Base-64 encoded string.",
            pointer="/client_state",
        ) from None


def required(body: dict[str, Any], *names: str) -> None:
    for name in names:
        if body.get(name) in (None, ""):
            raise errors.missing(name)


def one_of(body: dict[str, Any], name: str, allowed: tuple[Any, ...]) -> None:
    if name in body and body[name] is not None and body[name] not in allowed:
        raise errors.invalid_enum(name, allowed)


def e164(body: dict[str, Any], name: str, *, sip_allowed: bool = False) -> str:
    value = body.get(name)
    if isinstance(value, list) and value:
        value = value[0]  # dial accepts a list of destinations; we ring the first
    if not isinstance(value, str) or not value:
        raise errors.missing(name)
    number = value.split(",", 1)[0]  # `+1555…,123` is shorthand for send_digits_on_answer
    if is_e164(number) or (sip_allowed and _SIP_URI.match(number)):
        return number
    raise errors.not_e164(name)


def stream_params(body: dict[str, Any], *, required_url: bool = False) -> StreamParams | None:
    if not body.get("stream_url"):
        if required_url:
            raise errors.missing("stream_url")
        return None
    one_of(body, "stream_track", STREAM_TRACKS)
    one_of(body, "stream_codec", STREAM_CODECS)
    one_of(body, "stream_bidirectional_mode", BIDIRECTIONAL_MODES)
    one_of(body, "stream_bidirectional_codec", BIDIRECTIONAL_CODECS)
    one_of(body, "stream_bidirectional_sampling_rate", BIDIRECTIONAL_RATES)
    one_of(body, "stream_bidirectional_target_legs", TARGET_LEGS)
    url = str(body["stream_url"])
    if not url.startswith(("ws://", "wss://")):
        raise errors.bad_request("stream_url must be a ws:// or wss:// URL.", pointer="/stream_url")
    token = body.get("stream_auth_token")
    if token is not None and len(str(token)) > 4000:
        raise errors.ApiError(422, "10033", "Value out of range", "stream_auth_token is too long.")
    return StreamParams(
        url=url,
        track=body.get("stream_track") or "inbound_track",
        codec=body.get("stream_codec") or "default",
        bidirectional_mode=_bidirectional_mode(body),
        bidirectional_codec=body.get("stream_bidirectional_codec") or "PCMU",
        bidirectional_sampling_rate=body.get("stream_bidirectional_sampling_rate"),
        target_legs=body.get("stream_bidirectional_target_legs") or "opposite",
        auth_token=token,
        custom_parameters=_custom_parameters(body.get("custom_parameters")),
    )


def _bidirectional_mode(body: dict[str, Any]) -> str | None:
    if body.get("stream_bidirectional_mode"):
        return str(body["stream_bidirectional_mode"])
    asked = any(k.startswith("stream_bidirectional_") and body[k] is not None for k in body)
    return "mp3" if asked else None  # mp3 is Telnyx's default once bidirectional is asked for


def _custom_parameters(value: Any) -> dict[str, str]:
    # Sent as [{name, value}], delivered in `start` as an object (§1.1).
    if not isinstance(value, list):
        return {}
    return {str(p.get("name")): str(p.get("value")) for p in value if isinstance(p, dict)}


def action_body(action: str, body: dict[str, Any]) -> None:
    """Raise the 10004/10032 a command with a bad body gets; call state is checked apart."""
    client_state(body)
    check = _ACTION_CHECKS.get(action)
    if check is not None:
        check(body)


def _speak(body: dict[str, Any]) -> None:
    required(body, "payload", "voice")
    one_of(body, "payload_type", ("text", "ssml"))
    if len(str(body["payload"])) > 3000:
        raise errors.ApiError(
            422, "10033", "Value out of range", "payload is over 3000 characters."
        )


def _transfer(body: dict[str, Any]) -> None:
    e164(body, "to", sip_allowed=True)


def _reject(body: dict[str, Any]) -> None:
    required(body, "cause")
    one_of(body, "cause", REJECT_CAUSES)


def _send_dtmf(body: dict[str, Any]) -> None:
    required(body, "digits")
    if not _DTMF.match(str(body["digits"])):
        raise errors.invalid_enum("digits", ("0-9", "A-D", "*", "#", "w", "W"))


def _record_start(body: dict[str, Any]) -> None:
    required(body, "format", "channels")
    one_of(body, "format", RECORD_FORMATS)
    one_of(body, "channels", RECORD_CHANNELS)


def _playback_start(body: dict[str, Any]) -> None:
    if not any(body.get(k) for k in ("audio_url", "media_name", "playback_content")):
        raise errors.missing("audio_url")


def _bridge(body: dict[str, Any]) -> None:
    required(body, "call_control_id")


def _transcription_start(body: dict[str, Any]) -> None:
    one_of(body, "transcription_tracks", TRANSCRIPTION_TRACKS)


def _answer(body: dict[str, Any]) -> None:
    stream_params(body)


def _streaming_start(body: dict[str, Any]) -> None:
    stream_params(body, required_url=True)


_ACTION_CHECKS = {
    "answer": _answer,
    "speak": _speak,
    "transfer": _transfer,
    "reject": _reject,
    "send_dtmf": _send_dtmf,
    "record_start": _record_start,
    "playback_start": _playback_start,
    "bridge": _bridge,
    "transcription_start": _transcription_start,
    "streaming_start": _streaming_start,
}


def dial_body(body: dict[str, Any]) -> tuple[str, str]:
    """Validate a dial's parties and options; returns (to, from)."""
    client_state(body)
    to = e164(body, "to", sip_allowed=True)
    from_ = e164(body, "from")
    one_of(body, "answering_machine_detection", AMD_MODES)
    timeout = body.get("timeout_secs")
    timeout = 30 if timeout is None else timeout  # null reads as "not given"
    if not isinstance(timeout, int) or not 5 <= timeout <= 600:
        raise errors.ApiError(422, "10033", "Value out of range", "timeout_secs must be 5-600.")
    stream_params(body)
    return to, from_
