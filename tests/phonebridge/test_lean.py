"""LeanASGIHandler: Django's request handling for /telnyx/events, without middleware and
without a thread (and so a database connection) per request."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.http import HttpRequest, JsonResponse
from django.urls import path

from phonebridge.lean import LeanASGIHandler

# Django closes stale connections when a request starts and ends, on the sync thread.
pytestmark = pytest.mark.django_db(transaction=True)

sync_threads: list[int] = []
follow_ups: list[asyncio.Task[int]] = []


def _thread_id() -> int:
    return threading.get_ident()


async def probe(request: HttpRequest) -> JsonResponse:
    sync_threads.append(await sync_to_async(_thread_id)())

    async def follow_up() -> int:
        await asyncio.sleep(0.01)  # the response has gone by now
        return await sync_to_async(_thread_id)()

    follow_ups.append(asyncio.create_task(follow_up()))
    return JsonResponse({"ok": True})


urlpatterns = [path("probe", probe)]


async def get(app: Any, path: str) -> list[dict[str, Any]]:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver")],
        "client": ("127.0.0.1", 5000),
        "server": ("testserver", 80),
    }
    sent: list[dict[str, Any]] = []
    body_sent = False
    never = asyncio.Event()

    async def receive() -> dict[str, Any]:
        nonlocal body_sent
        if body_sent:  # as a server does: nothing more until the client goes away
            await never.wait()
        body_sent = True
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


@pytest.fixture
def probe_urls(settings):
    settings.ROOT_URLCONF = __name__
    sync_threads.clear()
    follow_ups.clear()


async def test_requests_share_one_sync_thread_instead_of_one_each(probe_urls):
    app = LeanASGIHandler()
    for _ in range(3):
        sent = await get(app, "/probe")
        assert sent[0]["status"] == 200
    # Django's own handler gives each request a fresh thread, and with it a fresh connection.
    assert len(sync_threads) == 3
    assert len(set(sync_threads)) == 1


async def test_a_follow_up_outliving_its_request_can_still_reach_the_database_thread(probe_urls):
    app = LeanASGIHandler()
    await get(app, "/probe")
    # Under a per-request ThreadSensitiveContext this raises "ThreadSensitiveContext has exited".
    assert await follow_ups[0] == sync_threads[0]


async def test_it_refuses_anything_but_http():
    with pytest.raises(ValueError, match="HTTP only"):
        await LeanASGIHandler()({"type": "websocket"}, None, None)
