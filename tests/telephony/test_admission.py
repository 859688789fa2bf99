"""A worker answers a burst of new calls at its pace (telephony.admission)."""

from __future__ import annotations

import asyncio
import time

import pytest

from telephony import admission, metrics
from telephony.admission import AnswerPace
from telephony.media.limits import LogLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def waits(pace: AnswerPace, count: int, **limits: float) -> list[float]:
    settings = {"rate": 40.0, "burst": 10, "max_wait_s": 5.0, **limits}
    return [
        round(pace.turn(**settings).wait_s, 6)  # type: ignore[arg-type]
        for _ in range(count)
    ]


# The pace


def test_calls_arriving_slower_than_the_rate_are_answered_at_once():
    clock = Clock()
    pace = AnswerPace(clock=clock)
    for _ in range(100):
        assert pace.turn(rate=40, burst=1, max_wait_s=5).wait_s == 0
        clock.now += 0.03  # 33 a second


def test_a_burst_is_answered_at_once_up_to_its_allowance_then_one_interval_apart():
    pace = AnswerPace(clock=Clock())
    assert waits(pace, 13) == [0.0] * 10 + [0.025, 0.05, 0.075]


def test_the_allowance_refills_at_the_rate():
    clock = Clock()
    pace = AnswerPace(clock=clock)
    waits(pace, 10)
    clock.now += 0.1  # four intervals
    assert waits(pace, 5) == [0.0] * 4 + [0.025]


def test_150_calls_within_a_second_are_all_answered_within_four_seconds():
    clock = Clock()
    pace = AnswerPace(clock=clock)
    answered_at = []
    for i in range(150):
        clock.now = 1000.0 + i / 150
        answered_at.append(clock.now + pace.turn(rate=40, burst=10, max_wait_s=5).wait_s)
    assert answered_at == sorted(answered_at)
    assert round(answered_at[-1] - 1000.0, 3) == 3.5  # (150 - 10) / 40
    # However the window is placed, a second holds no more than the rate and the burst.
    for first in answered_at:
        assert sum(first <= at < first + 1.0 for at in answered_at) <= 40 + 10


def test_no_caller_waits_longer_than_the_longest_wait():
    pace = AnswerPace(clock=Clock())
    turns = [pace.turn(rate=10, burst=1, max_wait_s=0.5) for _ in range(20)]
    assert [round(t.wait_s, 6) for t in turns[:6]] == [0.0, 0.1, 0.2, 0.3, 0.4, 0.5]
    assert all(t.wait_s == 0.5 and t.cut_short for t in turns[6:])
    assert not any(t.cut_short for t in turns[:6])


def test_once_an_overload_ends_the_next_caller_waits_no_longer_than_the_rate_asks():
    clock = Clock()
    pace = AnswerPace(clock=clock)
    for _ in range(1000):  # far more than max_wait_s allows: the schedule must not run away
        pace.turn(rate=10, burst=1, max_wait_s=0.5)
    clock.now += 0.6  # the last of them has been answered
    assert pace.turn(rate=10, burst=1, max_wait_s=0.5).wait_s == 0


def test_a_rate_of_zero_paces_nothing():
    pace = AnswerPace(clock=Clock())
    assert waits(pace, 50, rate=0.0) == [0.0] * 50


# The worker's pace, from settings


async def test_a_worker_waits_for_its_turn_and_observes_the_wait(settings):
    settings.ANSWERS_PER_SECOND = 50.0
    settings.ANSWER_BURST = 2
    settings.ANSWER_MAX_WAIT = 5.0
    before = metrics.ANSWER_WAIT_SECONDS._sum.get()
    loop = asyncio.get_running_loop()
    started = loop.time()
    waited = await asyncio.gather(*(admission.wait_for_turn() for _ in range(5)))
    took = loop.time() - started
    assert [round(w, 2) for w in sorted(waited)] == [0.0, 0.0, 0.02, 0.04, 0.06]
    assert took >= 0.06
    assert metrics.ANSWER_WAIT_SECONDS._sum.get() - before == pytest.approx(0.12, abs=0.01)


async def test_answers_past_the_longest_wait_are_counted_and_said_once(
    settings, caplog, monkeypatch
):
    settings.ANSWERS_PER_SECOND = 1.0
    settings.ANSWER_BURST = 1
    settings.ANSWER_MAX_WAIT = 0.0  # every call beyond the first is past it at once
    monkeypatch.setattr(admission, "_warnings", LogLimiter(time.monotonic, burst=0, interval=60))
    before = metrics.ANSWERS_PAST_MAX_WAIT._value.get()
    waited = [await admission.wait_for_turn() for _ in range(4)]
    assert waited == [0.0] * 4
    assert metrics.ANSWERS_PAST_MAX_WAIT._value.get() - before == 3
    warnings = [r for r in caplog.records if "ANSWERS_PER_SECOND" in r.getMessage()]
    assert len(warnings) == 1
    assert "add workers" in warnings[0].getMessage()


async def test_a_turn_given_back_goes_to_the_next_caller(settings):
    settings.ANSWERS_PER_SECOND = 1.0
    settings.ANSWER_BURST = 1
    settings.ANSWER_MAX_WAIT = 5.0
    assert admission.book().wait_s == 0
    assert admission.book().wait_s > 0.9  # say, a call then refused as busy
    admission.give_back()
    assert 0.9 < admission.book().wait_s < 1.1  # its turn, not the one after it


async def test_booking_and_giving_back_record_nothing_until_a_call_is_answered(settings):
    settings.ANSWERS_PER_SECOND = 1.0
    settings.ANSWER_BURST = 1
    before = metrics.ANSWER_WAIT_SECONDS._sum.get()
    admission.book()
    admission.give_back()
    admission.book()
    turn = admission.book()
    assert metrics.ANSWER_WAIT_SECONDS._sum.get() == before
    admission.observe(turn)
    assert metrics.ANSWER_WAIT_SECONDS._sum.get() - before == pytest.approx(turn.wait_s)


async def test_each_event_loop_keeps_its_own_pace(settings):
    settings.ANSWERS_PER_SECOND = 1.0
    settings.ANSWER_BURST = 1
    settings.ANSWER_MAX_WAIT = 5.0
    assert admission.book().wait_s == 0
    assert admission.book().wait_s > 0.9

    def in_another_loop() -> float:
        async def book() -> float:
            return admission.book().wait_s

        return asyncio.run(book())

    assert await asyncio.to_thread(in_another_loop) == 0
