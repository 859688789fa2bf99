"""Webhook latency on SQLite: uvicorn serving phonebridge, signed webhooks over real HTTP.

Starts phonebridge under uvicorn (a separate process, as in production; --server daphne to
compare) on a fresh SQLite file,
a Telnyx stand-in that answers every command with 200 (commands run after the 2xx, so they
must not show in the latency), then replays whole inbound call lifecycles (initiated,
answered, streaming.started, dtmf, streaming.stopped, hangup, plus one duplicate delivery per
call) with N calls in flight at once, and prints p50/p99/max per event type.

    uv run python bench/bench_webhooks.py [--calls 300] [--concurrency 10] [--server daphne]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import uvicorn
from nacl.signing import SigningKey

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.live import free_port  # noqa: E402

KEY = SigningKey(b"b" * 32)


async def telnyx_stand_in(scope, receive, send):  # type: ignore[no-untyped-def]
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    body = (
        b'{"data":{"result":"ok","call_control_id":"v3:x","call_leg_id":"l","call_session_id":"s"}}'
    )
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body})


def envelope(event_type: str, payload: dict, event_id: str | None = None) -> bytes:
    data = {
        "record_type": "event",
        "event_type": event_type,
        "id": event_id or str(uuid.uuid4()),
        "occurred_at": "2026-11-22T10:00:00.000000Z",
        "payload": payload,
    }
    return json.dumps({"data": data, "meta": {"attempt": 1}}).encode()


def lifecycle(n: int) -> list[tuple[str, bytes]]:
    base = {
        "call_control_id": f"v3:bench-{n}-{uuid.uuid4().hex[:8]}",
        "call_leg_id": str(uuid.uuid4()),
        "call_session_id": str(uuid.uuid4()),
        "from": "+15557654321",
        "to": "+15550001111",
    }
    initiated = envelope("call.initiated", {**base, "direction": "incoming", "state": "parked"})
    events = [
        ("call.initiated", initiated),
        ("duplicate", initiated),
        ("call.answered", envelope("call.answered", {**base, "state": "answered"})),
        ("streaming.started", envelope("streaming.started", {**base, "stream_url": "wss://x"})),
        ("call.dtmf.received", envelope("call.dtmf.received", {**base, "digit": "1"})),
        ("streaming.stopped", envelope("streaming.stopped", base)),
        (
            "call.hangup",
            envelope(
                "call.hangup",
                {**base, "hangup_cause": "normal_clearing", "hangup_source": "caller"},
            ),
        ),
    ]
    return events


async def post(client: httpx.AsyncClient, body: bytes) -> float:
    ts = str(int(time.time()))
    signature = base64.b64encode(KEY.sign(ts.encode() + b"|" + body).signature).decode()
    headers = {
        "telnyx-signature-ed25519": signature,
        "telnyx-timestamp": ts,
        "content-type": "application/json",
    }
    started = time.perf_counter()
    response = await client.post("/telnyx/events", content=body, headers=headers)
    elapsed = time.perf_counter() - started
    if response.status_code != 200:
        raise RuntimeError(f"{response.status_code}: {response.text}")
    return elapsed * 1000


async def run(calls: int, concurrency: int, server_url: str) -> dict[str, list[float]]:
    latencies: dict[str, list[float]] = {}
    limit = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(base_url=server_url, timeout=10) as client:
        await post(client, envelope("warm.up", {}))

        async def one_call(n: int) -> None:
            async with limit:
                for name, body in lifecycle(n):
                    latencies.setdefault(name, []).append(await post(client, body))

        await asyncio.gather(*(one_call(n) for n in range(calls)))
    return latencies


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--server", choices=("uvicorn", "daphne"), default="uvicorn")
    args = parser.parse_args()

    stand_in_port, server_port = free_port(), free_port()
    stand_in = uvicorn.Server(
        uvicorn.Config(telnyx_stand_in, port=stand_in_port, log_level="warning", lifespan="off")
    )
    stand_in_task = asyncio.create_task(stand_in.serve())

    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "phonebridge.settings",
            "SECRET_KEY": "bench",
            "DEBUG": "false",
            "PHONEBRIDGE_READ_DOT_ENV": "0",
            "DATABASE_URL": f"sqlite:///{tmp}/bench.sqlite3",
            "TELNYX_API_KEY": "KEYBENCH",
            "TELNYX_PUBLIC_KEY": base64.b64encode(bytes(KEY.verify_key)).decode(),
            "TELNYX_API_BASE_URL": f"http://127.0.0.1:{stand_in_port}/v2",
            "TELNYX_CALL_CONTROL_APP_ID": "1",
            "PUBLIC_HOST": "bench.example",
            "ALLOWED_HOSTS": "127.0.0.1",
            "LOG_LEVEL": "WARNING",
            "DJANGO_LOG_LEVEL": "WARNING",
            "RECONCILE_INTERVAL": "0",
        }
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True
        )
        command = {
            "daphne": ["-m", "daphne", "-b", "127.0.0.1", "-p", str(server_port)],
            "uvicorn": [
                "-m",
                "uvicorn",
                "--host",
                "127.0.0.1",
                "--port",
                str(server_port),
                "--no-access-log",
                "--lifespan",
                "off",
            ],
        }[args.server]
        server = subprocess.Popen(
            [sys.executable, *command, "phonebridge.asgi:application"], cwd=ROOT, env=env
        )
        try:
            url = f"http://127.0.0.1:{server_port}"
            for _ in range(100):
                try:
                    httpx.get(f"{url}/healthz", timeout=1)
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
            started = time.perf_counter()
            latencies = await run(args.calls, args.concurrency, url)
            wall = time.perf_counter() - started
        finally:
            server.terminate()
            server.wait(10)
    stand_in.should_exit = True
    await stand_in_task

    every = [v for values in latencies.values() for v in values]
    print(
        f"{args.calls} calls, {len(every)} webhooks, concurrency {args.concurrency}, {args.server} + SQLite (WAL)"
    )
    print(f"{'event':<22}{'n':>6}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}")
    for name, values in sorted(latencies.items()):
        print(
            f"{name:<22}{len(values):>6}{pct(values, 50):>10.1f}{pct(values, 99):>10.1f}{max(values):>10.1f}"
        )
    print(
        f"{'all':<22}{len(every):>6}{pct(every, 50):>10.1f}{pct(every, 99):>10.1f}{max(every):>10.1f}"
    )
    print(f"throughput: {len(every) / wall:.0f} webhooks/s; mean {statistics.mean(every):.1f} ms")


if __name__ == "__main__":
    asyncio.run(main())
