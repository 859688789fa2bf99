from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from telephony.media.codecs import get_codec
from telephony.media.pacing import MAX_PENDING_MARKS, PacedSender, Pacer, Reframer

FRAME_S = 0.020
EPS = 1e-5  # the pacer's microsecond tolerance, plus float rounding


class FakeTime:
    """A clock that only moves when the code under test sleeps."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += max(seconds, 0.0)
        await asyncio.sleep(0)


def pcm(n: int, value: int = 0) -> np.ndarray:
    return np.full(n, value, dtype=np.int16)


@dataclass
class Harness:
    time: FakeTime
    sender: PacedSender
    # ("media", time, samples) and ("mark", time, name), in the order sent.
    events: list[tuple[str, float, object]] = field(default_factory=list)
    # Called after each media frame is recorded, e.g. to barge in mid-stream.
    after_media: Callable[[], None] | None = None

    @property
    def frames(self) -> list[list[int]]:
        return [payload.tolist() for kind, _, payload in self.events if kind == "media"]  # type: ignore[attr-defined]

    @property
    def send_times(self) -> list[float]:
        return [at for kind, at, _ in self.events if kind == "media"]

    async def run_to_end(self) -> None:
        """Run the sender until it has sent all it can, then stop it."""
        task = asyncio.create_task(self.sender.run())
        while True:
            sent = len(self.events)
            await settle()
            if len(self.events) == sent:
                break
        self.sender.close()
        await asyncio.wait_for(task, timeout=5)


def make_harness(encoding: str = "PCMU", **kwargs: object) -> Harness:
    fake = FakeTime()

    async def send(frame: np.ndarray) -> None:
        h.events.append(("media", fake.now, frame))
        if h.after_media is not None:
            h.after_media()

    async def send_mark(name: str) -> None:
        h.events.append(("mark", fake.now, name))

    sender = PacedSender(
        send,
        get_codec(encoding),
        send_mark=send_mark,
        clock=fake.clock,
        sleep=fake.sleep,
        **kwargs,  # type: ignore[arg-type]
    )
    h = Harness(fake, sender)
    return h


async def settle() -> None:
    """Let the sender task run until it blocks waiting for audio."""
    for _ in range(50):
        await asyncio.sleep(0)


# Reframer


def test_reframer_returns_only_whole_frames_and_keeps_the_remainder():
    reframer = Reframer(160, 0xFF)
    frames = reframer.push(bytes(400))
    assert [len(f) for f in frames] == [160, 160]
    assert reframer.flush() == bytes(80) + b"\xff" * 80


def test_reframer_joins_the_remainder_with_the_next_push():
    reframer = Reframer(4, 0xFF)
    assert reframer.push(b"ab") == []
    assert reframer.push(b"cdefg") == [b"abcd"]
    assert reframer.push(b"h") == [b"efgh"]


@pytest.mark.parametrize(
    ("encoding", "pad"), [("PCMU", b"\xff"), ("PCMA", b"\xd5"), ("L16", b"\x00")]
)
def test_reframer_pads_the_tail_with_codec_silence(encoding, pad):
    codec = get_codec(encoding)
    reframer = Reframer.for_codec(codec)
    reframer.push(b"\x01" * 10)
    tail = reframer.flush()
    assert tail == b"\x01" * 10 + pad * (codec.frame_bytes - 10)
    assert reframer.flush() is None


def test_reframer_flush_returns_none_when_nothing_is_pending():
    reframer = Reframer(160, 0xFF)
    reframer.push(bytes(320))
    assert reframer.flush() is None


def test_reframer_clear_drops_the_remainder():
    reframer = Reframer(160, 0xFF)
    reframer.push(bytes(100))
    reframer.clear()
    assert reframer.flush() is None


def test_reframer_accepts_silence_as_a_single_byte_string():
    reframer = Reframer(4, b"\xd5")
    reframer.push(b"a")
    assert reframer.flush() == b"a\xd5\xd5\xd5"


@pytest.mark.parametrize(("frame_bytes", "silence"), [(0, 0xFF), (160, b"\xff\xff"), (160, b"")])
def test_reframer_rejects_bad_arguments(frame_bytes, silence):
    with pytest.raises(ValueError, match=r"frame_bytes|silence_byte"):
        Reframer(frame_bytes, silence)


@given(st.lists(st.binary(max_size=500), max_size=20))
def test_reframer_yields_the_same_frames_however_the_stream_is_chunked(chunks):
    reframer = Reframer(160, 0xFF)
    frames = [frame for chunk in chunks for frame in reframer.push(chunk)]
    tail = reframer.flush()
    if tail is not None:
        frames.append(tail)
    stream = b"".join(chunks)
    assert all(len(frame) == 160 for frame in frames)
    assert b"".join(frames) == stream + b"\xff" * (-len(stream) % 160)


# Pacer


def test_pacer_lets_frames_out_at_once_until_the_lead_is_full():
    fake = FakeTime()
    pacer = Pacer(max_lead_ms=100, clock=fake.clock)
    for _ in range(5):
        assert pacer.delay() == 0
        pacer.on_sent()
    assert pacer.lead_ms() == pytest.approx(100)
    assert pacer.delay() == pytest.approx(FRAME_S)


def test_pacer_delay_keeps_the_lead_at_max_lead_once_full():
    fake = FakeTime()
    pacer = Pacer(max_lead_ms=60, clock=fake.clock)
    for _ in range(50):
        fake.now += pacer.delay()
        pacer.on_sent()
        assert pacer.lead_ms() <= 60 + EPS
    assert pacer.max_lead_seen_ms == pytest.approx(60)


def test_pacer_playout_end_advances_one_frame_per_send_from_now():
    fake = FakeTime()
    pacer = Pacer(clock=fake.clock)
    pacer.on_sent()
    assert pacer.playout_end == pytest.approx(1000.020)
    fake.now = 1000.5  # the far end went idle: playout restarts from now
    pacer.on_sent()
    assert pacer.playout_end == pytest.approx(1000.520)


def test_pacer_lets_a_late_sender_catch_up():
    fake = FakeTime()
    pacer = Pacer(max_lead_ms=100, clock=fake.clock)
    for _ in range(5):
        pacer.on_sent()
    fake.now += 0.070  # the sender overslept: the lead fell to 30 ms
    sent_at_once = 0
    while pacer.delay() == 0:
        pacer.on_sent()
        sent_at_once += 1
    assert sent_at_once == 3  # refilled back to 100 ms


def test_pacer_always_allows_one_frame_when_max_lead_is_below_a_frame():
    fake = FakeTime()
    pacer = Pacer(max_lead_ms=5, clock=fake.clock)
    pacer.on_sent()
    assert pacer.delay() == pytest.approx(FRAME_S)
    fake.now += pacer.delay()
    assert pacer.delay() == 0
    pacer.on_sent()
    assert pacer.max_lead_seen_ms == pytest.approx(20)


def test_pacer_reset_forgets_the_far_end_queue():
    fake = FakeTime()
    pacer = Pacer(clock=fake.clock)
    for _ in range(5):
        pacer.on_sent()
    pacer.reset()
    assert pacer.lead_ms() == 0
    assert pacer.delay() == 0
    assert pacer.ran_dry()


def test_pacer_counts_an_underrun_once_per_dry_spell():
    fake = FakeTime()
    pacer = Pacer(clock=fake.clock)
    pacer.on_sent()
    assert not pacer.note_idle(speaking=True)  # the far end still has 20 ms
    fake.now += 0.025
    assert pacer.note_idle(speaking=True)
    fake.now += 0.020
    assert not pacer.note_idle(speaking=True)  # same spell
    pacer.on_sent()
    fake.now += 0.025
    assert pacer.note_idle(speaking=True)  # a new spell after a send
    assert pacer.underruns == 2


def test_pacer_does_not_count_idle_time_when_nobody_is_speaking():
    fake = FakeTime()
    pacer = Pacer(clock=fake.clock)
    pacer.on_sent()
    fake.now += 1
    assert not pacer.note_idle(speaking=False)
    assert pacer.underruns == 0


# PacedSender: framing and cadence


async def test_sender_sends_only_exact_20ms_frames():
    h = make_harness()
    for size in (1, 99, 160, 333, 17):
        h.sender.feed(pcm(size, 1))
    h.sender.end_of_utterance()
    await h.run_to_end()
    assert all(len(frame) == 160 for frame in h.frames)
    samples = [sample for frame in h.frames for sample in frame]
    assert samples == [1] * 610 + [0] * 30  # the tail padded with silence


async def test_sender_frames_at_the_codecs_rate_and_counts_encoded_bytes():
    h = make_harness("L16")  # 16 kHz, two bytes a sample
    h.sender.feed(pcm(100, 7))
    h.sender.end_of_utterance()
    await h.run_to_end()
    assert h.frames == [[7] * 100 + [0] * 220]
    assert (h.sender.frames_sent, h.sender.bytes_sent) == (1, 640)


async def test_sender_takes_any_integer_pcm_as_int16():
    h = make_harness()
    h.sender.feed(np.full(160, 40_000, dtype=np.int32))
    await h.run_to_end()
    assert h.frames == [[32767] * 160]


async def test_sender_fills_the_lead_then_sends_every_20ms():
    h = make_harness(max_lead_ms=100)
    start = h.time.now
    h.sender.feed(pcm(160 * 20))
    await h.run_to_end()
    times = [t - start for t in h.send_times]
    assert times[:5] == [0.0] * 5
    gaps = [b - a for a, b in itertools.pairwise(times[4:])]
    assert gaps == pytest.approx([FRAME_S] * 15)


@pytest.mark.parametrize("max_lead_ms", [10, 20, 60, 100, 160])
async def test_sender_lead_never_exceeds_max_lead(max_lead_ms):
    h = make_harness(max_lead_ms=max_lead_ms)
    h.sender.feed(pcm(160 * 40))
    await h.run_to_end()
    # One frame must always be in flight, so the bound is at least a frame.
    assert h.sender.max_lead_seen_ms <= max(max_lead_ms, 20) + EPS


@settings(max_examples=40, deadline=None)
@given(
    chunks=st.lists(st.integers(min_value=0, max_value=700), min_size=1, max_size=15),
    max_lead_ms=st.integers(min_value=0, max_value=300),
)
def test_sender_keeps_framing_and_lead_for_any_chunking(chunks, max_lead_ms):
    async def scenario() -> Harness:
        h = make_harness(max_lead_ms=max_lead_ms)
        for size in chunks:
            h.sender.feed(pcm(size, 2))
        h.sender.end_of_utterance()
        await h.run_to_end()
        return h

    # A private loop: asyncio.run() would unset the loop pytest-asyncio installed.
    loop = asyncio.new_event_loop()
    try:
        h = loop.run_until_complete(scenario())
    finally:
        loop.close()
    total = sum(chunks)
    assert all(len(frame) == 160 for frame in h.frames)
    assert len(h.frames) == -(-total // 160)
    assert h.sender.max_lead_seen_ms <= max(max_lead_ms, 20) + EPS
    # Real-time pace: frame n is never sent before (n * 20 ms - lead) has passed.
    start = h.send_times[0] if h.send_times else 0
    for n, at in enumerate(h.send_times):
        assert at - start >= n * FRAME_S - max(max_lead_ms, 20) / 1000 - EPS


async def test_sender_paces_with_the_real_clock():
    sent: list[float] = []

    async def send(frame: np.ndarray) -> None:
        sent.append(time.monotonic())
        if len(sent) == 10:
            sender.close()

    sender = PacedSender(send, get_codec("PCMU"), max_lead_ms=40)
    sender.feed(pcm(160 * 10))
    started = time.monotonic()
    await asyncio.wait_for(sender.run(), timeout=5)
    # 10 frames with a 40 ms lead: the last leaves about 160 ms after the first.
    assert len(sent) == 10
    assert sent[-1] - started >= 0.150


# PacedSender: barge-in


async def test_clear_drops_the_queue_and_leaves_at_most_the_lead_playing():
    h = make_harness(max_lead_ms=100)
    lead_at_clear: list[float] = []
    dropped: list[int] = []

    def barge_in_after_30_frames() -> None:
        if len(h.events) == 30:
            lead_at_clear.append(h.sender.lead_ms())
            dropped.append(h.sender.clear())

    h.after_media = barge_in_after_30_frames
    h.sender.feed(pcm(160 * 100 + 80))
    await h.run_to_end()
    assert len(h.frames) == 30
    assert dropped == [70]
    assert lead_at_clear[0] <= 100 + EPS  # the audio that can still play after clear
    assert h.sender.lead_ms() == 0
    assert h.sender.cleared_frames == 70


async def test_clear_returns_zero_when_nothing_is_queued():
    h = make_harness()
    assert h.sender.clear() == 0


async def test_clear_drops_the_reframer_remainder():
    h = make_harness()
    h.sender.feed(pcm(100))
    h.sender.clear()
    h.sender.end_of_utterance()
    await h.run_to_end()
    assert h.frames == []


async def test_audio_fed_after_clear_goes_out_at_once():
    h = make_harness(max_lead_ms=100)
    task = asyncio.create_task(h.sender.run())
    h.sender.feed(pcm(160 * 50))
    await settle()
    h.sender.clear()
    cleared_at = h.time.now
    h.sender.feed(pcm(160 * 5, 3))
    await settle()
    after = [t for kind, t, p in h.events if kind == "media" and p[0] == 3]  # type: ignore[index]
    assert after == [cleared_at] * 5  # the lead refills at once after a clear
    h.sender.close()
    await task


# PacedSender: underruns


async def test_sender_counts_one_underrun_per_dry_spell_mid_utterance():
    h = make_harness()
    task = asyncio.create_task(h.sender.run())
    h.sender.feed(pcm(160 * 3))
    await settle()
    assert h.sender.underruns == 0  # 60 ms still queued at the far end
    h.time.now += 0.061
    assert h.sender.underruns == 1  # the producer fell behind
    h.time.now += 0.5
    await settle()
    assert h.sender.underruns == 1  # still the same gap
    h.sender.feed(pcm(160 * 3))
    await settle()
    assert h.sender.underruns == 1  # the frames that end it
    h.time.now += 0.061
    assert h.sender.underruns == 2
    h.sender.close()
    await task
    assert h.sender.underruns == 2


# PacedSender: sending from the producer's task


async def test_a_batch_sends_what_the_lead_allows_and_leaves_the_rest_to_run():
    h = make_harness(max_lead_ms=60)
    async with h.sender.batch():
        h.sender.feed(pcm(160 * 5))
        assert h.frames == []  # nothing leaves while the batch is open
    assert len(h.frames) == 3  # 60 ms of lead, sent at once from this task
    assert set(h.send_times) == {h.time.now}
    task = asyncio.create_task(h.sender.run())
    await settle()
    assert len(h.frames) == 5  # run() paced the other two
    assert h.send_times[3] == pytest.approx(h.send_times[0] + FRAME_S)
    h.sender.close()
    await task


async def test_a_batch_does_not_wake_the_sender_when_it_sent_everything():
    h = make_harness()
    task = asyncio.create_task(h.sender.run())
    await settle()
    async with h.sender.batch():
        h.sender.feed(pcm(160))
        h.sender.mark("m1")
    assert len(h.frames) == 1
    assert h.events[-1][::2] == ("mark", "m1")
    assert not h.sender._wakeup.is_set()  # the sending task sleeps on
    h.sender.close()
    await task


async def test_a_batch_defers_to_run_while_it_is_mid_send():
    h = make_harness()
    release = asyncio.Event()
    sent: list[int] = []

    async def slow_send(frame: np.ndarray) -> None:
        sent.append(int(frame[0]))
        await release.wait()

    h.sender._send = slow_send
    task = asyncio.create_task(h.sender.run())
    h.sender.feed(pcm(160, 1))
    await settle()  # run() is inside the send of frame 1
    async with h.sender.batch():
        h.sender.feed(pcm(160, 2))
    assert sent == [1]  # frame 2 waits its turn rather than overtaking
    release.set()
    await settle()
    assert sent == [1, 2]
    h.sender.close()
    await task


async def test_audio_fed_in_a_batch_that_fails_is_left_to_run():
    h = make_harness()
    task = asyncio.create_task(h.sender.run())
    await settle()

    async def feed_then_fail() -> None:
        async with h.sender.batch():
            h.sender.feed(pcm(160, 4))
            raise RuntimeError("a bridge bug")

    with pytest.raises(RuntimeError):
        await feed_then_fail()
    assert h.frames == []  # not sent from the failing task
    await settle()
    assert h.frames == [[4] * 160]
    h.sender.feed(pcm(160, 5))  # and feeding wakes the sender again
    await settle()
    assert len(h.frames) == 2
    h.sender.close()
    await task


async def test_silence_after_end_of_utterance_is_not_an_underrun():
    h = make_harness()
    task = asyncio.create_task(h.sender.run())
    h.sender.feed(pcm(160 * 3))
    h.sender.end_of_utterance()
    await settle()
    h.time.now += 5
    await settle()
    h.sender.feed(pcm(160 * 3))
    h.sender.end_of_utterance()
    await settle()
    assert h.sender.underruns == 0
    h.sender.close()
    await task


async def test_waiting_for_the_first_frame_is_not_an_underrun():
    h = make_harness()
    task = asyncio.create_task(h.sender.run())
    h.sender.feed(pcm(100))  # less than a frame
    await settle()
    assert h.sender.underruns == 0
    h.sender.close()
    await task


# PacedSender: marks


async def test_marks_are_sent_after_the_audio_they_follow():
    h = make_harness()
    h.sender.feed(pcm(160 * 10))
    h.sender.mark("first")
    h.sender.feed(pcm(160 * 5))
    h.sender.end_of_utterance()
    h.sender.mark("second")
    await h.run_to_end()
    kinds = [kind if kind == "media" else payload for kind, _, payload in h.events]
    assert kinds == ["media"] * 10 + ["first"] + ["media"] * 5 + ["second"]
    assert h.sender.pending_marks == ["first", "second"]


async def test_an_echoed_mark_moves_from_pending_to_played():
    h = make_harness()
    h.sender.feed(pcm(160))
    h.sender.mark("a")
    h.sender.mark("b")
    await h.run_to_end()
    assert h.sender.on_mark_echoed("a")
    assert h.sender.pending_marks == ["b"]
    assert list(h.sender.played_marks) == ["a"]


async def test_marks_telnyx_never_echoes_are_forgotten_past_a_bound():
    h = make_harness()
    for n in range(MAX_PENDING_MARKS + 500):
        h.sender.mark(f"m{n}")
    await h.run_to_end()
    assert len(h.sender.pending_marks) == MAX_PENDING_MARKS
    assert h.sender.pending_marks[-1] == f"m{MAX_PENDING_MARKS + 499}"
    assert not h.sender.on_mark_echoed("m0")  # forgotten: its echo is not a play
    assert h.sender.on_mark_echoed(f"m{MAX_PENDING_MARKS + 499}")


async def test_marks_returned_by_clear_do_not_count_as_played():
    h = make_harness()
    h.sender.feed(pcm(160 * 3))
    h.sender.mark("before-barge-in")
    await h.run_to_end()
    h.sender.clear()
    assert not h.sender.on_mark_echoed("before-barge-in")
    assert list(h.sender.played_marks) == []
    assert h.sender.pending_marks == []


async def test_marks_still_queued_at_clear_are_never_sent():
    h = make_harness()
    h.sender.feed(pcm(160 * 3))
    h.sender.mark("never")
    h.sender.clear()
    await h.run_to_end()
    assert h.events == []


async def test_an_unknown_mark_echo_is_ignored():
    h = make_harness()
    assert not h.sender.on_mark_echoed("stranger")


async def test_mark_needs_a_send_mark_callback():
    async def send(frame: np.ndarray) -> None:
        pass

    sender = PacedSender(send, get_codec("PCMU"))
    with pytest.raises(RuntimeError, match="send_mark"):
        sender.mark("x")


# PacedSender: bounds, shutdown and counters


async def test_a_flooding_producer_loses_the_oldest_frames_only():
    h = make_harness(max_queue_ms=100)  # room for five frames
    for n in range(8):
        h.sender.feed(pcm(160, n))
    h.sender.mark("kept")
    await h.run_to_end()
    assert [frame[0] for frame in h.frames] == [3, 4, 5, 6, 7]
    assert h.sender.dropped_frames == 3
    assert h.sender.pending_marks == ["kept"]


async def test_flood_shedding_keeps_marks_queued_before_the_dropped_audio():
    h = make_harness(max_queue_ms=40)  # room for two frames
    h.sender.mark("start")
    for n in range(3):
        h.sender.feed(pcm(160, n))
    await h.run_to_end()
    assert [p if k == "mark" else p[0] for k, _, p in h.events] == ["start", 1, 2]  # type: ignore[index]


async def test_close_stops_at_once_and_drops_what_is_queued():
    h = make_harness()
    h.sender.feed(pcm(160 * 50))
    h.sender.close()
    await asyncio.wait_for(h.sender.run(), timeout=5)
    assert h.frames == []


async def test_close_stops_an_idle_sender():
    h = make_harness()
    task = asyncio.create_task(h.sender.run())
    await settle()
    h.sender.close()
    await asyncio.wait_for(task, timeout=5)


async def test_the_counters_describe_what_was_sent():
    h = make_harness(max_lead_ms=60)
    start = h.time.now
    h.sender.feed(pcm(160 * 10))
    await h.run_to_end()
    sender = h.sender
    assert (sender.frames_sent, sender.bytes_sent, sender.first_send_at) == (10, 1600, start)
    assert sender.max_lead_seen_ms == pytest.approx(60)
    assert (sender.underruns, sender.dropped_frames, sender.queued_frames) == (0, 0, 0)


# PacedSender: the agent audio lag stays bounded after a stall (issue 13, item 4)

SPEECH, QUIET = 1000, 0  # frame levels far above and below AGENT_SPEECH_DBFS (about 184)


class RealTimeSource:
    """Drives a sender as the echo bridge does on a worker that stalls.

    Frame n is spoken at n * 20 ms and fed in its own batch as soon as the worker runs
    (MediaSession._on_media); a stall delivers the frames spoken meanwhile all at once when
    it ends, as a socket does. The far end plays what it gets back to back (Telnyx's playout
    queue), so a frame's added latency is when it starts playing minus when it was spoken.
    """

    def __init__(self, h: Harness) -> None:
        self.h, self.start, self.fed = h, h.time.now, 0

    async def speak(self, levels: list[int], *, stall_s: float = 0.0) -> None:
        self.h.time.now += stall_s
        for level in levels:
            spoken_at = self.start + self.fed * FRAME_S
            self.h.time.now = max(self.h.time.now, spoken_at)
            async with self.h.sender.batch():
                # The frame's number rides in its first sample; the rest sets its level.
                frame = pcm(160, level)
                frame[0] = self.fed
                self.h.sender.feed(frame)
            self.fed += 1

    def latencies(self) -> dict[int, float]:
        """Frame number -> added latency (s), for every frame that was sent."""
        played_until, latency = 0.0, {}
        for kind, at, payload in self.h.events:
            if kind == "media":
                starts = max(at, played_until)
                played_until = starts + FRAME_S
                n = int(payload[0])  # type: ignore[index]
                latency[n] = starts - (self.start + n * FRAME_S)
        return latency


async def stalled_call(
    max_lag_ms: int | None, stall: list[int], after: list[int]
) -> RealTimeSource:
    h = make_harness(max_lead_ms=100, max_lag_ms=max_lag_ms)
    source = RealTimeSource(h)
    await source.speak([SPEECH] * 50)
    # The worker stalls for as long as the stall's frames last: they arrive together at its end.
    await source.speak(stall, stall_s=len(stall) * FRAME_S)
    await source.speak(after)
    await h.run_to_end()  # the far end hears what is still queued
    return source


async def test_without_a_bound_a_stall_adds_its_length_to_the_rest_of_the_call():
    source = await stalled_call(None, [SPEECH] * 30, [SPEECH] * 100)
    latency = source.latencies()
    assert max(latency[n] for n in range(50)) == pytest.approx(0)
    # The far end ran dry during the stall (600 ms from the last frame before it was fed) and
    # plays on from its end: everything after it is heard 580 ms late, for the rest of the call.
    assert [round(latency[n], 6) for n in range(50, 180)] == [0.58] * 130
    assert source.h.sender.shed_frames == 0


async def test_a_stall_longer_than_the_bound_is_shed_back_under_it():
    source = await stalled_call(200, [SPEECH] * 30, [SPEECH] * 100)
    latency = source.latencies()
    after = [latency[n] for n in range(80, 180)]
    assert max(after) <= 0.200 + EPS
    assert source.h.sender.lag_ms() <= 200 + EPS * 1000


async def test_the_oldest_queued_audio_is_shed_first_and_counted():
    source = await stalled_call(200, [SPEECH] * 30, [SPEECH] * 100)
    sender = source.h.sender
    sent = set(source.latencies())
    lost = sorted(set(range(source.fed)) - sent)
    # Five stalled frames fill the lead and five more the bound; the 20 after them push the
    # oldest queued ones out, one each: frames 55 to 74 are shed, 75 onwards are heard.
    assert lost == list(range(55, 75))
    assert sender.shed_frames == len(lost) == 20
    assert sender.frames_sent + sender.shed_frames == source.fed


async def test_silence_is_shed_before_speech_and_drains_the_backlog():
    # The stall ends in a pause that goes on after it: 25 frames of speech, 5 of silence, then
    # 10 more of silence and speech again.
    stall = [SPEECH] * 25 + [QUIET] * 5
    source = await stalled_call(200, stall, [QUIET] * 10 + [SPEECH] * 90)
    sender, latency = source.h.sender, source.latencies()
    lost = set(range(source.fed)) - set(latency)
    quiet = set(range(75, 90))
    # Speech is cut only to keep under the bound (the oldest queued, 55 to 69); the pause
    # is what is shed after that, not the speech queued before it.
    assert sorted(lost - quiet) == list(range(55, 70))
    assert {70, 71, 72, 73, 74} <= set(latency)
    assert sender.shed_frames == len(lost) == 15 + 9
    # With the backlog drained in the pause, speech after it is heard within the lead.
    assert max(latency[n] for n in range(90, 180)) <= 0.100 + EPS


async def test_the_same_stall_without_a_pause_cuts_more_speech():
    source = await stalled_call(200, [SPEECH] * 30, [SPEECH] * 100)
    speech_lost = set(range(130)) - set(source.latencies())
    assert len(speech_lost) == 20  # against 15 when the stall ended in a pause


async def test_an_agent_that_keeps_up_sheds_nothing_and_pays_no_level_check(monkeypatch):
    h = make_harness(max_lead_ms=100, max_lag_ms=200)
    checked = []
    monkeypatch.setattr(type(h.sender._voiced), "reached_by", lambda self, s: checked.append(1))
    source = RealTimeSource(h)
    await source.speak([SPEECH, QUIET] * 100)
    assert h.sender.shed_frames == 0
    assert checked == []  # measured only when the agent is behind
    assert max(source.latencies().values()) == pytest.approx(0)


async def test_the_bound_leaves_room_for_the_lead_and_a_frame():
    # A bound under the lead would shed audio the sender queues on purpose.
    h = make_harness(max_lead_ms=100, max_lag_ms=50)
    h.sender.feed(pcm(160 * 6, SPEECH))  # the lead and one frame
    assert (h.sender.queued_frames, h.sender.shed_frames) == (6, 0)
    h.sender.feed(pcm(160, SPEECH))
    assert (h.sender.queued_frames, h.sender.shed_frames) == (6, 1)


async def test_shedding_keeps_marks_and_utterance_ends():
    h = make_harness(max_lead_ms=20, max_lag_ms=40)
    h.sender.feed(pcm(160, SPEECH))
    h.sender.mark("a")
    for _ in range(3):
        h.sender.feed(pcm(160, SPEECH))
    await h.run_to_end()
    assert h.sender.shed_frames == 2
    assert [k for k, _, _ in h.events] == ["mark", "media", "media"]
