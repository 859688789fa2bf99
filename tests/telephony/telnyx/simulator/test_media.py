from __future__ import annotations

import asyncio
import base64
import itertools
import statistics
import time

import numpy as np
import pytest

from telephony.media.codecs import get_codec
from telephony.simulation.scenario import Scenario
from telephony.telnyx.simulator.calls import SimCall, StreamParams
from telephony.telnyx.simulator.media import MediaCaller

pytestmark = pytest.mark.timeout(30)


class Hooks:
    def __init__(self) -> None:
        self.seen: list[str] = []

    def connected(self, media: MediaCaller) -> None:
        self.seen.append("connected")

    def ended(self, media: MediaCaller) -> None:
        self.seen.append("ended")

    def failed(self, media: MediaCaller) -> None:
        self.seen.append("failed")


def caller_for(url: str, scenario: Scenario | None = None, **stream) -> tuple[MediaCaller, Hooks]:
    stream.setdefault("bidirectional_mode", "rtp")
    call = SimCall(
        scenario=scenario or Scenario(),
        direction="incoming",
        from_="+15550001111",
        to="+15550100000",
        connection_id="1",
        webhook_url="http://x.test",
        client_state="b3Vy",
    )
    hooks = Hooks()
    media = MediaCaller(
        call,
        StreamParams(url=url, **stream),
        user_id="user-1",
        on_connected=hooks.connected,
        on_ended=hooks.ended,
        on_failed=hooks.failed,
    )
    return media, hooks


async def running(media: MediaCaller) -> asyncio.Task:
    return asyncio.create_task(media.run())


def tone_payload(ms: int, codec: str = "PCMU") -> str:
    samples = (np.sin(np.arange(8 * ms) / 3) * 8000).astype(np.int16)
    return base64.b64encode(get_codec(codec).encode(samples)).decode()


async def test_it_opens_with_connected_then_start(echo_server):
    media, hooks = caller_for(echo_server.url)
    task = await running(media)

    await echo_server.wait_frames("media", 3)
    await media.stop()
    await task

    connected, start = echo_server.frames[:2]
    assert connected == {"event": "connected", "version": "1.0.0"}
    assert start["event"] == "start"
    assert start["sequence_number"] == "1"
    assert start["stream_id"] == media.stream.stream_id
    assert start["start"]["call_control_id"] == media.call.call_control_id
    assert start["start"]["client_state"] == "b3Vy"
    assert start["start"]["custom_parameters"] == {}
    assert start["start"]["media_format"] == {
        "encoding": "PCMU",
        "sample_rate": 8000,
        "channels": 1,
    }
    assert hooks.seen == ["connected", "ended"]


async def test_it_sends_media_with_string_counters_rising_steadily(echo_server):
    media, _ = caller_for(echo_server.url)
    task = await running(media)

    frames = await echo_server.wait_frames("media", 5)
    await media.stop()
    await task

    first = frames[0]
    assert first["media"]["track"] == "inbound"
    assert first["stream_id"] == media.stream.stream_id
    assert len(base64.b64decode(first["media"]["payload"])) == 160
    assert [f["sequence_number"] for f in frames[:5]] == ["2", "3", "4", "5", "6"]
    assert [f["media"]["chunk"] for f in frames[:5]] == ["1", "2", "3", "4", "5"]
    assert [f["media"]["timestamp"] for f in frames[:5]] == ["0", "20", "40", "60", "80"]


async def test_it_paces_media_at_one_frame_every_20_ms(echo_server):
    media, _ = caller_for(echo_server.url)
    task = await running(media)

    await echo_server.wait_frames("media", 26)
    await media.stop()
    await task

    pairs = zip(echo_server.frames, echo_server.arrival, strict=True)
    times = [t for f, t in pairs if f["event"] == "media"]
    elapsed = times[25] - times[0]
    assert 0.4 < elapsed < 0.65
    assert statistics.median(b - a for a, b in itertools.pairwise(times)) == pytest.approx(
        0.02, abs=0.008
    )


async def test_it_sends_the_auth_token_as_a_header_and_in_connected(echo_server):
    media, _ = caller_for(echo_server.url, auth_token="secret-token")
    task = await running(media)

    await echo_server.wait_frames("start")
    await media.stop()
    await task

    assert echo_server.request_headers["x-telnyx-streaming-auth-token"] == "secret-token"
    assert echo_server.frames[0]["connected"] == {"x-telnyx-streaming-auth-token": "secret-token"}


async def test_it_sends_stop_then_closes_without_a_status_code(echo_server):
    media, _ = caller_for(echo_server.url)
    task = await running(media)
    await echo_server.wait_frames("media")

    await media.stop()
    await task
    await asyncio.wait_for(echo_server.closed.wait(), 2)

    stop = echo_server.frames[-1]
    assert stop["event"] == "stop"
    assert stop["stop"] == {"user_id": "user-1", "call_control_id": media.call.call_control_id}
    assert int(stop["sequence_number"]) > int(echo_server.of("media")[-1]["sequence_number"])
    assert echo_server.close_code == 1005
    assert media.stats.closed_by == "carrier"


async def test_it_echoes_a_mark_at_once_when_nothing_is_playing(echo_server):
    echo_server.echo = False
    media, _ = caller_for(echo_server.url)
    task = await running(media)
    await echo_server.wait_frames("start")

    await echo_server.send({"event": "mark", "mark": {"name": "idle"}})
    [mark] = await echo_server.wait_frames("mark")
    await media.stop()
    await task

    assert mark["mark"] == {"name": "idle"}
    assert mark["stream_id"] == media.stream.stream_id
    assert mark["sequence_number"].isdigit()


async def test_it_echoes_a_mark_when_the_audio_before_it_has_played(echo_server):
    echo_server.echo = False
    media, _ = caller_for(echo_server.url)
    task = await running(media)
    await echo_server.wait_frames("start")
    loop = asyncio.get_running_loop()

    sent_at = loop.time()
    await echo_server.send({"event": "media", "media": {"payload": tone_payload(300)}})
    await echo_server.send({"event": "mark", "mark": {"name": "after-300ms"}})
    await echo_server.wait_frames("mark")
    waited = loop.time() - sent_at
    await media.stop()
    await task

    assert 0.28 < waited < 0.45
    assert media.stats.marks_echoed == 1


async def test_it_flushes_on_clear_and_still_plays_later_audio(echo_server):
    echo_server.echo = False
    media, _ = caller_for(echo_server.url)
    task = await running(media)
    await echo_server.wait_frames("start")

    await echo_server.send({"event": "media", "media": {"payload": tone_payload(2000)}})
    await echo_server.send({"event": "mark", "mark": {"name": "a"}})
    await echo_server.send({"event": "mark", "mark": {"name": "b"}})
    await echo_server.send({"event": "clear"})
    marks = await echo_server.wait_frames("mark", 2, timeout=0.5)
    await echo_server.send({"event": "media", "media": {"payload": tone_payload(100)}})
    await echo_server.send({"event": "mark", "mark": {"name": "c"}})
    marks = await echo_server.wait_frames("mark", 3, timeout=1)
    await media.stop()
    await task

    assert [m["mark"]["name"] for m in marks] == ["a", "b", "c"]
    assert media.stats.clears == 1
    assert media.stats.frames_received == 2


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (tone_payload(10), 100003),  # 10 ms: under the 20 ms minimum
        ("not*base64", 100004),
    ],
)
async def test_it_answers_bad_media_with_an_error_frame(echo_server, payload, code):
    echo_server.echo = False
    media, _ = caller_for(echo_server.url)
    task = await running(media)
    await echo_server.wait_frames("start")

    await echo_server.send({"event": "media", "media": {"payload": payload}})
    [error] = await echo_server.wait_frames("error")
    await media.stop()
    await task

    assert error["stream_id"] == media.stream.stream_id
    assert error["payload"]["code"] == code
    assert error["payload"]["title"] == ("malformed_frame" if code == 100003 else "invalid_media")
    assert media.stats.errors_sent == [code]


async def test_it_rate_limits_mp3_mode_to_one_message_a_second(echo_server):
    echo_server.echo = False
    media, _ = caller_for(echo_server.url, bidirectional_mode="mp3")
    task = await running(media)
    await echo_server.wait_frames("start")

    for _ in range(2):
        await echo_server.send({"event": "media", "media": {"payload": "SUQzBA=="}})
    [error] = await echo_server.wait_frames("error")
    await media.stop()
    await task

    assert error["payload"]["code"] == 100005


async def test_it_measures_the_round_trip_through_an_echoing_server(echo_server):
    media, _ = caller_for(echo_server.url)
    task = await running(media)

    await echo_server.wait_frames("media", 60)
    await media.stop()
    await task

    stats = media.stats
    assert stats.frames_sent >= 60
    assert stats.frames_received >= 50
    assert len(stats.rtt_ms) > 20
    assert stats.rtt_p50_ms is not None
    assert stats.rtt_p50_ms < 20
    assert stats.max_gap_ms < 100


async def test_with_a_quiet_tail_every_echo_is_back_before_the_stop(echo_server):
    media, _ = caller_for(echo_server.url, Scenario(duration_s=1.5, quiet_tail_s=0.5))
    task = await running(media)
    await asyncio.sleep(1.5)
    tail = [f["media"]["payload"] for f in echo_server.frames[-20:] if f["event"] == "media"]
    await media.stop()
    await task

    silence = base64.b64encode(get_codec("PCMU").silence(160)).decode()
    assert set(tail) == {silence}  # the last half second is codec silence
    assert media.rtt is not None
    assert media.rtt.tracked > 10
    assert media.stats.echoes_missing == 0
    assert len(media.stats.rtt_ms) == media.rtt.tracked


async def test_a_stream_that_starts_late_still_goes_quiet_before_the_far_party_hangs_up(
    echo_server,
):
    # The carrier hangs up duration_s after the answer; this stream starts 4 s into a 5 s
    # call (a busy server), so counted from its own start its tail would come after the end.
    media, _ = caller_for(echo_server.url, Scenario(duration_s=5.0, quiet_tail_s=0.5))
    media.call.hangs_up_at = time.monotonic() + 1.0
    task = await running(media)
    await asyncio.sleep(1.0)
    await media.stop()
    await task

    silence = base64.b64encode(get_codec("PCMU").silence(160)).decode()
    payloads = [f["media"]["payload"] for f in echo_server.of("media")]
    assert len(payloads) >= 40
    assert silence not in payloads[:20]  # speech at first
    assert set(payloads[-20:]) == {silence}  # the last 0.4 s before the hang-up is quiet
    assert media.stats.echoes_missing == 0
    assert media.stats.first_frame_at is not None


async def test_echoes_that_never_come_back_are_counted_missing(echo_server):
    echo_server.echo = False
    media, _ = caller_for(echo_server.url)
    task = await running(media)
    await echo_server.wait_frames("media", 40)
    await media.stop()
    await task

    assert media.stats.echoes_missing == media.rtt.tracked > 0
    assert media.stats.rtt_ms == []


async def test_it_matches_an_echo_transcoded_to_another_codec(echo_server):
    echo_server.echo = False
    media, _ = caller_for(echo_server.url, Scenario(codec="PCMA"), bidirectional_codec="PCMU")
    task = await running(media)
    pcma, pcmu = get_codec("PCMA"), get_codec("PCMU")
    for frame in await echo_server.wait_frames("media", 40):
        heard = pcma.decode(base64.b64decode(frame["media"]["payload"]))
        payload = base64.b64encode(pcmu.encode(heard)).decode()
        await echo_server.send({"event": "media", "media": {"payload": payload}})
    await media.stop()
    await task

    assert echo_server.frames[1]["start"]["media_format"]["encoding"] == "PCMA"
    assert media.stats.rtt_ms


async def test_it_streams_l16_at_16_khz_big_endian(echo_server):
    media, _ = caller_for(echo_server.url, codec="L16", bidirectional_codec="L16")
    task = await running(media)

    frames = await echo_server.wait_frames("media", 30)
    await media.stop()
    await task

    assert echo_server.frames[1]["start"]["media_format"]["sample_rate"] == 16000
    sizes = {len(base64.b64decode(f["media"]["payload"])) for f in frames}
    assert sizes == {640}
    loud = max(frames, key=lambda f: len(set(base64.b64decode(f["media"]["payload"]))))
    raw = base64.b64decode(loud["media"]["payload"])
    big = np.frombuffer(raw, dtype=">i2").astype(np.int32)
    little = np.frombuffer(raw, dtype="<i2").astype(np.int32)
    # Speech is smooth: read in the right byte order, neighbouring samples are close.
    assert np.abs(np.diff(big)).mean() < np.abs(np.diff(little)).mean()
    assert media.stats.rtt_ms


async def test_it_swaps_some_frames_when_asked_to_reorder(echo_server):
    media, _ = caller_for(echo_server.url, Scenario(reorder_media=True))
    task = await running(media)

    frames = await echo_server.wait_frames("media", 15)
    await media.stop()
    await task

    chunks = [int(f["media"]["chunk"]) for f in frames[:15]]
    assert chunks != sorted(chunks)
    assert sorted(chunks) == list(range(1, 16))


async def test_it_sends_both_tracks_on_one_stream(echo_server):
    media, _ = caller_for(echo_server.url, track="both_tracks")
    task = await running(media)

    frames = await echo_server.wait_frames("media", 6)
    await media.stop()
    await task

    assert {f["media"]["track"] for f in frames} == {"inbound", "outbound"}
    assert len({f["stream_id"] for f in frames}) == 1


async def test_it_sends_dtmf_frames(echo_server):
    media, _ = caller_for(echo_server.url)
    task = await running(media)
    await echo_server.wait_frames("start")

    await media.send_dtmf("5")
    [dtmf] = await echo_server.wait_frames("dtmf")
    await media.stop()
    await task

    assert dtmf["dtmf"] == {"digit": "5"}
    assert dtmf["occurred_at"].endswith("Z")
    assert dtmf["sequence_number"].isdigit()


async def test_it_notices_the_server_closing_the_socket(echo_server):
    media, hooks = caller_for(echo_server.url)
    task = await running(media)
    await echo_server.wait_frames("media")

    await echo_server.connection.close(1000)
    await asyncio.wait_for(task, 2)

    assert media.stats.closed_by == "server"
    assert media.stats.close_code == 1000
    assert hooks.seen == ["connected", "ended"]


async def test_it_reports_a_refused_connection():
    media, hooks = caller_for("ws://127.0.0.1:9/telnyx/media")

    await asyncio.wait_for(media.run(), 5)

    assert hooks.seen == ["failed"]
    assert media.stats.failed.startswith("connection_failed")
    assert media.call.media_reports == [media.stats]
