"""The real ASGI application served over real sockets, for end-to-end and browser tests.

uvicorn runs phonebridge.asgi in a background thread with its own event loop, so both async
tests (with their own loop) and sync browser tests can talk to it over HTTP and WebSocket.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import socket
import threading
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import uvicorn

T = TypeVar("T")


async def read_body(receive: Any) -> bytes:
    """An ASGI HTTP request's whole body, for the stand-in servers tests run."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            return body


@contextmanager
def serving(app: Any, settings: Any) -> Iterator[LiveServer]:
    """`app` on a free port for the length of the block, with PUBLIC_HOST pointing at it."""
    server = LiveServer(app).start()
    settings.PUBLIC_HOST = server.host
    settings.ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
    try:
        yield server
    finally:
        server.stop()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveServer:
    def __init__(self, app: Any, port: int | None = None) -> None:
        self.port = port or free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.url = f"http://{self.host}"
        self.loop = asyncio.new_event_loop()
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="off",
            ws="websockets-sansio",  # what `uvicorn` picks in production
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._serve, name=f"asgi-{self.port}", daemon=True)

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._server.serve())

    def start(self) -> LiveServer:
        self._thread.start()
        for _ in range(200):
            if self._server.started:
                return self
            self._thread.join(0.025)
        raise RuntimeError("the ASGI server did not start")

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        """Run a coroutine on the server's loop (where its background tasks live)."""
        future: concurrent.futures.Future[T] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result(timeout)

    async def arun(self, coro: Coroutine[Any, Any, T]) -> T:
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self.loop))

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(10)
