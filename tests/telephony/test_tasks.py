"""Background work: call control is never dropped; best-effort work is bounded, and what it
drops is counted and reported once per interval, not once per drop."""

from __future__ import annotations

import asyncio
import logging
import threading

import pytest
from prometheus_client import REGISTRY

from calls.models import Call
from telephony import actions, tasks

pytestmark = pytest.mark.django_db(transaction=True)


def dropped() -> float:
    return REGISTRY.get_sample_value("phonebridge_background_tasks_dropped_total") or 0.0


async def fill_best_effort_lane(count: int) -> asyncio.Event:
    """`count` best-effort tasks that wait until the returned gate opens."""
    gate = asyncio.Event()
    for i in range(count):
        assert tasks.spawn(gate.wait(), name=f"filler-{i}") is not None
    return gate


async def test_call_control_runs_when_the_best_effort_lane_is_full(settings):
    settings.MAX_BACKGROUND_TASKS = 3
    gate = await fill_best_effort_lane(3)
    ran = asyncio.Event()

    async def hang_up() -> None:
        ran.set()

    before = dropped()
    assert tasks.spawn(asyncio.sleep(0), name="late") is None
    assert tasks.spawn(hang_up(), name="hang-up", critical=True) is not None
    await asyncio.wait_for(ran.wait(), 1)
    assert dropped() == before + 1
    gate.set()
    await tasks.drain()


async def test_actions_are_call_control_whoever_spawns_them(settings, fake_telnyx):
    settings.MAX_BACKGROUND_TASKS = 1
    telnyx = fake_telnyx()
    gate = await fill_best_effort_lane(1)
    call = await Call.objects.acreate(
        direction="inbound", call_control_id="v3:x", status="streaming"
    )
    # No `critical=`: the media session and the bridges spawn hang-ups like this.
    task = tasks.spawn(actions.hang_up(call=call), name="bridge-hangup")
    assert task is not None
    await task
    assert len(telnyx.bodies("/actions/hangup")) == 1
    gate.set()
    await tasks.drain()


async def test_every_drop_is_counted_but_logged_once_per_interval(settings, caplog, monkeypatch):
    monkeypatch.setattr(tasks, "DROP_REPORT_SECONDS", 0.2)
    monkeypatch.setattr(tasks, "_next_report_at", 0.0)  # earlier tests' drops were reported
    monkeypatch.setattr(tasks, "_drops_unreported", 0)
    settings.MAX_BACKGROUND_TASKS = 2
    gate = await fill_best_effort_lane(2)
    before = dropped()
    with caplog.at_level(logging.ERROR, logger="telephony.tasks"):
        for i in range(500):
            assert tasks.spawn(asyncio.sleep(0), name=f"media.dtmf-{i}") is None
        assert len(caplog.records) == 1
        assert caplog.records[0].getMessage().startswith("dropped 1 best-effort")
        await asyncio.sleep(0.3)
        assert len(caplog.records) == 2
        assert caplog.records[1].getMessage().startswith("dropped 499 best-effort")
        await asyncio.sleep(0.3)  # a quiet interval: no line for it
        assert len(caplog.records) == 2
        assert tasks.spawn(asyncio.sleep(0), name="later") is None  # news again
        assert len(caplog.records) == 3
    assert dropped() == before + 501
    gate.set()
    await tasks.drain()


async def test_room_reserved_on_another_thread_is_kept_for_its_owner(settings):
    settings.MAX_BACKGROUND_TASKS = 3
    gate = await fill_best_effort_lane(1)
    reservation = await asyncio.to_thread(tasks.reserve, 2)
    assert reservation is not None
    assert await asyncio.to_thread(tasks.reserve, 1) is None  # 1 running + 2 reserved
    assert tasks.spawn(asyncio.sleep(0), name="other") is None
    reservation.spawn(gate.wait(), name="owner")
    reservation.release()  # the unspent place comes back
    assert tasks.spawn(gate.wait(), name="other") is not None
    assert tasks.running_best_effort() == 3
    gate.set()
    await tasks.drain()


async def test_draining_waits_for_this_loops_tasks_and_leaves_another_loops_alone():
    # A live server's loop runs in a thread; a test that failed may leave work waiting there.
    other_loop = asyncio.new_event_loop()
    release: asyncio.Event | None = None

    async def waits_on_the_other_loop() -> None:
        nonlocal release
        release = asyncio.Event()
        tasks.spawn(release.wait(), name="elsewhere")

    thread = threading.Thread(target=other_loop.run_forever, daemon=True)
    thread.start()
    try:
        asyncio.run_coroutine_threadsafe(waits_on_the_other_loop(), other_loop).result(5)
        finished = []

        async def here() -> None:
            await asyncio.sleep(0.05)
            finished.append(True)

        tasks.spawn(here(), name="here")
        await asyncio.wait_for(tasks.drain(), 2)
        assert finished == [True]
        assert tasks.running() == 1  # the other loop's task, still its own loop's to finish
    finally:
        if release is not None:
            other_loop.call_soon_threadsafe(release.set)
        for _ in range(100):
            if not tasks.running():
                break
            await asyncio.sleep(0.01)
        other_loop.call_soon_threadsafe(other_loop.stop)
        thread.join(5)
        other_loop.close()
    assert tasks.running() == 0
