"""How fast a worker answers new calls: a burst of them is answered at a steady pace.

A call's set-up (its webhooks, the answer, the media socket, the bridge) costs a worker 7-9 ms
of CPU (bench/bench_call_setup.py), on the core whose event loop also carries the audio of
every call in progress. 150 calls arriving within a second ask for more than a second of CPU
in that second, and the audio of the calls already talking waits behind it: their round trip
grows past 20 ms while the set-ups last. So, as a softswitch limits its sessions per second
(FreeSWITCH's `sessions-per-second`), a worker answers at most ANSWERS_PER_SECOND calls a
second, ANSWER_BURST of them at once: the calls beyond ring a moment longer instead of every
call in progress stuttering. A caller never waits more than ANSWER_MAX_WAIT seconds for that
turn; a call past it is answered at once (a late answer beats a lost call), and counted.

Each event loop (a worker) paces its own answers. The pace is a virtual schedule (the generic
cell rate algorithm): each answer takes the next free slot, 1/rate apart, with `burst` slots
open ahead of time. It costs nothing while calls arrive slower than the rate.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from django.conf import settings

from telephony import metrics
from telephony.loop_local import LoopLocal
from telephony.media.limits import LogLimiter

logger = logging.getLogger(__name__)

_TOLERANCE_S = 1e-9  # seconds: a slot this close to the longest wait is within it


@dataclass(frozen=True)
class Turn:
    """An answer's place in the pace: how long it must wait, and whether that was cut short
    at the most a caller may wait."""

    wait_s: float
    cut_short: bool = False


class AnswerPace:
    """The schedule of one worker's answers. `turn()` books the next slot; it never waits."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._next_slot = clock()  # the theoretical time of the next answer at the full rate

    def turn(self, *, rate: float, burst: int, max_wait_s: float) -> Turn:
        if rate <= 0:
            return Turn(0.0)
        now = self._clock()
        interval = 1.0 / rate
        # `burst` answers may go at once: a slot may lie up to burst - 1 intervals ahead.
        ahead = (max(burst, 1) - 1) * interval
        slot = max(self._next_slot, now)
        latest = now + ahead + max(max_wait_s, 0.0)
        # Past the longest wait the call takes the slot it is answered in, so that the
        # schedule never runs further ahead than that: once the overload ends, the next
        # callers wait no longer than the rate itself asks.
        cut_short = slot > latest + _TOLERANCE_S  # not for float rounding
        slot = min(slot, latest)
        self._next_slot = slot + interval
        return Turn(max(slot - ahead - now, 0.0), cut_short=cut_short)

    def give_back(self, *, rate: float) -> None:
        """Free one slot: the next booking may take the place of one that was not used."""
        if rate > 0:
            self._next_slot -= 1.0 / rate


_paces: LoopLocal[AnswerPace] = LoopLocal()
WARNING_INTERVAL_S = 60.0
# The first answer past the longest wait is logged, then one line a minute at most.
_warnings = LogLimiter(time.monotonic, burst=0, interval=WARNING_INTERVAL_S)


def book() -> Turn:
    """Book this worker's next answer: when it may go. Say what became of it: `observe` when
    the call is answered at that turn, `give_back` when it will not be answered after all."""
    rate = float(settings.ANSWERS_PER_SECOND)
    if rate <= 0:
        return Turn(0.0)
    pace = _paces.get(AnswerPace)
    return pace.turn(rate=rate, burst=settings.ANSWER_BURST, max_wait_s=settings.ANSWER_MAX_WAIT)


def observe(turn: Turn) -> None:
    """A call is answered at `turn`: the ring time it added, and whether it was cut short."""
    if turn.cut_short:
        metrics.ANSWERS_PAST_MAX_WAIT.inc()
        _warn_overloaded(float(settings.ANSWERS_PER_SECOND))
    if turn.wait_s > 0:
        metrics.ANSWER_WAIT_SECONDS.observe(turn.wait_s)


def give_back() -> None:
    """The call booked last will not be answered (refused, a replay): free its slot, so that
    calls nobody answers cannot make the others ring longer."""
    rate = float(settings.ANSWERS_PER_SECOND)
    pace = _paces.current()
    if rate > 0 and pace is not None:
        pace.give_back(rate=rate)


async def wait_for_turn(sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> float:
    """Wait until this worker may answer one more call; the seconds waited."""
    turn = book()
    observe(turn)
    if turn.wait_s > 0:
        await sleep(turn.wait_s)
    return turn.wait_s


def _warn_overloaded(rate: float) -> None:
    left_out = _warnings.allow("past the longest wait")
    if left_out is None:
        return
    logger.warning(
        "calls arrive faster than this worker answers them (ANSWERS_PER_SECOND=%g): callers "
        "waited ANSWER_MAX_WAIT=%gs and were answered anyway; add workers (%d such answers "
        "not logged before this one; at most one such line every %gs)",
        rate,
        settings.ANSWER_MAX_WAIT,
        left_out,
        WARNING_INTERVAL_S,
    )
