"""Serving a simulator (or any small ASGI app) with uvicorn inside the current event loop.

`serve_asgi()` binds a socket (port 0 picks a free one), serves on the caller's loop, and
tears everything down on exit; each carrier's `running_simulator()` is built on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import uvicorn

from telephony.simulation.asgi import SimulatorApp

CarrierT = TypeVar("CarrierT")
AppT = TypeVar("AppT", bound=SimulatorApp)

_START_TIMEOUT_S = 10.0


class _EmbeddedServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self._exit = asyncio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # The host process owns SIGINT/SIGTERM; uvicorn would otherwise swallow and re-raise
        # them when this server stops.
        yield

    async def main_loop(self) -> None:
        # uvicorn polls should_exit every 0.1 s; waking on an event makes stopping (and so
        # every test that serves something) that much faster.
        counter = 0
        while not await self.on_tick(counter):
            counter = (counter + 10) % 864000  # on_tick refreshes the Date header every 10
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._exit.wait(), 1.0)

    def stop(self) -> None:
        self.should_exit = True
        self._exit.set()


@dataclass
class ServedApp:
    host: str
    port: int
    server: uvicorn.Server

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


@contextlib.asynccontextmanager
async def serve_asgi(
    app: Any, *, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[ServedApp]:
    """Serve `app` on host:port (0: any free port) until the block exits."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    config = uvicorn.Config(
        app, log_level="warning", lifespan="auto", timeout_graceful_shutdown=2, ws="none"
    )
    server = _EmbeddedServer(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        await _wait_started(server, task)
        yield ServedApp(host, sock.getsockname()[1], server)
    finally:
        server.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 5)
        sock.close()


async def _wait_started(server: uvicorn.Server, task: asyncio.Task[None]) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + _START_TIMEOUT_S
    while not server.started:
        if task.done():
            task.result()  # raises whatever stopped it
            raise RuntimeError("uvicorn stopped before it started")
        if loop.time() > deadline:
            raise TimeoutError("uvicorn did not start")
        await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def serve_simulator(
    app: SimulatorApp, *, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[ServedApp]:
    """Serve a simulator's app; its carrier is closed after, even if uvicorn never started it."""
    async with serve_asgi(app, host=host, port=port) as served:
        yield served
    # uvicorn's lifespan shutdown closes the carrier; this covers a server that never started it.
    await app.carrier.aclose()


@dataclass
class RunningSimulator(Generic[CarrierT, AppT]):
    """A served simulator: its carrier, its app, and where it answers."""

    carrier: CarrierT
    app: AppT
    served: ServedApp

    @property
    def base_url(self) -> str:
        """The REST base URL a client is configured with to reach this simulator."""
        return self.served.url + self.app.prefix
