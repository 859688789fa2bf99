"""Work that must not hold a webhook response or a media frame (answering, hanging up, ...).

Tasks run on the server's event loop. The sets keep them referenced until they finish (the
loop itself holds only weak references). There are two lanes:

- Call control (answering, rejecting, hanging up, the apology, restarting a lost stream) is
  never dropped: a caller left ringing or in silence is the worst outcome we have. It is not
  capped, because its causes are: one command per verified webhook, operator action or
  bridge decision, all of them bounded by the number of real calls.
- Best-effort work (storing media events, preparing or dismissing the agent, telling a media
  socket to close, transcription) shares MAX_BACKGROUND_TASKS, so a storm of it (a media peer
  flooding DTMF, a slow database) cannot pile up without limit. When the lane is full new
  work is refused: counted (`phonebridge_background_tasks_dropped_total`) and logged once per
  DROP_REPORT_SECONDS, not once per drop. Work whose loss must be noticed reserves its room
  first (`reserve`), so that its caller can refuse upstream instead: the webhook view answers
  503 and Telnyx's retry brings the event back.

A coroutine function is call control when it is marked with `@call_control` (telephony.actions
marks its commands), so a hang-up is never dropped whoever spawns it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Coroutine
from types import CodeType
from typing import Any, TypeVar

from django.conf import settings

from telephony import metrics
from telephony.log_context import current_call_id

logger = logging.getLogger(__name__)

DROP_REPORT_SECONDS = 10.0

F = TypeVar("F", bound=Callable[..., Coroutine[Any, Any, Any]])

_critical: set[asyncio.Task[Any]] = set()
_best_effort: set[asyncio.Task[Any]] = set()
_call_control_code: set[CodeType] = set()
# Reservations are taken on the database thread (inside a webhook's transaction) and spent
# on the event loop: both sides hold the lock.
_lock = threading.Lock()
_reserved = 0
_drops_unreported = 0
_next_report_at = 0.0  # time.monotonic() before which drops are only counted


def call_control(func: F) -> F:
    """Mark a coroutine function as call control: its work is never dropped."""
    _call_control_code.add(func.__code__)
    return func


def is_call_control(work: Coroutine[Any, Any, Any] | Callable[..., Any]) -> bool:
    """Whether a coroutine (or a coroutine function, or a partial of one) is call control."""
    code = getattr(work, "cr_code", None)
    if code is None:
        func = getattr(work, "func", work)  # functools.partial
        code = getattr(func, "__code__", None)
    return code in _call_control_code


def spawn(
    coro: Coroutine[Any, Any, Any], *, name: str, critical: bool | None = None
) -> asyncio.Task[Any] | None:
    """Run `coro` in the background. Call control (`critical`, by default whether `coro` is
    marked `@call_control`) always runs; best-effort work returns None when its lane is full."""
    if critical is None:
        critical = is_call_control(coro)
    if critical:
        return _start(coro, name, _critical)
    with _lock:
        room = len(_best_effort) + _reserved < _limit()
    if not room:
        coro.close()
        _note_drop(name)
        return None
    return _start(coro, name, _best_effort)


class Reservation:
    """Room held in the best-effort lane for work that is about to be spawned."""

    def __init__(self, count: int) -> None:
        self._left = count

    def spawn(self, coro: Coroutine[Any, Any, Any], *, name: str) -> asyncio.Task[Any]:
        """Spawn into one reserved place (call control goes to its own lane, unreserved)."""
        if is_call_control(coro):
            return _start(coro, name, _critical)
        global _reserved
        with _lock:
            if self._left <= 0:
                raise RuntimeError("no reserved place left")
            self._left -= 1
            _reserved -= 1
            task = _start(coro, name, _best_effort)
        return task

    def release(self) -> None:
        """Give back what was not spent (idempotent)."""
        global _reserved
        with _lock:
            _reserved -= self._left
            self._left = 0


def reserve(count: int) -> Reservation | None:
    """Hold `count` places in the best-effort lane, or None (counted as drops) if it is full.
    Thread-safe: callable from the database thread."""
    global _reserved
    if count <= 0:
        return Reservation(0)
    with _lock:
        if len(_best_effort) + _reserved + count > _limit():
            full = True
        else:
            full = False
            _reserved += count
    if full:
        _note_drop("a webhook's follow-ups", count)
        return None
    return Reservation(count)


def _limit() -> int:
    return int(getattr(settings, "MAX_BACKGROUND_TASKS", 1000))


def _start(
    coro: Coroutine[Any, Any, Any], name: str, lane: set[asyncio.Task[Any]]
) -> asyncio.Task[Any]:
    task = asyncio.get_running_loop().create_task(coro, name=name)
    lane.add(task)
    task.add_done_callback(_finished)
    return task


def _finished(task: asyncio.Task[Any]) -> None:
    with _lock:
        _critical.discard(task)
        _best_effort.discard(task)
    if task.cancelled():
        return
    exc = task.exception()
    if exc is not None:
        logger.error(
            "background task %s failed",
            task.get_name(),
            exc_info=exc,
            extra={"call_id": current_call_id.get()},
        )


def _note_drop(what: str, count: int = 1) -> None:
    """Count every drop; log the first at once, then at most one line per interval with how
    many were dropped meanwhile (thread-safe: webhooks reserve on the database thread)."""
    global _drops_unreported, _next_report_at
    metrics.BACKGROUND_TASKS_DROPPED.inc(count)
    with _lock:
        _drops_unreported += count
        if time.monotonic() < _next_report_at:
            return
        dropped, _drops_unreported = _drops_unreported, 0
        _next_report_at = time.monotonic() + DROP_REPORT_SECONDS
    _log_drops(dropped, what)
    with contextlib.suppress(RuntimeError):  # on a loop: report the interval's tail too
        asyncio.get_running_loop().call_later(DROP_REPORT_SECONDS, _report_tail)


def _report_tail() -> None:
    global _drops_unreported, _next_report_at
    with _lock:
        dropped, _drops_unreported = _drops_unreported, 0
        if dropped:
            _next_report_at = time.monotonic() + DROP_REPORT_SECONDS
    if dropped:  # a quiet interval logs nothing, and the next drop is news again
        _log_drops(dropped, "since the last report")
        asyncio.get_running_loop().call_later(DROP_REPORT_SECONDS, _report_tail)


def _log_drops(dropped: int, what: str) -> None:
    logger.error(
        "dropped %d best-effort background task(s) (%s): %d running, %d reserved, limit "
        "MAX_BACKGROUND_TASKS=%d; at most one such line every %g s",
        dropped,
        what,
        len(_best_effort),
        _reserved,
        _limit(),
        DROP_REPORT_SECONDS,
    )


def running() -> int:
    return len(_critical) + len(_best_effort)


def running_best_effort() -> int:
    return len(_best_effort)


async def drain() -> None:
    """Wait for every background task of this event loop, including ones spawned meanwhile
    (used by tests). Tasks of another loop (a live server's, in its own thread) are that
    loop's to wait for: gathering them here would fail, and a test that failed while leaving
    some there would fail every later test's drain with it."""
    loop = asyncio.get_running_loop()
    while mine := [t for t in _critical | _best_effort if t.get_loop() is loop]:
        await asyncio.gather(*mine, return_exceptions=True)
