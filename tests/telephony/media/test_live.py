"""The live snapshots' writer: the UPDATEs of every call on a worker, batched (media/live.py)."""

from __future__ import annotations

import asyncio

import pytest
from django.db import OperationalError

from calls import sql
from calls.models import Call
from telephony import storable
from telephony.media import live

pytestmark = pytest.mark.django_db(transaction=True)


def columns(frames_in: int, **live_media: object) -> dict[str, object]:
    return {
        "frames_in": frames_in,
        "conversation": {"turn_count": 1},
        "live_media": {"frames_in": frames_in, "ended": False, **live_media},
    }


async def new_calls(n: int) -> list[Call]:
    return [await Call.objects.acreate(direction="inbound", status="streaming") for _ in range(n)]


async def test_snapshots_that_arrive_together_are_written_in_one_transaction():
    calls = await new_calls(20)
    writer = live.SnapshotWriter(window=0.02)

    await asyncio.gather(*(writer.write(call.pk, columns(i)) for i, call in enumerate(calls)))

    assert writer.batches == 1
    for i, call in enumerate(calls):
        await call.arefresh_from_db()
        assert (call.frames_in, call.live_media["frames_in"]) == (i, i)
        assert call.conversation == {"turn_count": 1}


async def test_snapshots_further_apart_than_the_window_are_written_apart():
    first, second = await new_calls(2)
    writer = live.SnapshotWriter(window=0.01)

    await writer.write(first.pk, columns(1))
    await writer.write(second.pk, columns(2))

    assert writer.batches == 2


async def test_a_snapshot_no_database_would_store_is_refused_and_the_rest_are_written():
    good, bad = await new_calls(2)
    writer = live.SnapshotWriter(window=0.01)

    results = await asyncio.gather(
        writer.write(good.pk, columns(5)),
        writer.write(bad.pk, columns(6, note="\x00")),  # PostgreSQL's jsonb refuses NUL
        return_exceptions=True,
    )

    assert results[0] is None
    assert isinstance(results[1], storable.NotStorable)
    await good.arefresh_from_db()
    await bad.arefresh_from_db()
    assert good.frames_in == 5
    assert bad.frames_in == 0
    assert bad.live_media is None


async def test_when_the_database_fails_every_snapshot_of_the_batch_says_so(monkeypatch):
    calls = await new_calls(3)
    writer = live.SnapshotWriter(window=0.01)

    def refuse(*args: object, **kwargs: object) -> int:
        raise OperationalError("database is locked")  # what SQLite says when it gives up

    monkeypatch.setattr(sql, "update", refuse)
    results = await asyncio.gather(
        *(writer.write(call.pk, columns(1)) for call in calls), return_exceptions=True
    )

    assert all(isinstance(result, OperationalError) for result in results)
    assert writer.batches == 0
    monkeypatch.undo()  # the next batch is written: the writer carries on
    await writer.write(calls[0].pk, columns(9))
    await calls[0].arefresh_from_db()
    assert calls[0].frames_in == 9


async def test_a_snapshot_cancelled_while_it_waits_for_its_batch_is_not_written():
    kept, cancelled = await new_calls(2)
    writer = live.SnapshotWriter(window=0.05)

    waiting = asyncio.ensure_future(writer.write(cancelled.pk, columns(7)))
    await asyncio.sleep(0)
    waiting.cancel()
    await writer.write(kept.pk, columns(3))

    await kept.arefresh_from_db()
    await cancelled.arefresh_from_db()
    assert kept.frames_in == 3
    assert cancelled.frames_in == 0  # it might have landed after the call's final figures


async def test_a_writer_cancelled_with_its_loop_leaves_no_snapshot_waiting_for_ever():
    (call,) = await new_calls(1)
    writer = live.SnapshotWriter(window=0.05)

    waiting = asyncio.ensure_future(writer.write(call.pk, columns(2)))
    await asyncio.sleep(0)
    assert writer._flusher is not None
    writer._flusher.cancel()  # as asyncio.run cancels what is left when the loop ends

    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(waiting, 1)


async def test_a_failing_writer_tells_its_waiters_and_the_next_write_starts_afresh(monkeypatch):
    (call,) = await new_calls(1)
    writer = live.SnapshotWriter(window=0.01)

    def broken(rows: object) -> None:
        return None  # a bug: the writer then fails reading the refusals, past its DB guard

    original = live.sync_to_async
    monkeypatch.setattr(live, "sync_to_async", lambda function: original(broken))
    with pytest.raises(AttributeError):
        await asyncio.wait_for(writer.write(call.pk, columns(1)), 1)

    monkeypatch.undo()
    await writer.write(call.pk, columns(8))
    await call.arefresh_from_db()
    assert call.frames_in == 8


async def test_stopping_awaits_a_snapshot_already_queued_so_none_lands_after_the_end(settings):
    (call,) = await new_calls(1)
    written = asyncio.Event()

    def build() -> dict[str, object]:
        written.set()
        return columns(4)

    snapshots = live.LiveSnapshots(call.pk, build, interval=0.01)
    snapshots.start()
    await written.wait()  # its snapshot is built and queued for the writer
    await snapshots.stop()

    await call.arefresh_from_db()
    assert snapshots.written == 1
    assert call.frames_in == 4
