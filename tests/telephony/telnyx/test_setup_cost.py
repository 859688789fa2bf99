"""What an inbound call's webhooks cost the worker in database writes.

A burst of new calls pays this once per call on the loop that carries every other call's
audio (issue 13: 150 calls arriving within a second lost frames), so the writes of a call's
set-up (call.initiated, the answer command, call.answered, streaming.started) are counted
here and held down. Real views, real database; only Telnyx's REST API is the FakeTelnyx.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from typing import Any

import pytest
from django.db.backends.sqlite3.base import DatabaseWrapper as SQLiteWrapper

from calls.models import Call, CallEvent, CarrierCommand
from telephony import tasks
from tests.conftest import webhook

pytestmark = pytest.mark.django_db(transaction=True)

BASE = {
    "call_control_id": "v3:setup-cost",
    "call_leg_id": "leg-a",
    "call_session_id": "session-a",
    "from": "+15557654321",
    "to": "+15550001111",
}


async def deliver(post, event_type: str, payload: dict, at: str) -> None:
    response = await post(webhook(event_type, {**BASE, **payload}, occurred_at=at))
    assert response.status_code == 200
    await tasks.drain()


async def test_an_inbound_calls_set_up_makes_at_most_eight_database_writes(
    async_post_webhook, fake_telnyx, writes
):
    fake_telnyx()
    writes.take()
    at = "2026-11-22T10:00:0{}Z"
    await deliver(async_post_webhook, "call.initiated", {"direction": "incoming"}, at.format(0))
    # The call is created with its media token (one INSERT), its event stored (one INSERT),
    # and the answer command logged (INSERT, then its outcome).
    assert len(writes.take()) <= 4
    await deliver(async_post_webhook, "call.answered", {}, at.format(1))
    # The status and the fact it carries move in one UPDATE; the webhook's event and the
    # state change's event go in one INSERT.
    assert len(writes.take()) == 2
    await deliver(async_post_webhook, "streaming.started", {}, at.format(2))
    assert len(writes.take()) == 2

    # Nothing was lost by writing less: the call, every event and the command are there.
    call = await Call.objects.aget(call_control_id="v3:setup-cost")
    assert call.status == Call.Status.STREAMING
    assert call.answered_at is not None
    assert call.streaming_started_at is not None
    assert call.media_token_hash
    assert call.media_token_expires_at is not None
    types = [e.type async for e in CallEvent.objects.filter(call=call).order_by("id")]
    assert types == [
        "call.initiated",
        "call.answered",
        "state.answered",
        "streaming.started",
        "state.streaming",
    ]
    command = await CarrierCommand.objects.aget(call=call, name="answer")
    assert (command.ok, command.status_code, command.attempts) == (True, 200, 1)


async def test_a_redelivered_answer_writes_only_its_own_event(
    async_post_webhook, fake_telnyx, writes
):
    fake_telnyx()
    await deliver(
        async_post_webhook, "call.initiated", {"direction": "incoming"}, "2026-11-22T10:00:00Z"
    )
    await deliver(async_post_webhook, "call.answered", {}, "2026-11-22T10:00:01Z")
    writes.take()
    # Telnyx may send the same event again under a new id: it is stored, and the call,
    # already answered, is left as it is without trying moves that cannot happen.
    await deliver(async_post_webhook, "call.answered", {}, "2026-11-22T10:00:05Z")
    assert len(writes.take()) == 1
    call = await Call.objects.aget(call_control_id="v3:setup-cost")
    assert call.status == Call.Status.ANSWERED
    assert call.answered_at is not None
    assert call.answered_at.second == 1
    assert await CallEvent.objects.filter(call=call, type="call.answered").acount() == 2
    assert await CallEvent.objects.filter(call=call, type="state.answered").acount() == 1


async def test_a_webhook_builds_no_database_connection_object_on_the_event_loop(
    async_post_webhook, fake_telnyx, monkeypatch
):
    # On the loop each request is a task in a context of its own, where Django's connection
    # is a new object: asking it anything built a DatabaseWrapper with its six helpers, in
    # reference cycles, per webhook (five a call), for the garbage collector to free later.
    fake_telnyx()
    loop_thread = threading.get_ident()
    built: list[object] = []
    make = SQLiteWrapper.__init__

    def counted(self: SQLiteWrapper, *args: Any, **kwargs: Any) -> None:
        if threading.get_ident() == loop_thread:
            built.append(self)
        make(self, *args, **kwargs)

    monkeypatch.setattr(SQLiteWrapper, "__init__", counted)
    at = "2026-11-22T10:00:0{}Z"
    steps = [("call.initiated", {"direction": "incoming"}), ("call.answered", {})]
    steps.append(("streaming.started", {}))
    for second, (event_type, payload) in enumerate(steps):
        request = deliver(async_post_webhook, event_type, payload, at.format(second))
        await asyncio.get_running_loop().create_task(request, context=contextvars.Context())
    assert built == []
