"""Media load: N simultaneous full-duplex calls against one phonebridge process, echo bridge.

Starts phonebridge under uvicorn (as in production; --server daphne to compare), or two
workers behind PostgreSQL and Redis with --workers 2, and plays the carrier in this process.
For each N it rings N calls, --arrival-rate a second, each streaming real speech in 20 ms
frames for --duration seconds and then half a second of silence before it hangs up (so every
echo of its speech has time to come back). Reported per N:

- lost: speech frames sent by the caller whose echo never came back;
- rtt p50/p99: caller frame out -> the same audio back, over every frame of every call;
- max gap: the largest gap in what the callers heard;
- answered after ringing: how long each caller rang before the answer, p50/p99/max;
- media began: how long after the answer each caller's first audio went out (the stream's
  set-up: the answer's webhooks and command, `streaming_start`, the media socket), p50/p99/max;
- CPU ms/call/s: the server's CPU (all threads, user + system) per call-second, over the whole
  run including call set-up and tear-down, and "steady" while all N calls are streaming;
- the server's steady CPU in one-second windows, least and most: the load is the same every
  second, so their spread is how much the machine's speed moved under the server (Steady);
- server CPU and gen CPU: the server's and this load generator's CPU, in % of one core. The
  two share the machine; a generator near 100% makes the figures pessimistic;
- the load generator's own loop: how late it ran while audio flowed (GeneratorLag). The
  generator times each echo when its loop gets to it, so a large figure means that level's
  round trips overstate the server's.

--json PATH also appends each level's figures to PATH, one JSON object a line, with whether
they meet the media load target (bench_burst.py reads them).

    uv run python bench/bench_media_load.py --levels 25,50,100,150
    uv run python bench/bench_media_load.py --levels 150 --arrival-rate 150   # all in 1 s
    # ... whose ends spread over 10 s (with equal lengths they would all end in one second)
    uv run python bench/bench_media_load.py --levels 150 --arrival-rate 150 --hangup-spread 10
    uv run python bench/bench_media_load.py --levels 150 --cpus 0,1   # server, generator pinned
    uv run python bench/bench_media_load.py --workers 2 --levels 50,100,150
    uv run python bench/bench_media_load.py --carrier both --levels 25,50   # Telnyx vs Twilio
    git worktree add /tmp/before <commit>   # the same load against an older server:
    uv run python bench/bench_media_load.py --levels 150 --server-tree /tmp/before

--carrier twilio plays Twilio instead (signed voice webhook, <Connect><Stream>, Twilio's media
messages); --carrier both runs each level once per carrier against the same worker, so the
per-call cost of the two wire formats can be read side by side. Twilio needs --workers 1: its
signatures cover the URL, which the two-worker set-up's crossed PUBLIC_HOSTs would change.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib
import json
import os
import random
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, ExitStack, asynccontextmanager, suppress
from pathlib import Path
from typing import Any, NamedTuple

import uvloop

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "phonebridge.settings")

from telephony.telnyx.simulator.carrier import Carrier  # noqa: E402
from telephony.telnyx.simulator.server import running_simulator  # noqa: E402
from telephony.twilio.simulator.carrier import Carrier as TwilioCarrier  # noqa: E402
from telephony.twilio.simulator.server import (  # noqa: E402
    running_simulator as running_twilio_simulator,
)
from tests.live import free_port  # noqa: E402

try:  # the carrier-neutral home of the simulator's media side
    from telephony.simulation.playout import percentile
except ImportError:  # a tree from before it moved (bench runs against older commits)
    percentile = importlib.import_module("telephony.telnyx.simulator.playout").percentile
from tests.services import Worker, manage, postgres_server, redis_server, worker_env  # noqa: E402

SEED = b"\x07" * 32
NUMBER = "+15550900001"
TWILIO_NUMBER = "+15550900002"
TWILIO_ACCOUNT_SID = "AC" + "b0" * 16
TWILIO_AUTH_TOKEN = "bench-media-load-twilio-token"  # noqa: S105 - a made-up account
TICKS = os.sysconf("SC_CLK_TCK")
QUIET_TAIL_S = 0.5
TARGET_P99_MS = 20.0  # the media load target of issue 4, with no lost frame
HEADER = (
    f"{'carrier':<7} {'calls':>5} {'failed':>6} {'frames':>9} {'lost':>6} {'rtt p50':>8} {'rtt p99':>8} "
    f"{'max gap':>8} {'CPU ms/call/s':>13} {'steady':>6} {'server CPU':>10} {'gen CPU':>8}"
)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def pin(pid: int, cpus: set[int]) -> None:
    """Pin every thread of process `pid` to `cpus` (threads it starts later inherit it)."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            os.sched_setaffinity(int(task.name), cpus)
        except ProcessLookupError:  # a thread that just ended
            continue


def pin_all(workers: list[Worker], cpus: tuple[int, int] | None) -> None:
    """The workers on cpus[0], this load generator on cpus[1], so that neither starves the
    other on a 2-CPU machine (again before each level: threads started since included)."""
    if cpus is None:
        return
    for worker in workers:
        if worker.process is not None:
            pin(worker.process.pid, {cpus[0]})
    pin(os.getpid(), {cpus[1]})


class GeneratorLag:
    """How late this load generator's own event loop ran while it measured.

    The generator plays the carrier, and it timestamps each echo when its loop gets to it: a
    pause of its own (a collection of its garbage, a burst of its own set-up work) would be
    counted as the server's round trip. Telnyx's media servers do not pause with it, so the
    measurement must not either (`measuring`), and what lag is left is printed with the
    figures: a large one means that level's round trips overstate the server's.
    """

    TICK_S = 0.01

    def __init__(self) -> None:
        self.ticks: list[tuple[float, float]] = []  # (time.monotonic() due, ms late)
        self._task: asyncio.Task[None] | None = None

    def max_ms(self, since: float) -> float:
        """The most it was late from `since` (time.monotonic()) on: from the first frame of
        audio, since what it does before any is timed (building the callers) counts for
        nothing."""
        return max((late for due, late in self.ticks if due >= since), default=0.0)

    async def _probe(self) -> None:
        while True:
            due = time.monotonic() + self.TICK_S
            await asyncio.sleep(self.TICK_S)
            self.ticks.append((due, (time.monotonic() - due) * 1000))

    @asynccontextmanager
    async def measuring(self) -> AsyncIterator[GeneratorLag]:
        """Probe the loop, with the generator's cyclic garbage collector held off: its full
        collections took 50 ms in the middle of a burst of 150 calls (what a level leaves
        behind is collected after it)."""
        gc.collect()
        gc.freeze()  # what the generator holds between levels is never scanned during one
        gc.disable()
        self._task = asyncio.ensure_future(self._probe())
        try:
            yield self
        finally:
            self._task.cancel()
            gc.enable()
            gc.unfreeze()
            gc.collect()


def server_cpu(workers: list[Worker]) -> float:
    return sum(cpu_seconds(w.process.pid) for w in workers if w.process is not None)


async def ring_all(
    carrier: Any,
    n: int,
    rate: float,
    duration: float,
    hangup_spread: float = 0.0,
    all_answered: asyncio.Event | None = None,
) -> list:
    """Ring N calls on either carrier's simulator (both have start_inbound_call, `answered`
    and `ended`); `all_answered` is set once every call has been answered.

    Each call lasts `duration`, plus, with `hangup_spread`, a share of it that spreads the
    hang-ups evenly over that many seconds (in an order unrelated to the ringing's).
    """
    number = TWILIO_NUMBER if isinstance(carrier, TwilioCarrier) else NUMBER
    order = list(range(n))
    random.Random(n).shuffle(order)  # the same order for every run of this level

    async def one(i: int) -> Any:
        await asyncio.sleep(i / rate)
        extra = hangup_spread * order[i] / n
        return await carrier.start_inbound_call(
            from_=f"+1555300{i:04d}",
            to=number,
            duration_s=duration + extra + QUIET_TAIL_S,
            quiet_tail_s=QUIET_TAIL_S,
        )

    async def ended(call: Any) -> None:
        with suppress(TimeoutError):
            await asyncio.wait_for(call.ended.wait(), duration + hangup_spread + 60)

    async def answered(calls: list) -> None:
        # A worker answers a burst at its pace (ANSWERS_PER_SECOND), later than it rang.
        with suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*(c.answered.wait() for c in calls)), 30)
        if all_answered is not None:
            all_answered.set()

    calls = await asyncio.gather(*(one(i) for i in range(n)))
    waiting = asyncio.ensure_future(answered(list(calls)))
    await asyncio.gather(*(ended(call) for call in calls))
    await waiting
    return list(calls)


class Steady(NamedTuple):
    """The server's CPU per call-second while all N calls stream: over the whole steady
    window, and the least and most of its one-second windows."""

    mean: float
    least: float
    most: float


async def steady_cpu(workers: list[Worker], start: float, end: float, n: int) -> Steady | None:
    """Server CPU per call-second between `start` and `end` (monotonic), or None if too short.

    Sampled every second as well: in steady state the server does the same work every second,
    so the spread of its one-second figures is how much the machine's speed moved under it
    (on a shared host, other tenants slow a core without taking it away, and the same frames
    cost more CPU time). Read beside p99, it tells a slower machine from more work.
    """
    if end - start < 2:
        return None
    await asyncio.sleep(max(start - time.monotonic(), 0))
    began, cpu = time.monotonic(), server_cpu(workers)
    windows: list[float] = []
    at, last = began, cpu
    while (left := end - time.monotonic()) > 0:
        await asyncio.sleep(min(1.0, left))
        now, used = time.monotonic(), server_cpu(workers)
        if now - at >= 0.9:  # a last sliver of a window says little
            windows.append((used - last) / (now - at) / n * 1000)
        at, last = now, used
    mean = (last - cpu) / (at - began) / n * 1000
    return Steady(mean, min(windows, default=mean), max(windows, default=mean))


SERVER_COUNTERS = (
    "frames_in",
    "frames_out",
    "frames_shed",
    "frames_early",
    "frames_late",
    "frames_missing",
    "underruns",
)


def server_counters(database: str, since: float) -> str:
    """What the server itself recorded for the calls of one level (SQLite only): where frames
    the callers missed went (shed by the pacer, dropped as early, late or missing on the way
    in) and the pacer's underruns, summed over the level's calls."""
    if not database.startswith("sqlite:///"):
        return ""
    import datetime as dt
    import sqlite3

    started = dt.datetime.fromtimestamp(since, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
    with sqlite3.connect(database.removeprefix("sqlite:///")) as db:
        columns = ", ".join(f"SUM({c})" for c in SERVER_COUNTERS)  # constants, not input
        sums = db.execute(
            f"SELECT {columns} FROM calls_call WHERE created_at >= ?",  # noqa: S608
            (started,),
        ).fetchone()
    return "        server: " + ", ".join(
        f"{name} {value or 0}" for name, value in zip(SERVER_COUNTERS, sums, strict=True)
    )


class Figures(NamedTuple):
    """One level's results: what the table prints, and what --json writes (one object a line)."""

    carrier: str
    calls: int
    arrival_rate: float
    failed: int
    frames: int
    lost: int
    rtt_p50_ms: float
    rtt_p99_ms: float
    max_gap_ms: float
    cpu_ms_per_call_s: float
    server_cpu_pct: float
    generator_cpu_pct: float
    generator_late_ms: float
    answered_after_ms: tuple[float, float, float] | None  # p50, p99, max
    media_began_ms: tuple[float, float, float] | None  # p50, p99, max
    steady: Steady | None

    def meets_target(self) -> bool:
        """The media load target (issue 4): no call failed, no frame lost, p99 under 20 ms."""
        return self.failed == 0 and self.lost == 0 and self.rtt_p99_ms < TARGET_P99_MS

    def as_json(self) -> str:
        fields = self._asdict()
        fields["steady"] = None if self.steady is None else self.steady._asdict()
        fields["meets_target"] = self.meets_target()
        return json.dumps(fields)


def figures(
    n: int,
    rate: float,
    calls: list,
    cpu: float,
    gen_cpu: float,
    span: float,
    steady: Steady | None,
    name: str,
    late: float,
) -> Figures:
    reports = [r for call in calls for r in call.media_reports]
    rtts = [ms for r in reports for ms in r.rtt_ms]
    # A clean end: Telnyx's normal_clearing, or Twilio's completed (no cause in the report).
    failed = sum(
        1
        for call in calls
        if not call.media_reports or call.report.hangup_cause not in (None, "normal_clearing")
    )
    return Figures(
        carrier=name,
        calls=n,
        arrival_rate=rate,
        failed=failed,
        frames=sum(r.frames_sent for r in reports),
        lost=sum(r.echoes_missing for r in reports),
        rtt_p50_ms=percentile(rtts, 50) or 0.0,
        rtt_p99_ms=percentile(rtts, 99) or 0.0,
        max_gap_ms=max((r.max_gap_ms for r in reports), default=0.0),
        cpu_ms_per_call_s=cpu / n / span * 1000,
        server_cpu_pct=cpu / span * 100,
        generator_cpu_pct=gen_cpu / span * 100,
        generator_late_ms=late,
        answered_after_ms=answered_after(calls),
        media_began_ms=media_began(calls),
        steady=steady,
    )


def summarize(f: Figures) -> str:
    steady_text = "-" if f.steady is None else f"{f.steady.mean:.1f}"
    text = (
        f"{f.carrier:<7} {f.calls:>5} {f.failed:>6} {f.frames:>9} {f.lost:>6}"
        f" {f.rtt_p50_ms:>8.1f} {f.rtt_p99_ms:>8.1f} {f.max_gap_ms:>8.0f}"
        f" {f.cpu_ms_per_call_s:>13.1f} {steady_text:>6}"
        f" {f.server_cpu_pct:>9.0f}% {f.generator_cpu_pct:>7.0f}%"
    )
    if f.answered_after_ms is not None:
        p50, p99, most = f.answered_after_ms
        text += (
            f"\n        answered after ringing: p50 {p50:.0f} ms, p99 {p99:.0f} ms,"
            f" max {most:.0f} ms"
        )
    if f.media_began_ms is not None:
        p50, p99, most = f.media_began_ms
        text += (
            f"\n        media began after the answer: p50 {p50:.0f} ms, p99 {p99:.0f} ms,"
            f" max {most:.0f} ms"
        )
    text += f"\n        load generator's own loop, while audio flowed: at most {f.generator_late_ms:.0f} ms late"
    if f.steady is not None:
        text += (
            f"\n        server's steady CPU in one-second windows: {f.steady.least:.1f} to"
            f" {f.steady.most:.1f} ms/call/s (the same load each second)"
        )
    return text


def answered_after(calls: list) -> tuple[float, float, float] | None:
    """How long each caller rang before the carrier answered it: p50, p99, max (ms). Both
    simulators stamp a call's arrival and its answer (`start_time`, `answer_time`)."""
    rings = [
        (call.answer_time - call.start_time).total_seconds() * 1000
        for call in calls
        if call.answer_time is not None
    ]
    return _spread(rings)


def _spread(values: list[float]) -> tuple[float, float, float] | None:
    if not values:
        return None
    return percentile(values, 50) or 0.0, percentile(values, 99) or 0.0, max(values)


def media_began(calls: list) -> tuple[float, float, float] | None:
    """How long after the answer each caller's first frame went out: p50, p99, max (ms).

    The far party's talk clock starts at the answer (`hangs_up_at` is `duration_s` after it);
    its first media frame goes out once the stream is up."""
    delays = [
        (report.first_frame_at - (call.hangs_up_at - call.scenario.duration_s)) * 1000
        for call in calls
        if call.hangs_up_at is not None
        for report in call.media_reports[:1]
        if report.first_frame_at is not None
    ]
    return _spread(delays)


async def run_level(
    carrier: Any,
    workers: list[Worker],
    n: int,
    rate: float,
    duration: float,
    cpus: tuple[int, int] | None = None,
    hangup_spread: float = 0.0,
) -> Figures:
    pin_all(workers, cpus)
    async with GeneratorLag().measuring() as lag:
        cpu, gen_cpu = server_cpu(workers), time.process_time()
        started = time.monotonic()
        all_answered = asyncio.Event()
        ringing = asyncio.ensure_future(
            ring_all(carrier, n, rate, duration, hangup_spread, all_answered)
        )
        # Steady state: from a second and a half after the last call was answered (its
        # stream's set-up) to half a second before the first one goes quiet.
        answered = asyncio.ensure_future(all_answered.wait())
        await asyncio.wait({ringing, answered}, return_when=asyncio.FIRST_COMPLETED)
        answered.cancel()
        steady = (
            None  # ringing failed before every call was answered: its error is raised below
            if ringing.done()
            else await steady_cpu(workers, time.monotonic() + 1.5, started + duration - 0.5, n)
        )
        calls = await ringing
        span = time.monotonic() - started
        cpu, gen_cpu = server_cpu(workers) - cpu, time.process_time() - gen_cpu
    name = "twilio" if isinstance(carrier, TwilioCarrier) else "telnyx"
    first = [r.first_frame_at for c in calls for r in c.media_reports if r.first_frame_at]
    late = lag.max_ms(since=min(first, default=started))
    return figures(n, rate, calls, cpu, gen_cpu, span, steady, name, late)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default="25,50,100,150")
    parser.add_argument("--duration", type=float, default=25.0, help="seconds of speech a call")
    parser.add_argument(
        "--arrival-rate", type=float, default=10.0, help="new calls a second while ringing N"
    )
    parser.add_argument(
        "--hangup-spread",
        type=float,
        default=0.0,
        help="spread the calls' hang-ups over this many seconds (each call up to that much "
        "longer); without it, calls that rang together also end together",
    )
    parser.add_argument("--workers", type=int, choices=(1, 2), default=1)
    parser.add_argument("--server", choices=("uvicorn", "daphne"), default="uvicorn")
    parser.add_argument(
        "--cpus",
        default="none",
        help="'S,G': the workers on CPU S and this load generator on CPU G (e.g. 0,1)",
    )
    parser.add_argument("--carrier", choices=("telnyx", "twilio", "both"), default="telnyx")
    parser.add_argument(
        "--server-tree",
        type=Path,
        default=ROOT,
        help="run the server from this checkout (e.g. a git worktree of an older commit), "
        "against this tree's load generator",
    )
    parser.add_argument(
        "--json",
        type=Path,
        help="also append each level's figures to this file, one JSON object a line",
    )
    args = parser.parse_args()
    if args.carrier != "telnyx" and args.workers != 1:
        parser.error("--carrier twilio and both need --workers 1 (see the module docstring)")
    cpus = None
    if args.cpus != "none":
        server_id, gen_id = (int(x) for x in args.cpus.split(","))
        cpus = (server_id, gen_id)

    carrier = Carrier(signing_seed=SEED, webhook_backoff_s=0.5, dial_rate_limit=None)
    twilio = TwilioCarrier(account_sid=TWILIO_ACCOUNT_SID, auth_token=TWILIO_AUTH_TOKEN)
    with ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
        async with AsyncExitStack() as simulators:
            sim = await simulators.enter_async_context(running_simulator(carrier))
            twilio_sim = await simulators.enter_async_context(running_twilio_simulator(twilio))
            env = worker_env(
                TELNYX_API_BASE_URL=sim.base_url,
                TELNYX_PUBLIC_KEY=carrier.public_key_b64,
                TWILIO_API_BASE_URL=twilio_sim.base_url,
                TWILIO_ACCOUNT_SID=TWILIO_ACCOUNT_SID,
                TWILIO_AUTH_TOKEN=TWILIO_AUTH_TOKEN,
                TWILIO_PHONE_NUMBER=TWILIO_NUMBER,
                LOG_LEVEL="WARNING",
                DATABASE_URL=f"sqlite:///{tmp}/load.sqlite3",
            )
            if args.workers == 2:
                pg = stack.enter_context(postgres_server())
                redis = stack.enter_context(redis_server())
                env.update(DATABASE_URL=pg.url, REDIS_URL=redis.url)
            manage(env, "migrate", "-v0", tree=args.server_tree)
            ports = [free_port() for _ in range(args.workers)]
            # With two workers each one's media URLs name the other (see test_two_workers).
            workers = [
                Worker(
                    f"w{i}",
                    port,
                    {**env, "PUBLIC_HOST": f"127.0.0.1:{ports[(i + 1) % len(ports)]}"},
                    server=args.server,
                    tree=args.server_tree,
                ).start()
                for i, port in enumerate(ports)
            ]
            try:
                carrier.seed(
                    webhook_event_url=f"{workers[0].url}/telnyx/events", phone_number=NUMBER
                )
                twilio.seed(
                    phone_number=TWILIO_NUMBER,
                    voice_url=f"{workers[0].url}/twilio/voice",
                    status_callback=f"{workers[0].url}/twilio/status",
                )
                played = {"telnyx": [carrier], "twilio": [twilio], "both": [carrier, twilio]}
                print(
                    f"phonebridge ({args.server_tree}): {args.workers} {args.server} worker(s),"
                    " echo bridge, PCMU;"
                    f" {args.arrival_rate:g} new calls/s, {args.duration:g} s of speech each"
                    + (f" (+0-{args.hangup_spread:g} s)" if args.hangup_spread else "")
                    + ";"
                    f" {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; "
                    + (
                        f"workers pinned to CPU {cpus[0]}, load generator to CPU {cpus[1]}"
                        if cpus
                        else "shared with the load generator"
                    )
                )
                print(HEADER)
                for n in (int(x) for x in args.levels.split(",")):
                    for each in played[args.carrier]:
                        since = time.time() - 1
                        result = await run_level(
                            each,
                            workers,
                            n,
                            args.arrival_rate,
                            args.duration,
                            cpus,
                            args.hangup_spread,
                        )
                        print(summarize(result), flush=True)
                        if args.json is not None:
                            with args.json.open("a") as out:
                                out.write(result.as_json() + "\n")
                        if counters := server_counters(env["DATABASE_URL"], since):
                            print(counters, flush=True)
                        await asyncio.sleep(2)
            finally:
                for worker in workers:
                    worker.stop()


if __name__ == "__main__":
    uvloop.run(main())  # the load generator shares the machine: keep its own cost down
