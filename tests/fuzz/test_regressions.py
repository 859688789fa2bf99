"""The failures the fuzz suite found, each pinned by one small case."""

from __future__ import annotations

import json

import pytest
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator

from calls.models import Call, CallEvent, CarrierCommand
from phonebridge.routing import websocket_urlpatterns
from telephony import tasks
from telephony.bridges.echo import EchoBridge
from telephony.media.session import MediaSession
from telephony.telnyx import client as telnyx_client
from telephony.telnyx.wire import WIRE
from tests.conftest import webhook
from tests.fuzz.doubles import Clock, Socket
from tests.telephony.conftest import FakeTelnyx

pytestmark = pytest.mark.django_db(transaction=True)

START = json.dumps({"event": "start", "stream_id": "s", "start": {}})
STOP = json.dumps({"event": "stop"})


@pytest.fixture(autouse=True)
def _settings(settings):
    settings.RECORD_CALLS = False
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


@pytest.fixture
async def fake_telnyx() -> FakeTelnyx:
    """A fake Telnyx for this test's event loop."""
    fake = FakeTelnyx()
    telnyx_client.install_client(fake.client())
    return fake


# Webhooks -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"[" * 100_000, id="nested-too-deep"),
        pytest.param(b'{"data": {"id": "x", "n": ' + b"9" * 5000 + b"}}", id="5000-digits"),
        pytest.param(json.dumps(webhook("call.hangup", {}, id="\ud800")).encode(), id="surrogate"),
        pytest.param(json.dumps(webhook("call.hangup", {"n": float("nan")})).encode(), id="NaN"),
        pytest.param(json.dumps(webhook("call.hangup", {"n": 1e999})).encode(), id="inf"),
    ],
)
async def test_a_signed_body_no_database_can_store_is_a_400(async_post_webhook, body):
    response = await async_post_webhook(body)
    assert response.status_code == 400
    assert not await CallEvent.objects.aexists()


@pytest.mark.parametrize("when", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
async def test_an_occurred_at_beyond_the_calendar_is_stored_as_received_now(
    async_post_webhook, when
):
    response = await async_post_webhook(webhook("call.bridged", {}, id="e1", occurred_at=when))
    assert response.status_code == 200
    event = await CallEvent.objects.aget(event_id="e1")
    assert 2000 < event.occurred_at.year < 9999


async def test_a_call_control_id_with_a_control_character_still_gets_an_answer(
    async_post_webhook, fake_telnyx
):
    payload = {"call_control_id": "v3:a\x01b", "direction": "incoming"}
    assert (await async_post_webhook(webhook("call.initiated", payload))).status_code == 200
    await tasks.drain()
    call = await Call.objects.aget(call_control_id="v3:a\x01b")
    command = await CarrierCommand.objects.aget(call=call, name="answer")
    assert command.finished_at is not None


# The media session --------------------------------------------------------------------


async def play(*frames: str, token: str | None = None) -> tuple[MediaSession, Socket]:
    call = await Call.objects.acreate(direction="inbound", status="streaming")
    socket, clock = Socket(), Clock()
    session = MediaSession(
        call=call,
        bridge=EchoBridge(),
        transport=socket,
        wire=WIRE,
        clock=clock,
        sleep=clock.sleep,
    )
    if token:
        session.expect_auth_token(token)
    for frame in frames:
        await session.on_message(frame)
    await session.finish("socket closed")
    await tasks.drain()
    return session, socket


@pytest.mark.parametrize(
    "frame",
    [
        pytest.param("[" * 60_000, id="nested-too-deep"),
        pytest.param(START.replace('"s"', '"\\ud800"'), id="surrogate"),
        pytest.param('{"event": "error", "payload": {"code": NaN}}', id="NaN"),
        pytest.param('{"event": "mark", "mark": {"name": "a\\u0000b"}}', id="NUL"),
    ],
)
async def test_a_frame_no_database_can_store_is_malformed_and_the_stream_goes_on(frame):
    session, socket = await play(frame, STOP)
    assert (session.inbound.malformed, socket.closes) == (1, [1000])
    assert await CallEvent.objects.filter(type="media.stop").aexists()


async def test_a_sequence_number_that_jumps_beyond_any_counter_is_one_late_frame_not_the_end():
    # It used to become the stream's position: every later frame was late, and missing
    # counted 10**20 frames.
    media = '{"event": "media", "media": {"chunk": "%s", "payload": "/w=="}}'
    frames = [media % n for n in (1, 10**20, 2, 3, 4)]
    session, socket = await play(START, *frames, STOP)
    call = await Call.objects.aget(pk=session.call.pk)
    assert (socket.closes, call.frames_in, call.frames_late, call.frames_missing) == (
        [1000],
        5,
        1,
        0,
    )
    assert session.reorder.released == 4


async def test_a_start_after_the_stream_was_refused_starts_nothing():
    unsupported = START.replace("{}", '{"media_format": {"encoding": "G722"}}')
    session, socket = await play(unsupported, START, STOP)
    assert socket.closes == [1003]
    assert (session._heartbeat_task, session.in_codec) == (None, None)


async def test_a_non_ascii_auth_token_in_the_connected_frame_is_refused_with_1008():
    connected = {"event": "connected", "connected": {"x-telnyx-streaming-auth-token": "é"}}
    _, socket = await play(json.dumps(connected), token="secret")
    assert socket.closes == [1008]


# The media socket ---------------------------------------------------------------------


async def test_a_non_ascii_auth_header_is_refused_with_1008():
    call = Call(direction="inbound", bridge="echo")
    token = call.issue_media_token(ttl_seconds=60)
    await call.asave()
    communicator = WebsocketCommunicator(
        URLRouter(websocket_urlpatterns),
        f"/telnyx/media/{call.pk}/{token}",
        headers=[(b"x-telnyx-streaming-auth-token", "é".encode("latin-1"))],
    )
    assert await communicator.connect(timeout=0.2) == (False, 1008)
