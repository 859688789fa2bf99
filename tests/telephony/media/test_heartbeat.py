from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from django.db import OperationalError
from django.utils import timezone

from calls import sql
from calls.models import Call
from telephony.media.heartbeat import HEARTBEAT_SECONDS, heartbeat

pytestmark = pytest.mark.django_db(transaction=True)


class Beats:
    """A sleep that lets `n` heartbeats through, then stops the loop."""

    def __init__(self, n: int) -> None:
        self.left = n
        self.slept: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        if not self.left:
            raise asyncio.CancelledError
        self.left -= 1


async def test_it_touches_the_call_every_heartbeat():
    long_ago = timezone.now() - timedelta(hours=1)
    call = await Call.objects.acreate(direction="inbound", last_activity_at=long_ago)
    beats = Beats(2)
    with pytest.raises(asyncio.CancelledError):
        await heartbeat(call.pk, sleep=beats.sleep)
    await call.arefresh_from_db()
    assert call.last_activity_at > long_ago
    assert beats.slept == [HEARTBEAT_SECONDS] * 3


async def test_a_database_blip_does_not_stop_it(monkeypatch, caplog):
    def down(*args, **kwargs) -> int:
        raise OperationalError("unable to open database file")  # SQLite's word for it

    monkeypatch.setattr(sql, "update", down)
    beats = Beats(2)
    with pytest.raises(asyncio.CancelledError):
        await heartbeat(Call().pk, sleep=beats.sleep)
    assert len(beats.slept) == 3  # it went on after the first failure
    assert "heartbeat could not reach the database" in caplog.text
