"""A streaming call's figures as they stand, written to the call every MEDIA_SNAPSHOT_SECONDS.

While a call streams, its counters would otherwise live only in the worker's memory until the
end: a worker killed mid-call lost them all. `LiveSnapshots` writes them, one UPDATE per call
per interval from its own task (never per frame, never in the frame loop's way): the call's
media columns (telephony.media.stats.call_fields), its conversation so far, and a snapshot in
`Call.live_media` for the console. The last snapshot is written with the final statistics.

The UPDATEs of every call on a worker go through one `SnapshotWriter`, which commits together
the ones that queue up while the database thread is busy (group commit): 150 calls make 75
snapshots a second, and one hop to the database thread, one transaction and a written-out
UPDATE (calls/sql.py) each cost far less than a compiled ORM update in a transaction of its
own (about 0.5 ms of CPU each). A burst of calls starts its snapshots in step, every interval,
which is when the batching counts.

`Call.live_media` holds (every key may be missing in a row written by an older version):

- `updated_at`: when the snapshot was taken (ISO 8601, UTC); `streaming_s`: seconds since
  the stream's `start`; `ended`: true in the snapshot written when the stream ended.
- `caller_dbfs`, `agent_dbfs`: the level of the caller's latest 20 ms frame and of the latest
  frame we sent them, in dBFS (0 is full scale, -96 digital silence; null before any).
- `frames_in`, `frames_out`, `frames_malformed`, `frames_missing`, `frames_late`: as the
  call's columns of the same names; `underruns`: agent audio that ran dry mid-utterance.
- `lead_ms`: how far the audio we sent is ahead of its playout now; `max_lead_ms`: the most.
- `frames_shed`, `frames_early`, `media_events_dropped`: what was refused (the columns).
- `recording_capped`: the recording reached RECORDING_MAX_SECONDS and stopped.
- `conversation`: telephony.media.conversation's summary without its list of turns
  (`turn_count`, `latency_p50_ms`, `latency_max_ms`, `caller_talk_ms`, `agent_talk_ms`,
  `caller_interruptions`, `agent_interruptions`, `long_silences`, `longest_silence_ms`).
"""

from __future__ import annotations

import asyncio
import logging
import math
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np
from asgiref.sync import sync_to_async
from django.db import transaction
from django.utils import timezone

from calls import sql
from calls.models import Call
from telephony import storable
from telephony.loop_local import LoopLocal

logger = logging.getLogger(__name__)

# Snapshots queued within this long of each other share a transaction: at 150 calls (75 a
# second) about eight, a tenth of the CPU of writing each alone. A call's snapshot is as much
# later, which no one watching a console can tell.
BATCH_WINDOW_S = 0.1
SILENCE_DBFS = -96.0  # 16-bit audio's floor: what digital silence is reported as
_FULL_SCALE_SQUARED = 32768.0**2


def dbfs(samples: np.ndarray | None) -> float | None:
    """The level of int16 `samples` (their mean square) in dBFS, None for no samples."""
    if samples is None or not len(samples):
        return None
    frame = samples.astype(np.float64)
    mean_square = float(np.dot(frame, frame)) / len(frame)
    if mean_square <= 0:
        return SILENCE_DBFS
    return round(max(10 * math.log10(mean_square / _FULL_SCALE_SQUARED), SILENCE_DBFS), 1)


def snapshot(
    *,
    fields: dict[str, Any],
    conversation: dict[str, Any],
    streaming_s: float | None,
    caller: np.ndarray | None,
    agent: np.ndarray | None,
    lead_ms: float,
    recording_capped: bool,
    ended: bool = False,
) -> dict[str, Any]:
    """`Call.live_media` (the keys are listed above), from the call's columns `fields`."""
    counters = (
        "frames_in",
        "frames_out",
        "frames_malformed",
        "frames_missing",
        "frames_late",
        "underruns",
        "max_lead_ms",
        "frames_shed",
        "frames_early",
        "media_events_dropped",
    )
    return {
        "updated_at": timezone.now().isoformat(),
        "streaming_s": None if streaming_s is None else round(streaming_s, 1),
        "ended": ended,
        "caller_dbfs": dbfs(caller),
        "agent_dbfs": dbfs(agent),
        **{name: fields.get(name, 0) for name in counters},
        "lead_ms": round(lead_ms),
        "recording_capped": recording_capped,
        "conversation": {k: v for k, v in conversation.items() if k != "turns"},
    }


class LiveSnapshots:
    """Writes `build()`'s columns to the call every `interval` seconds until `stop()`."""

    def __init__(
        self,
        call_id: uuid.UUID,
        build: Callable[[], dict[str, Any]],
        *,
        interval: float,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._call_id = call_id
        self._build = build
        self._interval = interval
        self._sleep = sleep
        self._task: asyncio.Task[None] | None = None
        self._writing = False
        self._stopping = False
        self.written = 0

    def start(self) -> None:
        if self._interval > 0 and self._task is None:
            self._task = asyncio.ensure_future(self._run())

    async def stop(self) -> None:
        """Stop writing. An UPDATE under way is awaited, not abandoned: it must not land
        after the final statistics and overwrite them with older figures."""
        self._stopping = True
        task = self._task
        if task is None:
            return
        if not self._writing:
            task.cancel()  # it is asleep: nothing of it reaches the database any more
        await asyncio.gather(task, return_exceptions=True)

    async def _run(self) -> None:
        while not self._stopping:
            await self._sleep(self._interval)
            if self._stopping:
                return
            # Built here, on the loop, between two frames; written from the database thread.
            columns = self._build()
            self._writing = True
            try:
                await write(self._call_id, columns)
                self.written += 1
            except Exception:  # a database blip must not end the stream; the next one retries
                logger.warning("could not store the call's live media figures", exc_info=True)
            finally:
                self._writing = False


_Row = tuple[uuid.UUID, dict[str, Any], "asyncio.Future[None]"]  # a call, its columns, its waiter


class SnapshotWriter:
    """Writes the snapshots of every call on one event loop, those that arrive within
    `window` seconds of each other in one transaction."""

    def __init__(self, window: float = BATCH_WINDOW_S) -> None:
        self._window = window
        self._queued: list[_Row] = []
        self._in_flight: list[_Row] = []  # the batch being written
        self._flusher: asyncio.Task[None] | None = None  # held: the loop keeps only a weak one
        self.batches = 0  # transactions committed (a measure of the batching)

    async def write(self, call_id: uuid.UUID, columns: dict[str, Any]) -> None:
        """Write `columns` to the call; return once committed, or raise what stopped it."""
        done = asyncio.get_running_loop().create_future()
        self._queued.append((call_id, columns, done))
        if self._flusher is None:
            self._flusher = asyncio.ensure_future(self._flush())
            self._flusher.add_done_callback(self._flushed)
        await done

    async def _flush(self) -> None:
        while self._queued:
            await asyncio.sleep(self._window)
            # A snapshot whose task was cancelled while it waited is not written: it might
            # land after the call's final figures.
            self._in_flight = [row for row in self._queued if not row[2].done()]
            self._queued = []
            if not self._in_flight:
                continue
            rows = [(call_id, columns) for call_id, columns, _ in self._in_flight]
            try:
                refused = await sync_to_async(_write_all)(rows)
            except Exception as exc:  # the database is down: every row of it failed
                outcomes: list[Exception | None] = [exc] * len(rows)
            else:
                self.batches += 1
                outcomes = [refused.get(i) for i in range(len(rows))]
            for (_, _, done), error in zip(self._in_flight, outcomes, strict=True):
                if done.done():  # its snapshot task was cancelled meanwhile
                    continue
                if error is None:
                    done.set_result(None)
                else:
                    done.set_exception(error)
            self._in_flight = []
        self._flusher = None  # here, not in a callback: a write may come before that runs

    def _flushed(self, task: asyncio.Task[None]) -> None:
        """Whatever ended the flush, no snapshot may wait for ever, nor stop() for it: its loop
        shutting down (asyncio.run cancels what is left, even a task not yet started), or a
        bug, which the waiters are told of and the next write starts afresh after."""
        error = None if task.cancelled() else task.exception()
        if not task.cancelled() and error is None:
            return  # it ended as it should, and has let go of itself
        if self._flusher is task:
            self._flusher = None
        for _, _, done in self._in_flight + self._queued:
            if done.done():
                continue
            if error is None:
                done.cancel()
            else:
                done.set_exception(error)
        self._in_flight, self._queued = [], []


_WRITERS: LoopLocal[SnapshotWriter] = LoopLocal()


async def write(call_id: uuid.UUID, columns: dict[str, Any]) -> None:
    """Write `columns` to the call through this loop's SnapshotWriter (the live snapshots,
    and the heartbeat of telephony.media.heartbeat, which a burst of calls also has in step)."""
    await _WRITERS.get(SnapshotWriter).write(call_id, columns)


def _write_all(rows: list[tuple[uuid.UUID, dict[str, Any]]]) -> dict[int, Exception]:
    """UPDATE each call of `rows` with its columns, in one transaction; the rows refused
    before it (by index) with why. A snapshot no database would store is not written."""
    refused: dict[int, Exception] = {}
    with transaction.atomic():
        for index, (call_id, columns) in enumerate(rows):
            try:
                if "live_media" in columns:
                    storable.check(columns["live_media"])
            except storable.NotStorable as exc:
                refused[index] = exc
                continue
            sql.update(Call, call_id, columns)
    return refused
