"""What the simulated far party does with frames the server sends.

Both carriers' sockets take the same three messages from the server, `media` (base64 audio
under `media.payload`), `mark` (`mark.name`) and `clear` (Telnyx: telnyx-protocol.md §1.3;
Twilio: https://www.twilio.com/docs/voice/media-streams/websocket-messages#send-websocket-messages-to-twilio).
`media` must carry audio in the reply codec, at least 20 ms and at most 30 s of it; in
Telnyx's mp3 mode at most one message a second. Audio goes into a real-time playout queue;
`mark` is echoed when the audio before it has played, `clear` flushes the queue and echoes
pending marks at once. How a carrier names its frames and reports a bad one is its own
(`EarWire`): Telnyx answers on the socket with an `error` frame, Twilio only logs a warning.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any, Literal, Protocol

from telephony.media.codecs import Codec
from telephony.simulation import audio
from telephony.simulation.playout import MediaStats, Playout, RttTracker

FRAME_S = 0.020
_MAX_CHUNK_S = 30.0
_MP3_INTERVAL_S = 1.0

SendFrame = Callable[[dict[str, Any]], Awaitable[bool]]
# Why a frame was refused: the carrier maps each to its own code.
Fault = Literal["binary", "malformed", "invalid_media", "rate_limit", "wrong_stream"]


class EarWire(Protocol):
    """A carrier's names for what the ear says back, and how it reports a frame it refuses."""

    stream_field: str | None  # a field our frames must carry, equal to the stream id

    def mark_frame(self, stream_id: str, seq: str, name: str) -> dict[str, Any]: ...

    def error_frame(
        self, stream_id: str, fault: Fault, detail: str
    ) -> tuple[int, dict[str, Any] | None]:
        """The carrier's code for `fault`, and the frame to send (None: nothing is sent)."""
        ...


class Ear:
    def __init__(
        self,
        *,
        stream_id: str,
        mode: str | None,
        reply: Codec | None,
        stats: MediaStats,
        rtt: RttTracker | None,
        send: SendFrame,
        next_seq: Callable[[], str],
        wire: EarWire,
    ) -> None:
        self.stream_id = stream_id
        self.mode = mode  # None: no bidirectional stream was asked for
        self.reply = reply  # None: a codec we cannot decode (G722, OPUS, AMR-WB)
        self.stats = stats
        self.rtt = rtt
        self.playout = Playout()
        self._send = send
        self._next_seq = next_seq
        self._wire = wire
        self._wake = asyncio.Event()
        self._last_mp3 = float("-inf")

    async def hear(self, message: str | bytes) -> None:
        if isinstance(message, bytes):
            await self._error("binary", "Binary frames are not accepted.")
            return
        try:
            frame = json.loads(message)
            event = frame["event"]
        except (ValueError, KeyError, TypeError):
            await self._error("malformed", "The frame is not a JSON event.")
            return
        field_name = self._wire.stream_field
        if field_name is not None and frame.get(field_name) != self.stream_id:
            await self._error("wrong_stream", f"{field_name} is not this stream's.")
            return
        if event == "media":
            await self._on_media(frame)
        elif event == "mark":
            await self._on_mark(frame)
        elif event == "clear":
            await self._on_clear()
        else:
            await self._error("malformed", f"Unknown event {event!r}.")

    async def play_marks(self) -> None:
        """Run for the life of the socket: echo each mark once its audio has played."""
        loop = asyncio.get_running_loop()
        while True:
            due = self.playout.next_due()
            self._wake.clear()
            timeout = None if due is None else max(0.0, due - loop.time())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
            for name in self.playout.due_marks(loop.time()):
                await self._echo_mark(name)

    async def _on_media(self, frame: dict[str, Any]) -> None:
        if self.mode is None:
            return  # nowhere to play it: Telnyx drops audio on a one-way stream
        payload = (frame.get("media") or {}).get("payload")
        if not isinstance(payload, str):
            await self._error("malformed", "media.payload is missing.")
            return
        try:
            data = base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            await self._error("invalid_media", "media.payload is not valid base64.")
            return
        if self.mode == "mp3":
            await self._on_mp3(data)
        else:
            await self._on_rtp(data)

    async def _on_rtp(self, data: bytes) -> None:
        duration = FRAME_S
        if self.reply is not None:
            frame_bytes = self.reply.frame_bytes
            if len(data) < frame_bytes or len(data) % self.reply.bytes_per_sample:
                detail = f"A media chunk must hold at least 20 ms ({frame_bytes} bytes)."
                await self._error("malformed", detail)
                return
            duration = len(data) / frame_bytes * FRAME_S
            if duration > _MAX_CHUNK_S:
                await self._error("malformed", "A media chunk may hold 30 s at most.")
                return
            self._match_echo(data, frame_bytes)
        self._heard(len(data), duration)

    async def _on_mp3(self, data: bytes) -> None:
        now = asyncio.get_running_loop().time()
        if now - self._last_mp3 < _MP3_INTERVAL_S:
            await self._error("rate_limit", "At most one mp3 message per second.")
            return
        self._last_mp3 = now
        self._heard(len(data), 1.0)  # an mp3 clip's length is unknown here; call it a second

    def _heard(self, size: int, duration: float) -> None:
        now = asyncio.get_running_loop().time()
        self.stats.frames_received += 1
        self.stats.bytes_received += size
        self.stats.note_arrival(now)
        self.playout.add_audio(duration, now)

    def _match_echo(self, data: bytes, frame_bytes: int) -> None:
        if self.rtt is None or self.reply is None:
            return
        now = time.monotonic()  # as the sender stamps it (see FarPartyMedia._pace)
        # A server may batch frames; each 20 ms slice is matched on its own.
        for offset in range(0, len(data) - frame_bytes + 1, frame_bytes):
            self.rtt.received(audio.reply_key(self.reply, data[offset : offset + frame_bytes]), now)

    async def _on_mark(self, frame: dict[str, Any]) -> None:
        name = (frame.get("mark") or {}).get("name")
        if not isinstance(name, str):
            await self._error("malformed", "mark.name is missing.")
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

    async def _echo_mark(self, name: str) -> None:
        frame = self._wire.mark_frame(self.stream_id, self._next_seq(), name)
        if await self._send(frame):
            self.stats.marks_echoed += 1

    async def _error(self, fault: Fault, detail: str) -> None:
        code, frame = self._wire.error_frame(self.stream_id, fault, detail)
        self.stats.errors_sent.append(code)
        if frame is not None:
            await self._send(frame)
