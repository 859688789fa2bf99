"""A whole inbound call over real sockets: the simulated carrier rings phonebridge, which
verifies the webhook, answers with a media stream, echoes the caller, and records it all."""

from __future__ import annotations

import asyncio
import wave
from pathlib import Path

import pytest

from calls.models import Call, CallEvent, CarrierCommand
from telephony.telnyx.embedded import embedded_simulator, simulate_inbound_call


async def wait_for_status(status: str, timeout: float = 20) -> Call:
    async with asyncio.timeout(timeout):
        while True:
            call = await Call.objects.order_by("-created_at").afirst()
            if call is not None and call.status == status and call.frames_in:
                return call
            await asyncio.sleep(0.1)


@pytest.mark.django_db(transaction=True)
async def test_an_inbound_call_is_verified_answered_echoed_and_hung_up(simulated_server, settings):
    call_control_id = await simulated_server.arun(
        simulate_inbound_call(
            from_number="+15557654321", to_number=settings.TELNYX_PHONE_NUMBER, duration_s=2.0
        )
    )
    call = await wait_for_status("ended")
    sim_call = embedded_simulator().carrier.get_call(call_control_id)

    assert call.direction == "inbound"
    assert call.simulated
    assert (call.from_number, call.to_number) == ("+15557654321", settings.TELNYX_PHONE_NUMBER)
    assert call.call_control_id == sim_call.call_control_id
    assert (call.hangup_cause, call.hangup_source) == ("normal_clearing", "caller")
    assert call.answered_at is not None
    assert call.streaming_started_at is not None

    webhook_types = [
        t
        async for t in CallEvent.objects.filter(call=call, source="webhook").values_list(
            "type", flat=True
        )
    ]
    for expected in (
        "call.initiated",
        "call.answered",
        "streaming.started",
        "streaming.stopped",
        "call.hangup",
    ):
        assert expected in webhook_types
    answer = await CarrierCommand.objects.aget(call=call, name="answer")
    assert (answer.ok, answer.status_code) == (True, 200)

    # About two seconds of 20 ms frames went each way, none lost.
    assert call.frames_in >= 80
    assert call.frames_out >= 80
    assert call.frames_missing == 0
    assert call.media_encoding == "PCMU"

    path = Path(settings.MEDIA_ROOT) / call.recording.name
    with wave.open(str(path)) as wav:
        assert (wav.getnchannels(), wav.getframerate()) == (2, 8000)
        assert wav.getnframes() >= 80 * 160

    report = sim_call.media_reports[0]
    assert report.frames_received >= 80
    assert report.rtt_p99_ms is not None
