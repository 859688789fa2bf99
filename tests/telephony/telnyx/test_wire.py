"""Telnyx's media frames, parsed and written as pure functions (telnyx-protocol.md §1)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from telephony.media.frames import (
    BadFrame,
    CarrierWarning,
    Connected,
    Dtmf,
    Mark,
    Media,
    Start,
    Stop,
    UnknownEvent,
)
from telephony.telnyx.wire import (
    WIRE,
    clear_message,
    mark_message,
    media_message,
    parse_frame,
)

PAYLOAD = bytes(range(160))


def parse(message: Any) -> object:
    return parse_frame(json.dumps(message))


def media(**body: Any) -> dict[str, Any]:
    fields = {"track": "inbound", "chunk": "7", "payload": base64.b64encode(PAYLOAD).decode()}
    return {"event": "media", "sequence_number": "9", "media": {**fields, **body}}


# connected ------------------------------------------------------------------------------


def test_connected_carries_the_streaming_auth_token():
    frame = {"event": "connected", "connected": {"x-telnyx-streaming-auth-token": "s3cret"}}
    assert parse(frame) == Connected("s3cret")


@pytest.mark.parametrize("body", [None, "token", [], {}, {"x-telnyx-streaming-auth-token": None}])
def test_connected_without_a_token_has_an_empty_one(body):
    assert parse({"event": "connected", "version": "1.0.0", "connected": body}) == Connected("")


# start ----------------------------------------------------------------------------------


def test_start_reads_the_stream_and_its_format():
    media_format = {"encoding": "L16", "sample_rate": "16000", "channels": 1}
    frame = {
        "event": "start",
        "sequence_number": "1",
        "stream_id": "32DE0DEA",
        "start": {
            "call_control_id": "v3:abc",
            "from": "+15551230000",
            "to": "+15559870000",
            "media_format": media_format,
        },
    }
    assert parse(frame) == Start(
        stream_id="32DE0DEA",
        encoding="L16",
        sample_rate=16000,
        from_="+15551230000",
        to="+15559870000",
        carrier_call_id="v3:abc",
        media_format=media_format,
    )


@pytest.mark.parametrize("start", [None, "start", {}, {"media_format": "PCMU"}])
def test_start_without_a_media_format_means_pcmu_at_its_usual_rate(start):
    frame = parse({"event": "start", "start": start})
    assert frame == Start(stream_id="", encoding="PCMU", sample_rate=None)


@pytest.mark.parametrize(("rate", "parsed"), [(8000, 8000), ("8000", 8000), ("8k", None)])
def test_start_reads_a_sample_rate_sent_as_a_number_or_a_string(rate, parsed):
    frame = parse({"event": "start", "start": {"media_format": {"sample_rate": rate}}})
    assert isinstance(frame, Start)
    assert frame.sample_rate == parsed


# media ----------------------------------------------------------------------------------


def test_media_is_decoded_and_ordered_by_chunk():
    assert parse(media()) == Media(7, PAYLOAD)


@pytest.mark.parametrize("chunk", [None, "", "#7", 7.5, [7]])
def test_media_without_a_usable_chunk_is_ordered_by_sequence_number(chunk):
    assert parse(media(chunk=chunk)) == Media(9, PAYLOAD)


def test_media_with_no_usable_number_at_all_has_none():
    frame = media(chunk="x")
    frame["sequence_number"] = "nine"
    assert parse(frame) == Media(None, PAYLOAD)


@pytest.mark.parametrize("track", [None, "", "inbound", "inbound_track"])
def test_the_callers_track_is_inbound(track):
    assert parse(media(track=track)) == Media(7, PAYLOAD)


@pytest.mark.parametrize("track", ["outbound", "outbound_track", "inbound/outbound"])
def test_another_track_is_passed_on_undecoded(track):
    assert parse(media(track=track, payload="@@@")) == Media(
        None, b"", track.removesuffix("_track")
    )


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        ({"event": "media"}, "media_without_body"),
        ({"event": "media", "media": [1]}, "media_without_body"),
        (media(payload=None), "missing_payload"),
        (media(payload=""), "missing_payload"),
        (media(payload=12), "missing_payload"),
        (media(payload="@@@"), "bad_base64"),
        (media(payload="AAA"), "bad_base64"),
        (media(payload="AA AA"), "bad_base64"),
    ],
)
def test_a_media_frame_that_breaks_the_format_is_bad(frame, reason):
    assert parse(frame) == BadFrame(reason, event="media")


def test_the_payload_size_is_left_to_the_session_which_knows_the_codec():
    assert parse(media(payload="/w==")) == Media(7, b"\xff")


# dtmf, mark, error, stop ----------------------------------------------------------------


@pytest.mark.parametrize("digit", list("0123456789*#ABCDabcd"))
def test_dtmf_digits_are_passed_on_as_received(digit):
    frame = {"event": "dtmf", "occurred_at": "2026-11-22T10:00:00Z", "dtmf": {"digit": digit}}
    assert parse(frame) == Dtmf(digit, "2026-11-22T10:00:00Z")


@pytest.mark.parametrize("digit", ["", "12", "E", "é", None, 10])
def test_a_dtmf_frame_without_one_valid_digit_is_bad(digit):
    frame = parse({"event": "dtmf", "dtmf": {"digit": digit}})
    assert isinstance(frame, BadFrame)
    assert (frame.reason, frame.event) == ("bad_dtmf", "dtmf")


def test_mark_echoes_carry_their_name():
    assert parse({"event": "mark", "mark": {"name": "m3"}}) == Mark("m3")
    assert parse({"event": "mark"}) == Mark("")


def test_an_error_frames_summary_quotes_at_most_a_little_of_each_field():
    payload = {"code": ["x"] * 10_000, "title": "t" * 60_000, "detail": "d" * 60_000}
    warning = parse({"event": "error", "payload": payload})
    assert len(warning.summary) < 350  # it goes into log lines
    assert warning.payload == payload  # the session clips what it stores


def test_an_error_frame_is_a_warning_with_its_payload():
    payload = {"code": 100003, "title": "malformed_frame", "detail": "too short"}
    assert parse({"event": "error", "payload": payload}) == CarrierWarning(
        "100003 malformed_frame: too short", payload
    )


def test_stop():
    assert parse({"event": "stop", "stop": {}}) == Stop()


# What is not a frame --------------------------------------------------------------------


@pytest.mark.parametrize("text", ['{"event": "telepathy"}', '{"x": 1}', "[]", "null", '"media"'])
def test_an_unknown_or_missing_event_is_unknown_not_bad(text):
    assert isinstance(parse_frame(text), UnknownEvent)


def test_an_unknown_event_keeps_what_stood_in_the_event_field():
    assert parse_frame('{"event": ["media"]}') == UnknownEvent(["media"])


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("{not json", id="not-json"),
        pytest.param("", id="empty"),
        pytest.param('{"event": "error", "payload": {"code": NaN}}', id="NaN"),
        pytest.param('{"event": "error", "payload": {"code": 1e999}}', id="infinity"),
        pytest.param('{"event": "mark", "mark": {"name": "\\ud800"}}', id="lone-surrogate"),
        pytest.param('{"event": "mark", "mark": {"name": "a\\u0000b"}}', id="NUL"),
        pytest.param("[" * 60_000, id="nested-too-deep"),
        pytest.param('{"event": "media", "sequence_number": ' + "7" * 5000 + "}", id="5000-digits"),
        pytest.param("\x00binary", id="raw-NUL"),
    ],
)
def test_what_is_not_json_a_database_can_store_is_malformed(text):
    assert parse_frame(text) == BadFrame("malformed_json")


def test_a_binary_message_is_bad_on_a_text_protocol():
    assert parse_frame(None, b"\x00\x01") == BadFrame("binary_frame", "2 bytes")


@settings(max_examples=300)
@given(st.text(max_size=200))
def test_any_text_parses_to_a_frame_without_raising(text):
    parse_frame(text)


# What we send ---------------------------------------------------------------------------


def test_a_media_message_carries_the_codec_bytes_in_base64():
    text = media_message("stream-1", PAYLOAD)
    assert json.loads(text) == {
        "event": "media",
        "media": {"payload": base64.b64encode(PAYLOAD).decode()},
    }


def test_mark_and_clear_messages():
    assert json.loads(mark_message("stream-1", "m1")) == {"event": "mark", "mark": {"name": "m1"}}
    assert json.loads(clear_message("stream-1")) == {"event": "clear"}


def test_the_wire_bundles_the_parser_and_the_writers():
    assert (WIRE.carrier, WIRE.parse, WIRE.media) == ("Telnyx", parse_frame, media_message)
    assert (WIRE.mark, WIRE.clear) == (mark_message, clear_message)
