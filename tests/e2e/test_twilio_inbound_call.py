"""A whole inbound Twilio call over real sockets: the embedded Twilio simulator rings
phonebridge, which verifies the signed voice webhook, answers with <Connect><Stream> to its
tokenized media socket, echoes the caller, stores DTMF and marks, records, and hangs up."""

from __future__ import annotations

import asyncio
import wave
from pathlib import Path

import pytest

from calls.models import Call, CallEvent
from telephony.twilio import client as twilio_client
from telephony.twilio import embedded

ACCOUNT_SID = "AC" + "e2e0" * 8
AUTH_TOKEN = "e2e-twilio-auth-token-0123456789"
NUMBER = "+15550002222"
CALLER = "+15557654321"


def serve_twilio(live_asgi, settings, tmp_path):
    """phonebridge on a live socket, with the embedded Twilio simulator as its carrier."""
    settings.TWILIO_SIMULATOR = True
    settings.SIMULATOR_HOST = live_asgi.host
    settings.TWILIO_ACCOUNT_SID = ACCOUNT_SID
    settings.TWILIO_AUTH_TOKEN = AUTH_TOKEN
    settings.TWILIO_API_KEY = settings.TWILIO_API_SECRET = ""
    settings.TWILIO_PHONE_NUMBER = NUMBER
    settings.TWILIO_API_BASE_URL = f"{live_asgi.url}{embedded.DEFAULT_PREFIX}"
    settings.PHONEBRIDGE_CARRIER = "twilio"
    settings.BRIDGE = "echo"
    settings.RECORD_CALLS = True
    settings.MEDIA_ROOT = str(tmp_path)
    embedded.reset_embedded_simulator()
    twilio_client.reset_clients()
    yield live_asgi
    live_asgi.run(embedded.embedded_simulator().carrier.aclose())
    embedded.reset_embedded_simulator()
    twilio_client.reset_clients()


@pytest.fixture
def twilio_server(live_asgi, settings, tmp_path):
    yield from serve_twilio(live_asgi, settings, tmp_path)


async def wait_until(predicate, timeout: float = 20) -> None:
    async with asyncio.timeout(timeout):
        while not await predicate():
            await asyncio.sleep(0.1)


@pytest.mark.django_db(transaction=True)
async def test_an_inbound_twilio_call_is_verified_answered_echoed_and_hung_up(
    twilio_server, settings
):
    sid = await twilio_server.arun(
        embedded.simulate_inbound_call(
            from_number=CALLER, to_number=NUMBER, duration_s=3.0, dtmf="42", dtmf_at_s=0.5
        )
    )
    sim_call = embedded.embedded_simulator().carrier.get_call(sid)

    async def ended() -> bool:
        call = await Call.objects.filter(call_control_id=sid).afirst()
        return call is not None and call.status == "ended" and bool(call.frames_in)

    await wait_until(ended)
    call = await Call.objects.aget(call_control_id=sid)
    assert call.carrier == Call.Carrier.TWILIO
    assert call.direction == "inbound"
    assert (call.from_number, call.to_number) == (CALLER, NUMBER)
    assert call.answered_at is not None
    assert call.duration is not None
    assert call.duration.total_seconds() >= 2

    # The simulator heard its own voice come back through the echo bridge.
    report = sim_call.media_reports[0]
    assert report.frames_received >= 80
    assert report.rtt_p99_ms is not None
    assert report.errors_sent == []  # every frame we sent was Twilio-valid
    # Our pacer's marks reached Twilio and came back once their audio had played.
    assert report.marks_received >= 1
    assert report.marks_echoed >= 1
    assert sim_call.status == "completed"

    # About three seconds of 20 ms frames went each way, none lost; DTMF stored.
    assert call.frames_in >= 100
    assert call.frames_out >= 100
    assert call.frames_missing == 0
    assert call.media_encoding == "PCMU"
    digits = [
        e.payload.get("digit")
        async for e in CallEvent.objects.filter(call=call, type="media.dtmf").order_by("pk")
    ]
    assert digits == ["4", "2"]

    events = [t async for t in CallEvent.objects.filter(call=call).values_list("type", flat=True)]
    for expected in ("twilio.voice", "media.start", "twilio.call.completed", "state.ended"):
        assert expected in events

    path = Path(settings.MEDIA_ROOT) / call.recording.name
    with wave.open(str(path)) as wav:
        assert (wav.getnchannels(), wav.getframerate()) == (2, 8000)
        assert wav.getnframes() >= 80 * 160


@pytest.mark.django_db(transaction=True)
async def test_a_webhook_signed_with_the_wrong_auth_token_is_refused(twilio_server, settings):
    from telephony.twilio.simulator.carrier import Carrier
    from telephony.twilio.simulator.server import running_simulator

    forger = Carrier(account_sid=ACCOUNT_SID, auth_token="not-the-auth-token-of-the-account")
    forger.seed(
        phone_number=NUMBER,
        voice_url=f"{twilio_server.url}/twilio/voice",
        status_callback=f"{twilio_server.url}/twilio/status",
    )

    async def ring() -> str:
        async with running_simulator(forger):
            call = await forger.start_inbound_call(from_=CALLER, to=NUMBER, time_scale=0.01)
            await asyncio.wait_for(call.ended.wait(), 10)
            return call.sid

    sid = await twilio_server.arun(ring())
    voice = [d for d in forger.webhooks.deliveries if d.event_type == "voice"]
    assert [d.status for d in voice] == [403]
    assert not await Call.objects.filter(call_control_id=sid).aexists()


@pytest.mark.django_db(transaction=True)
def test_simulate_call_with_carrier_twilio_rings_the_server_and_reports_the_call(twilio_server):
    from io import StringIO

    from django.core.management import call_command

    from tests.live import free_port

    out = StringIO()
    call_command(
        "simulate_call",
        "--carrier",
        "twilio",
        "--server",
        twilio_server.url,
        "--listen",
        f"127.0.0.1:{free_port()}",
        "--to",
        NUMBER,
        "--duration",
        "2",
        stdout=out,
        stderr=StringIO(),
    )
    lines = out.getvalue().splitlines()
    assert any(line.startswith("Simulated Twilio API: http://127.0.0.1:") for line in lines)
    call_lines = [line for line in lines if line.startswith("CA")]
    assert len(call_lines) == 1
    assert " ok " in call_lines[0]
    assert "calls: 1 ok: 1 failed: 0" in lines
