"""One value per event loop, forgotten with its loop.

An httpx (or getstream) client's connection pool is bound to the loop that first used it, and
tests and management commands run loops of their own, so each loop gets its own client.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class LoopLocal(Generic[T]):
    def __init__(self) -> None:
        self._values: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, T] = (
            weakref.WeakKeyDictionary()
        )

    def current(self) -> T | None:
        """The running loop's value, if it has one."""
        return self._values.get(asyncio.get_running_loop())

    def get(self, factory: Callable[[], T]) -> T:
        """The running loop's value, made by `factory` the first time."""
        value = self.current()
        if value is None:
            value = factory()
            self.install(value)
        return value

    def install(self, value: T, *, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """Use `value` on `loop` (by default the running one)."""
        self._values[loop or asyncio.get_running_loop()] = value

    def reset(self) -> None:
        self._values.clear()
