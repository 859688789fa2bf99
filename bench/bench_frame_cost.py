"""The server's own CPU per media frame: uvicorn's WebSocket protocol and phonebridge's ASGI
application in this process, fed by fake sockets, so neither the kernel's networking nor a
load generator is measured.

`bench_media_load.py` measures the real thing (a worker, real sockets, the simulator), where
the load generator shares the machine and the kernel's and uvloop's socket work is about 40%
of a frame's cost (about 55 µs a frame here against 90-100 µs in a worker). Here only our
code, Channels' and uvicorn's count. N calls are set up as a worker sets them up (the
WebSocket upgrade on uvicorn's sans-I/O protocol, the media token, `connected` and `start`),
then each gets one masked client frame of speech every 20 ms in real time, and the echo bridge
answers each. What is measured: this process's CPU per call-second and per inbound frame
while the frames flow (the echoes, marks, live snapshots and heartbeats included), and that
every frame was answered. The machine's own speed still moves the figure (by 10-20% from one
run to the next on a shared machine), so compare trees in alternating pairs:

    uv run python bench/bench_frame_cost.py --calls 150 --seconds 8
    git worktree add /tmp/before <commit>
    uv run python bench/bench_frame_cost.py --server-tree /tmp/before
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import uvloop

ROOT = Path(__file__).resolve().parent.parent
FRAME_S = 0.02


class FakeSocket:
    """The asyncio transport uvicorn's protocol writes to: it counts what is written.

    uvloop's TCP transport also takes a write at once (it tries the socket and buffers the
    rest), so none is slower here than there, only without the system call. Pausing reading
    does nothing: uvicorn pauses after each message until the application has taken it, and
    here each call's next frame comes 20 ms later, long after it has (the figures show it:
    a frame and a mark written for every frame in and every 50).
    """

    def __init__(self) -> None:
        self.writes = 0
        self.closing = False

    def write(self, data: bytes) -> None:
        self.writes += 1

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        peers = {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 40000)}
        return peers.get(name, default)


def client_frame(message: dict[str, Any]) -> bytes:
    """A text frame as a client sends it: masked (RFC 6455 section 5.3)."""
    from websockets.frames import Frame, Opcode

    return Frame(Opcode.TEXT, json.dumps(message).encode()).serialize(mask=True, extensions=[])


async def run(calls: int, seconds: float) -> None:
    from asgiref.sync import sync_to_async
    from uvicorn.config import Config
    from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
    from uvicorn.server import ServerState

    from calls.models import Call
    from phonebridge.asgi import application

    def new_call() -> tuple[str, str]:
        call = Call(direction="inbound", status="answered", bridge="echo")
        token = call.issue_media_token(ttl_seconds=600)
        call.save()
        return str(call.pk), token

    config = Config(
        app=application,
        ws="websockets-sansio",
        lifespan="off",
        ws_ping_interval=None,
        log_level="warning",
    )
    config.load()
    state = ServerState()
    loop = asyncio.get_running_loop()
    connections = []
    for i in range(calls):
        call_id, token = await sync_to_async(new_call)()
        protocol = WebSocketsSansIOProtocol(config, state, {}, _loop=loop)
        socket = FakeSocket()
        protocol.connection_made(socket)  # type: ignore[arg-type]
        protocol.data_received(
            f"GET /telnyx/media/{call_id}/{token} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        for _ in range(500):  # the upgrade's answer is written once the call is authorised
            await asyncio.sleep(0.001)
            if socket.writes:
                break
        if not socket.writes:
            raise SystemExit(f"call {i}: the media socket was not accepted")
        protocol.data_received(client_frame({"event": "connected", "version": "1.0.0"}))
        media_format = {"encoding": "PCMU", "sample_rate": 8000, "channels": 1}
        start = {"call_control_id": f"v3:bench-{i}", "media_format": media_format}
        protocol.data_received(
            client_frame(
                {"event": "start", "sequence_number": "1", "stream_id": "s", "start": start}
            )
        )
        connections.append((protocol, socket))
    await asyncio.sleep(0.5)  # let the set-up's background work finish

    # Speech-like payloads (random μ-law bytes are loud): the level checks see voice.
    rng = np.random.default_rng(1)
    payloads = [base64.b64encode(rng.integers(0, 256, 160, dtype=np.uint8).tobytes()).decode()]
    ticks = int(seconds / FRAME_S)
    frames = [
        client_frame(
            {
                "event": "media",
                "sequence_number": str(k + 2),
                "stream_id": "s",
                "media": {
                    "track": "inbound",
                    "chunk": str(k + 1),
                    "timestamp": str(k * 20),
                    "payload": payloads[0],
                },
            }
        )
        for k in range(ticks)
    ]
    written = sum(socket.writes for _, socket in connections)
    cpu, began = time.process_time(), time.perf_counter()
    due = began
    for frame in frames:  # every call gets its frame each tick, in real time
        for protocol, _ in connections:
            protocol.data_received(frame)
        due += FRAME_S
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
    await asyncio.sleep(0.1)  # the last echoes
    cpu = time.process_time() - cpu
    written = sum(socket.writes for _, socket in connections) - written
    inbound = calls * ticks
    print(
        f"{calls} calls x {seconds:g} s ({os.environ['PHONEBRIDGE_TREE']}): "
        f"CPU {cpu / calls / seconds * 1000:.2f} ms/call/s, {cpu / inbound * 1e6:.1f} µs per frame "
        f"in (its echo included); {written} frames written for {inbound} in "
        f"(echoes and marks); {time.perf_counter() - began:.1f} s"
    )
    for protocol, _ in connections:  # the peers go away: each session ends and saves itself
        protocol.connection_lost(None)
    await asyncio.sleep(0.5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=150)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument(
        "--server-tree", type=Path, default=ROOT, help="measure this checkout's code instead"
    )
    args = parser.parse_args()
    tree = args.server_tree.resolve()
    sys.path.insert(0, str(tree))
    database = Path(tempfile.mkdtemp(prefix="phonebridge-frame-cost-")) / "db.sqlite3"
    os.environ.update(
        PHONEBRIDGE_TREE=str(tree),
        DJANGO_SETTINGS_MODULE="phonebridge.settings",
        PHONEBRIDGE_READ_DOT_ENV="0",
        SECRET_KEY="bench-frame-cost",  # noqa: S106 (a throwaway key for an in-process bench)
        DEBUG="false",
        ALLOWED_HOSTS="127.0.0.1",
        BRIDGE="echo",
        RECORD_CALLS="false",
        RECONCILE_INTERVAL="0",
        LOG_LEVEL="WARNING",
        DATABASE_URL=f"sqlite:///{database}",
    )
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    uvloop.run(run(args.calls, args.seconds))  # as uvicorn runs a worker


if __name__ == "__main__":
    main()
