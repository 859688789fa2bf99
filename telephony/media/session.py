"""One call's media stream, as a short pipeline between the carrier and a bridge.

    caller:  message -> wire.parse -> reorder -> decode -> bridge (and the recording)
    agent:   audio -> resample -> PacedSender -> when due: record, encode, wire.media

The session knows no carrier's wire format: a `Wire` (telephony.media.frames) reads each
WebSocket message into a frame and writes the messages we send, and the codec we answer in
is the one we asked the carrier for (STREAM_BIDIRECTIONAL_CODEC), which may differ from the
caller's. It is plain Python: a Channels consumer (telephony.media.consumer) feeds it the
socket's messages and gives it a transport to send and close with. Nothing touches the
database per audio frame: the session stores events (start, DTMF, warnings, bad frames) in
the background, its figures every few seconds (telephony.media.live) and, once at the end,
its statistics (telephony.media.stats).

A peer cannot make it keep more than the caps allow (telephony.media.limits): stored events
and log lines per call are capped, and caller audio that runs ahead of the call's clock
(MEDIA_EARLY_ALLOWANCE_MS) is dropped before it reaches the bridge or the recording.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, Protocol

import numpy as np
from asgiref.sync import sync_to_async
from django.conf import settings

from calls.models import Call, CallEvent
from telephony import actions, storable, tasks
from telephony.bridges import Bridge, CallInfo, MediaFormat
from telephony.media import limits, live, stats
from telephony.media.codecs import FRAME_MS, Codec, UnsupportedCodec, get_codec
from telephony.media.conversation import Conversation
from telephony.media.frames import (
    BadFrame,
    CarrierWarning,
    Connected,
    Dtmf,
    InboundFrame,
    Mark,
    Media,
    Start,
    Stop,
    UnknownEvent,
    Wire,
)
from telephony.media.heartbeat import heartbeat
from telephony.media.limits import LogLimiter, StoreCaps, quote
from telephony.media.pacing import PacedSender
from telephony.media.recording import CallRecording
from telephony.media.reorder import ReorderBuffer

logger = logging.getLogger(__name__)

MARK_EVERY_FRAMES = 50  # one playback mark per second of agent audio
_SECOND = 1000 // FRAME_MS  # frames in a payload at most: RTP packets hold 10-60 ms


class Transport(Protocol):
    async def send_text(self, text: str) -> None: ...

    async def close(self, code: int) -> None: ...


class MediaSession:
    def __init__(
        self,
        *,
        call: Call,
        bridge: Bridge,
        transport: Transport,
        wire: Wire,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.call = call
        self.bridge = bridge
        self.transport = transport
        self.wire = wire
        self._clock = clock
        self._sleep = sleep
        self.out_codec: Codec = get_codec(
            wire.outbound_codec or settings.STREAM_BIDIRECTIONAL_CODEC,
            l16_big_endian=settings.L16_BIG_ENDIAN,
        )
        self.in_codec: Codec | None = None
        self.stream_id = ""
        self.inbound = stats.InboundStats()
        self.reorder: ReorderBuffer[bytes] = ReorderBuffer(window=settings.MEDIA_REORDER_WINDOW)
        self.sender = PacedSender(
            self._send_frame,
            self.out_codec,
            send_mark=self._send_mark,
            max_lead_ms=settings.MEDIA_MAX_LEAD_MS,
            max_lag_ms=settings.MAX_AGENT_AUDIO_LAG_MS,
            clock=clock,
            sleep=sleep,
        )
        self.recording: CallRecording | None = None
        self.conversation = Conversation(clock=clock)
        self.caps = StoreCaps(
            {
                "dtmf": settings.MEDIA_MAX_STORED_DTMF,
                "error": settings.MEDIA_MAX_STORED_WARNINGS,
                "bad_frame": settings.MEDIA_MAX_STORED_WARNINGS,
            }
        )
        self._log_limit = LogLimiter(clock)
        self._early_allowance_s = settings.MEDIA_EARLY_ALLOWANCE_MS / 1000
        self._seconds_per_byte = 0.0  # of caller audio, once `start` names its codec
        self._last_caller: np.ndarray | None = None  # for the live level; no work per frame
        self._last_agent: np.ndarray | None = None
        self._recording_capped_noted = False
        self.live = live.LiveSnapshots(
            call.pk, self._live_columns, interval=settings.MEDIA_SNAPSHOT_SECONDS, sleep=sleep
        )
        self.barge_ins = 0
        self._frames_since_mark = 0
        self._marks = 0
        self._resampler: Any = None
        self._sender_task: asyncio.Task[None] | None = None
        self._heartbeat_task: asyncio.Task[None] | None = None
        self._finished = False
        self._auth_token: str | None = None
        self.end_reason = ""

    @property
    def finished(self) -> bool:
        return self._finished

    def expect_auth_token(self, token: str) -> None:
        """Require the carrier's greeting (`Connected`) to carry `token`, before anything else."""
        self._auth_token = token

    # Frames from the carrier --------------------------------------------------------

    async def on_message(self, text: str | None, data: bytes | None = None) -> None:
        """One WebSocket message: `text` for a text frame, else the bytes of a binary one."""
        if self._finished:  # a frame that raced the close must not restart the stream
            return
        frame: InboundFrame
        if text is not None and len(text) > settings.MEDIA_MAX_FRAME_BYTES:
            frame = BadFrame("oversized_frame", f"{len(text)} bytes")
        else:
            frame = self.wire.parse(text, data)
        if self._auth_token is not None and not _may_precede_auth(frame):
            await self.end("stream auth token missing", code=1008)
            return
        await self._HANDLERS[type(frame)](self, frame)

    async def _on_connected(self, frame: Connected) -> None:
        logger.debug("media stream connected")
        if self._auth_token is None:
            return
        # Bytes: compare_digest refuses non-ASCII text, and the token may be any text.
        if not hmac.compare_digest(frame.auth_token.encode(), self._auth_token.encode()):
            await self.end("stream auth token missing or wrong", code=1008)
            return
        self._auth_token = None

    async def _on_start(self, frame: Start) -> None:
        if self.in_codec is not None:
            await self._bad("second_start")
            return
        try:
            codec = get_codec(
                frame.encoding, frame.sample_rate, l16_big_endian=settings.L16_BIG_ENDIAN
            )
        except UnsupportedCodec as exc:
            details = {"media_format": frame.media_format, "error": str(exc)}
            await self._persist("media.unsupported_codec", details)
            await self.end(f"unsupported media format: {exc}", code=1003)
            return
        self.in_codec = codec
        self._seconds_per_byte = 1 / (codec.bytes_per_sample * codec.sample_rate)
        self.stream_id = frame.stream_id[:64]
        self.inbound.started_at = self._clock()
        if settings.RECORD_CALLS:
            self.recording = CallRecording.open(
                self.call, sample_rate=codec.sample_rate, outbound_rate=self.out_codec.sample_rate
            )
            # Linked now: a worker killed mid-call must not leave a file its call never names.
            tasks.spawn(sync_to_async(self.recording.link)(self.call.pk), name="recording.link")
        await self.bridge.start(
            call=self._call_info(frame),
            media_format=MediaFormat(codec.name, codec.sample_rate),
            sink=self,
        )
        self._sender_task = asyncio.ensure_future(self.sender.run())
        self._heartbeat_task = asyncio.ensure_future(heartbeat(self.call.pk, sleep=self._sleep))
        self.live.start()
        details = {"media_format": frame.media_format, "outbound_codec": self.out_codec.name}
        await self._persist("media.start", {"stream_id": self.stream_id, **details})

    async def _on_media(self, frame: Media) -> None:
        codec = self.in_codec
        if codec is None:
            await self._bad("media_before_start")
            return
        if frame.track != "inbound":
            self.inbound.other_track += 1  # both_tracks: the outbound track is not the caller
            return
        size = len(frame.payload)  # at least a sample, whole samples, at most a second
        if not size or size % codec.bytes_per_sample or size > codec.frame_bytes * _SECOND:
            await self._bad("bad_payload_size", f"{size} bytes")
            return
        if frame.seq is None:
            await self._bad("bad_sequence_number")
            return
        now = self._clock()
        if not self.inbound.on_time(size * self._seconds_per_byte, now, self._early_allowance_s):
            return  # a flood: counted as early (frames_early), kept nowhere
        self.inbound.note_frame(size, now)
        # One batch per frame: what the bridge answers while hearing it (the echo does) is
        # sent from this task when the batch ends, without waking the sender's task.
        async with self.sender.batch():
            for payload in self.reorder.push(frame.seq, frame.payload):
                self._deliver(payload)

    def _deliver(self, payload: bytes) -> None:
        assert self.in_codec is not None
        samples = self.in_codec.decode(payload)
        self._last_caller = samples
        self.conversation.caller_frame(samples, self.in_codec.sample_rate)
        self.bridge.feed_caller_audio(samples)
        if self.recording is not None:
            self.recording.write_inbound(samples)

    async def _on_dtmf(self, frame: Dtmf) -> None:
        payload = {"digit": frame.digit, "occurred_at": frame.occurred_at}
        await self._persist_capped("dtmf", "media.dtmf", payload)
        await self.bridge.dtmf(frame.digit.upper())

    async def _on_mark(self, frame: Mark) -> None:
        self.sender.on_mark_echoed(frame.name)

    async def _on_warning(self, frame: CarrierWarning) -> None:
        # A warning, not the end of the stream (telnyx-protocol.md §1.2).
        self.inbound.carrier_errors += 1
        left_out = self._log_limit.allow("error")
        if left_out is not None:
            logger.warning(
                "%s media error %s%s", self.wire.carrier, quote(frame.summary), _more(left_out)
            )
        await self._persist_capped("error", "media.error", {"payload": frame.payload}, clip=True)

    async def _on_stop(self, frame: Stop) -> None:
        await self.end(f"stopped by {self.wire.carrier}", code=1000)

    async def _on_unknown(self, frame: UnknownEvent) -> None:
        # A bad frame like any other: counted, capped, and closing a stream made of them.
        self.inbound.unknown_events += 1
        await self._bad("unknown_event", quote(frame.event, 60))

    async def _on_bad(self, frame: BadFrame) -> None:
        if frame.event == "media" and self.in_codec is None:
            await self._bad("media_before_start")  # before `start`, that is what is wrong
            return
        await self._bad(frame.reason, frame.detail)

    _HANDLERS: ClassVar[dict[type[Any], Callable[[MediaSession, Any], Awaitable[None]]]] = {
        Media: _on_media,
        Connected: _on_connected,
        Start: _on_start,
        Dtmf: _on_dtmf,
        Mark: _on_mark,
        CarrierWarning: _on_warning,
        Stop: _on_stop,
        UnknownEvent: _on_unknown,
        BadFrame: _on_bad,
    }

    async def _bad(self, reason: str, detail: str = "") -> None:
        counts = self.inbound
        counts.note_bad(reason)
        left_out = self._log_limit.allow("bad_frame")
        if left_out is not None:
            logger.warning("bad media frame (%s) %s%s", reason, quote(detail), _more(left_out))
        await self._persist_capped(
            "bad_frame", "media.bad_frame", {"reason": reason, "detail": quote(detail)}
        )
        if counts.malformed > settings.MEDIA_MAX_BAD_FRAMES:
            await self.end(f"too many malformed frames ({counts.malformed})", code=1008)

    # Agent side (AgentSink) ---------------------------------------------------------

    def agent_audio(self, samples: np.ndarray, sample_rate: int) -> None:
        if self._finished:
            return
        if sample_rate != self.out_codec.sample_rate:
            samples = self._resample(samples, sample_rate)
        self.sender.feed(samples)
        self._frames_since_mark += max(1, len(samples) // self.out_codec.frame_samples)
        if self._frames_since_mark >= MARK_EVERY_FRAMES:
            self._place_mark()

    def agent_utterance_end(self) -> None:
        if not self._finished:
            self.sender.end_of_utterance()
            self._place_mark()

    def interrupt(self) -> None:
        if self._finished:
            return
        dropped = self.sender.clear()
        self.barge_ins += 1
        self.conversation.interrupted()
        clear = self.transport.send_text(self.wire.clear(self.stream_id))
        tasks.spawn(clear, name=f"clear:{self.call.pk}")
        logger.info("barge-in: cleared %d queued frames", dropped)

    def hang_up(self, reason: str) -> None:
        logger.info("the bridge ended the call: %s", reason)
        tasks.spawn(actions.hang_up(call=self.call), name=f"bridge-hangup:{self.call.pk}")

    def _place_mark(self) -> None:
        self._marks += 1
        self._frames_since_mark = 0
        self.sender.mark(f"m{self._marks}")

    def _resample(self, samples: np.ndarray, rate: int) -> np.ndarray:
        if self._resampler is None:
            import getstream_rtc  # lazy: only for bridges that speak another rate

            self._resampler = getstream_rtc.StreamResampler(self.out_codec.sample_rate, 1)
        frame = self._resampler.push(np.ascontiguousarray(samples, dtype=np.int16), rate, 1)
        return np.asarray(frame.samples, dtype=np.int16)

    async def _send_frame(self, pcm: np.ndarray) -> None:
        """The pacer's frame is due: record it as it leaves, then encode and send it."""
        if self.recording is not None:
            self.recording.write_outbound(pcm)
        self._last_agent = pcm
        self.conversation.agent_frame(pcm, self.out_codec.sample_rate)
        await self.transport.send_text(self.wire.media(self.stream_id, self.out_codec.encode(pcm)))

    async def _send_mark(self, name: str) -> None:
        await self.transport.send_text(self.wire.mark(self.stream_id, name))

    # Control (hangup webhooks and operator actions, from any worker) ----------------

    async def on_control(self, action: str) -> None:
        if action in ("hangup", "stop"):
            await self.end(f"{action} requested", code=1000)
        elif action == "clear":
            self.interrupt()

    # The end --------------------------------------------------------------------------

    async def end(self, reason: str, *, code: int = 1000) -> None:
        """Close the socket and finish (idempotent)."""
        if self._finished:
            return
        await self.finish(reason)
        try:
            await self.transport.close(code)
        except Exception:  # the socket may already be gone
            logger.debug("closing an already closed media socket", exc_info=True)

    async def finish(self, reason: str) -> None:
        """Stop sending, tear the bridge down, save the recording and statistics. Once."""
        if self._finished:
            return
        self._finished = True
        self.end_reason = reason
        for payload in self.reorder.flush():
            self._deliver(payload)
        self.sender.close()
        self.conversation.finish()
        if self._heartbeat_task is not None:
            self._heartbeat_task.cancel()
        await self.live.stop()  # before the final figures, which no snapshot may overwrite
        if self._sender_task is not None:
            await asyncio.gather(self._sender_task, return_exceptions=True)
        try:
            await asyncio.wait_for(self.bridge.close(reason), timeout=10)
        except Exception:
            logger.exception("bridge did not close cleanly")
        recording = self.recording.close() if self.recording is not None else None
        await sync_to_async(self._save)(reason, recording)
        logger.info(
            "media stream ended: %s (%d frames in, %d out)",
            reason,
            self.inbound.frames,
            self.sender.frames_sent,
        )

    def _save(self, reason: str, recording: str | None) -> None:
        fields = self._call_fields()
        if recording:
            fields["recording"] = recording
        details = stats.stop_details(
            reason=reason,
            fields=fields,
            inbound=self.inbound,
            sender=self.sender,
            barge_ins=self.barge_ins,
            bridge=self.bridge,
        )
        if self._recording_cap_newly_reached():
            _store_event(self.call.pk, "media.recording_capped", self._recording_cap())
        if self.recording is not None and self.recording.capped:
            details["recording_capped"] = self._recording_cap()
        fields["live_media"] = self._live_media(fields, ended=True)
        stats.save(self.call.pk, fields=fields, details=details, conversation=self.conversation)

    def _call_fields(self) -> dict[str, Any]:
        return stats.call_fields(
            stream_id=self.stream_id,
            codec=self.in_codec,
            inbound=self.inbound,
            reorder=self.reorder,
            sender=self.sender,
            events_dropped=self.caps.dropped,
        )

    def _live_columns(self) -> dict[str, Any]:
        """What a snapshot writes to the call (telephony.media.live): built on the loop."""
        fields = self._call_fields()
        if self._recording_cap_newly_reached():
            cap = self._recording_cap()
            note = sync_to_async(_store_event)(self.call.pk, "media.recording_capped", cap)
            tasks.spawn(note, name="media.recording_capped")
        conversation = self.conversation.summary()
        return {
            **fields,
            "conversation": conversation,
            "live_media": self._live_media(fields, conversation=conversation),
        }

    def _live_media(
        self,
        fields: dict[str, Any],
        *,
        conversation: dict[str, Any] | None = None,
        ended: bool = False,
    ) -> dict[str, Any]:
        started = self.inbound.started_at
        return live.snapshot(
            fields=fields,
            conversation=self.conversation.summary() if conversation is None else conversation,
            streaming_s=None if started is None else self._clock() - started,
            caller=self._last_caller,
            agent=self._last_agent,
            lead_ms=self.sender.lead_ms(),
            recording_capped=self.recording is not None and self.recording.capped,
            ended=ended,
        )

    def _recording_cap_newly_reached(self) -> bool:
        """Whether the recording reached its cap since the last look (noted once per call)."""
        if self.recording is None or not self.recording.capped or self._recording_capped_noted:
            return False
        self._recording_capped_noted = True
        return True

    def _recording_cap(self) -> dict[str, Any]:
        assert self.recording is not None
        return {"max_seconds": self.recording.max_seconds, "setting": "RECORDING_MAX_SECONDS"}

    # Helpers ----------------------------------------------------------------------------

    def _call_info(self, start: Start) -> CallInfo:
        call = self.call
        return CallInfo(
            call_id=call.pk,
            direction=call.direction,
            from_number=call.from_number or start.from_,
            to_number=call.to_number or start.to,
            call_control_id=call.call_control_id or start.carrier_call_id,
            stream_call_id=call.stream_call_id,
            custom_data=call.custom_data,
        )

    async def _persist(self, event_type: str, payload: dict[str, Any]) -> None:
        # Fire and forget: frame handling must not wait for the database.
        tasks.spawn(sync_to_async(_store_event)(self.call.pk, event_type, payload), name=event_type)

    async def _persist_capped(
        self, kind: str, event_type: str, payload: dict[str, Any], *, clip: bool = False
    ) -> None:
        """Store the event if the call's cap for `kind` allows it; the first one over the cap
        is replaced by a note that it was reached, the rest are only counted. `clip`: the
        payload quotes a peer's JSON, cut down before it is stored (limits.clip)."""
        allowed = self.caps.allow(kind)
        if allowed:
            await self._persist(event_type, limits.clip(payload) if clip else payload)
        elif allowed is None:
            cap = self.caps.caps[kind]
            logger.warning("stored %d %s media events: the rest are only counted", cap, kind)
            await self._persist("media.cap_reached", {"kind": kind, "cap": cap})


def _may_precede_auth(frame: InboundFrame) -> bool:
    """While the greeting's token is awaited: the greeting, or a message too broken to read
    (counted as bad, as always). Anything else closes the stream."""
    return isinstance(frame, Connected) or (isinstance(frame, BadFrame) and not frame.event)


def _store_event(call_id: uuid.UUID, event_type: str, payload: dict[str, Any]) -> None:
    try:
        storable.check(payload)  # the rules webhooks and frames are held to (PostgreSQL's)
    except storable.NotStorable as exc:
        logger.warning("not storing a %s event: %s", event_type, exc)
        payload = {"unstorable": str(exc)}
    CallEvent.note(call_id, source=CallEvent.Source.MEDIA, type=event_type, payload=payload)


def _more(left_out: int) -> str:
    return f" ({left_out} more like it not logged)" if left_out else ""
