"""X-Twilio-Signature, checked with requests signed by the official RequestValidator, and the
event ids that make a repeated callback one event."""

from __future__ import annotations

import hashlib
import json
from urllib.parse import urlencode

import pytest

from telephony.twilio.webhooks import (
    BadRequest,
    BadSignature,
    parse_event,
    parse_params,
    verify_signature,
)
from tests.telephony.twilio.conftest import CALL_SID, sign, status_params, voice_params
from tests.telephony.twilio.fake_twilio import AUTH_TOKEN

FORM = "application/x-www-form-urlencoded"
URL = "https://phonebridge.test/twilio/voice"


def verify(urls, params, signature, content_type=FORM, body=None):
    verify_signature(
        urls=urls,
        body=body if body is not None else urlencode(params).encode(),
        content_type=content_type,
        signature=signature,
        auth_token=AUTH_TOKEN,
    )


def test_a_request_signed_for_its_url_and_parameters_verifies():
    params = voice_params()
    verify([URL], params, sign(URL, params))


def test_a_changed_parameter_is_refused():
    params = voice_params()
    signature = sign(URL, params)
    with pytest.raises(BadSignature, match="does not match"):
        verify([URL], {**params, "From": "+19005550000"}, signature)


def test_a_signature_made_with_another_token_is_refused():
    params = voice_params()
    with pytest.raises(BadSignature):
        verify([URL], params, sign(URL, params, token="not-the-token"))


def test_an_unsigned_request_is_refused():
    with pytest.raises(BadSignature, match="missing X-Twilio-Signature"):
        verify([URL], voice_params(), None)


def test_without_an_auth_token_nothing_verifies():
    params = voice_params()
    with pytest.raises(BadSignature, match="TWILIO_AUTH_TOKEN"):
        verify_signature(
            urls=[URL],
            body=urlencode(params).encode(),
            content_type=FORM,
            signature=sign(URL, params),
            auth_token="",
        )


def test_the_query_string_is_signed_too():
    params = status_params(CALL_SID, "ringing", 1)
    signed_for = "https://phonebridge.test/twilio/status?call=abc"
    signature = sign(signed_for, params)
    verify([signed_for], params, signature)
    with pytest.raises(BadSignature):
        verify(["https://phonebridge.test/twilio/status?call=other"], params, signature)


def test_behind_a_tls_proxy_the_public_url_is_the_one_that_verifies():
    # Twilio signed https://public-host/...; the proxy handed us http://10.0.0.5:8000/...
    params = voice_params()
    signature = sign(URL, params)
    with pytest.raises(BadSignature):
        verify(["http://10.0.0.5:8000/twilio/voice"], params, signature)
    verify([URL, "http://10.0.0.5:8000/twilio/voice"], params, signature)


def test_the_port_may_or_may_not_be_part_of_the_signed_url():
    params = voice_params()
    verify([URL], params, sign("https://phonebridge.test:443/twilio/voice", params))


def test_a_json_body_is_covered_by_its_body_sha256():
    body = json.dumps({"CallSid": CALL_SID}).encode()
    url = f"{URL}?bodySHA256={hashlib.sha256(body).hexdigest()}"
    signature = sign(url, {})
    verify([url], {}, signature, content_type="application/json", body=body)
    with pytest.raises(BadSignature):
        verify([url], {}, signature, content_type="application/json", body=body + b" ")


def test_a_json_body_without_body_sha256_is_refused():
    with pytest.raises(BadSignature, match="bodySHA256"):
        verify([URL], {}, sign(URL, {}), content_type="application/json", body=b"{}")


def test_a_status_callback_id_is_built_from_the_sid_status_and_sequence():
    event = parse_event("status", status_params(CALL_SID, "ringing", 2), {"call": "x"})
    assert event.id == f"twilio:{CALL_SID}:ringing:2"
    assert event.type == "twilio.call.ringing"
    assert event.call_ref == "x"
    assert event.occurred_at.isoformat() == "2026-11-24T10:00:02+00:00"


def test_without_a_sequence_number_the_status_alone_keys_the_event():
    params = status_params(CALL_SID, "completed", 1)
    del params["SequenceNumber"]
    assert parse_event("status", params, {}).id == f"twilio:{CALL_SID}:completed"


def test_stream_recording_and_amd_callbacks_have_their_own_ids():
    stream = {"CallSid": CALL_SID, "StreamSid": "MZ1", "StreamEvent": "stream-started"}
    assert parse_event("status", stream, {}).type == "twilio.stream-started"
    recording = {"CallSid": CALL_SID, "RecordingSid": "RE1", "RecordingStatus": "completed"}
    assert (
        parse_event("recording", recording, {}).id == f"twilio:{CALL_SID}:recording:RE1:completed"
    )
    amd = {"CallSid": CALL_SID, "AnsweredBy": "machine_start"}
    assert parse_event("amd", amd, {}).id == f"twilio:{CALL_SID}:amd:machine_start"


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"CallStatus": "ringing"}, "CallSid"),
        ({"CallSid": "CA123", "CallStatus": "ringing"}, "CallSid"),
        ({"CallSid": CALL_SID}, "CallStatus"),
        ({"CallSid": CALL_SID, "CallStatus": "<script>"}, "CallStatus"),
    ],
)
def test_a_callback_without_what_we_need_is_a_bad_request(params, reason):
    with pytest.raises(BadRequest, match=reason):
        parse_event("status", params, {})


def test_a_body_that_is_not_a_form_is_a_bad_request():
    with pytest.raises(BadRequest, match="form-encoded"):
        parse_params(b"{}", "application/json")
    with pytest.raises(BadRequest, match="too long"):
        parse_params(urlencode({"From": "x" * 5000}).encode(), FORM)
    with pytest.raises(BadRequest, match="NUL"):
        parse_params(b"From=a%00b", FORM)


def test_a_flood_of_form_fields_is_refused_not_a_server_error():
    body = "&".join(f"f{i}=x" for i in range(2000)).encode()
    with pytest.raises(BadSignature, match="more form fields"):
        verify_signature(
            urls=[URL], body=body, content_type=FORM, signature="x", auth_token=AUTH_TOKEN
        )
    with pytest.raises(BadRequest, match="more form fields"):
        parse_params(body, FORM)
