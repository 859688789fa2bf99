"""Overload: what one worker does with half again as many echo calls as it can carry.

Two uvicorn workers, each with its own simulated carrier and SQLite database, used one at a
time so they never share the CPUs: one sheds agent audio past MAX_AGENT_AUDIO_LAG_MS (the
default, 200 ms), the other keeps it up to the 5 s queue cap (MAX_AGENT_AUDIO_LAG_MS=5000,
which is how the pacer behaved before shedding). First the capacity is measured on the
shedding worker: the largest of --levels whose calls lose no audio and keep the round trip's
p99 within --target-p99-ms (the media load target of bench_media_load.py). Then 1.5 times
that many calls are run on each worker in turn, --repeat times, and for each run the bench
prints the round trip (p50, p99, the largest), the speech frames lost, the frames shed as
stored on the calls (Call.frames_shed), and the server's CPU per call-second.

    uv run python bench/bench_overload.py
    uv run python bench/bench_overload.py --levels 150,200,250,300 --repeat 2
"""

from __future__ import annotations

import argparse
import asyncio
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

from bench_media_load import NUMBER, SEED, ring_all, server_cpu  # noqa: E402

from telephony.telnyx.simulator.carrier import Carrier  # noqa: E402
from telephony.telnyx.simulator.playout import percentile  # noqa: E402
from telephony.telnyx.simulator.server import running_simulator  # noqa: E402
from tests.live import free_port  # noqa: E402
from tests.services import Worker, manage, worker_env  # noqa: E402

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

    def passes(self, target_p99_ms: float) -> bool:
        return not self.failed and not self.lost and self.p99 <= target_p99_ms

    def line(self, label: str) -> str:
        return (
            f"{label:<14} {self.calls:>5} {self.failed:>6} {self.lost:>6} {self.p50:>8.1f}"
            f" {self.p99:>8.1f} {self.worst:>8.0f} {self.shed:>7} {self.cpu_ms:>13.1f}"
        )


HEADER = (
    f"{'worker':<14} {'calls':>5} {'failed':>6} {'lost':>6} {'rtt p50':>8} {'rtt p99':>8}"
    f" {'rtt max':>8} {'shed':>7} {'CPU ms/call/s':>13}"
)


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


async def run(setup: Setup, n: int, rate: float, duration: float) -> Result:
    shed, cpu, started = setup.frames_shed(), server_cpu([setup.worker]), time.monotonic()
    calls = await ring_all(setup.carrier, n, rate, duration)
    span, cpu = time.monotonic() - started, server_cpu([setup.worker]) - cpu
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
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default="100,150,200,250,300", help="capacity search")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of speech a call")
    parser.add_argument("--arrival-rate", type=float, default=20.0, help="new calls a second")
    parser.add_argument("--target-p99-ms", type=float, default=20.0)
    parser.add_argument("--bound-ms", type=int, default=200, help="MAX_AGENT_AUDIO_LAG_MS")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        async with (
            running_setup("shedding", Path(tmp), args.bound_ms) as shedding,
            running_setup("no-shedding", Path(tmp), NO_SHEDDING_MS) as keeping,
        ):
            print(
                f"echo calls, PCMU, {args.arrival_rate:g} new calls/s, {args.duration:g} s of"
                f" speech each; target: nothing lost, rtt p99 <= {args.target_p99_ms:g} ms;"
                f" bound {args.bound_ms} ms; {os.cpu_count()} CPUs shared with the load generator"
            )
            print(HEADER)
            capacity = 0
            for n in (int(x) for x in args.levels.split(",")):
                result = await run(shedding, n, args.arrival_rate, args.duration)
                print(result.line("capacity?"), flush=True)
                if not result.passes(args.target_p99_ms):
                    break
                capacity = n
                await asyncio.sleep(2)
            if not capacity:
                print("no level met the target: no capacity to overload")
                return
            overload = round(capacity * 1.5)
            print(f"capacity {capacity} calls; overload at 1.5x: {overload} calls", flush=True)
            for _ in range(args.repeat):
                for setup in (keeping, shedding):
                    await asyncio.sleep(2)
                    result = await run(setup, overload, args.arrival_rate, args.duration)
                    print(result.line(setup.name), flush=True)
            print(f"target under overload: rtt p99 <= {args.bound_ms + 50} ms (bound + 50 ms)")


if __name__ == "__main__":
    uvloop.run(main())
