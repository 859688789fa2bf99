"""One value per event loop, gone with its loop."""

from __future__ import annotations

import asyncio

from telephony.loop_local import LoopLocal


def test_each_loop_gets_its_own_value_made_once():
    values: LoopLocal[object] = LoopLocal()

    async def twice() -> tuple[object, object]:
        return values.get(object), values.get(object)

    first, again = asyncio.run(twice())
    other, _ = asyncio.run(twice())
    assert first is again
    assert other is not first


def test_an_installed_value_is_used_until_reset():
    values: LoopLocal[str] = LoopLocal()
    with asyncio.Runner() as runner:
        values.install("fake", loop=runner.get_loop())

        async def current() -> str | None:
            return values.current()

        assert runner.run(current()) == "fake"
        values.reset()
        assert runner.run(current()) is None
