"""A conversation through the real StreamBridge: added latency each way, barge-in, marks, CPU.

The bridge runs for real (uplink pump, SDK AudioStreamTrack and AudioForwarder, Downlink with
its StreamResamplers, caller VAD, presence) against the test suite's faithful doubles
(tests/telephony/bridges/fakes.py): Stream's REST API behind the real AsyncStream, `FakeJoin`
taking `--joins` seconds to connect, the published track paced as the Rust track paces it
(`PacedLocalTrack`: one 20 ms frame per 20 ms tick, held until the publisher connects), and
the agent as `RemoteVoice`: one packet per 20 ms, with silence packets in its pauses (a stock
Vision Agents agent) or none (DTX). Offline: no network, no credentials, a throwaway SQLite.

From 1 s after the join, the caller and the agent repeat a 4.4 s exchange for `--seconds`:
the agent says a 1 s sentence (it should end with a mark), the caller answers for 0.9 s, the
agent says a 0.6 s sentence and the caller talks over it from 0.3 s in, until after the agent
fell silent (a barge-in: the bridge must clear Telnyx's playout). Reported per run:

- up p50/p99: phonebridge's added caller->encoder latency, from a caller frame being fed to
  its last sample leaving the paced track (speech frames; each carries its own value), and
  "lost", speech frames that never reached the encoder;
- down p50/p99: an agent speech packet arriving to its last sample reaching the phone's sink;
- mark p99 / clear p99: the agent's last speech packet to the mark (utterance end) and to the
  barge-in clear;
- sentences, marks, clears: what the agent said, and what the sink was told;
- CPU ms/call-s: this process's CPU (all threads, `time.process_time`) per second of
  conversation, one call at a time, and "loop", the event loop thread's alone
  (`time.thread_time`; the rest is the Rust client's threads and SQLite's). Both include the
  doubles: the caller, the agent's PcmData packets, the paced track and the real Rust
  LocalAudioTrack it writes every frame to (under cProfile, roughly three quarters of the loop
  thread's CPU), so they are upper bounds for the bridge;
- doubles, bridge, br loop: a baseline call with the doubles alone and no StreamBridge, same
  length and pause style (the caller awaiting `PacedLocalTrack.write_pcm` with each 8 kHz
  frame, as the SDK's AudioForwarder would, the track pacing from the start, the agent's
  RemoteVoice emitting its PcmData packets to a connection nobody listens to), and the
  bridge's own CPU per call-second: total minus baseline, all threads and loop thread alone.
  The subtraction charges to the bridge everything the doubles do only because a bridge is
  there (the sink's bookkeeping, the `audio` handler's call), and leaves in the baseline
  nothing the bridge does itself; it is noisy at the level of ~0.5 ms/call-s (one run each).

    uv run python bench/bench_conversation.py                    # ~2.5 minutes
    uv run python bench/bench_conversation.py --seconds 60       # the issue's 60 s calls
    uv run python bench/bench_conversation.py --joins 1.5 --styles dtx --repeats 3
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CYCLE_S = 4.4  # one exchange; the script below, in seconds from the start of a cycle
AGENT_SAYS = ((0.0, 1.0, 1000.0), (2.6, 0.6, 700.0))  # (start, length, tone Hz)
CALLER_TALKS = ((1.4, 2.3), (2.9, 3.7))  # (start, stop): an answer, then talking over
SPEECH = 1000  # caller speech frames carry SPEECH + frame number: loud, and unique
QUIET = 1  # the caller's quiet frames: far under the VAD's threshold
SETTLE_S = 1.0  # measured from this long after the publish
HEADER = (
    f"{'join s':>6} {'pauses':>8} {'up p50':>6} {'up p99':>6} {'lost':>4} {'down p50':>8} "
    f"{'down p99':>8} {'mark p99':>8} {'clear p99':>9} {'sentences':>9} {'marks':>5} "
    f"{'clears':>6} {'CPU ms/call-s':>13} {'loop':>8} {'doubles':>7} {'bridge':>6} {'br loop':>7}"
)


@dataclass
class Run:
    up_ms: list[float] = field(default_factory=list)
    lost: int = 0
    down_ms: list[float] = field(default_factory=list)
    mark_ms: list[float] = field(default_factory=list)
    clear_ms: list[float] = field(default_factory=list)
    sentences: int = 0
    marks: int = 0
    clears: int = 0
    cpu_s: float = 0.0
    loop_cpu_s: float = 0.0
    call_s: float = 0.0
    base_cpu_s: float = 0.0  # the doubles alone (baseline_call), per the same call_s
    base_loop_cpu_s: float = 0.0


def set_up_django(tmp: str) -> None:
    # The test suite's settings: a clean environment (no .env, no real endpoints).
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    import django
    from django.conf import settings
    from django.core.management import call_command

    settings.DATABASES["default"]["NAME"] = f"{tmp}/bench.sqlite3"  # before any connection
    django.setup()
    from tests.telephony.bridges.fakes import API_KEY, API_SECRET

    overrides = {
        "BRIDGE": "stream",
        "STREAM_API_KEY": API_KEY,
        "STREAM_API_SECRET": API_SECRET,
        "STREAM_BASE_URL": "",
        "STREAM_CALL_TYPE": "default",
        "STREAM_AGENT_USER_ID": "ai-agent",
        "STREAM_JOIN_TIMEOUT": 15.0,
        "AGENT_SERVER_URL": "",  # the agent is the RemoteVoice below, already summoned
        "STREAM_BIDIRECTIONAL_CODEC": "PCMU",
        "CHANNEL_LAYERS": {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}},
    }
    for name, value in overrides.items():
        setattr(settings, name, value)
    call_command("migrate", verbosity=0)
    logging.disable(logging.INFO)  # "joined the Stream call in … ms", once per run
    warnings.filterwarnings("ignore", "Missing value of non-optional type", RuntimeWarning)


class Caller:
    """Telnyx's side: a 20 ms frame every 20 ms from the start of the call, talking per the
    script once `t0` (the conversation's start, loop time) is known."""

    def __init__(self, bridge: object) -> None:
        self.bridge = bridge
        self.t0: float | None = None
        self.fed: dict[int, float] = {}  # speech mark -> loop time fed

    def talking(self, now: float) -> bool:
        if self.t0 is None or now < self.t0:
            return False
        at = (now - self.t0) % CYCLE_S
        return any(start <= at < stop for start, stop in CALLER_TALKS)

    async def run(self, until: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        tick, k = loop.time(), 0
        while not until.is_set():
            now = loop.time()
            mark = SPEECH + k if self.talking(now) else QUIET
            if mark >= SPEECH:
                self.fed[mark] = now
            self.bridge.feed_caller_audio(np.full(160, mark, dtype=np.int16))  # type: ignore[attr-defined]
            k += 1
            tick += 0.02
            await asyncio.sleep(max(0.0, tick - loop.time()))


def agent_voice(connection: object, dtx: bool):  # type: ignore[no-untyped-def]
    """RemoteVoice, noting when each packet carrying speech left it."""
    from tests.telephony.bridges.fakes import RemoteVoice

    class NotedVoice(RemoteVoice):
        voiced: list[float]

        def _emit(self, chunk: np.ndarray) -> None:
            if np.abs(chunk).max() >= 1000:
                self.voiced.append(asyncio.get_running_loop().time())
            super()._emit(chunk)

    voice = NotedVoice(connection, "ai-agent", "agent-1", dtx=dtx)  # type: ignore[arg-type]
    voice.voiced = []
    return voice


async def agent_script(voice, t0: float, cycles: int) -> int:  # type: ignore[no-untyped-def]
    from tests.telephony.bridges.fakes import tone

    loop, said = asyncio.get_running_loop(), 0
    for cycle in range(cycles):
        for start, seconds, freq in AGENT_SAYS:
            await asyncio.sleep(max(0.0, t0 + cycle * CYCLE_S + start - loop.time()))
            voice.say(tone(freq, seconds, 48000))
            said += 1
    return said


def uplink_ms(caller: Caller, encoded: list[tuple[float, np.ndarray]]) -> tuple[list[float], int]:
    last_encoded: dict[int, float] = {}
    for at, frame in encoded:
        for value in np.unique(frame):
            last_encoded[int(value)] = at
    latencies = [(last_encoded[m] - at) * 1000 for m, at in caller.fed.items() if m in last_encoded]
    return latencies, len(caller.fed) - len(latencies)


def downlink_ms(voiced: list[float], sink) -> list[float]:  # type: ignore[no-untyped-def]
    """Per speech packet: until the sink held as many samples of its utterance as the packet
    ended at (8 kHz: 160 a packet). Utterances are told apart by the sink's end and clear."""
    out: list[tuple[float, int]] = []  # (loop time, samples so far in this utterance)
    segments: list[list[tuple[float, int]]] = [out]
    audio = iter(sink.audio)
    for what, at in sink.log:
        if what == "audio":
            out.append((at, (out[-1][1] if out else 0) + len(next(audio)[0])))
        else:
            out = []
            segments.append(out)
    latencies, packets = [], _utterances(voiced)
    for sent, got in zip(packets, segments, strict=False):
        for i, emitted in enumerate(sent):
            reached = next((at for at, n in got if n >= 160 * (i + 1) - RESAMPLER_HOLD), None)
            if reached is not None:
                latencies.append((reached - emitted) * 1000)
    return latencies


def _utterances(voiced: list[float]) -> list[list[float]]:
    groups: list[list[float]] = []
    for at in voiced:
        if not groups or at - groups[-1][-1] > 0.1:
            groups.append([])
        groups[-1].append(at)
    return groups


def reactions_ms(voiced: list[float], times: list[float]) -> list[float]:
    """Per event: how long after the agent's last speech packet before it."""
    return [(t - max(v for v in voiced if v <= t)) * 1000 for t in times if voiced[0] <= t]


def _resampler_hold() -> int:
    """Samples a StreamResampler keeps back from the first 20 ms packet (its filter)."""
    import getstream_rtc

    first = getstream_rtc.StreamResampler(8000, 1).push(np.zeros(960, np.int16), 48000, 1)
    return 160 - len(first.samples)


RESAMPLER_HOLD = 0


async def one_call(join_s: float, dtx: bool, seconds: float) -> Run:
    from telephony import tasks
    from telephony.bridges import MediaFormat, preparation, stream_calls
    from telephony.bridges.stream import StreamBridge
    from tests.telephony.bridges.conftest import new_call
    from tests.telephony.bridges.fakes import FakeJoin, FakeStreamApi, RecordingSink
    from tests.telephony.bridges.test_stream_bridge import call_info

    api = FakeStreamApi()
    client = api.client()
    stream_calls.install_client(client)
    join = FakeJoin(connect_seconds=join_s)
    call = await new_call()
    await preparation.prepare(call_id=call.pk)
    bridge, sink = StreamBridge(join=join), RecordingSink()
    await bridge.start(call=call_info(call), media_format=MediaFormat("PCMU", 8000), sink=sink)
    caller, hung_up = Caller(bridge), asyncio.Event()
    calling = asyncio.ensure_future(caller.run(hung_up))

    connection = await join.connection(timeout=join_s + 5)
    connection.joins("ai-agent", "agent-1")
    voice = agent_voice(connection, dtx).start()
    cycles = max(1, int(seconds // CYCLE_S))
    t0 = caller.t0 = connection.published_at + SETTLE_S
    await asyncio.sleep(max(0.0, t0 - asyncio.get_running_loop().time()))
    cpu, loop_cpu, wall = time.process_time(), time.thread_time(), time.monotonic()
    said = await agent_script(voice, t0, cycles)
    await asyncio.sleep(max(0.0, t0 + cycles * CYCLE_S - asyncio.get_running_loop().time()))
    cpu, loop_cpu = time.process_time() - cpu, time.thread_time() - loop_cpu
    call_s = time.monotonic() - wall

    hung_up.set()
    await calling
    await voice.stop()
    await bridge.close("bench over")
    await tasks.drain()
    await client.aclose()

    up, lost = uplink_ms(caller, connection.published.encoded)
    return Run(
        up_ms=up,
        lost=lost,
        down_ms=downlink_ms(voice.voiced, sink),
        mark_ms=reactions_ms(voice.voiced, sink.at("end")),
        clear_ms=reactions_ms(voice.voiced, sink.at("interrupt")),
        sentences=said,
        marks=sink.utterance_ends,
        clears=sink.interrupts,
        cpu_s=cpu,
        loop_cpu_s=loop_cpu,
        call_s=call_s,
    )


class DoublesOnlyCaller(Caller):
    """The caller's frames straight into the paced track, as the SDK's AudioForwarder writes
    them (8 kHz mono int16, 20 ms), with no bridge in between."""

    def __init__(self, track) -> None:  # type: ignore[no-untyped-def]
        super().__init__(bridge=None)
        self.track = track

    async def run(self, until: asyncio.Event) -> None:
        import getstream_rtc

        loop = asyncio.get_running_loop()
        tick, k = loop.time(), 0
        while not until.is_set():
            now = loop.time()
            mark = SPEECH + k if self.talking(now) else QUIET
            if mark >= SPEECH:
                self.fed[mark] = now
            # As AudioForwarder: on overflow the oldest samples were dropped, the newest kept.
            with contextlib.suppress(getstream_rtc.PcmQueueOverflowError):
                await self.track.write_pcm(np.full(160, mark, dtype=np.int16), 8000, 1)
            k += 1
            tick += 0.02
            await asyncio.sleep(max(0.0, tick - loop.time()))


async def baseline_call(dtx: bool, seconds: float) -> tuple[float, float, float]:
    """The doubles' own CPU over the same script: (process s, loop thread s, wall s)."""
    from telephony.bridges.stream import UPLINK_BUFFER_MS
    from tests.telephony.bridges.fakes import FakeJoin, FakeRtcConnection, PacedLocalTrack

    # No `audio` listener: the packets are built and emitted, and nobody takes them.
    connection = FakeRtcConnection(None, "phone", None, FakeJoin())
    track = PacedLocalTrack(UPLINK_BUFFER_MS / 1000)  # as the bridge's track sizes it
    track.publisher_connected()
    caller, hung_up = DoublesOnlyCaller(track), asyncio.Event()
    calling = asyncio.ensure_future(caller.run(hung_up))
    voice = agent_voice(connection, dtx).start()
    cycles = max(1, int(seconds // CYCLE_S))
    t0 = caller.t0 = asyncio.get_running_loop().time() + SETTLE_S
    await asyncio.sleep(max(0.0, t0 - asyncio.get_running_loop().time()))
    cpu, loop_cpu, wall = time.process_time(), time.thread_time(), time.monotonic()
    await agent_script(voice, t0, cycles)
    await asyncio.sleep(max(0.0, t0 + cycles * CYCLE_S - asyncio.get_running_loop().time()))
    cpu, loop_cpu = time.process_time() - cpu, time.thread_time() - loop_cpu
    wall = time.monotonic() - wall
    hung_up.set()
    await calling
    await voice.stop()
    await track.stop()
    return cpu, loop_cpu, wall


def merge(runs: list[Run]) -> Run:
    total = Run()
    for run in runs:
        for name in ("up_ms", "down_ms", "mark_ms", "clear_ms"):
            getattr(total, name).extend(getattr(run, name))
        for name in (
            "lost", "sentences", "marks", "clears", "cpu_s", "loop_cpu_s", "call_s",
            "base_cpu_s", "base_loop_cpu_s",
        ):  # fmt: skip
            setattr(total, name, getattr(total, name) + getattr(run, name))
    return total


def row(join_s: float, style: str, run: Run) -> str:
    def pct(values: list[float], p: float) -> str:
        # Under 10 ms (the downlink's hand-over), a decimal shows more than "0".
        figure = np.percentile(values, p) if values else None
        return "-" if figure is None else f"{figure:.{1 if figure < 10 else 0}f}"

    cpu = run.cpu_s / run.call_s * 1000 if run.call_s else 0.0
    loop_cpu = run.loop_cpu_s / run.call_s * 1000 if run.call_s else 0.0
    doubles = run.base_cpu_s / run.call_s * 1000 if run.call_s else 0.0
    doubles_loop = run.base_loop_cpu_s / run.call_s * 1000 if run.call_s else 0.0
    return (
        f"{join_s:>6g} {style:>8} {pct(run.up_ms, 50):>6} {pct(run.up_ms, 99):>6} "
        f"{run.lost:>4} {pct(run.down_ms, 50):>8} {pct(run.down_ms, 99):>8} "
        f"{pct(run.mark_ms, 99):>8} {pct(run.clear_ms, 99):>9} {run.sentences:>9} "
        f"{run.marks:>5} {run.clears:>6} {cpu:>13.1f} {loop_cpu:>8.1f} {doubles:>7.1f} "
        f"{cpu - doubles:>6.1f} {loop_cpu - doubles_loop:>7.1f}"
    )


async def main(args: argparse.Namespace) -> None:
    global RESAMPLER_HOLD
    RESAMPLER_HOLD = _resampler_hold()
    print(
        f"{args.seconds:g} s conversations ({int(args.seconds // CYCLE_S)} exchanges), "
        f"{args.repeats} per line; latencies in ms"
    )
    print(HEADER)
    baselines: dict[str, list[tuple[float, float, float]]] = {}  # per pause style, per repeat
    for join_s in args.joins:
        for style in args.styles:
            if style not in baselines:  # the doubles alone do not depend on the join time
                baselines[style] = [
                    await baseline_call(style == "dtx", args.seconds) for _ in range(args.repeats)
                ]
            runs = [
                await one_call(join_s, style == "dtx", args.seconds) for _ in range(args.repeats)
            ]
            for run, (base_cpu, base_loop, base_wall) in zip(runs, baselines[style], strict=True):
                # Scaled to this run's length (both are the same script; walls differ by ms).
                run.base_cpu_s = base_cpu / base_wall * run.call_s
                run.base_loop_cpu_s = base_loop / base_wall * run.call_s
            print(row(join_s, style, merge(runs)), flush=True)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="conversation per call")
    parser.add_argument("--repeats", type=int, default=1, help="calls per line")
    parser.add_argument(
        "--joins", type=lambda s: [float(x) for x in s.split(",")], default=[0.2, 1.5, 5.0]
    )
    parser.add_argument(
        "--styles", type=lambda s: s.split(","), default=["silence", "dtx"],
        help="the agent's pauses: silence packets, or none (dtx)",
    )  # fmt: skip
    return parser.parse_args()


if __name__ == "__main__":
    arguments = parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        set_up_django(tmp)
        asyncio.run(main(arguments))
