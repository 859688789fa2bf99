"""The simulator's REST API, in Twilio's shapes, including the errors Twilio answers."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from telephony.simulation.scenario import Scenario
from tests.telephony.twilio.simulator.conftest import CALLER, NUMBER

pytestmark = pytest.mark.timeout(30)

HANGUP = "<Response><Hangup/></Response>"


def dial_form(ours, **fields):
    return {
        "To": CALLER,
        "From": NUMBER,
        "Twiml": HANGUP,
        "StatusCallback": ours.url + "/twilio/status",
        "StatusCallbackEvent": ["initiated", "ringing", "answered", "completed"],
        **fields,
    }


async def test_requests_without_the_accounts_credentials_get_20003(sim):
    url = f"{sim.base_url}/2010-04-01/Accounts/{sim.account_sid}/Calls.json"
    async with httpx.AsyncClient() as client:
        for auth in (None, (sim.account_sid, "wrong"), ("SK" + "0" * 32, "secret")):
            response = await client.get(url, auth=auth)
            assert response.status_code == 401
            assert response.json() == {
                "code": 20003,
                "message": "Authenticate",
                "more_info": "https://www.twilio.com/docs/errors/20003",
                "status": 401,
            }


async def test_an_api_key_and_its_secret_authenticate(sim):
    key, secret = sim.carrier.account.add_api_key()
    url = f"{sim.base_url}/2010-04-01/Accounts/{sim.account_sid}/Calls.json"
    async with httpx.AsyncClient() as client:
        assert (await client.get(url, auth=(key, secret))).status_code == 200


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"To": ""}, 21201),
        ({"To": "5551234"}, 21211),
        ({"From": ""}, 21213),
        ({"From": "not a number"}, 21212),
        ({"From": "+15550009999"}, 21210),
        ({"Twiml": ""}, 21205),
        ({"MachineDetection": "Sometimes"}, 20001),
    ],
)
async def test_a_bad_dial_gets_twilios_error_code(api, ours, fields, code):
    response = await api.post("/Calls.json", data=dial_form(ours, **fields))
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == code
    assert body["status"] == 400
    assert body["more_info"] == f"https://www.twilio.com/docs/errors/{code}"


async def test_an_answered_dial_reports_each_event_asked_for_in_order(api, ours, sim):
    response = await api.post("/Calls.json", data=dial_form(ours))
    assert response.status_code == 201
    created = response.json()
    assert created["status"] == "queued"
    assert created["direction"] == "outbound-api"
    sid = created["sid"]
    done = await ours.wait_for("/twilio/status", CallStatus="completed")
    statuses = [f.params["CallStatus"] for f in ours.at("/twilio/status")]
    assert statuses == ["initiated", "ringing", "in-progress", "completed"]
    assert [f.params["SequenceNumber"] for f in ours.at("/twilio/status")] == ["0", "1", "2", "3"]
    assert all(f.verified and f.params["CallSid"] == sid for f in ours.at("/twilio/status"))
    assert done.params["SipResponseCode"] == "200"
    fetched = (await api.get(f"/Calls/{sid}.json")).json()
    assert fetched["status"] == "completed"
    assert fetched["duration"] is not None


@pytest.mark.parametrize(
    ("outcome", "status", "sip"),
    [
        ("user_busy", "busy", "486"),
        ("call_rejected", "busy", "603"),
        ("no_answer", "no-answer", "487"),
    ],
)
async def test_a_far_end_that_does_not_answer_ends_the_call_with_that_status(
    api, ours, sim, outcome, status, sip
):
    sim.carrier.outbound_scenarios[CALLER] = Scenario(dial_outcome=outcome, time_scale=0.01)
    sid = (await api.post("/Calls.json", data=dial_form(ours))).json()["sid"]
    done = await ours.wait_for("/twilio/status", CallStatus=status)
    assert done.params["CallSid"] == sid
    assert done.params["SipResponseCode"] == sip
    assert "in-progress" not in [f.params["CallStatus"] for f in ours.at("/twilio/status")]


async def test_a_dial_with_a_url_fetches_its_twiml_with_a_signed_request(api, ours):
    response = await api.post(
        "/Calls.json", data=dial_form(ours, Twiml="", Url=ours.url + "/twilio/voice")
    )
    sid = response.json()["sid"]
    voice = await ours.wait_for("/twilio/voice")
    assert voice.verified
    assert voice.params["CallSid"] == sid
    assert voice.params["CallStatus"] == "in-progress"
    assert voice.params["Direction"] == "outbound-api"


async def test_async_amd_posts_answered_by_to_its_callback(api, ours, sim):
    sim.carrier.outbound_scenarios[CALLER] = Scenario(amd_result="machine", time_scale=0.01)
    form = dial_form(
        ours,
        Twiml="<Response><Pause length='30'/></Response>",
        MachineDetection="DetectMessageEnd",
        AsyncAmd="true",
        AsyncAmdStatusCallback=ours.url + "/twilio/amd",
    )
    sid = (await api.post("/Calls.json", data=form)).json()["sid"]
    amd = await ours.wait_for("/twilio/amd")
    assert amd.verified
    assert amd.params["CallSid"] == sid
    assert amd.params["AnsweredBy"] == "machine_end_beep"
    assert int(amd.params["MachineDetectionDuration"]) >= 0


async def test_updating_a_call_with_status_completed_hangs_it_up(api, ours, sim):
    sim.carrier.outbound_scenarios[CALLER] = Scenario(hangup_by="never")
    form = dial_form(ours, Twiml="<Response><Pause length='30'/></Response>")
    sid = (await api.post("/Calls.json", data=form)).json()["sid"]
    await ours.wait_for("/twilio/status", CallStatus="in-progress")
    updated = await api.post(f"/Calls/{sid}.json", data={"Status": "completed"})
    assert updated.status_code == 200
    done = await ours.wait_for("/twilio/status", CallStatus="completed")
    assert done.params["CallSid"] == sid
    again = await api.post(f"/Calls/{sid}.json", data={"Status": "completed"})
    assert again.status_code == 400
    assert again.json()["code"] == 21220


async def test_updating_a_call_with_twiml_replaces_what_runs(api, ours, sim):
    sim.carrier.outbound_scenarios[CALLER] = Scenario(hangup_by="never", time_scale=0.01)
    form = dial_form(ours, Twiml="<Response><Pause length='30'/></Response>")
    sid = (await api.post("/Calls.json", data=form)).json()["sid"]
    await ours.wait_for("/twilio/status", CallStatus="in-progress")
    twiml = '<Response><Play digits="12w3"/><Dial><Number>+15550003333</Number></Dial></Response>'
    await api.post(f"/Calls/{sid}.json", data={"Twiml": twiml})
    call = sim.carrier.get_call(sid)
    for _ in range(100):
        if len(call.played) == 2:
            break
        await asyncio.sleep(0.02)
    assert call.played == [
        {"verb": "Play", "digits": "12w3"},
        {"verb": "Dial", "number": "+15550003333"},
    ]


async def test_an_unknown_call_is_20404(api):
    response = await api.get("/Calls/CA" + "0" * 32 + ".json")
    assert response.status_code == 404
    assert response.json()["code"] == 20404


async def test_calls_are_listed_with_filters(api, ours, sim):
    await api.post("/Calls.json", data=dial_form(ours))
    await api.post("/Calls.json", data=dial_form(ours, To="+15550004444"))
    listed = (
        await api.get("/Calls.json", params={"To": CALLER, "StartTime>": "2000-01-01"})
    ).json()
    assert [c["to"] for c in listed["calls"]] == [CALLER]
    assert listed["page"] == 0
    assert listed["next_page_uri"] is None


async def test_a_dual_channel_recording_completes_with_its_callback(api, ours, sim):
    sim.carrier.outbound_scenarios[CALLER] = Scenario(hangup_by="never")
    form = dial_form(ours, Twiml="<Response><Pause length='30'/></Response>")
    sid = (await api.post("/Calls.json", data=form)).json()["sid"]
    await ours.wait_for("/twilio/status", CallStatus="in-progress")
    started = await api.post(
        f"/Calls/{sid}/Recordings.json",
        data={
            "RecordingChannels": "dual",
            "RecordingStatusCallback": ours.url + "/twilio/recording",
            "RecordingStatusCallbackEvent": "in-progress completed",
        },
    )
    assert started.status_code == 201
    recording = started.json()
    assert recording["sid"].startswith("RE")
    assert recording["channels"] == 2
    assert recording["status"] == "in-progress"
    stopped = await api.post(
        f"/Calls/{sid}/Recordings/Twilio.CURRENT.json", data={"Status": "stopped"}
    )
    assert stopped.json()["status"] == "completed"
    done = await ours.wait_for("/twilio/recording", RecordingStatus="completed")
    assert done.verified
    assert done.params["RecordingSid"] == recording["sid"]
    assert done.params["RecordingChannels"] == "2"
    assert done.params["RecordingUrl"].startswith("https://")


async def test_incoming_numbers_are_listed_by_number_and_updated(api, ours):
    listed = (await api.get("/IncomingPhoneNumbers.json", params={"PhoneNumber": NUMBER})).json()
    (number,) = listed["incoming_phone_numbers"]
    assert number["voice_url"] == ours.url + "/twilio/voice"
    changed = await api.post(
        f"/IncomingPhoneNumbers/{number['sid']}.json",
        data={"VoiceUrl": "https://example.test/twilio/voice", "VoiceMethod": "post"},
    )
    assert changed.json()["voice_url"] == "https://example.test/twilio/voice"
    assert changed.json()["voice_method"] == "POST"
    none = (
        await api.get("/IncomingPhoneNumbers.json", params={"PhoneNumber": "+15550009999"})
    ).json()
    assert none["incoming_phone_numbers"] == []


async def test_injected_faults_answer_with_twilios_429_and_5xx(api, ours, sim):
    sim.carrier.inject("rate_limit", retry_after_s=2, command="dial")
    limited = await api.post("/Calls.json", data=dial_form(ours))
    assert limited.status_code == 429
    assert limited.json()["code"] == 20429
    assert limited.headers["Retry-After"] == "2"
    sim.carrier.inject("server_error")
    failed = await api.get("/Calls.json")
    assert failed.status_code == 500
    assert failed.json()["code"] == 20500
    assert (await api.get("/Calls.json")).status_code == 200


async def test_a_dropped_callback_never_arrives(api, ours, sim):
    from telephony.simulation.scenario import WebhookFaults

    sim.carrier.outbound_scenarios[CALLER] = Scenario(webhook_faults=WebhookFaults(drop=1.0))
    await api.post("/Calls.json", data=dial_form(ours))
    await asyncio.sleep(0.5)
    assert ours.at("/twilio/status") == []
    assert {d.fault for d in sim.carrier.webhooks.deliveries} == {"dropped"}
