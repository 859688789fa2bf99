"""The Twilio media URL's token is a capability: never stored or shown (calls/redaction.py)."""

from __future__ import annotations

from calls.redaction import redact, redact_text


def test_the_token_in_a_twilio_media_url_is_redacted_in_twiml():
    twiml = '<Stream url="wss://h.example/twilio/media/2f1c/AbC-_123"><Parameter name="x"/>'
    assert (
        redact_text(twiml)
        == '<Stream url="wss://h.example/twilio/media/2f1c/***"><Parameter name="x"/>'
    )


def test_form_fields_holding_twilio_credentials_are_redacted():
    assert redact({"AuthToken": "secret", "From": "+1555"}) == {"AuthToken": "***", "From": "+1555"}


def test_telnyx_media_urls_are_still_redacted():
    assert redact_text("wss://h/telnyx/media/c/tok") == "wss://h/telnyx/media/c/***"
