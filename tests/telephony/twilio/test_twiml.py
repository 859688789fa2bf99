"""The TwiML we send, read back as XML: every shape, and values that cannot break out."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from telephony.twilio import twiml


def parse(document: str) -> ET.Element:
    assert document.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    return ET.fromstring(document.split("?>", 1)[1])  # noqa: S314 - our own TwiML, built by the code under test


def test_connect_stream_carries_the_url_the_status_callback_and_parameters():
    root = parse(
        twiml.connect_stream(
            "wss://h/twilio/media/c/t",
            parameters={"call_id": "c", "greeting": "hi"},
            status_callback="https://h/twilio/status?call=c&x=1",
        )
    )
    [connect] = root
    [stream] = connect
    assert (root.tag, connect.tag, stream.tag) == ("Response", "Connect", "Stream")
    assert stream.get("url") == "wss://h/twilio/media/c/t"
    assert stream.get("statusCallback") == "https://h/twilio/status?call=c&x=1"
    assert [(p.get("name"), p.get("value")) for p in stream] == [
        ("call_id", "c"),
        ("greeting", "hi"),
    ]


def test_a_value_with_markup_stays_a_value():
    hostile = '"/><Dial>+1900</Dial><Say a="'
    root = parse(twiml.connect_stream("wss://h/x", parameters={"p": hostile}))
    assert root.find("Connect/Stream/Parameter").get("value") == hostile
    assert root.find("Dial") is None
    said = parse(twiml.say("<Hangup/> & goodbye"))
    assert said.find("Say").text == "<Hangup/> & goodbye"


def test_play_digits_can_run_before_the_stream():
    root = parse(twiml.connect_stream("wss://h/x", before=twiml.play_digits("12w#")))
    assert [child.tag for child in root] == ["Play", "Connect"]
    assert root.find("Play").get("digits") == "12w#"


def test_dial_transfers_to_a_number():
    root = parse(twiml.dial("+15551230000", caller_id="+15550002222"))
    assert root.find("Dial").get("callerId") == "+15550002222"
    assert root.find("Dial/Number").text == "+15551230000"


def test_say_hangs_up_afterwards_unless_told_not_to():
    assert [c.tag for c in parse(twiml.say("sorry", voice="Polly.Joanna"))] == ["Say", "Hangup"]
    assert (
        parse(twiml.say("sorry", voice="Polly.Joanna")).find("Say").get("voice") == "Polly.Joanna"
    )
    assert [c.tag for c in parse(twiml.say("hold on", then_hang_up=False))] == ["Say"]


def test_hangup_and_reject():
    assert [c.tag for c in parse(twiml.hang_up())] == ["Hangup"]
    assert parse(twiml.reject("busy")).find("Reject").get("reason") == "busy"
    assert parse(twiml.reject("rejected")).find("Reject").get("reason") == "rejected"
