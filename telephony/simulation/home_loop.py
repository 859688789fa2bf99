"""Reaching the event loop an embedded simulator lives on, from wherever the caller runs.

Django's sync views call simulators through `async_to_sync`, which may run the coroutine on a
loop of its own; a call started there would die with that loop. Started on the server's loop
(the "home" loop, which outlives the request) it lives as long as the server.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


async def run_at_home(coro: Coroutine[Any, Any, T], home: asyncio.AbstractEventLoop | None) -> T:
    """Await `coro` on `home` when that is another running loop, else right here."""
    if home is None or not home.is_running() or home is asyncio.get_running_loop():
        return await coro
    return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, home))
