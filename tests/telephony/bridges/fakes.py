"""Stand-ins for what cannot run here: Stream's REST API and SFU, and the agent server.

Each one sits at the narrowest seam, so phonebridge's code and the SDK's own code run for real:
* `FakeStreamApi` answers the real `AsyncStream` over httpx.MockTransport, in Stream's formats;
* `AgentServer` speaks the agent server's HTTP API over a real socket (uvicorn);
* `FakeJoin` replaces only `rtc.join`: its connection publishes through the SDK's
  `AudioForwarder` into `PacedLocalTrack` (the Rust track's pacing, around a real
  `getstream_rtc.LocalAudioTrack`), and emits real 48 kHz `PcmData` "audio" events in
  real time, a packet per packet's duration, as remote audio arrives (`RemoteAudioTrack`;
  stream-bridge.md §3.3, §4.3).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import getstream_rtc
import httpx
import jwt
import numpy as np
import uvicorn
from pyee.asyncio import AsyncIOEventEmitter

from tests.live import read_body

API_KEY = "stream-test-key"
API_SECRET = "stream-test-secret-long-enough-for-hs256-keys"

# Fields phonebridge never reads (call settings, user unread counts) are left out of the
# stand-in's answers; the SDK fills them with None and warns.
SDK_FILLS_MISSING = "ignore:Missing value of non-optional type:RuntimeWarning"


# Stream's REST API -----------------------------------------------------------------------


def stream_user(user_id: str, name: str | None = None) -> dict[str, Any]:
    now = time.time_ns()  # Stream's timestamps are unix nanoseconds
    return {
        "id": user_id,
        "name": name or "",
        "role": "user",
        "language": "",
        "custom": {},
        "teams": [],
        "blocked_user_ids": [],
        "online": False,
        "banned": False,
        "shadow_banned": False,
        "invisible": False,
        "created_at": now,
        "updated_at": now,
    }


# What a FullUserResponse (query_users) adds to a stored user.
_FULL_USER: dict[str, Any] = {
    "total_unread_count": 0,
    "unread_channels": 0,
    "unread_count": 0,
    "unread_threads": 0,
    "channel_mutes": [],
    "devices": [],
    "mutes": [],
}


def _call(call_type: str, call_id: str, data: dict[str, Any]) -> dict[str, Any]:
    now = time.time_ns()
    return {
        "id": call_id,
        "type": call_type,
        "cid": f"{call_type}:{call_id}",
        "backstage": False,
        "captioning": False,
        "recording": False,
        "transcribing": False,
        "translating": False,
        "current_session_id": "",
        "created_at": now,
        "updated_at": now,
        "blocked_user_ids": [],
        "custom": data.get("custom") or {},
        "created_by": stream_user(data.get("created_by_id") or "?"),
        "egress": {"broadcasting": False, "rtmps": []},
        "ingress": {"rtmp": {"address": ""}, "srt": {"address": ""}, "whip": {"address": ""}},
        "settings": {},
    }


def _error(status: int) -> dict[str, Any]:
    # Stream's APIError: the SDK needs every one of these fields to build its exception.
    return {
        "code": 4,
        "message": "refused",
        "StatusCode": status,
        "duration": "1ms",
        "more_info": "https://getstream.io/chat/docs/api_errors_response",
        "details": [],
    }


@dataclass
class FakeStreamApi:
    requests: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    failures: dict[str, list[int]] = field(default_factory=dict)  # path suffix -> statuses
    created: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Stored users, as Stream keeps them: an upsert replaces the whole user.
    users: dict[str, dict[str, Any]] = field(default_factory=dict)

    async def handler(self, request: httpx.Request) -> httpx.Response:
        assert request.url.params["api_key"] == API_KEY
        # A server token: signed with the secret, for no particular user.
        claims = jwt.decode(request.headers["authorization"], API_SECRET, algorithms=["HS256"])
        assert "user_id" not in claims
        body = json.loads(request.content) if request.content else {}
        if "payload" in request.url.params:  # GET queries carry their JSON in the URL
            # The SDK spells out unset options as null; Stream reads null as absent.
            payload = json.loads(request.url.params["payload"])
            body = {key: value for key, value in payload.items() if value is not None}
        path = request.url.path
        self.requests.append((request.method, path, body))
        for suffix, statuses in self.failures.items():
            if path.endswith(suffix) and statuses:
                status = statuses.pop(0)
                return httpx.Response(status, json=_error(status))
        if request.method == "GET" and path == "/api/v2/users":
            return self._query_users(body)
        return self._answer(path, body)

    def _query_users(self, payload: dict[str, Any]) -> httpx.Response:
        # Only the filter phonebridge sends: {"id": {"$eq": ...}} (Stream's query syntax).
        wanted = payload["filter_conditions"]["id"]["$eq"]
        found = [self.users[wanted] | _FULL_USER] if wanted in self.users else []
        return httpx.Response(200, json={"duration": "1ms", "users": found})

    def _answer(self, path: str, body: dict[str, Any]) -> httpx.Response:
        if path == "/api/v2/users":
            users = {uid: stream_user(uid, u.get("name")) for uid, u in body["users"].items()}
            for uid, stored in users.items():
                self.users[uid] = stored | {"custom": body["users"][uid].get("custom") or {}}
            return httpx.Response(
                201, json={"duration": "1ms", "users": users, "membership_deletion_task_id": ""}
            )
        if path.endswith(("/event", "/mark_ended")):
            return httpx.Response(201, json={"duration": "1ms"})
        call_type, call_id = path.removeprefix("/api/v2/video/call/").split("/")
        created = call_id not in self.created
        call = self.created.setdefault(call_id, _call(call_type, call_id, body.get("data") or {}))
        return httpx.Response(
            201,
            json={
                "duration": "1ms",
                "created": created,
                "members": [],
                "own_capabilities": ["join-call", "send-audio"],
                "call": call,
            },
        )

    def client(self) -> Any:
        from getstream import AsyncStream

        return AsyncStream(API_KEY, API_SECRET, transport=httpx.MockTransport(self.handler))

    def bodies(self, suffix: str) -> list[dict[str, Any]]:
        return [body for _, path, body in self.requests if path.endswith(suffix)]


# The agent server ------------------------------------------------------------------------


class AgentServer:
    """A raw ASGI app answering as Vision Agents' agent server does (its HTTP routes,
    `agents-core/vision_agents/core/runner/http/api.py`, and the launcher behind them):
    * `POST /calls/{id}/sessions` answers 201 as soon as the session is registered: the
      agent's join to the Stream call runs in the background, later or never. This double
      never joins anyone; tests make the agent arrive with `FakeRtcConnection.joins()`;
    * `DELETE .../sessions/{id}` answers 202; the session closes on the owning node's next
      maintenance cycle (`close_seconds`, about 5 s), so it is still known (and the agent
      still in the call) until then; an unknown session is 404;
    * a body without `call_type` is 422 (FastAPI's validation); the launcher failing is 500.
    `mode` picks the server's mood: "ok", "full" (429), "broken" (500), "slow" (answers after
    `slow_seconds`)."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.slow_seconds = 2.0
        self.close_seconds = 5.0
        self.requests: list[tuple[str, str, dict[str, Any]]] = []
        self.sessions: dict[str, str] = {}  # session id -> call id, until it has closed
        self.closing: set[str] = set()  # DELETE accepted, not closed yet
        self._closed: list[str] = []
        self.url = ""

    def open_sessions(self) -> dict[str, str]:
        """Sessions nobody asked to close."""
        return {s: c for s, c in self.sessions.items() if s not in self.closing}

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        body = await read_body(receive)
        method, parts = scope["method"], scope["path"].strip("/").split("/")
        self.requests.append((method, scope["path"], json.loads(body) if body else {}))
        status, answer = await self._answer(method, parts, json.loads(body) if body else {})
        payload = json.dumps(answer).encode()
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})

    async def _answer(
        self, method: str, parts: list[str], body: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        if self.mode == "slow":
            await asyncio.sleep(self.slow_seconds)
        if method == "POST" and len(parts) == 3 and parts[::2] == ["calls", "sessions"]:
            if not isinstance(body.get("call_type"), str):
                return 422, {"detail": [{"loc": ["body", "call_type"], "msg": "Field required"}]}
            if self.mode == "full":
                return 429, {"detail": "no capacity"}
            if self.mode == "broken":
                return 500, {"detail": "Failed to start agent"}
            session_id = f"agent-session-{len(self.sessions) + len(self._closed) + 1}"
            self.sessions[session_id] = parts[1]
            return 201, {"session_id": session_id, "call_id": parts[1], "config": {}}
        if method == "DELETE" and len(parts) == 4 and self.sessions.get(parts[3]) == parts[1]:
            if parts[3] not in self.closing:
                self.closing.add(parts[3])
                asyncio.get_running_loop().call_later(self.close_seconds, self._close, parts[3])
            return 202, {}
        return 404, {"detail": "not found"}

    def _close(self, session_id: str) -> None:
        self.sessions.pop(session_id, None)
        self.closing.discard(session_id)
        self._closed.append(session_id)

    def calls(self, method: str) -> list[tuple[str, dict[str, Any]]]:
        return [(path, body) for m, path, body in self.requests if m == method]


@contextlib.asynccontextmanager
async def serving(app: Any) -> AsyncIterator[str]:
    """Serve `app` with uvicorn on a free port of 127.0.0.1, on this test's event loop."""
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, lifespan="off", log_level="warning",
        timeout_graceful_shutdown=1,
    )  # fmt: skip
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(5):
            while not server.started:
                if task.done():
                    task.result()
                await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        await task


# The SFU side of rtc.join ------------------------------------------------------------------


@dataclass(frozen=True)
class Participant:
    """Shaped like getstream_rtc.RemoteParticipant (which Python cannot construct)."""

    user_id: str
    session_id: str = ""
    name: str = ""


@dataclass(frozen=True)
class ParticipantEvent:
    participant: Participant


_REAL_LOCAL_AUDIO_TRACK = getstream_rtc.LocalAudioTrack
FRAME_48K = 960  # one 20 ms Opus frame at 48 kHz


class PacedLocalTrack:
    """The Rust client's published `LocalAudioTrack`, pacing as the real one does.

    Copies GetStream/stream-video-rust `src/rtc/local_track.rs` (`src/rtc/tracks/local.rs`
    in newer versions): `write_pcm` resamples to 48 kHz mono and queues; `push_bounded_pcm`
    keeps at most the capacity, dropping the OLDEST samples, and `write_pcm` then raises
    `PcmQueueOverflowError`; `pace_audio` runs a 20 ms tokio interval
    (`MissedTickBehavior::Skip`) that takes exactly one 20 ms frame per tick, zero-filled
    when the queue runs short. The crate snapshot read has a fixed 200 ms queue and paces at
    once; the installed binding (getstream_rtc 0.1.0) counts `pcm_queue_capacity` seconds in
    48 kHz samples (`None`: 60 s) and holds the queue until the SFU publisher first connects,
    here until `publisher_connected()`. test_contract.py checks both against the real track.

    The real track still checks every write (rate changes, the capacity's minimum); it is
    flushed after each one, since offline it never drains. Resampling holds each sample
    (48 kHz is a multiple of the phone rates) rather than filtering, so a test can find each
    caller frame in what was encoded."""

    def __init__(self, pcm_queue_capacity: float | None = None) -> None:
        self.real = _REAL_LOCAL_AUDIO_TRACK(pcm_queue_capacity=pcm_queue_capacity)
        self.capacity_samples = round(
            (60.0 if pcm_queue_capacity is None else pcm_queue_capacity) * 48000
        )
        self.queue = np.zeros(0, dtype=np.int16)
        self.frames: list[tuple[np.ndarray, int, int]] = []  # as write_pcm was given them
        self.encoded: list[tuple[float, np.ndarray]] = []  # (loop time, 20 ms at 48 kHz)
        self.flushes = 0
        self.dropped_samples = 0
        self._pacer: asyncio.Task[None] | None = None
        self._stopped = False

    async def write_pcm(self, samples: np.ndarray, sample_rate: int, channels: int) -> None:
        if self._stopped:
            raise getstream_rtc.IllegalStateError("write to a stopped track")
        self.frames.append((np.array(samples), sample_rate, channels))
        with contextlib.suppress(getstream_rtc.PcmQueueOverflowError):
            await self.real.write_pcm(samples, sample_rate, channels)
        self.real.flush()
        queued = np.concatenate([self.queue, _held_48k_mono(samples, sample_rate, channels)])
        overflow = max(0, len(queued) - self.capacity_samples)
        self.queue = queued[overflow:]
        if overflow:
            self.dropped_samples += overflow
            raise getstream_rtc.PcmQueueOverflowError(
                "pcm queue overflow", overflow, self.capacity_samples
            )

    def flush(self) -> None:
        self.flushes += 1
        self.queue = self.queue[:0]

    def publisher_connected(self) -> None:
        """The SFU publisher connected for the first time: pacing starts."""
        if self._pacer is None and not self._stopped:
            self._pacer = asyncio.create_task(self._pace())

    async def stop(self) -> None:
        self._stopped = True
        if self._pacer is not None:
            self._pacer.cancel()
            await asyncio.gather(self._pacer, return_exceptions=True)

    async def _pace(self) -> None:
        loop = asyncio.get_running_loop()
        tick = loop.time()  # a tokio interval's first tick is at once
        while True:
            frame, self.queue = self.queue[:FRAME_48K], self.queue[FRAME_48K:]
            frame = np.pad(frame, (0, FRAME_48K - len(frame)))  # silence when starved
            self.encoded.append((loop.time(), frame))
            tick += 0.02
            late = loop.time() - tick
            if late > 0:  # Skip: missed ticks are not made up, the grid stays
                tick += (late // 0.02 + 1) * 0.02
            await asyncio.sleep(tick - loop.time())

    def pcm(self) -> np.ndarray:
        return np.concatenate([f[0] for f in self.frames]) if self.frames else np.zeros(0)


def _held_48k_mono(samples: np.ndarray, rate: int, channels: int) -> np.ndarray:
    mono = np.asarray(samples, dtype=np.int16)
    if channels == 2:
        mono = (mono.reshape(-1, 2).astype(np.int32).sum(axis=1) // 2).astype(np.int16)
    assert 48000 % rate == 0, f"the double holds samples: {rate} Hz must divide 48 kHz"
    return np.repeat(mono, 48000 // rate)


class FakeRtcConnection(AsyncIOEventEmitter):
    def __init__(self, call: Any, user_id: str, subscription_config: Any, join: FakeJoin):
        super().__init__()
        self.call, self.user_id, self.subscription_config = call, user_id, subscription_config
        self._join = join
        self.connected = asyncio.Event()
        self.published: PacedLocalTrack | None = None
        self.published_at = 0.0  # loop time of add_tracks
        self.published_track: Any = None
        self.leave_calls = 0
        self._forwarding: asyncio.Task[None] | None = None
        self._remote_tracks: dict[tuple[str, str], RemoteAudioTrack] = {}

    async def connect(self) -> None:
        await asyncio.sleep(self._join.connect_seconds)
        if self._join.connect_hangs:
            await asyncio.Event().wait()
        if self._join.connect_error is not None:
            raise self._join.connect_error

    async def add_tracks(self, audio: Any = None, video: Any = None) -> None:
        from getstream.video.rtc.audio_forwarder import AudioForwarder

        # As ConnectionManager._publish_audio: the Rust queue is sized by the track's buffer.
        self.published = PacedLocalTrack(audio.audio_buffer_size_ms / 1000)
        self.published_track = audio
        self.published_at = asyncio.get_running_loop().time()
        self._forwarding = asyncio.create_task(AudioForwarder(audio, self.published).run())
        # ICE and DTLS of the publisher's peer connection take a while after the publish.
        asyncio.get_running_loop().call_later(
            self._join.publisher_connect_delay, self.published.publisher_connected
        )
        self.connected.set()

    async def leave(self) -> None:
        self.leave_calls += 1
        if self._forwarding is not None:
            self._forwarding.cancel()
            await asyncio.gather(self._forwarding, return_exceptions=True)
        if self.published is not None:
            await self.published.stop()
        for track in self._remote_tracks.values():  # leaving drops the remote tracks
            await track.stop()

    # What the SFU would do -----------------------------------------------------------

    def remote_audio(
        self, samples_48k: np.ndarray, user_id: str, *, session_id: str = "", packet_ms: int = 20
    ) -> None:
        """`user_id` says `samples_48k`: queued on that participant's remote track, which
        hands it over in real time, one decoded `packet_ms` packet every `packet_ms`, after
        whatever it is still playing (`RemoteAudioTrack`). Returns at once; await
        `remote_audio_sent()` to know the last packet was emitted."""
        key = (user_id, session_id or f"{user_id}-session")
        track = self._remote_tracks.get(key)
        if track is None:
            track = self._remote_tracks[key] = RemoteAudioTrack(self, Participant(*key))
        track.send(samples_48k, packet_ms)

    async def remote_audio_sent(self, timeout: float = 10.0) -> None:
        """Wait until every remote track has emitted all it was given."""
        async with asyncio.timeout(timeout):
            for track in list(self._remote_tracks.values()):
                await track.sent()

    def receive_packet(self, samples: np.ndarray, participant: Participant, pts: int) -> None:
        """One decoded packet arrives now: what ConnectionManager._emit_audio emits for each
        frame `RemoteTrack.next_pcm()` returns (getstream/video/rtc/connection_manager.py)."""
        from getstream.video.rtc import AudioFormat, PcmData

        pcm = PcmData(
            sample_rate=48000,
            format=AudioFormat.S16,
            samples=np.ascontiguousarray(samples, dtype=np.int16),
            channels=1,
            pts=pts,
            time_base=1 / 48000,
            participant=participant,
        )
        self.emit("audio", pcm)

    def joins(self, user_id: str, session_id: str = "") -> None:
        self.emit("participant_joined", ParticipantEvent(Participant(user_id, session_id)))

    def leaves(self, user_id: str, session_id: str = "") -> None:
        self.emit("participant_left", ParticipantEvent(Participant(user_id, session_id)))

    def ends(self) -> None:
        self.emit("call_ended", getstream_rtc.CallEnded())

    def custom(self, custom: dict[str, Any], user_id: str = "ai-agent") -> None:
        # A coordinator `custom` event as the SDK emits it: the whole JSON message.
        self.emit("custom", {"type": "custom", "custom": custom, "user": {"id": user_id}})


class RemoteAudioTrack:
    """One remote participant's audio track as the real SDK delivers it: in real time.

    getstream 7.0 emits one `audio` event per frame `getstream_rtc.RemoteTrack.next_pcm()`
    returns (`ConnectionManager._emit_audio`, getstream/video/rtc/connection_manager.py),
    and `next_pcm` returns each Opus packet as the network brings it ("decoded in network
    order as they arrive", stream-bridge.md §3.3). The publisher sends a packet per ptime on
    its clock: the SDK's paced `AudioStreamTrack` (`_FramePacer`, getstream/video/rtc/
    audio_track.py: the first frame at once, then one every 20 ms on a grid anchored at the
    first) and the Rust pacer that copies it. So an agent's half second of speech reaches
    the phone side over half a second, never in one burst; test_contract.py pins this
    against the real ConnectionManager fed by a real paced AudioStreamTrack.

    Like a publisher with DTX, the track sends nothing once it has nothing to say; audio
    given later starts a new grid then. A packet holds the track for its whole duration, so
    audio given while one is playing waits for the grid: never faster than real time.
    Network jitter (packets bunching up) is not modelled here; emit with `receive_packet`
    to make a burst on purpose.
    """

    def __init__(self, connection: FakeRtcConnection, participant: Participant) -> None:
        self.connection, self.participant = connection, participant
        self._packets: deque[tuple[np.ndarray, int]] = deque()  # (samples, packet_ms)
        self._task: asyncio.Task[None] | None = None
        self._pts = 0  # the RTP clock: 48 kHz samples since the track began

    def send(self, samples_48k: np.ndarray, packet_ms: int) -> None:
        step = 48 * packet_ms
        self._packets.extend(
            (samples_48k[start : start + step], packet_ms)
            for start in range(0, len(samples_48k), step)
        )
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def sent(self) -> None:
        while self._packets:
            await asyncio.sleep(0.005)

    async def stop(self) -> None:
        self._packets.clear()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time()  # the first packet at once, as _FramePacer's first frame
        while self._packets:
            await asyncio.sleep(max(0.0, due - loop.time()))
            samples, packet_ms = self._packets.popleft()
            self.connection.receive_packet(samples, self.participant, self._pts)
            self._pts += 48 * packet_ms
            due += packet_ms / 1000  # anchored: a late wake is caught up, not carried
        # The last packet plays for its duration: audio given meanwhile starts after it.
        await asyncio.sleep(max(0.0, due - loop.time()))


class RemoteVoice:
    """One remote participant's audio track as the phone's SDK hands it over: one decoded
    packet (20 ms, 48 kHz) per 20 ms, in real time, as `audio` events on `connection`.

    `dtx=False` copies a stock Vision Agents agent (getstream 4.1 on aiortc): its
    `AudioStreamTrack.recv()` returns 20 ms of silence when starved and aiortc's Opus encoder
    runs without DTX, so a packet arrives every 20 ms during pauses too, and the Rust
    receiver decodes every one (to zeros). `dtx=True` copies a publisher with Opus DTX
    (libopus `OPUS_SET_DTX`, RFC 6716): no packets in pauses except a comfort-noise frame every
    400 ms, decoded to a quiet hiss (here about -65 dBFS).
    """

    def __init__(
        self, connection: FakeRtcConnection, user_id: str, session_id: str, *, dtx: bool = False
    ) -> None:
        self.connection, self.user_id, self.session_id = connection, user_id, session_id
        self.dtx = dtx
        self.last_voiced_at = 0.0  # loop time of the last packet carrying speech
        self._queue: list[np.ndarray] = []
        self._task: asyncio.Task[None] | None = None
        self._noise = np.random.default_rng(7)
        self._pts = 0

    def say(self, samples_48k: np.ndarray) -> None:
        self._queue.extend(samples_48k[i : i + 960] for i in range(0, len(samples_48k), 960))

    def start(self) -> RemoteVoice:
        self._task = asyncio.create_task(self._run())
        return self

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def done_saying(self, timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            while self._queue:
                await asyncio.sleep(0.005)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        tick, packets = loop.time(), 0
        while True:
            if self._queue:
                self._emit(self._queue.pop(0))
                self.last_voiced_at = loop.time()
            elif not self.dtx:
                self._emit(np.zeros(960, dtype=np.int16))
            elif packets % 20 == 0:
                self._emit(self._noise.normal(0, 18, 960).astype(np.int16))
            packets += 1
            tick += 0.02  # a fixed schedule, as the sender's clock: no drift
            await asyncio.sleep(max(0.0, tick - loop.time()))

    def _emit(self, chunk: np.ndarray) -> None:
        # This loop is the publisher's clock already: the packet arrives now, unqueued.
        participant = Participant(self.user_id, self.session_id)
        self.connection.receive_packet(chunk, participant, self._pts)
        self._pts += len(chunk)


@dataclass
class FakeJoin:
    """Shaped like getstream.video.rtc.join."""

    connections: list[FakeRtcConnection] = field(default_factory=list)
    connect_error: Exception | None = None
    connect_hangs: bool = False
    connect_seconds: float = 0.0  # how long the join takes
    publisher_connect_delay: float = 0.15  # from the publish to the publisher's first connect

    async def __call__(
        self, call: Any, user_id: str, *, subscription_config: Any = None
    ) -> FakeRtcConnection:
        connection = FakeRtcConnection(call, user_id, subscription_config, self)
        self.connections.append(connection)
        return connection

    async def connection(self, timeout: float = 5.0) -> FakeRtcConnection:
        """The connection once it joined and published."""
        async with asyncio.timeout(timeout):
            while not self.connections:
                await asyncio.sleep(0.01)
            await self.connections[-1].connected.wait()
        return self.connections[-1]


# The phone side ----------------------------------------------------------------------------


@dataclass
class RecordingSink:
    audio: list[tuple[np.ndarray, int]] = field(default_factory=list)
    utterance_ends: int = 0
    interrupts: int = 0
    hang_ups: list[str] = field(default_factory=list)
    # (what, loop time): "audio", "end" and "interrupt", in the order the sink was told.
    log: list[tuple[str, float]] = field(default_factory=list)

    def agent_audio(self, samples: np.ndarray, sample_rate: int) -> None:
        self.audio.append((np.array(samples), sample_rate))
        self._note("audio")

    def agent_utterance_end(self) -> None:
        self.utterance_ends += 1
        self._note("end")

    def interrupt(self) -> None:
        self.interrupts += 1
        self._note("interrupt")

    def _note(self, what: str) -> None:
        with contextlib.suppress(RuntimeError):  # told outside a loop: order only
            self.log.append((what, asyncio.get_running_loop().time()))
            return
        self.log.append((what, 0.0))

    def at(self, what: str) -> list[float]:
        return [t for w, t in self.log if w == what]

    def pcm_after(self, what: str) -> np.ndarray:
        """The audio handed over after the sink was first told `what`."""
        kinds = [w for w, _ in self.log]
        first = kinds[: kinds.index(what)].count("audio")
        parts = [a for a, _ in self.audio[first:]]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)

    def hang_up(self, reason: str) -> None:
        self.hang_ups.append(reason)

    def pcm(self) -> np.ndarray:
        parts = [a for a, _ in self.audio]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)


async def eventually(predicate: Any, timeout: float = 3.0) -> None:
    """Wait until `predicate()` is true: the bridge works in its own tasks."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


def tone(freq: float, seconds: float, rate: int, amplitude: float = 8000.0) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    return np.round(amplitude * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def level_at(samples: np.ndarray, freq: float, rate: int) -> float:
    """The amplitude of the `freq` component of `samples` (a least-squares sine fit)."""
    t = np.arange(len(samples)) / rate
    basis = np.column_stack([np.sin(2 * np.pi * freq * t), np.cos(2 * np.pi * freq * t)])
    coeffs, *_ = np.linalg.lstsq(basis, samples.astype(np.float64), rcond=None)
    return float(np.hypot(*coeffs))


def snr_db(samples: np.ndarray, freq: float, rate: int) -> float:
    """Signal to noise-and-distortion of a pure tone: the best-fitting sine against the rest."""
    x = samples.astype(np.float64)
    t = np.arange(len(x)) / rate
    basis = np.column_stack([np.sin(2 * np.pi * freq * t), np.cos(2 * np.pi * freq * t)])
    coeffs, *_ = np.linalg.lstsq(basis, x, rcond=None)
    fitted = basis @ coeffs
    return float(10 * np.log10(np.sum(fitted**2) / np.sum((x - fitted) ** 2)))
