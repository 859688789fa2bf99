"""Telnyx misbehaving (5xx storms, timeouts) over real HTTP: bounded retries, every attempt
visible in the call's command log, no pile-up of background work."""

from __future__ import annotations

import asyncio

import pytest

from calls.models import Call, TelnyxCommand
from telephony.telnyx.embedded import embedded_simulator, simulate_inbound_call

pytestmark = pytest.mark.django_db(transaction=True)


async def final_call(timeout: float = 20) -> Call:
    async with asyncio.timeout(timeout):
        while True:
            call = await Call.objects.order_by("-created_at").afirst()
            if call is not None and call.status in ("ended", "failed"):
                return call
            await asyncio.sleep(0.1)


async def test_a_5xx_storm_on_answer_is_retried_a_bounded_number_of_times(
    simulated_server, settings
):
    settings.TELNYX_API_MAX_ATTEMPTS = 3
    carrier = embedded_simulator().carrier
    carrier.inject("server_error", count=None, command="answer")
    await simulated_server.arun(
        simulate_inbound_call(
            from_number="+15557654321",
            to_number=settings.TELNYX_PHONE_NUMBER,
            hangup_before_answer_s=3.0,
        )
    )
    call = await final_call()
    answer = await TelnyxCommand.objects.aget(call=call, name="answer")
    assert (answer.ok, answer.attempts, answer.status_code, answer.error_code) == (
        False,
        3,
        500,
        "10007",
    )
    # The caller gave up ringing; the call is closed, and says why the answer failed.
    assert call.status == "failed"
    assert "answer failed" in call.failure_reason
    assert "10007" in call.failure_reason


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
    answer = await TelnyxCommand.objects.aget(call=call, name="answer")
    assert (answer.ok, answer.attempts) == (True, 2)
    sim_call = carrier.get_call(call_control_id)
    answers = [c for c in sim_call.commands if c["action"] == "answer"]
    assert len(answers) == 2
    assert len({c["body"]["command_id"] for c in answers}) == 1
    assert [c["duplicate"] for c in answers] == [False, True]  # Telnyx acted once
