"""The simulated far party's media socket: Telnyx as a WebSocket client (telnyx-protocol.md §1).

It connects to the `stream_url`, sends `connected`, `start`, then 20 ms `media` frames paced
against an absolute monotonic schedule, with string counters (`sequence_number` and `chunk`
rise by 1, `timestamp` by 20 ms). Audio the server sends back goes through a real-time playout
queue, so `mark` echoes come when the audio before them has played, and `clear` flushes it.
The checklist it follows is §1.8.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
from collections.abc import Callable
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from telephony.codecs import UnsupportedCodec
from telephony.simulator import audio
from telephony.simulator.calls import SimCall, StreamParams
from telephony.simulator.clock import iso_micro, now_utc
from telephony.simulator.playout import MediaStats, Playout, RttTracker

FRAME_S = 0.020
_MAX_CHUNK_S = 30.0
_DTMF_GAP_S = 0.25
_MEDIA_TEMPLATE = (
    '{"event":"media","sequence_number":"%d","stream_id":"%s","media":'
    '{"track":"%s","chunk":"%d","timestamp":"%d","payload":"%s"}}'
)
_SILENCE_RATE_LIMIT_S = 1.0  # mp3 mode: at most one media message per second (§1.3)

Hook = Callable[["MediaCaller"], None]


class MediaCaller:
    def __init__(
        self,
        call: SimCall,
        stream: StreamParams,
        *,
        user_id: str,
        on_connected: Hook,
        on_ended: Hook,
        on_failed: Hook,
    ) -> None:
        self.call = call
        self.stream = stream
        self.user_id = user_id
        self._hooks = (on_connected, on_ended, on_failed)
        self.scenario = call.scenario
        self.encoding, self.sample_rate = _inbound_format(stream, self.scenario.codec)
        self.stats = MediaStats(stream_id=stream.stream_id, encoding=self.encoding)
        self.playout = Playout()
        self.rtt = RttTracker()
        self._ws: ClientConnection | None = None
        self._seq = 0
        self._stopping = False
        self._wake = asyncio.Event()
        self._last_mp3 = -_SILENCE_RATE_LIMIT_S
        self._reply = _reply_codec(stream, self.scenario.l16_big_endian)
        self.done = asyncio.Event()

    # Lifecycle

    async def run(self) -> None:
        try:
            if not await self._connect():
                return
            await self._converse()
        finally:
            self.call.media_reports.append(self.stats)
            self.done.set()

    async def stop(self, timeout: float = 3.0) -> None:
        """Send `stop` and close, as Telnyx does on hangup or streaming_stop."""
        if self._stopping:
            await asyncio.wait_for(self.done.wait(), timeout)
            return
        self._stopping = True
        ws = self._ws
        if ws is not None:
            stop = {"user_id": self.user_id, "call_control_id": self.call.call_control_id}
            await self._send(
                {
                    "event": "stop",
                    "sequence_number": self._next_seq(),
                    "stream_id": self.stream.stream_id,
                    "stop": stop,
                }
            )
            self.stats.closed_by = "carrier"
            # Telnyx closes with no status code (the server sees 1005, §1.1); websockets sends
            # an empty close frame when given code None, which is exactly that.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(code=None), timeout)  # type: ignore[arg-type]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.done.wait(), timeout)

    async def send_dtmf(self, digits: str) -> None:
        for digit in digits:
            frame = {
                "event": "dtmf",
                "stream_id": self.stream.stream_id,
                "occurred_at": iso_micro(now_utc()),
                "sequence_number": self._next_seq(),
                "dtmf": {"digit": digit},
            }
            if await self._send(frame):
                self.stats.dtmf_sent += 1
            await asyncio.sleep(_DTMF_GAP_S)

    async def _connect(self) -> bool:
        headers = {}
        if self.stream.auth_token:
            headers["x-telnyx-streaming-auth-token"] = self.stream.auth_token
        try:
            self._ws = await connect(
                self.stream.url,
                additional_headers=headers,
                open_timeout=5,
                compression=None,
                max_size=4 * 1024 * 1024,
                user_agent_header=None,
            )
        except (OSError, TimeoutError, InvalidHandshake, InvalidURI) as exc:
            self.stats.failed = f"connection_failed: {type(exc).__name__}"
            self._hooks[2](self)
            return False
        return True

    async def _converse(self) -> None:
        assert self._ws is not None
        connected: dict[str, Any] = {"event": "connected", "version": "1.0.0"}
        if self.stream.auth_token:
            connected["connected"] = {"x-telnyx-streaming-auth-token": self.stream.auth_token}
        await self._send(connected)
        self._hooks[0](self)  # streaming.started goes out between `connected` and `start`
        await self._send(self._start_frame())
        tasks = [asyncio.create_task(c) for c in (self._pace(), self._play_marks())]
        try:
            await self._receive()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.stats.close_code = self._ws.close_code
            self.stats.underruns = self.playout.underruns
            self.stats.underrun_ms = self.playout.underrun_s * 1000
            self.stats.rtt_ms = self.rtt.samples_ms
            if not self._stopping:
                self.stats.closed_by = "server"
            self._hooks[1](self)

    def _start_frame(self) -> dict[str, Any]:
        call = self.call
        return {
            "event": "start",
            "sequence_number": self._next_seq(),
            "stream_id": self.stream.stream_id,
            "start": {
                "user_id": self.user_id,
                "call_control_id": call.call_control_id,
                "call_session_id": call.call_session_id,
                "from": call.from_,
                "to": call.to,
                "tags": list(self.scenario.tags),
                "client_state": call.client_state,
                "custom_parameters": dict(self.stream.custom_parameters),
                "media_format": {
                    "encoding": self.encoding,
                    "sample_rate": self.sample_rate,
                    "channels": 1,
                },
            },
        }

    # Sending audio

    async def _pace(self) -> None:
        assert self._ws is not None
        fmt = (self.encoding, self.sample_rate, self.scenario.l16_big_endian)
        payloads = audio.caller_payloads(*fmt)
        sizes = [len(f) for f in audio.caller_frames(*fmt)]
        keys = self._echo_keys(fmt)
        tracks = _tracks(self.stream.track)
        silence = base64.b64encode(audio.codec_for(*fmt).silence(self.sample_rate // 50)).decode()
        loop = asyncio.get_running_loop()
        started = loop.time()
        held: str | None = None
        for chunk in _count(1):
            # An absolute schedule: a late wake-up is caught up on, never accumulated as drift.
            delay = started + (chunk - 1) * FRAME_S - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            index = (chunk - 1) % len(payloads)
            timestamp = (chunk - 1) * 20
            for track in tracks:
                payload = payloads[index] if track == "inbound" else silence
                text = _MEDIA_TEMPLATE % (
                    self._seq + 1,
                    self.stream.stream_id,
                    track,
                    chunk,
                    timestamp,
                    payload,
                )
                self._seq += 1
                if self.scenario.reorder_media and chunk % 10 == 3 and held is None:
                    held = text  # sent after the next frame, so the server sees them swapped
                    continue
                await self._ws.send(text)
                if held is not None:
                    await self._ws.send(held)
                    held = None
            self.stats.frames_sent += 1
            self.stats.bytes_sent += sizes[index]
            if keys is not None and keys[index] is not None:
                self.rtt.sent(keys[index], loop.time())

    def _echo_keys(self, fmt: tuple[str, int, bool]) -> tuple[bytes | None, ...] | None:
        reply = self._reply
        if reply is None or not self.scenario.measure_rtt:
            return None
        return audio.echo_keys(fmt, (reply.name, reply.sample_rate, self.scenario.l16_big_endian))

    # Receiving audio, marks and clears

    async def _receive(self) -> None:
        assert self._ws is not None
        with contextlib.suppress(ConnectionClosed):
            async for message in self._ws:
                if isinstance(message, bytes):
                    await self._error(100003, "malformed_frame", "Binary frames are not accepted.")
                    continue
                await self._dispatch(message)

    async def _dispatch(self, message: str) -> None:
        try:
            frame = json.loads(message)
            event = frame["event"]
        except (ValueError, KeyError, TypeError):
            await self._error(100003, "malformed_frame", "The frame is not a JSON event.")
            return
        if event == "media":
            await self._on_media(frame)
        elif event == "mark":
            await self._on_mark(frame)
        elif event == "clear":
            await self._on_clear()
        else:
            await self._error(100003, "malformed_frame", f"Unknown event {event!r}.")

    async def _on_media(self, frame: dict[str, Any]) -> None:
        if self.stream.bidirectional_mode is None:
            return  # no bidirectional stream was requested: Telnyx has nowhere to play it
        payload = (frame.get("media") or {}).get("payload")
        if not isinstance(payload, str):
            await self._error(100003, "malformed_frame", "media.payload is missing.")
            return
        try:
            data = base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            await self._error(100004, "invalid_media", "media.payload is not valid base64.")
            return
        if self.stream.bidirectional_mode == "mp3":
            await self._on_mp3(data)
        else:
            await self._on_rtp(data)

    async def _on_rtp(self, data: bytes) -> None:
        reply = self._reply
        duration = FRAME_S
        if reply is not None:
            frame_bytes = reply.frame_bytes
            if len(data) < frame_bytes or len(data) % reply.bytes_per_sample:
                detail = f"A media chunk must hold at least 20 ms ({frame_bytes} bytes)."
                await self._error(100003, "malformed_frame", detail)
                return
            duration = len(data) / (frame_bytes / FRAME_S)
            if duration > _MAX_CHUNK_S:
                await self._error(100003, "malformed_frame", "A media chunk may hold 30 s at most.")
                return
            self._match_echo(data, frame_bytes)
        self._heard(len(data), duration)

    async def _on_mp3(self, data: bytes) -> None:
        now = asyncio.get_running_loop().time()
        if now - self._last_mp3 < _SILENCE_RATE_LIMIT_S:
            await self._error(100005, "rate_limit_reached", "At most one mp3 message per second.")
            return
        self._last_mp3 = now
        self._heard(len(data), 1.0)  # an mp3 clip's length is unknown here; assume one second

    def _heard(self, size: int, duration: float) -> None:
        now = asyncio.get_running_loop().time()
        self.stats.frames_received += 1
        self.stats.bytes_received += size
        self.stats.note_arrival(now)
        self.playout.add_audio(duration, now)

    def _match_echo(self, data: bytes, frame_bytes: int) -> None:
        if self._reply is None or not self.scenario.measure_rtt:
            return
        now = asyncio.get_running_loop().time()
        for offset in range(0, len(data) - frame_bytes + 1, frame_bytes):
            key = audio.reply_key(self._reply, data[offset : offset + frame_bytes])
            self.rtt.received(key, now)

    async def _on_mark(self, frame: dict[str, Any]) -> None:
        name = (frame.get("mark") or {}).get("name")
        if not isinstance(name, str):
            await self._error(100003, "malformed_frame", "mark.name is missing.")
            return
        self.stats.marks_received += 1
        if self.playout.add_mark(name, asyncio.get_running_loop().time()):
            await self._echo_mark(name)
        else:
            self._wake.set()

    async def _on_clear(self) -> None:
        self.stats.clears += 1
        for name in self.playout.clear(asyncio.get_running_loop().time()):
            await self._echo_mark(name)

    async def _play_marks(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = self.playout.next_due()
            self._wake.clear()
            timeout = None if due is None else max(0.0, due - loop.time())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
            for name in self.playout.due_marks(loop.time()):
                await self._echo_mark(name)

    async def _echo_mark(self, name: str) -> None:
        frame = {
            "event": "mark",
            "stream_id": self.stream.stream_id,
            "sequence_number": self._next_seq(),
            "mark": {"name": name},
        }
        if await self._send(frame):
            self.stats.marks_echoed += 1

    async def _error(self, code: int, title: str, detail: str) -> None:
        self.stats.errors_sent.append(code)
        payload = {"code": code, "title": title, "detail": detail}
        await self._send({"event": "error", "stream_id": self.stream.stream_id, "payload": payload})

    async def _send(self, frame: dict[str, Any]) -> bool:
        if self._ws is None:
            return False
        try:
            await self._ws.send(json.dumps(frame))
        except ConnectionClosed:
            return False
        return True

    def _next_seq(self) -> str:
        self._seq += 1
        return str(self._seq)


def _inbound_format(stream: StreamParams, leg_codec: str) -> tuple[str, int]:
    """What Telnyx sends us: `stream_codec`, or the leg's codec for "default" (§1.5)."""
    wanted = stream.codec if stream.codec in ("PCMU", "PCMA", "L16") else leg_codec.upper()
    return wanted, 16000 if wanted == "L16" else 8000


def _reply_codec(stream: StreamParams, big_endian: bool) -> Any:
    """The codec the server must send back in, or None when we cannot decode it."""
    name = stream.bidirectional_codec
    rate = stream.bidirectional_sampling_rate or (16000 if name == "L16" else 8000)
    try:
        return audio.codec_for(name, rate, big_endian)
    except UnsupportedCodec:
        return None  # G722, OPUS, AMR-WB: accepted, counted, not decoded


def _tracks(stream_track: str) -> tuple[str, ...]:
    # What Telnyx puts on the outbound track is undocumented (§5 #6); we send codec silence.
    return {"outbound_track": ("outbound",), "both_tracks": ("inbound", "outbound")}.get(
        stream_track, ("inbound",)
    )


def _count(start: int) -> Any:
    value = start
    while True:
        yield value
        value += 1
