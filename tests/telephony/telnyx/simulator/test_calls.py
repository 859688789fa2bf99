"""Canonical webhook sequences over real sockets (telnyx-protocol.md §2.5)."""

from __future__ import annotations

import asyncio
import base64
import uuid

import pytest

from telephony.simulation.scenario import Scenario
from tests.telephony.telnyx.simulator.conftest import APP_ID, CALLER, NUMBER

pytestmark = pytest.mark.timeout(30)

FAST = {"time_scale": 0.02}
CLIENT_STATE = base64.b64encode(b"call-1").decode()


def stream_fields(echo_server) -> dict:
    return {
        "stream_url": echo_server.url,
        "stream_track": "inbound_track",
        "stream_bidirectional_mode": "rtp",
        "stream_bidirectional_codec": "PCMU",
        "stream_bidirectional_target_legs": "self",
    }


async def ring(sim, receiver, **scenario):
    fields = {"from_": CALLER, "to": NUMBER, **FAST, **scenario}
    call = await sim.carrier.start_inbound_call(**fields)
    await receiver.wait_for("call.initiated", call.call_control_id)
    return call


async def answer(api, call, echo_server=None, **extra):
    body = {"client_state": CLIENT_STATE, "command_id": str(uuid.uuid4()), **extra}
    if echo_server is not None:
        body.update(stream_fields(echo_server))
    response = await api.post(f"/calls/{call.call_control_id}/actions/answer", json=body)
    assert response.status_code == 200, response.text
    return response


async def test_it_runs_an_inbound_call_whose_caller_hangs_up(sim, api, receiver, echo_server):
    call = await ring(sim, receiver, duration_s=0.6)
    initiated = receiver.events(call.call_control_id)[0].payload
    assert (initiated["direction"], initiated["state"]) == ("incoming", "parked")
    assert initiated["client_state"] is None
    assert initiated["connection_id"] == APP_ID

    await answer(api, call, echo_server)
    hangup = await receiver.wait_for("call.hangup", call.call_control_id)

    assert receiver.types(call.call_control_id) == [
        "call.initiated",
        "call.answered",
        "streaming.started",
        "streaming.stopped",
        "call.hangup",
    ]
    assert all(
        r.payload["client_state"] == CLIENT_STATE for r in receiver.events(call.call_control_id)[1:]
    )
    assert hangup.payload["hangup_cause"] == "normal_clearing"
    assert hangup.payload["hangup_source"] == "caller"
    assert hangup.payload["sip_hangup_cause"] == "200"
    stats = hangup.payload["call_quality_stats"]
    assert all(isinstance(v, str) for v in stats["inbound"].values())
    assert echo_server.frames[-1]["event"] == "stop"
    assert echo_server.close_code == 1005
    report = call.report
    assert report.outcome == "ok"
    assert report.media[0].rtt_p50_ms is not None
    assert all(r.verified_by(sim.public_key_b64) for r in receiver.received)


async def test_it_reports_the_callee_when_the_server_hangs_up(sim, api, receiver, echo_server):
    call = await ring(sim, receiver, hangup_by="never")
    await answer(api, call, echo_server)
    await receiver.wait_for("streaming.started", call.call_control_id)
    await api.post(
        f"/calls/{call.call_control_id}/actions/record_start",
        json={"format": "mp3", "channels": "single"},
    )

    await api.post(f"/calls/{call.call_control_id}/actions/hangup", json={})
    saved = await receiver.wait_for("call.recording.saved", call.call_control_id)

    types = receiver.types(call.call_control_id)
    assert types[-3:] == ["streaming.stopped", "call.hangup", "call.recording.saved"]
    hangup = receiver.events(call.call_control_id)[-2].payload
    assert (hangup["hangup_cause"], hangup["hangup_source"]) == ("normal_clearing", "callee")
    assert set(saved.payload["recording_urls"]) == {"mp3", "wav"}
    assert saved.payload["channels"] == "single"
    assert "from" not in saved.payload


async def test_it_cancels_an_inbound_call_nobody_answers(sim, receiver):
    call = await ring(sim, receiver, hangup_before_answer_s=0.1, time_scale=1.0)

    hangup = await receiver.wait_for("call.hangup", call.call_control_id)

    assert receiver.types(call.call_control_id) == ["call.initiated", "call.hangup"]
    assert hangup.payload["hangup_cause"] == "originator_cancel"
    assert hangup.payload["hangup_source"] == "caller"
    assert hangup.payload["sip_hangup_cause"] == "487"
    assert call.report.outcome == "originator_cancel"


async def test_it_hangs_up_a_rejected_call_as_busy(sim, api, receiver):
    call = await ring(sim, receiver)

    await api.post(f"/calls/{call.call_control_id}/actions/reject", json={"cause": "USER_BUSY"})
    hangup = await receiver.wait_for("call.hangup", call.call_control_id)

    assert hangup.payload["hangup_cause"] == "user_busy"
    assert hangup.payload["sip_hangup_cause"] == "486"


async def test_it_dials_out_answers_detects_a_human_and_streams(sim, api, receiver, echo_server):
    sim.carrier.default_scenario = Scenario(answer_delay_s=1.0, hangup_by="never", **FAST)
    body = {
        "connection_id": APP_ID,
        "to": CALLER,
        "from": NUMBER,
        "client_state": CLIENT_STATE,
        "answering_machine_detection": "detect",
        "stream_bidirectional_sampling_rate": 8000,
        **stream_fields(echo_server),
    }

    response = await api.post("/calls", json=body)
    call_id = response.json()["data"]["call_control_id"]
    amd = await receiver.wait_for("call.machine.detection.ended", call_id)
    await receiver.wait_for("streaming.started", call_id)

    initiated = receiver.events(call_id)[0].payload
    assert (initiated["direction"], initiated["state"]) == ("outgoing", "bridging")
    assert (initiated["from"], initiated["to"]) == (NUMBER, CALLER)
    assert receiver.types(call_id)[:2] == ["call.initiated", "call.answered"]
    assert amd.payload["result"] == "human"
    assert amd.payload["client_state"] == CLIENT_STATE
    start = (await echo_server.wait_frames("start"))[0]
    assert start["start"]["call_control_id"] == call_id
    await api.post(f"/calls/{call_id}/actions/hangup", json={})
    hangup = await receiver.wait_for("call.hangup", call_id)
    assert hangup.payload["hangup_source"] == "caller"


@pytest.mark.parametrize(
    ("outcome", "body", "cause"),
    [
        ("user_busy", {}, "user_busy"),
        ("timeout", {"timeout_secs": 5}, "timeout"),
        ("timeout", {"timeout_secs": 5, "retry_on_timeout": False}, "no_answer"),
    ],
)
async def test_it_ends_a_dial_nobody_answers(sim, api, receiver, outcome, body, cause):
    sim.carrier.outbound_scenarios[CALLER] = Scenario(dial_outcome=outcome, **FAST)

    response = await api.post(
        "/calls", json={"connection_id": APP_ID, "to": CALLER, "from": NUMBER, **body}
    )
    call_id = response.json()["data"]["call_control_id"]
    hangup = await receiver.wait_for("call.hangup", call_id)

    assert receiver.types(call_id) == ["call.initiated", "call.hangup"]
    assert hangup.payload["hangup_cause"] == cause


async def test_it_sends_streaming_failed_when_the_socket_is_refused(sim, api, receiver):
    call = await ring(sim, receiver, hangup_by="never")

    await answer(api, call, stream_url="ws://127.0.0.1:9/telnyx/media/x/y")
    failed = await receiver.wait_for("streaming.failed", call.call_control_id)

    assert failed.payload["failure_reason"] == "connection_failed"
    assert failed.payload["stream_type"] == "websocket"
    assert failed.payload["stream_params"] == {
        "stream_url": "ws://127.0.0.1:9/telnyx/media/x/y",
        "track": "inbound_track",
    }
    assert failed.payload["stream_id"]


async def test_it_starts_and_stops_a_stream_on_command(sim, api, receiver, echo_server):
    call = await ring(sim, receiver, hangup_by="never")
    await answer(api, call)
    path = f"/calls/{call.call_control_id}/actions"

    await api.post(
        f"{path}/streaming_start", json={**stream_fields(echo_server), "stream_auth_token": "t0k"}
    )
    await echo_server.wait_frames("media", 2)
    await api.post(f"{path}/streaming_stop", json={})
    await receiver.wait_for("streaming.stopped", call.call_control_id)
    await asyncio.wait_for(echo_server.closed.wait(), 5)  # the webhook may beat the last frame

    assert echo_server.request_headers["x-telnyx-streaming-auth-token"] == "t0k"
    assert echo_server.frames[-1]["event"] == "stop"
    assert call.is_alive


async def test_it_speaks_and_says_when_it_is_done(sim, api, receiver):
    call = await ring(sim, receiver, hangup_by="never")
    await answer(api, call)
    body = {"payload": "Welcome to phonebridge.", "voice": "Telnyx.KokoroTTS.af"}

    await api.post(f"/calls/{call.call_control_id}/actions/speak", json=body)
    ended = await receiver.wait_for("call.speak.ended", call.call_control_id)

    assert ended.payload["status"] == "completed"
    assert receiver.types(call.call_control_id)[-2:] == ["call.speak.started", "call.speak.ended"]


async def test_it_ends_a_speech_cut_short_by_hangup_before_the_hangup_event(sim, api, receiver):
    call = await ring(sim, receiver, hangup_by="never", time_scale=1.0)
    await answer(api, call)
    body = {"payload": "A long sentence " * 20, "voice": "Telnyx.KokoroTTS.af"}
    await api.post(f"/calls/{call.call_control_id}/actions/speak", json=body)
    await receiver.wait_for("call.speak.started", call.call_control_id)

    await api.post(f"/calls/{call.call_control_id}/actions/hangup", json={})
    await receiver.wait_for("call.hangup", call.call_control_id)

    types = receiver.types(call.call_control_id)
    assert types[-2:] == ["call.speak.ended", "call.hangup"]
    assert receiver.events(call.call_control_id)[-2].payload["status"] == "call_hangup"


async def test_it_presses_keys_on_the_socket_and_in_webhooks(sim, api, receiver, echo_server):
    call = await ring(sim, receiver, hangup_by="never", dtmf="1#", dtmf_at_s=0.05)
    await answer(api, call, echo_server)

    second = await receiver.wait_for("call.dtmf.received", call.call_control_id, count=2)

    first = receiver.events(call.call_control_id)
    digits = [r.payload["digit"] for r in first if r.event_type == "call.dtmf.received"]
    assert digits == ["1", "#"]
    assert second.payload["from"] == CALLER
    frames = await echo_server.wait_frames("dtmf", 2)
    assert [f["dtmf"]["digit"] for f in frames] == ["1", "#"]


async def test_it_transcribes_from_a_script(sim, api, receiver):
    call = await ring(sim, receiver, hangup_by="never")
    await answer(api, call)
    path = f"/calls/{call.call_control_id}/actions"

    await api.post(f"{path}/transcription_start", json={"transcription_tracks": "inbound"})
    again = await api.post(f"{path}/transcription_start", json={})
    final = await receiver.wait_for("call.transcription", call.call_control_id, count=2)
    await api.post(f"{path}/transcription_stop", json={})

    assert again.json()["errors"][0]["code"] == "90054"
    data = final.payload["transcription_data"]
    assert data["is_final"] is True
    assert data["transcript"] == "Hello, can you hear me?"
    assert data["transcription_track"] == "inbound"
    assert isinstance(data["confidence"], float)


async def test_it_plays_audio_and_says_when_it_is_done(sim, api, receiver):
    call = await ring(sim, receiver, hangup_by="never")
    await answer(api, call)

    await api.post(
        f"/calls/{call.call_control_id}/actions/playback_start",
        json={"audio_url": "https://x.test/a.mp3"},
    )
    ended = await receiver.wait_for("call.playback.ended", call.call_control_id)

    assert ended.payload["status"] == "completed"
    assert ended.payload["media_url"] == "https://x.test/a.mp3"


async def test_it_bridges_two_calls_and_transfers(sim, api, receiver):
    first = await ring(sim, receiver, hangup_by="never")
    second = await ring(sim, receiver, hangup_by="never", from_="+15550002222")
    await answer(api, first)
    await answer(api, second)

    await api.post(
        f"/calls/{first.call_control_id}/actions/bridge",
        json={"call_control_id": second.call_control_id},
    )
    await api.post(f"/calls/{first.call_control_id}/actions/transfer", json={"to": "+15559998888"})

    await receiver.wait_for("call.bridged", second.call_control_id)
    transferred = await receiver.wait_for("call.bridged", first.call_control_id, count=2)
    assert transferred.payload["to"] == "+15559998888"


async def test_it_echoes_a_new_client_state_in_later_events(sim, api, receiver):
    call = await ring(sim, receiver, hangup_by="never")
    await answer(api, call)

    await api.post(f"/calls/{call.call_control_id}/actions/hangup", json={"client_state": "bmV3"})
    hangup = await receiver.wait_for("call.hangup", call.call_control_id)

    assert hangup.payload["client_state"] == "bmV3"


async def test_it_starts_an_inbound_call_through_the_control_endpoint(sim, api, receiver):
    response = await api.post(
        "/simulator/inbound_calls", json={"from": CALLER, "to": NUMBER, "hangup_by": "never"}
    )
    call_id = response.json()["data"]["call_control_id"]
    await receiver.wait_for("call.initiated", call_id)
    await api.post(f"/calls/{call_id}/actions/reject", json={"cause": "CALL_REJECTED"})
    await receiver.wait_for("call.hangup", call_id)

    report = await api.get(f"/simulator/calls/{call_id}")

    assert response.status_code == 201
    assert report.json()["data"]["outcome"] == "call_rejected"
    assert report.json()["data"]["commands"] == ["reject"]


async def test_it_refuses_a_control_call_to_an_unrouted_number(api):
    response = await api.post("/simulator/inbound_calls", json={"to": "+15550009999"})

    assert response.status_code == 422
