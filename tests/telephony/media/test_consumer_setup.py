"""What answering a media socket costs the worker: trips to the database thread and writes.

A burst of calls answered at once pays this once per call on a loop that is also carrying
every other call's audio (issue 13: 150 calls arriving within a second lost frames), so the
set-up's database work is counted here and held down. Real consumer, real database.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from asgiref.sync import SyncToAsync, sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import connection

from calls.models import Call, CallEvent
from telephony.media.codecs import ulaw_encode
from telephony.media.consumer import _call_by_id
from tests.telephony.telnyx.test_consumer import (
    APP,
    media,
    new_call,
    received_media,
    start,
    stop,
    tone,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _media_settings(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    settings.RECORD_CALLS = False
    settings.BRIDGE = "echo"
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


async def test_accepting_a_media_socket_takes_one_trip_to_the_database_thread(monkeypatch):
    call, token = await new_call()
    trips: list[str] = []
    real_call = SyncToAsync.__call__

    async def counting(self, *args, **kwargs):
        trips.append(getattr(self.func, "__name__", repr(self.func)))
        return await real_call(self, *args, **kwargs)

    monkeypatch.setattr(SyncToAsync, "__call__", counting)
    socket = WebsocketCommunicator(APP, f"/telnyx/media/{call.pk}/{token}")
    connected, _ = await socket.connect()
    monkeypatch.undo()
    assert connected
    assert trips == ["_authorize"]  # Channels' own close_old_connections hop is not taken
    await socket.disconnect()


async def test_accepting_a_media_socket_makes_one_database_write(writes):
    call, token = await new_call()
    writes.statements.clear()  # the call's own creation
    socket = WebsocketCommunicator(APP, f"/telnyx/media/{call.pk}/{token}")
    assert (await socket.connect())[0]
    # The token is claimed by one guarded UPDATE, which also notes the call's activity.
    assert len(writes.statements) == 1
    assert "media_token_used_at" in writes.statements[0]
    await socket.send_to(text_data=start())
    await socket.send_to(text_data=media(1, ulaw_encode(tone(160))))
    await received_media(socket, 1)
    await stop(socket)
    assert await CallEvent.objects.filter(call=call, type="media.start").acount() == 1
    claimed = await Call.objects.aget(pk=call.pk)
    assert claimed.media_token_used_at is not None


async def test_the_media_socket_reads_its_call_in_one_select_of_the_whole_row(monkeypatch):
    call, token = await new_call()
    selects: list[str] = []

    def watch(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        if sql.lstrip().upper().startswith("SELECT"):
            selects.append(sql)
        return execute(sql, params, many, context)

    await sync_to_async(lambda: connection.execute_wrappers.append(watch))()
    try:
        socket = WebsocketCommunicator(APP, f"/telnyx/media/{call.pk}/{token}")
        assert (await socket.connect())[0]
    finally:
        await sync_to_async(lambda: connection.execute_wrappers.remove(watch))()
    assert len(selects) == 1
    await socket.disconnect()


async def test_the_written_out_lookup_loads_every_field_the_orm_would():
    call, _ = await new_call()
    loaded = await sync_to_async(_call_by_id)(call.pk)
    expected = await Call.objects.aget(pk=call.pk)
    assert loaded is not None
    for field in Call._meta.concrete_fields:
        assert getattr(loaded, field.attname) == getattr(expected, field.attname), field.name
    assert await sync_to_async(_call_by_id)(uuid.uuid4()) is None
