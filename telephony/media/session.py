"""One Telnyx media stream: the protocol, the audio path and its statistics.

Telnyx's media WebSocket (telnyx-protocol.md §1): JSON text frames with an `event` field.
In: `connected`, `start` (top-level `stream_id`, `start.media_format`), `media` (base64 RTP
payload without header, string counters, order not guaranteed), `dtmf`, `mark`, `error`
(a warning), `stop`. Out: `media` (whole 20 ms frames in the codec we asked for with
`stream_bidirectional_codec`, which may differ from the inbound one), `mark`, `clear`.

`MediaSession` is plain Python: the Channels consumer feeds it text frames and gives it a
transport to send and close with. No database work happens per audio frame: the session
persists events (start, stop, DTMF, errors) and, once at the end, its statistics.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import json
import logging
import math
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from asgiref.sync import sync_to_async
from django.conf import settings
from django.utils import timezone

from calls.models import Call, CallEvent
from telephony import metrics, tasks
from telephony.bridges import Bridge, CallInfo, MediaFormat
from telephony.media.codecs import FRAME_MS, Codec, UnsupportedCodec, get_codec
from telephony.media.pacing import PacedSender
from telephony.media.recording import WavRecorder
from telephony.media.reorder import ReorderBuffer

logger = logging.getLogger(__name__)

MARK_EVERY_FRAMES = 50  # one playback mark per second of agent audio
MAX_STORED_ERRORS = 20  # bad frames are all counted, but only the first few stored


class Transport(Protocol):
    async def send_text(self, text: str) -> None: ...

    async def close(self, code: int) -> None: ...


@dataclass
class InboundStats:
    frames: int = 0
    bytes: int = 0
    other_track: int = 0
    malformed: int = 0
    unknown_events: int = 0
    errors_from_telnyx: int = 0
    max_gap_ms: float = 0.0
    first_frame_ms: float | None = None
    last_arrival: float | None = None
    bad_reasons: dict[str, int] = field(default_factory=dict)


class MediaSession:
    def __init__(
        self,
        *,
        call: Call,
        bridge: Bridge,
        transport: Transport,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.call = call
        self.bridge = bridge
        self.transport = transport
        self._clock = clock
        self._sleep = sleep
        self.out_codec: Codec = get_codec(
            settings.STREAM_BIDIRECTIONAL_CODEC, l16_big_endian=settings.L16_BIG_ENDIAN
        )
        self.in_codec: Codec | None = None
        self.stream_id = ""
        self.inbound = InboundStats()
        self.reorder: ReorderBuffer[bytes] = ReorderBuffer(window=settings.MEDIA_REORDER_WINDOW)
        self.sender = PacedSender(
            self._send_media,
            self.out_codec,
            send_mark=self._send_mark,
            max_lead_ms=settings.MEDIA_MAX_LEAD_MS,
            clock=clock,
            sleep=sleep,
        )
        self.recorder: WavRecorder | None = None
        self.started_at: float | None = None
        self.barge_ins = 0
        self._frames_since_mark = 0
        self._marks = 0
        self._resampler: Any = None
        self._sender_task: asyncio.Task[None] | None = None
        self._heartbeat_task: asyncio.Task[None] | None = None
        self._finished = False
        self._in_frame = False
        self._auth_token: str | None = None
        self.end_reason = ""

    @property
    def finished(self) -> bool:
        return self._finished

    def expect_auth_token(self, token: str) -> None:
        """Require `connected.x-telnyx-streaming-auth-token` to equal `token` before anything else."""
        self._auth_token = token

    # Frames from Telnyx -------------------------------------------------------------

    async def on_text(self, text: str) -> None:
        if self._finished:  # a frame that raced the close must not restart the stream
            return
        if len(text) > settings.MEDIA_MAX_FRAME_BYTES:
            await self._bad("oversized_frame", f"{len(text)} bytes")
            return
        try:
            frame = _DECODER.decode(text)
            if _may_hold_lone_surrogates(text):
                json.dumps(frame, ensure_ascii=False).encode()
        except (ValueError, RecursionError):  # also lone surrogates, NaN, deep nesting
            await self._bad("malformed_json")
            return
        event = frame.get("event") if isinstance(frame, dict) else None
        if self._auth_token is not None and event != "connected":
            await self.end("stream auth token missing", code=1008)
            return
        handler = self._HANDLERS.get(event) if isinstance(event, str) else None
        if handler is None:
            self.inbound.unknown_events += 1
            logger.info("ignored media frame with event %r", event)
            return
        try:
            await handler(self, frame)
        except _BadFrame as exc:
            await self._bad(exc.reason, exc.detail)

    async def _on_connected(self, frame: dict[str, Any]) -> None:
        logger.debug("media stream connected (protocol %s)", frame.get("version"))
        if self._auth_token is None:
            return
        connected = frame.get("connected") if isinstance(frame.get("connected"), dict) else {}
        given = str(connected.get("x-telnyx-streaming-auth-token") or "")
        if not hmac.compare_digest(given.encode(), self._auth_token.encode()):  # any text
            await self.end("stream auth token missing or wrong", code=1008)
            return
        self._auth_token = None

    async def _on_start(self, frame: dict[str, Any]) -> None:
        if self.in_codec is not None:
            raise _BadFrame("second_start")
        start = frame.get("start") if isinstance(frame.get("start"), dict) else {}
        media_format = (
            start.get("media_format") if isinstance(start.get("media_format"), dict) else {}
        )
        encoding = str(media_format.get("encoding") or "PCMU")
        rate = _int_or_none(media_format.get("sample_rate"))
        try:
            self.in_codec = get_codec(encoding, rate, l16_big_endian=settings.L16_BIG_ENDIAN)
        except UnsupportedCodec as exc:
            await self._persist(
                "media.unsupported_codec", {"media_format": media_format, "error": str(exc)}
            )
            await self.end(f"unsupported media format: {exc}", code=1003)
            return
        self.stream_id = str(frame.get("stream_id") or "")[:64]
        self.started_at = self._clock()
        self._open_recorder()
        await self.bridge.start(
            call=self._call_info(start),
            media_format=MediaFormat(self.in_codec.name, self.in_codec.sample_rate),
            sink=self,
        )
        self._sender_task = asyncio.ensure_future(self.sender.run())
        self._heartbeat_task = asyncio.ensure_future(self._heartbeat())
        await self._persist(
            "media.start",
            {
                "stream_id": self.stream_id,
                "media_format": media_format,
                "outbound_codec": self.out_codec.name,
            },
        )

    async def _on_media(self, frame: dict[str, Any]) -> None:
        if self.in_codec is None:
            raise _BadFrame("media_before_start")
        media = frame.get("media")
        if not isinstance(media, dict):
            raise _BadFrame("media_without_body")
        track = str(media.get("track") or "inbound").removesuffix("_track")
        if track != "inbound":
            self.inbound.other_track += 1  # both_tracks: the outbound track is not the caller
            return
        payload = _decode_payload(media.get("payload"), self.in_codec)
        # `sequence_number` counts every frame of the stream (start, dtmf, mark echoes...), so
        # its gaps are not losses; `chunk` counts media frames only. Order by chunk when Telnyx
        # sends it (it always has), by sequence_number otherwise.
        seq = _int_or_none(media.get("chunk"), frame.get("sequence_number"))
        if seq is None:
            raise _BadFrame("bad_sequence_number")
        self._note_arrival(len(payload))
        # A bridge that answers from inside feed_caller_audio (echo does) has its audio sent
        # from this task right after, rather than by waking the sender for every frame.
        self._in_frame = True
        try:
            for released in self.reorder.push(seq, payload):
                self._deliver(released)
        finally:
            self._in_frame = False
        if self.sender.queued_frames:
            await self.sender.send_due()

    def _note_arrival(self, size: int) -> None:
        now = self._clock()
        stats = self.inbound
        if stats.last_arrival is not None:
            stats.max_gap_ms = max(stats.max_gap_ms, (now - stats.last_arrival) * 1000)
        elif self.started_at is not None:
            stats.first_frame_ms = (now - self.started_at) * 1000
        stats.last_arrival = now
        stats.frames += 1
        stats.bytes += size

    def _deliver(self, payload: bytes) -> None:
        assert self.in_codec is not None
        samples = self.in_codec.decode(payload)
        self.bridge.feed_caller_audio(samples)
        if self.recorder is not None:
            self.recorder.write_inbound(samples)

    async def _on_dtmf(self, frame: dict[str, Any]) -> None:
        dtmf = frame.get("dtmf") if isinstance(frame.get("dtmf"), dict) else {}
        digit = str(dtmf.get("digit") or "")
        if len(digit) != 1 or digit not in "0123456789*#ABCDabcd":
            raise _BadFrame("bad_dtmf", repr(digit))
        await self._persist("media.dtmf", {"digit": digit, "occurred_at": frame.get("occurred_at")})
        await self.bridge.dtmf(digit.upper())

    async def _on_mark(self, frame: dict[str, Any]) -> None:
        mark = frame.get("mark") if isinstance(frame.get("mark"), dict) else {}
        self.sender.on_mark_echoed(str(mark.get("name") or ""))

    async def _on_error(self, frame: dict[str, Any]) -> None:
        # A warning, not the end of the stream (telnyx-protocol.md §1.2).
        self.inbound.errors_from_telnyx += 1
        payload = frame.get("payload") if isinstance(frame.get("payload"), dict) else {}
        logger.warning(
            "Telnyx media error %s %s: %s",
            payload.get("code"),
            payload.get("title"),
            payload.get("detail"),
        )
        if self.inbound.errors_from_telnyx <= MAX_STORED_ERRORS:
            await self._persist("media.error", {"payload": payload})

    async def _on_stop(self, frame: dict[str, Any]) -> None:
        await self.end("stopped by Telnyx", code=1000)

    _HANDLERS: dict[str, Callable[[MediaSession, dict[str, Any]], Awaitable[None]]] = {
        "connected": _on_connected,
        "start": _on_start,
        "media": _on_media,
        "dtmf": _on_dtmf,
        "mark": _on_mark,
        "error": _on_error,
        "stop": _on_stop,
    }

    async def _bad(self, reason: str, detail: str = "") -> None:
        stats = self.inbound
        stats.malformed += 1
        stats.bad_reasons[reason] = stats.bad_reasons.get(reason, 0) + 1
        logger.warning("bad media frame (%s) %s", reason, detail)
        if stats.malformed <= MAX_STORED_ERRORS:
            await self._persist("media.bad_frame", {"reason": reason, "detail": detail[:200]})
        if stats.malformed > settings.MEDIA_MAX_BAD_FRAMES:
            await self.end(f"too many malformed frames ({stats.malformed})", code=1008)

    # Agent side (AgentSink) ---------------------------------------------------------

    def agent_audio(self, samples: np.ndarray, sample_rate: int) -> None:
        if self._finished:
            return
        if sample_rate != self.out_codec.sample_rate:
            samples = self._resample(samples, sample_rate)
        self.sender.feed(self.out_codec.encode(samples), wake=not self._in_frame)
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
        tasks.spawn(self._send_json({"event": "clear"}), name=f"clear:{self.call.pk}")
        logger.info("barge-in: cleared %d queued frames", dropped)

    def hang_up(self, reason: str) -> None:
        from telephony import actions

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

    async def _send_media(self, frame: bytes) -> None:
        if self.recorder is not None:
            self.recorder.write_outbound(self._for_recording(self.out_codec.decode(frame)))
        payload = base64.b64encode(frame).decode()
        await self.transport.send_text('{"event":"media","media":{"payload":"' + payload + '"}}')

    async def _send_mark(self, name: str) -> None:
        await self._send_json({"event": "mark", "mark": {"name": name}})

    async def _send_json(self, message: dict[str, Any]) -> None:
        await self.transport.send_text(json.dumps(message))

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
        if self._heartbeat_task is not None:
            self._heartbeat_task.cancel()
        if self._sender_task is not None:
            await asyncio.gather(self._sender_task, return_exceptions=True)
        try:
            await asyncio.wait_for(self.bridge.close(reason), timeout=10)
        except Exception:
            logger.exception("bridge did not close cleanly")
        recording = self._close_recorder()
        await sync_to_async(self._save)(reason, recording)
        logger.info(
            "media stream ended: %s (%d frames in, %d out)",
            reason,
            self.inbound.frames,
            self.sender.frames_sent,
        )

    def statistics(self) -> dict[str, Any]:
        stats, sent = self.inbound, self.sender
        first_out = None
        if sent.first_send_at is not None and self.started_at is not None:
            first_out = round((sent.first_send_at - self.started_at) * 1000)
        return {
            "stream_id": self.stream_id,
            "media_encoding": self.in_codec.name if self.in_codec else "",
            "media_sample_rate": self.in_codec.sample_rate if self.in_codec else None,
            "frames_in": stats.frames,
            "bytes_in": stats.bytes,
            "frames_out": sent.frames_sent,
            "bytes_out": sent.bytes_sent,
            "frames_missing": min(self.reorder.missing, 2**31 - 1),  # counters may jump
            "frames_late": self.reorder.late,
            "frames_duplicate": self.reorder.duplicate,
            "frames_malformed": stats.malformed,
            "max_inbound_gap_ms": round(stats.max_gap_ms) if stats.last_arrival else None,
            "underruns": sent.underruns,
            "max_lead_ms": round(sent.max_lead_seen_ms) if sent.frames_sent else None,
            "first_inbound_ms": round(stats.first_frame_ms)
            if stats.first_frame_ms is not None
            else None,
            "first_outbound_ms": first_out,
        }

    def _save(self, reason: str, recording: str | None) -> None:
        fields = self.statistics()
        metrics.record_media(fields)
        if recording:
            fields["recording"] = recording
        Call.objects.filter(pk=self.call.pk).update(**fields, last_activity_at=timezone.now())
        details = {
            "reason": reason,
            **fields,
            "barge_ins": self.barge_ins,
            "cleared_frames": self.sender.cleared_frames,
            "dropped_frames": self.sender.dropped_frames,
            "bad_frames": self.inbound.bad_reasons,
            "unknown_events": self.inbound.unknown_events,
            "telnyx_errors": self.inbound.errors_from_telnyx,
            "marks_played": len(self.sender.played_marks),
            "bridge": {"name": self.bridge.name, **self.bridge.describe()},
        }
        _store_event(self.call.pk, "media.stop", details)

    async def _heartbeat(self) -> None:
        """Tell reconciliation (telephony.reconcile) that this call still has a live stream."""
        from telephony.reconcile import HEARTBEAT_SECONDS

        while True:
            await self._sleep(HEARTBEAT_SECONDS)
            try:
                await Call.objects.filter(pk=self.call.pk).aupdate(last_activity_at=timezone.now())
            except Exception:  # a database blip must not end the stream
                logger.warning("heartbeat could not reach the database", exc_info=True)

    # Recording ------------------------------------------------------------------------

    def _open_recorder(self) -> None:
        if not settings.RECORD_CALLS or self.in_codec is None:
            return
        relative = f"recordings/{timezone.now():%Y/%m/%d}/{self.call.pk}.wav"
        path = Path(settings.MEDIA_ROOT) / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        self.recorder = WavRecorder(path, self.in_codec.sample_rate)
        self._recording_name = relative

    def _close_recorder(self) -> str | None:
        if self.recorder is None:
            return None
        try:
            self.recorder.close()
        except OSError:
            logger.exception("could not finish the recording")
        return self._recording_name

    def _for_recording(self, samples: np.ndarray) -> np.ndarray:
        """What we sent, at the recording's (inbound) rate. Integer ratios only: it is an
        archive copy, not the audio the caller hears."""
        assert self.in_codec is not None
        have, want = self.out_codec.sample_rate, self.in_codec.sample_rate
        if have == want:
            return samples
        if want > have:
            return np.repeat(samples, want // have)
        return samples[:: have // want]

    # Helpers ----------------------------------------------------------------------------

    def _call_info(self, start: dict[str, Any]) -> CallInfo:
        call = self.call
        return CallInfo(
            call_id=call.pk,
            direction=call.direction,
            from_number=call.from_number or str(start.get("from") or ""),
            to_number=call.to_number or str(start.get("to") or ""),
            call_control_id=call.call_control_id or str(start.get("call_control_id") or ""),
            stream_call_id=call.stream_call_id,
            custom_data=call.custom_data,
        )

    async def _persist(self, event_type: str, payload: dict[str, Any]) -> None:
        # Fire and forget: frame handling must not wait for the database.
        tasks.spawn(sync_to_async(_store_event)(self.call.pk, event_type, payload), name=event_type)


def _store_event(call_id: uuid.UUID, event_type: str, payload: dict[str, Any]) -> None:
    CallEvent.note(call_id, source=CallEvent.Source.MEDIA, type=event_type, payload=payload)


# What no database stores (NaN, ±inf, lone surrogates) is refused while parsing, at no cost
# for real frames: the hooks run only for floats and NaN/Infinity tokens, which Telnyx's
# frames (string counters, base64 audio) do not contain, and the costly re-serialisation
# only for the rare frame that is not plain ASCII.


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:20]} is not a finite number")
    return value


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not JSON")


def _may_hold_lone_surrogates(text: str) -> bool:
    return not text.isascii() or "\\u" in text


_DECODER = json.JSONDecoder(parse_float=_finite_float, parse_constant=_refuse_constant)


class _BadFrame(Exception):
    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


def _decode_payload(value: object, codec: Codec) -> bytes:
    if not isinstance(value, str) or not value:
        raise _BadFrame("missing_payload")
    try:
        payload = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise _BadFrame("bad_base64") from None
    # At least one sample, whole samples, at most a second: RTP packets are 10-60 ms.
    if (
        not payload
        or len(payload) % codec.bytes_per_sample
        or len(payload) > codec.frame_bytes * (1000 // FRAME_MS)
    ):
        raise _BadFrame("bad_payload_size", f"{len(payload)} bytes")
    return payload


def _int_or_none(*values: object) -> int | None:
    for value in values:
        try:
            return int(str(value))
        except (TypeError, ValueError):
            continue
    return None
