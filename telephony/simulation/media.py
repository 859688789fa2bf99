"""The far party's media socket, as a carrier opens it: a WebSocket client to our server.

Carrier-neutral: it connects, lets the carrier's subclass open the stream (its `connected`
and `start` frames), then sends 20 ms frames of the caller's clip paced against an absolute
monotonic schedule, and hands what the server sends back to the `Ear`. A subclass says how
its frames look (`_media_text`, `_stop_frame`, `_dtmf_frame`) and how the socket is opened.
"""

from __future__ import annotations

import abc
import asyncio
import base64
import contextlib
import itertools
import json
import time
from collections.abc import Callable
from typing import Any, Protocol

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from telephony.media.codecs import Codec
from telephony.simulation import audio
from telephony.simulation.ear import FRAME_S, Ear, EarWire
from telephony.simulation.playout import MediaStats, RttTracker
from telephony.simulation.scenario import Scenario

_DTMF_GAP_S = 0.25

Hook = Callable[[Any], object]  # called with the media object; what it returns is ignored


class _FarParty(Protocol):
    hangs_up_at: float | None  # time.monotonic(), once the carrier has scheduled it


class FarPartyMedia(abc.ABC):
    """One media stream of a simulated call; `run()` lasts as long as the socket."""

    call: _FarParty  # set by each carrier's subclass: the call this stream belongs to

    def __init__(
        self,
        *,
        url: str,
        stream_id: str,
        scenario: Scenario,
        encoding: str,
        sample_rate: int,
        reply: Codec | None,
        mode: str | None,
        tracks: tuple[str, ...],
        reports: list[MediaStats],
        wire: EarWire,
        on_connected: Hook,
        on_ended: Hook,
        on_failed: Hook,
    ) -> None:
        self.url = url
        self.stream_id = stream_id
        self.scenario = scenario
        self.encoding, self.sample_rate = encoding, sample_rate
        self.tracks = tracks
        self._reports = reports
        self._on_connected, self._on_ended, self._on_failed = on_connected, on_ended, on_failed
        self.stats = MediaStats(stream_id=stream_id, encoding=encoding)
        self.rtt = RttTracker() if scenario.measure_rtt else None
        self._reply = reply
        self.ear = Ear(
            stream_id=stream_id,
            mode=mode,
            reply=reply,
            stats=self.stats,
            rtt=self.rtt,
            send=self._send,
            next_seq=self._next_seq,
            wire=wire,
        )
        self._ws: ClientConnection | None = None
        self._seq = 0
        self._stopping = False
        self.done = asyncio.Event()

    # What a carrier's subclass says

    def _headers(self) -> dict[str, str]:
        return {}

    @abc.abstractmethod
    async def _open_stream(self) -> None:
        """Send the frames that open the stream (`connected`, `start`)."""

    @abc.abstractmethod
    def _media_text(self, seq: int, track: str, chunk: int, timestamp_ms: int, payload: str) -> str:
        """One `media` frame of the caller's audio, as the carrier writes it."""

    @abc.abstractmethod
    def _stop_frame(self) -> dict[str, Any]:
        """The frame that ends the stream."""

    @abc.abstractmethod
    def _dtmf_frame(self, digit: str) -> dict[str, Any]:
        """The frame that reports a key the caller pressed."""

    # The stream

    async def run(self) -> None:
        try:
            if await self._connect():
                await self._converse()
        finally:
            self._reports.append(self.stats)
            self.done.set()

    async def stop(self, timeout: float = 3.0) -> None:
        """Send `stop` and close, as the carrier does on hangup or when the stream ends."""
        first = not self._stopping
        self._stopping = True
        if first and self._ws is not None:
            await self._send(self._stop_frame())
            self.stats.closed_by = "carrier"
            # The carriers close with no status code, so the server sees 1005; websockets
            # sends exactly that, an empty close frame, when given code None.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._ws.close(code=None), timeout)  # type: ignore[arg-type]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.done.wait(), timeout)

    async def drop(self) -> None:
        """A fault: the socket dies without `stop` or a close frame (the server sees 1006)."""
        self._stopping = True
        if self._ws is not None:
            self.stats.closed_by = "dropped"
            self._ws.transport.abort()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.done.wait(), 3.0)

    async def send_dtmf(self, digit: str) -> None:
        if await self._send(self._dtmf_frame(digit)):
            self.stats.dtmf_sent += 1
        await asyncio.sleep(_DTMF_GAP_S)

    async def _connect(self) -> bool:
        try:
            self._ws = await connect(
                self.url,
                additional_headers=self._headers(),
                open_timeout=5,
                compression=None,
                max_size=4 * 1024 * 1024,
                user_agent_header=None,
            )
        except (OSError, TimeoutError, InvalidHandshake, InvalidURI) as exc:
            self.stats.failed = f"connection_failed: {type(exc).__name__}"
            self._on_failed(self)
            return False
        if self._stopping:  # the call ended while we were connecting
            await self._ws.close(code=None)  # type: ignore[arg-type]
            return False
        return True

    async def _converse(self) -> None:
        assert self._ws is not None
        await self._open_stream()
        tasks = [asyncio.create_task(self._pace()), asyncio.create_task(self.ear.play_marks())]
        try:
            with contextlib.suppress(ConnectionClosed):
                async for message in self._ws:
                    await self.ear.hear(message)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._finish_stats()
            self._on_ended(self)

    def _finish_stats(self) -> None:
        assert self._ws is not None
        stats = self.stats
        stats.close_code = self._ws.close_code
        stats.closed_by = stats.closed_by or "server"
        stats.underruns = self.ear.playout.underruns
        stats.underrun_ms = self.ear.playout.underrun_s * 1000
        stats.rtt_ms = self.rtt.samples_ms if self.rtt else []
        stats.echoes_missing = self.rtt.missing if self.rtt else 0

    async def _pace(self) -> None:
        assert self._ws is not None
        fmt = (self.encoding, self.sample_rate, self.scenario.l16_big_endian)
        payloads = audio.caller_payloads(*fmt)
        sizes = [len(f) for f in audio.caller_frames(*fmt)]
        keys = self._echo_keys(fmt)
        silence = base64.b64encode(audio.codec_for(*fmt).silence(self.sample_rate // 50)).decode()
        loop = asyncio.get_running_loop()
        started = loop.time()
        # The quiet tail: the last seconds before the caller hangs up are silence, so that
        # every echo of its speech is back before `stop` (load tests count missing echoes).
        # The carrier hangs up `duration_s` after the answer, not after the stream starts, and
        # a busy server can start the stream a second after the answer: so the tail is
        # counted back from the scheduled hang-up when there is one, else from the stream's
        # start (a stream run on its own, as in the simulator's tests).
        quiet_after = (
            self.scenario.duration_s - self.scenario.quiet_tail_s
            if self.scenario.quiet_tail_s and self.scenario.hangup_by == "caller"
            else float("inf")
        )
        held: str | None = None
        for chunk in itertools.count(1):
            # An absolute schedule: a late wake-up is caught up on, never accumulated as drift.
            delay = started + (chunk - 1) * FRAME_S - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            index = (chunk - 1) % len(payloads)
            # Round trips are timed on time.monotonic(): uvloop's loop.time() has 1 ms steps.
            sent_at = time.monotonic()
            quiet = (chunk - 1) * FRAME_S >= quiet_after or self._in_quiet_tail(sent_at)
            if self.stats.first_frame_at is None:
                self.stats.first_frame_at = sent_at
            for track in self.tracks:
                if self._stopping:
                    return  # `stop` is the stream's last frame: no media after it
                self._seq += 1
                payload = payloads[index] if track == "inbound" and not quiet else silence
                text = self._media_text(self._seq, track, chunk, (chunk - 1) * 20, payload)
                if self.scenario.reorder_media and chunk % 10 == 3 and held is None:
                    held = text  # goes out after the next frame, so the pair arrives swapped
                    continue
                await self._ws.send(text)
                if held is not None:
                    await self._ws.send(held)
                    held = None
            self.stats.frames_sent += 1
            self.stats.bytes_sent += sizes[index]
            key = keys[index] if keys is not None else None
            if key is not None and self.rtt is not None and not quiet:
                self.rtt.sent(key, sent_at)

    def _in_quiet_tail(self, now: float) -> bool:
        hangs_up_at = self.call.hangs_up_at
        tail = self.scenario.quiet_tail_s
        return bool(tail) and hangs_up_at is not None and now >= hangs_up_at - tail

    def _echo_keys(self, fmt: tuple[str, int, bool]) -> tuple[bytes | None, ...] | None:
        if self._reply is None or self.rtt is None:
            return None
        reply = (self._reply.name, self._reply.sample_rate, self.scenario.l16_big_endian)
        return audio.echo_keys(fmt, reply)

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
