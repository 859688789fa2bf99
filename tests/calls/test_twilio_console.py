"""The console for a Twilio call: the list's carrier column, filter and CallSid search, the
summary, the timeline in plain words with Twilio's requests, the carrier's words in stories
and notes, the live panel, the CSV and the dashboard. Callbacks are stored by the real
handlers (telephony.twilio.handlers.record_event), as the /twilio/* views store them."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest

from calls.models import Call, CarrierCommand
from telephony.twilio.handlers import record_event
from telephony.twilio.webhooks import parse_event
from tests.calls.conftest import T0, make_call

pytestmark = pytest.mark.django_db

SID = "CA" + "5b1e" * 8
ACCOUNT = "AC" + "0123456789abcdef" * 2
LIST = "/admin/calls/call/"


def detail(client, call: Call) -> str:
    return client.get(f"{LIST}{call.pk}/change/").content.decode()


def callback(kind: str, sequence: int, **params: str) -> None:
    """One of Twilio's callbacks, parsed and stored as /twilio/<kind> does."""
    stamp = (T0 + timedelta(seconds=sequence)).strftime("%a, %d %b %Y %H:%M:%S +0000")
    form = {"AccountSid": ACCOUNT, "CallSid": SID, "Timestamp": stamp, **params}
    if kind == "status" and "CallStatus" in params:
        form["SequenceNumber"] = str(sequence)
    record_event(parse_event(kind, form, {}))


def twilio_call(**fields) -> Call:
    """An inbound Twilio call that rang, was answered, streamed, was recorded and ended."""
    call = make_call(carrier=Call.Carrier.TWILIO, call_control_id=SID, **fields)
    callback("voice", 0, CallStatus="ringing", From=call.from_number, To=call.to_number,
             Direction="inbound")  # fmt: skip
    callback("status", 1, CallStatus="ringing")
    callback("status", 2, CallStatus="in-progress")
    callback("status", 3, StreamEvent="stream-started", StreamSid="MZ" + "1" * 32)
    callback("recording", 14, RecordingStatus="completed", RecordingSid="RE" + "2" * 32,
             RecordingUrl=f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Recordings/RE"
             + "2" * 32, RecordingDuration="11", RecordingChannels="2")  # fmt: skip
    callback("status", 14, CallStatus="completed", CallDuration="12", SipResponseCode="200")
    CarrierCommand.objects.create(
        call=call,
        carrier=Call.Carrier.TWILIO,
        name="transfer",
        method="POST",
        path=f"2010-04-01/Accounts/{ACCOUNT}/Calls/{SID}.json",
        request_body={"Twiml": "<Response><Dial>+15559990000</Dial></Response>"},
        status_code=400,
        ok=False,
        error_code="21211",
        error_title="Invalid 'To' Phone Number",
        error_detail="https://www.twilio.com/docs/errors/21211",
        attempts=1,
        latency_ms=61,
        created_at=T0 + timedelta(seconds=5),
        finished_at=T0 + timedelta(seconds=5, milliseconds=61),
    )
    call.refresh_from_db()
    return call


def test_the_list_shows_each_calls_carrier_and_filters_by_it(viewer_client):
    telnyx = make_call()
    twilio = make_call(carrier=Call.Carrier.TWILIO, call_control_id=SID)
    page = viewer_client.get(LIST).content.decode()
    assert 'class="pb-badge pb-carrier pb-carrier-twilio"' in page
    assert 'class="pb-badge pb-carrier pb-carrier-telnyx"' in page
    shown = viewer_client.get(LIST, {"carrier__exact": "twilio"}).context["cl"].result_list
    assert [c.pk for c in shown] == [twilio.pk]
    shown = viewer_client.get(LIST, {"carrier__exact": "telnyx"}).context["cl"].result_list
    assert [c.pk for c in shown] == [telnyx.pk]


def test_a_call_is_found_by_the_first_characters_of_its_callsid(viewer_client):
    make_call()
    twilio = make_call(carrier=Call.Carrier.TWILIO, call_control_id=SID)
    for term in (SID[:10], SID[:10].lower(), SID):
        found = viewer_client.get(LIST, {"q": term}).context["cl"].result_list
        assert [c.pk for c in found] == [twilio.pk], term


def test_the_summary_names_the_carrier_and_the_callsid(viewer_client):
    page = detail(viewer_client, twilio_call())
    assert 'id="call-carrier"' in page
    assert "pb-carrier-twilio" in page
    assert f"{SID}</code>" in page
    assert "Twilio's CallSid" in page


def test_the_timeline_tells_twilios_callbacks_in_plain_words(viewer_client):
    page = detail(viewer_client, twilio_call())
    for words in (
        "Twilio: incoming call",
        "Twilio: ringing",
        "Twilio: answered",
        "Twilio: stream started",
        "Twilio: recording completed",
        "11 s, 2 channels",
        "Twilio: completed",
        "CallDuration 12 s, SIP 200",
    ):
        assert words in page, words
    assert "twilio.call.ringing" not in page  # the words, not the event type


def test_twilios_requests_show_method_path_status_and_twilios_error(viewer_client):
    page = detail(viewer_client, twilio_call())
    assert f"POST 2010-04-01/Accounts/{ACCOUNT}/Calls/{SID}.json" in page
    assert (
        "Twilio error 21211: Invalid &#x27;To&#x27; Phone Number. "
        "https://www.twilio.com/docs/errors/21211 (HTTP 400 in 61 ms, 1 attempt)"
    ) in page


def test_a_callbacks_payload_is_its_form_parameters_without_the_media_token(viewer_client):
    call = make_call(carrier=Call.Carrier.TWILIO, call_control_id=SID)
    callback("status", 3, StreamEvent="stream-error", StreamSid="MZ" + "1" * 32,
             StreamError="wss://phonebridge.test/twilio/media/x/secret-token-123 refused")  # fmt: skip
    event = call.events.get(type="twilio.stream-error")
    shown = viewer_client.get(f"{LIST}{call.pk}/events/{event.pk}/").json()
    assert shown["params"]["StreamSid"] == "MZ" + "1" * 32
    assert "secret-token-123" not in json.dumps(shown)
    page = detail(viewer_client, call)
    assert "Twilio: stream error" in page
    assert "pb-failed" in page


def test_twilio_recordings_quality_and_transcript_speak_of_twilio(viewer_client):
    page = detail(viewer_client, twilio_call())
    assert "Twilio recordings" in page
    assert "Telnyx recordings" not in page
    assert f"RE{'2' * 32}" in page
    assert "not reported by Twilio" in page
    assert "Call quality (Twilio)" in page
    assert "Twilio calls are not transcribed" in page


def test_a_telnyx_call_still_reads_as_telnyx(viewer_client):
    call = make_call(status=Call.Status.ENDED, ended_at=T0 + timedelta(seconds=5))
    page = detail(viewer_client, call)
    assert "Call quality (Telnyx)" in page
    assert "Telnyx reported no quality figures" in page
    assert "not reported by" not in page


def test_a_refused_twilio_dial_tells_its_story_with_twilio_as_the_carrier():
    call = make_call(
        carrier=Call.Carrier.TWILIO,
        direction=Call.Direction.OUTBOUND,
        status=Call.Status.FAILED,
        failure_reason="Twilio refused the call: Twilio error 21211: Invalid 'To' Phone Number.",
    )
    assert call.story == (
        "The call was never placed. Twilio refused the call: Twilio error 21211: "
        "Invalid 'To' Phone Number."
    )
    call.failure_reason = "answer failed: Twilio error 21220: Call is not in-progress"
    assert call.story.endswith(
        "Twilio refused our answer: Twilio error 21220: Call is not in-progress"
    )
    call.failure_reason = "dial failed: dial: no response from Twilio (ConnectError)"
    assert call.story.endswith("No response from Twilio to the dial (ConnectError).")


def test_the_live_panel_shows_the_carrier(viewer_client):
    make_call(carrier=Call.Carrier.TWILIO, call_control_id=SID, status=Call.Status.STREAMING)
    rows = viewer_client.get(f"{LIST}live/").json()["calls"]
    assert [(r["carrier"], r["carrier_label"]) for r in rows] == [("twilio", "Twilio")]


def test_the_csv_has_the_carrier_and_twilios_recording(viewer_client):
    twilio_call()
    make_call()
    response = viewer_client.get(f"{LIST}export/", {"o": "1"})
    body = b"".join(response.streaming_content).decode()
    rows = list(csv.DictReader(io.StringIO(body)))
    assert sorted(row["carrier"] for row in rows) == ["telnyx", "twilio"]
    twilio = next(row for row in rows if row["carrier"] == "twilio")
    assert twilio["call_control_id"] == SID
    assert twilio["carrier_recording_url"].endswith(f"RE{'2' * 32}.wav")


def test_the_controls_of_a_live_twilio_call_speak_of_twilio_and_reach_it(
    operator_client, settings, monkeypatch
):
    from django.contrib.messages import get_messages

    from tests.telephony.twilio.fake_twilio import AUTH_TOKEN, FakeTwilio

    settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN = ACCOUNT, AUTH_TOKEN
    fake = FakeTwilio()
    monkeypatch.setattr("telephony.twilio.call_control.get_client", fake.client)
    sid = fake.new_sid()
    fake.calls[sid] = {"sid": sid, "status": "in-progress", "to": "+1", "from": "+1"}
    call = make_call(carrier=Call.Carrier.TWILIO, call_control_id=sid,
                     status=Call.Status.STREAMING)  # fmt: skip
    page = detail(operator_client, call)
    assert "Start Twilio recording" in page

    response = operator_client.post(f"{LIST}{call.pk}/control/record-start/")
    assert [str(m) for m in get_messages(response.wsgi_request)] == ["Twilio recording started."]
    (form,) = fake.forms("/Recordings.json")
    assert form["RecordingChannels"] == "dual"
    response = operator_client.post(f"{LIST}{call.pk}/control/hangup/")
    assert fake.calls[sid]["status"] == "completed"
    assert "Hang-up sent." in [str(m) for m in get_messages(response.wsgi_request)]
