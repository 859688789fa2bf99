from __future__ import annotations

from telephony.simulation.playout import MediaStats, Playout, RttTracker, percentile


def test_it_returns_a_mark_at_once_when_idle():
    playout = Playout()

    assert playout.add_mark("m", now=10.0) is True


def test_it_holds_a_mark_until_the_audio_before_it_has_played():
    playout = Playout()
    playout.add_audio(0.2, now=10.0)

    assert playout.add_mark("m", now=10.05) is False
    assert playout.due_marks(now=10.19) == []
    assert playout.due_marks(now=10.2) == ["m"]


def test_it_queues_audio_behind_audio():
    playout = Playout()
    playout.add_audio(0.2, now=10.0)
    playout.add_audio(0.2, now=10.0)

    assert abs(playout.queued_s(now=10.1) - 0.3) < 1e-9


def test_it_flushes_marks_on_clear_and_plays_new_audio_from_now():
    playout = Playout()
    playout.add_audio(5.0, now=0.0)
    playout.add_mark("a", now=0.0)
    playout.add_mark("b", now=0.0)

    assert playout.clear(now=1.0) == ["a", "b"]
    assert playout.queued_s(now=1.0) == 0
    playout.add_audio(0.1, now=1.0)
    assert playout.add_mark("c", now=1.0) is False
    assert playout.underruns == 0


def test_it_counts_a_short_starvation_as_an_underrun():
    playout = Playout()
    playout.add_audio(0.02, now=0.0)
    playout.add_audio(0.02, now=0.1)

    assert playout.underruns == 1
    assert round(playout.underrun_s, 3) == 0.08


def test_it_matches_looped_audio_to_the_oldest_send():
    tracker = RttTracker()
    tracker.sent(b"k", at=1.0)
    tracker.sent(b"k", at=2.0)

    tracker.received(b"k", at=1.05)
    tracker.received(b"k", at=2.03)
    tracker.received(b"unknown", at=3.0)

    assert [round(v) for v in tracker.samples_ms] == [50, 30]


def test_it_forgets_sends_older_than_its_horizon():
    tracker = RttTracker(horizon_s=1.0)
    tracker.sent(b"old", at=0.0)
    tracker.sent(b"new", at=2.0)

    tracker.received(b"old", at=2.1)

    assert tracker.samples_ms == []


def test_it_ignores_long_pauses_when_measuring_gaps():
    stats = MediaStats()
    for at in (0.0, 0.02, 0.1, 5.0, 5.02):
        stats.note_arrival(at)

    assert round(stats.max_gap_ms) == 80


def test_it_takes_nearest_rank_percentiles():
    assert percentile([], 50) is None
    assert percentile([5.0, 1.0, 3.0], 50) == 3.0
    assert percentile(list(range(1, 101)), 99) == 99
