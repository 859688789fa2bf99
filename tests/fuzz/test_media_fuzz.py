"""10,000 hostile frame sequences through MediaSession, and 500 hostile connections to the
media WebSocket that must all be refused."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from datetime import timedelta
from urllib.parse import quote

import pytest
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.db import connection
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from calls.models import Call, CallEvent
from phonebridge.routing import websocket_urlpatterns
from telephony import tasks
from telephony.bridges.echo import EchoBridge
from telephony.media.session import MediaSession
from telephony.telnyx.wire import WIRE
from tests.fuzz.doubles import Clock, Socket
from tests.fuzz.media_cases import media_cases
from tests.fuzz.media_model import MAX_BAD_FRAMES, TOKEN, MediaCase
from tests.fuzz.strategies import hostiles, pick

pytestmark = pytest.mark.django_db(transaction=True)

CASES = 10_000
REFUSALS = 500
FUZZ_SETTINGS = settings(
    deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck)
)


@pytest.fixture(autouse=True)
def _media_settings(settings):
    settings.RECORD_CALLS = False
    settings.MEDIA_MAX_BAD_FRAMES = MAX_BAD_FRAMES
    # Cases send up to a second of audio every 20 ms: the clock check would drop most of it,
    # which the model does not replay (tests/telephony/media/test_session.py pins that rule).
    settings.MEDIA_EARLY_ALLOWANCE_MS = 60_000
    settings.BRIDGE = "echo"
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


async def play(call: Call, case: MediaCase) -> tuple[MediaSession, Socket]:
    socket, clock = Socket(), Clock()
    session = MediaSession(
        call=call,
        bridge=EchoBridge(),
        transport=socket,
        wire=WIRE,
        clock=clock,
        sleep=clock.sleep,
    )
    if case.auth_token:
        session.expect_auth_token(TOKEN)
    for frame in case.frames:
        if frame.binary is None:
            await session.on_message(frame.text)
        else:
            await session.on_message(None, frame.binary)
        clock.now += 0.02
        await asyncio.sleep(0)  # the sender's turn
    await session.finish("fuzz: the socket closed")
    await tasks.drain()  # the events it stores in the background, and its cancelled heartbeat
    return session, socket


def check_the_session(session: MediaSession, socket: Socket, case: MediaCase) -> None:
    expected, stats = case.expected, session.inbound
    assert socket.closes == ([expected.close] if expected.close else []), socket.closes
    counted = (stats.malformed, stats.frames, stats.other_track, stats.unknown_events)
    assert counted == (expected.malformed, expected.frames, expected.other_track, expected.unknown)
    assert stats.carrier_errors == expected.errors
    for task in (session._sender_task, session._heartbeat_task):
        assert task is None or task.done(), f"{task} outlived the session"
    for text in socket.sent:  # whole 20 ms PCMU frames, marks and clears, nothing else
        message = json.loads(text)
        assert message["event"] in ("media", "mark", "clear"), text
        if message["event"] == "media":
            assert len(base64.b64decode(message["media"]["payload"], validate=True)) == 160


def check_the_call(call: Call, case: MediaCase) -> None:
    # Plain SQL: the ORM costs ten times the query, and this runs 10,000 times.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT frames_in, frames_malformed, media_encoding, media_sample_rate, status"
            " FROM calls_call WHERE id = %s",
            [call.pk.hex],
        )
        row = cursor.fetchone()
    codec = case.expected.codec or ("", None)
    # The session records statistics, never the call's state.
    assert row == (case.expected.frames, case.expected.malformed, *codec, "streaming")


def test_every_frame_sequence_ends_with_the_right_close_code_and_true_statistics(
    runner, server_errors
):
    call = Call.objects.create(
        direction="inbound", status="streaming", bridge="echo", call_control_id="v3:fuzz"
    )
    played = []

    @settings(FUZZ_SETTINGS, max_examples=CASES)
    @given(case=media_cases())
    def run(case: MediaCase) -> None:
        session, socket = runner.run(play(call, case))
        errors = server_errors.take()
        assert not errors, errors
        check_the_session(session, socket, case)
        check_the_call(call, case)
        played.append(case.expected.close)

    run()
    assert len(played) >= CASES
    assert CallEvent.objects.filter(call=call, type="media.stop").count() == len(played)
    assert {None, 1000, 1003, 1008} <= set(played)  # every ending, many times over
    assert min(played.count(code) for code in (None, 1000, 1003, 1008)) > CASES // 50


# Refusals through Channels ------------------------------------------------------------

APP = URLRouter(websocket_urlpatterns)


def _tokened_call(**fields) -> tuple[Call, str]:
    call = Call(direction="inbound", bridge="echo", **fields)
    token = call.issue_media_token(ttl_seconds=600)
    call.save()
    return call, token


def _segment(h, *, uuid_like: bool) -> str:
    if uuid_like:
        return str(uuid.UUID(int=h.rng.getrandbits(128)))
    text = h.text(60, min_size=1, surrogates=False).replace("/", "").replace("\x00", "") or "x"
    return quote(text, safe="")


@st.composite
def refused_connections(draw, calls: dict[str, tuple[Call, str]]):
    """(path, headers) for a media socket that must be refused."""
    h = draw(hostiles)
    target = ("unknown", "garbage", "live", "ended", "used", "expired")[pick(draw, 6)]
    if target in ("unknown", "garbage"):
        call_id = _segment(h, uuid_like=target == "unknown")
        token = _segment(h, uuid_like=False)
    else:
        call, right = calls[target]
        call_id = str(call.pk)
        token = right if pick(draw, 2) else _segment(h, uuid_like=False)
    headers = []
    header = pick(draw, 4)
    if header or (target == "live" and token == calls["live"][1]):
        # A wrong streaming auth header; the right token in the path does not make up for it.
        # Printable ASCII only: a non-ASCII header is a known crash (test_regressions.py).
        wrong = ["", "wrong", TOKEN, h.url_safe(1, 60), "Bearer x"]
        if target in ("ended", "used", "expired"):  # the right header, and still refused
            wrong.append(calls[target][1])
        value = h.rng.choice(wrong)
        headers.append((b"x-telnyx-streaming-auth-token", value.encode() or b"-"))
    return f"/telnyx/media/{call_id}/{token}", headers


def test_hostile_media_connections_are_always_refused_with_1008(runner, server_errors):
    now = timezone.now()
    calls = {
        "live": _tokened_call(status="answered"),
        "ended": _tokened_call(status="ended", ended_at=now),
        "used": _tokened_call(status="streaming"),
        "expired": _tokened_call(status="answered"),
    }
    Call.objects.filter(pk=calls["used"][0].pk).update(media_token_used_at=now)
    Call.objects.filter(pk=calls["expired"][0].pk).update(
        media_token_expires_at=now - timedelta(seconds=1)
    )
    tried = []

    async def connect(path: str, headers: list) -> tuple[bool, object]:
        communicator = WebsocketCommunicator(APP, path, headers=headers)
        accepted, code = await communicator.connect()
        await communicator.disconnect()
        return accepted, code

    @settings(FUZZ_SETTINGS, max_examples=REFUSALS)
    @given(connection=refused_connections(calls))
    def run(connection) -> None:
        path, headers = connection
        accepted, code = runner.run(connect(path, headers))
        assert not server_errors.take()
        assert (accepted, code) == (False, 1008), path
        tried.append(path)

    run()
    assert len(tried) >= REFUSALS
    # No refusal used the live call's token up: it still opens the stream.
    live, token = calls["live"]
    assert runner.run(connect(f"/telnyx/media/{live.pk}/{token}", [])) == (True, None)
    runner.run(tasks.drain())
    assert not server_errors.take()
