from __future__ import annotations

from calls.redaction import redact, redact_text

CALL = "0b0c4a2e-3f4b-4bbf-9d51-6f0f7c1c8f00"


def test_the_token_of_a_media_url_is_replaced():
    url = f"wss://phonebridge.example.com/telnyx/media/{CALL}/AbC-123_xyz"
    assert redact_text(url) == f"wss://phonebridge.example.com/telnyx/media/{CALL}/***"


def test_a_media_url_quoted_inside_text_is_redacted_and_the_text_kept():
    text = f'stream_url "wss://h/telnyx/media/{CALL}/tok" failed; retry'
    assert redact_text(text) == f'stream_url "wss://h/telnyx/media/{CALL}/***" failed; retry'


def test_other_urls_are_left_alone():
    for url in (
        "https://s3.amazonaws.com/telnyx-recordings/media/abc/def.wav",
        "wss://phonebridge.test/telnyx/events",
        f"wss://phonebridge.test/telnyx/media/{CALL}",
    ):
        assert redact_text(url) == url


def test_nested_values_and_secret_fields_are_redacted_in_a_copy():
    body = {
        "to": "+15550001111",
        "stream_url": f"wss://h/telnyx/media/{CALL}/tok",
        "stream_auth_token": "tok",
        "connected": {"X-Telnyx-Streaming-Auth-Token": "tok"},
        "stream_params": [{"stream_url": f"wss://h/telnyx/media/{CALL}/tok"}],
        "sip_auth_password": None,
        "count": 3,
    }
    redacted = redact(body)
    assert redacted == {
        "to": "+15550001111",
        "stream_url": f"wss://h/telnyx/media/{CALL}/***",
        "stream_auth_token": "***",
        "connected": {"X-Telnyx-Streaming-Auth-Token": "***"},
        "stream_params": [{"stream_url": f"wss://h/telnyx/media/{CALL}/***"}],
        "sip_auth_password": None,
        "count": 3,
    }
    assert body["stream_auth_token"] == "tok"  # the original is untouched
