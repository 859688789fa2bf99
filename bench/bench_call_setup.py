"""Media set-up cost: CPU and database writes per call, from the socket's upgrade to the first
echoed frame, for a burst of calls connecting at once.

In one process, on SQLite and the in-memory channel layer: N answered calls (echo bridge) each
open their media socket through Channels' ASGI stack, send `connected`, `start` and one frame
of speech, and wait for its echo; all N at once, as when a burst of calls is answered. The
figures are the process's CPU (every thread: the event loop and the database thread, which
share the GIL) and the SQL writes made meanwhile, divided by N. The background work a
set-up leaves behind (the `media.start` event) is waited for and counted too: it is the same
CPU, only later. `--profile` prints where the time goes.

    uv run python bench/bench_call_setup.py --calls 150 --rounds 5
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import cProfile
import json
import os
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
_DB_DIR = tempfile.mkdtemp(prefix="phonebridge-setup-")
os.environ.update(
    DJANGO_SETTINGS_MODULE="phonebridge.settings",
    PHONEBRIDGE_READ_DOT_ENV="0",
    SECRET_KEY="bench-call-setup",  # noqa: S106 (a throwaway key for an in-process bench)
    DEBUG="false",
    BRIDGE="echo",
    RECORD_CALLS="false",
    LOG_LEVEL="ERROR",
    DATABASE_URL=f"sqlite:///{_DB_DIR}/setup.sqlite3",
)
os.environ.pop("REDIS_URL", None)

import django  # noqa: E402

django.setup()

from asgiref.sync import sync_to_async  # noqa: E402
from channels.routing import URLRouter  # noqa: E402
from channels.testing import WebsocketCommunicator  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db.backends.signals import connection_created  # noqa: E402

from calls.models import Call  # noqa: E402
from phonebridge.routing import websocket_urlpatterns  # noqa: E402
from telephony import tasks  # noqa: E402

APP = URLRouter(websocket_urlpatterns)  # type: ignore[arg-type]  # as in phonebridge/asgi.py
SPEECH = bytes(range(0, 160))  # any PCMU that is not silence


class WriteCounter:
    """Counts SQL statements that change the database, on every connection of any thread."""

    def __init__(self) -> None:
        self.writes = 0

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        if not sql.lstrip().upper().startswith(("SELECT", "SAVEPOINT", "RELEASE", "BEGIN")):
            self.writes += 1
        return execute(sql, params, many, context)


COUNTER = WriteCounter()


def _install_counter(sender: Any, connection: Any, **kwargs: Any) -> None:
    connection.execute_wrappers.append(COUNTER)


connection_created.connect(_install_counter)


def _new_calls(n: int) -> list[tuple[str, str]]:
    calls = []
    for i in range(n):
        call = Call(
            direction="inbound",
            from_number=f"+1555300{i:04d}",
            to_number="+15550900001",
            call_control_id=f"v3:setup-{time.monotonic_ns()}-{i}",
            bridge="echo",
            status=Call.Status.ANSWERED,
        )
        token = call.issue_media_token(ttl_seconds=600)
        call.save()
        calls.append((str(call.pk), token))
    return calls


def _frame(event: str, **body: Any) -> str:
    return json.dumps({"event": event, "sequence_number": "1", "stream_id": "s-1", **body})


START = _frame(
    "start",
    start={
        "call_control_id": "v3:x",
        "media_format": {"encoding": "PCMU", "sample_rate": 8000, "channels": 1},
    },
)
MEDIA = _frame(
    "media",
    media={
        "track": "inbound",
        "chunk": "1",
        "timestamp": "0",
        "payload": base64.b64encode(SPEECH).decode(),
    },
)


async def _set_up(call_id: str, token: str) -> WebsocketCommunicator:
    socket = WebsocketCommunicator(APP, f"/telnyx/media/{call_id}/{token}")
    connected, code = await socket.connect(timeout=30)
    assert connected, code
    await socket.send_to(text_data=json.dumps({"event": "connected", "version": "1.0.0"}))
    await socket.send_to(text_data=START)
    await socket.send_to(text_data=MEDIA)
    while json.loads(await socket.receive_from(timeout=30))["event"] != "media":
        pass
    return socket


async def _tear_down(socket: WebsocketCommunicator) -> None:
    await socket.send_to(text_data=_frame("stop", stop={}))
    while (await socket.receive_output(timeout=30))["type"] != "websocket.close":
        pass
    await socket.disconnect()


async def one_round(n: int, profile: cProfile.Profile | None) -> tuple[float, float, float]:
    """(CPU ms per call, wall ms for the burst, writes per call) for n calls at once."""
    calls = await sync_to_async(_new_calls)(n)
    writes, cpu, wall = COUNTER.writes, time.process_time(), time.perf_counter()
    if profile is not None:
        profile.enable()
    sockets = await asyncio.gather(*(_set_up(call_id, token) for call_id, token in calls))
    await tasks.drain()  # what set-up left for later (events) is set-up cost too
    if profile is not None:
        profile.disable()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    writes = COUNTER.writes - writes
    await asyncio.gather(*(_tear_down(socket) for socket in sockets))
    await tasks.drain()
    return cpu / n * 1000, wall * 1000, writes / n


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=150)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="print the top of a profile")
    args = parser.parse_args()
    await sync_to_async(call_command)("migrate", verbosity=0)
    await one_round(10, None)  # warm up: imports, first connections, caches
    profile = cProfile.Profile() if args.profile else None
    results = [await one_round(args.calls, profile) for _ in range(args.rounds)]
    cpu = [r[0] for r in results]
    print(
        f"{args.calls} calls at once, {args.rounds} rounds ({ROOT}):"
        f" set-up CPU {statistics.median(cpu):.2f} ms/call (median; min {min(cpu):.2f}),"
        f" burst {statistics.median(r[1] for r in results):.0f} ms,"
        f" {statistics.median(r[2] for r in results):.1f} database writes/call"
    )
    if profile is not None:
        pstats.Stats(profile).sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    asyncio.run(main())
