"""The stream auth token (issue 13, item 8): sent wherever Telnyx takes it (dial and
streaming_start, not answer; telnyx-protocol.md §1.1), received back as the
x-telnyx-streaming-auth-token header, and stored by us only redacted.

The end-to-end cases run the embedded simulator, which connects as Telnyx does: with the
header and the token in its `connected` frame when a stream_auth_token was given.

The header token is derived from the path's (telephony.telnyx.stream_auth): a stream URL read
in a proxy's log must not also be the header that MEDIA_AUTH_HEADER_REQUIRED asks for.
"""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from calls.models import Call, CallEvent, CarrierCommand
from telephony import dialing
from telephony.telnyx.embedded import embedded_simulator, simulate_inbound_call
from telephony.telnyx.stream_auth import stream_auth_token

pytestmark = pytest.mark.django_db(transaction=True)


def token_of(url: str) -> str:
    return url.rsplit("/", 1)[1]


async def test_a_dial_carries_the_stream_auth_token_without_header_auth(fake_telnyx, settings):
    settings.MEDIA_AUTH_HEADER_REQUIRED = False
    telnyx = fake_telnyx()
    call = await dialing.place_call(to="+15557654321")
    [dial] = telnyx.bodies("/calls")
    token = token_of(dial["stream_url"])
    assert dial["stream_auth_token"] == stream_auth_token(token)
    assert call.media_token_matches(token)
    stored = await CarrierCommand.objects.aget(call=call, name="dial")
    assert stored.request_body["stream_auth_token"] == "***"
    assert stored.request_body["stream_url"] == f"wss://phonebridge.test/telnyx/media/{call.pk}/***"


async def wait_for(predicate, timeout: float = 20.0) -> Call:
    async with asyncio.timeout(timeout):
        while True:
            call = await Call.objects.order_by("-created_at").afirst()
            if call is not None and predicate(call):
                return call
            await asyncio.sleep(0.1)


async def stored_json(call: Call) -> str:
    bodies = [c.request_body async for c in CarrierCommand.objects.filter(call=call)]
    payloads = [e.payload async for e in CallEvent.objects.filter(call=call)]
    return repr(bodies + payloads)


async def test_an_outbound_call_streams_with_the_header_and_keeps_no_token(
    simulated_server, settings
):
    settings.MEDIA_AUTH_HEADER_REQUIRED = True
    carrier = embedded_simulator().carrier
    carrier.outbound_scenarios["+15557654321"] = dataclasses.replace(
        carrier.default_scenario, dial_outcome="answer", duration_s=1.5
    )
    call = await dialing.place_call(to="+15557654321")
    call = await wait_for(lambda c: c.status == "ended" and c.frames_in > 0)
    stream = carrier.get_call(call.call_control_id).stream
    assert stream is not None
    assert stream.auth_token
    assert stream.auth_token == stream_auth_token(token_of(stream.url))
    assert call.frames_in >= 40  # the consumer accepted the socket that carried the header
    text = await stored_json(call)
    assert stream.auth_token not in text
    assert f"/telnyx/media/{call.pk}/***" in text


async def test_an_inbound_call_with_header_auth_streams_and_keeps_no_token(
    simulated_server, settings
):
    settings.MEDIA_AUTH_HEADER_REQUIRED = True
    call_control_id = await simulated_server.arun(
        simulate_inbound_call(
            from_number="+15557654321", to_number=settings.TELNYX_PHONE_NUMBER, duration_s=1.5
        )
    )
    call = await wait_for(lambda c: c.status == "ended" and c.frames_in > 0)
    stream = embedded_simulator().carrier.get_call(call_control_id).stream
    assert stream is not None
    assert stream.auth_token
    names = [c.name async for c in CarrierCommand.objects.filter(call=call).order_by("id")]
    assert names[:2] == ["answer", "streaming_start"]  # answer cannot carry the token
    text = await stored_json(call)
    assert stream.auth_token not in text
    assert f"/telnyx/media/{call.pk}/***" in text
