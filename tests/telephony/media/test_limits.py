"""Per-call caps on what a media peer can make us store or log (telephony.media.limits)."""

from __future__ import annotations

import json

from telephony.media.limits import CLIP_ITEMS, LogLimiter, StoreCaps, clip, quote
from tests.fuzz.doubles import Clock


def test_the_first_events_of_a_kind_are_stored_then_one_note_then_only_counts():
    caps = StoreCaps({"dtmf": 3, "error": 1})
    answers = [caps.allow("dtmf") for _ in range(6)]
    assert answers == [True, True, True, None, False, False]
    assert caps.allow("error") is True
    assert caps.allow("error") is None
    assert caps.dropped == 3 + 1


def test_a_cap_of_zero_stores_nothing_but_the_note():
    caps = StoreCaps({"dtmf": 0})
    assert [caps.allow("dtmf") for _ in range(3)] == [None, False, False]


def test_repeated_log_lines_come_in_a_burst_then_one_an_interval_with_the_count_left_out():
    clock = Clock()
    limiter = LogLimiter(clock, burst=2, interval=10)
    answers = [limiter.allow("error") for _ in range(5)]
    assert answers == [0, 0, 0, None, None]  # the burst, then the first over it at once
    clock.now += 10
    assert limiter.allow("error") == 2  # two left out since the last line
    assert limiter.allow("error") is None
    assert limiter.allow("bad_frame") == 0  # kinds are limited apart


def test_quotes_are_cut_short_and_say_how_long_the_text_was():
    assert quote("short") == "short"
    long = quote("x" * 60_000)
    assert long.startswith("x" * 200)
    assert long.endswith("... (60000 characters)")
    assert len(long) < 240
    assert quote(["a"] * 1000, 10).endswith("characters)")


def test_a_peers_json_is_clipped_to_a_few_kilobytes_whatever_its_size():
    huge = {
        "code": 100003,
        "detail": "d" * 60_000,
        "list": list(range(10_000)),
        **{f"k{n}": n for n in range(100)},
        "deep": [[[[[["bottom"]]]]]],
    }
    clipped = clip(huge)
    assert clipped["code"] == 100003
    assert len(json.dumps(clipped)) < 4000
    assert len(clipped) == CLIP_ITEMS + 1  # and a note of how many keys were left out
    small = {"code": 100005, "title": "rate_limit_reached", "detail": "slow down"}
    assert clip(small) == small
