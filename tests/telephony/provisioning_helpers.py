"""What the `provision_<carrier>` tests share: a carrier simulator on a thread of its own, a
tiny HTTP server for /healthz and ngrok's local API, and running the command as an operator
does."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Iterator
from contextlib import AbstractAsyncContextManager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import StringIO
from typing import Any, TypeVar

import pytest
from django.core.management import CommandError, call_command

from telephony import public_host
from tests.live import free_port

T = TypeVar("T")


@contextlib.contextmanager
def simulator_thread(simulator: AbstractAsyncContextManager[T], name: str) -> Iterator[T]:
    """Serve `simulator` (a carrier's `running_simulator(...)`) from a thread with its own loop.

    `call_command` runs an event loop of its own, so the simulator cannot share the test's;
    the tests read and change its account directly between commands.
    """
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name=name, daemon=True)
    thread.start()
    stack = contextlib.AsyncExitStack()

    def run(coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, loop).result(10)

    try:
        yield run(stack.enter_async_context(simulator))
    finally:
        run(stack.aclose())
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


class TinyServer:
    """A stdlib HTTP server answering GET `path` with a JSON body: /healthz, ngrok's API.

    `routes` maps a path to (status, body) and may be changed while it serves; any other
    path answers 404, as an ngrok tunnel whose agent has gone answers for our /healthz.
    """

    def __init__(self, routes: dict[str, tuple[int, Any]]) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, body = routes.get(self.path, (404, {}))
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args: Any) -> None:
                pass

        self.routes = routes
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.host = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextlib.contextmanager
def healthy_public_host(settings: Any) -> Iterator[TinyServer]:
    """PUBLIC_HOST is a local server whose /healthz answers 200, as phonebridge's does."""
    server = TinyServer({"/healthz": (200, {"status": "ok"})})
    settings.PUBLIC_HOST = server.host
    try:
        yield server
    finally:
        server.close()


@contextlib.contextmanager
def unset_public_host(settings: Any) -> Iterator[None]:
    """No PUBLIC_HOST, and nothing remembered from an earlier ngrok detection."""
    settings.PUBLIC_HOST = ""
    public_host._detected_host.cache_clear()
    try:
        yield
    finally:
        public_host._detected_host.cache_clear()


@contextlib.contextmanager
def ngrok_agent(monkeypatch: pytest.MonkeyPatch, tunnel: str) -> Iterator[None]:
    """ngrok's local API, reporting one https tunnel to `tunnel`."""
    tunnels = {"tunnels": [{"public_url": tunnel, "proto": "https"}]}
    ngrok = TinyServer({"/api/tunnels": (200, tunnels)})
    monkeypatch.setattr(public_host, "NGROK_API", f"http://{ngrok.host}/api/tunnels")
    try:
        yield
    finally:
        ngrok.close()


def no_ngrok_agent(monkeypatch: pytest.MonkeyPatch) -> None:
    """ngrok's local API on a port nothing listens on: no agent is running."""
    monkeypatch.setattr(public_host, "NGROK_API", f"http://127.0.0.1:{free_port()}/api/tunnels")


def run_command(name: str, *args: str) -> str:
    """Run a management command as `manage.py` would (bar the system checks); its output."""
    out = StringIO()
    call_command(name, *args, stdout=out)
    return out.getvalue()


def failing_command(name: str, *args: str) -> tuple[str, str]:
    """Run a command that must fail; returns (its output, the error message)."""
    out = StringIO()
    with pytest.raises(CommandError) as excinfo:
        call_command(name, *args, stdout=out)
    return out.getvalue(), str(excinfo.value)
