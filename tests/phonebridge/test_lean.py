"""LeanASGIHandler: Django's request handling for /telnyx/events, without middleware and
without a thread (and so a database connection) per request."""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import threading
import time
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.core.handlers.base import BaseHandler
from django.core.signals import request_finished, request_started
from django.db import connection
from django.db.backends.sqlite3.base import DatabaseWrapper as SQLiteWrapper
from django.http import HttpRequest, JsonResponse
from django.urls import path

from phonebridge.lean import LeanASGIHandler, _vendor, prepare_connection, writes_in_parallel
from telephony.telnyx import views
from tests.framework_pins import Pins, drift

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


def get_scope(path: str) -> dict[str, Any]:
    return {
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


async def get(app: Any, path: str) -> list[dict[str, Any]]:
    scope = get_scope(path)
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


async def test_a_request_sends_no_request_signals(probe_urls):
    heard: list[str] = []

    def started(**kwargs: Any) -> None:
        heard.append("started")

    def finished(**kwargs: Any) -> None:
        heard.append("finished")

    request_started.connect(started)
    request_finished.connect(finished)
    try:
        sent = await get(LeanASGIHandler(), "/probe")
    finally:
        request_started.disconnect(started)
        request_finished.disconnect(finished)
    assert sent[0]["status"] == 200
    assert b'"ok": true' in sent[1]["body"]
    assert heard == []  # each would be a hop to the sync thread and back


async def test_a_client_that_goes_away_does_not_cancel_the_view(probe_urls):
    # Django's own handler cancels the view; a webhook is better stored (its retry is then a
    # duplicate) than cut off halfway. The receive answers as uvicorn's does for a client
    # that has gone: the body, then `http.disconnect` at once
    # (uvicorn/protocols/http/httptools_impl.py, RequestResponseCycle.receive).
    messages = iter(
        [{"type": "http.request", "body": b"", "more_body": False}, {"type": "http.disconnect"}]
    )
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return next(messages)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await LeanASGIHandler()(get_scope("/probe"), receive, send)
    assert len(sync_threads) == 1
    assert sent[0]["status"] == 200


def test_prepare_connection_closes_a_connection_that_outlived_its_max_age():
    connection.ensure_connection()
    assert connection.connection is not None
    connection.close_at = time.monotonic() - 1  # CONN_MAX_AGE is over
    prepare_connection()
    assert connection.connection is None


async def test_the_webhook_view_prepares_its_connection_in_its_own_hop(monkeypatch):
    steps: list[tuple[str, int]] = []

    def record(event: object, reserve_room: bool) -> str:
        steps.append(("record", threading.get_ident()))
        return "outcome"

    monkeypatch.setattr(
        views, "prepare_connection", lambda: steps.append(("prepare", threading.get_ident()))
    )
    monkeypatch.setattr(views, "record_event", record)
    # As the view calls it: one hop to the database thread, which does both.
    assert await sync_to_async(views._record)(object()) == "outcome"
    [(first, thread), (second, same_thread)] = steps
    assert (first, second) == ("prepare", "record")
    assert thread == same_thread != threading.get_ident()


async def test_whether_writes_go_in_parallel_is_read_without_building_a_connection(monkeypatch):
    built: list[object] = []
    make = SQLiteWrapper.__init__

    def counted(self: SQLiteWrapper, *args: Any, **kwargs: Any) -> None:
        built.append(self)
        make(self, *args, **kwargs)

    monkeypatch.setattr(SQLiteWrapper, "__init__", counted)

    async def vendor() -> str:
        return connection.vendor

    # Why: on the event loop each request is a task in a context of its own, where Django's
    # connection is a new object, built on first use with six helpers in reference cycles.
    loop = asyncio.get_running_loop()
    assert await loop.create_task(vendor(), context=contextvars.Context()) == "sqlite"
    assert len(built) == 1

    async def ask() -> bool:
        return writes_in_parallel()

    # The tests' SQLite: one writer.
    assert await loop.create_task(ask(), context=contextvars.Context()) is False
    assert len(built) == 1


def test_postgresql_takes_writers_in_parallel_and_sqlite_does_not():
    assert _vendor("django.db.backends.postgresql") == "postgresql"
    assert _vendor("django.db.backends.sqlite3") == "sqlite"


async def test_it_refuses_anything_but_http():
    with pytest.raises(ValueError, match="HTTP only"):
        await LeanASGIHandler()({"type": "websocket"}, None, None)


# What LeanASGIHandler copies or depends on, as reviewed (see tests/framework_pins.py).
# One line per pin, as `python -m tests.framework_pins` prints it.
# fmt: off
DJANGO_PINS: Pins = {
    # Copied, without its ThreadSensitiveContext.
    "django.core.handlers.asgi.ASGIHandler.__call__": ("5.2.19", "f756809e9c9308dcccb78a301fccf09196e80cdc4745690f80384d09b69dd102"),
    # Calls load_middleware(is_async=True), which the handler replaces.
    "django.core.handlers.asgi.ASGIHandler.__init__": ("5.2.19", "41379d4f4b69f900b62a201a442d0721c965e26906a6a64f11c8b846bf3b3a38"),
    # Replaced: the same steps without the request signals and the disconnect watch.
    "django.core.handlers.asgi.ASGIHandler.handle": ("5.2.19", "98faeb5bef800331e6a8002fbc96b30e4122a23438ae45a047190a531ea11323"),
    # The steps the replacement still calls.
    "django.core.handlers.asgi.ASGIHandler.read_body": ("5.2.19", "cf4aa904631d5410206f1a6b12ef0c74e99e4bd7313232c8e61f7a09a66a95e1"),
    "django.core.handlers.asgi.ASGIHandler.create_request": ("5.2.19", "5eae59c6696013ffad47c3c05da5820dc7e17b2a3c8a09f59e12fd9bede5dc4f"),
    "django.core.handlers.asgi.ASGIHandler.run_get_response": ("5.2.19", "0234ea5fe09a577785a5f895752910cbb439f5e28ebb53bdd27247251c00e6ef"),
    "django.core.handlers.asgi.ASGIHandler.send_response": ("5.2.19", "77eda2b08689b44ee277c936092bde02e50f84727f7398480a127e7e9e1dad06"),
    "django.core.handlers.asgi.get_script_prefix": ("5.2.19", "bd6e761a557ee4c5968d5feec8825b21e7aef610e237f09c4aea9b952a0ff027"),
    # request_started's receivers, which prepare_connection() runs in the view's own hop.
    "django.db.close_old_connections": ("5.2.19", "c352dd45e8333c97d83fb0905f187e31475cb3d8bb9308611077febb6e21deb6"),
    "django.db.reset_queries": ("5.2.19", "9989bcde56b2f76a5f82e3e24bccd1808759ca6ae72b501470e171628f1fe712"),
    # Replaced by what it builds for an empty MIDDLEWARE.
    "django.core.handlers.base.BaseHandler.load_middleware": ("5.2.19", "a1fb7ee5f8586195da2174d1bbc2bbfc7ca19b9d26ea66412cb434f45bf6d467"),
    # Reads the middleware chain the replacement builds.
    "django.core.handlers.base.BaseHandler.get_response_async": ("5.2.19", "ad82c920df0cebbb52b1ebafe6ab8b5541f200c39fa954a148b01f60725b715b"),
    # Wraps the response handler, as load_middleware does.
    "django.core.handlers.exception.convert_exception_to_response": ("5.2.19", "a297ae868bddaca2e7a82847cb707105b2a23ded927d6609f6832901db45758e"),
}
# fmt: on


@pytest.mark.parametrize("dotted", DJANGO_PINS)
def test_the_django_internals_lean_handler_relies_on_are_still_the_reviewed_ones(dotted):
    problem = drift(
        dotted,
        DJANGO_PINS[dotted],
        override="LeanASGIHandler and prepare_connection (phonebridge/lean.py)",
        pins_file="DJANGO_PINS in tests/phonebridge/test_lean.py",
    )
    assert problem is None, problem


def _describe(value: Any, handler: BaseHandler) -> Any:
    """A comparable picture of one attribute load_middleware sets on `handler`."""
    if isinstance(value, list):
        return ["list", *(_describe(item, handler) for item in value)]
    if inspect.ismethod(value):
        owner = "handler" if value.__self__ is handler else type(value.__self__).__qualname__
        return ("method", owner, value.__func__.__qualname__)
    if hasattr(value, "__wrapped__"):
        # functools.wraps copies the name, so tell wrappers apart by their code.
        code = value.__code__.co_qualname if hasattr(value, "__code__") else type(value)
        coroutine = inspect.iscoroutinefunction(value)
        return ("wrapper", code, coroutine, _describe(value.__wrapped__, handler))
    return (type(value).__qualname__, repr(value))


def _loaded_state(load_middleware: Any, *, is_async: bool) -> dict[str, Any]:
    handler = LeanASGIHandler.__new__(LeanASGIHandler)  # no __init__: nothing loaded yet
    load_middleware(handler, is_async=is_async)
    return {name: _describe(value, handler) for name, value in vars(handler).items()}


@pytest.mark.parametrize("is_async", [True, False], ids=["async", "sync"])
def test_django_still_builds_what_lean_load_middleware_builds_without_middleware(
    settings, is_async
):
    settings.MIDDLEWARE = []
    django_built = _loaded_state(BaseHandler.load_middleware, is_async=is_async)
    lean_built = _loaded_state(LeanASGIHandler.load_middleware, is_async=is_async)
    assert lean_built == django_built
    # The chain is the flag Django checks for a loaded handler; make sure it is compared.
    assert "_middleware_chain" in django_built
