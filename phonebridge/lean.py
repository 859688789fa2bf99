"""Django without its middleware stack, for the carrier's machine-to-machine endpoint.

Under ASGI every synchronous middleware (sessions, auth, messages, CSRF, ...) costs two hops
through the thread that runs sync code, and that thread is shared with every other request.
Telnyx's webhooks use none of them (no cookies, no sessions, CSRF-exempt), and Telnyx retries
a webhook that is not answered within about 2 s, so /telnyx/events is served by this handler:
the same URLconf, view, request and response, without the middleware.

Nor does it open a ThreadSensitiveContext per request, as Django's handler does. That context
gives every request a new thread for its synchronous code, and so a new database connection
(Django's connections are per thread): a connect per webhook, and under a burst of calls
dozens of short-lived threads fighting the event loop for the GIL while media is flowing.
Without it, the view's thread-sensitive work runs on asgiref's one shared sync thread, and its
parallel work on the loop's pool, both of which keep their threads, and so their connections.
Follow-ups the view spawns also no longer inherit a context that ends with the request.

Nor does it send the request_started and request_finished signals, each a hop to the sync
thread and back, or watch for the client going away in a second task: three thread hops and
two tasks per webhook, about half a millisecond of CPU, which a burst of 150 calls (five
webhooks each) pays on the event loop that carries every call's audio. The signals' receivers
are Django's connection upkeep (close a connection that failed or outlived CONN_MAX_AGE) and
the DEBUG query log's reset: the view does that work itself (`prepare_connection`), in the hop
it makes anyway, on the thread whose connection it uses. A client that goes away does not
cancel the view: Telnyx will deliver the event again, and storing it first is what makes
that a duplicate.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.core.handlers.exception import convert_exception_to_response
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, reset_queries
from django.db.utils import load_backend
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.urls import set_script_prefix


class LeanASGIHandler(ASGIHandler):
    # BaseHandler's private response methods, which django-stubs leaves out (the contract
    # tests in tests/phonebridge/test_lean.py pin what this class relies on).
    _get_response: Callable[[HttpRequest], HttpResponseBase]
    _get_response_async: Callable[[HttpRequest], Awaitable[HttpResponseBase]]

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise ValueError(f"LeanASGIHandler serves HTTP only, not {scope['type']}")
        await self.handle(scope, receive, send)

    async def handle(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        # ASGIHandler.handle without the request signals and the disconnect watch (see above).
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        try:
            set_script_prefix(get_script_prefix(scope))
            request, response = self.create_request(scope, body_file)
            if request is not None:
                response = await self.run_get_response(request)
            assert response is not None  # create_request gives a request or a response
            await self.send_response(response, send)
        finally:
            body_file.close()

    def load_middleware(self, is_async: bool = False) -> None:
        # What BaseHandler.load_middleware builds for an empty MIDDLEWARE setting.
        self._view_middleware: list[Any] = []
        self._template_response_middleware: list[Any] = []
        self._exception_middleware: list[Any] = []
        get_response = self._get_response_async if is_async else self._get_response
        self._middleware_chain = convert_exception_to_response(get_response)


def route_paths(paths: tuple[str, ...], lean_app: Any, app: Any) -> Any:
    """Send HTTP requests for exactly `paths` to `lean_app`, everything else to `app`."""

    async def router(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope.get("path") in paths:
            await lean_app(scope, receive, send)
        else:
            await app(scope, receive, send)

    return router


def prepare_connection() -> None:
    """For a view served by LeanASGIHandler, what request_started's receivers would do, run in
    the sync code's thread (in the hop the view makes anyway) before it uses that thread's
    connection: reset the DEBUG query log, and close a connection that failed or outlived
    CONN_MAX_AGE, as django.db.close_old_connections does. A connection inside a transaction
    (a test's) is left alone: closing it would break the transaction under its owner."""
    reset_queries()
    for conn in connections.all(initialized_only=True):
        if not conn.in_atomic_block:
            conn.close_if_unusable_or_obsolete()


@contextlib.contextmanager
def dropping_failed_connection() -> Iterator[None]:
    """On a database error inside the block, close this thread's connection (the one that
    failed: a pool thread keeps it between requests) so that the next request, the carrier's
    retry among them, reconnects; the error goes on. Only on the thread that owns it: on the
    event loop Django's connection is another object, and closing it there is refused
    (SynchronousOnlyOperation)."""
    try:
        yield
    except DatabaseError:
        connections[DEFAULT_DB_ALIAS].close()
        raise


def writes_in_parallel() -> bool:
    """Whether the database takes writers in parallel (PostgreSQL does; SQLite has one writer),
    for a view deciding on the event loop where its database work runs.

    Read from the backend's class, not from `connection.vendor`: on the event loop Django's
    connection is per task, so asking it builds a new DatabaseWrapper with its six helpers for
    every request (five a call), objects in reference cycles that the garbage collector then
    had to find and free, in one pause, when a burst of calls ended."""
    return _vendor(connections.settings[DEFAULT_DB_ALIAS]["ENGINE"]) != "sqlite"


@functools.cache
def _vendor(engine: str) -> str:
    return str(load_backend(engine).DatabaseWrapper.vendor)
