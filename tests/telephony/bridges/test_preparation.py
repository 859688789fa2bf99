"""Preparation: the Stream call and the agent, ready before the caller's audio; once per call
across workers; failures end in an apology; teardown once, whoever asks first."""

from __future__ import annotations

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async

from calls.models import Call, CallEvent
from telephony import dialing, tasks
from telephony.bridges import preparation, stream_calls
from telephony.bridges.preparation import Preparation
from telephony.telnyx.handlers import record_event
from telephony.telnyx.webhooks import parse_event
from tests.conftest import webhook
from tests.live import free_port
from tests.telephony.bridges.conftest import new_call
from tests.telephony.bridges.fakes import SDK_FILLS_MISSING, FakeStreamApi, eventually, stream_user

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.filterwarnings(SDK_FILLS_MISSING),
]


async def test_it_creates_the_stream_call_and_summons_the_agent(fake_stream, agent_server):
    call = await new_call(
        custom_data={"greeting": "Hello!", "instructions": "Be brief", "amd": "x"}
    )
    outcome = await preparation.prepare(call_id=call.pk)

    assert outcome == Preparation("ready", str(call.pk), "agent-session-1", "")
    [query, upsert] = fake_stream.bodies("/api/v2/users")
    assert query == {"filter_conditions": {"id": {"$eq": "ai-agent"}}, "limit": 1}
    assert upsert["users"] == {
        f"phone-{call.pk}": {"id": f"phone-{call.pk}", "name": "+15557654321", "custom": {"phone": True}},
        "ai-agent": {"id": "ai-agent"},
    }  # fmt: skip
    [create] = fake_stream.bodies(f"/api/v2/video/call/default/{call.pk}")
    assert create["data"]["created_by_id"] == "ai-agent"
    assert create["data"]["members"] == [{"user_id": f"phone-{call.pk}"}, {"user_id": "ai-agent"}]
    assert create["data"]["custom"] == {
        "phonebridge_call_id": str(call.pk),
        "direction": "inbound",
        "from": "+15557654321",
        "to": "+15550001111",
        "greeting": "Hello!",
        "instructions": "Be brief",
    }
    assert agent_server.calls("POST") == [(f"/calls/{call.pk}/sessions", {"call_type": "default"})]
    await call.arefresh_from_db()
    assert (call.bridge_status, call.stream_call_id, call.agent_session_id) == (
        "ready",
        str(call.pk),
        "agent-session-1",
    )
    assert await CallEvent.objects.filter(call=call, type="bridge.ready").aexists()


async def test_preparing_again_reuses_the_stored_outcome(fake_stream, agent_server):
    call = await new_call()
    first = await preparation.prepare(call_id=call.pk)
    second = await preparation.prepare(call_id=call.pk)
    assert second == first
    assert len(fake_stream.requests) == 3  # the agent user query, the users' upsert, the call
    assert len(agent_server.calls("POST")) == 1


async def test_a_second_worker_reuses_the_outcome_stored_on_the_call(fake_stream, agent_server):
    call = await new_call()
    first = await preparation.prepare(call_id=call.pk)

    # Another worker: its own process-wide clients, and only the database in common.
    other_stream = FakeStreamApi()
    stream_calls.reset_clients()
    stream_calls.install_client(other_client := other_stream.client())
    fresh = await Call.objects.aget(pk=call.pk)
    assert await preparation.prepare(call_id=fresh.pk) == first
    assert other_stream.requests == []
    assert len(agent_server.calls("POST")) == 1
    await other_client.aclose()


async def test_concurrent_preparations_do_the_work_once(fake_stream, agent_server):
    call = await new_call()
    await asyncio.gather(*(preparation.prepare(call_id=call.pk) for _ in range(3)))
    assert [m for m, path, _ in fake_stream.requests if path == "/api/v2/users"] == ["GET", "POST"]
    assert len(agent_server.calls("POST")) == 1
    assert (await preparation.stored(call.pk)).status == "ready"


async def test_the_agents_stored_user_is_never_overwritten(fake_stream, agent_server):
    fake_stream.users["ai-agent"] = stream_user("ai-agent", "Ada") | {"custom": {"voice": "warm"}}
    call = await new_call()
    await preparation.prepare(call_id=call.pk)

    assert [(m, body) for m, path, body in fake_stream.requests if path == "/api/v2/users"] == [
        ("GET", {"filter_conditions": {"id": {"$eq": "ai-agent"}}, "limit": 1}),
        ("POST", {"users": {f"phone-{call.pk}": {
            "id": f"phone-{call.pk}", "name": "+15557654321", "custom": {"phone": True}
        }}}),
    ]  # fmt: skip
    assert (fake_stream.users["ai-agent"]["name"], fake_stream.users["ai-agent"]["custom"]) == (
        "Ada",
        {"voice": "warm"},
    )


async def test_the_phone_user_is_upserted_on_every_call(fake_stream, agent_server):
    first, second = await new_call(), await new_call(from_number="+15559990000")
    await preparation.prepare(call_id=first.pk)
    await preparation.prepare(call_id=second.pk)
    upserts = [
        body for m, path, body in fake_stream.requests if (m, path) == ("POST", "/api/v2/users")
    ]
    assert [list(body["users"]) for body in upserts] == [
        [f"phone-{first.pk}", "ai-agent"],  # the agent user did not exist yet
        [f"phone-{second.pk}"],
    ]
    assert upserts[1]["users"][f"phone-{second.pk}"]["name"] == "+15559990000"


async def test_without_an_agent_server_the_call_is_ready_for_anyone_to_join(fake_stream):
    call = await new_call()
    outcome = await preparation.prepare(call_id=call.pk)
    assert outcome == Preparation("ready", str(call.pk), "", "")


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        ("full", "agent server at capacity (429)"),
        ("broken", "agent server error (500)"),
        ("slow", "agent server did not answer within 0.3 s"),
    ],
)
async def test_an_agent_server_that_cannot_help_gets_the_caller_an_apology(
    fake_stream, agent_server, fake_telnyx, settings, mode, reason
):
    telnyx = fake_telnyx()
    settings.AGENT_SERVER_TIMEOUT = 0.3
    agent_server.mode, agent_server.slow_seconds = mode, 1.0
    call = await new_call()

    outcome = await preparation.prepare(call_id=call.pk)
    await tasks.drain()

    assert (outcome.status, outcome.error) == ("failed", reason)
    [speak] = telnyx.bodies("/actions/speak")
    assert speak["payload"] == settings.APOLOGY_TEXT
    await call.arefresh_from_db()
    assert (call.status, call.failure_reason, call.bridge_error) == ("failed", reason, reason)
    assert len(fake_stream.bodies("/mark_ended")) == 1  # the Stream call made for it is ended


async def test_an_agent_server_that_is_down_gets_the_caller_an_apology(
    fake_stream, fake_telnyx, settings
):
    telnyx = fake_telnyx()
    settings.AGENT_SERVER_URL = f"http://127.0.0.1:{free_port()}"
    call = await new_call()
    outcome = await preparation.prepare(call_id=call.pk)
    await tasks.drain()
    assert outcome.error == "agent server unreachable (ConnectError)"
    assert len(telnyx.bodies("/actions/speak")) == 1


async def test_a_stream_api_failure_is_handled_like_an_agent_failure(
    fake_stream, agent_server, fake_telnyx
):
    telnyx = fake_telnyx()
    fake_stream.failures["/api/v2/users"] = [500]
    call = await new_call()
    outcome = await preparation.prepare(call_id=call.pk)
    await tasks.drain()
    assert outcome.status == "failed"
    assert outcome.error == "Stream API error (status=500, code=4): refused"
    assert len(telnyx.bodies("/actions/speak")) == 1
    assert agent_server.requests == []


async def test_the_apology_waits_for_an_inbound_call_to_be_answered(
    fake_stream, agent_server, fake_telnyx
):
    telnyx = fake_telnyx()
    agent_server.mode = "full"
    call = await new_call(status="initiated")
    await preparation.prepare(call_id=call.pk)
    await asyncio.sleep(0.3)
    assert telnyx.bodies("/actions/speak") == []  # speaking to a call not yet answered fails

    await Call.objects.filter(pk=call.pk).aupdate(status="answered")
    await tasks.drain()
    assert len(telnyx.bodies("/actions/speak")) == 1


async def test_an_unanswered_outbound_call_is_hung_up_instead(
    fake_stream, agent_server, fake_telnyx, monkeypatch
):
    telnyx = fake_telnyx()
    monkeypatch.setattr(preparation, "ANSWER_WAIT", 0.2)
    agent_server.mode = "full"
    call = await new_call(direction="outbound", status="ringing")
    await preparation.prepare(call_id=call.pk)
    await tasks.drain()
    assert telnyx.bodies("/actions/speak") == []
    assert len(telnyx.bodies("/actions/hangup")) == 1
    await call.arefresh_from_db()
    assert (call.status, call.failure_reason) == ("failed", "agent server at capacity (429)")


@pytest.mark.parametrize("end_stream_call", [True, False])
async def test_teardown_dismisses_the_agent_and_ends_the_stream_call_once(
    fake_stream, agent_server, settings, end_stream_call
):
    settings.STREAM_END_CALL_ON_HANGUP = end_stream_call
    call = await new_call()
    await preparation.prepare(call_id=call.pk)
    await asyncio.gather(
        preparation.teardown(call_id=call.pk), preparation.teardown(call_id=call.pk)
    )
    assert agent_server.calls("DELETE") == [(f"/calls/{call.pk}/sessions/agent-session-1", {})]
    assert len(fake_stream.bodies(f"/call/default/{call.pk}/mark_ended")) == int(end_stream_call)
    assert (await preparation.stored(call.pk)).status == "ended"


async def test_a_call_that_ends_during_preparation_cleans_up_after_itself(
    fake_stream, agent_server, fake_telnyx
):
    telnyx = fake_telnyx()
    agent_server.mode, agent_server.slow_seconds = "slow", 0.3
    call = await new_call()
    preparing = asyncio.ensure_future(preparation.prepare(call_id=call.pk))
    await eventually(lambda: agent_server.requests)  # the agent is being summoned
    await preparation.teardown(call_id=call.pk)  # the caller hung up meanwhile

    outcome = await preparing
    await tasks.drain()
    assert outcome.status == "ended"
    assert agent_server.open_sessions() == {}  # the late session was dismissed by the preparation
    assert telnyx.bodies("/actions/speak") == []


async def test_an_inbound_call_is_prepared_while_it_is_answered(
    fake_stream, agent_server, fake_telnyx
):
    telnyx = fake_telnyx()
    outcome = await _deliver(
        "call.initiated", {"direction": "incoming", "state": "parked"}, ccid="v3:in"
    )
    await tasks.drain()
    call = await Call.objects.aget(pk=outcome.call_id)
    assert (call.bridge, call.bridge_status, call.agent_session_id) == (
        "stream",
        "ready",
        "agent-session-1",
    )
    assert len(telnyx.bodies("/actions/answer")) == 1


async def test_a_hangup_before_any_media_came_dismisses_the_agent(
    fake_stream, agent_server, fake_telnyx
):
    fake_telnyx()
    call = await new_call(call_control_id="v3:gone")
    await preparation.prepare(call_id=call.pk)
    await _deliver("call.hangup", {"hangup_cause": "normal_clearing"}, ccid="v3:gone")
    await tasks.drain()
    assert len(agent_server.calls("DELETE")) == 1
    assert len(fake_stream.bodies("/mark_ended")) == 1
    assert (await preparation.stored(call.pk)).status == "ended"


async def test_place_call_prepares_while_it_dials(fake_stream, agent_server, fake_telnyx):
    fake_telnyx()
    call = await dialing.place_call(to="+15557654321", custom_data={"greeting": "Hi"})
    await tasks.drain()
    await call.arefresh_from_db()
    assert (call.bridge, call.bridge_status) == ("stream", "ready")
    [_, upsert] = fake_stream.bodies("/api/v2/users")
    assert upsert["users"][f"phone-{call.pk}"]["name"] == "+15557654321"  # the callee
    [create] = fake_stream.bodies(f"/call/default/{call.pk}")
    assert create["data"]["custom"]["direction"] == "outbound"


async def test_a_refused_dial_leaves_no_agent_behind(fake_stream, agent_server, fake_telnyx):
    telnyx = fake_telnyx()
    telnyx.fail("/calls", 422, code="10010", title="Bad number")
    with pytest.raises(dialing.CallFailed):
        await dialing.place_call(to="+15557654321")
    await tasks.drain()
    call = await Call.objects.aget()
    assert call.bridge_status == "ended"
    assert agent_server.open_sessions() == {}


async def _deliver(event_type: str, payload: dict, *, ccid: str):
    """A webhook as the view handles it: recorded, then its follow-ups run as tasks."""
    base = {"call_control_id": ccid, "from": "+15557654321", "to": "+15550001111"}
    event = parse_event(json.dumps(webhook(event_type, {**base, **payload})).encode())
    outcome = await sync_to_async(record_event)(event)
    for follow_up in outcome.follow_ups:
        tasks.spawn(follow_up(), name=event_type)
    return outcome
