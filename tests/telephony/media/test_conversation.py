"""Conversation metrics on a fake clock: 20 ms ticks, the caller's frames and the agent's."""

from __future__ import annotations

import numpy as np
import pytest

from telephony.media.conversation import MAX_TURNS, Conversation

SPEECH = (8000 * np.sin(2 * np.pi * 440 * np.arange(160) / 8000)).astype(np.int16)
QUIET = np.zeros(160, dtype=np.int16)


class Call:
    """Plays a script: each tick the caller's frame arrives and, maybe, an agent frame leaves."""

    def __init__(self) -> None:
        self.now = 100.0
        self.conversation = Conversation(clock=lambda: self.now)

    def play(self, seconds: float, *, caller: bool = False, agent: bool = False) -> None:
        for _ in range(round(seconds / 0.02)):
            self.conversation.caller_frame(SPEECH if caller else QUIET, 8000)
            if agent:
                self.conversation.agent_frame(SPEECH, 8000)
            self.now += 0.02

    def summary(self) -> dict:
        self.conversation.finish()
        return self.conversation.summary()


def test_a_turns_latency_runs_from_the_callers_last_word_to_the_agents_first_frame():
    call = Call()
    call.play(1.0, caller=True)
    call.play(0.8)
    call.play(2.0, agent=True)
    call.play(0.5)
    summary = call.summary()
    assert summary["turn_count"] == 1
    (turn,) = summary["turns"]
    assert turn["latency_ms"] == 800
    assert (turn["caller_ms"], turn["agent_ms"]) == (1000, 2000)
    assert (summary["latency_p50_ms"], summary["latency_max_ms"]) == (800, 800)


def test_talk_times_add_up_over_turns_and_pauses_inside_an_answer_keep_one_turn():
    call = Call()
    call.play(0.5, agent=True)  # the greeting: no latency, nobody asked
    call.play(0.6)
    call.play(0.5, agent=True)  # the greeting goes on after a pause of its own
    call.play(0.5)
    call.play(1.5, caller=True)
    call.play(0.4)
    call.play(1.0, agent=True)
    summary = call.summary()
    assert [t["latency_ms"] for t in summary["turns"]] == [None, 400]
    assert [t["agent_ms"] for t in summary["turns"]] == [1000, 1000]
    assert (summary["caller_talk_ms"], summary["agent_talk_ms"]) == (1500, 2000)
    assert summary["latency_p50_ms"] == 400


def test_a_barge_in_counts_for_the_caller_with_its_reaction_time():
    call = Call()
    call.play(0.5, caller=True)
    call.play(0.5)
    call.play(1.0, agent=True)
    call.play(0.3, caller=True, agent=True)  # the caller talks over the agent...
    call.conversation.interrupted()  # ...and 300 ms later the agent is cleared
    call.play(0.5, caller=True)
    summary = call.summary()
    assert summary["caller_interruptions"] == 1
    assert call.conversation.barge_in_reactions_s == [pytest.approx(0.3)]
    assert summary["turns"][0]["barged_in"] is True
    assert summary["turns"][0]["agent_ms"] == 1300  # nothing after the clear is heard
    assert summary["agent_interruptions"] == 0


def test_an_agent_that_starts_while_the_caller_talks_interrupts_them_with_no_wait():
    call = Call()
    call.play(0.5, caller=True)
    call.play(0.5, caller=True, agent=True)
    call.play(0.5, agent=True)
    summary = call.summary()
    assert summary["agent_interruptions"] == 1
    (turn,) = summary["turns"]
    assert (turn["latency_ms"], turn["agent_interrupted"]) == (0, True)


def test_a_quiet_spell_longer_than_three_seconds_is_a_long_silence():
    call = Call()
    call.play(0.5, caller=True)
    call.play(1.0)
    call.play(0.5, agent=True)
    call.play(4.0)  # nobody talks
    call.play(0.5, caller=True)
    summary = call.summary()
    assert summary["long_silences"] == 1
    assert summary["longest_silence_ms"] == 4000


def test_a_click_on_the_line_is_not_speech():
    call = Call()
    call.conversation.caller_frame(SPEECH[:80], 8000)  # 10 ms, under the onset
    call.now += 0.01
    call.play(1.0)
    assert call.summary()["caller_talk_ms"] == 0


def test_only_the_first_turns_are_kept_but_all_are_counted():
    call = Call()
    for _ in range(MAX_TURNS + 5):
        call.play(0.1, caller=True)
        call.play(0.4)
        call.play(0.1, agent=True)
        call.play(0.4)
    summary = call.summary()
    assert summary["turn_count"] == MAX_TURNS + 5
    assert len(summary["turns"]) == MAX_TURNS


def test_each_turn_says_where_both_sides_spoke_so_the_console_can_draw_them():
    call = Call()
    call.play(0.2)  # the recording starts with this first (quiet) caller frame
    call.play(1.0, caller=True)
    call.play(0.6)
    call.play(1.0, agent=True)
    call.play(0.3, caller=True, agent=True)
    call.conversation.interrupted()
    call.play(0.5, caller=True)
    call.play(0.4)
    call.play(0.5, agent=True)
    summary = call.summary()
    assert summary["recording_from_ms"] == 0
    first, second = summary["turns"]
    assert (first["caller_from_ms"], first["caller_to_ms"], first["at_ms"]) == (200, 1200, 1800)
    assert first["barged_in_at_ms"] == 3100
    assert first["agent_to_ms"] == 3100  # what was queued when it was cleared is not heard
    # The barge-in is what the next turn answers.
    assert (second["caller_from_ms"], second["caller_to_ms"], second["at_ms"]) == (2800, 3600, 4000)
