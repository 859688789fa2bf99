"""MediaSession as a pipeline, without Channels: frames in through a wire, a fake socket out."""

from __future__ import annotations

import asyncio
import base64
import json
import wave
from pathlib import Path

import numpy as np
import pytest
from asgiref.sync import sync_to_async

from calls.models import Call, CallEvent
from telephony import tasks
from telephony.bridges.echo import EchoBridge
from telephony.media.codecs import l16_encode, ulaw_encode
from telephony.media.session import MediaSession
from telephony.telnyx.wire import WIRE
from tests.fuzz.doubles import Clock, Socket

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _media_settings(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    settings.RECORD_CALLS = False
    settings.MEDIA_MAX_LEAD_MS = 100


class FrozenClock(Clock):
    """Time stands still: the sender sends what the lead allows and waits for ever."""

    async def sleep(self, seconds: float) -> None:
        if seconds >= 1:
            await asyncio.Event().wait()
        await asyncio.sleep(0)


def tone(n: int, rate: int = 8000, freq: float = 440.0) -> np.ndarray:
    return (8000 * np.sin(2 * np.pi * freq * np.arange(n) / rate)).astype(np.int16)


def start(encoding: str = "PCMU", rate: int = 8000) -> str:
    media_format = {"encoding": encoding, "sample_rate": rate}
    return json.dumps(
        {"event": "start", "stream_id": "s-1", "start": {"media_format": media_format}}
    )


def media(seq: int, payload: bytes) -> str:
    body = {"chunk": str(seq), "payload": base64.b64encode(payload).decode()}
    return json.dumps({"event": "media", "media": body})


async def new_session(clock: Clock | None = None) -> tuple[MediaSession, Socket, Clock]:
    call = await Call.objects.acreate(direction="inbound", status="streaming")
    socket, clock = Socket(), clock or Clock()
    session = MediaSession(
        call=call, bridge=EchoBridge(), transport=socket, wire=WIRE, clock=clock, sleep=clock.sleep
    )
    return session, socket, clock


async def yields(n: int = 20) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


def sent(socket: Socket, event: str = "media") -> list[dict]:
    return [m for m in map(json.loads, socket.sent) if m["event"] == event]


async def finish(session: MediaSession) -> None:
    await session.finish("test over")
    await tasks.drain()


def recorded(session: MediaSession, settings) -> tuple[int, np.ndarray, np.ndarray]:
    session.call.refresh_from_db()
    path = Path(settings.MEDIA_ROOT) / session.call.recording.name
    with wave.open(str(path)) as wav:
        stereo = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
        return wav.getframerate(), stereo[0::2], stereo[1::2]


# The echo, and what it costs ---------------------------------------------------------------


async def test_the_echo_leaves_from_the_frames_own_task_before_it_returns():
    session, socket, _ = await new_session()
    await session.on_message(start())
    payload = ulaw_encode(tone(160))
    await session.on_message(media(2, payload))
    # No yield in between: the sending task had no turn, the frame's own task sent it.
    assert [base64.b64decode(m["media"]["payload"]) for m in sent(socket)] == [payload]
    await finish(session)


async def test_agent_audio_from_the_bridges_own_task_wakes_the_sender():
    session, socket, _ = await new_session()
    await session.on_message(start())
    await yields()
    session.agent_audio(tone(160), 8000)
    assert sent(socket) == []
    await yields()
    assert len(sent(socket)) == 1
    await finish(session)


async def test_agent_audio_at_another_rate_is_resampled_to_the_codecs():
    session, socket, _ = await new_session()
    await session.on_message(start())
    session.agent_audio(tone(4800, rate=48000), 48000)  # 100 ms at 48 kHz
    await yields()
    sizes = [len(base64.b64decode(m["media"]["payload"])) for m in sent(socket)]
    assert len(sizes) >= 4  # the resampler holds a few samples back
    assert set(sizes) == {160}
    await finish(session)


# The conversation -------------------------------------------------------------------------


async def talk_then_pause(session: MediaSession, clock: Clock, seq: int = 2) -> int:
    """One second of speech then one of silence, in real time; return the next number."""
    for n in range(100):
        await session.on_message(media(seq + n, ulaw_encode(tone(160) if n < 50 else QUIET)))
        clock.now += 0.02
    return seq + 100


QUIET = np.zeros(160, dtype=np.int16)


async def test_a_caller_who_talks_then_pauses_gets_a_turn_as_quick_as_the_echo():
    session, _, clock = await new_session()
    await session.on_message(start())
    await talk_then_pause(session, clock)
    await finish(session)
    await session.call.arefresh_from_db()
    stored = session.call.conversation
    assert stored["turn_count"] == 1
    (turn,) = stored["turns"]
    # The echo answers each frame from the frame's own task: no wait, and so it talks over
    # the caller, which is what an echo does.
    assert turn["latency_ms"] == 0
    assert turn["agent_interrupted"] is True
    assert stored["caller_talk_ms"] == pytest.approx(1000, abs=20)
    assert stored["agent_talk_ms"] == pytest.approx(1000, abs=20)
    assert (stored["caller_interruptions"], stored["long_silences"]) == (0, 0)


async def test_a_barge_in_and_a_silence_are_stored_with_the_call():
    session, _, clock = await new_session()
    await session.on_message(start())
    seq = await talk_then_pause(session, clock)
    session.interrupt()  # as a bridge does when the caller talks over the agent
    for n in range(200):  # four more seconds without a word from anyone...
        await session.on_message(media(seq + n, ulaw_encode(QUIET)))
        clock.now += 0.02
    await talk_then_pause(session, clock, seq + 200)  # ...until the caller speaks up
    await finish(session)
    await session.call.arefresh_from_db()
    stored = session.call.conversation
    assert stored["caller_interruptions"] == session.barge_ins == 1
    assert stored["long_silences"] == 1
    assert stored["longest_silence_ms"] == pytest.approx(5000, abs=20)


# The recording ----------------------------------------------------------------------------


async def test_audio_cleared_by_a_barge_in_before_it_was_sent_is_not_recorded(settings):
    settings.RECORD_CALLS = True
    session, socket, _ = await new_session(FrozenClock())
    await session.on_message(start())
    agent = tone(3 * 8000)  # three seconds, far more than the 100 ms lead
    session.agent_audio(agent, 8000)
    await yields()
    assert len(sent(socket)) == 5  # 100 ms sent, the rest queued
    session.interrupt()
    for seq in range(2, 52):  # a second of silence from the caller, echoed
        await session.on_message(media(seq, ulaw_encode(np.zeros(160, dtype=np.int16))))
    await finish(session)
    rate, _, ours = await asyncio.to_thread(recorded, session, settings)
    assert rate == 8000
    assert ours[:800].tolist() == agent[:800].tolist()  # what was sent, before encoding
    assert not ours[800:].any()


async def test_an_l16_callers_recording_holds_our_8khz_answer_at_16khz(settings):
    settings.RECORD_CALLS = True
    session, _, clock = await new_session()
    await session.on_message(start("L16", 16000))
    caller = tone(16000 // 2, rate=16000, freq=1000)  # half a second
    for seq, at in enumerate(range(0, len(caller), 320), start=2):
        await session.on_message(media(seq, l16_encode(caller[at : at + 320])))
        clock.now += 0.02
        await yields(2)
    await finish(session)
    rate, theirs, ours = await asyncio.to_thread(recorded, session, settings)
    assert rate == 16000
    assert theirs[: len(caller)].tolist() == caller.tolist()
    steady = ours[1600:-1600].astype(float)  # the echo, once under way
    assert np.sqrt(np.mean(steady**2)) > 8000 / 2  # about the tone's 5657 RMS


# Refusals ---------------------------------------------------------------------------------


async def test_a_broken_media_frame_before_start_is_out_of_place_first_of_all():
    session, _, _ = await new_session()
    await session.on_message('{"event": "media", "media": {"payload": "@@@"}}')
    assert session.inbound.bad_reasons == {"media_before_start": 1}
    await finish(session)


async def test_while_the_token_is_awaited_a_frame_too_broken_to_read_is_only_bad():
    session, socket, _ = await new_session()
    session.expect_auth_token("secret")
    await session.on_message("{not json")
    await session.on_message(None, b"\x00")
    assert (session.inbound.bad_reasons, socket.closes) == (
        {"malformed_json": 1, "binary_frame": 1},
        [],
    )
    await finish(session)


async def test_while_the_token_is_awaited_any_other_frame_closes_the_stream():
    session, socket, _ = await new_session()
    session.expect_auth_token("secret")
    await session.on_message('{"event": "dtmf", "dtmf": {"digit": "!!"}}')  # even a bad one
    assert socket.closes == [1008]
    assert session.end_reason == "stream auth token missing"
    await tasks.drain()


async def test_an_oversized_text_is_bad_before_it_is_parsed(settings):
    settings.MEDIA_MAX_FRAME_BYTES = 100
    session, _, _ = await new_session()
    await session.on_message(json.dumps({"event": "stop", "pad": "x" * 100}))
    assert session.inbound.bad_reasons == {"oversized_frame": 1}
    assert not session.finished
    await finish(session)


# What a peer can make us keep (issue 13) ---------------------------------------------------


def dtmf(digit: str = "5") -> str:
    return json.dumps({"event": "dtmf", "dtmf": {"digit": digit}, "occurred_at": "now"})


def error(detail: str) -> str:
    payload = {"code": 100003, "title": "malformed_frame", "detail": detail}
    return json.dumps({"event": "error", "payload": payload})


async def stored(session: MediaSession, event_type: str) -> list[dict]:
    events = CallEvent.objects.filter(call_id=session.call.pk, type=event_type)
    return [event.payload async for event in events]


async def test_a_flood_of_dtmf_frames_is_capped_per_call_and_the_rest_only_counted(settings):
    settings.MEDIA_MAX_STORED_DTMF = 10
    session, _, _ = await new_session()
    await session.on_message(start())
    for _ in range(5000):
        await session.on_message(dtmf())
    await finish(session)
    assert len(await stored(session, "media.dtmf")) == 10
    assert await stored(session, "media.cap_reached") == [{"kind": "dtmf", "cap": 10}]
    await session.call.arefresh_from_db()
    assert session.call.media_events_dropped == 4990


async def test_error_frames_are_capped_clipped_and_their_log_lines_rate_limited(settings, caplog):
    settings.MEDIA_MAX_STORED_WARNINGS = 5
    session, _, _ = await new_session()
    await session.on_message(start())
    big = "x" * 60_000
    with caplog.at_level("INFO", logger="telephony"):
        for _ in range(2000):
            await session.on_message(error(big))
    await finish(session)
    logged = sum(len(record.getMessage()) for record in caplog.records)
    assert logged < 10_000  # was 2,000 lines of 60 KB: 120 MB
    assert session.inbound.carrier_errors == 2000  # every one counted all the same
    errors = await stored(session, "media.error")
    assert len(errors) == 5
    assert all(len(json.dumps(payload)) < 1000 for payload in errors)
    assert errors[0]["payload"]["code"] == 100003
    await session.call.arefresh_from_db()
    assert session.call.media_events_dropped == 1995


async def test_unknown_events_are_bad_frames_and_a_stream_of_them_is_closed(settings):
    settings.MEDIA_MAX_BAD_FRAMES = 3
    session, socket, _ = await new_session()
    await session.on_message(start())
    for n in range(4):
        await session.on_message(json.dumps({"event": f"nonsense-{n}" + "?" * 10_000}))
    await tasks.drain()
    assert session.inbound.bad_reasons == {"unknown_event": 4}
    assert socket.closes == [1008]
    details = [p["detail"] for p in await stored(session, "media.bad_frame")]
    assert len(details) == 4
    assert all(len(detail) < 120 for detail in details)


async def test_a_stored_payload_no_database_could_keep_is_stored_as_the_reason_instead():
    from telephony.media.session import _store_event

    call = await Call.objects.acreate(direction="inbound", status="streaming")
    await sync_to_async(_store_event)(call.pk, "media.dtmf", {"occurred_at": "a\x00b"})
    (payload,) = [e.payload async for e in CallEvent.objects.filter(call=call)]
    assert "NUL" in payload["unstorable"]


# The call's clock, not the peer's (issue 13) ------------------------------------------------


async def test_caller_audio_ahead_of_the_calls_clock_is_dropped_not_recorded(settings):
    settings.RECORD_CALLS = True
    settings.MEDIA_EARLY_ALLOWANCE_MS = 1000
    session, _, clock = await new_session()
    await session.on_message(start())
    second = ulaw_encode(tone(8000))
    for seq in range(2, 1002):  # 1,000 one-second frames in 1.8 s
        await session.on_message(media(seq, second))
        clock.now += 1.8 / 1000
    await finish(session)
    rate, theirs, _ = await asyncio.to_thread(recorded, session, settings)
    assert len(theirs) / rate <= 1.8 + 1.0 + 1.0  # the time that passed, the allowance, a frame
    await session.call.arefresh_from_db()
    assert session.call.frames_in + session.call.frames_early == 1000
    assert session.call.frames_early >= 996


async def test_caller_audio_in_real_time_is_never_early(settings):
    session, _, clock = await new_session()
    await session.on_message(start())
    for seq in range(2, 502):  # ten seconds, a little fast as a real clock may be
        await session.on_message(media(seq, ulaw_encode(tone(160))))
        clock.now += 0.0195
    await finish(session)
    assert (session.inbound.early, session.inbound.frames) == (0, 500)


async def test_a_recording_stops_at_its_cap_stays_a_valid_file_and_the_call_says_so(settings):
    settings.RECORD_CALLS = True
    settings.RECORDING_MAX_SECONDS = 1
    session, _, clock = await new_session()
    await session.on_message(start())
    for seq in range(2, 202):  # four seconds
        await session.on_message(media(seq, ulaw_encode(tone(160))))
        clock.now += 0.02
    await finish(session)
    rate, theirs, _ = await asyncio.to_thread(recorded, session, settings)
    assert len(theirs) == rate * 1
    (note,) = await stored(session, "media.recording_capped")
    assert note["max_seconds"] == 1
    (stop,) = await stored(session, "media.stop")
    assert stop["recording_capped"]["max_seconds"] == 1
    assert session.call.live_media["recording_capped"] is True


# Surviving a killed worker (issue 13) -------------------------------------------------------


async def test_the_recording_is_linked_to_the_call_as_soon_as_it_opens(settings):
    settings.RECORD_CALLS = True
    session, _, _ = await new_session()
    await session.on_message(start())
    await tasks.drain()
    await session.call.arefresh_from_db()
    assert session.call.recording.name == session.recording.name
    assert (Path(settings.MEDIA_ROOT) / session.call.recording.name).is_file()
    await finish(session)


async def test_a_second_stream_for_the_call_records_beside_the_first_not_over_it(settings):
    settings.RECORD_CALLS = True
    first, _, _ = await new_session()
    await first.on_message(start())
    await finish(first)
    second = MediaSession(
        call=first.call, bridge=EchoBridge(), transport=Socket(), wire=WIRE, clock=Clock()
    )
    await second.on_message(start())
    await finish(second)
    assert first.recording is not None
    assert second.recording is not None
    assert first.recording.name != second.recording.name


async def test_the_live_figures_reach_the_call_every_interval_while_it_streams(settings):
    settings.MEDIA_SNAPSHOT_SECONDS = 0.05
    call = await Call.objects.acreate(direction="inbound", status="streaming")
    socket = Socket()
    session = MediaSession(call=call, bridge=EchoBridge(), transport=socket, wire=WIRE)
    await session.on_message(start())
    for seq in range(2, 22):  # the echo answers each: agent audio goes out too
        await session.on_message(media(seq, ulaw_encode(tone(160))))
        await session.on_message(dtmf())
    for _ in range(100):  # real time: wait for a snapshot
        await asyncio.sleep(0.02)
        await call.arefresh_from_db()
        if call.live_media and call.live_media["frames_in"] == 20:
            break
    snapshot = call.live_media
    assert snapshot is not None
    assert snapshot["ended"] is False
    assert (call.frames_in, call.frames_malformed, snapshot["frames_in"]) == (20, 0, 20)
    assert snapshot["frames_out"] >= 1
    assert snapshot["agent_dbfs"] is not None
    assert -20 < snapshot["caller_dbfs"] < -10  # the 440 Hz tone at 8000/32768: -15 dBFS
    assert snapshot["conversation"]["caller_talk_ms"] >= 0
    assert "turns" not in snapshot
    assert {"lead_ms", "underruns", "frames_shed", "frames_early", "updated_at"} <= set(snapshot)
    assert session.live.written >= 1
    await finish(session)
    await call.arefresh_from_db()
    assert call.live_media["ended"] is True
    assert call.frames_in == 20


async def test_no_snapshot_is_written_while_the_clock_stands_still(settings):
    settings.MEDIA_SNAPSHOT_SECONDS = 2  # the fake clock's long sleeps never end
    session, _, _ = await new_session()
    await session.on_message(start())
    await yields()
    assert session.live.written == 0
    await finish(session)
