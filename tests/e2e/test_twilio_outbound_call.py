"""Outbound Twilio calls over real sockets: phonebridge dials through its Twilio client, the
embedded Twilio simulator rings the far end as the test chose, and the Call row ends as
Twilio said: answered and streamed through the echo bridge, or busy, or not answered."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from calls.models import Call, CarrierCommand
from telephony import dialing
from telephony.twilio import embedded
from tests.e2e.test_twilio_inbound_call import NUMBER, serve_twilio

CALLEE = "+15557650000"
FINAL = ("missed", "no_answer", "rejected", "busy", "ended", "failed")


async def ended_call(call_id: object, timeout: float = 30) -> Call:
    async with asyncio.timeout(timeout):
        while True:
            call = await Call.objects.aget(pk=call_id)
            if call.status in FINAL:
                return call
            await asyncio.sleep(0.1)


@pytest.fixture
def twilio_server(live_asgi, settings, tmp_path):
    yield from serve_twilio(live_asgi, settings, tmp_path)


def far_end(**changes: object) -> None:
    carrier = embedded.embedded_simulator().carrier
    scenario = dataclasses.replace(carrier.default_scenario, **changes)
    carrier.outbound_scenarios[CALLEE] = scenario


@pytest.mark.django_db(transaction=True)
async def test_an_outbound_twilio_call_is_dialed_answered_streamed_and_ended(twilio_server):
    await twilio_server.arun(asyncio.to_thread(far_end, duration_s=3.0))
    call = await twilio_server.arun(dialing.place_call(to=CALLEE, from_=NUMBER))
    assert call.carrier == Call.Carrier.TWILIO
    call = await ended_call(call.pk)
    sim_call = embedded.embedded_simulator().carrier.get_call(call.call_control_id)

    assert call.direction == "outbound"
    assert call.call_control_id.startswith("CA")
    assert call.answered_at is not None
    assert call.frames_in >= 100
    assert call.frames_out >= 100
    assert sim_call.status == "completed"
    assert sim_call.hung_up_by == "callee"
    report = sim_call.media_reports[0]
    assert report.frames_received >= 100
    assert report.errors_sent == []
    dial = await CarrierCommand.objects.aget(call=call, name="dial")
    assert (dial.carrier, dial.ok, dial.status_code) == ("twilio", True, 201)


@pytest.mark.parametrize(("outcome", "status"), [("user_busy", "busy"), ("no_answer", "no_answer")])
@pytest.mark.django_db(transaction=True)
async def test_an_outbound_twilio_call_nobody_answers_ends_with_that_status(
    twilio_server, outcome, status
):
    await twilio_server.arun(asyncio.to_thread(far_end, dial_outcome=outcome, time_scale=0.02))
    call = await twilio_server.arun(dialing.place_call(to=CALLEE, from_=NUMBER))
    call = await ended_call(call.pk)
    assert call.status == status
    assert call.answered_at is None
    assert call.frames_in == 0
