"""Telnyx misbehaving (5xx storms, timeouts) and phonebridge under load, over real HTTP:
bounded retries, every attempt visible in the call's command log, a caller never left ringing,
and no webhook acknowledged whose work could not be scheduled."""

from __future__ import annotations

import asyncio
import time

import pytest

from calls.models import Call, CallEvent, CarrierCommand
from telephony import tasks
from telephony.telnyx.embedded import embedded_simulator, simulate_inbound_call

pytestmark = pytest.mark.django_db(transaction=True)


async def final_call(timeout: float = 20) -> Call:
    async with asyncio.timeout(timeout):
        while True:
            call = await Call.objects.order_by("-created_at").afirst()
            if call is not None and call.status in ("ended", "failed"):
                return call
            await asyncio.sleep(0.1)


async def test_a_5xx_storm_on_answer_is_retried_a_bounded_number_of_times_then_rejected(
    simulated_server, settings
):
    settings.TELNYX_API_MAX_ATTEMPTS = 3
    carrier = embedded_simulator().carrier
    carrier.inject("server_error", count=None, command="answer")
    started = time.monotonic()
    # The caller would ring for Telnyx's 30 s if nobody acted.
    call_control_id = await simulated_server.arun(
        simulate_inbound_call(
            from_number="+15557654321",
            to_number=settings.TELNYX_PHONE_NUMBER,
            hangup_before_answer_s=30.0,
        )
    )
    call = await final_call()
    sim_call = carrier.get_call(call_control_id)
    async with asyncio.timeout(10):  # polled: the call's events belong to the server's loop
        while sim_call.end_time is None:
            await asyncio.sleep(0.05)
    rang = time.monotonic() - started
    answer = await CarrierCommand.objects.aget(call=call, name="answer")
    assert (answer.ok, answer.attempts, answer.status_code, answer.error_code) == (
        False,
        3,
        500,
        "10007",
    )
    # Rejected as busy as soon as the retries were spent, not left ringing.
    assert (sim_call.hangup_cause, sim_call.hangup_source) == ("user_busy", "callee")
    assert rang < 5, rang
    reject = await CarrierCommand.objects.aget(call=call, name="reject")
    assert (reject.ok, reject.request_body["cause"]) == (True, "USER_BUSY")
    # The call is closed, and says why the answer failed and what the caller heard.
    await call.arefresh_from_db()
    assert call.status == "failed"
    assert call.failure_reason.startswith("answer failed (Telnyx error 10007: Unexpected error")
    assert "the caller heard ringing for " in call.failure_reason
    assert call.failure_reason.endswith(", then a busy tone")
    assert await CallEvent.objects.filter(call=call, type="answer.failed").aexists()


async def test_a_telnyx_timeout_is_retried_with_the_same_command_id_and_acts_once(
    simulated_server, settings
):
    settings.TELNYX_API_TIMEOUT = 0.5
    carrier = embedded_simulator().carrier
    carrier.inject("timeout", count=1, command="answer", delay_s=1.5)
    call_control_id = await simulated_server.arun(
        simulate_inbound_call(
            from_number="+15557654321", to_number=settings.TELNYX_PHONE_NUMBER, duration_s=1.0
        )
    )
    call = await final_call()
    assert (call.status, call.hangup_cause) == ("ended", "normal_clearing")
    answer = await CarrierCommand.objects.aget(call=call, name="answer")
    assert (answer.ok, answer.attempts) == (True, 2)
    sim_call = carrier.get_call(call_control_id)
    answers = [c for c in sim_call.commands if c["action"] == "answer"]
    assert len(answers) == 2
    assert len({c["body"]["command_id"] for c in answers}) == 1
    assert [c["duplicate"] for c in answers] == [False, True]  # Telnyx acted once


async def test_with_background_work_full_calls_are_answered_and_telnyx_retries_what_waits(
    simulated_server, settings
):
    settings.MAX_BACKGROUND_TASKS = 3
    carrier = embedded_simulator().carrier

    async def fill() -> asyncio.Event:
        gate = asyncio.Event()
        for i in range(3):
            assert tasks.spawn(gate.wait(), name=f"filler-{i}") is not None
        return gate

    gate = await simulated_server.arun(fill())  # on the server's loop, as a flood would be
    try:
        call_control_id = await simulated_server.arun(
            simulate_inbound_call(
                from_number="+15557654321", to_number=settings.TELNYX_PHONE_NUMBER, duration_s=1.0
            )
        )
        sim_call = carrier.get_call(call_control_id)
        async with asyncio.timeout(5):  # polled: the call's events belong to the server's loop
            while sim_call.answer_time is None:  # the answer is call control: never dropped
                await asyncio.sleep(0.05)

        # The end's webhooks need best-effort work (telling the media socket to close wherever
        # it runs): call.hangup always, streaming.stopped when it beats the session's own
        # record of a normal end. With no room the first of them is refused with a 503 and
        # not stored...
        async with asyncio.timeout(10):
            while not any(d.status == 503 for d in carrier.webhooks.for_call(call_control_id)):
                await asyncio.sleep(0.05)
        [refused, *_] = [d for d in carrier.webhooks.for_call(call_control_id) if d.status == 503]
        assert refused.event_type in ("streaming.stopped", "call.hangup")
        assert not await CallEvent.objects.filter(event_id=refused.event_id).aexists()
    finally:
        # Released even if the test failed: fillers left on the server's loop would break
        # every later test's drain.
        simulated_server.loop.call_soon_threadsafe(gate.set)

    # ...and Telnyx's retry of the same event id is processed once there is room.
    call = await final_call()
    await carrier.webhooks.flush(timeout=10)
    assert (call.status, call.hangup_cause) == ("ended", "normal_clearing")
    attempts = [
        d for d in carrier.webhooks.for_call(call_control_id) if d.event_id == refused.event_id
    ]
    assert [d.status for d in attempts] == [503, 200]
    assert await CallEvent.objects.filter(event_id=refused.event_id).acount() == 1
