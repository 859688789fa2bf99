"""Twilio's Media Streams messages to the neutral frames and back, for every message.

The inbound messages are shaped as https://www.twilio.com/docs/voice/media-streams/websocket-messages
shows them."""

from __future__ import annotations

import base64
import json

from telephony.media.frames import (
    BadFrame,
    Connected,
    Dtmf,
    Mark,
    Media,
    Start,
    Stop,
    UnknownEvent,
)
from telephony.twilio.wire import WIRE, clear_message, mark_message, media_message, parse_frame

SID = "MZ" + "1" * 32


def test_connected():
    frame = parse_frame(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
    assert frame == Connected()


def test_start_names_the_stream_the_call_the_format_and_our_parameters():
    message = {
        "event": "start",
        "sequenceNumber": "1",
        "start": {
            "accountSid": "AC" + "0" * 32,
            "streamSid": SID,
            "callSid": "CA" + "2" * 32,
            "tracks": ["inbound"],
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            "customParameters": {"call_id": "abc"},
        },
        "streamSid": SID,
    }
    frame = parse_frame(json.dumps(message))
    assert isinstance(frame, Start)
    assert (frame.stream_id, frame.encoding, frame.sample_rate) == (SID, "PCMU", 8000)
    assert frame.carrier_call_id == "CA" + "2" * 32
    assert frame.custom_parameters == {"call_id": "abc"}
    assert frame.media_format["encoding"] == "audio/x-mulaw"


def test_an_unknown_encoding_is_passed_on_for_the_session_to_refuse():
    message = {"event": "start", "start": {"mediaFormat": {"encoding": "audio/opus"}}}
    assert parse_frame(json.dumps(message)).encoding == "audio/opus"


def media(payload: bytes, *, chunk="3", track="inbound", seq="4") -> str:
    return json.dumps(
        {
            "event": "media",
            "sequenceNumber": seq,
            "media": {
                "track": track,
                "chunk": chunk,
                "timestamp": "40",
                "payload": base64.b64encode(payload).decode(),
            },
            "streamSid": SID,
        }
    )


def test_media_is_ordered_by_its_chunk():
    assert parse_frame(media(b"\xff" * 160)) == Media(3, b"\xff" * 160)


def test_media_without_a_chunk_falls_back_to_the_sequence_number():
    message = json.loads(media(b"\x7f"))
    del message["media"]["chunk"]
    assert parse_frame(json.dumps(message)).seq == 4


def test_the_outbound_track_is_not_the_caller():
    assert parse_frame(media(b"\xff", track="outbound")) == Media(None, b"", "outbound")


def test_bad_media_is_a_bad_frame():
    assert parse_frame('{"event": "media"}') == BadFrame("media_without_body", event="media")
    bad = json.dumps({"event": "media", "media": {"payload": "%%%"}})
    assert parse_frame(bad) == BadFrame("bad_base64", event="media")
    empty = json.dumps({"event": "media", "media": {"payload": ""}})
    assert parse_frame(empty) == BadFrame("missing_payload", event="media")


def test_dtmf_mark_and_stop():
    dtmf = {
        "event": "dtmf",
        "streamSid": SID,
        "sequenceNumber": "5",
        "dtmf": {"track": "inbound_track", "digit": "7"},
    }
    assert parse_frame(json.dumps(dtmf)) == Dtmf("7", "5")
    mark = {"event": "mark", "sequenceNumber": "6", "streamSid": SID, "mark": {"name": "m1"}}
    assert parse_frame(json.dumps(mark)) == Mark("m1")
    stop = {
        "event": "stop",
        "sequenceNumber": "7",
        "streamSid": SID,
        "stop": {"accountSid": "AC", "callSid": "CA"},
    }
    assert parse_frame(json.dumps(stop)) == Stop()


def test_a_bad_digit_is_a_bad_frame():
    frame = parse_frame(json.dumps({"event": "dtmf", "dtmf": {"digit": "77"}}))
    assert isinstance(frame, BadFrame)
    assert frame.reason == "bad_dtmf"


def test_garbage_is_refused_by_kind():
    assert parse_frame("not json") == BadFrame("malformed_json")
    assert parse_frame(None, b"\x00\x01") == BadFrame("binary_frame", "2 bytes")
    assert parse_frame('{"event": "clear"}') == UnknownEvent("clear")
    assert parse_frame("[1, 2]") == UnknownEvent(None)


def test_what_we_send_carries_the_stream_sid():
    sent = json.loads(media_message(SID, b"\x01\x02"))
    assert sent == {"event": "media", "streamSid": SID, "media": {"payload": "AQI="}}
    assert json.loads(mark_message(SID, "m9")) == {
        "event": "mark",
        "streamSid": SID,
        "mark": {"name": "m9"},
    }
    assert json.loads(clear_message(SID)) == {"event": "clear", "streamSid": SID}


def test_a_stream_sid_with_quotes_cannot_break_the_media_message():
    assert json.loads(media_message('x","event":"stop', b"\x00"))["event"] == "media"


def test_round_trip_what_we_send_reads_back_as_the_same_frames():
    assert parse_frame(media_message(SID, b"\x10" * 160)) == Media(None, b"\x10" * 160)
    assert parse_frame(mark_message(SID, "m3")) == Mark("m3")


def test_twilio_plays_mu_law_whatever_telnyx_is_set_to():
    assert WIRE.outbound_codec == "PCMU"
    assert WIRE.carrier == "Twilio"
