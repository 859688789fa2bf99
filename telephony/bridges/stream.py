"""The Stream bridge: the caller joins the call's Stream call as `phone-<call uuid>`, where
the agent (Vision Agents) answers. Wire-level notes: stream-bridge.md (getstream[webrtc] 7.0).

Uplink: each caller frame (int16 at the call's rate) becomes a `PcmData` written to an
`AudioStreamTrack` at that rate; the SDK resamples to 48 kHz, encodes Opus and paces it, one
20 ms frame per 20 ms, so anything queued ahead of the caller stays as latency for the whole
call. Hence nothing is written before the track is published, both queues hold jitter only
(UPLINK_BUFFER_MS), and the track is flushed while the caller is quiet. Downlink:
telephony.bridges.downlink. Events: DTMF becomes a custom call event; the Stream call ending,
the agent leaving or everyone else leaving hangs up the phone (a summoned agent that never
arrives or leaves for good fails the call: the caller hears the apology); a custom
`{"type": "interrupt"}` from the agent is a barge-in. A handler that raises is logged with its
traceback, apart from the SFU's errors. The seam: telephony.bridges.rtc.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from django.conf import settings

from telephony import tasks
from telephony.bridges import (
    AgentSink,
    Bridge,
    CallInfo,
    MediaFormat,
    preparation,
    rtc,
    stream_calls,
)
from telephony.bridges.downlink import Downlink, participant_key
from telephony.bridges.presence import Presence
from telephony.bridges.stream_calls import StreamCallError
from telephony.bridges.vad import EnergyVad
from telephony.media.codecs import get_codec

logger = logging.getLogger(__name__)

# The track's buffer, and the Rust queue sized from it (stream-bridge.md §3.2): a frame being
# encoded plus one of jitter. The Rust pacer takes one 20 ms frame per 20 ms tick and Telnyx
# feeds in real time, so whatever this holds never drains: it is a bound on added latency.
UPLINK_BUFFER_MS = 40
UPLINK_QUEUE_FRAMES = 3  # caller frames waiting for the pump: only while the loop is busy
# The Rust queue holds what it gets until the SFU publisher first connects, and jitter ratchets
# it up to UPLINK_BUFFER_MS; Python cannot see either. Flushing while the caller is quiet
# drops that standing backlog and costs at most UPLINK_BUFFER_MS of silence.
QUIET_FLUSH_MS = 200
LEAVE_TIMEOUT = 5.0


class StreamBridge(Bridge):
    name = "stream"
    prepares_ahead = True

    @classmethod
    def load_at_start_up(cls) -> None:
        # ~1.5 s and ~100 MB once per worker at start-up, rather than in the first call's
        # event loop (stream-bridge.md §3.7). Other bridges never load the WebRTC stack.
        import getstream.video.rtc  # noqa: F401

    def __init__(
        self, *, join: rtc.RtcJoin | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._join = join or rtc.rtc_join
        self._clock = clock
        self._call: CallInfo | None = None
        self._sink: AgentSink | None = None
        self._rate = 8000
        self._phone_user = ""
        self._vad: EnergyVad | None = None
        self._downlink: Downlink | None = None
        self._uplink: asyncio.Queue[np.ndarray | None] = asyncio.Queue(UPLINK_QUEUE_FRAMES)
        self._published = False
        self._quiet_samples = 0  # how long the caller has been quiet, in samples
        self._events: asyncio.Queue[dict[str, Any]] = asyncio.Queue(64)
        self._tasks: list[asyncio.Task[None]] = []
        self._joining: asyncio.Task[None] | None = None
        self._conn: rtc.RtcConnection | None = None
        self._track: Any = None
        self.presence: Presence | None = None
        self._closed = self._left = self._hung_up = self._warned_identity = False
        self.figures: dict[str, Any] = {
            "uplink_frames": 0,
            "uplink_dropped": 0,
            "uplink_unpublished": 0,
            "uplink_flushes": 0,
            "interrupts": 0,
        }

    # Bridge ---------------------------------------------------------------------------

    async def start(self, *, call: CallInfo, media_format: MediaFormat, sink: AgentSink) -> None:
        self._call, self._sink, self._rate = call, sink, media_format.sample_rate
        self._phone_user = stream_calls.phone_user_id(call.call_id)
        agent = settings.STREAM_AGENT_USER_ID
        self.presence = Presence(
            phone_user=self._phone_user,
            agent_user=agent,
            on_gone=self._hang_up,
            # A summoned agent that does not show up is a failure the caller is told about.
            on_agent_missing=self._agent_missing if settings.AGENT_SERVER_URL else None,
        )
        self._vad = EnergyVad(rate=self._rate, clock=self._clock)
        self._downlink = Downlink(
            rate=get_codec(settings.STREAM_BIDIRECTIONAL_CODEC).sample_rate,
            sink=sink,
            caller_speech_onset=self._vad.speech_onset,
            clock=self._clock,
        )
        self._spawn(self._downlink.run(), "downlink")
        self._joining = self._spawn(self._connect(), "join")

    def feed_caller_audio(self, samples: np.ndarray) -> None:
        if self._closed or self._vad is None:
            return
        flush_due = self._flush_due(len(samples), voiced=self._vad.update(samples))
        if not self._published:
            # Queued now, it would reach the agent late for the rest of the call.
            self.figures["uplink_unpublished"] += 1
            return
        self._enqueue(samples)
        if flush_due:
            self._enqueue(None)  # the pump flushes the track

    async def dtmf(self, digit: str) -> None:
        # Sent by a task: the session awaits this in its frame loop, REST must not hold it.
        try:
            self._events.put_nowait({"type": "dtmf", "digit": digit})
        except asyncio.QueueFull:
            logger.warning("dropped DTMF %s: the Stream call is not taking events", digit)

    async def close(self, reason: str) -> None:
        if self._closed:
            return
        self._closed = True
        if self.presence is not None:
            self.presence.stop()
        if self._joining is not None and not self._joining.done():
            # Cancelling connect() is safe: the SDK leaves what it half-joined.
            self._joining.cancel()
            await asyncio.gather(self._joining, return_exceptions=True)
        await self._leave()
        if self._track is not None:
            self._track.stop()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._call is not None:
            call_id = self._call.call_id
            tasks.spawn(preparation.teardown(call_id=call_id), name=f"bridge-teardown:{call_id}")

    def describe(self) -> dict[str, Any]:
        figures = dict(self.figures)
        if self._downlink is not None:
            stats = self._downlink.stats
            figures |= {
                "downlink_events": stats.events,
                "downlink_dropped": stats.dropped,
                "downlink_samples": stats.samples_out,
                "mixed_slots": stats.mixed_slots,
                "utterances": stats.utterances,
                "barge_ins": stats.barge_ins,
                "remote_streams": len(stats.participants),
            }
        return figures

    # Joining --------------------------------------------------------------------------

    async def _connect(self) -> None:
        assert self._call is not None
        call_id, timeout = self._call.call_id, settings.STREAM_JOIN_TIMEOUT
        started = self._clock()
        try:
            async with asyncio.timeout(timeout):
                await self._join_call(call_id, timeout)
        except preparation.PreparationFailed as exc:
            logger.info("not joining the Stream call: %s", exc)
            return
        except TimeoutError:
            await self._fail(f"could not join the Stream call within {timeout:g} s")
            return
        except Exception as exc:
            logger.warning("joining the Stream call failed", exc_info=True)
            await self._fail(f"could not join the Stream call: {exc or type(exc).__name__}")
            return
        if settings.AGENT_SERVER_URL and self.presence is not None and not self._closed:
            self.presence.expect_agent(settings.AGENT_ARRIVAL_TIMEOUT)
        join_ms = round((self._clock() - started) * 1000)
        self.figures["join_ms"] = join_ms
        logger.info("joined the Stream call in %d ms", join_ms)
        await preparation.mark_joined(call_id=call_id, join_ms=join_ms)

    async def _join_call(self, call_id: Any, timeout: float) -> None:
        # The WebRTC SDK (~0.7 s on top of getstream's ~1.8 s), off the loop: the first
        # Stream call of a process must not stall every other call on this event loop.
        await stream_calls.import_in_thread("getstream.video.rtc")
        stream_call_id = await preparation.wait_for_stream_call(call_id=call_id, timeout=timeout)
        self._spawn(self._send_events(stream_call_id), "events")
        self._make_track()
        stream_call = await stream_calls.stream_call(stream_call_id)
        conn = await self._join(
            stream_call, self._phone_user, subscription_config=rtc.audio_only_subscription()
        )
        self._conn = conn
        self._listen(conn)
        await conn.connect()
        self._seed_participants(conn)
        await conn.add_tracks(audio=self._track)
        self._start_uplink()

    async def _fail(self, reason: str) -> None:
        self.figures["failure"] = reason
        await self._leave()
        assert self._call is not None
        await preparation.fail(call_id=self._call.call_id, reason=reason)

    async def _leave(self) -> None:
        """Leave the Stream call, once, bounded (the SDK's leave is idempotent, but ours is
        counted: every teardown path ends here)."""
        if self._conn is None or self._left:
            return
        self._left = True
        try:
            await asyncio.wait_for(self._conn.leave(), LEAVE_TIMEOUT)
            self.figures["leave"] = "left"
        except TimeoutError:
            self.figures["leave"] = "timed out"
            logger.warning("leaving the Stream call took over %g s", LEAVE_TIMEOUT)
        except Exception:
            self.figures["leave"] = "failed"
            logger.warning("leaving the Stream call failed", exc_info=True)

    # Uplink ---------------------------------------------------------------------------

    def _make_track(self) -> None:
        from getstream.video.rtc import AudioStreamTrack

        self._track = AudioStreamTrack(
            sample_rate=self._rate, channels=1, audio_buffer_size_ms=UPLINK_BUFFER_MS
        )

    def _start_uplink(self) -> None:
        """Feed the published track from now on: the caller's audio from before is gone."""
        if self._closed:
            return
        self._published = True
        self._spawn(self._pump_uplink(), "uplink")

    def _enqueue(self, item: np.ndarray | None) -> None:
        if self._uplink.full():  # the track is not keeping up: the oldest frame is stalest
            self._uplink.get_nowait()
            self.figures["uplink_dropped"] += 1
        self._uplink.put_nowait(item)

    def _flush_due(self, count: int, *, voiced: bool) -> bool:
        """True once per QUIET_FLUSH_MS that the caller stays quiet (as the VAD hears it)."""
        if voiced:
            self._quiet_samples = 0
            return False
        every = self._rate * QUIET_FLUSH_MS // 1000
        before, self._quiet_samples = self._quiet_samples, self._quiet_samples + count
        return self._quiet_samples // every > before // every

    async def _pump_uplink(self) -> None:
        from getstream.video.rtc import AudioFormat, PcmData

        track, rate = self._track, self._rate
        while True:
            samples = await self._uplink.get()
            if samples is None:
                # Also clears the Rust queue: the SDK's forwarder relays the flush.
                await track.flush()
                self.figures["uplink_flushes"] += 1
                continue
            # Our own G.711 tables already decoded the frame: no from_g711/g711_bytes here.
            await track.write(PcmData(sample_rate=rate, format=AudioFormat.S16, samples=samples))
            self.figures["uplink_frames"] += 1

    # Events ---------------------------------------------------------------------------

    def _listen(self, conn: rtc.RtcConnection) -> None:
        assert self._downlink is not None
        conn.on("audio", self._downlink.put)  # plain functions: no task per event
        conn.on("call_ended", self._on_call_ended)
        conn.on("participant_joined", self._on_participant_joined)
        conn.on("participant_left", self._on_participant_left)
        conn.on("custom", self._on_custom)
        conn.on("connection.state_changed", self._on_state_changed)
        conn.on("error", self._on_error)

    def _on_call_ended(self, event: Any = None) -> None:
        self._hang_up("the Stream call ended")

    def _on_participant_joined(self, event: Any) -> None:
        self._arrived(event.participant)

    def _arrived(self, participant: Any) -> None:
        if self.presence is not None:
            self.presence.arrived(participant)
        user_id, agent = participant.user_id, settings.STREAM_AGENT_USER_ID
        if self._call is None or user_id in (self._phone_user, agent):
            return
        call_id = self._call.call_id
        session_id = getattr(participant, "session_id", "")
        tasks.spawn(
            preparation.note_participant(call_id=call_id, user_id=user_id, session_id=session_id),
            name=f"bridge-participant:{call_id}",
        )
        if not self._warned_identity:
            # Once per call: a mismatched id turns the agent-left hang-up into the slower
            # everyone-left one, and makes the agent's Stream user a phantom member.
            self._warned_identity = True
            logger.warning(
                "%r joined the Stream call, but STREAM_AGENT_USER_ID is %r: if %r is the "
                "agent, set STREAM_AGENT_USER_ID to its user id",
                user_id,
                agent,
                user_id,
            )

    def _on_participant_left(self, event: Any) -> None:
        if self._downlink is not None:
            self._downlink.forget(participant_key(event.participant))
        if self.presence is not None:
            self.presence.left(event.participant)

    def _on_custom(self, data: Any) -> None:
        custom = data.get("custom") if isinstance(data, dict) else None
        if isinstance(custom, dict) and custom.get("type") == "interrupt":
            self.figures["interrupts"] += 1
            if self._downlink is not None:
                self._downlink.interrupt()
            if self._sink is not None and not self._closed:
                self._sink.interrupt()

    def _on_state_changed(self, change: dict[str, Any]) -> None:
        logger.info("Stream connection %s -> %s", change.get("old"), change.get("new"))

    def _on_error(self, event: Any) -> None:
        # pyee emits `error` with the exception when one of our handlers raises; the SFU's
        # own errors come as `getstream_rtc.Error` events (never exceptions).
        if isinstance(event, BaseException):
            call_id = str(self._call.call_id) if self._call is not None else "-"
            logger.error(
                "a Stream bridge event handler failed (call %s)",
                call_id,
                exc_info=event,
                extra={"call_id": call_id},
            )
            return
        error = getattr(event, "error", None)
        logger.warning("Stream SFU error: %s", getattr(error, "message", event))

    def _seed_participants(self, conn: rtc.RtcConnection) -> None:
        # Those already in the call; `participant_joined` only tells of later arrivals.
        state = getattr(conn, "participants_state", None)
        for participant in state.get_participants() if state is not None else []:
            self._arrived(participant)

    def _agent_missing(self, reason: str) -> None:
        if self._closed or self._hung_up or self._call is None:
            return
        self._hung_up = True  # the apology hangs up, after speaking
        self.figures["hung_up"] = reason
        call_id = self._call.call_id
        tasks.spawn(self._fail(reason), name=f"bridge-agent-missing:{call_id}")

    def _hang_up(self, reason: str) -> None:
        if self._closed or self._hung_up or self._sink is None:
            return
        self._hung_up = True
        self.figures["hung_up"] = reason
        self._sink.hang_up(reason)

    async def _send_events(self, stream_call_id: str) -> None:
        while True:
            custom = await self._events.get()
            try:
                await stream_calls.send_event(
                    stream_call_id, user_id=self._phone_user, custom=custom
                )
            except StreamCallError as exc:
                logger.warning("could not send %s to the Stream call: %s", custom, exc)

    def _spawn(self, coro: Any, name: str) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coro, name=f"stream-{name}")
        self._tasks.append(task)
        return task
