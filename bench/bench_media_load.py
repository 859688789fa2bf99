"""Media load: N simultaneous full-duplex calls against phonebridge, echo bridge.

Starts phonebridge under daphne (one process, or two behind PostgreSQL and Redis with
--workers 2) and the simulated carrier in this process. For each N it rings N calls at once
(spread over one second, as calls arrive), each streaming real speech in 20 ms frames for
--duration seconds, and reports: frames lost (sent by the caller but never echoed back),
round-trip p50/p99 (caller frame out → the same audio back), the largest gap in what the
caller heard, and the server's CPU per call.

    uv run python bench/bench_media_load.py --levels 25,50,100,150 --duration 10
    uv run python bench/bench_media_load.py --workers 2 --levels 50,100,150
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "phonebridge.settings")

from telephony.simulator.carrier import Carrier  # noqa: E402
from telephony.simulator.playout import percentile  # noqa: E402
from telephony.simulator.server import running_simulator  # noqa: E402
from tests.live import free_port  # noqa: E402
from tests.services import Worker, manage, postgres_server, redis_server, worker_env  # noqa: E402

SEED = b"\x07" * 32
NUMBER = "+15550900001"
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


async def ring_all(carrier: Carrier, n: int, duration: float) -> list:
    async def one(i: int):  # type: ignore[no-untyped-def]
        await asyncio.sleep(i / n)  # arrivals spread over a second
        return await carrier.start_inbound_call(
            from_=f"+1555300{i:04d}", to=NUMBER, duration_s=duration
        )

    calls = await asyncio.gather(*(one(i) for i in range(n)))
    await asyncio.gather(*(call.wait_ended(duration + 60) for call in calls))
    return list(calls)


def summarize(n: int, calls: list, cpu: float, duration: float) -> str:
    reports = [r for call in calls for r in call.media_reports]
    sent = sum(r.frames_sent for r in reports)
    received = sum(r.frames_received for r in reports)
    rtts = [ms for r in reports for ms in r.rtt_ms]
    failed = sum(
        1 for call in calls if not call.media_reports or call.hangup_cause != "normal_clearing"
    )
    p50, p99 = percentile(rtts, 50) or 0, percentile(rtts, 99) or 0
    gap = max((r.max_gap_ms for r in reports), default=0)
    cpu_ms = cpu / n / duration * 1000
    return f"{n:>5} {failed:>6} {sent:>9} {sent - received:>7} {p50:>8.1f} {p99:>8.1f} {gap:>8.0f} {cpu_ms:>12.1f}"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default="25,50,100,150")
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--workers", type=int, choices=(1, 2), default=1)
    parser.add_argument("--server", choices=("daphne", "uvicorn"), default="daphne")
    args = parser.parse_args()

    carrier = Carrier(signing_seed=SEED, webhook_backoff_s=0.5, dial_rate_limit=None)
    with ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
        async with running_simulator(carrier) as sim:
            env = worker_env(
                TELNYX_API_BASE_URL=sim.base_url,
                TELNYX_PUBLIC_KEY=carrier.public_key_b64,
                LOG_LEVEL="WARNING",
                DATABASE_URL=f"sqlite:///{tmp}/load.sqlite3",
            )
            if args.workers == 2:
                pg = stack.enter_context(postgres_server())
                redis = stack.enter_context(redis_server())
                env.update(DATABASE_URL=pg.url, REDIS_URL=redis.url)
            manage(env, "migrate", "-v0")
            ports = [free_port() for _ in range(args.workers)]
            # With two workers each one's media URLs name the other (see test_two_workers).
            workers = [
                Worker(
                    f"w{i}",
                    port,
                    {**env, "PUBLIC_HOST": f"127.0.0.1:{ports[(i + 1) % len(ports)]}"},
                    server=args.server,
                ).start()
                for i, port in enumerate(ports)
            ]
            try:
                carrier.seed(
                    webhook_event_url=f"{workers[0].url}/telnyx/events", phone_number=NUMBER
                )
                print(
                    f"phonebridge: {args.workers} {args.server} worker(s), echo bridge, PCMU, {args.duration:.0f} s calls"
                )
                print(
                    f"{'calls':>5} {'failed':>6} {'frames':>9} {'lost':>7} {'rtt p50':>8} {'rtt p99':>8} {'max gap':>8} {'CPU ms/call/s':>12}"
                )
                for n in (int(x) for x in args.levels.split(",")):
                    before = sum(cpu_seconds(w.process.pid) for w in workers)
                    started = time.monotonic()
                    calls = await ring_all(carrier, n, args.duration)
                    elapsed = time.monotonic() - started
                    cpu = sum(cpu_seconds(w.process.pid) for w in workers) - before
                    print(summarize(n, calls, cpu, max(args.duration, elapsed - 2)), flush=True)
                    await asyncio.sleep(2)
            finally:
                for worker in workers:
                    worker.stop()


if __name__ == "__main__":
    asyncio.run(main())
