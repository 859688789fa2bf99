"""What our REST clients (the carriers', the agent server's) share about HTTP: reading a
response, waiting before a retry, one client per event loop, and one TLS context for all."""

from __future__ import annotations

import asyncio
import functools
import random
import ssl
from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar

import httpx

from telephony.loop_local import LoopLocal

C = TypeVar("C")


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The TLS settings every client of this process verifies servers with (httpx's default:
    certifi's CA bundle). Building them loads and parses the whole bundle, about 20 ms of CPU:
    an httpx client made with `verify=True` does it anew, and our clients are made per event
    loop when first used, so a worker's first call would stall every stream on the loop for
    that long. An SSLContext may be shared by any number of connections, clients and loops;
    the worker builds this one at start-up (phonebridge.asgi)."""
    return httpx.create_ssl_context()


def json_object(response: httpx.Response) -> dict[str, Any]:
    """The body's JSON object, or {} when the body is not one (an HTML error page, a list)."""
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def backoff(seconds: float, *, cap: float) -> float:
    """`seconds` (at most `cap`) give or take 20%: clients refused together come back apart."""
    return min(cap, seconds) * random.uniform(0.8, 1.2)


def retry_after(
    response: httpx.Response, *, cap: float, headers: Iterable[str] = ("retry-after",)
) -> float | None:
    """The wait the first readable header asks for (in seconds), between 0 and `cap`."""
    for header in headers:
        value = response.headers.get(header)
        if value is None:
            continue
        try:
            return min(max(float(value), 0.0), cap)
        except ValueError:
            continue
    return None


class LoopClients(Generic[C]):
    """One REST client per event loop (its connection pool is bound to the loop: see
    telephony/loop_local.py), built by `factory` from the settings on first use."""

    def __init__(self, factory: Callable[[], C]) -> None:
        self._factory = factory
        self._clients: LoopLocal[C] = LoopLocal()

    def get(self) -> C:
        """This event loop's client."""
        return self._clients.get(self._factory)

    def install(self, client: C, *, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """Use `client` on `loop`, by default the running one (tests pass a fake carrier's)."""
        self._clients.install(client, loop=loop)

    def reset(self) -> None:
        """Forget cached clients (tests change the API's base URL between cases)."""
        self._clients.reset()
