"""Call set-up cost: CPU and database writes per call for a burst of calls arriving at once.

In one process, on SQLite and the in-memory channel layer, echo bridge. Two scopes:

- `--scope media` (the default): N answered calls each open their media socket through
  Channels' ASGI stack, send `connected`, `start` and one frame of speech, and wait for its
  echo: the media socket's part of set-up.
- `--scope call`: the whole set-up of N inbound calls, as a worker does it: a signed
  `call.initiated` webhook each through Django's ASGI handler (verified, stored, the call
  created), the `answer` command each sends to Telnyx (the real TelnyxClient, its requests
  answered by tests/fake_telnyx.py over httpx.MockTransport, so the client's own CPU counts),
  then `call.answered` and `streaming.started`, then the media socket as above.

Both scopes also time the tear-down of the same N calls ending at once: each media socket
gets `stop` and closes (the session saves its figures and ends), and with `--scope call`
Telnyx's `streaming.stopped` and then `call.hangup` follow for every call, in the order Telnyx
and the simulator send them when a caller hangs up.

The figures are the process's CPU (every thread: the event loop and the database thread,
which share the GIL) and the SQL writes made meanwhile, divided by N. Background work a
set-up leaves behind (answering, the `media.start` event) is waited for and counted too: it
is the same CPU, only later. The webhooks are signed before the clock starts (signing is
Telnyx's work, not ours). `--profile` prints where the time goes.

The bench runs against the tree it sits in: to compare with an older commit, copy it into a
`git worktree` of that commit and run it there with this tree's interpreter.

    uv run python bench/bench_call_setup.py --scope call --calls 150 --rounds 5
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
from typing import Any, NamedTuple

from nacl.signing import SigningKey

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
    ALLOWED_HOSTS="testserver,127.0.0.1",
    PUBLIC_HOST="127.0.0.1:8000",
    TELNYX_API_KEY="KEYBENCH",
    TELNYX_API_BASE_URL="https://api.telnyx.invalid/v2",
    TELNYX_CALL_CONTROL_APP_ID="1000000000000000001",
    TELNYX_PUBLIC_KEY=base64.b64encode(
        bytes(SigningKey(b"phonebridge bench: set-up cost!!").verify_key)
    ).decode(),
    RECONCILE_INTERVAL="0",
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
from phonebridge.lean import LeanASGIHandler  # noqa: E402
from phonebridge.routing import websocket_urlpatterns  # noqa: E402
from telephony import tasks  # noqa: E402
from telephony.telnyx import client as telnyx_client  # noqa: E402
from tests.conftest import sign, webhook  # noqa: E402
from tests.fake_telnyx import FakeTelnyx  # noqa: E402

SIGNING_KEY = SigningKey(b"phonebridge bench: set-up cost!!")

APP = URLRouter(websocket_urlpatterns)  # type: ignore[arg-type]  # as in phonebridge/asgi.py
WEBHOOKS = LeanASGIHandler()  # what phonebridge/asgi.py serves /telnyx/events with
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


class Webhooks:
    """Signed Telnyx webhooks for N new inbound calls, posted to the ASGI handler that
    phonebridge/asgi.py serves /telnyx/events with, as an ASGI server would."""

    def __init__(self, n: int) -> None:
        tag = time.monotonic_ns()
        self.legs = [
            {
                "call_control_id": f"v3:whole-{tag}-{i}",
                "call_leg_id": f"leg-{tag}-{i}",
                "call_session_id": f"session-{tag}-{i}",
                "from": f"+1555300{i:04d}",
                "to": "+15550900001",
            }
            for i in range(n)
        ]
        self.signed = {
            event_type: [self._signed(event_type, leg) for leg in self.legs]
            for event_type in (
                "call.initiated",
                "call.answered",
                "streaming.started",
                "call.hangup",
                "streaming.stopped",
            )
        }

    def _signed(self, event_type: str, leg: dict[str, str]) -> tuple[bytes, dict[str, str]]:
        payload = {**leg, "direction": "incoming", "state": "parked", "client_state": None}
        if event_type == "call.hangup":
            payload.update(hangup_cause="normal_clearing", hangup_source="caller")
        body = json.dumps(webhook(event_type, payload)).encode()
        return body, sign(SIGNING_KEY, body)

    async def post_all(self, event_type: str) -> None:
        statuses = await asyncio.gather(
            *(_post(body, headers) for body, headers in self.signed[event_type])
        )
        refused = [status for status in statuses if status != 200]
        assert not refused, refused


async def _post(body: bytes, headers: dict[str, str]) -> int:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/telnyx/events",
        "raw_path": b"/telnyx/events",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            *((k.encode(), v.encode()) for k, v in headers.items()),
        ],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
    }
    sent: list[dict[str, Any]] = []
    request = {"type": "http.request", "body": body, "more_body": False}
    received = asyncio.Event()

    async def receive() -> dict[str, Any]:
        if received.is_set():
            await asyncio.Future()  # the client never disconnects
        received.set()
        return request

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await WEBHOOKS(scope, receive, send)
    return int(next(m["status"] for m in sent if m["type"] == "http.response.start"))


async def _whole_calls(hooks: Webhooks, telnyx: FakeTelnyx) -> list[tuple[str, str]]:
    """Ring, answer and start streaming every call of `hooks`; their media URLs' parts."""
    await hooks.post_all("call.initiated")
    await tasks.drain()  # the answers
    answers = {
        body["client_state"]: body["stream_url"] for body in telnyx.bodies("/actions/answer")
    }
    await hooks.post_all("call.answered")
    await hooks.post_all("streaming.started")
    await tasks.drain()
    urls = [answers[base64.b64encode(cid.encode()).decode()] for cid in await _call_ids(hooks)]
    return [(url.rsplit("/", 2)[-2], url.rsplit("/", 1)[-1]) for url in urls]


async def _call_ids(hooks: Webhooks) -> list[str]:
    ccids = [leg["call_control_id"] for leg in hooks.legs]
    found = {
        c.call_control_id: str(c.pk) async for c in Call.objects.filter(call_control_id__in=ccids)
    }
    return [found[ccid] for ccid in ccids]


class Round(NamedTuple):
    cpu_ms: float  # set-up CPU per call
    wall_ms: float  # the set-up burst, first webhook to the last echo
    writes: float  # set-up database writes per call
    teardown_cpu_ms: float
    teardown_writes: float


async def one_round(n: int, profile: cProfile.Profile | None, scope: str = "media") -> Round:
    """The set-up and tear-down costs of n calls at once."""
    telnyx = FakeTelnyx()
    telnyx_client.install_client(telnyx.client())
    if scope == "call":
        hooks = Webhooks(n)  # signed before the clock starts
    else:
        calls = await sync_to_async(_new_calls)(n)
    writes, cpu, wall = COUNTER.writes, time.process_time(), time.perf_counter()
    if profile is not None:
        profile.enable()
    if scope == "call":
        calls = await _whole_calls(hooks, telnyx)
    sockets = await asyncio.gather(*(_set_up(call_id, token) for call_id, token in calls))
    await tasks.drain()  # what set-up left for later (events) is set-up cost too
    if profile is not None:
        profile.disable()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    writes = COUNTER.writes - writes
    down_writes, down_cpu = COUNTER.writes, time.process_time()
    await asyncio.gather(*(_tear_down(socket) for socket in sockets))
    if scope == "call":
        # In Telnyx's order (telnyx-protocol.md §1.2 and §2.5, observed on a live call): the
        # stream's stop, streaming.stopped, then call.hangup.
        await hooks.post_all("streaming.stopped")
        await hooks.post_all("call.hangup")
    await tasks.drain()
    down_cpu, down_writes = time.process_time() - down_cpu, COUNTER.writes - down_writes
    return Round(cpu / n * 1000, wall * 1000, writes / n, down_cpu / n * 1000, down_writes / n)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=150)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--scope", choices=("media", "call"), default="media")
    parser.add_argument("--profile", action="store_true", help="print the top of a profile")
    args = parser.parse_args()
    await sync_to_async(call_command)("migrate", verbosity=0)
    await one_round(10, None, args.scope)  # warm up: imports, first connections, caches
    profile = cProfile.Profile() if args.profile else None
    results = [await one_round(args.calls, profile, args.scope) for _ in range(args.rounds)]
    cpu = [r.cpu_ms for r in results]
    down = [r.teardown_cpu_ms for r in results]
    print(
        f"{args.scope} set-up, {args.calls} calls at once, {args.rounds} rounds ({ROOT}):"
        f" set-up CPU {statistics.median(cpu):.2f} ms/call (median; min {min(cpu):.2f}),"
        f" burst {statistics.median(r.wall_ms for r in results):.0f} ms,"
        f" {statistics.median(r.writes for r in results):.1f} database writes/call;"
        f" tear-down CPU {statistics.median(down):.2f} ms/call (median; min {min(down):.2f}),"
        f" {statistics.median(r.teardown_writes for r in results):.1f} writes/call"
    )
    if profile is not None:
        pstats.Stats(profile).sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    asyncio.run(main())
