"""The bridge against getstream 7.0's REAL ConnectionManager, offline: only the Rust client
(`getstream_rtc.Client`) is replaced, so the SDK's own event pumps, `audio` events, track
publishing (a real LocalAudioTrack fed by the real AudioForwarder) and leave() run.

This leans on private internals of getstream 7.0.0 (stream-bridge.md §4.1): when an upgrade
breaks it, read the new connection_manager.py before trusting the fake join again.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import getstream_rtc
import numpy as np
import pytest

from telephony import tasks
from telephony.bridges import MediaFormat, preparation
from telephony.bridges.stream import StreamBridge
from tests.telephony.bridges.conftest import new_call
from tests.telephony.bridges.fakes import (
    SDK_FILLS_MISSING,
    FakeJoin,
    FakeRtcConnection,
    PacedLocalTrack,
    Participant,
    RecordingSink,
    eventually,
    snr_db,
    tone,
)
from tests.telephony.bridges.test_stream_bridge import call_info

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.filterwarnings(SDK_FILLS_MISSING),
]

_END = object()


class _Stream:
    """An SDK event or track stream: an async iterator that ends when the call is left."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Any] = asyncio.Queue()

    def __aiter__(self) -> _Stream:
        return self

    async def __anext__(self) -> Any:
        item = await self.queue.get()
        if item is _END:
            raise StopAsyncIteration
        return item


@dataclass
class _Frame:  # shaped like getstream_rtc.PcmFrame
    samples: np.ndarray
    sample_rate: int
    channels: int
    pts: int


class _RemoteTrack:
    track_type = getstream_rtc.TrackType.AUDIO

    def __init__(self, participant: Participant, samples_48k: np.ndarray) -> None:
        self.participant = participant
        self._frames = [
            _Frame(samples_48k[i : i + 960], 48000, 1, i) for i in range(0, len(samples_48k), 960)
        ]

    async def next_pcm(self) -> _Frame | None:
        return self._frames.pop(0) if self._frames else None


class _RustCall:
    def __init__(self, client: _RustClient, call_type: str, call_id: str) -> None:
        self.client, self.call_type, self.call_id = client, call_type, call_id
        self.streams = {name: _Stream() for name in ("sfu", "coordinator", "client", "tracks")}
        self.user_id = ""
        self.published: list[getstream_rtc.LocalAudioTrack] = []
        self.leaves = 0
        self.calling_state = getstream_rtc.CallingState.IDLE

    async def join(self, user_id: str, create: bool = True) -> None:
        self.user_id = user_id
        self.calling_state = getstream_rtc.CallingState.JOINED

    async def leave(self) -> None:
        self.leaves += 1
        self.calling_state = getstream_rtc.CallingState.LEFT
        for stream in self.streams.values():
            stream.queue.put_nowait(_END)

    def participants(self) -> list[Participant]:
        return [Participant(self.user_id, "phone-session"), Participant("ai-agent", "agent-1")]

    def sfu_events(self) -> _Stream:
        return self.streams["sfu"]

    def coordinator_events(self) -> _Stream:
        return self.streams["coordinator"]

    def client_events(self) -> _Stream:
        return self.streams["client"]

    def tracks(self) -> _Stream:
        return self.streams["tracks"]

    async def update_subscriptions(self, config: getstream_rtc.SubscriptionConfig) -> None:
        self.client.subscriptions.append(config)

    async def publish_audio(self, track: getstream_rtc.LocalAudioTrack) -> None:
        self.published.append(track)

    async def stop_publish_audio(self, track: getstream_rtc.LocalAudioTrack) -> None:
        pass


class _RustClient:
    made: list[_RustClient] = []

    def __init__(self, api_key: str, api_secret: str | None = None, **options: Any) -> None:
        self.api_key, self.options = api_key, options
        self.subscriptions: list[Any] = []
        self.calls: list[_RustCall] = []
        _RustClient.made.append(self)

    def call(self, call_type: str, call_id: str) -> _RustCall:
        self.calls.append(_RustCall(self, call_type, call_id))
        return self.calls[-1]


@pytest.fixture
def rust(monkeypatch):
    from getstream.video.rtc import connection_manager

    _RustClient.made = []
    monkeypatch.setattr(connection_manager.getstream_rtc, "Client", _RustClient)
    return _RustClient.made


async def test_the_real_connection_manager_carries_the_call(fake_stream, agent_server, rust):
    from getstream.video.rtc import join

    call = await new_call()
    await preparation.prepare(call_id=call.pk)
    bridge, sink = StreamBridge(join=join), RecordingSink()
    await bridge.start(call=call_info(call), media_format=MediaFormat("PCMU", 8000), sink=sink)
    await eventually(lambda: rust and rust[0].calls and rust[0].calls[0].published)
    rust_call = rust[0].calls[0]
    assert (rust_call.call_type, rust_call.call_id) == ("default", str(call.pk))
    assert rust_call.user_id == f"phone-{call.pk}"
    [subscription] = rust[0].subscriptions
    assert subscription.default.track_types == [getstream_rtc.TrackType.AUDIO]

    caller = tone(400, 0.2, 8000)
    for start in range(0, len(caller), 160):  # into the SDK's real LocalAudioTrack
        bridge.feed_caller_audio(caller[start : start + 160])
        await asyncio.sleep(0.02)
    assert bridge.describe()["uplink_frames"] == 10

    agent_voice = tone(1000, 0.6, 48000)
    rust_call.streams["tracks"].queue.put_nowait(
        _RemoteTrack(Participant("ai-agent", "agent-1"), agent_voice)
    )
    await eventually(lambda: sink.utterance_ends == 1)
    assert {rate for _, rate in sink.audio} == {8000}
    assert snr_db(sink.pcm()[400:4400], 1000, 8000) > 80

    rust_call.streams["sfu"].queue.put_nowait(_END)  # the SFU ends the call
    await eventually(lambda: sink.hang_ups)
    assert sink.hang_ups == ["the Stream call ended"]

    await bridge.close("stopped by Telnyx")
    await tasks.drain()
    assert rust_call.leaves == 1
    assert bridge.describe()["leave"] == "left"


@dataclass(frozen=True)
class _SfuError:
    """Shaped like getstream_rtc.Error (which Python cannot construct): the SFU's error event."""

    error: Any
    name: str = "error"
    reconnect_strategy: int = 0


@dataclass(frozen=True)
class _ErrorDetail:
    message: str
    code: int = 0


class _BrokenSink(RecordingSink):
    def hang_up(self, reason: str) -> None:
        raise RuntimeError("the sink broke")


async def test_a_failing_handler_is_logged_with_its_traceback_apart_from_sfu_errors(
    fake_stream, agent_server, rust, caplog
):
    from getstream.video.rtc import join

    call = await new_call()
    await preparation.prepare(call_id=call.pk)
    bridge = StreamBridge(join=join)
    await bridge.start(
        call=call_info(call), media_format=MediaFormat("PCMU", 8000), sink=_BrokenSink()
    )
    await eventually(lambda: rust and rust[0].calls and rust[0].calls[0].published)
    sfu = rust[0].calls[0].streams["sfu"]

    def logged() -> list[Any]:
        return [r for r in caplog.records if r.name == "telephony.bridges.stream"]

    caplog.clear()
    with caplog.at_level("WARNING", logger="telephony.bridges.stream"):
        # pyee, under the real ConnectionManager, routes the raising handler to `error`.
        sfu.queue.put_nowait(getstream_rtc.CallEnded())
        sfu.queue.put_nowait(_SfuError(_ErrorDetail("participant not found")))
        await eventually(lambda: len(logged()) >= 2)

    failed, sfu_error = logged()[:2]
    assert failed.levelname == "ERROR"
    assert failed.getMessage() == f"a Stream bridge event handler failed (call {call.pk})"
    assert failed.call_id == str(call.pk)
    assert failed.exc_info is not None
    assert str(failed.exc_info[1]) == "the sink broke"
    assert (sfu_error.levelname, sfu_error.getMessage(), sfu_error.exc_info) == (
        "WARNING",
        "Stream SFU error: participant not found",
        None,
    )
    await bridge.close("stopped by Telnyx")
    await tasks.drain()


# The published track's double against the real getstream_rtc.LocalAudioTrack ---------------


async def _overflows(track: Any, rate: int, writes: int) -> list[tuple[int, int] | None]:
    """What each of `writes` 20 ms writes at `rate` reported: None, or (dropped, capacity)."""
    seen: list[tuple[int, int] | None] = []
    for _ in range(writes):
        try:
            await track.write_pcm(np.full(rate // 50, 100, dtype=np.int16), rate, 1)
            seen.append(None)
        except getstream_rtc.PcmQueueOverflowError as error:
            seen.append((error.dropped_samples, error.capacity_samples))
    return seen


@pytest.mark.parametrize("capacity", [0.02, 0.04, 0.1])
async def test_the_paced_track_double_counts_its_queue_in_48_khz_samples_and_drops_the_oldest(
    capacity,
):
    # Neither is connected: the real track holds its queue offline, as the double does.
    real, double = (
        getstream_rtc.LocalAudioTrack(pcm_queue_capacity=capacity),
        PacedLocalTrack(capacity),
    )
    assert await _overflows(double, 48000, 8) == await _overflows(real, 48000, 8)
    # At 8 kHz the real resampler keeps a few samples back until the first overflow.
    real, double = (
        getstream_rtc.LocalAudioTrack(pcm_queue_capacity=capacity),
        PacedLocalTrack(capacity),
    )
    real_seen, double_seen = await _overflows(real, 8000, 8), await _overflows(double, 8000, 8)
    assert [s is None for s in double_seen] == [s is None for s in real_seen]
    first = next(i for i, s in enumerate(real_seen) if s is not None)
    assert double_seen[first + 1 :] == real_seen[first + 1 :]
    assert double_seen[first][1] == real_seen[first][1] == round(capacity * 48000)


async def test_the_paced_track_double_holds_its_queue_until_the_publisher_connects():
    real, double = getstream_rtc.LocalAudioTrack(pcm_queue_capacity=0.04), PacedLocalTrack(0.04)
    await _overflows(real, 48000, 2)
    await _overflows(double, 48000, 2)
    await asyncio.sleep(0.1)  # five ticks: a pacing track would have drained
    assert await _overflows(double, 48000, 1) == await _overflows(real, 48000, 1) == [(960, 1920)]

    double.publisher_connected()
    await asyncio.sleep(0.09)
    await double.stop()
    # One 20 ms frame per tick from the connect on, silence once the queue ran dry.
    assert 4 <= len(double.encoded) <= 6
    assert [int(frame.max()) for _, frame in double.encoded[:3]] == [100, 100, 0]
    assert {len(frame) for _, frame in double.encoded} == {960}


async def test_the_paced_track_double_ticks_as_the_sdks_own_paced_track():
    # The Rust pacer copies stream-py's paced AudioStreamTrack (local_track.rs says so), which
    # runs offline: one 20 ms frame per 20 ms, silence when starved, on a fixed grid.
    from getstream.video.rtc import AudioFormat, AudioStreamTrack, PcmData

    sdk = AudioStreamTrack(sample_rate=48000, pace=True)
    await sdk.write(
        PcmData(sample_rate=48000, format=AudioFormat.S16, samples=tone(440, 0.04, 48000))
    )
    double = PacedLocalTrack(0.1)
    await double.write_pcm(tone(440, 0.04, 48000), 48000, 1)
    loop = asyncio.get_running_loop()
    started = loop.time()
    double.publisher_connected()
    sdk_frames = [await sdk.recv() for _ in range(10)]
    elapsed = loop.time() - started
    await double.stop()
    voiced = [bool(f.to_ndarray().any()) for f in sdk_frames]
    assert voiced[:3] == [True, True, False]
    assert [bool(frame.any()) for _, frame in double.encoded[:3]] == voiced[:3]
    assert abs(len(double.encoded) - 10) <= 1
    assert 0.17 <= elapsed <= 0.25


# The remote audio double against the real ConnectionManager fed by a real paced publisher ----


class _PublishedTrack:
    """A remote track whose packets come off a real paced `AudioStreamTrack`, the clock of
    the publisher on the far side, with no network between: `next_pcm` returns each frame as
    `recv()` releases it, and ends after `packets`."""

    track_type = getstream_rtc.TrackType.AUDIO

    def __init__(self, participant: Participant, publisher: Any, packets: int) -> None:
        self.participant, self._publisher, self._left = participant, publisher, packets

    async def next_pcm(self) -> _Frame | None:
        if not self._left:
            return None
        self._left -= 1
        frame = await self._publisher.recv()
        return _Frame(frame.to_ndarray().reshape(-1), frame.sample_rate, 1, frame.pts)


async def test_the_remote_audio_double_arrives_in_real_time_as_the_real_sdk_delivers_it(
    fake_stream, rust
):
    from getstream.video.rtc import AudioFormat, AudioStreamTrack, PcmData, join

    loop = asyncio.get_running_loop()
    voice = tone(1000, 0.3, 48000)  # 15 packets
    publisher = AudioStreamTrack(sample_rate=48000, pace=True)
    await publisher.write(PcmData(sample_rate=48000, format=AudioFormat.S16, samples=voice))
    client = fake_stream.client()
    real = await join(client.video.call("default", "contract"), "phone-contract")
    double = FakeRtcConnection(None, "phone-contract", None, FakeJoin())
    heard: dict[str, list[tuple[float, Any]]] = {"real": [], "double": []}
    real.on("audio", lambda pcm: heard["real"].append((loop.time(), pcm)))
    double.on("audio", lambda pcm: heard["double"].append((loop.time(), pcm)))
    await real.connect()

    # The agent starts talking on both at the same moment.
    rust[0].calls[0].streams["tracks"].queue.put_nowait(
        _PublishedTrack(Participant("ai-agent", "agent-1"), publisher, packets=15)
    )
    double.remote_audio(voice, "ai-agent", session_id="agent-1")
    await eventually(lambda: len(heard["real"]) == 15, timeout=3)
    await double.remote_audio_sent()
    await real.leave()
    await double.leave()
    await client.aclose()

    for side in ("real", "double"):
        packets = [pcm for _, pcm in heard[side]]
        assert [(p.sample_rate, p.channels, len(p.samples)) for p in packets] == [
            (48000, 1, 960)
        ] * 15
        assert np.array_equal(np.concatenate([p.samples for p in packets]), voice)
        assert {p.participant.user_id for p in packets} == {"ai-agent"}
    offsets = {side: np.array([at for at, _ in heard[side]]) - heard[side][0][0] for side in heard}
    for side in ("real", "double"):  # one packet per 20 ms, never ahead of real time
        assert (offsets[side] >= np.arange(15) * 0.02 - 0.002).all(), side
    assert np.median(np.abs(offsets["double"] - offsets["real"])) <= 0.01
    assert abs(offsets["double"][-1] - offsets["real"][-1]) <= 0.03
