"""Overload: what one worker does with half again as many echo calls as it can carry.

Two uvicorn workers, each with its own simulated carrier and SQLite database, used one at a
time so they never share the CPUs: one sheds agent audio past MAX_AGENT_AUDIO_LAG_MS (the
default, 200 ms), the other keeps it up to the 5 s queue cap (MAX_AGENT_AUDIO_LAG_MS=5000,
which is how the pacer behaved before shedding). First the capacity is measured on the
shedding worker: the largest of --levels whose calls lose no audio and keep the round trip's
p99 within --target-p99-ms (the media load target of bench_media_load.py), a level that misses
it being tried --retries more times before it counts as beyond the capacity. Then 1.5 times
that many calls are run on each worker in turn, --repeat times, and for each run the bench
prints the round trip (p50, p99, the largest), the speech frames lost, the frames shed as
stored on the calls (Call.frames_shed), the server's CPU per call-second and in % of one
core, and this load generator's own CPU in % of one core.

On a 2-CPU machine the load generator (the simulated carrier: every caller's frames out,
every echo in) needs about as much CPU as the worker it loads, so left to the scheduler the
two fight for the same core and the figures measure the fight. By default (--cpus 0,1) the
workers are pinned to one CPU and the generator to the other, every thread of each, so that
"overloaded" means the worker's own core is full. Anything else running on the machine still
shares those cores: the load average is printed with each run.

    uv run python bench/bench_overload.py
    uv run python bench/bench_overload.py --levels 150,200,250,300 --repeat 2
    uv run python bench/bench_overload.py --capacity 150   # overload only, at 225 calls
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import sqlite3
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import uvloop

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "phonebridge.settings")

from bench_media_load import NUMBER, SEED, pin_all, ring_all, server_cpu  # noqa: E402

from telephony.telnyx.simulator.carrier import Carrier  # noqa: E402
from telephony.telnyx.simulator.server import running_simulator  # noqa: E402
from tests.live import free_port  # noqa: E402

try:  # the carrier-neutral home of the simulator's media side
    from telephony.simulation.playout import percentile
except ImportError:  # a tree from before it moved (bench runs against older commits)
    percentile = importlib.import_module("telephony.telnyx.simulator.playout").percentile
from tests.services import Worker, manage, worker_env  # noqa: E402

Pinning = tuple[int, int] | None  # (the workers' CPU, the load generator's CPU)
NO_SHEDDING_MS = 5000  # the pacer's queue cap: nothing is shed before it, as before


@dataclass
class Setup:
    name: str
    carrier: Carrier
    worker: Worker
    database: Path

    def frames_shed(self) -> int:
        with sqlite3.connect(self.database) as db:
            return int(
                db.execute("SELECT COALESCE(SUM(frames_shed), 0) FROM calls_call").fetchone()[0]
            )


@dataclass
class Result:
    calls: int
    failed: int
    lost: int
    p50: float
    p99: float
    worst: float
    shed: int
    cpu_ms: float  # server CPU per call-second
    server_pct: float  # server CPU in % of one core, over the run
    gen_pct: float  # this load generator's CPU in % of one core, over the run

    def passes(self, target_p99_ms: float) -> bool:
        return not self.failed and not self.lost and self.p99 <= target_p99_ms

    def line(self, label: str) -> str:
        return (
            f"{label:<14} {self.calls:>5} {self.failed:>6} {self.lost:>6} {self.p50:>8.1f}"
            f" {self.p99:>8.1f} {self.worst:>8.0f} {self.shed:>7} {self.cpu_ms:>13.1f}"
            f" {self.server_pct:>9.0f}% {self.gen_pct:>7.0f}% {_load():>5}"
        )


HEADER = (
    f"{'worker':<14} {'calls':>5} {'failed':>6} {'lost':>6} {'rtt p50':>8} {'rtt p99':>8}"
    f" {'rtt max':>8} {'shed':>7} {'CPU ms/call/s':>13} {'server CPU':>10} {'gen CPU':>8}"
    f" {'load':>5}"
)


def _load() -> str:
    """The machine's one-minute load average: other work sharing the two cores."""
    return f"{os.getloadavg()[0]:.1f}"


@asynccontextmanager
async def running_setup(name: str, tmp: Path, lag_ms: int) -> AsyncIterator[Setup]:
    carrier = Carrier(signing_seed=SEED, webhook_backoff_s=0.5, dial_rate_limit=None)
    database = tmp / f"{name}.sqlite3"
    async with running_simulator(carrier) as sim:
        env = worker_env(
            TELNYX_API_BASE_URL=sim.base_url,
            TELNYX_PUBLIC_KEY=carrier.public_key_b64,
            LOG_LEVEL="WARNING",
            DATABASE_URL=f"sqlite:///{database}",
            MAX_AGENT_AUDIO_LAG_MS=str(lag_ms),
        )
        manage(env, "migrate", "-v0")
        port = free_port()
        worker = Worker(name, port, {**env, "PUBLIC_HOST": f"127.0.0.1:{port}"}).start()
        try:
            carrier.seed(webhook_event_url=f"{worker.url}/telnyx/events", phone_number=NUMBER)
            yield Setup(name, carrier, worker, database)
        finally:
            worker.stop()


async def run(setup: Setup, n: int, rate: float, duration: float, cpus: Pinning) -> Result:
    pin_all([setup.worker], cpus)
    shed, cpu, started = setup.frames_shed(), server_cpu([setup.worker]), time.monotonic()
    gen = time.process_time()
    calls = await ring_all(setup.carrier, n, rate, duration)
    span, cpu = time.monotonic() - started, server_cpu([setup.worker]) - cpu
    gen = time.process_time() - gen
    await asyncio.sleep(1)  # the last calls' statistics are written as their streams end
    reports = [r for call in calls for r in call.media_reports]
    rtts = [ms for r in reports for ms in r.rtt_ms]
    return Result(
        calls=n,
        failed=sum(1 for c in calls if not c.media_reports or c.hangup_cause != "normal_clearing"),
        lost=sum(r.echoes_missing for r in reports),
        p50=percentile(rtts, 50) or 0,
        p99=percentile(rtts, 99) or 0,
        worst=max(rtts, default=0),
        shed=setup.frames_shed() - shed,
        cpu_ms=cpu / n / span * 1000,
        server_pct=cpu / span * 100,
        gen_pct=gen / span * 100,
    )


async def meets_target(setup: Setup, n: int, args: argparse.Namespace, cpus: Pinning) -> bool:
    """Whether `n` calls meet the target, given --retries more tries: on a machine shared with
    other work, one miss can be someone else's burst rather than this worker's limit."""
    for attempt in range(1 + args.retries):
        await asyncio.sleep(2)
        result = await run(setup, n, args.arrival_rate, args.duration, cpus)
        print(result.line("capacity?" if not attempt else "  again"), flush=True)
        if result.passes(args.target_p99_ms):
            return True
    return False


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default="50,100,150,200,250,300", help="capacity search")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of speech a call")
    parser.add_argument("--arrival-rate", type=float, default=20.0, help="new calls a second")
    parser.add_argument("--target-p99-ms", type=float, default=20.0)
    parser.add_argument("--bound-ms", type=int, default=200, help="MAX_AGENT_AUDIO_LAG_MS")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--retries", type=int, default=1, help="more tries of a level missed")
    parser.add_argument(
        "--capacity",
        type=int,
        default=0,
        help="skip the search: the capacity measured by an earlier run on a quiet machine",
    )
    parser.add_argument(
        "--cpus",
        default="0,1",
        help="the workers' CPU and the load generator's, or 'none' to leave it to the scheduler",
    )
    args = parser.parse_args()
    cpus: Pinning = None
    if args.cpus != "none":
        server_cpu_id, gen_cpu_id = (int(x) for x in args.cpus.split(","))
        cpus = (server_cpu_id, gen_cpu_id)

    with tempfile.TemporaryDirectory() as tmp:
        async with (
            running_setup("shedding", Path(tmp), args.bound_ms) as shedding,
            running_setup("no-shedding", Path(tmp), NO_SHEDDING_MS) as keeping,
        ):
            print(
                f"echo calls, PCMU, {args.arrival_rate:g} new calls/s, {args.duration:g} s of"
                f" speech each; target: nothing lost, rtt p99 <= {args.target_p99_ms:g} ms;"
                f" bound {args.bound_ms} ms; {os.cpu_count()} CPUs; "
                + (
                    f"workers pinned to CPU {cpus[0]}, load generator to CPU {cpus[1]}"
                    if cpus
                    else "not pinned"
                )
            )
            print(HEADER)
            capacity = args.capacity
            for n in () if capacity else (int(x) for x in args.levels.split(",")):
                if not await meets_target(shedding, n, args, cpus):
                    break
                capacity = n
            if not capacity:
                print("no level met the target: no capacity to overload")
                return
            overload = round(capacity * 1.5)
            print(f"capacity {capacity} calls; overload at 1.5x: {overload} calls", flush=True)
            for _ in range(args.repeat):
                for setup in (keeping, shedding):
                    await asyncio.sleep(2)
                    result = await run(setup, overload, args.arrival_rate, args.duration, cpus)
                    print(result.line(setup.name), flush=True)
            print(f"target under overload: rtt p99 <= {args.bound_ms + 50} ms (bound + 50 ms)")


if __name__ == "__main__":
    uvloop.run(main())
