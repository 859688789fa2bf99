from __future__ import annotations

import uuid

import httpx
import pytest

from telephony.telnyx.simulator.faults import FaultRule
from tests.telephony.telnyx.simulator.conftest import API_KEY, APP_ID, CALLER, NUMBER

pytestmark = pytest.mark.timeout(30)


def error_code(response: httpx.Response) -> str:
    return response.json()["errors"][0]["code"]


async def ring(sim, api, receiver) -> str:
    call = await sim.carrier.start_inbound_call(from_=CALLER, to=NUMBER)
    await receiver.wait_for("call.initiated", call.call_control_id)
    return call.call_control_id


async def answered_call(sim, api, receiver) -> str:
    call_id = await ring(sim, api, receiver)
    response = await api.post(f"/calls/{call_id}/actions/answer", json={})
    assert response.status_code == 200
    return call_id


async def test_it_rejects_a_missing_or_wrong_api_key(sim):
    async with httpx.AsyncClient(base_url=sim.base_url) as client:
        missing = await client.get("/call_control_applications")
        wrong = await client.get(
            "/call_control_applications", headers={"Authorization": "Bearer nope"}
        )
    assert missing.status_code == wrong.status_code == 401
    assert error_code(missing) == error_code(wrong) == "10009"


async def test_it_answers_unknown_routes_with_the_telnyx_404(api):
    response = await api.get("/no_such_thing")

    assert response.status_code == 404
    assert response.json() == {
        "errors": [
            {
                "code": "10005",
                "title": "Resource not found",
                "detail": "The requested route could not be found.",
            }
        ]
    }


async def test_it_refuses_an_oversized_or_malformed_body(api):
    huge = await api.post("/calls", content=b"{" + b" " * (1024 * 1024 + 1) + b"}")
    broken = await api.post("/calls", content=b"{not json")

    assert huge.status_code == 413
    assert broken.status_code == 400


async def test_it_creates_call_control_applications_with_api_version_1_by_default(api):
    response = await api.post(
        "/call_control_applications",
        json={
            "application_name": "agent-line",
            "webhook_event_url": "https://x.test/telnyx/events",
        },
    )

    assert response.status_code == 201
    app = response.json()["data"]
    assert app["record_type"] == "call_control_application"
    assert app["id"].isdigit()
    assert app["webhook_api_version"] == "1"
    assert app["active"] is True
    assert app["outbound"] == {"channel_limit": None, "outbound_voice_profile_id": None}


async def test_it_requires_a_name_and_webhook_url_for_an_application(api):
    response = await api.post("/call_control_applications", json={"application_name": "x"})

    assert response.status_code == 422
    assert error_code(response) == "10004"


async def test_it_filters_pages_updates_and_deletes_applications(api):
    for name in ("alpha-agent", "beta-agent", "gamma"):
        body = {"application_name": name, "webhook_event_url": "https://x.test/e"}
        await api.post("/call_control_applications", json=body)

    listed = await api.get(
        "/call_control_applications",
        params={"filter[application_name][contains]": "agent", "page[size]": "1"},
    )
    assert listed.json()["meta"] == {
        "page_number": 1,
        "page_size": 1,
        "total_pages": 2,
        "total_results": 2,
    }
    app_id = listed.json()["data"][0]["id"]

    patched = await api.patch(
        f"/call_control_applications/{app_id}",
        json={"webhook_api_version": "2", "outbound": {"outbound_voice_profile_id": "42"}},
    )
    assert patched.json()["data"]["webhook_api_version"] == "2"
    assert patched.json()["data"]["outbound"] == {
        "channel_limit": None,
        "outbound_voice_profile_id": "42",
    }

    deleted = await api.delete(f"/call_control_applications/{app_id}")
    assert deleted.json()["data"]["id"] == app_id
    gone = await api.get(f"/call_control_applications/{app_id}")
    assert gone.status_code == 404


async def test_it_finds_and_routes_phone_numbers(sim, api):
    found = await api.get("/phone_numbers", params={"filter[phone_number]": NUMBER})
    number = found.json()["data"][0]
    assert number["record_type"] == "phone_number"
    assert number["connection_id"] == APP_ID

    app = sim.carrier.account.create_application(
        {"application_name": "other", "webhook_event_url": "https://x.test/e"}
    )
    patched = await api.patch(f"/phone_numbers/{number['id']}", json={"connection_id": app["id"]})

    assert patched.json()["data"]["connection_id"] == app["id"]
    fetched = await api.get(f"/phone_numbers/{number['id']}")
    assert fetched.json()["data"]["connection_name"] == "other"


async def test_it_lists_outbound_voice_profiles(api):
    response = await api.get("/outbound_voice_profiles")

    profile = response.json()["data"][0]
    assert profile["enabled"] is True
    assert profile["whitelisted_destinations"] == ["US", "CA"]
    assert profile["connections_count"] == 1


async def test_it_reports_verified_numbers_and_404s_the_others(sim, api):
    sim.carrier.account.verify_number("+15557654321")

    verified = await api.get("/verified_numbers/+15557654321")
    unknown = await api.get("/verified_numbers/+15550000000")

    assert verified.json()["data"]["record_type"] == "verified_number"
    assert unknown.status_code == 404


async def test_it_dials_and_answers_with_the_telnyx_envelope(api):
    response = await api.post(
        "/calls", json={"connection_id": APP_ID, "to": "+15557654321", "from": NUMBER}
    )

    assert response.status_code == 200
    data = response.json()["data"]
    assert set(data) == {
        "call_control_id",
        "call_leg_id",
        "call_session_id",
        "is_alive",
        "record_type",
    }
    assert data["call_control_id"].startswith("v3:")
    assert data["is_alive"] is False
    assert data["record_type"] == "call"


async def test_it_refuses_a_dial_on_an_unknown_or_inactive_connection(sim, api):
    unknown = await api.post("/calls", json={"connection_id": "1", "to": CALLER, "from": NUMBER})
    sim.carrier.account.update_application(APP_ID, {"active": False})
    inactive = await api.post(
        "/calls", json={"connection_id": APP_ID, "to": CALLER, "from": NUMBER}
    )

    for response in (unknown, inactive):
        assert response.status_code == 422
        assert error_code(response) == "10015"
        assert "valid webhook URL" in response.json()["errors"][0]["detail"]


async def test_it_refuses_a_dial_to_a_number_that_is_not_e164(api):
    response = await api.post(
        "/calls", json={"connection_id": APP_ID, "to": "5551234", "from": NUMBER}
    )

    assert response.status_code == 422
    assert error_code(response) == "10016"


async def test_it_answers_404_90015_for_an_unknown_call(api):
    response = await api.post("/calls/v3:nope/actions/hangup", json={})

    assert response.status_code == 404
    assert error_code(response) == "90015"


async def test_it_refuses_commands_before_answer_with_90034(sim, api, receiver):
    call_id = await ring(sim, api, receiver)

    response = await api.post(
        f"/calls/{call_id}/actions/speak", json={"payload": "hi", "voice": "Telnyx.KokoroTTS.af"}
    )

    assert response.status_code == 422
    assert error_code(response) == "90034"


async def test_it_refuses_commands_after_hangup_with_90018(sim, api, receiver):
    call_id = await answered_call(sim, api, receiver)
    await api.post(f"/calls/{call_id}/actions/hangup", json={})

    response = await api.post(f"/calls/{call_id}/actions/hangup", json={})

    assert response.status_code == 422
    assert response.json() == {
        "errors": [
            {
                "code": "90018",
                "title": "Call has already ended",
                "detail": "This call is no longer active and can't receive commands.",
            }
        ]
    }


@pytest.mark.parametrize(
    ("action", "body", "code"),
    [
        ("speak", {"payload": "hi"}, "10004"),
        ("transfer", {}, "10004"),
        ("send_dtmf", {"digits": "12x"}, "10032"),
        ("record_start", {"format": "ogg", "channels": "single"}, "10032"),
        (
            "streaming_start",
            {"stream_url": "ws://x.test/m", "stream_bidirectional_codec": "pcmu"},
            "10032",
        ),
        (
            "streaming_start",
            {"stream_url": "ws://x.test/m", "stream_bidirectional_mode": "raw"},
            "10032",
        ),
        ("hangup", {"client_state": "not base64!"}, "10028"),
    ],
)
async def test_it_validates_command_bodies(sim, api, receiver, action, body, code):
    call_id = await answered_call(sim, api, receiver)

    response = await api.post(f"/calls/{call_id}/actions/{action}", json=body)

    assert response.status_code == 422
    assert error_code(response) == code


async def test_it_requires_a_cause_to_reject(sim, api, receiver):
    call_id = await ring(sim, api, receiver)

    response = await api.post(f"/calls/{call_id}/actions/reject", json={})

    assert response.status_code == 422
    assert error_code(response) == "10004"


async def test_it_ignores_a_repeated_command_id(sim, api, receiver):
    call_id = await answered_call(sim, api, receiver)
    body = {"payload": "hello", "voice": "Telnyx.KokoroTTS.af", "command_id": str(uuid.uuid4())}

    first = await api.post(f"/calls/{call_id}/actions/speak", json=body)
    second = await api.post(f"/calls/{call_id}/actions/speak", json=body)

    assert first.json() == second.json() == {"data": {"result": "ok"}}
    await receiver.wait_for("call.speak.ended", call_id)
    await sim.carrier.webhooks.flush()
    assert receiver.types(call_id).count("call.speak.started") == 1
    assert sim.carrier.calls[call_id].report.commands == ["answer", "speak"]


async def test_it_lets_a_failed_command_be_retried_with_its_command_id(sim, api, receiver):
    call_id = await ring(sim, api, receiver)
    body = {"payload": "hello", "voice": "Telnyx.KokoroTTS.af", "command_id": "c-1"}
    refused = await api.post(f"/calls/{call_id}/actions/speak", json=body)
    await api.post(f"/calls/{call_id}/actions/answer", json={})

    accepted = await api.post(f"/calls/{call_id}/actions/speak", json=body)

    assert refused.status_code == 422
    assert accepted.status_code == 200
    await receiver.wait_for("call.speak.started", call_id)


async def test_it_injects_a_rate_limit_with_retry_after_then_succeeds(sim, api, receiver):
    call_id = await ring(sim, api, receiver)
    sim.carrier.inject("rate_limit", count=1, command="answer", retry_after_s=2)

    limited = await api.post(f"/calls/{call_id}/actions/answer", json={})
    retried = await api.post(f"/calls/{call_id}/actions/answer", json={})

    assert limited.status_code == 429
    assert error_code(limited) == "10011"
    assert limited.headers["retry-after"] == "2"
    assert limited.headers["x-ratelimit-reset"] == "2"
    assert retried.status_code == 200


async def test_it_injects_server_errors_and_dial_rate_limits(sim, api):
    sim.carrier.inject("unavailable", count=1, path_contains="/calls")
    sim.carrier.inject("dps", count=1, command="dial")
    body = {"connection_id": APP_ID, "to": CALLER, "from": NUMBER}

    unavailable = await api.post("/calls", json=body)
    dps = await api.post("/calls", json=body)
    ok = await api.post("/calls", json=body)

    assert (unavailable.status_code, error_code(unavailable)) == (503, "10007")
    assert (dps.status_code, error_code(dps)) == (429, "90103")
    assert ok.status_code == 200


async def test_it_enforces_the_dial_rate_limit(sim, api):
    sim.carrier.dial_rate_limit = 2
    body = {"connection_id": APP_ID, "to": CALLER, "from": NUMBER}

    statuses = [(await api.post("/calls", json=body)).status_code for _ in range(3)]

    assert statuses == [200, 200, 429]


async def test_it_holds_an_answer_past_the_client_timeout_without_acting_twice(sim, api, receiver):
    call_id = await ring(sim, api, receiver)
    sim.carrier.inject("timeout", count=1, command="answer", delay_s=1.0)
    body = {"command_id": str(uuid.uuid4())}

    with pytest.raises(httpx.ReadTimeout):
        await api.post(f"/calls/{call_id}/actions/answer", json=body, timeout=0.2)
    retried = await api.post(f"/calls/{call_id}/actions/answer", json=body)

    assert retried.status_code == 200
    await sim.carrier.webhooks.flush()
    assert receiver.types(call_id).count("call.answered") == 1


async def test_it_dedupes_a_repeated_dial_command_id(api):
    body = {"connection_id": APP_ID, "to": CALLER, "from": NUMBER, "command_id": "dial-1"}

    first = await api.post("/calls", json=body)
    second = await api.post("/calls", json=body)

    assert first.json()["data"]["call_control_id"] == second.json()["data"]["call_control_id"]


async def test_it_describes_a_call_with_get(sim, api, receiver):
    call_id = await answered_call(sim, api, receiver)
    await api.post(f"/calls/{call_id}/actions/hangup", json={"client_state": "YWJj"})

    response = await api.get(f"/calls/{call_id}")

    data = response.json()["data"]
    assert data["is_alive"] is False
    assert data["client_state"] == "YWJj"
    assert data["end_time"].endswith("Z")
    assert isinstance(data["call_duration"], int)


async def test_it_authenticates_with_the_seeded_key_only(sim):
    assert sim.carrier.account.api_keys == {API_KEY}


async def test_it_applies_a_scenario_s_rest_faults_to_that_call_only(sim, api, receiver):
    faulty = await sim.carrier.start_inbound_call(
        from_=CALLER, to=NUMBER, rest_faults=(FaultRule("server_error", command="answer"),)
    )
    healthy = await ring(sim, api, receiver)

    first = await api.post(f"/calls/{faulty.call_control_id}/actions/answer", json={})
    other = await api.post(f"/calls/{healthy}/actions/answer", json={})
    second = await api.post(f"/calls/{faulty.call_control_id}/actions/answer", json={})

    assert (first.status_code, error_code(first)) == (500, "10007")
    assert other.status_code == second.status_code == 200


async def test_it_reads_null_optional_dial_fields_as_not_given(api):
    body = {"connection_id": APP_ID, "to": CALLER, "from": NUMBER}
    body |= {"timeout_secs": None, "answering_machine_detection": None}

    response = await api.post("/calls", json=body)

    assert response.status_code == 200
