"""One call's media stream, as a short pipeline between the carrier and a bridge.

    caller:  message -> wire.parse -> reorder -> decode -> bridge (and the recording)
    agent:   audio -> resample -> PacedSender -> when due: record, encode, wire.media

The session knows no carrier's wire format: a `Wire` (telephony.media.frames) reads each
WebSocket message into a frame and writes the messages we send, and the codec we answer in
is the one we asked the carrier for (STREAM_BIDIRECTIONAL_CODEC), which may differ from the
caller's. It is plain Python: a Channels consumer (telephony.media.consumer) feeds it the
socket's messages and gives it a transport to send and close with. Nothing touches the
database per audio frame: the session stores events (start, DTMF, warnings, bad frames) in
the background and, once at the end, its statistics (telephony.media.stats).
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
from telephony import actions, tasks
from telephony.bridges import Bridge, CallInfo, MediaFormat
from telephony.media import stats
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
from telephony.media.pacing import PacedSender
from telephony.media.recording import CallRecording
from telephony.media.reorder import ReorderBuffer

logger = logging.getLogger(__name__)

MARK_EVERY_FRAMES = 50  # one playback mark per second of agent audio
MAX_STORED_ERRORS = 20  # bad frames are all counted, but only the first few stored
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
            settings.STREAM_BIDIRECTIONAL_CODEC, l16_big_endian=settings.L16_BIG_ENDIAN
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
            clock=clock,
            sleep=sleep,
        )
        self.recording: CallRecording | None = None
        self.conversation = Conversation(clock=clock)
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
        self.stream_id = frame.stream_id[:64]
        self.inbound.started_at = self._clock()
        if settings.RECORD_CALLS:
            self.recording = CallRecording.open(
                self.call, sample_rate=codec.sample_rate, outbound_rate=self.out_codec.sample_rate
            )
        await self.bridge.start(
            call=self._call_info(frame),
            media_format=MediaFormat(codec.name, codec.sample_rate),
            sink=self,
        )
        self._sender_task = asyncio.ensure_future(self.sender.run())
        self._heartbeat_task = asyncio.ensure_future(heartbeat(self.call.pk, sleep=self._sleep))
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
        self.inbound.note_frame(size, self._clock())
        # One batch per frame: what the bridge answers while hearing it (the echo does) is
        # sent from this task when the batch ends, without waking the sender's task.
        async with self.sender.batch():
            for payload in self.reorder.push(frame.seq, frame.payload):
                self._deliver(payload)

    def _deliver(self, payload: bytes) -> None:
        assert self.in_codec is not None
        samples = self.in_codec.decode(payload)
        self.conversation.caller_frame(samples, self.in_codec.sample_rate)
        self.bridge.feed_caller_audio(samples)
        if self.recording is not None:
            self.recording.write_inbound(samples)

    async def _on_dtmf(self, frame: Dtmf) -> None:
        await self._persist("media.dtmf", {"digit": frame.digit, "occurred_at": frame.occurred_at})
        await self.bridge.dtmf(frame.digit.upper())

    async def _on_mark(self, frame: Mark) -> None:
        self.sender.on_mark_echoed(frame.name)

    async def _on_warning(self, frame: CarrierWarning) -> None:
        # A warning, not the end of the stream (telnyx-protocol.md §1.2).
        self.inbound.carrier_errors += 1
        logger.warning("%s media error %s", self.wire.carrier, frame.summary)
        if self.inbound.carrier_errors <= MAX_STORED_ERRORS:
            await self._persist("media.error", {"payload": frame.payload})

    async def _on_stop(self, frame: Stop) -> None:
        await self.end(f"stopped by {self.wire.carrier}", code=1000)

    async def _on_unknown(self, frame: UnknownEvent) -> None:
        self.inbound.unknown_events += 1
        logger.info("ignored media frame with event %r", frame.event)

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
        logger.warning("bad media frame (%s) %s", reason, detail)
        if counts.malformed <= MAX_STORED_ERRORS:
            await self._persist("media.bad_frame", {"reason": reason, "detail": detail[:200]})
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
        fields = stats.call_fields(
            stream_id=self.stream_id,
            codec=self.in_codec,
            inbound=self.inbound,
            reorder=self.reorder,
            sender=self.sender,
        )
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
        stats.save(self.call.pk, fields=fields, details=details, conversation=self.conversation)

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


def _may_precede_auth(frame: InboundFrame) -> bool:
    """While the greeting's token is awaited: the greeting, or a message too broken to read
    (counted as bad, as always). Anything else closes the stream."""
    return isinstance(frame, Connected) or (isinstance(frame, BadFrame) and not frame.event)


def _store_event(call_id: uuid.UUID, event_type: str, payload: dict[str, Any]) -> None:
    CallEvent.note(call_id, source=CallEvent.Source.MEDIA, type=event_type, payload=payload)
