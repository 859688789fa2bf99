"""Test doubles for a media session: the socket it talks to and the clock it paces by."""

from __future__ import annotations

import asyncio


class Socket:
    """The session's transport: records what it sends and how it is closed."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.closes: list[int] = []

    async def send_text(self, text: str) -> None:
        self.sent.append(text)

    async def close(self, code: int) -> None:
        self.closes.append(code)


class Clock:
    """Fake monotonic time. The pacer's short waits advance it; the 30 s heartbeat waits
    until it is cancelled, as it would in a test that lasts less than 30 s."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        if seconds >= 1:
            await asyncio.Event().wait()
        self.now += seconds
        await asyncio.sleep(0)
