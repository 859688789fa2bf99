"""The simulator pinned to Twilio's own package, offline.

What it signs validates with `twilio.request_validator.RequestValidator`, and the official SDK
(`twilio.rest.Client`, its HTTP client pointed at the simulator) creates, lists, fetches and
updates calls, recordings and numbers, and reads its errors as `TwilioRestException`s: the
REST shapes match what the SDK expects of api.twilio.com.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from twilio.base.exceptions import TwilioRestException  # type: ignore[import-untyped]
from twilio.http.http_client import TwilioHttpClient  # type: ignore[import-untyped]
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]
from twilio.rest import Client  # type: ignore[import-untyped]

from telephony.simulation.scenario import Scenario
from telephony.twilio.simulator.webhooks import TwilioWebhookSender
from tests.telephony.twilio.simulator.conftest import CALLER, NUMBER

pytestmark = pytest.mark.timeout(30)


class SimulatorHttpClient(TwilioHttpClient):
    """The SDK's own HTTP client, sending what it meant for api.twilio.com to the simulator."""

    def __init__(self, base_url: str) -> None:
        super().__init__(timeout=5)
        self.base_url = base_url

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        url = url.replace("https://api.twilio.com", self.base_url)
        return super().request(method, url, *args, **kwargs)


@pytest.fixture
def sdk(sim):
    return Client(sim.account_sid, sim.auth_token, http_client=SimulatorHttpClient(sim.base_url))


def test_a_signature_the_simulator_computes_validates_with_the_official_validator():
    sender = TwilioWebhookSender("0123456789abcdef0123456789abcdef")
    params = {"CallSid": "CA" + "1" * 32, "From": "+15550001111", "Digits": "1 2"}
    url = "https://phonebridge.test/twilio/status?attempt=abc"
    _, _, headers = sender.signed(url, params)
    validator = RequestValidator("0123456789abcdef0123456789abcdef")
    assert validator.validate(url, params, headers["X-Twilio-Signature"])
    assert not RequestValidator("another-token").validate(
        url, params, headers["X-Twilio-Signature"]
    )


def test_a_forged_signature_fault_does_not_validate():
    sender = TwilioWebhookSender("0123456789abcdef0123456789abcdef")
    params = {"CallSid": "CA" + "1" * 32}
    _, _, headers = sender.signed("https://x.test/twilio/status", params, fault="bad_signature")
    assert not sender.validator.validate(
        "https://x.test/twilio/status", params, headers["X-Twilio-Signature"]
    )


async def test_the_sdk_creates_fetches_lists_and_hangs_up_a_call(sdk, sim, ours):
    sim.carrier.outbound_scenarios[CALLER] = Scenario(hangup_by="never")

    def create_and_fetch():
        created = sdk.calls.create(
            to=CALLER,
            from_=NUMBER,
            twiml="<Response><Pause length='30'/></Response>",
            status_callback=ours.url + "/twilio/status",
            status_callback_event=["initiated", "ringing", "answered", "completed"],
            machine_detection="Enable",
            async_amd="true",
            async_amd_status_callback=ours.url + "/twilio/amd",
        )
        return created, sdk.calls(created.sid).fetch()

    created, fetched = await asyncio.to_thread(create_and_fetch)
    assert created.sid.startswith("CA")
    assert created.status == "queued"
    assert created.direction == "outbound-api"
    assert fetched.to == CALLER
    assert fetched._from == NUMBER
    assert fetched.date_created is not None  # RFC 2822, parsed by the SDK
    await ours.wait_for("/twilio/status", CallStatus="in-progress")

    def list_and_hang_up():
        listed = sdk.calls.list(to=CALLER, status="in-progress")
        return listed, sdk.calls(created.sid).update(status="completed")

    listed, updated = await asyncio.to_thread(list_and_hang_up)
    assert [c.sid for c in listed] == [created.sid]
    assert updated.sid == created.sid
    done = await ours.wait_for("/twilio/status", CallStatus="completed")
    assert done.params["CallSid"] == created.sid


async def test_the_sdk_reads_the_simulators_errors_as_twilio_rest_exceptions(sdk):
    def dial_from_a_number_not_owned():
        sdk.calls.create(to=CALLER, from_="+15550009999", twiml="<Response/>")

    with pytest.raises(TwilioRestException) as raised:
        await asyncio.to_thread(dial_from_a_number_not_owned)
    assert raised.value.status == 400
    assert raised.value.code == 21210
    assert "not yet verified" in raised.value.msg

    def fetch_unknown():
        sdk.calls("CA" + "0" * 32).fetch()

    with pytest.raises(TwilioRestException) as missing:
        await asyncio.to_thread(fetch_unknown)
    assert (missing.value.status, missing.value.code) == (404, 20404)


async def test_the_sdk_authenticates_only_with_the_accounts_token(sim):
    wrong = Client(sim.account_sid, "not-the-token", http_client=SimulatorHttpClient(sim.base_url))
    with pytest.raises(TwilioRestException) as raised:
        await asyncio.to_thread(lambda: wrong.calls("CA" + "0" * 32).fetch())
    assert (raised.value.status, raised.value.code) == (401, 20003)


async def test_the_sdk_records_a_call_and_stops_the_recording(sdk, sim, ours):
    sim.carrier.outbound_scenarios[CALLER] = Scenario(hangup_by="never")
    created = await asyncio.to_thread(
        lambda: sdk.calls.create(
            to=CALLER,
            from_=NUMBER,
            twiml="<Response><Pause length='30'/></Response>",
            status_callback=ours.url + "/twilio/status",
            status_callback_event=["answered"],
        )
    )
    await ours.wait_for("/twilio/status", CallStatus="in-progress")

    def record():
        recording = sdk.calls(created.sid).recordings.create(recording_channels="dual")
        stopped = sdk.calls(created.sid).recordings("Twilio.CURRENT").update(status="stopped")
        return recording, stopped

    recording, stopped = await asyncio.to_thread(record)
    assert recording.sid.startswith("RE")
    assert recording.channels == 2
    assert stopped.status == "completed"


async def test_the_sdk_lists_and_updates_incoming_numbers(sdk):
    def find_and_point():
        (number,) = sdk.incoming_phone_numbers.list(phone_number=NUMBER)
        return sdk.incoming_phone_numbers(number.sid).update(
            voice_url="https://phonebridge.test/twilio/voice",
            voice_method="POST",
            status_callback="https://phonebridge.test/twilio/status",
        )

    updated = await asyncio.to_thread(find_and_point)
    assert updated.phone_number == NUMBER
    assert updated.voice_url == "https://phonebridge.test/twilio/voice"
    assert updated.status_callback == "https://phonebridge.test/twilio/status"
