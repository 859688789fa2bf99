from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from telephony.media.reorder import ReorderBuffer


def push_all(buffer: ReorderBuffer[int], seqs: list[int]) -> list[int]:
    released = [item for seq in seqs for item in buffer.push(seq, seq)]
    return released + buffer.flush()


def test_in_order_frames_are_released_at_once():
    buffer: ReorderBuffer[str] = ReorderBuffer()
    assert buffer.push(2, "a") == ["a"]
    assert buffer.push(3, "b") == ["b"]
    assert buffer.released == 2


def test_the_first_sequence_number_sets_the_start():
    buffer: ReorderBuffer[int] = ReorderBuffer()
    assert buffer.push(17, 17) == [17]
    assert buffer.push(18, 18) == [18]  # the next one expected
    assert buffer.push(16, 16) == []  # before the start
    assert (buffer.missing, buffer.late) == (0, 1)


def test_an_early_frame_is_held_until_the_gap_is_filled():
    buffer: ReorderBuffer[int] = ReorderBuffer()
    buffer.push(2, 2)
    assert buffer.push(4, 4) == []
    assert buffer.pending == 1
    assert buffer.push(3, 3) == [3, 4]
    assert buffer.pending == 0


def test_window_overflow_skips_the_missing_frame():
    buffer: ReorderBuffer[int] = ReorderBuffer(window=3)
    buffer.push(2, 2)
    assert buffer.push(4, 4) == []
    assert buffer.push(5, 5) == []
    assert buffer.push(6, 6) == []  # three held: the window is full, not over
    assert buffer.push(7, 7) == [4, 5, 6, 7]
    assert buffer.missing == 1
    assert buffer.push(8, 8) == [8]  # the next one expected


def test_window_overflow_counts_every_skipped_number():
    buffer: ReorderBuffer[int] = ReorderBuffer(window=1)
    buffer.push(2, 2)
    buffer.push(10, 10)
    assert buffer.push(11, 11) == [10, 11]
    assert buffer.missing == 7


def test_window_overflow_releases_only_up_to_the_next_gap():
    buffer: ReorderBuffer[int] = ReorderBuffer(window=2)
    buffer.push(2, 2)
    buffer.push(4, 4)
    buffer.push(6, 6)
    assert buffer.push(7, 7) == [4]  # skips 3; 5 is still worth waiting for
    assert buffer.push(5, 5) == [5, 6, 7]
    assert buffer.missing == 1


def test_a_frame_arriving_after_it_was_skipped_is_late():
    buffer: ReorderBuffer[int] = ReorderBuffer(window=0)
    buffer.push(2, 2)
    assert buffer.push(4, 4) == [4]
    assert buffer.push(3, 3) == []
    assert buffer.late == 1
    assert buffer.duplicate == 0


def test_a_frame_from_before_the_start_is_late():
    buffer: ReorderBuffer[int] = ReorderBuffer()
    buffer.push(5, 5)
    assert buffer.push(4, 4) == []
    assert buffer.late == 1


def test_a_repeat_of_a_released_frame_is_a_duplicate():
    buffer: ReorderBuffer[int] = ReorderBuffer()
    buffer.push(2, 2)
    buffer.push(3, 3)
    assert buffer.push(2, 2) == []
    assert buffer.duplicate == 1
    assert buffer.late == 0


def test_a_repeat_of_a_held_frame_is_a_duplicate():
    buffer: ReorderBuffer[int] = ReorderBuffer()
    buffer.push(2, 2)
    buffer.push(5, 5)
    assert buffer.push(5, 5) == []
    assert buffer.duplicate == 1
    assert buffer.pending == 1


def test_a_late_frame_seen_twice_is_late_once_then_duplicate():
    buffer: ReorderBuffer[int] = ReorderBuffer(window=0)
    buffer.push(2, 2)
    buffer.push(4, 4)
    buffer.push(3, 3)
    buffer.push(3, 3)
    assert (buffer.late, buffer.duplicate) == (1, 1)


def test_flush_releases_what_is_held_in_order_and_counts_the_gaps():
    buffer: ReorderBuffer[int] = ReorderBuffer(window=5)
    buffer.push(2, 2)
    buffer.push(6, 6)
    buffer.push(4, 4)
    assert buffer.flush() == [4, 6]
    assert buffer.missing == 2  # 3 and 5
    assert buffer.pending == 0


def test_flush_of_an_empty_buffer_releases_nothing():
    assert ReorderBuffer().flush() == []


def test_a_large_jump_is_cheap_to_skip():
    buffer: ReorderBuffer[int] = ReorderBuffer(window=0, max_jump=10**10)
    buffer.push(2, 2)
    assert buffer.push(10**9, 0) == [0]
    assert buffer.missing == 10**9 - 3


def test_one_frame_numbered_far_beyond_the_stream_is_late_and_the_stream_goes_on():
    buffer: ReorderBuffer[int] = ReorderBuffer(window=3)
    assert push_all(buffer, [2, 3, 10**20, 4, 5, 6]) == [2, 3, 4, 5, 6]
    assert (buffer.late, buffer.missing, buffer.released) == (1, 0, 5)


def push_each(buffer: ReorderBuffer[int], seqs: list[int]) -> list[int]:
    return [item for seq in seqs for item in buffer.push(seq, seq)]


def test_stray_far_numbers_are_late_alone_in_pairs_and_at_the_end():
    buffer: ReorderBuffer[int] = ReorderBuffer(window=3)
    pushed = [2, 3, 10**21, 10**21 + 1, 4, 5, -(10**20)]
    assert push_each(buffer, pushed) + buffer.flush() == [2, 3, 4, 5]
    assert (buffer.late, buffer.missing, buffer.duplicate, buffer.released) == (3, 0, 0, 4)


def test_a_far_first_number_is_trusted_until_the_real_stream_outnumbers_it():
    buffer: ReorderBuffer[int] = ReorderBuffer(window=3)
    assert push_each(buffer, [10**20, 2, 3, 4]) == [10**20]
    assert push_each(buffer, [5, 6]) == [2, 3, 4, 5, 6]
    assert (buffer.late, buffer.missing) == (0, 0)


def test_a_stream_that_really_was_renumbered_moves_there_after_a_run_of_frames():
    buffer: ReorderBuffer[int] = ReorderBuffer(window=3)
    far = 10**20
    assert push_each(buffer, [2, 3, 5]) == [2, 3]
    # Four consecutive far numbers: the new numbering. The held 5 goes out first.
    assert push_each(buffer, [far, far + 1, far + 2]) == []
    assert buffer.push(far + 3, far + 3) == [5, far, far + 1, far + 2, far + 3]
    assert push_each(buffer, [far + 4, 6]) == [far + 4]  # 6 is the old numbering's now
    assert buffer.flush() == []
    assert (buffer.released, buffer.late, buffer.missing) == (8, 1, 1)  # 6 late, 4 missing


def test_window_zero_never_holds_anything():
    buffer: ReorderBuffer[int] = ReorderBuffer(window=0)
    assert push_all(buffer, [2, 4, 3, 5]) == [2, 4, 5]


def test_a_negative_window_is_refused():
    with pytest.raises(ValueError, match="window"):
        ReorderBuffer(window=-1)


@st.composite
def shuffled_within_window(draw: st.DrawFn) -> tuple[int, list[int]]:
    """A run of sequence numbers where each frame arrives at most `window` places late.

    Each frame n gets the arrival key n + delay, delay in [0, window + 1]: then at most
    `window` later frames can overtake it, which is what the buffer can hold. The first
    frame stays first, since it defines the start.
    """
    window = draw(st.integers(min_value=0, max_value=6))
    start = draw(st.integers(min_value=1, max_value=10**6))
    count = draw(st.integers(min_value=1, max_value=60))
    delays = [0] + [draw(st.integers(0, window + 1)) for _ in range(count - 1)]
    order = sorted(range(count), key=lambda n: (n + delays[n], n))
    return window, [start + n for n in order]


@given(shuffled_within_window())
def test_any_shuffle_within_the_window_is_released_in_order_with_nothing_missing(case):
    window, seqs = case
    buffer: ReorderBuffer[int] = ReorderBuffer(window=window)
    released = [item for seq in seqs for item in buffer.push(seq, seq)]
    assert released == sorted(seqs)  # all out before any flush
    assert (buffer.missing, buffer.late, buffer.duplicate) == (0, 0, 0)


@given(st.permutations(range(2, 30)))
def test_a_window_as_large_as_the_stream_reorders_any_permutation_after_the_first(seqs):
    buffer: ReorderBuffer[int] = ReorderBuffer(window=len(seqs))
    released = push_all(buffer, seqs)
    expected = sorted(s for s in seqs if s >= seqs[0])
    assert released == expected
    assert buffer.late == len(seqs) - len(expected)
    assert buffer.missing == 0


@given(
    st.lists(st.integers(min_value=0, max_value=40), max_size=80),
    st.integers(min_value=0, max_value=5),
)
def test_counters_account_for_every_pushed_frame(seqs, window):
    buffer: ReorderBuffer[int] = ReorderBuffer(window=window)
    released = push_all(buffer, seqs)
    assert buffer.released == len(released)
    assert buffer.released + buffer.late + buffer.duplicate == len(seqs)
    assert released == sorted(set(released))  # strictly increasing
    if released:
        span = released[-1] - seqs[0] + 1
        assert buffer.missing == span - len(released)
