"""The simulated far party's media socket: Telnyx as a WebSocket client (telnyx-protocol.md §1).

It connects to the `stream_url` (with `x-telnyx-streaming-auth-token` when a token was given),
sends `connected`, `start`, then 20 ms `media` frames paced against an absolute monotonic
schedule, with string counters: `sequence_number` and `chunk` rise by 1, `timestamp` by 20 (ms).
What the server sends back is handled by `Ear`. The checklist it follows is §1.8.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import time
from collections.abc import Callable
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from telephony.media.codecs import Codec, UnsupportedCodec
from telephony.telnyx.simulator import audio
from telephony.telnyx.simulator.calls import SimCall, StreamParams
from telephony.telnyx.simulator.clock import iso_micro, now_utc
from telephony.telnyx.simulator.ear import FRAME_S, Ear
from telephony.telnyx.simulator.playout import MediaStats, RttTracker

_DTMF_GAP_S = 0.25
_MEDIA_TEMPLATE = (
    '{"event":"media","sequence_number":"%d","stream_id":"%s","media":'
    '{"track":"%s","chunk":"%d","timestamp":"%d","payload":"%s"}}'
)

Hook = Callable[["MediaCaller"], object]  # what a hook returns is ignored


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
        self._on_connected, self._on_ended, self._on_failed = on_connected, on_ended, on_failed
        self.scenario = call.scenario
        self.encoding, self.sample_rate = _inbound_format(stream, self.scenario.codec)
        self.stats = MediaStats(stream_id=stream.stream_id, encoding=self.encoding)
        self.rtt = RttTracker() if self.scenario.measure_rtt else None
        self._reply = _reply_codec(stream, self.scenario.l16_big_endian)
        self.ear = Ear(
            stream_id=stream.stream_id,
            mode=stream.bidirectional_mode,
            reply=self._reply,
            stats=self.stats,
            rtt=self.rtt,
            send=self._send,
            next_seq=self._next_seq,
        )
        self._ws: ClientConnection | None = None
        self._seq = 0
        self._stopping = False
        self.done = asyncio.Event()

    async def run(self) -> None:
        try:
            if await self._connect():
                await self._converse()
        finally:
            self.call.media_reports.append(self.stats)
            self.done.set()

    async def stop(self, timeout: float = 3.0) -> None:
        """Send `stop` and close, as Telnyx does on hangup or streaming_stop."""
        first = not self._stopping
        self._stopping = True
        if first and self._ws is not None:
            stop = {"user_id": self.user_id, "call_control_id": self.call.call_control_id}
            frame = {"event": "stop", "sequence_number": self._next_seq()}
            await self._send({**frame, "stream_id": self.stream.stream_id, "stop": stop})
            self.stats.closed_by = "carrier"
            # Telnyx closes with no status code, so the server sees 1005 (§1.1); websockets
            # sends exactly that, an empty close frame, when given code None.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._ws.close(code=None), timeout)  # type: ignore[arg-type]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.done.wait(), timeout)

    async def send_dtmf(self, digit: str) -> None:
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
            self._on_failed(self)
            return False
        if self._stopping:  # the call ended while we were connecting
            await self._ws.close(code=None)  # type: ignore[arg-type]
            return False
        return True

    async def _converse(self) -> None:
        assert self._ws is not None
        connected: dict[str, Any] = {"event": "connected", "version": "1.0.0"}
        if self.stream.auth_token:
            connected["connected"] = {"x-telnyx-streaming-auth-token": self.stream.auth_token}
        await self._send(connected)
        self._on_connected(self)  # streaming.started goes out between `connected` and `start`
        await self._send(self._start_frame())
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

    def _start_frame(self) -> dict[str, Any]:
        call = self.call
        media_format = {"encoding": self.encoding, "sample_rate": self.sample_rate, "channels": 1}
        start = {
            "user_id": self.user_id,
            "call_control_id": call.call_control_id,
            "call_session_id": call.call_session_id,
            "from": call.from_,
            "to": call.to,
            "tags": list(self.scenario.tags),
            "client_state": call.client_state,
            "custom_parameters": dict(self.stream.custom_parameters),
            "media_format": media_format,
        }
        seq = self._next_seq()
        return {
            "event": "start",
            "sequence_number": seq,
            "stream_id": self.stream.stream_id,
            "start": start,
        }

    async def _pace(self) -> None:
        assert self._ws is not None
        fmt = (self.encoding, self.sample_rate, self.scenario.l16_big_endian)
        payloads = audio.caller_payloads(*fmt)
        sizes = [len(f) for f in audio.caller_frames(*fmt)]
        keys = self._echo_keys(fmt)
        silence = base64.b64encode(audio.codec_for(*fmt).silence(self.sample_rate // 50)).decode()
        tracks = _tracks(self.stream.track)
        loop = asyncio.get_running_loop()
        started = loop.time()
        # The quiet tail: the last seconds before the caller hangs up are silence, so that
        # every echo of its speech is back before `stop` (load tests count missing echoes).
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
            quiet = (chunk - 1) * FRAME_S >= quiet_after
            # Round trips are timed on time.monotonic(): uvloop's loop.time() has 1 ms steps.
            sent_at = time.monotonic()
            for track in tracks:
                if self._stopping:
                    return  # `stop` is the stream's last frame (§1.2): no media after it
                self._seq += 1
                payload = payloads[index] if track == "inbound" and not quiet else silence
                text = _MEDIA_TEMPLATE % (
                    self._seq,
                    self.stream.stream_id,
                    track,
                    chunk,
                    (chunk - 1) * 20,
                    payload,
                )
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


def _inbound_format(stream: StreamParams, leg_codec: str) -> tuple[str, int]:
    """What Telnyx sends us: `stream_codec`, or the leg's own codec for "default" (§1.5)."""
    wanted = stream.codec if stream.codec in ("PCMU", "PCMA", "L16") else leg_codec.upper()
    return wanted, 16000 if wanted == "L16" else 8000


def _reply_codec(stream: StreamParams, big_endian: bool) -> Codec | None:
    """The codec the server must answer in, or None when we cannot decode it."""
    name = stream.bidirectional_codec
    rate = stream.bidirectional_sampling_rate or (16000 if name == "L16" else 8000)
    try:
        return audio.codec_for(name, rate, big_endian)
    except UnsupportedCodec:
        return None  # G722, OPUS, AMR-WB: accepted and counted, not decoded


def _tracks(stream_track: str) -> tuple[str, ...]:
    # What Telnyx puts on the outbound track is undocumented (§5 #6); we send codec silence.
    tracks = {"outbound_track": ("outbound",), "both_tracks": ("inbound", "outbound")}
    return tracks.get(stream_track, ("inbound",))
