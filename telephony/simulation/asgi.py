"""The plumbing of a simulator's REST surface as a raw ASGI application.

No framework: a simulator must mount under phonebridge's ASGI router, run under uvicorn on its
own, and stay free of Django. Each carrier's `SimulatorAPI` answers `respond()`; this module
serves lifespan (closing the carrier on shutdown), reads bodies and writes JSON answers.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


@dataclass
class Response:
    status: int
    body: dict[str, Any] | None  # None: no body (204)
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0  # an injected slow answer


class BodyTooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"The body exceeds {limit} bytes.")
        self.limit = limit


class _Closable(Protocol):
    async def aclose(self) -> None: ...


class SimulatorApp(abc.ABC):
    """A carrier simulator's HTTP surface: lifespan, and one JSON answer per request."""

    content_type = b"application/json"

    def __init__(self, carrier: _Closable, prefix: str) -> None:
        self.carrier = carrier
        self.prefix = prefix.rstrip("/")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._send(send, await self.respond(scope, receive))
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})

    @abc.abstractmethod
    async def respond(self, scope: Scope, receive: Receive) -> Response:
        """The carrier's answer to one HTTP request under the prefix."""

    def below_prefix(self, path: str) -> str | None:
        """`path` without the prefix, or None when it is not under it."""
        if path != self.prefix and not path.startswith(self.prefix + "/"):
            return None
        return path[len(self.prefix) :] or "/"

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.carrier.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _send(self, send: Send, response: Response) -> None:
        if response.delay_s:
            # An injected timeout: the work is done, the answer comes after the client gave up.
            await asyncio.sleep(response.delay_s)
        body = b"" if response.body is None else json.dumps(response.body).encode()
        headers = [(b"content-type", self.content_type), (b"content-length", b"%d" % len(body))]
        headers += [(k.lower().encode(), v.encode()) for k, v in response.headers.items()]
        with contextlib.suppress(OSError):
            await send(
                {"type": "http.response.start", "status": response.status, "headers": headers}
            )
            await send({"type": "http.response.body", "body": body})


async def read_body(receive: Receive, limit: int) -> bytes:
    """The request's whole body; BodyTooLarge beyond `limit` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(limit)
        chunks.append(chunk)
        if not message.get("more_body"):
            break
    return b"".join(chunks)
